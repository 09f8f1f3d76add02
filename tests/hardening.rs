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

// Finding 0: --output replaced whatever it named with a regular file: /dev/null as root, a
// FIFO (its reader then waited forever), /dev/stdout (nothing was printed).

fn salt_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "_salt/top.sls", "base:\n  '*':\n    - app\n");
    write(dir.path(), "_salt/app/init.sls", "app: pkg.installed\n");
    dir
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Bundles `project` to `--output target` while a thread reads `fifo`; returns what it read.
fn bundle_through_fifo(project: &Path, target: &Path, fifo: &Path) -> Vec<u8> {
    let fifo = fifo.to_owned();
    let reader = std::thread::spawn(move || std::fs::read(fifo).unwrap());
    let output = run(cli(project).arg("--output").arg(target).args(["p", "d"]));
    assert!(output.status.success(), "{}", stderr(&output));
    reader.join().unwrap()
}

fn assert_is_bundle(bytes: &[u8]) {
    let members = read_tar(bytes);
    let names = names(&members);
    assert!(names.contains(&"top.sls"), "{names:?}");
}

#[test]
fn output_onto_a_fifo_writes_into_it() {
    use std::os::unix::fs::FileTypeExt;
    let project = salt_project();
    let out = tempfile::tempdir().unwrap();
    let fifo = out.path().join("bundle.fifo");
    mkfifo(&fifo);
    assert_is_bundle(&bundle_through_fifo(project.path(), &fifo, &fifo));
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 1);
}

#[test]
fn output_onto_a_link_to_a_fifo_writes_into_the_fifo() {
    use std::os::unix::fs::FileTypeExt;
    let project = salt_project();
    let out = tempfile::tempdir().unwrap();
    let fifo = out.path().join("bundle.fifo");
    let link = out.path().join("link");
    mkfifo(&fifo);
    std::os::unix::fs::symlink(&fifo, &link).unwrap();
    assert_is_bundle(&bundle_through_fifo(project.path(), &link, &fifo));
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 2);
}

/// As root, on a null device the test makes in its own directory (never the real /dev/null).
#[test]
fn output_onto_a_device_writes_into_it() {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    if !is_root() {
        eprintln!("note: skipped: only root can make a device node");
        return;
    }
    let project = salt_project();
    let out = tempfile::tempdir().unwrap();
    let null = out.path().join("null");
    let status = Command::new("mknod")
        .arg(&null)
        .args(["c", "1", "3"])
        .status()
        .unwrap();
    assert!(status.success());
    let rdev = std::fs::metadata(&null).unwrap().rdev();
    let output = run(cli(project.path())
        .arg("--output")
        .arg(&null)
        .args(["p", "d"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let meta = std::fs::symlink_metadata(&null).unwrap();
    assert!(meta.file_type().is_char_device(), "{meta:?}");
    assert_eq!(meta.rdev(), rdev);
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 1);
}

#[test]
fn output_to_stdout_by_its_device_names() {
    let project = salt_project();
    let out = tempfile::tempdir().unwrap();
    let link = out.path().join("to-stdout");
    std::os::unix::fs::symlink("/dev/stdout", &link).unwrap();
    for target in [
        Path::new("/dev/stdout"),
        Path::new("/proc/self/fd/1"),
        &link,
    ] {
        let output = run(cli(project.path())
            .arg("--output")
            .arg(target)
            .args(["p", "d"]));
        assert!(output.status.success(), "{}", stderr(&output));
        assert_is_bundle(&output.stdout);
    }
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
}

#[test]
fn output_through_a_link_to_a_regular_file_replaces_the_file() {
    let project = salt_project();
    let out = tempfile::tempdir().unwrap();
    write(out.path(), "real.tar", "old");
    let link = out.path().join("link.tar");
    std::os::unix::fs::symlink("real.tar", &link).unwrap();
    let output = run(cli(project.path())
        .arg("--output")
        .arg(&link)
        .args(["p", "d"]));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_is_bundle(&std::fs::read(out.path().join("real.tar")).unwrap());
}
