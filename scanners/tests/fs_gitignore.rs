//! The `fs` scanner's `gitignore` option: git's ignore rules on real trees made here (no git
//! binary: a `.git` directory with an `info/exclude` is all a work tree needs to be found).
//!
//! The global excludes file is read from the user's configuration, which a test cannot change
//! for its own process without racing the others; `tests/fs_options.rs` covers it through the
//! CLI with `HOME` and `XDG_CONFIG_HOME` set for the child.

use std::path::Path;

use spiro_scanner::{Candidate, Error, Scanner};
use spiro_scanners::FsScanner;

fn write(root: &Path, path: &str, content: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// What git leaves in the index for itself is never bundled (the builder's policy does this
/// for a real build).
fn not_git_metadata(candidate: &Candidate<'_>) -> bool {
    candidate.path.starts_with(".git")
}

fn names(scanner: &FsScanner) -> Vec<String> {
    scanner
        .scan(&not_git_metadata)
        .unwrap()
        .map(|entry| entry.unwrap().name().to_string())
        .collect()
}

fn scan_error(scanner: &FsScanner) -> Error {
    match scanner.scan(&not_git_metadata) {
        Err(err) => err,
        Ok(entries) => entries
            .filter_map(Result::err)
            .next()
            .expect("an error from the scan"),
    }
}

/// A work tree with `.gitignore` files at three depths, negations, a directory-only pattern,
/// an anchored pattern and `info/exclude`.
fn work_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join(".git/info")).unwrap();
    write(root, ".git/info/exclude", "# local only\nsecret.txt\n");
    write(
        root,
        ".gitignore",
        "*.log\n!keep.log\n/top-only.txt\nbuild/\ncache\n",
    );
    write(root, "a/.gitignore", "*.tmp\n!important.log\n");
    write(root, "a/b/.gitignore", "!again.tmp\nlocal.txt\n");
    for file in [
        "main.c",
        "debug.log",
        "keep.log",
        "top-only.txt",
        "secret.txt",
        "build/out.o",
        "cache",
        "a/top-only.txt",
        "a/x.tmp",
        "a/important.log",
        "a/other.log",
        "a/secret.txt",
        "a/build",
        "a/b/again.tmp",
        "a/b/other.tmp",
        "a/b/local.txt",
        "a/b/deep.c",
        "c/local.txt",
        "c/cache/file",
    ] {
        write(root, file, "x");
    }
    dir
}

#[test]
fn gitignore_files_at_every_depth_and_info_exclude_apply_with_git_precedence() {
    let dir = work_tree();
    let scanned = names(&FsScanner::new(dir.path()).gitignore(true));
    assert_eq!(
        scanned,
        [
            ".gitignore",
            "a/.gitignore",
            // `build/` is for directories only: a file called `build` stays.
            "a/b/.gitignore",
            "a/b/again.tmp",
            "a/b/deep.c",
            "a/build",
            "a/important.log",
            // `/top-only.txt` is anchored to the root's .gitignore.
            "a/top-only.txt",
            "c/local.txt",
            "keep.log",
            "main.c",
        ],
        "a/b re-includes again.tmp, a re-includes important.log, the root re-includes \
         keep.log; `cache` leaves out a file and a directory; info/exclude leaves out \
         secret.txt at any depth; a/b's local.txt does not reach c/"
    );
}

#[test]
fn without_the_option_nothing_git_ignores_is_left_out() {
    let dir = work_tree();
    let scanned = names(&FsScanner::new(dir.path()));
    assert_eq!(scanned.len(), 19 + 3, "{scanned:?}");
    assert!(scanned.contains(&"build/out.o".to_owned()));
    assert_eq!(names(&FsScanner::new(dir.path()).gitignore(false)), scanned);
}

#[test]
fn a_directory_git_ignores_cannot_be_re_included_below_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, ".gitignore", "out/\n!out/keep.txt\n");
    write(root, "out/keep.txt", "x");
    write(root, "out/sub/.gitignore", "!*\n");
    write(root, "out/sub/f", "x");
    write(root, "in.txt", "x");
    assert_eq!(
        names(&FsScanner::new(root).gitignore(true)),
        [".gitignore", "in.txt"]
    );
}

