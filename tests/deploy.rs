//! `spiro-deploy <project> <deployment>` against a real HTTP(S) server on 127.0.0.1 that
//! parses the multipart body, checks the token, validates the tar and answers exactly as
//! PROTOCOL.md shows; and the `spiro_client` library against the same server.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;
use spiro_client::{Client, Deploy, Error, Event, MinionResult, Options, Tls, Token, UploadError};
use spiro_tests::server::*;
use spiro_tests::*;

spiro_tests::spiro_deploy_binary!();

/// A token whose text is distinctive enough to grep for in any output.
fn token_for(projects: &[&str], lifetime: i64) -> String {
    project_token("SECRET-identifier-do-not-print", projects, lifetime)
}

/// A token for the project `web`, the same for the whole run: it embeds the current time, so
/// two calls a second apart would give two tokens, and a server made with one would refuse the
/// other (a test that called it twice failed now and then on a second boundary).
fn good_token() -> String {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOKEN.get_or_init(|| token_for(&["web"], 3600)).clone()
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "_salt/top.sls", "base:\n  '*':\n    - app\n");
    write(dir.path(), "_salt/app/init.sls", "app: pkg.installed\n");
    dir
}

/// Runs `spiro-deploy` against `server` with the token in SPIRO_TOKEN.
fn deploy(server: &TestServer, dir: &Path, token: &str, args: &[&str]) -> Output {
    let mut cmd = spiro_deploy(dir);
    cmd.env("SPIRO_URL", server.url()).env("SPIRO_TOKEN", token);
    if server.url().starts_with("http://") {
        cmd.arg("--insecure");
    }
    let output = run(cmd.args(args));
    assert_no_token(&output, token);
    output
}

/// Deploys a fresh project as `web`/`prod` with a good token to a server giving `answer`.
fn deploy_answer(answer: Answer) -> Output {
    let server = server(answer);
    let dir = project();
    deploy(&server, dir.path(), &good_token(), &["web", "prod"])
}

fn assert_no_token(output: &Output, token: &str) {
    for (name, stream) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        let text = String::from_utf8_lossy(stream);
        assert!(
            !text.contains(token),
            "the token appears on {name}:\n{text}"
        );
        assert!(
            !text.contains(&token[..16]),
            "part of the token appears on {name}:\n{text}"
        );
        assert!(
            !text.contains("SECRET-identifier"),
            "the token's identifier appears on {name}"
        );
    }
}

fn server(answer: Answer) -> TestServer {
    TestServer::start(Config::new(&good_token(), answer))
}

fn server_with_token(token: &str, answer: Answer) -> TestServer {
    TestServer::start(Config::new(token, answer))
}

// --- Successful deploys --------------------------------------------------------------------

#[test]
fn highstate_deploy_sends_the_request_protocol_md_describes_and_shows_every_minion() {
    let token = good_token();
    let server = server_with_token(
        &token,
        Answer::Stream(successful_highstate(&["web1", "web2"])),
    );
    let dir = project();
    let output = deploy(&server, dir.path(), &token, &["web", "prod"]);
    assert_exit(&output, 0);

    let got = server.last_deploy();
    assert_eq!(got.status, 200);
    assert_eq!(got.auth_scheme.as_deref(), Some("Bearer"));
    assert_eq!(got.header("accept"), Some("text/event-stream"));
    assert_eq!(got.header("cache-control"), Some("no-cache"));
    // The CLI measures the bundle first, so the body goes out with its exact length.
    assert_eq!(got.header("transfer-encoding"), None);
    let body_len: u64 = got
        .header("content-length")
        .expect("a Content-Length")
        .parse()
        .unwrap();
    let bundle = run(spiro_deploy(dir.path()).args(["--output", "-", "web", "prod"]));
    assert_eq!(
        got.bundle_size,
        bundle.stdout.len() as u64,
        "the bundle arrived whole"
    );
    assert!(
        body_len > got.bundle_size,
        "the multipart body holds the bundle and the fields"
    );
    assert!(
        got.header("content-type")
            .unwrap()
            .starts_with("multipart/form-data; boundary=")
    );
    let fields: Vec<&str> = got.fields.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(fields, ["project", "deployment", "highstate"]);
    assert_eq!(got.field("project"), Some("web"));
    assert_eq!(got.field("deployment"), Some("prod"));
    assert_eq!(got.field("highstate"), Some("True"));
    assert_eq!(got.bundle_parts, 1);
    assert_eq!(got.bundle_filename.as_deref(), Some("bundle"));
    assert_eq!(got.tar_error, None);
    assert_eq!(got.members, ["app/init.sls", "top.sls"]);

    let out = stdout(&output);
    assert!(out.contains("» Deploying bundle\n"), "{out}");
    assert!(
        out.contains("» Starting highstate on web1, web2\n"),
        "{out}"
    );
    for minion in ["web1", "web2"] {
        assert!(
            out.contains(&format!(
                "{minion}:\n----------\n          ID: /etc/motd\n    Function: file.managed\n"
            )),
            "{out}"
        );
        assert!(
            out.contains(&format!(
                "Summary for {minion}\n------------\nSucceeded: 2 (changed=1)\nFailed:    0\n\
                 ------------\nTotal states run:     2\nTotal run time:   2.500 ms\n"
            )),
            "{out}"
        );
    }
    // After the last minion, the totals (issue 12), then the line for the whole deploy.
    assert!(
        out.contains(
            "» Highstate complete\n\nTotals for 2 minions\n------------\nSucceeded: 4 (changed=2)\n\
             Failed:    0\n------------\nTotal states run:     4\nTotal run time:   5.000 ms\n\
             2 minions reported of 2\n"
        ),
        "{out}"
    );
    assert!(!out.contains('\x1b'), "no colour when not on a terminal");
    let err = stderr(&output);
    assert!(
        err.contains("uploading the bundle to http://127.0.0.1:"),
        "{err}"
    );
    assert!(err.contains("the server accepted the deploy"), "{err}");
}

