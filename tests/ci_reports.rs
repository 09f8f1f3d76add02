//! Issue 12, against the test server: the JUnit report (checked by an independent XML
//! parser), `--timeout`, the GitHub Actions and GitLab CI markup in the exact forms those
//! services document, and the CI templates in `ci/` and `action.yml`, their YAML parsed and
//! their commands run with the binary under test on PATH.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::json;
use spiro_tests::server::*;
use spiro_tests::*;

spiro_tests::spiro_deploy_binary!();

fn token() -> String {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOKEN
        .get_or_init(|| project_token("identifier", &["web"], 3600))
        .clone()
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "_salt/top.sls", "base:\n  '*':\n    - app\n");
    write(dir.path(), "_salt/app/init.sls", "app: pkg.installed\n");
    dir
}

fn start(steps: Vec<Step>) -> TestServer {
    TestServer::start(Config::new(&token(), Answer::Stream(steps)))
}

/// `spiro-deploy --insecure ARGS web prod` in `dir` against `server`, with `env` set.
fn deploy(server: &TestServer, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = spiro_deploy(dir);
    cmd.env("SPIRO_URL", server.url())
        .env("SPIRO_TOKEN", token())
        .envs(env.iter().copied());
    run(cmd.arg("--insecure").args(args).args(["web", "prod"]))
}

/// A state whose comment holds what workflow commands must escape.
fn awkward_state() -> StateSpec<'static> {
    StateSpec {
        module: "cmd",
        id: "migrate",
        name: "manage.py migrate",
        function: "run",
        result: Some(false),
        changes: json!({"retcode": 1, "stderr": "100% <broken> & \"gone\""}),
        comment: "50% done\nthen: failed, badly",
    }
}

/// Four minions: failed states, a render error, one that did not return, one that never
/// reported.
fn failing_deploy() -> Vec<Step> {
    vec![
        deploy_bundle(),
        highstate_calc(),
        highstate_start(&["db1", "web1", "web2", "gone"]),
        highstate_update(
            "db1",
            states_result(&[
                ok_state("/etc/db.conf", true),
                awkward_state(),
                StateSpec {
                    result: None,
                    ..ok_state("maybe", false)
                },
            ]),
        ),
        highstate_update(
            "web1",
            render_error(
                "Rendering SLS 'web/prod:app' failed: mapping values are not allowed here",
            ),
        ),
        highstate_update("web2", no_return()),
        highstate_finish(),
    ]
}

// --- JUnit ---------------------------------------------------------------------------------

/// What the viewers read of a JUnit file, checked against the schema's shape.
#[derive(Debug)]
struct Suite {
    attrs: BTreeMap<String, String>,
    cases: Vec<Case>,
}

#[derive(Debug)]
struct Case {
    name: String,
    classname: String,
    /// `failure`, `error` or `skipped`, with its `message`, and its text.
    outcome: Option<(String, String, String)>,
}

/// Parses `xml` with roxmltree (an independent parser) and checks the structure GitLab and
/// GitHub read: testsuites > testsuite[name,tests,failures,errors,skipped,time] >
/// testcase[name,classname,time] > failure|error|skipped, and that the totals add up.
fn read_junit(xml: &str) -> (BTreeMap<String, String>, Vec<Suite>) {
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let attrs = |node: roxmltree::Node| -> BTreeMap<String, String> {
        node.attributes()
            .map(|a| (a.name().to_owned(), a.value().to_owned()))
            .collect()
    };
    let mut suites = Vec::new();
    let mut sums = [0usize; 4];
    for suite in root.children().filter(|n| n.is_element()) {
        if suite.tag_name().name() == "system-out" {
            continue;
        }
        assert_eq!(suite.tag_name().name(), "testsuite");
        let suite_attrs = attrs(suite);
        for key in ["name", "tests", "failures", "errors", "skipped", "time"] {
            assert!(suite_attrs.contains_key(key), "testsuite without {key}");
        }
        let mut cases = Vec::new();
        let mut counts = [0usize; 4];
        for case in suite.children().filter(|n| n.is_element()) {
            assert_eq!(case.tag_name().name(), "testcase");
            let case_attrs = attrs(case);
            for key in ["name", "classname", "time"] {
                assert!(case_attrs.contains_key(key), "testcase without {key}");
            }
            case_attrs["time"].parse::<f64>().expect("time in seconds");
            counts[0] += 1;
            let mut outcome = None;
            for child in case.children().filter(|n| n.is_element()) {
                let kind = child.tag_name().name();
                match kind {
                    "failure" => counts[1] += 1,
                    "error" => counts[2] += 1,
                    "skipped" => counts[3] += 1,
                    other => panic!("unexpected <{other}> in a testcase"),
                }
                outcome = Some((
                    kind.to_owned(),
                    child.attribute("message").unwrap_or_default().to_owned(),
                    child.text().unwrap_or_default().to_owned(),
                ));
            }
            cases.push(Case {
                name: case_attrs["name"].clone(),
                classname: case_attrs["classname"].clone(),
                outcome,
            });
        }
        let declared = ["tests", "failures", "errors", "skipped"]
            .map(|key| suite_attrs[key].parse::<usize>().unwrap());
        assert_eq!(declared, counts, "totals of {}", suite_attrs["name"]);
        for i in 0..4 {
            sums[i] += counts[i];
        }
        suites.push(Suite {
            attrs: suite_attrs,
            cases,
        });
    }
    let root_attrs = attrs(root);
    let declared = ["tests", "failures", "errors", "skipped"]
        .map(|key| root_attrs[key].parse::<usize>().unwrap());
    assert_eq!(declared, sums, "the totals on <testsuites>");
    (root_attrs, suites)
}

