//! `spiro-deploy --generate`: the man page and the shell completions, made from the clap
//! definition. Each must be non-empty and look like what its consumer expects; bash must load
//! its script, and `man` must render the page.

use std::path::Path;
use std::process::{Command, Output};

use spiro_tests::*;

spiro_tests::spiro_deploy_binary!();

/// Every `--generate` kind, with a line its output must hold to be what that consumer reads.
const KINDS: &[(&str, &str)] = &[
    ("man", ".TH spiro-deploy 1"),
    ("complete-bash", "complete -F _spiro__deploy"),
    ("complete-zsh", "#compdef spiro-deploy"),
    ("complete-fish", "complete -c spiro-deploy"),
    (
        "complete-powershell",
        "Register-ArgumentCompleter -Native -CommandName 'spiro-deploy'",
    ),
    (
        "complete-elvish",
        "set edit:completion:arg-completer[spiro-deploy]",
    ),
];

fn generate(kind: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    // The settings a CI job usually has must not get in the way, and neither may the absence
    // of PROJECT and DEPLOYMENT, which every other mode requires.
    let output = run(spiro_deploy(dir.path())
        .args(["--generate", kind])
        .env("SPIRO_URL", "https://salt.example.invalid:4510/")
        .env("SPIRO_TOKEN", "not-a-real-token"));
    assert!(output.status.success(), "--generate {kind} failed");
    assert!(
        output.stderr.is_empty(),
        "--generate {kind} wrote to standard error"
    );
    output
}

#[test]
fn every_kind_is_generated_from_the_clap_definition() {
    for (kind, marker) in KINDS {
        let output = generate(kind);
        let text = String::from_utf8(output.stdout).expect("the output is UTF-8");
        // roff writes a literal hyphen as `\-`.
        let text = text.replace(r"\-", "-");
        assert!(text.contains(marker), "--generate {kind} lacks `{marker}`");
        // Taken from the definition: every long option is there, `--generate` included.
        for option in ["include-source", "artifact", "no-highstate", "generate"] {
            assert!(
                text.contains(option),
                "--generate {kind} does not mention --{option}"
            );
        }
    }
}

#[test]
fn an_unknown_kind_is_a_usage_error_listing_the_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(spiro_deploy(dir.path()).args(["--generate", "complete-tcsh"]));
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for (kind, _) in KINDS {
        assert!(stderr.contains(kind), "the error does not offer {kind}");
    }
}

#[test]
fn bash_loads_the_completions() {
    let script = r#"source <("$0" --generate complete-bash) && complete -p spiro-deploy"#;
    let output = run(Command::new("bash")
        .args(["-c", script])
        .arg(spiro_deploy_bin()));
    assert!(
        output.status.success(),
        "bash could not load the completions"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("-F _spiro__deploy spiro-deploy"),
        "complete -p printed {stdout:?}"
    );
}

/// `man ./spiro-deploy.1`, as a user reads a page that is not installed. `man` is man-db,
/// which `.ci/run` installs when it is missing; without it (a minimal container) the test
/// falls back to groff, the formatter man-db runs, and then to mandoc, so that the page is
/// still proven to render wherever one of them exists.
#[test]
fn man_renders_the_page() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spiro-deploy.1"), generate("man").stdout).unwrap();
    let renderers: [&[&str]; 3] = [
        &["man", "--warnings", "./spiro-deploy.1"],
        &["groff", "-man", "-Tutf8", "-ww", "spiro-deploy.1"],
        &["mandoc", "-Tutf8", "spiro-deploy.1"],
    ];
    let (renderer, output) = renderers
        .iter()
        .find_map(|cmd| render_with(dir.path(), cmd).map(|out| (cmd[0], out)))
        .expect("no man page renderer: install man-db (`.ci/run` does), groff or mandoc");
    assert!(output.status.success(), "{renderer} failed");
    assert!(
        output.stderr.is_empty(),
        "{renderer} warned: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Formatted text: no roff requests left, the sections and the options all there.
    let page = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "NAME",
        "SYNOPSIS",
        "spiro-deploy",
        "--include-source",
        "--generate",
    ] {
        assert!(
            page.contains(expected),
            "the rendered page lacks {expected}"
        );
    }
    assert!(
        !page.contains(".TH"),
        "{renderer} left roff requests in the page"
    );
}

/// Runs a renderer on the page in `dir`, or `None` if it is not installed.
fn render_with(dir: &Path, cmd: &[&str]) -> Option<Output> {
    let output = Command::new(cmd[0])
        .args(&cmd[1..])
        .current_dir(dir)
        // Plain text on standard output, at a fixed width, whatever the user's settings.
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "80")
        .env_remove("MANOPT")
        .output();
    match output {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        result => Some(result.unwrap_or_else(|e| panic!("cannot run {}: {e}", cmd[0]))),
    }
}
