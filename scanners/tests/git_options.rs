//! The `git` scanner's options: `submodules` and `lfs`, on repositories made by git itself
//! (LFS pointers and objects written by hand, as git-lfs would).

mod common;

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use common::{Fixture, Item, git_archive, scan_items};
use spiro_scanner::{Candidate, EntryKind, Scanner, error_chain};
use spiro_scanners::{GitError, GitScanner};
use spiro_tests::git_extras::{
    add_submodule, clone_without_submodules, commit_in, git_with_file_transport, lfs_pointer,
    origin, store_lfs_object,
};

/// The content of file `name` among `items`.
fn content<'i>(items: &'i [Item], name: &str) -> &'i [u8] {
    match items.iter().find(|i| i.name() == name) {
        Some(Item::File { content, .. }) => content,
        _ => panic!("no file {name} in {:?}", names(items)),
    }
}

fn names(items: &[Item]) -> Vec<&str> {
    items.iter().map(Item::name).collect()
}

/// The first error of a scan (at its start or from an entry), as text with its causes.
fn scan_error(scanner: &GitScanner) -> (String, Option<GitErrorKind>) {
    let error = match scanner.scan(&|_| false) {
        Err(error) => error,
        Ok(entries) => entries
            .map(|e| e.map(|_| ()))
            .find_map(Result::err)
            .expect("the scan fails"),
    };
    let kind = error_chain(&error)
        .find_map(|e| e.downcast_ref::<GitError>())
        .map(GitErrorKind::of);
    (error.to_string(), kind)
}

/// A `GitError`'s variant, comparable.
#[derive(Debug, PartialEq, Eq)]
enum GitErrorKind {
    NotInitialized { nested: bool },
    CommitMissing,
    LfsMissing,
    LfsCorrupt,
    Other,
}

impl GitErrorKind {
    fn of(error: &GitError) -> GitErrorKind {
        match error {
            GitError::SubmoduleNotInitialized { nested, .. } => {
                GitErrorKind::NotInitialized { nested: *nested }
            }
            GitError::SubmoduleCommitMissing { .. } => GitErrorKind::CommitMissing,
            GitError::LfsObjectMissing { .. } => GitErrorKind::LfsMissing,
            GitError::LfsObjectCorrupt { .. } => GitErrorKind::LfsCorrupt,
            _ => GitErrorKind::Other,
        }
    }
}

/// A superproject with the submodule `vendor/lib` pinned at its first commit while its work
/// tree has a second one checked out, and files around it in git's tree order
/// (`vendor/lib-x.txt` sorts after the gitlink `vendor/lib`, before a tree `vendor/lib/`).
struct Project {
    fx: Fixture,
    lib: PathBuf,
}

fn project() -> Project {
    let fx = Fixture::init();
    let lib = origin(&fx, "lib");
    commit_in(
        &fx,
        &lib,
        &[
            ("lib.txt", "v1\n"),
            ("src/code.sls", "code: v1\n"),
            ("secret.txt", "left out\n"),
            (".gitattributes", "secret.txt export-ignore\n"),
        ],
        "lib v1",
    );
    fx.write("top.txt", "top\n");
    fx.write("vendor/lib-x.txt", "beside\n");
    add_submodule(&fx, &fx.root, &lib, "vendor/lib");
    fx.commit("with lib");
    // The origin moves on and the submodule's checkout follows, without the superproject
    // committing it: the pin stays at v1.
    commit_in(
        &fx,
        &lib,
        &[("lib.txt", "v2\n"), ("new.txt", "v2 only\n")],
        "lib v2",
    );
    let checkout = fx.root.join("vendor/lib");
    git_with_file_transport(&fx, &checkout, &["pull", "-q", "origin", "main"]);
    assert_eq!(
        std::fs::read_to_string(checkout.join("lib.txt")).unwrap(),
        "v2\n"
    );
    Project { fx, lib }
}

