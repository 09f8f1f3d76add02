//! What the scanner tests share beyond the workspace's git fixture (`spiro_tests::git`):
//! entries and archives made comparable, and `head_commit` checked against git.

#![allow(dead_code)]

use std::path::Path;

pub use spiro_tests::git::Fixture;

/// Checks a fixture's `HEAD` against what spiro-scanners reads of it.
pub trait DescribeCheck {
    /// Asserts that `head_commit` agrees with `git rev-parse HEAD` and `git describe --all`,
    /// and returns the description.
    fn assert_describe_matches_git(&self) -> String;
}

impl DescribeCheck for Fixture {
    /// Asserts that `head_commit` agrees with `git rev-parse HEAD` and `git describe --all`,
    /// and returns the description.
    fn assert_describe_matches_git(&self) -> String {
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
    let mut items = Vec::new();
    for member in spiro_tests::read_tar(&out.stdout) {
        let (name, mtime) = (member.name, member.mtime);
        match member.kind {
            '0' => items.push(Item::File {
                name,
                executable: member.mode & 0o111 != 0,
                content: member.content,
                mtime,
            }),
            '2' => items.push(Item::Symlink {
                name,
                target: member.link.expect("a symlink's target").into_bytes(),
                mtime,
            }),
            // git archive's pax header and directories are not entries.
            _ => {}
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
