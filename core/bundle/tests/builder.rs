//! The builder against purpose-built scanners and real directories.

use std::io::{self, Read};

use spiro_bundle::{Builder, Error};
use spiro_scanner::{Candidate, Entries, Entry, EntryName, Scanner, ShouldSkip};
use spiro_scanners::FsScanner;
use spiro_tests::{names, read_tar};

/// A scanner that yields whatever entries it is given, ignoring `should_skip` on purpose.
struct Fixed {
    name: &'static str,
    entries: Vec<(&'static str, u64, &'static [u8])>,
}

impl Scanner for Fixed {
    fn name(&self) -> &str {
        self.name
    }
    fn scan<'s>(&'s self, _should_skip: &'s ShouldSkip<'s>) -> spiro_scanner::Result<Entries<'s>> {
        Ok(Box::new(self.entries.iter().map(|(name, size, data)| {
            Ok(Entry::file(
                EntryName::new(name).unwrap(),
                *size,
                false,
                0,
                move || Ok(Box::new(*data) as Box<dyn Read>),
            ))
        })))
    }
}

fn tar_names(bytes: &[u8]) -> Vec<String> {
    names(&read_tar(bytes))
        .into_iter()
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_file_that_shrank_is_an_error_naming_it() {
    let scanner = Fixed {
        name: "fixed",
        entries: vec![("a.txt", 10, b"12345")],
    };
    let mut builder = Builder::new(Vec::new());
    let err = builder.add_source(&scanner).unwrap_err();
    assert!(matches!(err, Error::SizeChanged { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "`_source/a.txt` changed size while it was being bundled (10 bytes when scanned, only 5 when read); \
         retry once nothing is writing to it"
    );
}

#[test]
fn a_file_that_grew_is_an_error_naming_it() {
    let scanner = Fixed {
        name: "fixed",
        entries: vec![("a.txt", 3, b"12345")],
    };
    let err = Builder::new(Vec::new()).add_source(&scanner).unwrap_err();
    assert!(err.to_string().contains("more bytes when read"), "{err}");
}

#[test]
fn the_same_name_from_two_scanners_names_both() {
    let one = Fixed {
        name: "one",
        entries: vec![("x", 1, b"1")],
    };
    let two = Fixed {
        name: "two",
        entries: vec![("x", 1, b"2")],
    };
    let mut builder = Builder::new(Vec::new());
    builder.add_source(&one).unwrap();
    let err = builder.add_source(&two).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`_source/x` is produced twice, by scanner `one` and by scanner `two`; remove one of them"
    );
}

#[test]
fn the_same_name_twice_from_one_scanner_is_refused() {
    let one = Fixed {
        name: "one",
        entries: vec![("x", 1, b"1"), ("x", 1, b"1")],
    };
    let err = Builder::new(Vec::new()).add_source(&one).unwrap_err();
    assert!(matches!(err, Error::Duplicate { .. }), "{err:?}");
}

#[test]
fn entries_a_scanner_should_have_skipped_are_dropped() {
    let sloppy = Fixed {
        name: "sloppy",
        entries: vec![
            (".git/config", 1, b"s"),
            ("src/.hg/x", 1, b"s"),
            ("_salt/top.sls", 1, b"s"),
            ("docs/_salt/x", 1, b"s"),
            ("ok", 1, b"k"),
        ],
    };
    let mut builder = Builder::new(Vec::new());
    builder.add_source(&sloppy).unwrap();
    assert_eq!(tar_names(&builder.finish().unwrap()), ["_source/ok"]);
}

/// A scanner that says its entries are a commit's content, and yields them regardless.
struct Committed(Fixed);

impl Scanner for Committed {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn scan<'s>(&'s self, should_skip: &'s ShouldSkip<'s>) -> spiro_scanner::Result<Entries<'s>> {
        self.0.scan(should_skip)
    }
    fn yields_commit_content(&self) -> bool {
        true
    }
}