#[test]
fn a_submodule_is_bundled_at_the_commit_the_superproject_pins() {
    let p = project();
    let items = scan_items(&GitScanner::new(&p.fx.root).submodules(true));
    assert_eq!(
        names(&items),
        [
            ".gitmodules",
            "top.txt",
            "vendor/lib/.gitattributes",
            "vendor/lib/lib.txt",
            "vendor/lib/src/code.sls",
            "vendor/lib-x.txt",
        ],
        "the pinned tree, in git's tree order, without what the submodule export-ignores"
    );
    assert_eq!(content(&items, "vendor/lib/lib.txt"), b"v1\n");
    // Every entry has the superproject's commit time, as `git archive` gives all its entries.
    let archive = git_archive(&p.fx);
    let mtime = match &archive[0] {
        Item::File { mtime, .. } | Item::Symlink { mtime, .. } => *mtime,
    };
    assert!(items.iter().all(|i| match i {
        Item::File { mtime: m, .. } | Item::Symlink { mtime: m, .. } => *m == mtime,
    }));
    // Off (the default), the scan is `git archive`'s.
    assert_eq!(scan_items(&GitScanner::new(&p.fx.root)), archive);
    assert_eq!(
        scan_items(&GitScanner::new(&p.fx.root).submodules(false)),
        archive
    );
    let _ = &p.lib;
}

#[test]
fn submodule_blobs_inflated_ahead_are_the_same() {
    let p = project();
    let many: Vec<(String, String)> = (0..300)
        .map(|i| (format!("many/{i:03}.txt"), format!("file {i}\n").repeat(i)))
        .collect();
    let files: Vec<(&str, &str)> = many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let checkout = p.fx.root.join("vendor/lib");
    commit_in(&p.fx, &checkout, &files, "many files");
    p.fx.commit("pin many files");
    let plain = scan_items(
        &GitScanner::new(&p.fx.root)
            .submodules(true)
            .inflate_ahead(0),
    );
    assert!(plain.len() > 300);
    for workers in [1, 3] {
        let ahead = scan_items(
            &GitScanner::new(&p.fx.root)
                .submodules(true)
                .inflate_ahead(workers),
        );
        assert_eq!(ahead, plain, "{workers} workers");
    }
}

#[test]
fn the_submodule_is_offered_to_should_skip_as_a_directory_first() {
    let p = project();
    let seen = RefCell::new(Vec::new());
    let skip = |c: &Candidate<'_>| {
        seen.borrow_mut()
            .push((c.path.to_string_lossy().into_owned(), c.is_dir));
        c.path == Path::new("vendor/lib")
    };
    let scanner = GitScanner::new(&p.fx.root).submodules(true);
    let names: Vec<String> = scanner
        .scan(&skip)
        .unwrap()
        .map(|e| e.unwrap().name().to_string())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with("vendor/lib/")),
        "{names:?}"
    );
    assert!(seen.borrow().contains(&("vendor/lib".into(), true)));
}

#[test]
fn a_superproject_export_ignore_on_the_submodule_path_leaves_it_out() {
    let p = project();
    p.fx.write(".gitattributes", "vendor/lib export-ignore\n");
    p.fx.commit("ignore lib");
    let items = scan_items(&GitScanner::new(&p.fx.root).submodules(true));
    assert!(!names(&items).iter().any(|n| n.starts_with("vendor/lib/")));
}

#[test]
fn from_a_subdirectory_submodules_below_it_are_bundled_relative_to_it() {
    let p = project();
    let items = scan_items(&GitScanner::new(p.fx.root.join("vendor")).submodules(true));
    assert_eq!(
        names(&items),
        [
            "lib/.gitattributes",
            "lib/lib.txt",
            "lib/src/code.sls",
            "lib-x.txt"
        ]
    );
}