#[test]
fn no_highstate_leaves_the_field_out_and_ends_after_deploy_bundle() {
    let server = server(Answer::Stream(vec![deploy_bundle()]));
    let dir = project();
    let output = deploy(
        &server,
        dir.path(),
        &good_token(),
        &["--no-highstate", "web", "prod"],
    );
    assert_exit(&output, 0);
    let got = server.last_deploy();
    assert_eq!(
        got.field("highstate"),
        None,
        "any value, even `false`, would mean highstate"
    );
    assert_eq!(stdout(&output), "» Deploying bundle\n");
}

#[test]
fn lowercase_bearer_and_a_deploy_with_no_minions() {
    // The server matches the scheme case-insensitively; an empty minion list is a success.
    let output = deploy_answer(Answer::Stream(vec![
        deploy_bundle(),
        highstate_calc(),
        highstate_start(&[]),
        highstate_finish(),
    ]));
    assert_exit(&output, 0);
    // Issue 12: the redundant count went, and a hint says where to look.
    let out = stdout(&output);
    assert!(out.contains("» No minions to highstate\n"), "{out}");
    assert!(
        out.contains("hint: the deployment's entry in spirotop.sls matches no minion"),
        "{out}"
    );
    assert!(out.contains("0 minions reported of 0"));
}

// --- Failures reported by the deploy ---------------------------------------------------------

#[test]
fn failing_states_exit_7_and_every_minion_is_still_shown() {
    let steps = vec![
        deploy_bundle(),
        highstate_calc(),
        highstate_start(&["db1", "web1"]),
        highstate_update(
            "db1",
            states_result(&[ok_state("/etc/db.conf", false), failed_state("migrate")]),
        ),
        highstate_update("web1", states_result(&[ok_state("/etc/motd", true)])),
        highstate_finish(),
    ];
    let output = deploy_answer(Answer::Stream(steps));
    assert_exit(&output, 7);
    let out = stdout(&output);
    // Salt's highstate outputter (issue 12): `Name:` only when it differs from the ID, the
    // summary a block, `changed=` only when not zero.
    assert!(
        out.contains("          ID: migrate\n    Function: cmd.run\n      Result: False\n"),
        "{out}"
    );
    assert!(
        out.contains("Summary for db1\n------------\nSucceeded: 1\nFailed:    1\n"),
        "{out}"
    );
    assert!(
        out.contains("Summary for web1\n------------\nSucceeded: 1 (changed=1)\nFailed:    0\n"),
        "shown after a failure: {out}"
    );
    assert!(out.contains("Totals for 2 minions\n"), "{out}");
    assert!(out.contains("2 minions reported of 2"));
    assert!(stderr(&output).contains("error: the highstate failed on 1 minion: db1"));
}

#[test]
fn render_error_exits_7_and_is_shown_as_such() {
    let steps = vec![
        deploy_bundle(),
        highstate_calc(),
        highstate_start(&["web1"]),
        highstate_update(
            "web1",
            render_error(
                "Rendering SLS 'web/prod:app' failed: mapping values are not allowed here",
            ),
        ),
        highstate_finish(),
    ];
    let output = deploy_answer(Answer::Stream(steps));
    assert_exit(&output, 7);
    let out = stdout(&output);
    assert!(
        out.contains(
            "web1:\n    Data failed to compile:\n----------\n    Rendering SLS 'web/prod:app' failed"
        ),
        "{out}"
    );
    assert!(out.contains("Summary for web1: render error"), "{out}");
}

#[test]
fn unreported_and_non_returning_minions_exit_8_and_are_listed() {
    let steps = vec![
        deploy_bundle(),
        highstate_calc(),
        highstate_start(&["a", "b", "c"]),
        highstate_update("a", states_result(&[ok_state("x", false)])),
        highstate_update("b", no_return()),
        highstate_finish(),
    ];
    let output = deploy_answer(Answer::Stream(steps));
    assert_exit(&output, 8);
    let out = stdout(&output);
    assert!(
        out.contains("b:\n    (No Results): the minion did not return\n"),
        "{out}"
    );
    assert!(
        out.contains("1 minion reported of 3\nDid not report:\n    b\n    c\n"),
        "{out}"
    );
    assert!(stderr(&output).contains("error: 2 of 3 minions did not report: b, c"));
}

#[test]
fn exception_after_the_stream_started_exits_6() {
    let steps = vec![
        deploy_bundle(),
        highstate_calc(),
        exception("ScannerError: mapping values are not allowed here in \"spirotop.sls\", line 3"),
        // Never read: the stream is over after an exception.
        highstate_finish(),
    ];
    let output = deploy_answer(Answer::Stream(steps));
    assert_exit(&output, 6);
    assert!(stdout(&output).contains("exception: ScannerError: mapping values"));
    assert!(stderr(&output).contains("error: the server failed during the deploy: ScannerError"));
}

#[test]
fn a_stream_cut_before_highstate_finish_exits_8() {
    let steps = vec![
        deploy_bundle(),
        highstate_calc(),
        highstate_start(&["a", "b"]),
        highstate_update("a", states_result(&[ok_state("x", true)])),
        Step::Cut,
    ];
    let output = deploy_answer(Answer::Stream(steps));
    assert_exit(&output, 8);
    assert!(stdout(&output).contains("1 minion reported of 2\nDid not report:\n    b\n"));
    let err = stderr(&output);
    assert!(
        err.contains("the event stream ended before `highstate-finish`"),
        "{err}"
    );
    assert!(err.contains("salt-run jobs.active"), "{err}");

    // A stream that ends cleanly but early is cut short too.
    let output = deploy_answer(Answer::Stream(vec![deploy_bundle(), highstate_calc()]));
    assert_exit(&output, 8);
}