#[test]
fn junit_report_of_failed_states_a_render_error_and_missing_minions() {
    let server = start(failing_deploy());
    let dir = project();
    let report = dir.path().join("reports/junit.xml");
    std::fs::create_dir(dir.path().join("reports")).unwrap();
    let output = deploy(&server, dir.path(), &["--junit", "reports/junit.xml"], &[]);
    assert_exit(&output, 8);
    let xml = std::fs::read_to_string(&report).expect("the report is written on failure too");
    let (root, suites) = read_junit(&xml);
    assert_eq!(root["name"], "spiro-deploy web/prod");
    assert_eq!(
        suites
            .iter()
            .map(|s| s.attrs["name"].as_str())
            .collect::<Vec<_>>(),
        ["db1", "web1", "web2", "gone"]
    );
    let db1 = &suites[0];
    assert_eq!(db1.cases.len(), 3);
    assert_eq!(db1.cases[0].name, "/etc/db.conf (file.managed)");
    assert_eq!(db1.cases[0].classname, "db1.app");
    assert!(db1.cases[0].outcome.is_none());
    let (kind, message, body) = db1.cases[1].outcome.clone().unwrap();
    assert_eq!(
        (kind.as_str(), db1.cases[1].name.as_str()),
        ("failure", "migrate (cmd.run)")
    );
    assert_eq!(
        message, "50% done then: failed, badly",
        "newlines in attributes read as spaces"
    );
    assert!(
        body.contains("100% <broken> & \\\"gone\\\""),
        "the changes: {body}"
    );
    assert_eq!(db1.cases[2].outcome.as_ref().unwrap().0, "skipped");
    let (kind, message, body) = suites[1].cases[0].outcome.clone().unwrap();
    assert_eq!(
        (kind.as_str(), message.as_str()),
        ("error", "Data failed to compile")
    );
    assert!(
        body.contains("mapping values are not allowed here"),
        "{body}"
    );
    let (kind, message, _) = suites[2].cases[0].outcome.clone().unwrap();
    assert_eq!(
        (kind.as_str(), message.as_str()),
        ("error", "the minion did not return")
    );
    let (kind, message, _) = suites[3].cases[0].outcome.clone().unwrap();
    assert_eq!(
        (kind.as_str(), message.as_str()),
        ("error", "the minion did not report")
    );
    assert!(
        xml.contains("<system-out>error: 2 of 4 minions did not report"),
        "{xml}"
    );
    // Written by rename: nothing else is left beside it.
    let left: Vec<_> = std::fs::read_dir(dir.path().join("reports"))
        .unwrap()
        .collect();
    assert_eq!(left.len(), 1);
}