#[test]
fn a_commits_vcs_names_are_content_but_its_salt_is_not() {
    let commit = Committed(Fixed {
        name: "commit",
        entries: vec![
            (".hg/.keep", 0, b""),
            ("fixtures/CVS/Root", 1, b"x"),
            ("_salt/top.sls", 1, b"s"),
            ("docs/_salt/x", 1, b"s"),
        ],
    });
    let mut builder = Builder::new(Vec::new());
    // Through `dyn` and `Box`, as the CLI holds scanners: the declaration must carry through.
    let boxed: Box<dyn Scanner> = Box::new(commit);
    builder.add_source(&boxed).unwrap();
    assert_eq!(
        tar_names(&builder.finish().unwrap()),
        ["_source/.hg/.keep", "_source/fixtures/CVS/Root"]
    );
}

#[test]
fn a_read_error_is_reported_as_the_source_error_not_a_write_error() {
    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other(spiro_scanner::Error::read(
                "/data/disk-died",
                io::Error::other("EIO"),
            )))
        }
    }
    struct OneFailing;
    impl Scanner for OneFailing {
        fn name(&self) -> &str {
            "failing"
        }
        fn scan<'s>(&'s self, _: &'s ShouldSkip<'s>) -> spiro_scanner::Result<Entries<'s>> {
            let entry = Entry::file(EntryName::new("f").unwrap(), 4, false, 0, || {
                Ok(Box::new(Failing) as Box<dyn Read>)
            });
            Ok(Box::new(std::iter::once(Ok(entry))))
        }
    }
    let err = Builder::new(Vec::new())
        .add_source(&OneFailing)
        .unwrap_err();
    assert_eq!(err.to_string(), "cannot read `/data/disk-died`");
}

#[test]
fn a_failing_writer_is_a_write_error() {
    struct Full;
    impl io::Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let big = vec![0u8; 1 << 20];
    let data: &'static [u8] = Box::leak(big.into_boxed_slice());
    let scanner = Fixed {
        name: "big",
        entries: vec![("big", data.len() as u64, data)],
    };
    let mut builder = Builder::new(Full);
    let err = builder.add_source(&scanner).unwrap_err();
    assert!(matches!(err, Error::Write(_)), "{err:?}");
}

#[cfg(unix)]
#[test]
fn long_names_and_long_symlink_targets_survive() {
    let dir = tempfile::tempdir().unwrap();
    let deep = dir.path().join("a".repeat(120)).join("b".repeat(120));
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("f.txt"), "deep").unwrap();
    let target = format!("{}/{}", "t".repeat(150), "u".repeat(60));
    std::os::unix::fs::symlink(&target, dir.path().join("link")).unwrap();
    let mut builder = Builder::new(Vec::new());
    builder.add_source(&FsScanner::new(dir.path())).unwrap();
    let bytes = builder.finish().unwrap();
    let seen: Vec<(String, Option<String>)> = read_tar(&bytes)
        .into_iter()
        .map(|member| (member.name, member.link))
        .collect();
    let long = format!("_source/{}/{}/f.txt", "a".repeat(120), "b".repeat(120));
    assert_eq!(
        seen,
        [(long, None), ("_source/link".to_owned(), Some(target))]
    );
}

#[test]
fn should_skip_keeps_the_scanner_out_of_skipped_directories() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("skip/deeper")).unwrap();
    std::fs::write(dir.path().join("skip/deeper/x"), "x").unwrap();
    std::fs::write(dir.path().join("keep"), "k").unwrap();
    let asked = std::cell::RefCell::new(Vec::new());
    let should_skip = |c: &Candidate<'_>| {
        asked
            .borrow_mut()
            .push(c.path.to_string_lossy().into_owned());
        c.path == std::path::Path::new("skip")
    };
    let scanner = FsScanner::new(dir.path());
    let names: Vec<String> = scanner
        .scan(&should_skip)
        .unwrap()
        .map(|e| e.unwrap().name().to_string())
        .collect();
    assert_eq!(names, ["keep"]);
    assert_eq!(
        *asked.borrow(),
        ["keep", "skip"],
        "nothing below `skip` may be visited"
    );
}

