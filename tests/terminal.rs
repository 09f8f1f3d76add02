//! Text from a server, its minions or a project's file names never reaches a terminal raw
//! (issue 10, finding 1): control characters are shown as `\u{1b}`, never obeyed, with colours
//! forced on or off alike; `--format json` stays valid JSON.

use std::process::Output;

use serde_json::{Value, json};
use spiro_tests::server::project_token;
use spiro_tests::server::*;
use spiro_tests::*;

spiro_tests::spiro_deploy_binary!();

/// Terminal attacks: set the window title (OSC 0), write the clipboard (OSC 52), erase the
/// line (CSI 2K), a C1 CSI (U+009B) that colours green, a DEL and a carriage return.
const HOSTILE: &str =
    "x\u{1b}]0;title\u{7}\u{1b}]52;c;cm0gLXJmIH4=\u{7}\u{1b}[2K\u{9b}32mResult: True\u{7f}\rend";
/// How [`HOSTILE`] is shown.
const SHOWN: &str = r"x\u{1b}]0;title\u{7}\u{1b}]52;c;cm0gLXJmIH4=\u{7}\u{1b}[2K\u{9b}32mResult: True\u{7f}\u{d}end";

fn token() -> String {
    project_token("identifier", &["web"], 3600)
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "_salt/top.sls", "base:\n  '*':\n    - app\n");
    dir
}

/// The output with spiro-deploy's own colours (SGR sequences) taken out.
fn without_own_colours(bytes: &[u8]) -> String {
    let text = String::from_utf8(bytes.to_vec()).expect("output is UTF-8");
    let mut plain = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("\u{1b}[") {
        plain.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let end = after.find(|c: char| !c.is_ascii_digit() && c != ';');
        match end {
            Some(end) if after[end..].starts_with('m') => rest = &after[end + 1..],
            // Not a colour: keep it, for the assertion to find.
            _ => {
                plain.push_str("\u{1b}[");
                rest = after;
            }
        }
    }
    plain.push_str(rest);
    plain
}

#[track_caller]
fn assert_no_raw_controls(name: &str, text: &str) {
    let raw: Vec<char> = text
        .chars()
        .filter(|&c| c.is_control() && c != '\n' && c != '\t')
        .collect();
    assert!(
        raw.is_empty(),
        "raw control characters {raw:?} on {name}:\n{text}"
    );
}

fn hostile_deploy(colour: bool, args: &[&str]) -> Output {
    let state = json!({
        "name": HOSTILE, "result": true, "comment": [HOSTILE, "second"],
        "changes": {HOSTILE: {"old": HOSTILE, "new": format!("{HOSTILE}\n{HOSTILE}")}},
        "__run_num__": 0, "__id__": HOSTILE, "start_time": HOSTILE, "duration": 1.5,
    });
    let minion = format!("web{HOSTILE}");
    let steps = vec![
        Step::Event("deploy-bundle".into(), json!({"msg": HOSTILE})),
        Step::Event(format!("surprise{HOSTILE}"), json!({"msg": HOSTILE})),
        Step::Raw(format!("event: surprise\ndata: not json {HOSTILE}\n\n").into_bytes()),
        Step::Event(
            "highstate-start".into(),
            json!({"msg": HOSTILE, "minions": [minion, HOSTILE]}),
        ),
        Step::Event(
            "highstate-update".into(),
            json!({"minion": minion, "result": {"ret": {format!("file_|-{HOSTILE}_|-n{HOSTILE}_|-managed"): state}, "retcode": 0}}),
        ),
        Step::Event(
            "highstate-update".into(),
            json!({"minion": HOSTILE, "result": {"ret": [HOSTILE], "retcode": 1}}),
        ),
        Step::Event("exception".into(), json!({"msg": HOSTILE})),
    ];
    let token = token();
    let server = TestServer::start(Config::new(&token, Answer::Stream(steps)));
    let dir = project();
    let mut cmd = spiro_deploy(dir.path());
    cmd.env("SPIRO_URL", server.url())
        .env("SPIRO_TOKEN", &token)
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE");
    match colour {
        true => cmd.env("CLICOLOR_FORCE", "1"),
        false => cmd.env("NO_COLOR", "1"),
    };
    run(cmd.arg("--insecure").args(args).args(["web", "prod"]))
}

#[test]
fn server_text_is_shown_not_obeyed_in_colour_and_without() {
    for colour in [true, false] {
        let output = hostile_deploy(colour, &[]);
        assert_eq!(output.status.code(), Some(6), "{output:?}");
        let stdout = without_own_colours(&output.stdout);
        let stderr = without_own_colours(&output.stderr);
        assert_no_raw_controls("stdout", &stdout);
        assert_no_raw_controls("stderr", &stderr);
        for shown in [
            format!("» {SHOWN}\n"),
            format!("web{SHOWN}:\n"),
            format!("          ID: {SHOWN}\n"),
            // Salt shows the name from the state's key (issue 12), where it differs from the ID.
            format!("        Name: n{SHOWN}\n"),
            format!("     Comment: {SHOWN}\n              second\n"),
            format!("exception: {SHOWN}\n"),
        ] {
            assert!(stdout.contains(&shown), "{shown:?} in:\n{stdout}");
        }
        assert!(
            stderr.contains(&format!("the server failed during the deploy: {SHOWN}")),
            "{stderr}"
        );
    }
}

#[test]
fn json_lines_stay_valid_json_with_no_raw_controls() {
    let output = hostile_deploy(true, &["--format", "json"]);
    assert_eq!(output.status.code(), Some(6), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_no_raw_controls("stdout", &stdout);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect();
    // The server's strings come through whole: escaped, not changed.
    assert_eq!(lines[0]["data"]["msg"], HOSTILE);
    // (An SSE event name ends at the `\r`: the protocol's line end.)
    let name = lines[1]["event"].as_str().unwrap();
    assert!(name.starts_with("surprisex\u{1b}]0;title\u{7}"), "{name:?}");
    assert_eq!(lines[4]["data"]["minion"], format!("web{HOSTILE}"));
}

#[test]
fn list_shows_file_names_with_controls_visible() {
    let dir = project();
    write(
        dir.path(),
        "_salt/evil\u{1b}]0;title\u{7}\u{9b}2K.sls",
        "x: y\n",
    );
    let output = run(spiro_deploy(dir.path()).args(["--list", "web", "prod"]));
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_no_raw_controls("stdout", &stdout);
    assert!(
        stdout.contains("evil\\u{1b}]0;title\\u{7}\\u{9b}2K.sls\n"),
        "{stdout}"
    );
}