#[test]
fn junit_report_of_a_successful_deploy_and_an_unwritable_place() {
    let server = start(successful_highstate(&["a", "b"]));
    let dir = project();
    let output = deploy(&server, dir.path(), &["--junit", "ok.xml"], &[]);
    assert_exit(&output, 0);
    let (root, suites) = read_junit(&std::fs::read_to_string(dir.path().join("ok.xml")).unwrap());
    assert_eq!(
        (root["tests"].as_str(), root["failures"].as_str()),
        ("4", "0")
    );
    assert_eq!(suites.len(), 2);
    assert_eq!(suites[0].attrs["time"], "0.003", "2 states of 1.25 ms");

    let server = start(successful_highstate(&["a"]));
    let output = deploy(&server, dir.path(), &["--junit", "missing/dir/r.xml"], &[]);
    assert_exit(&output, 2);
    assert!(
        stderr(&output).contains("error: cannot write the JUnit report missing/dir/r.xml"),
        "{}",
        stderr(&output)
    );
    assert!(
        server.received().iter().all(|r| r.method != "POST"),
        "refused before the upload"
    );
}

#[test]
fn junit_report_of_a_stream_cut_short() {
    let server = start(vec![
        deploy_bundle(),
        highstate_calc(),
        highstate_start(&["a", "b"]),
        highstate_update("a", states_result(&[failed_state("boom")])),
        Step::Cut,
    ]);
    let dir = project();
    let output = deploy(&server, dir.path(), &["--junit", "cut.xml"], &[]);
    assert_exit(&output, 8);
    let xml = std::fs::read_to_string(dir.path().join("cut.xml")).unwrap();
    let (root, suites) = read_junit(&xml);
    assert_eq!(
        (root["failures"].as_str(), root["errors"].as_str()),
        ("1", "1")
    );
    let (kind, message, _) = suites[1].cases[0].outcome.clone().unwrap();
    assert_eq!(
        (kind.as_str(), message.as_str()),
        ("error", "the event stream ended before the minion reported")
    );
    assert!(
        xml.contains("<system-out>error: the event stream ended"),
        "{xml}"
    );
}

// --- --timeout -----------------------------------------------------------------------------

#[test]
fn timeout_lists_the_silent_minions_exits_8_and_still_writes_junit() {
    let server = start(vec![
        deploy_bundle(),
        highstate_calc(),
        highstate_start(&["a", "b"]),
        highstate_update("a", states_result(&[ok_state("/etc/motd", true)])),
        Step::Hang,
    ]);
    let dir = project();
    let started = Instant::now();
    let output = deploy(
        &server,
        dir.path(),
        &["--timeout", "2s", "--junit", "j.xml"],
        &[],
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "it stopped waiting"
    );
    assert_exit(&output, 8);
    let out = stdout(&output);
    assert!(
        out.contains("1 minion reported of 2\nDid not report:\n    b\n"),
        "{out}"
    );
    let err = stderr(&output);
    assert!(
        err.contains("error: the deploy timed out after 2s: 1 of 2 minions did not report: b"),
        "{err}"
    );
    assert!(err.contains("salt-run jobs.active"), "{err}");
    let (_, suites) = read_junit(&std::fs::read_to_string(dir.path().join("j.xml")).unwrap());
    assert_eq!(suites.len(), 2);
    let (kind, message, _) = suites[1].cases[0].outcome.clone().unwrap();
    assert_eq!(kind, "error");
    assert!(message.contains("--timeout ran out after 2s"), "{message}");

    // In JSON, the summary says so too.
    let server = start(vec![deploy_bundle(), Step::Hang]);
    let output = deploy(
        &server,
        dir.path(),
        &["--timeout", "1s", "--format", "json"],
        &[],
    );
    assert_exit(&output, 8);
    let last: serde_json::Value =
        serde_json::from_str(stdout(&output).lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "spiro-deploy-summary");
    assert_eq!(last["data"]["timed_out"], true);
    assert_eq!(last["data"]["exit"], 8);
}

// --- GitHub Actions and GitLab CI ----------------------------------------------------------