#[test]
fn source_date_epoch_clamps_mtimes_and_owners_are_anonymous() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), "f").unwrap();
    let mut builder = Builder::new(Vec::new());
    builder.source_date_epoch(Some(42));
    builder.add_source(&FsScanner::new(dir.path())).unwrap();
    builder
        .add_virtual(&EntryName::new("v").unwrap(), b"v")
        .unwrap();
    let bytes = builder.finish().unwrap();
    for member in read_tar(&bytes) {
        assert_eq!(member.mtime, 42);
        assert_eq!((member.owner.0, member.owner.1), (0, 0));
        assert_eq!(member.owner.2, "");
    }
}

#[test]
fn a_missing_root_is_a_read_error() {
    let err = FsScanner::new("/nonexistent/spiro")
        .scan(&|_| false)
        .err()
        .unwrap();
    assert_eq!(err.to_string(), "cannot read `/nonexistent/spiro`");
}

/// A scanner yielding a symlink and files, in the order given.
struct Links(Vec<(&'static str, Option<&'static str>)>);

impl Scanner for Links {
    fn name(&self) -> &str {
        "links"
    }
    fn scan<'s>(&'s self, _: &'s ShouldSkip<'s>) -> spiro_scanner::Result<Entries<'s>> {
        Ok(Box::new(self.0.iter().map(|(name, target)| {
            let name = EntryName::new(name).unwrap();
            Ok(match target {
                Some(target) => Entry::symlink(name, target.as_bytes(), 0),
                None => Entry::file(name, 1, false, 0, || {
                    Ok(Box::new(&b"x"[..]) as Box<dyn Read>)
                }),
            })
        })))
    }
}

#[test]
fn nothing_may_be_written_through_a_symlink_of_the_bundle() {
    // `link -> /etc` then `link/passwd`: extracting it would write /etc/passwd. Refused even
    // where links out of the bundle are allowed.
    let err = Builder::new(Vec::new())
        .allow_symlinks_out(true)
        .add_source(&Links(vec![("link", Some("/etc")), ("link/passwd", None)]))
        .unwrap_err();
    assert!(matches!(err, Error::PathConflict { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "`_source/link/passwd` (scanner `links`) cannot be bundled: `_source/link` (scanner `links`) \
         is a file or symlink, not a directory; rename or leave out one of them"
    );
}

#[test]
fn a_symlink_may_not_take_the_name_of_a_directory_already_written() {
    let mut builder = Builder::new(Vec::new());
    builder.allow_symlinks_out(true);
    builder
        .add_source(&Links(vec![("dir/file", None)]))
        .unwrap();
    let err = builder
        .add_source(&Links(vec![("dir", Some("/etc"))]))
        .unwrap_err();
    assert!(matches!(err, Error::PathConflict { .. }), "{err:?}");
    assert!(err.to_string().starts_with("`_source/dir/…`"), "{err}");
}

#[test]
fn siblings_and_deep_trees_are_no_conflict() {
    let mut builder = Builder::new(Vec::new());
    let tree = Links(vec![
        ("a/b/c", None),
        ("a/b/d", None),
        ("a/bc", Some("b")),
        ("ab", None),
    ]);
    builder.add_source(&tree).unwrap();
    assert_eq!(tar_names(&builder.finish().unwrap()).len(), 4);
}

#[test]
fn version_control_metadata_is_refused_as_an_artifact() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    std::fs::write(dir.path().join(".git/config"), "[remote]\n").unwrap();
    for path in [dir.path().join(".git"), dir.path().join(".git/config")] {
        let err = Builder::new(Vec::new())
            .add_artifact(&path, &EntryName::new("x").unwrap())
            .unwrap_err();
        let cause = std::error::Error::source(&err).unwrap().to_string();
        assert_eq!(cause, "version-control metadata is never bundled", "{err}");
    }
}

/// Finding 7 of issue 10: a link to `.git` is version-control metadata too.
#[cfg(unix)]
#[test]
fn version_control_metadata_behind_a_symlink_is_refused_as_an_artifact() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    std::fs::write(dir.path().join(".git/config"), "[remote]\n").unwrap();
    std::os::unix::fs::symlink(".git", dir.path().join("build-meta")).unwrap();
    std::os::unix::fs::symlink(".git/config", dir.path().join("settings")).unwrap();
    for path in ["build-meta", "build-meta/config", "settings"] {
        let err = Builder::new(Vec::new())
            .add_artifact(&dir.path().join(path), &EntryName::new(path).unwrap())
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Refused {
                    reason: spiro_bundle::Refusal::VcsMetadata,
                    ..
                }
            ),
            "{path}: {err:?}"
        );
    }
}

