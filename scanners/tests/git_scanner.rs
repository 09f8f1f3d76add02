//! The git scanner against `git archive HEAD` itself.

mod common;

use std::cell::RefCell;
use std::path::PathBuf;

use common::{Fixture, Item, git_archive, git_archive_in, item_of, scan_items};
use spiro_scanner::{Candidate, EntryKind, Scanner, error_chain};
use spiro_scanners::GitError;
use spiro_scanners::GitScanner;

/// A repository exercising every kind of tree entry.
fn varied() -> Fixture {
    let fx = Fixture::init();
    fx.write("README.md", "# project\n");
    fx.write("a.txt", "a\n");
    fx.write("a/b.txt", "inside a\n");
    fx.write("a-b.txt", "sorts before a/ in git order\n");
    fx.write("bin/run.sh", "#!/bin/sh\necho run\n");
    fx.write("dépôt/日本語.sls", "unicode: true\n");
    fx.write("empty", "");
    let long_dir = "d".repeat(60);
    let long_name = format!("{long_dir}/{}/{}.txt", "e".repeat(50), "f".repeat(40));
    assert!(long_name.len() > 100);
    fx.write(&long_name, "a long path\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        fx.root.join("bin/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("README.md", fx.root.join("link")).unwrap();
    std::os::unix::fs::symlink("../nowhere/at all", fx.root.join("a/dangling")).unwrap();
    fx.git(&["add", "-A"]);
    // A submodule-like gitlink: a commit id in the tree, no content.
    fx.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        "160000,1111111111111111111111111111111111111111,vendor/sub",
    ]);
    fx.commit_index("everything");
    assert!(fx.git(&["ls-tree", "-r", "HEAD"]).contains("160000 commit"));
    fx
}

/// Scans from `scanner_dir` and compares with `git archive HEAD` run in that same directory.
fn assert_matches_archive(fx: &Fixture, scanner_dir: PathBuf) -> Vec<Item> {
    let expected = git_archive_in(fx, &scanner_dir);
    let ours = scan_items(&GitScanner::new(scanner_dir));
    assert_eq!(ours, expected);
    ours
}

#[test]
fn loose_objects_match_git_archive() {
    let fx = varied();
    let items = assert_matches_archive(&fx, fx.root.clone());
    let names: Vec<&str> = items.iter().map(Item::name).collect();
    assert!(names.contains(&"link"));
    assert!(names.contains(&"dépôt/日本語.sls"));
    assert!(!names.iter().any(|n| n.starts_with("vendor")), "{names:?}");
    let run = items.iter().find(|i| i.name() == "bin/run.sh").unwrap();
    assert!(matches!(
        run,
        Item::File {
            executable: true,
            ..
        }
    ));
    // git order: `a-b.txt` < `a.txt` < `a/…`.
    let pos = |n: &str| names.iter().position(|x| *x == n).unwrap();
    assert!(pos("a-b.txt") < pos("a.txt") && pos("a.txt") < pos("a/b.txt"));
}

#[test]
fn packed_objects_with_deltas_match_git_archive() {
    let fx = varied();
    // Several versions of a big-ish file, so that the pack stores deltas.
    let base: String = (0..4000)
        .map(|i| format!("line {i} of the big file\n"))
        .collect();
    for v in 0..5 {
        let mut content = base.clone();
        content.push_str(&format!("version {v}\n"));
        content = content.replacen(&format!("line {v} "), &format!("LINE {v} "), 1);
        fx.write("big/data.txt", content);
        fx.write(&format!("big/small-{v}.txt"), format!("{v}\n"));
        fx.commit(&format!("big v{v}"));
    }
    fx.git(&["gc", "-q"]);
    assert_matches_archive(&fx, fx.root.clone());
    fx.git(&["repack", "-q", "-adf", "--depth=50"]);
    let objects = fx.root.join(".git/objects");
    let loose = std::fs::read_dir(&objects)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().len() == 2)
        .count();
    assert_eq!(loose, 0, "everything is packed");
    let verify = fx.git(&["verify-pack", "-v", fx.pack_index().to_str().unwrap()]);
    assert!(verify.contains("chain length"), "the pack has deltas");
    assert_matches_archive(&fx, fx.root.clone());
}