#[test]
fn silence_longer_than_the_connect_timeout_is_not_a_read_timeout() {
    // The server accepts, says nothing at all (not even the status line) for 3 s, then is
    // silent for 3 s more between events. With a 1 s connect timeout, a client that applied
    // it (or any short timeout) to reads would fail; reqwest's blocking default of 30 s is not
    // in force either, since the client uses no read timeout at all (see spiro_client::Client).
    let mut steps = successful_highstate(&["slow"]);
    steps.insert(3, Step::Sleep(Duration::from_secs(3)));
    let server = server(Answer::Delay(
        Duration::from_secs(3),
        Box::new(Answer::Stream(steps)),
    ));
    let dir = project();
    let started = Instant::now();
    let output = deploy(
        &server,
        dir.path(),
        &good_token(),
        &["--connect-timeout", "1", "web", "prod"],
    );
    assert_exit(&output, 0);
    assert!(started.elapsed() >= Duration::from_secs(6));
    assert!(stdout(&output).contains("1 minion reported of 1"));
}

// --- Errors before the deploy starts --------------------------------------------------------

#[test]
fn status_401_names_the_token_source_and_exits_5() {
    let server = server_with_token(
        "another-masters-token",
        Answer::Stream(vec![deploy_bundle()]),
    );
    let dir = project();
    let token = good_token();
    let output = deploy(&server, dir.path(), &token, &["web", "prod"]);
    assert_exit(&output, 5);
    let err = stderr(&output);
    assert!(err.contains("error: the server refused the token in SPIRO_TOKEN: the server answered 401 Unauthorized: 401: Unauthorized"), "{err}");
    assert!(err.contains("issued by another salt-master"), "{err}");

    let mut cmd = spiro_deploy(dir.path());
    cmd.args([
        "--insecure",
        "--server",
        &server.url(),
        "--token",
        &token,
        "web",
        "prod",
    ]);
    let output = run(&mut cmd);
    assert_no_token(&output, &token);
    assert_exit(&output, 5);
    assert!(stderr(&output).contains("the server refused the token given with --token"));
}

#[test]
fn early_401_on_a_large_upload_reports_the_answer_not_a_broken_pipe() {
    let server = server_with_token(
        "another-masters-token",
        Answer::Stream(vec![deploy_bundle()]),
    );
    let dir = project();
    write(dir.path(), "big.bin", vec![7u8; 24 << 20]);
    let output = deploy(
        &server,
        dir.path(),
        &good_token(),
        &["--artifact", "big.bin", "web", "prod"],
    );
    assert_exit(&output, 5);
    let err = stderr(&output);
    assert!(err.contains("401 Unauthorized"), "{err}");
    assert!(!err.to_lowercase().contains("pipe"), "{err}");
}

#[test]
fn status_403_warns_that_the_deploy_may_have_been_applied() {
    let token = token_for(&["web", "api"], 3600);
    let mut config = Config::new(&token, Answer::Stream(vec![deploy_bundle()]));
    config.projects = Some(vec!["web".into()]);
    let server = TestServer::start(config);
    let dir = project();
    let output = deploy(&server, dir.path(), &token, &["api", "prod"]);
    assert_exit(&output, 5);
    let err = stderr(&output);
    assert!(
        err.contains(
            "warning: SpiroFS 0.3 goes on after answering 403: the bundle may have been deployed"
        ),
        "{err}"
    );
    assert!(err.contains("error: the token in SPIRO_TOKEN does not cover the project \"api\": the server answered 403 Forbidden"), "{err}");
}

#[test]
fn status_400_and_500_show_the_servers_words_and_exit_6() {
    for (status, words) in [
        (400, "400: Bad Request"),
        (500, "500: Internal Server Error"),
        (502, "502: Bad Gateway"),
    ] {
        let output = deploy_answer(Answer::Status(status));
        assert_exit(&output, 6);
        let err = stderr(&output);
        assert!(
            err.contains(&format!("error: the server answered {status} ")),
            "{err}"
        );
        assert!(err.contains(words), "{err}");
    }
}

#[test]
fn body_over_the_plain_http_limit_is_explained() {
    let mut config = Config::new(&good_token(), Answer::Stream(vec![deploy_bundle()]));
    config.body_limit = Some(1 << 20);
    let server = TestServer::start(config);
    let dir = project();
    write(dir.path(), "big.bin", vec![1u8; 6 << 20]);
    let output = deploy(
        &server,
        dir.path(),
        &good_token(),
        &["--artifact", "big.bin", "web", "prod"],
    );
    assert_exit(&output, 4);
    let err = stderr(&output);
    assert!(err.contains("was reset after"), "{err}");
    assert!(
        err.contains("SpiroFS refuses bodies over 100 MiB over plain HTTP"),
        "{err}"
    );
    assert!(server.received().iter().any(|r| r.reset));
}

#[test]
fn connection_refused_and_dns_failure_exit_4_with_hints() {
    let dir = project();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let token = good_token();
    let mut cmd = spiro_deploy(dir.path());
    cmd.env("SPIRO_TOKEN", &token).args([
        "--insecure",
        "--server",
        &format!("http://127.0.0.1:{port}/"),
        "web",
        "prod",
    ]);
    let output = run(&mut cmd);
    assert_exit(&output, 4);
    assert!(
        stderr(&output).contains("was refused"),
        "{}",
        stderr(&output)
    );

    let mut cmd = spiro_deploy(dir.path());
    cmd.env("SPIRO_TOKEN", &token).args([
        "--server",
        "https://spirofs.invalid:4510/",
        "web",
        "prod",
    ]);
    let output = run(&mut cmd);
    assert_exit(&output, 4);
    let err = stderr(&output);
    assert!(
        err.contains("cannot resolve the host name of https://spirofs.invalid:4510/"),
        "{err}"
    );
    assert!(err.contains("check the host name"), "{err}");
}