#[test]
fn nested_submodules_are_bundled_recursively() {
    let fx = Fixture::init();
    let inner = origin(&fx, "inner");
    commit_in(&fx, &inner, &[("in.txt", "innermost\n")], "inner");
    let outer = origin(&fx, "outer");
    commit_in(&fx, &outer, &[("out.txt", "outer\n")], "outer");
    add_submodule(&fx, &outer, &inner, "deps/inner");
    fx.git_in(&outer, &["commit", "-q", "-m", "add inner"]);
    fx.write("top.txt", "top\n");
    add_submodule(&fx, &fx.root, &outer, "vendor/outer");
    git_with_file_transport(
        &fx,
        &fx.root,
        &["submodule", "update", "-q", "--init", "--recursive"],
    );
    fx.commit("with outer");
    assert!(
        fx.root
            .join(".git/modules/vendor/outer/modules/deps/inner")
            .is_dir()
    );
    let items = scan_items(&GitScanner::new(&fx.root).submodules(true));
    assert_eq!(
        content(&items, "vendor/outer/deps/inner/in.txt"),
        b"innermost\n"
    );
    assert_eq!(content(&items, "vendor/outer/out.txt"), b"outer\n");

    // A clone whose outer submodule is initialised, but not the inner one.
    let clone = clone_without_submodules(&fx, "clone");
    let (message, kind) = scan_error(&GitScanner::new(&clone).submodules(true));
    assert_eq!(kind, Some(GitErrorKind::NotInitialized { nested: false }));
    assert!(message.contains("`vendor/outer`"), "{message}");
    assert!(
        message.contains("run `git submodule update --init`"),
        "{message}"
    );
    git_with_file_transport(&fx, &clone, &["submodule", "update", "-q", "--init"]);
    let (message, kind) = scan_error(&GitScanner::new(&clone).submodules(true));
    assert_eq!(kind, Some(GitErrorKind::NotInitialized { nested: true }));
    assert!(message.contains("`vendor/outer/deps/inner`"), "{message}");
    assert!(
        message.contains("run `git submodule update --init --recursive`"),
        "{message}"
    );
    // Not asked for, nothing is needed.
    assert!(!scan_items(&GitScanner::new(&clone)).is_empty());
}

#[test]
fn an_old_style_submodule_with_its_own_git_directory_is_read_there() {
    let fx = Fixture::init();
    let lib = origin(&fx, "lib");
    commit_in(&fx, &lib, &[("lib.txt", "v1\n")], "lib v1");
    // A clone inside the work tree, added as a gitlink: its `.git` is a directory.
    git_with_file_transport(
        &fx,
        &fx.root,
        &["clone", "-q", lib.to_str().unwrap(), "vendor/lib"],
    );
    fx.write(
        ".gitmodules",
        "[submodule \"lib\"]\n\tpath = vendor/lib\n\turl = ../lib\n",
    );
    fx.git(&["add", ".gitmodules", "vendor/lib"]);
    fx.commit_index("old-style");
    assert!(fx.root.join("vendor/lib/.git").is_dir());
    let items = scan_items(&GitScanner::new(&fx.root).submodules(true));
    assert_eq!(content(&items, "vendor/lib/lib.txt"), b"v1\n");
}

#[test]
fn a_submodule_without_the_pinned_commit_is_an_error() {
    let p = project();
    p.fx.git(&[
        "update-index",
        "--cacheinfo",
        "160000,1111111111111111111111111111111111111111,vendor/lib",
    ]);
    p.fx.commit_index("pin a commit nobody has");
    let (message, kind) = scan_error(&GitScanner::new(&p.fx.root).submodules(true));
    assert_eq!(kind, Some(GitErrorKind::CommitMissing));
    assert!(message.contains("`vendor/lib`"), "{message}");
    assert!(
        message.contains("1111111111111111111111111111111111111111"),
        "{message}"
    );
    assert!(message.contains("git submodule update --init"), "{message}");
}

#[test]
fn an_uninitialised_submodule_is_an_error_unless_skipped() {
    let p = project();
    let clone = clone_without_submodules(&p.fx, "clone");
    let scanner = GitScanner::new(&clone).submodules(true);
    let (message, kind) = scan_error(&scanner);
    assert_eq!(kind, Some(GitErrorKind::NotInitialized { nested: false }));
    assert!(
        message.contains("the submodule `vendor/lib` is not initialised"),
        "{message}"
    );
    let skip = |c: &Candidate<'_>| c.path == Path::new("vendor/lib");
    assert!(scanner.scan(&skip).unwrap().all(|e| e.is_ok()));
}

/// A repository with LFS files: `big.bin` (object present), `gone.bin` (object missing),
/// `plain.bin` (under `filter=lfs` but not a pointer) and `pointer.txt` (a pointer on a path
/// without `filter=lfs`).
struct Lfs {
    fx: Fixture,
    object: PathBuf,
}

const BIG: &[u8] = b"the real content of big.bin\n";