#[test]
fn from_a_subdirectory_only_its_tree_is_bundled_with_names_relative_to_it() {
    let fx = varied();
    // Attributes from the root and from the subdirectory itself, matched on full paths.
    fx.write(
        ".gitattributes",
        "/a/deep/hidden.txt export-ignore\n/deep/kept.txt export-ignore\n",
    );
    fx.write("a/.gitattributes", "deep/gone.txt export-ignore\n");
    fx.write(
        "a/deep/hidden.txt",
        "ignored by the root's full-path rule\n",
    );
    fx.write(
        "a/deep/kept.txt",
        "a root rule for /deep/ does not match a/deep/\n",
    );
    fx.write("a/deep/gone.txt", "ignored by a/.gitattributes\n");
    fx.write("a/deep/c.txt", "deeper\n");
    fx.commit("subdirectory");
    let items = assert_matches_archive(&fx, fx.root.join("a"));
    let names: Vec<&str> = items.iter().map(Item::name).collect();
    assert_eq!(
        names,
        [
            ".gitattributes",
            "b.txt",
            "dangling",
            "deep/c.txt",
            "deep/kept.txt"
        ],
    );
    // Deeper, through a path that is not canonical, and through a symlink to the directory.
    let items = assert_matches_archive(&fx, fx.root.join("a/./deep"));
    let names: Vec<&str> = items.iter().map(Item::name).collect();
    assert_eq!(names, ["c.txt", "kept.txt"]);
    let link = fx.tmp.path().join("link-to-a");
    std::os::unix::fs::symlink(fx.root.join("a"), &link).unwrap();
    assert_eq!(assert_matches_archive(&fx, link).len(), 5);
}

#[test]
fn a_subdirectory_not_in_head_or_export_ignored_bundles_nothing_as_git_does() {
    let fx = varied();
    fx.write(".gitattributes", "bin export-ignore\n");
    fx.write("bin/sub/x.txt", "under an export-ignored directory\n");
    fx.commit("attributes");
    // Untracked, empty, export-ignored, and below an export-ignored directory: `git archive
    // HEAD` there gives an empty archive.
    fx.write("untracked/file.txt", "not committed\n");
    std::fs::create_dir(fx.root.join("empty-dir")).unwrap();
    for dir in ["untracked", "empty-dir", "bin", "bin/sub"] {
        let items = assert_matches_archive(&fx, fx.root.join(dir));
        assert!(items.is_empty(), "{dir}: {items:?}");
    }
}

#[test]
fn from_inside_the_git_directory_the_whole_tree_is_bundled_as_git_does() {
    let fx = varied();
    let items = assert_matches_archive(&fx, fx.root.join(".git/objects"));
    assert_eq!(items, git_archive(&fx));
}

#[test]
fn should_skip_is_offered_names_relative_to_a_subdirectory() {
    let fx = varied();
    let asked: RefCell<Vec<String>> = RefCell::new(Vec::new());
    let skip = |c: &Candidate<'_>| {
        asked
            .borrow_mut()
            .push(c.path.to_string_lossy().into_owned());
        c.path == std::path::Path::new("dangling")
    };
    let scanner = GitScanner::new(fx.root.join("a"));
    let names: Vec<String> = scanner
        .scan(&skip)
        .unwrap()
        .map(|e| item_of(e.unwrap()).name().to_owned())
        .collect();
    assert_eq!(asked.into_inner(), ["b.txt", "dangling"]);
    assert_eq!(names, ["b.txt"]);
}

#[test]
fn the_work_tree_does_not_matter() {
    let fx = varied();
    fx.write("README.md", "changed but not committed\n");
    fx.write("untracked.txt", "not committed\n");
    std::fs::remove_file(fx.root.join("a.txt")).unwrap();
    let items = assert_matches_archive(&fx, fx.root.clone());
    let readme = items.iter().find(|i| i.name() == "README.md").unwrap();
    assert!(matches!(readme, Item::File { content, .. } if content == b"# project\n"));
}

#[test]
fn mtime_is_the_committer_time() {
    let fx = varied();
    let time: u64 = fx
        .git(&["log", "-1", "--format=%ct"])
        .trim()
        .parse()
        .unwrap();
    for item in scan_items(&GitScanner::new(&fx.root)) {
        let mtime = match item {
            Item::File { mtime, .. } | Item::Symlink { mtime, .. } => mtime,
        };
        assert_eq!(mtime, time);
    }
}