#[test]
fn plain_http_is_refused_without_insecure() {
    let server = server(Answer::Stream(vec![deploy_bundle()]));
    let dir = project();
    let token = good_token();
    let mut cmd = spiro_deploy(dir.path());
    cmd.env("SPIRO_URL", server.url())
        .env("SPIRO_TOKEN", &token)
        .args(["web", "prod"]);
    let output = run(&mut cmd);
    assert_exit(&output, 2);
    assert!(
        stderr(&output).contains("--insecure is what allows unencrypted HTTP"),
        "{}",
        stderr(&output)
    );
    assert!(server.received().is_empty(), "nothing was sent");
}

// --- TLS -------------------------------------------------------------------------------------

#[test]
fn tls_with_a_test_ca_a_pinned_self_signed_leaf_and_insecure() {
    let pki = TestPki::new();
    let token = good_token();
    let mut config = Config::new(&token, Answer::Stream(successful_highstate(&["m"])));
    config.tls = Some(pki.server_config());
    let server = TestServer::start(config);
    assert!(server.url().starts_with("https://127.0.0.1:"));
    let dir = project();
    let ca = pki.ca_pem().display().to_string();

    // Trusting the CA works.
    let output = deploy(
        &server,
        dir.path(),
        &token,
        &["--ssl-cert", &ca, "web", "prod"],
    );
    assert_exit(&output, 0);
    assert!(server.last_deploy().header("content-length").is_some());

    // The system roots do not know the test CA.
    let output = deploy(&server, dir.path(), &token, &["web", "prod"]);
    assert_exit(&output, 4);
    let err = stderr(&output);
    assert!(err.contains("not signed by a trusted authority"), "{err}");
    assert!(err.contains("--ssl-cert"), "{err}");

    // --insecure skips verification.
    let output = deploy(&server, dir.path(), &token, &["--insecure", "web", "prod"]);
    assert_exit(&output, 0);

    // The CA-signed server certificate alone, without its CA, is pinned: trusted whatever
    // signed it.
    let leaf = pki.leaf_pem().display().to_string();
    let output = deploy(
        &server,
        dir.path(),
        &token,
        &["--ssl-cert", &leaf, "web", "prod"],
    );
    assert_exit(&output, 0);

    // Another certificate (here the self-signed one) is not the server's, nor its CA.
    let other = pki.self_signed_pem().display().to_string();
    let output = deploy(
        &server,
        dir.path(),
        &token,
        &["--ssl-cert", &other, "web", "prod"],
    );
    assert_exit(&output, 4);
    let err = stderr(&output);
    assert!(err.contains("not signed by a trusted authority"), "{err}");
    assert!(err.contains("--ssl-cert"), "{err}");

    // A self-signed server certificate can be trusted directly.
    let mut config = Config::new(&token, Answer::Stream(vec![deploy_bundle()]));
    config.tls = Some(pki.self_signed_server_config());
    let server = TestServer::start(config);
    let pinned = pki.self_signed_pem().display().to_string();
    let output = deploy(
        &server,
        dir.path(),
        &token,
        &["--no-highstate", "--ssl-cert", &pinned, "web", "prod"],
    );
    assert_exit(&output, 0);

    // A missing --ssl-cert file is a usage error.
    let output = deploy(
        &server,
        dir.path(),
        &token,
        &["--ssl-cert", "/nonexistent.pem", "web", "prod"],
    );
    assert_exit(&output, 2);
}

#[test]
fn tls_client_against_a_plain_http_server_says_so() {
    let server = server(Answer::Stream(vec![deploy_bundle()]));
    let dir = project();
    let token = good_token();
    let url = server.url().replace("http://", "https://");
    let mut cmd = spiro_deploy(dir.path());
    cmd.env("SPIRO_TOKEN", &token)
        .args(["--server", &url, "web", "prod"]);
    let output = run(&mut cmd);
    assert_exit(&output, 4);
    assert!(stderr(&output).contains("TLS with"), "{}", stderr(&output));
}

// --- Before anything is sent -----------------------------------------------------------------

#[test]
fn unsafe_names_are_refused_before_anything_is_sent() {
    let server = server(Answer::Stream(vec![deploy_bundle()]));
    let dir = project();
    for (project, deployment) in [
        ("..", "prod"),
        ("web", ".."),
        ("a/../b", "prod"),
        ("web", "a/b"),
        ("", "prod"),
        (".", "x"),
        ("/etc", "x"),
    ] {
        let output = deploy(&server, dir.path(), &good_token(), &[project, deployment]);
        assert_exit(&output, 2);
        assert!(
            stderr(&output).contains("is refused"),
            "{}",
            stderr(&output)
        );
    }
    assert!(server.received().is_empty());
}