fn lfs_repository() -> Lfs {
    let fx = Fixture::init();
    fx.write(
        ".gitattributes",
        "*.bin filter=lfs diff=lfs merge=lfs -text\n",
    );
    fx.write("big.bin", lfs_pointer(BIG));
    fx.write("gone.bin", lfs_pointer(b"never fetched\n"));
    fx.write("plain.bin", "not a pointer\n");
    fx.write("pointer.txt", lfs_pointer(BIG));
    fx.commit("lfs");
    let object = store_lfs_object(&fx.root.join(".git"), BIG, BIG);
    Lfs { fx, object }
}

#[test]
fn an_lfs_pointer_is_replaced_by_its_object() {
    let lfs = lfs_repository();
    std::fs::remove_file(lfs.fx.root.join("gone.bin")).unwrap();
    lfs.fx.commit("no gone.bin");
    let items = scan_items(&GitScanner::new(&lfs.fx.root).lfs(true));
    assert_eq!(content(&items, "big.bin"), BIG);
    assert_eq!(content(&items, "plain.bin"), b"not a pointer\n");
    assert_eq!(content(&items, "pointer.txt"), lfs_pointer(BIG).as_bytes());
    // Off (the default), pointers are bundled as committed, as `git archive` does.
    assert_eq!(
        scan_items(&GitScanner::new(&lfs.fx.root)),
        git_archive(&lfs.fx)
    );
    let off = scan_items(&GitScanner::new(&lfs.fx.root).lfs(false));
    assert_eq!(content(&off, "big.bin"), lfs_pointer(BIG).as_bytes());
}

#[test]
fn lfs_storage_is_honoured() {
    let lfs = lfs_repository();
    std::fs::remove_file(lfs.fx.root.join("gone.bin")).unwrap();
    lfs.fx.commit("no gone.bin");
    let elsewhere = lfs.fx.tmp.path().join("store");
    std::fs::create_dir_all(elsewhere.join("objects")).unwrap();
    std::fs::rename(
        lfs.fx.root.join(".git/lfs/objects"),
        elsewhere.join("objects"),
    )
    .unwrap_or_else(|_| panic!("move the store"));
    lfs.fx
        .git(&["config", "lfs.storage", elsewhere.to_str().unwrap()]);
    let items = scan_items(&GitScanner::new(&lfs.fx.root).lfs(true));
    assert_eq!(content(&items, "big.bin"), BIG);
}

#[test]
fn a_missing_lfs_object_is_an_error_naming_the_file_found_before_reading() {
    let lfs = lfs_repository();
    let (message, kind) = scan_error(&GitScanner::new(&lfs.fx.root).lfs(true));
    assert_eq!(kind, Some(GitErrorKind::LfsMissing));
    assert!(message.contains("`gone.bin`"), "{message}");
    assert!(message.contains("git lfs fetch"), "{message}");
}

#[test]
fn a_corrupt_lfs_object_fails_when_written_and_lists_with_the_pointer_size() {
    let lfs = lfs_repository();
    std::fs::remove_file(lfs.fx.root.join("gone.bin")).unwrap();
    lfs.fx.commit("no gone.bin");
    let mut flipped = BIG.to_vec();
    flipped[0] ^= 1;
    std::fs::write(&lfs.object, &flipped).unwrap();
    let scanner = GitScanner::new(&lfs.fx.root).lfs(true);
    // Listing needs no content: the size is the pointer's.
    let mut failed = None;
    for entry in scanner.scan(&|_| false).unwrap() {
        let entry = entry.unwrap();
        if entry.name().to_string() == "big.bin" {
            let (_, kind, _) = entry.into_parts();
            let EntryKind::File { size, open, .. } = kind else {
                panic!("a file");
            };
            assert_eq!(size, BIG.len() as u64);
            let mut out = Vec::new();
            failed = Some(open().unwrap().read_to_end(&mut out).unwrap_err());
        }
    }
    let failed = failed.expect("big.bin was yielded");
    let text = spiro_tests::error_text(&failed);
    assert!(
        text.contains("`big.bin`") && text.contains("corrupt"),
        "{text}"
    );
    // A wrong size is found by the walk, before anything is read.
    std::fs::write(&lfs.object, b"short").unwrap();
    let (message, kind) = scan_error(&scanner);
    assert_eq!(kind, Some(GitErrorKind::LfsCorrupt));
    assert!(
        message.contains("`big.bin`") && message.contains("5 bytes"),
        "{message}"
    );
}