#[test]
fn export_ignore_is_honoured() {
    let fx = varied();
    fx.write(
        ".gitattributes",
        "*.secret export-ignore\nbig-dir/ export-ignore\nkeep.secret -export-ignore\n",
    );
    fx.write("x.secret", "hidden\n");
    fx.write("keep.secret", "kept\n");
    fx.write("nested/deeper/y.secret", "hidden too\n");
    fx.write("big-dir/z.txt", "a whole directory\n");
    fx.write("nested/.gitattributes", "only-here.txt export-ignore\n");
    fx.write("nested/only-here.txt", "ignored by the nested file\n");
    fx.write("only-here.txt", "not ignored at the root\n");
    fx.commit("attributes");
    let items = assert_matches_archive(&fx, fx.root.clone());
    let names: Vec<&str> = items.iter().map(Item::name).collect();
    assert!(names.contains(&"keep.secret") && names.contains(&"only-here.txt"));
    assert!(!names.contains(&"x.secret") && !names.contains(&"nested/only-here.txt"));
    // $GIT_DIR/info/attributes applies too, and takes precedence.
    fx.write(".git/info/attributes", "keep.secret export-ignore\n");
    let items = assert_matches_archive(&fx, fx.root.clone());
    assert!(!items.iter().any(|i| i.name() == "keep.secret"));
}

#[test]
fn should_skip_is_asked_before_descending() {
    let fx = varied();
    let asked: RefCell<Vec<(String, bool)>> = RefCell::new(Vec::new());
    let skip = |c: &Candidate<'_>| {
        asked
            .borrow_mut()
            .push((c.path.to_string_lossy().into_owned(), c.is_dir));
        c.path == std::path::Path::new("a") || c.path == std::path::Path::new("README.md")
    };
    let scanner = GitScanner::new(&fx.root);
    let names: Vec<String> = scanner
        .scan(&skip)
        .unwrap()
        .map(|e| item_of(e.unwrap()).name().to_owned())
        .collect();
    let asked = asked.into_inner();
    assert!(asked.contains(&("a".into(), true)));
    assert!(asked.contains(&("bin".into(), true)));
    assert!(asked.contains(&("bin/run.sh".into(), false)));
    assert!(asked.contains(&("link".into(), false)));
    assert!(!asked.iter().any(|(p, _)| p.starts_with("a/")), "{asked:?}");
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("a/") || n == "README.md")
    );
    assert!(names.contains(&"a.txt".to_owned()));
    // Every yielded entry was offered first.
    for name in &names {
        assert!(
            asked.contains(&(name.clone(), false)),
            "{name} was not offered"
        );
    }
}

#[test]
fn openers_read_nothing_until_called() {
    let fx = varied();
    let scanner = GitScanner::new(&fx.root);
    let entries: Vec<_> = scanner
        .scan(&|_| false)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    // Removing every object after the scan: sizes were announced from headers only, so the
    // scan itself succeeded; opening now fails cleanly instead of returning stale data.
    let objects = fx.root.join(".git/objects");
    for dir in std::fs::read_dir(&objects).unwrap() {
        let dir = dir.unwrap().path();
        if dir.file_name().unwrap().len() == 2 {
            std::fs::remove_dir_all(dir).unwrap();
        }
    }
    let file = entries
        .into_iter()
        .find(|e| e.name().to_string() == "a.txt")
        .unwrap();
    let (_, EntryKind::File { open, .. }, _) = file.into_parts() else {
        panic!("a.txt is a file");
    };
    let err = open().err().expect("the blob is gone");
    assert!(err.to_string().contains("git"), "{err}");
}

#[test]
fn outside_a_repository_is_a_clear_error() {
    let fx = Fixture::plain();
    let err = GitScanner::new(&fx.root).scan(&|_| false).err().unwrap();
    let text = err.to_string();
    assert!(text.contains("is not inside a git repository"), "{text}");
    // The CLI adds what to do (--include-source=fs): see tests/bundle.rs.
    let typed = error_chain(&err).find_map(|e| e.downcast_ref::<GitError>());
    assert!(
        matches!(typed, Some(GitError::NotARepository { .. })),
        "{err:?}"
    );
}