#[test]
fn expired_tokens_and_uncovered_projects_stop_before_uploading() {
    let server = server(Answer::Stream(vec![deploy_bundle()]));
    let dir = project();
    let expired = token_for(&["web"], -7200);
    let output = deploy(&server, dir.path(), &expired, &["web", "prod"]);
    assert_exit(&output, 5);
    let err = stderr(&output);
    assert!(err.contains("error: the token expired 2 h ago"), "{err}");
    assert!(
        err.contains("checked the token in SPIRO_TOKEN; nothing was sent"),
        "{err}"
    );

    let output = deploy(&server, dir.path(), &good_token(), &["api", "prod"]);
    assert_exit(&output, 5);
    let err = stderr(&output);
    assert!(
        err.contains("the token does not cover the project \"api\" (it covers \"web\")"),
        "{err}"
    );
    assert!(err.contains("salt-run spiro.issue_token api"), "{err}");
    assert!(server.received().is_empty());

    // A token that is not a macaroon only earns a warning: the server decides.
    let output = deploy(
        &server,
        dir.path(),
        "not-a-macaroon-token-at-all",
        &["web", "prod"],
    );
    assert_exit(&output, 5);
    assert!(stderr(&output).contains("warning: cannot read the caveats"));
    assert_eq!(server.received().last().unwrap().status, 401);
}

#[test]
fn missing_token_exits_5_with_what_to_do() {
    let server = server(Answer::Stream(vec![deploy_bundle()]));
    let dir = project();
    let mut cmd = spiro_deploy(dir.path());
    cmd.env("SPIRO_URL", server.url())
        .args(["--insecure", "web", "prod"]);
    let output = run(&mut cmd);
    assert_exit(&output, 5);
    assert!(stderr(&output).contains("set SPIRO_TOKEN (or pass --token)"));
}

#[test]
fn check_verifies_the_token_with_get() {
    let token = good_token();
    let server = server_with_token(&token, Answer::Stream(vec![deploy_bundle()]));
    let dir = project();
    let output = deploy(&server, dir.path(), &token, &["--check"]);
    assert_exit(&output, 0);
    assert!(
        stderr(&output).contains("accepts the token in SPIRO_TOKEN"),
        "{}",
        stderr(&output)
    );
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].method, "GET");

    let output = deploy(&server, dir.path(), &token, &["--check", "web"]);
    assert_exit(&output, 0);
    let output = deploy(&server, dir.path(), &token, &["--check", "api"]);
    assert_exit(&output, 5);

    let server = server_with_token("other", Answer::Stream(vec![]));
    let output = deploy(&server, dir.path(), &token, &["--check"]);
    assert_exit(&output, 5);
}

// --- Output formats --------------------------------------------------------------------------

#[test]
fn json_format_prints_one_object_per_event() {
    let steps = successful_highstate(&["a", "b"]);
    let count = steps.len();
    let server = server(Answer::Stream(steps));
    let dir = project();
    let output = deploy(
        &server,
        dir.path(),
        &good_token(),
        &["--format", "json", "web", "prod"],
    );
    assert_exit(&output, 0);
    let lines: Vec<Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    // Each event, then the summary (issue 12).
    assert_eq!(lines.len(), count + 1);
    assert_eq!(
        lines[0],
        serde_json::json!({"event": "deploy-bundle", "data": {"msg": "Deploying bundle"}})
    );
    assert_eq!(lines[2]["data"]["minions"], serde_json::json!(["a", "b"]));
    assert_eq!(lines[3]["event"], "highstate-update");
    assert_eq!(lines[3]["data"]["minion"], "a");
    assert_eq!(lines[3]["data"]["result"]["retcode"], 0);
    assert_eq!(lines[count - 1]["event"], "highstate-finish");
    assert_eq!(lines[count]["event"], "spiro-deploy-summary");
    assert_eq!(lines[count]["data"]["exit"], 0);
}

#[test]
fn json_format_passes_the_servers_data_on_as_it_came() {
    // Fields this client does not know, in the server's own key order, survive.
    let steps = vec![Step::Raw(
        b"event: deploy-bundle\ndata: {\"msg\": \"Deploying bundle\", \"zz_new_field\": [1, 2], \"a\": null}\n\n"
            .to_vec(),
    )];
    let server = server(Answer::Stream(steps));
    let dir = project();
    let output = deploy(
        &server,
        dir.path(),
        &good_token(),
        &["--no-highstate", "--format", "json", "web", "prod"],
    );
    assert_exit(&output, 0);
    assert_eq!(
        stdout(&output),
        "{\"event\":\"deploy-bundle\",\"data\":{\"msg\": \"Deploying bundle\", \"zz_new_field\": [1, 2], \"a\": null}}\n\
         {\"event\":\"spiro-deploy-summary\",\"data\":{\"exit\":0,\"minions\":[],\"timed_out\":false,\"unreported\":[]}}\n"
    );
}

#[test]
fn colour_is_forced_only_without_no_color() {
    let server = server(Answer::Stream(successful_highstate(&["a"])));
    let dir = project();
    let token = good_token();
    let mut cmd = spiro_deploy(dir.path());
    cmd.env_remove("NO_COLOR")
        .env("CLICOLOR_FORCE", "1")
        .env("SPIRO_URL", server.url())
        .env("SPIRO_TOKEN", &token)
        .args(["--insecure", "web", "prod"]);
    let output = run(&mut cmd);
    assert_exit(&output, 0);
    assert!(stdout(&output).contains('\x1b'), "CLICOLOR_FORCE colours");
    let output = run(cmd.env("NO_COLOR", "1"));
    assert_exit(&output, 0);
    assert!(!stdout(&output).contains('\x1b'), "NO_COLOR wins");
    assert!(!stderr(&output).contains('\x1b'));
}

// --- The library -----------------------------------------------------------------------------

fn client(server: &TestServer, token: &str) -> Client {
    let tls = if server.url().starts_with("http://") {
        Tls::Insecure
    } else {
        Tls::System
    };
    Client::new(Options::new(server.url(), Token::new(token)).tls(tls)).unwrap()
}

/// The uploads the server accepted (a 200 to a `POST`): the deploys that happened.
fn accepted_deploys(server: &TestServer) -> Vec<Received> {
    server
        .received()
        .into_iter()
        .filter(|r| r.method == "POST" && r.status == 200)
        .collect()
}

