//! Snapshot tests of the renderings (`snapshots/`): realistic event sequences as a person and
//! a machine see them, and the exit status they lead to. A missing or different snapshot
//! fails; review a change with `cargo insta review`, or by reading the `.snap.new` file.

use serde_json::Value;
use spiro_client::Event;

use super::*;
use crate::args::StateOutput;

/// `insta::assert_snapshot!` with short file names (`snapshots/<name>.snap`) and no
/// expression in the header: the test names say what each holds.
macro_rules! snapshot {
    ($($arg:tt)*) => {
        insta::with_settings!({ prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!($($arg)*)
        })
    };
}

/// The event the client decodes from an SSE event `name` with `data` (as `Event::from_sse`).
fn event(name: &str, data: &str) -> Event {
    macro_rules! parse {
        () => {
            serde_json::from_str(data).expect("a known event with its documented shape")
        };
    }
    match name {
        "deploy-bundle" => Event::DeployBundle(parse!()),
        "highstate-calc" => Event::HighstateCalc(parse!()),
        "highstate-start" => Event::HighstateStart(parse!()),
        "highstate-update" => Event::HighstateUpdate(Box::new(parse!())),
        "highstate-finish" => Event::HighstateFinish(parse!()),
        "exception" => Event::Exception(parse!()),
        other => Event::Unknown {
            event: other.to_owned(),
            data: serde_json::from_str(data).unwrap_or_else(|_| Value::String(data.into())),
        },
    }
}

/// What the report writes for `events` in `format`, colours stripped, then how it ends.
fn render(format: Format, highstate: bool, events: &[(&str, &str)], interrupted: bool) -> String {
    let mut report = Report::to_writer(format, highstate, Vec::new());
    for (name, data) in events {
        report.event_with_data(&event(name, data), Some(data));
    }
    let (end, out) = match interrupted {
        true => {
            let cut = CliError::msg(Exit::Incomplete, "the event stream was cut");
            let (error, out) = report.interrupt(cut);
            (Err(error), out)
        }
        false => report.finish_with("the minion did not report"),
    };
    let shown = anstream::adapter::strip_bytes(&out).into_vec();
    let mut text = String::from_utf8(shown).unwrap();
    match end {
        Ok(exit) => text += &format!("---\nexit: {exit:?}\n"),
        Err(err) => text += &format!("---\nexit: {:?}\n{}", err.exit, err.render()),
    }
    text
}

fn both(name: &str, highstate: bool, events: &[(&str, &str)], interrupted: bool) {
    snapshot!(
        format!("{name}.human"),
        render(Format::Human, highstate, events, interrupted)
    );
    snapshot!(
        format!("{name}.json"),
        render(Format::Json, highstate, events, interrupted)
    );
}

const BUNDLE: (&str, &str) = ("deploy-bundle", r#"{"msg": "Deploying bundle"}"#);
const CALC: (&str, &str) = ("highstate-calc", r#"{"msg": "Calculating highstate"}"#);
const FINISH: (&str, &str) = ("highstate-finish", r#"{"msg": "Highstate complete"}"#);

#[test]
fn success_with_changes() {
    both(
        "success_with_changes",
        true,
        &[
            BUNDLE,
            CALC,
            (
                "highstate-start",
                r#"{"msg": "Starting highstate", "minions": ["web1", "web2"]}"#,
            ),
            (
                "highstate-update",
                r#"{"msg": "web1 returned", "minion": "web1", "result": {"out": "highstate", "retcode": 0, "ret": {
                "file_|-motd_|-/etc/motd_|-managed": {"name": "/etc/motd", "changes": {"diff": "--- \n+++ \n@@ -1 +1 @@\n-old\n+new"}, "result": true, "comment": "File /etc/motd updated", "__run_num__": 0, "__id__": "motd", "__sls__": "base", "start_time": "10:00:00.123456", "duration": 12.345},
                "pkg_|-nginx_|-nginx_|-installed": {"name": "nginx", "changes": {"nginx": {"old": "", "new": "1.24.0-1"}, "nginx-common": {"old": "", "new": "1.24.0-1"}}, "result": true, "comment": ["The following packages were installed/updated: nginx", "1 package was already installed"], "__run_num__": 1, "__id__": "nginx", "start_time": "10:00:00.200000", "duration": 3012.1},
                "service_|-nginx_|-nginx_|-running": {"name": "nginx", "changes": {}, "result": true, "comment": "The service nginx is already running", "__run_num__": 2, "__id__": "nginx-service"}}}}"#,
            ),
            (
                "highstate-update",
                r#"{"msg": "web2 returned", "minion": "web2", "result": {"out": "highstate", "retcode": 0, "ret": {
                "file_|-motd_|-/etc/motd_|-managed": {"name": "/etc/motd", "changes": {}, "result": true, "comment": "File /etc/motd is in the correct state", "__run_num__": 0, "__id__": "motd"}}}}"#,
            ),
            FINISH,
        ],
        false,
    );
}

