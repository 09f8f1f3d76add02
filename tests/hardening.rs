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
