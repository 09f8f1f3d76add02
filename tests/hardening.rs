//! The command line's part of the hardening audit (issue 10): what `spiro-deploy` refuses or
//! does carefully with `--output`, `--server`, `--insecure`, the token and a missing `_salt`.

use std::path::Path;
use std::process::{Command, Output};

use spiro_tests::*;

/// `spiro-deploy` in `dir` with no token file inherited either.
fn cli(dir: &Path) -> Command {
    let mut cmd = spiro_deploy(dir);
    cmd.env_remove("SPIRO_TOKEN_FILE");
    cmd
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A usage error: exit status 2.
fn assert_usage_error(output: &Output) {
    assert_eq!(output.status.code(), Some(2), "{}", stderr(output));
}

// Finding 10: --insecure silently won over --ssl-cert.

#[test]
fn insecure_conflicts_with_ssl_cert() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ca.pem", "not read");
    let output = run(cli(dir.path()).args(["--insecure", "--ssl-cert", "ca.pem", "--check"]));
    assert_usage_error(&output);
    let text = stderr(&output);
    assert!(
        text.contains("--insecure") && text.contains("--ssl-cert"),
        "{text}"
    );
}

// Finding 9: credentials in --server were sent as Basic auth beside the token, and with a `#`
// in the password an error printed its first part.

#[test]
fn server_url_with_user_info_is_a_usage_error_that_shows_none_of_it() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "_salt/top.sls", "base: {}\n");
    for (url, secrets) in [
        (
            "https://alice:hunter2@127.0.0.1:9/",
            &["alice", "hunter2"][..],
        ),
        (
            "https://alice:hun#ter2@127.0.0.1:9/",
            &["alice", "hun", "ter2"][..],
        ),
        ("https://alice@127.0.0.1:9/", &["alice"][..]),
    ] {
        for how in ["flag", "env"] {
            let mut cmd = cli(dir.path());
            cmd.env("SPIRO_TOKEN", "not-a-macaroon");
            match how {
                "flag" => cmd.args(["--server", url]),
                _ => cmd.env("SPIRO_URL", url),
            };
            let output = run(cmd.args(["web", "prod"]));
            assert_usage_error(&output);
            let text = format!(
                "{}{}",
                stderr(&output),
                String::from_utf8_lossy(&output.stdout)
            );
            assert!(text.contains("user info"), "{text}");
            for secret in secrets {
                assert!(!text.contains(secret), "{secret:?} shown for {url}: {text}");
            }
        }
    }
}