#[test]
fn spiroignore_and_gitignore_each_leave_out_what_they_match() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, ".spiroignore", "*.secret\n!git-only.log\n");
    write(root, ".gitignore", "*.log\n");
    for file in [
        "a.secret",
        "git-only.log",
        "kept.c",
        "d/b.secret",
        "d/c.log",
    ] {
        write(root, file, "x");
    }
    assert_eq!(
        names(&FsScanner::new(root).gitignore(true)),
        [".gitignore", ".spiroignore", "kept.c"],
        "a path either file ignores is left out, whatever the other re-includes"
    );
    assert_eq!(
        names(&FsScanner::new(root)),
        [
            ".gitignore",
            ".spiroignore",
            "d/c.log",
            "git-only.log",
            "kept.c"
        ]
    );
}

#[test]
fn a_root_below_the_work_tree_s_root_gets_the_rules_of_the_directories_above_it() {
    let dir = work_tree();
    let scanned = names(&FsScanner::new(dir.path().join("a/b")).gitignore(true));
    assert_eq!(
        scanned,
        [".gitignore", "again.tmp", "deep.c"],
        "the root's *.tmp and a's !important.log reach down; info/exclude too"
    );
    // Relative to the work tree's root, `/top-only.txt` names only the top file.
    write(dir.path(), "a/b/top-only.txt", "x");
    write(dir.path(), "a/b/secret.txt", "x");
    let scanned = names(&FsScanner::new(dir.path().join("a/b")).gitignore(true));
    assert_eq!(
        scanned,
        [".gitignore", "again.tmp", "deep.c", "top-only.txt"]
    );
}

#[test]
fn a_root_inside_an_ignored_directory_has_everything_ignored_as_in_git() {
    let dir = work_tree();
    write(dir.path(), "build/sub/f", "x");
    assert!(names(&FsScanner::new(dir.path().join("build/sub")).gitignore(true)).is_empty());
    assert_eq!(
        names(&FsScanner::new(dir.path().join("build/sub"))),
        ["f"],
        "without the option the directory is bundled"
    );
}

#[test]
fn a_linked_work_tree_finds_info_exclude_in_the_main_git_directory() {
    let dir = tempfile::tempdir().unwrap();
    let main_git = dir.path().join("main/.git");
    std::fs::create_dir_all(main_git.join("info")).unwrap();
    std::fs::create_dir_all(main_git.join("worktrees/wt")).unwrap();
    write(&main_git, "info/exclude", "*.local\n");
    write(&main_git, "worktrees/wt/commondir", "../..\n");
    let work_tree = dir.path().join("wt");
    write(
        &work_tree,
        ".git",
        &format!("gitdir: {}\n", main_git.join("worktrees/wt").display()),
    );
    write(&work_tree, "a.local", "x");
    write(&work_tree, "a.c", "x");
    assert_eq!(names(&FsScanner::new(&work_tree).gitignore(true)), ["a.c"]);
}

#[test]
fn an_invalid_gitignore_is_an_error_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "ok.c", "x");
    write(root, "d/.gitignore", "ok\n{a,b\n");
    write(root, "d/f", "x");
    let err = scan_error(&FsScanner::new(root).gitignore(true));
    let text = spiro_tests::error_text(&err);
    let expected = format!(
        "cannot use `{}` (line 2)",
        root.join("d/.gitignore").display()
    );
    assert!(text.contains(&expected), "{text}");
    // Without the option, .gitignore is only a file.
    assert_eq!(
        names(&FsScanner::new(root)),
        ["d/.gitignore", "d/f", "ok.c"]
    );
}

#[cfg(unix)]
#[test]
fn an_unreadable_gitignore_is_an_error_naming_the_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, ".gitignore", "*.o\n");
    std::fs::set_permissions(
        root.join(".gitignore"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    if std::fs::read(root.join(".gitignore")).is_ok() {
        // Running as root: every file is readable.
        return;
    }
    let err = scan_error(&FsScanner::new(root).gitignore(true));
    let text = spiro_tests::error_text(&err);
    assert!(
        text.contains(&root.join(".gitignore").display().to_string()),
        "{text}"
    );
}

#[cfg(unix)]
#[test]
fn a_gitignore_that_is_a_symlink_is_not_followed_as_git_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    write(dir.path(), "elsewhere", "*.c\n");
    write(&root, "a.c", "x");
    std::os::unix::fs::symlink(dir.path().join("elsewhere"), root.join(".gitignore")).unwrap();
    assert_eq!(
        names(&FsScanner::new(&root).gitignore(true)),
        [".gitignore", "a.c"]
    );
}

#[test]
fn the_option_is_read_from_text() {
    let dir = work_tree();
    let spec: spiro_scanner::ScannerSpec = "fs,gitignore".parse().unwrap();
    let scanner = FsScanner::new(dir.path()).options(spec.options()).unwrap();
    assert!(!names(&scanner).contains(&"debug.log".to_owned()));
}