#[test]
fn unborn_head_is_a_clear_error() {
    let fx = Fixture::init();
    fx.write("file", "not committed\n");
    let err = GitScanner::new(&fx.root).scan(&|_| false).err().unwrap();
    let text = err.to_string();
    assert!(text.contains("no commit yet"), "{text}");
    // The CLI adds what to do (make a first commit or use --include-source=fs): see
    // tests/bundle.rs.
    let typed = error_chain(&err).find_map(|e| e.downcast_ref::<GitError>());
    assert!(matches!(typed, Some(GitError::NoCommit { .. })), "{err:?}");
}

#[test]
fn bundles_through_the_builder() {
    let fx = varied();
    let mut builder = spiro_bundle::Builder::new(Vec::new());
    builder.add_source(&GitScanner::new(&fx.root)).unwrap();
    let tar = builder.finish().unwrap();
    let names: Vec<String> = spiro_tests::read_tar(&tar)
        .into_iter()
        .map(|member| member.name)
        .collect();
    assert!(names.contains(&"_source/bin/run.sh".to_owned()));
    assert_eq!(names.len(), git_archive(&fx).len());
}

#[test]
fn blobs_read_across_a_fresh_repository_handle_match_git_archive() {
    // Past 4 MiB of blobs the walk opens the repository anew (so that packs mapped into
    // memory are unmapped); what comes after, loose and packed, must read the same.
    let fx = Fixture::init();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut noise = |len: usize| -> Vec<u8> {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    };
    for i in 0..5 {
        fx.write(&format!("a/big-{i}.bin"), noise(5 << 20));
    }
    for i in 0..20 {
        fx.write(
            &format!("b/small-{i:02}.txt"),
            format!("after the reopen {i}\n"),
        );
    }
    fx.commit("big blobs, then small ones");
    assert_matches_archive(&fx, fx.root.clone());
    fx.git(&["repack", "-adq"]);
    let items = assert_matches_archive(&fx, fx.root.clone());
    assert_eq!(items.len(), 25);
}

/// Many blobs, some over the 1 MiB limit for inflating ahead, more in all than its 8 MiB
/// budget, packed with deltas.
fn many_blobs() -> Fixture {
    let fx = Fixture::init();
    let text: String = (0..2000)
        .map(|i| format!("line {i} of the text\n"))
        .collect();
    for i in 0..400 {
        let mut content = text.repeat(1 + i % 7);
        content.push_str(&format!("file {i}\n"));
        fx.write(&format!("d{}/f{i:03}.txt", i % 9), content);
    }
    for i in 0..3 {
        fx.write(&format!("big/b{i}.txt"), text.repeat(40 + i));
    }
    std::os::unix::fs::symlink("d0/f000.txt", fx.root.join("link")).unwrap();
    fx.commit("many blobs");
    fx.git(&["repack", "-adq"]);
    fx
}

#[test]
fn inflating_ahead_changes_no_byte() {
    let fx = many_blobs();
    let expected = git_archive(&fx);
    assert!(expected.len() > 400);
    for workers in [0, 1, 2, 3] {
        let ours = scan_items(&GitScanner::new(&fx.root).inflate_ahead(workers));
        assert!(ours == expected, "{workers} workers");
    }
}

/// Entries kept past the next one, opened out of order or never opened must neither stall the
/// scan nor mix contents up.
#[test]
fn entries_opened_out_of_order_or_never_get_their_own_content() {
    let fx = many_blobs();
    let expected = git_archive(&fx);
    let scanner = GitScanner::new(&fx.root).inflate_ahead(2);
    let mut entries = scanner.scan(&|_| false).unwrap();
    assert_eq!(item_of(entries.next().unwrap().unwrap()), expected[0]);
    let rest: Vec<_> = entries.map(Result::unwrap).collect();
    assert_eq!(rest.len(), expected.len() - 1);
    let mut checked = 0;
    for (entry, expected) in rest.into_iter().zip(&expected[1..]).rev().step_by(2) {
        assert!(item_of(entry) == *expected, "{}", expected.name());
        checked += 1;
    }
    assert!(checked > 200);
}