#[test]
fn github_actions_groups_annotations_and_job_summary() {
    let server = start(failing_deploy());
    let dir = project();
    let summary = dir.path().join("step-summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let summary_env = summary.to_str().unwrap();
    let output = deploy(
        &server,
        dir.path(),
        &[],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", summary_env),
        ],
    );
    assert_exit(&output, 8);
    let out = stdout(&output);
    // Command processing is stopped from the first line on (server text could forge
    // commands), and resumed only around spiro-deploy's own, with a token of its own.
    let first = out.lines().next().unwrap();
    let token = first
        .strip_prefix("::stop-commands::")
        .unwrap_or_else(|| panic!("{out}"));
    assert!(token.len() >= 32, "{token}");
    let (resume, stop) = (
        format!("::{token}::\n"),
        format!("::stop-commands::{token}\n"),
    );
    assert!(
        out.contains(&format!("{resume}::group::db1\n{stop}db1:\n----------\n")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{resume}::endgroup::\n::error title=migrate (cmd.run) failed on db1::50%25 done%0Athen: failed, badly\n{stop}"
        )),
        "{out}"
    );
    assert!(out.contains("::group::web1\n"), "{out}");
    assert!(
        out.contains(
            "::error title=web2 did not return::the minion did not return its highstate\n"
        ),
        "{out}"
    );
    assert!(
        out.ends_with(&format!(
            "{resume}::error title=gone did not report::the minion did not report\n"
        )),
        "resumed for good at the end: {out}"
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.starts_with("earlier step\n### spiro-deploy failed (exit status 8)\n"),
        "{md}"
    );
    assert!(md.contains("| db1 | ❌ failed | 1 | 1 | 1 |\n"), "{md}");
    assert!(md.contains("| gone | ❌ did not report | | | |\n"), "{md}");
    assert!(
        md.contains("| db1 | migrate | cmd.run | 50% done<br>then: failed, badly |\n"),
        "{md}"
    );
}

#[test]
fn gitlab_ci_sections_collapsed_for_successful_minions() {
    let server = start(vec![
        deploy_bundle(),
        highstate_calc(),
        highstate_start(&["ok.example.com", "bad host"]),
        highstate_update(
            "ok.example.com",
            states_result(&[ok_state("/etc/motd", true)]),
        ),
        highstate_update("bad host", states_result(&[failed_state("boom")])),
        highstate_finish(),
    ]);
    let dir = project();
    let output = deploy(&server, dir.path(), &[], &[("GITLAB_CI", "true")]);
    assert_exit(&output, 7);
    let out = stdout(&output);
    // \e[0Ksection_start:<unix>:<name>[collapsed=true]\r\e[0K<header>, and the end marker,
    // exactly as GitLab documents them; the markers are there with colour off too.
    let sections = sections(&out);
    assert_eq!(
        sections,
        [
            (
                "minion_1_ok.example.com".to_owned(),
                "[collapsed=true]".to_owned(),
                "ok.example.com:".to_owned()
            ),
            (
                "minion_2_bad_host".to_owned(),
                String::new(),
                "bad host:".to_owned()
            ),
        ],
        "{out:?}"
    );
    for name in ["minion_1_ok.example.com", "minion_2_bad_host"] {
        let end = out
            .split("\x1b[0Ksection_end:")
            .skip(1)
            .find(|rest| rest.split(':').nth(1).is_some_and(|n| n.starts_with(name)))
            .unwrap_or_else(|| panic!("no end of {name}: {out:?}"));
        let (time, rest) = end.split_once(':').unwrap();
        time.parse::<u64>().expect("a unix time");
        assert!(rest.starts_with(&format!("{name}\r\x1b[0K\n")), "{rest:?}");
    }
}

/// `(name, options, header)` of each GitLab section start in `out`.
fn sections(out: &str) -> Vec<(String, String, String)> {
    out.split("\x1b[0Ksection_start:")
        .skip(1)
        .map(|rest| {
            let (time, rest) = rest.split_once(':').unwrap();
            time.parse::<u64>().expect("a unix time");
            let (marker, rest) = rest.split_once("\r\x1b[0K").unwrap();
            let (name, options) = match marker.find('[') {
                Some(at) => (&marker[..at], &marker[at..]),
                None => (marker, ""),
            };
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)),
                "{name}"
            );
            let header = rest.lines().next().unwrap();
            (name.to_owned(), options.to_owned(), header.to_owned())
        })
        .collect()
}

// --- The CI templates ------------------------------------------------------------------------

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// A directory holding only `spiro-deploy` (the binary under test), for PATH.
fn bin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(spiro_deploy_bin(), dir.path().join("spiro-deploy")).unwrap();
    dir
}

/// `sh -c script` in `dir` with PATH = the binary under test and the system's shell tools.
fn shell(dir: &Path, script: &str, env: &BTreeMap<String, String>) -> Output {
    let bin = bin_dir();
    let path = format!("{}:/usr/bin:/bin", bin.path().display());
    let mut sh = Command::new("sh");
    sh.current_dir(dir)
        .env_clear()
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .envs(env)
        .args(["-c", script]);
    run(&mut sh)
}