fn web_prod(highstate: bool) -> Deploy {
    Deploy {
        project: "web".into(),
        deployment: "prod".into(),
        highstate,
        bundle_len: None,
        compression: None,
    }
}

#[test]
fn library_streams_a_bundle_from_the_builder_and_yields_typed_events() {
    let token = good_token();
    let server = server_with_token(&token, Answer::Stream(successful_highstate(&["m1"])));
    let dir = project();
    let client = client(&server, &token);
    let (stats, events) = client
        .upload(&web_prod(true), |upload| {
            let mut builder = spiro_bundle::Builder::new(upload);
            builder.add_saltdir(&dir.path().join("_salt"))?;
            let stats = builder.stats();
            builder.finish()?;
            Ok::<_, spiro_bundle::Error>(stats)
        })
        .unwrap();
    assert_eq!(stats.files, 2);
    let events: Vec<Event> = events.collect::<Result<_, _>>().unwrap();
    let names: Vec<&str> = events.iter().map(Event::name).collect();
    assert_eq!(
        names,
        [
            "deploy-bundle",
            "highstate-calc",
            "highstate-start",
            "highstate-update",
            "highstate-finish"
        ]
    );
    let Event::HighstateUpdate(update) = &events[3] else {
        panic!()
    };
    assert_eq!(update.minion, "m1");
    assert!(update.result.is_success());
    assert!(matches!(update.result, MinionResult::Returned(_)));
    assert_eq!(server.last_deploy().members, ["app/init.sls", "top.sls"]);
    // With no length announced, the bundle streams chunked as it is built.
    assert_eq!(
        server.last_deploy().header("transfer-encoding"),
        Some("chunked")
    );
}

#[test]
fn library_refuses_a_bundle_that_differs_from_its_announced_length() {
    let token = good_token();
    let dir = project();
    let write_bundle = |upload: &mut spiro_client::Upload| {
        let mut builder = spiro_bundle::Builder::new(upload);
        builder.add_saltdir(&dir.path().join("_salt"))?;
        builder.finish().map(drop)
    };
    let mut counting = spiro_bundle::Builder::counting();
    counting.add_saltdir(&dir.path().join("_salt")).unwrap();
    let exact = counting.finish().unwrap().bytes();

    for (announced, short) in [(exact + 512, true), (exact - 512, false)] {
        let server = server_with_token(&token, Answer::Stream(successful_highstate(&["m1"])));
        let deploy = Deploy {
            bundle_len: Some(announced),
            compression: None,
            ..web_prod(true)
        };
        let err = client(&server, &token)
            .upload(&deploy, write_bundle)
            .unwrap_err();
        let text = match err {
            // Too short: noticed when the bundle ends.
            UploadError::Deploy(e) => {
                assert!(short, "{e}");
                assert!(
                    matches!(e, spiro_client::Error::BundleLength { .. }),
                    "{e:?}"
                );
                e.to_string()
            }
            // Too long: the write that overshoots fails.
            UploadError::Bundle(e) => {
                assert!(!short, "{e}");
                std::error::Error::source(&e)
                    .map(ToString::to_string)
                    .unwrap_or_default()
            }
        };
        assert!(
            text.contains(&format!("not the {announced} announced")),
            "{text}"
        );
        assert!(
            accepted_deploys(&server).is_empty(),
            "nothing may be deployed"
        );
    }

    // The exact length goes out as Content-Length, not chunked.
    let server = server_with_token(&token, Answer::Stream(successful_highstate(&["m1"])));
    let deploy = Deploy {
        bundle_len: Some(exact),
        compression: None,
        ..web_prod(true)
    };
    client(&server, &token)
        .upload(&deploy, write_bundle)
        .unwrap();
    let got = server.last_deploy();
    assert_eq!(got.header("transfer-encoding"), None);
    assert_eq!(got.bundle_size, exact);
}

/// What `spiro-deploy` hands its builder's buffers to: the upload, through `TakeBuffers`.
struct Handing<'u>(&'u mut spiro_client::Upload);

impl std::io::Write for Handing<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.write(data)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl spiro_bundle::TakeBuffers for Handing<'_> {
    fn take_buffer(&mut self, full: Vec<u8>) -> std::io::Result<Vec<u8>> {
        self.0.take_buffer(full)
    }
}