#[test]
fn a_failed_state() {
    both(
        "a_failed_state",
        true,
        &[
            (
                "highstate-start",
                r#"{"msg": "Starting highstate", "minions": ["web1"]}"#,
            ),
            (
                "highstate-update",
                r#"{"msg": "web1 returned", "minion": "web1", "result": {"out": "highstate", "retcode": 2, "ret": {
                "file_|-motd_|-/etc/motd_|-managed": {"name": "/etc/motd", "changes": {"diff": "--- a\n+++ b"}, "result": true, "comment": "File updated", "__run_num__": 0, "__id__": "motd"},
                "cmd_|-boom_|-false_|-run": {"name": "false", "changes": {"pid": 4242, "retcode": 1, "stderr": "", "stdout": ""}, "result": false, "comment": "Command \"false\" run\nexit status 1", "__run_num__": 1, "__id__": "boom"},
                "test_|-maybe_|-maybe_|-nop": {"name": "maybe", "changes": {}, "result": null, "comment": "would run", "__run_num__": 2, "__id__": "maybe"}}}}"#,
            ),
            FINISH,
        ],
        false,
    );
}

#[test]
fn a_render_error() {
    both(
        "a_render_error",
        true,
        &[
            (
                "highstate-start",
                r#"{"msg": "Starting highstate", "minions": ["db"]}"#,
            ),
            (
                "highstate-update",
                r#"{"msg": "db returned", "minion": "db", "result": {"out": "highstate", "retcode": 1, "ret": ["Rendering SLS 'base:app' failed: mapping values are not allowed here\n  in \"<unicode string>\", line 3, column 8"]}}"#,
            ),
            FINISH,
        ],
        false,
    );
}

#[test]
fn a_minion_that_did_not_return() {
    both(
        "a_minion_that_did_not_return",
        true,
        &[
            (
                "highstate-start",
                r#"{"msg": "Starting highstate", "minions": ["a", "b", "c"]}"#,
            ),
            (
                "highstate-update",
                r#"{"msg": "a returned", "minion": "a", "result": {"out": "highstate", "retcode": 0, "ret": {}}}"#,
            ),
            (
                "highstate-update",
                r#"{"msg": "b did not return", "minion": "b", "result": {"failed": true}}"#,
            ),
            FINISH,
        ],
        false,
    );
}

#[test]
fn an_exception() {
    both(
        "an_exception",
        true,
        &[
            BUNDLE,
            CALC,
            (
                "exception",
                r#"{"msg": "Rendering SLS 'spirotop' failed: could not find expected ':'\n"}"#,
            ),
        ],
        false,
    );
}

#[test]
fn no_highstate() {
    both("no_highstate", false, &[BUNDLE], false);
}

#[test]
fn a_stream_cut_short() {
    both(
        "a_stream_cut_short",
        true,
        &[
            (
                "highstate-start",
                r#"{"msg": "Starting highstate", "minions": ["a", "b"]}"#,
            ),
            (
                "highstate-update",
                r#"{"msg": "a returned", "minion": "a", "result": {"out": "highstate", "retcode": 0, "ret": {}}}"#,
            ),
        ],
        true,
    );
}

#[test]
fn unknown_events_and_unreadable_results() {
    both(
        "unknown_events_and_unreadable_results",
        true,
        &[
            (
                "highstate-start",
                r#"{"msg": "Starting highstate", "minions": ["x", "y"]}"#,
            ),
            ("future-event", r#"{"msg": "something new", "extra": 1}"#),
            ("future-event", r#"{"count": 3}"#),
            (
                "highstate-update",
                r#"{"minion": "x", "result": "Minion did not respond"}"#,
            ),
            (
                "highstate-update",
                r#"{"minion": "y", "result": {"ret": "a string", "retcode": 1}}"#,
            ),
            FINISH,
        ],
        false,
    );
}

/// The blocks the earlier `contains` checks described, now whole.
#[test]
fn blocks_of_the_earlier_checks() {
    let update = r#"{"msg": "m", "minion": "web1", "result": {"out": "highstate", "retcode": 2, "ret": {
            "file_|-motd_|-/etc/motd_|-managed": {"name": "/etc/motd", "changes": {"diff": "--- a\n+++ b"}, "result": true, "comment": "File updated", "__run_num__": 0, "__id__": "motd"},
            "cmd_|-boom_|-false_|-run": {"name": "false", "changes": {}, "result": false, "comment": "Command failed", "__run_num__": 1, "__id__": "boom"}}}}"#;
    let render_error = r#"{"minion": "db", "result": {"ret": ["Rendering SLS 'base:app' failed: mapping values"], "retcode": 1}}"#;
    let no_return = r#"{"minion": "db", "result": {"failed": true}}"#;
    let events = [
        ("highstate-update", update),
        ("highstate-update", render_error),
        ("highstate-update", no_return),
    ];
    snapshot!(
        "blocks_of_the_earlier_checks",
        render(Format::Human, true, &events, false)
    );
}