#[test]
fn gitlab_template_runs_the_deploy_and_keeps_the_junit_report() {
    let text =
        std::fs::read_to_string(repository().join("ci/gitlab/spiro-deploy.gitlab-ci.yml")).unwrap();
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let job = &yaml[".spiro-deploy"];
    assert_eq!(
        job["artifacts"]["when"], "always",
        "the report is kept when the deploy fails"
    );
    let report = job["artifacts"]["reports"]["junit"].as_str().unwrap();
    assert!(
        job["image"]["name"]
            .as_str()
            .unwrap()
            .contains("SPIRO_DEPLOY_IMAGE")
    );
    let mut env: BTreeMap<String, String> = job["variables"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().unwrap().to_owned(),
                v.as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let server = start(failing_deploy());
    env.extend(
        [
            ("GITLAB_CI", "true"),
            ("SPIRO_PROJECT", "web"),
            ("SPIRO_DEPLOYMENT", "prod"),
            ("SPIRO_ARGS", "--insecure --state-output=mixed"),
            ("SPIRO_URL", server.url().as_str()),
            ("SPIRO_TOKEN", token().as_str()),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let dir = project();
    let script = job["script"].as_sequence().unwrap();
    assert_eq!(script.len(), 1);
    let output = shell(dir.path(), script[0].as_str().unwrap(), &env);
    assert_exit(&output, 8);
    assert!(
        stdout(&output).contains("section_start:"),
        "{}",
        stdout(&output)
    );
    // SPIRO_ARGS went through: --state-output=mixed shows a successful state on one line.
    assert!(
        stdout(&output).contains(
            "  Name: /etc/db.conf - Function: file.managed - Result: Changed - Started: 12:00:00.000000 - Duration: 1.25 ms\n"
        ),
        "{}",
        stdout(&output)
    );
    let (_, suites) = read_junit(&std::fs::read_to_string(dir.path().join(report)).unwrap());
    assert_eq!(suites.len(), 4);
}

#[test]
fn github_action_runs_the_deploy_with_its_inputs() {
    let text = std::fs::read_to_string(repository().join("action.yml")).unwrap();
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    assert_eq!(yaml["runs"]["using"], "composite");
    let server = start(successful_highstate(&["a"]));
    let url = server.url();
    let token = token();
    let mut inputs: BTreeMap<&str, String> = BTreeMap::new();
    for (name, input) in yaml["inputs"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        let default = input["default"].as_str().unwrap_or_default().to_owned();
        inputs.insert(name, default);
    }
    for (name, value) in [
        ("project", "web"),
        ("deployment", "prod"),
        ("server", url.as_str()),
        ("token", token.as_str()),
        ("args", "--insecure"),
    ] {
        assert!(inputs.contains_key(name), "input {name}");
        inputs.insert(name, value.to_owned());
    }
    let steps = yaml["runs"]["steps"].as_sequence().unwrap();
    assert_eq!(steps.len(), 1);
    let step = &steps[0];
    assert_eq!(step["shell"], "sh");
    // `${{ inputs.NAME }}` as GitHub evaluates it.
    let evaluate = |text: &str| -> String {
        let mut out = text.to_owned();
        for (name, value) in &inputs {
            out = out.replace(&format!("${{{{ inputs.{name} }}}}"), value);
        }
        assert!(!out.contains("${{"), "{out}");
        out
    };
    let dir = project();
    let summary = dir.path().join("summary.md");
    let mut env: BTreeMap<String, String> = step["env"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().unwrap().to_owned(),
                evaluate(v.as_str().unwrap()),
            )
        })
        .collect();
    env.insert("GITHUB_ACTIONS".into(), "true".into());
    env.insert("GITHUB_STEP_SUMMARY".into(), summary.display().to_string());
    let output = shell(dir.path(), &evaluate(step["run"].as_str().unwrap()), &env);
    assert_exit(&output, 0);
    assert!(
        stdout(&output).contains("::group::a\n"),
        "{}",
        stdout(&output)
    );
    let junit = dir.path().join(&inputs["junit"]);
    let (root, _) = read_junit(&std::fs::read_to_string(junit).unwrap());
    assert_eq!(root["tests"], "2");
    let md = std::fs::read_to_string(summary).unwrap();
    assert!(md.contains("| a | ✅ succeeded | 2 | 1 | 0 |"), "{md}");
}