/// Buffers handed to the upload whole arrive as the bytes `Builder::new` writes: with a
/// length announced or not, gzipped or not; and an announced length is still enforced.
#[test]
fn library_upload_takes_whole_buffers_and_sends_the_same_bundle() {
    let token = good_token();
    let dir = project();
    // Sizes across the builder's and the upload's 256 KiB buffers.
    for (i, size) in [0usize, 1, 262_143, 262_144, 262_145, 1_000_003]
        .into_iter()
        .enumerate()
    {
        let data: Vec<u8> = (0..size).map(|b| (b * 31 + i) as u8).collect();
        std::fs::write(dir.path().join(format!("art{i}.bin")), data).unwrap();
    }
    fn add<W: std::io::Write>(
        builder: &mut spiro_bundle::Builder<W>,
        dir: &Path,
    ) -> spiro_bundle::Result<()> {
        builder.add_saltdir(&dir.join("_salt"))?;
        for i in 0..6 {
            let name = spiro_scanner::EntryName::new(format!("art{i}.bin").as_str()).unwrap();
            builder.add_artifact(&dir.join(format!("art{i}.bin")), &name)?;
        }
        Ok(())
    }
    let mut reference = spiro_bundle::Builder::new(Vec::new());
    add(&mut reference, dir.path()).unwrap();
    let expected = reference.finish().unwrap();
    let handing = |upload: &mut spiro_client::Upload| {
        let mut builder = spiro_bundle::Builder::handing_buffers(Handing(upload));
        add(&mut builder, dir.path())?;
        builder.finish().map(drop)
    };
    let len = expected.len() as u64;
    for (bundle_len, compression) in [
        (Some(len), None),
        (None, None),
        (Some(len), spiro_client::Gzip::new(1)),
    ] {
        let server = server_with_token(&token, Answer::Stream(successful_highstate(&["m1"])));
        let deploy = Deploy {
            bundle_len,
            compression,
            ..web_prod(true)
        };
        client(&server, &token).upload(&deploy, handing).unwrap();
        let got = server.last_deploy();
        let mut tar = got.bundle.unwrap();
        if got.bundle_gzipped {
            let mut plain = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&tar[..]), &mut plain)
                .unwrap();
            tar = plain;
        }
        assert!(
            tar == expected,
            "{bundle_len:?}, gzip {}",
            got.bundle_gzipped
        );
    }

    let server = server_with_token(&token, Answer::Stream(successful_highstate(&["m1"])));
    let deploy = Deploy {
        bundle_len: Some(len - 512),
        ..web_prod(true)
    };
    let err = client(&server, &token)
        .upload(&deploy, handing)
        .unwrap_err();
    assert!(matches!(err, UploadError::Bundle(_)), "{err:?}");
    assert!(
        accepted_deploys(&server).is_empty(),
        "nothing may be deployed"
    );
}

#[test]
fn library_keeps_unknown_events_and_parses_crlf_multiline_comments() {
    let steps = vec![
        Step::Raw(b"\xEF\xBB\xBF: a comment\r\nevent: deploy-bundle\r\ndata: {\"msg\":\r\ndata: \"Deploying bundle\"}\r\n\r\n".to_vec()),
        Step::Raw(b"event: surprise\rdata: {\"msg\": \"hello\", \"n\": 1}\r\r".to_vec()),
        Step::Raw(b"event: highstate-finish\ndata".to_vec()),
        Step::Raw(b": {\"msg\": \"Highstate complete\"}\n\n".to_vec()),
    ];
    let server = server(Answer::Stream(steps));
    let client = client(&server, &good_token());
    let (_, events) = client
        .upload(&web_prod(true), |upload| {
            spiro_bundle::Builder::new(upload).finish().map(drop)
        })
        .unwrap();
    let events: Vec<Event> = events.collect::<Result<_, _>>().unwrap();
    assert_eq!(events[0].msg(), "Deploying bundle");
    assert_eq!(
        events[1],
        Event::Unknown {
            event: "surprise".into(),
            data: serde_json::json!({"msg": "hello", "n": 1})
        }
    );
    assert!(matches!(events[2], Event::HighstateFinish(_)));
}

#[test]
fn library_reports_a_multi_megabyte_event() {
    let states: Vec<StateSpec<'_>> = Vec::new();
    let mut result = states_result(&states);
    let mut ret = serde_json::Map::new();
    for i in 0..4000 {
        ret.insert(
            format!("file_|-f{i}_|-/srv/f{i}_|-managed"),
            serde_json::json!({"name": format!("/srv/f{i}"), "changes": {"diff": "x".repeat(1000)}, "result": true,
                "comment": "ok", "__run_num__": i, "__id__": format!("f{i}")}),
        );
    }
    result["ret"] = Value::Object(ret);
    let server = server(Answer::Stream(vec![
        deploy_bundle(),
        highstate_calc(),
        highstate_start(&["big"]),
        highstate_update("big", result),
        highstate_finish(),
    ]));
    let client = client(&server, &good_token());
    let (_, events) = client
        .upload(&web_prod(true), |upload| {
            spiro_bundle::Builder::new(upload).finish().map(drop)
        })
        .unwrap();
    let events: Vec<Event> = events.collect::<Result<_, _>>().unwrap();
    let Event::HighstateUpdate(update) = &events[3] else {
        panic!()
    };
    assert_eq!(update.result.summary().succeeded, 4000);
}

#[test]
fn library_early_401_beats_the_broken_pipe() {
    let server = server_with_token("another", Answer::Stream(vec![deploy_bundle()]));
    let client = client(&server, &good_token());
    let chunk = vec![0u8; 1 << 20];
    let result = client.upload(&web_prod(false), |upload| {
        use std::io::Write;
        for _ in 0..64 {
            upload.write_all(&chunk)?;
        }
        Ok::<_, std::io::Error>(())
    });
    match result {
        Err(UploadError::Deploy(Error::Status {
            status: 401,
            message,
            ..
        })) => assert_eq!(message, "401: Unauthorized"),
        other => panic!("expected the 401: {other:?}"),
    }
}

#[test]
fn library_a_failing_bundle_aborts_the_upload_so_nothing_is_deployed() {
    let server = server(Answer::Stream(vec![deploy_bundle()]));
    let client = client(&server, &good_token());
    let result = client.upload(&web_prod(false), |upload| {
        use std::io::Write;
        upload.write_all(&[0u8; 4096])?;
        upload.flush()?;
        Err::<(), _>(std::io::Error::other("an artifact vanished"))
    });
    match result {
        Err(UploadError::Bundle(e)) => assert_eq!(e.to_string(), "an artifact vanished"),
        other => panic!("expected the bundle error: {other:?}"),
    }
    // The server's handler for a request whose body breaks is dropped with the connection,
    // so the broken POST leaves no record of its own. A normal upload afterwards is the
    // control: the server does record deploys, and that one must be the only one accepted.
    let dir = project();
    let (_, events) = client
        .upload(&web_prod(false), |upload| {
            let mut builder = spiro_bundle::Builder::new(upload);
            builder.add_saltdir(&dir.path().join("_salt"))?;
            builder.finish().map(drop)
        })
        .unwrap();
    events.for_each(drop);
    let accepted = accepted_deploys(&server);
    assert_eq!(
        accepted.len(),
        1,
        "only the control upload may be accepted: {accepted:?}"
    );
    assert_eq!(accepted[0].members, ["app/init.sls", "top.sls"]);
}