#[test]
fn a_submodule_uses_its_own_lfs_store() {
    let fx = Fixture::init();
    let lib = origin(&fx, "lib");
    commit_in(
        &fx,
        &lib,
        &[
            (".gitattributes", "*.bin filter=lfs\n"),
            ("asset.bin", &lfs_pointer(BIG)),
        ],
        "lib with lfs",
    );
    add_submodule(&fx, &fx.root, &lib, "lib");
    fx.commit("with lib");
    let (_, kind) = scan_error(&GitScanner::new(&fx.root).submodules(true).lfs(true));
    assert_eq!(
        kind,
        Some(GitErrorKind::LfsMissing),
        "not in the superproject's store"
    );
    store_lfs_object(&fx.root.join(".git/modules/lib"), BIG, BIG);
    let items = scan_items(&GitScanner::new(&fx.root).submodules(true).lfs(true));
    assert_eq!(content(&items, "lib/asset.bin"), BIG);
}

#[test]
fn an_lfs_object_reached_through_a_symlink_is_refused() {
    let lfs = lfs_repository();
    std::fs::remove_file(lfs.fx.root.join("gone.bin")).unwrap();
    lfs.fx.commit("no gone.bin");
    let elsewhere = lfs.fx.tmp.path().join("elsewhere");
    std::fs::write(&elsewhere, BIG).unwrap();
    std::fs::remove_file(&lfs.object).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &lfs.object).unwrap();
    let (_, kind) = scan_error(&GitScanner::new(&lfs.fx.root).lfs(true));
    assert_eq!(kind, Some(GitErrorKind::LfsCorrupt));
}

use std::io::Read as _;

#[test]
fn export_subst_is_not_applied_in_a_submodule_or_anywhere() {
    let p = project();
    p.fx.write(".gitattributes", "version.txt export-subst\n");
    p.fx.write("version.txt", "commit $Format:%H$\n");
    p.fx.commit("version file");
    let items = scan_items(&GitScanner::new(&p.fx.root).submodules(true).lfs(true));
    assert_eq!(content(&items, "version.txt"), b"commit $Format:%H$\n");
    let archive = git_archive(&p.fx);
    let substituted = archive.iter().find(|i| i.name() == "version.txt").unwrap();
    assert_ne!(
        substituted,
        items.iter().find(|i| i.name() == "version.txt").unwrap()
    );
}

#[test]
fn a_submodule_with_more_blobs_than_one_handle_reads_is_bundled_whole() {
    let p = project();
    // Incompressible data, so that more than 4 MiB is read through each repository's handle.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut noise = |len: usize| -> String {
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from(b'a' + (state % 26) as u8)
            })
            .collect()
    };
    let big: Vec<(String, String)> = (0..6)
        .map(|i| (format!("big/{i}.txt"), noise(1024 * 1024 - 10 * i)))
        .collect();
    let files: Vec<(&str, &str)> = big.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let checkout = p.fx.root.join("vendor/lib");
    commit_in(&p.fx, &checkout, &files, "big files");
    p.fx.commit("pin big files");
    for workers in [0, 2] {
        let items = scan_items(
            &GitScanner::new(&p.fx.root)
                .submodules(true)
                .inflate_ahead(workers),
        );
        for (name, data) in &big {
            assert_eq!(
                content(&items, &format!("vendor/lib/{name}")),
                data.as_bytes(),
                "{workers} workers"
            );
        }
    }
}

#[test]
fn a_linked_work_tree_reads_its_own_submodules() {
    let p = project();
    let linked = p.fx.tmp.path().join("linked");
    p.fx.git(&["worktree", "add", "-q", linked.to_str().unwrap()]);
    git_with_file_transport(&p.fx, &linked, &["submodule", "update", "-q", "--init"]);
    let own = p.fx.root.join(".git/worktrees/linked/modules/vendor/lib");
    assert!(
        own.is_dir(),
        "git 2.47 keeps them below the work tree's git directory"
    );
    // Its work tree's `.git` file out of the way: found through `modules/` alone.
    std::fs::remove_file(linked.join("vendor/lib/.git")).unwrap();
    let items = scan_items(&GitScanner::new(&linked).submodules(true));
    assert_eq!(content(&items, "vendor/lib/lib.txt"), b"v1\n");
}
