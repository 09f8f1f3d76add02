//! Test fixtures: real repositories built with the `git` binary.
//!
//! The scanner and `head_commit` never run git; the tests do, because the contract is "what
//! `git archive HEAD` and `git describe --all` give", and the only trustworthy oracle for that
//! is git itself. Every invocation is isolated from the machine's configuration (no system
//! config, `HOME` in the fixture's temporary directory) and deterministic (fixed names and
//! dates), so hashes and therefore outputs are the same on every run.

#![allow(dead_code)]

use std::cell::Cell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A temporary repository (or plain directory) driven through the `git` binary.
pub struct Fixture {
    pub tmp: tempfile::TempDir,
    /// The work tree (or the plain directory).
    pub root: PathBuf,
    /// Commit dates advance one minute per commit made through [`Fixture::commit`].
    tick: Cell<i64>,
}

/// The base of every fixture date: 2023-11-14T22:13:20Z.
const EPOCH: i64 = 1_700_000_000;

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
        let home = self.tmp.path().join("home");
        let mut cmd = Command::new("git");
        cmd.args(args)
            .current_dir(dir)
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .env_remove("GIT_OBJECT_DIRECTORY")
            .env_remove("GIT_CEILING_DIRECTORIES")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_ATTR_NOSYSTEM", "1")
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("LC_ALL", "C")
            .env("GIT_AUTHOR_NAME", "Ann Author")
            .env("GIT_AUTHOR_EMAIL", "ann@example.invalid")
            .env("GIT_COMMITTER_NAME", "Cid Committer")
            .env("GIT_COMMITTER_EMAIL", "cid@example.invalid")
            .env("GIT_AUTHOR_DATE", self.date())
            .env("GIT_COMMITTER_DATE", self.date());
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

    /// Asserts that `head_commit` agrees with `git rev-parse HEAD` and `git describe --all`,
    /// and returns the description.
    pub fn assert_describe_matches_git(&self) -> String {
        let ours = spiro_scanners::head_commit(&self.root)
            .expect("head_commit")
            .expect("a commit");
        assert_eq!(ours.hash, self.head(), "hash of HEAD");
        let git = self.git_describe_all();
        assert_eq!(ours.describe, git, "describe --all differs from git's");
        git
    }
}

/// One entry of an archive or a scan, comparable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    File {
        name: String,
        executable: bool,
        content: Vec<u8>,
        mtime: u64,
    },
    Symlink {
        name: String,
        target: Vec<u8>,
        mtime: u64,
    },
}

impl Item {
    pub fn name(&self) -> &str {
        match self {
            Item::File { name, .. } | Item::Symlink { name, .. } => name,
        }
    }
}

/// `git archive HEAD` run at the root of the work tree, parsed: files and symlinks in archive
/// order (directories dropped).
pub fn git_archive(fx: &Fixture) -> Vec<Item> {
    git_archive_in(fx, &fx.root)
}

/// `git archive HEAD` run with `dir` as its working directory (git then archives the tree of
/// `dir`'s path in `HEAD`, with names relative to it), parsed like [`git_archive`].
pub fn git_archive_in(fx: &Fixture, dir: &Path) -> Vec<Item> {
    let out = fx
        .command_in(dir, &["archive", "--format=tar", "HEAD"])
        .output()
        .expect("run git archive");
    assert!(
        out.status.success(),
        "git archive failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut archive = tar::Archive::new(&out.stdout[..]);
    let mut items = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let header = entry.header().clone();
        let kind = header.entry_type();
        let name = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        let mtime = header.mtime().unwrap();
        if kind.is_file() {
            let mut content = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut content).unwrap();
            items.push(Item::File {
                name,
                executable: header.mode().unwrap() & 0o111 != 0,
                content,
                mtime,
            });
        } else if kind.is_symlink() {
            let target = entry.link_name_bytes().unwrap().into_owned();
            items.push(Item::Symlink {
                name,
                target,
                mtime,
            });
        }
    }
    items
}

/// Everything a scanner yields, with file contents read through the openers.
pub fn scan_items(scanner: &dyn spiro_scanner::Scanner) -> Vec<Item> {
    let mut items = Vec::new();
    for entry in scanner.scan(&|_| false).expect("scan") {
        items.push(item_of(entry.expect("entry")));
    }
    items
}

pub fn item_of(entry: spiro_scanner::Entry<'_>) -> Item {
    let (name, kind, mtime) = entry.into_parts();
    let name = String::from_utf8(name.as_bytes().to_vec()).unwrap();
    match kind {
        spiro_scanner::EntryKind::File {
            size,
            executable,
            open,
        } => {
            let mut content = Vec::new();
            open().expect("open").read_to_end(&mut content).unwrap();
            assert_eq!(content.len() as u64, size, "announced size of {name}");
            Item::File {
                name,
                executable,
                content,
                mtime,
            }
        }
        spiro_scanner::EntryKind::Symlink { target } => Item::Symlink {
            name,
            target,
            mtime,
        },
    }
}

use std::io::Read as _;