#[test]
fn library_not_a_tar_is_a_400() {
    let server = server(Answer::Stream(vec![deploy_bundle()]));
    let client = client(&server, &good_token());
    let result = client.upload(&web_prod(false), |upload| {
        use std::io::Write;
        upload.write_all(b"this is not a tar")
    });
    assert!(
        matches!(
            result,
            Err(UploadError::Deploy(Error::Status { status: 400, .. }))
        ),
        "{result:?}"
    );
    assert_eq!(server.last_deploy().status, 400);
}

#[test]
fn library_check_and_debug_never_show_the_token() {
    let token = good_token();
    let server = server_with_token(&token, Answer::Stream(vec![]));
    let client = client(&server, &token);
    client.check().unwrap();
    assert!(!format!("{client:?}").contains(&token[..16]));
    let upload = client.start(&web_prod(false)).unwrap();
    assert!(!format!("{upload:?}").contains(&token[..16]));
    drop(upload);
    let bad = self::client(&server, "wrong");
    let err = bad.check().unwrap_err();
    assert_eq!(err.status(), Some(401));
}

/// Peak memory of `spiro-deploy` uploading a 1 GiB bundle (a sparse artifact, so the disk is
/// not filled) stays under 32 MiB: the bundle streams from the builder into the request body.
#[test]
#[cfg(target_os = "linux")]
fn a_1_gib_bundle_streams_in_under_32_mib_of_memory() {
    let server = server(Answer::Stream(vec![deploy_bundle()]));
    let dir = project();
    let file = std::fs::File::create(dir.path().join("huge.bin")).unwrap();
    file.set_len(1 << 30).unwrap();
    drop(file);
    let token = good_token();
    let mut cmd = spiro_deploy(dir.path());
    cmd.env("SPIRO_URL", server.url())
        .env("SPIRO_TOKEN", &token)
        .args([
            "--insecure",
            "--no-highstate",
            "--artifact",
            "huge.bin",
            "web",
            "prod",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    let status = loop {
        if let Ok(status) = std::fs::read_to_string(&status_file) {
            for line in status.lines() {
                if let Some(value) = line.strip_prefix("VmHWM:") {
                    let kib: u64 = value
                        .trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse()
                        .unwrap_or(0);
                    peak_kib = peak_kib.max(kib);
                }
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = child.wait_with_output().unwrap();
    assert!(
        status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let got = server.last_deploy();
    assert!(got.bundle_size > 1 << 30);
    assert_eq!(got.tar_error, None);
    assert!(peak_kib > 0, "VmHWM was read");
    assert!(peak_kib < 32 * 1024, "peak RSS {peak_kib} KiB");
    eprintln!("peak RSS while deploying 1 GiB: {peak_kib} KiB");
}

#[test]
fn usage_errors_and_a_refused_token_come_before_the_bundle_is_built() {
    let server = server(Answer::Stream(successful_highstate(&["m1"])));
    let dir = project();
    // A missing artifact would be exit 3; the bad option is found first, so the status is 2.
    for bad in [
        &["--connect-timeout", "0"][..],
        &["--server", "ftp://127.0.0.1:1/"][..],
    ] {
        let mut args = bad.to_vec();
        args.extend(["--artifact", "missing.bin", "web", "prod"]);
        let output = deploy(&server, dir.path(), &good_token(), &args);
        assert_exit(&output, 2);
    }
    // A token the server refuses: 401, before anything is measured, built or announced.
    let output = deploy(
        &server,
        dir.path(),
        &token_for(&["web"], 3600).replace('A', "B"),
        &["--artifact", "missing.bin", "web", "prod"],
    );
    assert_exit(&output, 5);
    assert!(
        !stderr(&output).contains("uploading"),
        "{}",
        stderr(&output)
    );
    assert!(
        server.received().iter().all(|r| r.method == "GET"),
        "nothing may be posted"
    );
}

#[test]
fn a_token_a_header_cannot_carry_is_refused_before_anything_is_sent() {
    let server = server(Answer::Stream(successful_highstate(&["m1"])));
    let dir = project();
    let mangled = format!("{}\nsecond-line", good_token());
    let output = deploy(&server, dir.path(), &mangled, &["web", "prod"]);
    assert_exit(&output, 5);
    let err = stderr(&output);
    assert!(err.contains("cannot carry (a line break"), "{err}");
    assert!(err.contains("check SPIRO_TOKEN"), "{err}");
    assert!(server.received().is_empty(), "nothing may be sent");
}

#[test]
fn server_urls_are_shown_without_credentials_or_query() {
    let dir = project();
    let mut cmd = spiro_deploy(dir.path());
    cmd.env("SPIRO_URL", "https://user:PASSWD@h:1/?token=QSECRET")
        .arg("--help");
    let help = run(&mut cmd);
    assert!(!contains(&help.stdout, "PASSWD") && !contains(&help.stdout, "QSECRET"));
    let mut cmd = spiro_deploy(dir.path());
    cmd.env("SPIRO_TOKEN", good_token()).args([
        "--server",
        "https://u:PASSWD@[::1/?t=QSECRET",
        "web",
        "prod",
    ]);
    let output = run(&mut cmd);
    assert_exit(&output, 2);
    let err = stderr(&output);
    assert!(err.contains("invalid server URL"), "{err}");
    assert!(!err.contains("PASSWD") && !err.contains("QSECRET"), "{err}");
}