/// Server and minion text with terminal attacks in it: title (OSC 0), clipboard (OSC 52),
/// erase line (CSI 2K), a C1 CSI and a DEL are shown as `\u{..}`, and JSON escapes them.
#[test]
fn control_characters_are_shown_not_obeyed() {
    let events = [
        ("deploy-bundle", r#"{"msg": "a\u001b]0;title\u0007b"}"#),
        (
            "highstate-start",
            "{\"msg\": \"s\u{9b}2K\", \"minions\": [\"web\\u001b[2K\"]}",
        ),
        (
            "highstate-update",
            "{\"minion\": \"web\\u001b[2K\", \"result\": {\"retcode\": 0, \"ret\": {\"file_|-m_|-m_|-managed\": {\"name\": \"n\u{7f}\", \"result\": true, \"comment\": \"c\\u001b]52;c;aGk=\\u0007\", \"changes\": {\"k\u{9b}\": \"v\\u001b[31m\\nline\"}, \"__run_num__\": 0, \"__id__\": \"i\\u001b\"}}}}",
        ),
        ("highstate-finish", r#"{"msg": "done"}"#),
    ];
    let human = render(Format::Human, true, &events, false);
    let json = render(Format::Json, true, &events, false);
    for text in [&human, &json] {
        let raw = text
            .chars()
            .filter(|&c| c.is_control() && c != '\n')
            .count();
        assert_eq!(raw, 0, "{text}");
    }
    snapshot!("control_characters.human", human);
    snapshot!("control_characters.json", json);
}

/// Changes nested 120 levels deep, with a multi-line string at each level and a large one at
/// the bottom: the output stays about the size of the input (it was 165 times as large), and
/// nesting past `MAX_NESTING` is one line of JSON, cut at `MAX_COMPACT_BYTES`.
#[test]
fn deep_nesting_is_shown_compactly() {
    let mut changes = serde_json::json!({ "bottom": "x\n".repeat(50_000) });
    for level in (0..120).rev() {
        changes =
            serde_json::json!({ "level": level, "text": "a line\n".repeat(20), "child": changes });
    }
    let state = serde_json::json!({
        "name": "deep", "result": true, "comment": "", "changes": changes,
        "__run_num__": 0, "__id__": "deep",
    });
    let update = serde_json::json!({
        "minion": "web1",
        "result": { "retcode": 0, "ret": { "test_|-deep_|-deep_|-nop": state } },
    });
    let data = update.to_string();
    let event = Event::HighstateUpdate(Box::new(serde_json::from_value(update).unwrap()));
    let mut report = Report::to_writer(Format::Human, true, Vec::new());
    report.event_with_data(&event, Some(&data));
    let text = String::from_utf8(report.out).unwrap();
    assert!(
        text.len() < 2 * data.len(),
        "{} bytes of output for {} bytes of data",
        text.len(),
        data.len()
    );
    let plain = anstream::adapter::strip_str(&text).to_string();
    let compact = plain
        .lines()
        .find(|line| line.trim_start().starts_with('{'))
        .expect("a compact line");
    let json = compact.trim_start();
    assert!(json.ends_with('…'), "{json}");
    assert_eq!(
        json.len(),
        human::MAX_COMPACT_BYTES + '…'.len_utf8(),
        "{json}"
    );
    assert!(json.starts_with(r#"{"child":{"child":"#), "{json}");
}

/// Standard output closed by its reader (`| head`): the report stops writing, the deploy goes
/// on, and the exit status still tells how it went.
#[test]
fn a_closed_output_does_not_stop_the_deploy() {
    struct Closed;
    impl io::Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut report = Report::to_writer(Format::Human, true, Closed);
    for (name, data) in [
        ("highstate-start", r#"{"minions": ["a"]}"#),
        (
            "highstate-update",
            r#"{"minion": "a", "result": {"failed": true}}"#,
        ),
        FINISH,
    ] {
        report.event_with_data(&event(name, data), Some(data));
    }
    assert!(report.closed);
    assert_eq!(report.finish().unwrap_err().exit, Exit::Incomplete);
}

/// Every `--state-output` mode, verbose and not, against what Salt's own highstate outputter
/// prints for the same results (`fixtures/salt/`, made by `fixtures/salt/make.py`; colour off).
#[test]
fn state_output_modes_match_salts_outputter() {
    let data: serde_json::Map<String, Value> =
        serde_json::from_str(include_str!("fixtures/salt/highstate.json")).unwrap();
    let expected = [
        (
            StateOutput::Full,
            true,
            include_str!("fixtures/salt/full-verbose-true.txt"),
        ),
        (
            StateOutput::Full,
            false,
            include_str!("fixtures/salt/full-verbose-false.txt"),
        ),
        (
            StateOutput::Terse,
            true,
            include_str!("fixtures/salt/terse-verbose-true.txt"),
        ),
        (
            StateOutput::Terse,
            false,
            include_str!("fixtures/salt/terse-verbose-false.txt"),
        ),
        (
            StateOutput::Mixed,
            true,
            include_str!("fixtures/salt/mixed-verbose-true.txt"),
        ),
        (
            StateOutput::Mixed,
            false,
            include_str!("fixtures/salt/mixed-verbose-false.txt"),
        ),
        (
            StateOutput::Changes,
            true,
            include_str!("fixtures/salt/changes-verbose-true.txt"),
        ),
        (
            StateOutput::Changes,
            false,
            include_str!("fixtures/salt/changes-verbose-false.txt"),
        ),
    ];
    for (output, verbose, salt) in expected {
        let mut shown = Vec::new();
        for (minion, ret) in &data {
            let failed = ret
                .as_object()
                .unwrap()
                .values()
                .any(|state| state["result"] == Value::Bool(false));
            let update = serde_json::json!({
                "minion": minion,
                "result": {"ret": ret, "retcode": if failed { 2 } else { 0 }, "out": "highstate"},
            });
            let update = serde_json::from_value(update).unwrap();
            human::write_minion(&mut shown, &update, States { output, verbose }).unwrap();
        }
        let shown = anstream::adapter::strip_bytes(&shown).into_vec();
        let shown = String::from_utf8(shown).unwrap();
        assert_eq!(
            shown, salt,
            "--state-output={output:?} --state-verbose={verbose}"
        );
    }
}

/// The JUnit report of hostile text is well-formed XML with no control character: an
/// independent parser reads back what was shown, made visible.
#[test]
fn junit_of_control_characters_is_valid_xml() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.xml");
    let junit = Junit::create(&path, "spiro-deploy web/prod").unwrap();
    let mut report = Report::to_writer(Format::Human, true, Vec::new()).junit(Some(junit));
    let hostile = "a\u{1b}]0;t\u{7}<&>\"'\u{0}\u{ffff}]]>";
    let state = serde_json::json!({
        "name": hostile, "result": false, "comment": hostile, "changes": {hostile: hostile},
        "__run_num__": 0, "__id__": hostile, "__sls__": hostile, "duration": "2.5 ms",
    });
    let update = serde_json::json!({
        "minion": hostile,
        "result": {"retcode": 2, "ret": {format!("cmd_|-{hostile}_|-x_|-run"): state}},
    });
    for (name, data) in [
        (
            "highstate-start",
            serde_json::json!({"minions": [hostile, "silent"]}).to_string(),
        ),
        ("highstate-update", update.to_string()),
        ("highstate-finish", "{}".to_owned()),
    ] {
        report.event_with_data(&event(name, &data), Some(&data));
    }
    assert_eq!(report.finish().unwrap_err().exit, Exit::Incomplete);
    let xml = std::fs::read_to_string(&path).unwrap();
    assert!(!xml.chars().any(|c| c.is_control() && c != '\n'), "{xml}");
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let suites: Vec<_> = doc
        .root_element()
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    let shown = r#"a\u{1b}]0;t\u{7}<&>"'\u{0}�]]>"#;
    assert_eq!(suites[0].attribute("name"), Some(shown));
    assert_eq!(suites[1].attribute("name"), Some("silent"));
    let case = suites[0].first_element_child().unwrap();
    assert_eq!(case.attribute("time"), Some("0.003"));
    let failure = case.first_element_child().unwrap();
    assert_eq!(failure.attribute("message"), Some(shown));
}
