//! Support for spiro-deploy's integration tests (the files beside this crate, `tests/*.rs`).
//!
//! The integration tests are test targets of the `spiro-deploy` package (see `cli/Cargo.toml`),
//! so that cargo builds the binary they run; this crate holds what they share: finding that
//! binary, running it with no `git` on its `PATH`, making git repositories, and reading tars.

#![forbid(unsafe_code)]

pub mod git;
pub mod git_extras;
pub mod server;

use std::ffi::OsStr;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output};

/// Declares `spiro_deploy_bin()` and `spiro_deploy(dir)` in an integration test of the
/// `spiro-deploy` package, for the binary cargo built for this run:
/// `env!("CARGO_BIN_EXE_spiro-deploy")` expands only inside such a test, so it cannot be a
/// function of this crate. The two local functions shadow anything a `use spiro_tests::*`
/// brings in. Invoke it once at the top of each `tests/*.rs` that runs the binary:
///
/// ```ignore
/// spiro_tests::spiro_deploy_binary!();
/// ```
#[macro_export]
macro_rules! spiro_deploy_binary {
    () => {
        /// The `spiro-deploy` binary cargo built for this test run.
        #[allow(dead_code)]
        fn spiro_deploy_bin() -> ::std::path::PathBuf {
            ::std::path::PathBuf::from(env!("CARGO_BIN_EXE_spiro-deploy"))
        }

        /// `spiro-deploy` run in `dir`; see [`spiro_tests::spiro_deploy_command`].
        #[allow(dead_code)]
        fn spiro_deploy(dir: &::std::path::Path) -> ::std::process::Command {
            $crate::spiro_deploy_command(spiro_deploy_bin(), dir)
        }
    };
}

/// `bin` (the `spiro-deploy` under test) as a command run in `dir` with a `PATH` that holds no
/// `git`, so that a test proves the tool never runs the git binary, and with no inherited
/// SpiroFS settings.
pub fn spiro_deploy_command(bin: impl AsRef<OsStr>, dir: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.current_dir(dir)
        .env("PATH", empty_dir())
        .env_remove("SPIRO_URL")
        .env_remove("SPIRO_TOKEN")
        .env_remove("SPIRO_TOKEN_FILE")
        .env_remove("SPIRO_SSL_CERT")
        .env_remove("SPIRO_PLUGIN_PATH")
        .env_remove("SOURCE_DATE_EPOCH")
        // Run in a CI job, spiro-deploy adds that CI server's markup (issue 12): the tests
        // ask for it where they check it, and see the plain form everywhere else.
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("GITLAB_CI")
        // The test servers are on 127.0.0.1: a proxy from the environment must not stand between.
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .env("NO_COLOR", "1");
    cmd
}

fn empty_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"))
        .path()
}

/// Runs `cmd` and returns its output, with stdout and stderr shown if the test fails later.
pub fn run(cmd: &mut Command) -> Output {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    eprintln!(
        "$ {cmd:?}\nstatus: {}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The output's standard output, as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The output's standard error, as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the exit status, showing both outputs when it is not `code`.
#[track_caller]
pub fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(output),
        stderr(output)
    );
}

/// Runs the real `git` in `dir` (its own `HOME`) with a fixed identity and date, for fixtures
/// only: tests need repositories exactly as git makes them and git itself as the oracle. The
/// tool under test never runs git. See [`git::command`] and, for richer histories,
/// [`git::Fixture`].
pub fn git(dir: &Path, args: &[&str]) -> String {
    let date = format!("@{} +0000", git::EPOCH);
    let output = git::command(dir, dir, &date)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("the tests need the git binary to make fixture repositories: {e}")
        });
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("git printed UTF-8")
}

/// `git init` with `main` as the initial branch.
pub fn git_init(dir: &Path) {
    git(dir, &["init", "-q", "-b", "main"]);
}

/// `git add -A && git commit -m message`.
pub fn git_commit_all(dir: &Path, message: &str) {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", message]);
}

/// One member of a tar, as the tests compare it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The full name (long names resolved).
    pub name: String,
    /// `'0'` file, `'2'` symlink, `'5'` directory…
    pub kind: char,
    /// Permission bits.
    pub mode: u32,
    /// File content (empty for links).
    pub content: Vec<u8>,
    /// Symlink target.
    pub link: Option<String>,
    /// Modification time.
    pub mtime: u64,
    /// `(uid, gid, user name, group name)`.
    pub owner: (u64, u64, String, String),
}

/// Reads every member of an uncompressed tar.
pub fn read_tar(bytes: &[u8]) -> Vec<Member> {
    let mut archive = tar::Archive::new(bytes);
    let mut members = Vec::new();
    for entry in archive.entries().expect("a tar") {
        let mut entry = entry.expect("a tar member");
        let header = entry.header().clone();
        let name = entry
            .path()
            .expect("a member name")
            .to_string_lossy()
            .into_owned();
        let link = entry
            .link_name()
            .expect("a link name")
            .map(|l| l.to_string_lossy().into_owned());
        let mut content = Vec::new();
        entry.read_to_end(&mut content).expect("member content");
        let text = |b: Option<&[u8]>| {
            b.map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        };
        members.push(Member {
            name,
            kind: header.entry_type().as_byte() as char,
            mode: header.mode().expect("a mode") & 0o7777,
            content,
            link,
            mtime: header.mtime().expect("an mtime"),
            owner: (
                header.uid().expect("a uid"),
                header.gid().expect("a gid"),
                text(header.username_bytes()),
                text(header.groupname_bytes()),
            ),
        });
    }
    members
}

/// The names of a tar's members, in order.
pub fn names(members: &[Member]) -> Vec<&str> {
    members.iter().map(|m| m.name.as_str()).collect()
}

/// Finds a member by name, failing the test with the list of names when it is absent.
pub fn member<'m>(members: &'m [Member], name: &str) -> &'m Member {
    members
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no member `{name}` in {:?}", names(members)))
}

/// Writes `content` to `root/path`, creating parent directories.
pub fn write(root: &Path, path: impl AsRef<Path>, content: impl AsRef<[u8]>) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("create parent directories");
    std::fs::write(&path, content)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// Marks `root/path` executable.
#[cfg(unix)]
pub fn make_executable(root: &Path, path: impl AsRef<Path>) {
    use std::os::unix::fs::PermissionsExt;
    let path = root.join(path);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Whether a string contains `needle` (for readable assertions on process output).
pub fn contains(haystack: &[u8], needle: impl AsRef<OsStr>) -> bool {
    let needle = needle.as_ref().to_string_lossy();
    String::from_utf8_lossy(haystack).contains(needle.as_ref())
}

/// An error and its causes on one line, `: `-separated, as a plugin reports them: the causes
/// are [`spiro_scanner::error_chain`]'s, a cause that repeats the one before it said once.
pub fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut texts: Vec<String> = Vec::new();
    for cause in spiro_scanner::error_chain(error) {
        let text = cause.to_string();
        if texts.last() != Some(&text) {
            texts.push(text);
        }
    }
    texts.join(": ")
}