#[test]
fn excluded_paths_stay_out_of_the_builders_own_walks() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("_salt")).unwrap();
    std::fs::write(dir.path().join("_salt/top.sls"), "base: {}\n").unwrap();
    std::fs::write(dir.path().join("_salt/bundle.tar"), "old bundle").unwrap();
    let mut builder = Builder::new(Vec::new());
    builder.exclude(dir.path().join("_salt/bundle.tar"));
    builder.add_saltdir(&dir.path().join("_salt")).unwrap();
    builder
        .add_artifact(&dir.path().join("_salt"), &EntryName::new("salt").unwrap())
        .unwrap();
    assert_eq!(
        tar_names(&builder.finish().unwrap()),
        ["top.sls", "_artifacts/salt/top.sls"]
    );
}

/// Finding 3 of issue 10: links that may lead out of the bundle are refused by default.
#[cfg(unix)]
#[test]
fn symlinks_out_of_the_bundle_are_refused_unless_allowed() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let salt = dir.path().join("_salt");
    std::fs::create_dir_all(salt.join("sub")).unwrap();
    std::fs::write(salt.join("top.sls"), "base: {}\n").unwrap();
    symlink("../top.sls", salt.join("sub/inside")).unwrap();
    let inside = {
        let mut builder = Builder::new(Vec::new());
        builder.add_saltdir(&salt).unwrap();
        tar_names(&builder.finish().unwrap())
    };
    assert_eq!(inside, ["sub/inside", "top.sls"]);

    symlink("/etc/salt/pki/master/master.pem", salt.join("key")).unwrap();
    let err = Builder::new(Vec::new()).add_saltdir(&salt).unwrap_err();
    assert!(matches!(err, Error::SymlinkOutside { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("`key` -> `/etc/salt/pki/master/master.pem`"),
        "{message}"
    );

    let mut builder = Builder::new(Vec::new());
    builder.allow_symlinks_out(true);
    builder.add_saltdir(&salt).unwrap();
    assert_eq!(tar_names(&builder.finish().unwrap()).len(), 3);
}

/// A chain of links inside the bundle that escapes physically: `d -> .`, `l -> d/../..`.
#[cfg(unix)]
#[test]
fn a_link_chain_that_escapes_is_refused() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let salt = dir.path().join("_salt");
    std::fs::create_dir(&salt).unwrap();
    symlink(".", salt.join("d")).unwrap();
    symlink("d/../..", salt.join("l")).unwrap();
    let err = Builder::new(Vec::new()).add_saltdir(&salt).unwrap_err();
    let Error::SymlinkOutside { name, reason, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(name, "l");
    assert_eq!(*reason, spiro_bundle::LinkEscape::ParentAfterName);
}

/// An entry that fails halfway leaves a stream that is no tar: it is never finished as one.
#[test]
fn a_builder_is_not_finished_after_an_entry_failed_halfway() {
    let mut builder = Builder::new(Vec::new());
    let scanner = Fixed {
        name: "fixed",
        entries: vec![("a.txt", 10, b"12345")],
    };
    builder.add_source(&scanner).unwrap_err();
    let again = Fixed {
        name: "fixed",
        entries: vec![("b.txt", 1, b"1")],
    };
    assert!(matches!(builder.add_source(&again), Err(Error::Incomplete)));
    assert!(matches!(builder.finish(), Err(Error::Incomplete)));
}
