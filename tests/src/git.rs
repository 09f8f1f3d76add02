//! Git repositories for tests, made with the real `git` binary: the one fixture helper set of
//! the workspace's tests.
//!
//! The tool never runs git; the tests do, because the contract is "what `git archive HEAD`
//! and `git describe --all` give", and the only trustworthy oracle for that is git itself.
//! Every invocation is isolated from the machine's configuration (no system config, `HOME` in
//! a temporary directory) and deterministic (fixed names and dates), so hashes and therefore
//! outputs are the same on every run.

use std::cell::Cell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A temporary repository (or plain directory) driven through the `git` binary.
pub struct Fixture {
    /// The temporary directory holding the work tree and `HOME`.
    pub tmp: tempfile::TempDir,
    /// The work tree (or the plain directory).
    pub root: PathBuf,
    /// Commit dates advance one minute per commit made through [`Fixture::commit`].
    tick: Cell<i64>,
}

/// The base of every fixture date: 2023-11-14T22:13:20Z.
pub const EPOCH: i64 = 1_700_000_000;

fn check_git() {
    let ok = Command::new("git")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the `git` binary is needed to build the test fixtures of spiro-scanners (it is the \
         oracle for `git archive` and `git describe`); install git (CI does)"
    );
}

impl Fixture {
    /// An empty directory that is not a repository.
    pub fn plain() -> Fixture {
        check_git();
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("work");
        std::fs::create_dir(&root).unwrap();
        std::fs::create_dir(tmp.path().join("home")).unwrap();
        Fixture {
            tmp,
            root,
            tick: Cell::new(0),
        }
    }

    /// A fresh repository on branch `main`, without commits.
    pub fn init() -> Fixture {
        let fx = Fixture::plain();
        fx.git(&["init", "-q", "-b", "main", "."]);
        fx
    }

    /// The current commit date, as `git` wants it.
    pub fn date(&self) -> String {
        format!("@{} +0000", EPOCH + 60 * self.tick.get())
    }

    /// Sets the date counter (one tick is a minute): for histories with equal dates.
    pub fn set_tick(&self, tick: i64) {
        self.tick.set(tick);
    }

    pub fn command(&self, args: &[&str]) -> Command {
        self.command_in(&self.root, args)
    }

    pub fn command_in(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = command(dir, &self.tmp.path().join("home"), &self.date());
        cmd.args(args);
        cmd
    }

    /// Runs git and returns its output, failing the test when git fails.
    pub fn git(&self, args: &[&str]) -> String {
        self.git_in(&self.root, args)
    }

    pub fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.command_in(dir, args).output().expect("run git");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Runs git and returns its raw output, whether it succeeded or not.
    pub fn try_git(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run git")
    }

    /// Runs git with `input` on its standard input.
    pub fn git_stdin(&self, args: &[&str], input: &[u8]) -> String {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run git");
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Writes a file in the work tree, creating directories.
    pub fn write(&self, path: &str, content: impl AsRef<[u8]>) {
        let full = self.root.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }

    /// `git add -A && git commit`, one tick later than the previous commit; returns the hash.
    pub fn commit(&self, message: &str) -> String {
        self.tick.set(self.tick.get() + 1);
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.head()
    }

    /// Commits the index as it is (no `git add`), one tick later; returns the hash.
    pub fn commit_index(&self, message: &str) -> String {
        self.tick.set(self.tick.get() + 1);
        self.git(&["commit", "-q", "-m", message]);
        self.head()
    }

    /// An empty commit at the current tick (no advance): for equal-date histories.
    pub fn commit_same_date(&self, message: &str) -> String {
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.head()
    }

    /// The index of the repository's one pack (after `git repack -ad` or `git gc`).
    pub fn pack_index(&self) -> PathBuf {
        std::fs::read_dir(self.root.join(".git/objects/pack"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "idx"))
            .expect("a packed repository")
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"]).trim().to_owned()
    }

    /// An annotated tag at the current HEAD, dated one tick later.
    pub fn annotated_tag(&self, name: &str) {
        self.tick.set(self.tick.get() + 1);
        self.git(&["tag", "-a", "-m", name, name]);
    }

    /// What `git describe --all` prints, without the newline; empty when git fails (it prints
    /// nothing on stdout then).
    pub fn git_describe_all(&self) -> String {
        let out = self.try_git(&["describe", "--all"]);
        if !out.status.success() {
            assert!(out.stdout.is_empty());
            return String::new();
        }
        let text = String::from_utf8(out.stdout).unwrap();
        text.strip_suffix('\n').unwrap_or(&text).to_owned()
    }
}

/// A `git` command in `dir`, isolated from the machine's configuration (`HOME` is `home`) and
/// deterministic (fixed identities, the commit date `date`).
pub fn command(dir: &Path, home: &Path, date: &str) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_OBJECT_DIRECTORY")
        .env_remove("GIT_CEILING_DIRECTORIES")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_ATTR_NOSYSTEM", "1")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("LC_ALL", "C")
        .env("GIT_AUTHOR_NAME", "Ann Author")
        .env("GIT_AUTHOR_EMAIL", "ann@example.invalid")
        .env("GIT_COMMITTER_NAME", "Cid Committer")
        .env("GIT_COMMITTER_EMAIL", "cid@example.invalid")
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_DATE", date);
    cmd
}
