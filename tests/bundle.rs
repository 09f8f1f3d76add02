//! `spiro-deploy --output` / `--list`: real bundles from real trees and git repositories.

use std::path::Path;

use spiro_tests::*;

spiro_tests::spiro_deploy_binary!();

/// A project with a `_salt` tree, an executable, a symlink, a long path, non-ASCII names and
/// VCS metadata in places where it must be left out.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "_salt/top.sls", "base:\n  '*':\n    - web\n");
    write(root, "_salt/web/init.sls", "nginx: pkg.installed\n");
    write(root, "_salt/.git/HEAD", "ref: refs/heads/main\n");
    write(root, "_salt/web/.svn/entries", "12\n");
    write(root, "src/main.py", "print('hi')\n");
    write(root, "bin/run.sh", "#!/bin/sh\necho run\n");
    make_executable(root, "bin/run.sh");
    write(root, "données/été.txt", "chaud\n");
    let long = format!("{}/{}.txt", "d".repeat(80), "f".repeat(90));
    write(root, &long, "long\n");
    write(root, ".hg/store", "x");
    write(root, "CVS/Root", "x");
    write(root, "_darcs/format", "x");
    write(root, ".bzr/branch-format", "x");
    #[cfg(unix)]
    std::os::unix::fs::symlink("main.py", root.join("src/link.py")).unwrap();
    dir
}

fn bundle(dir: &Path, args: &[&str]) -> Vec<Member> {
    // Outside the project, so that the fs scanner does not see it; one directory per call,
    // since the tests run in parallel.
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("bundle.tar");
    let output = run(spiro_deploy(dir).args(args).arg("--output").arg(&out));
    assert!(
        output.status.success(),
        "spiro-deploy failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    read_tar(&std::fs::read(&out).unwrap())
}

/// The standard error of a run that must have failed building the bundle (exit status 3).
/// Runs spiro-deploy in `dir` with `args`, writing the bundle of project `p`, deployment `d`
/// to standard output.
fn bundle_to_stdout(dir: &Path, args: &[&str]) -> std::process::Output {
    run(spiro_deploy(dir)
        .args(args)
        .args(["--output", "-", "p", "d"]))
}

fn bundle_failure(out: &std::process::Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn salt_directory_lands_at_the_root_without_vcs_metadata() {
    let dir = project();
    let members = bundle(dir.path(), &["p", "d"]);
    assert_eq!(names(&members), ["top.sls", "web/init.sls"]);
    let top = member(&members, "top.sls");
    assert_eq!(top.kind, '0');
    assert_eq!(top.mode, 0o644);
    assert_eq!(top.content, b"base:\n  '*':\n    - web\n");
    assert_eq!(top.owner, (0, 0, String::new(), String::new()));
}

#[test]
fn fs_source_has_clean_names_modes_links_and_no_vcs_metadata() {
    let dir = project();
    let members = bundle(dir.path(), &["--include-source=fs", "p", "d"]);
    let long = format!("_source/{}/{}.txt", "d".repeat(80), "f".repeat(90));
    let mut expected = vec![
        "top.sls",
        "web/init.sls",
        "_source/bin/run.sh",
        long.as_str(),
        "_source/données/été.txt",
        "_source/src/link.py",
        "_source/src/main.py",
    ];
    // Sorted bytewise within each directory: `bin` < `ddd…` < `données` < `src`.
    expected[2..].sort();
    assert_eq!(names(&members), expected);
    assert_eq!(member(&members, "_source/bin/run.sh").mode, 0o755);
    assert_eq!(member(&members, "_source/src/main.py").mode, 0o644);
    let link = member(&members, "_source/src/link.py");
    assert_eq!(link.kind, '2');
    assert_eq!(link.link.as_deref(), Some("main.py"));
    assert_eq!(member(&members, &long).content, b"long\n");
    assert_eq!(
        member(&members, "_source/données/été.txt").content,
        b"chaud\n"
    );
}

#[test]
fn filesystem_is_an_alias_of_fs() {
    let dir = project();
    let fs = bundle(dir.path(), &["--include-source=fs", "p", "d"]);
    let filesystem = bundle(dir.path(), &["--include-source=filesystem", "p", "d"]);
    assert_eq!(names(&fs), names(&filesystem));
}

#[test]
fn spiroignore_excludes_paths_from_the_fs_scanner() {
    let dir = project();
    write(dir.path(), ".spiroignore", "*.py\n/bin/\n");
    let members = bundle(dir.path(), &["--include-source=fs", "p", "d"]);
    let names = names(&members);
    assert!(names.contains(&"_source/.spiroignore"), "{names:?}");
    assert!(
        !names
            .iter()
            .any(|n| n.ends_with(".py") || n.starts_with("_source/bin")),
        "{names:?}"
    );
    assert!(names.contains(&"_source/données/été.txt"), "{names:?}");
}

#[test]
fn artifacts_go_under_artifacts_and_never_escape() {
    let dir = project();
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "app.tar", "binary");
    write(dir.path(), "build/eggs/egg.whl", "egg");
    write(dir.path(), "build/report.txt", "ok");
    let absolute = outside.path().join("app.tar");
    let members = bundle(
        dir.path(),
        &[
            "--artifact",
            "build/eggs",
            "--artifact",
            "./build/../build/report.txt",
            "--artifact",
            absolute.to_str().unwrap(),
            "p",
            "d",
        ],
    );
    assert_eq!(
        names(&members),
        [
            "top.sls",
            "web/init.sls",
            "_artifacts/build/eggs/egg.whl",
            "_artifacts/build/report.txt",
            "_artifacts/app.tar"
        ]
    );
    assert_eq!(member(&members, "_artifacts/app.tar").content, b"binary");
}

#[test]
fn same_tree_same_bytes_and_source_date_epoch_clamps_mtimes() {
    let dir = project();
    let run_once = || {
        let out = run(spiro_deploy(dir.path())
            .env("SOURCE_DATE_EPOCH", "1000")
            .args(["--include-source=fs", "--output", "-", "p", "d"]));
        assert!(out.status.success());
        out.stdout
    };
    let first = run_once();
    assert_eq!(first, run_once(), "two builds of the same tree differ");
    let members = read_tar(&first);
    assert!(members.iter().all(|m| m.mtime <= 1000), "{members:?}");
    assert!(
        members
            .iter()
            .all(|m| m.owner == (0, 0, String::new(), String::new()))
    );
}

#[test]
fn list_prints_the_names_without_writing_a_bundle() {
    let dir = project();
    let out = run(spiro_deploy(dir.path()).args(["--list", "--artifact", "src", "p", "d"]));
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "top.sls",
            "web/init.sls",
            "_artifacts/src/link.py",
            "_artifacts/src/main.py"
        ]
    );
}

#[test]
fn missing_salt_directory_warns_but_builds() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.txt", "a");
    let out = bundle_to_stdout(dir.path(), &["--include-source=fs"]);
    assert!(out.status.success());
    assert!(
        contains(&out.stderr, "warning: no `_salt` directory"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(names(&read_tar(&out.stdout)), ["_source/a.txt"]);
}

#[test]
fn missing_artifact_is_one_clear_error_and_leaves_no_output() {
    let dir = project();
    let out_file = dir.path().join("out.tar");
    let out = run(spiro_deploy(dir.path()).args([
        "--artifact",
        "build/nope.tar",
        "--output",
        "out.tar",
        "p",
        "d",
    ]));
    let stderr = bundle_failure(&out);
    assert!(
        stderr.starts_with("error: cannot read `build/nope.tar`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("help: check the path given to --artifact"),
        "{stderr}"
    );
    assert!(!out_file.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".spiro-bundle-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn unknown_scanner_lists_the_known_ones() {
    let dir = project();
    let out = bundle_to_stdout(dir.path(), &["--include-source=svn"]);
    let stderr = bundle_failure(&out);
    assert!(stderr.contains("`svn`"), "{stderr}");
    assert!(stderr.contains("fs") && stderr.contains("git"), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "nothing may be written before the plan is checked"
    );
}

#[test]
fn output_inside_the_tree_is_not_bundled_into_itself() {
    let dir = project();
    write(dir.path(), "dist/.keep", "");
    let out = run(spiro_deploy(dir.path()).args([
        "--include-source=fs",
        "--output",
        "dist/bundle.tar",
        "p",
        "d",
    ]));
    assert!(out.status.success());
    // A second run finds the first bundle in the tree and must pass over it too.
    let out = run(spiro_deploy(dir.path()).args([
        "--include-source=fs",
        "--output",
        "dist/bundle.tar",
        "p",
        "d",
    ]));
    assert!(out.status.success());
    let members = read_tar(&std::fs::read(dir.path().join("dist/bundle.tar")).unwrap());
    let names = names(&members);
    assert!(names.contains(&"_source/dist/.keep"), "{names:?}");
    assert!(!names.iter().any(|n| n.contains("bundle")), "{names:?}");
}

#[cfg(unix)]
#[test]
fn unreadable_file_names_the_path() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    let dir = project();
    // Root reads any file whatever its mode, so as root the tool runs as `nobody`, with the
    // rest of the tree opened up for it.
    let as_root = std::fs::metadata(dir.path()).unwrap().uid() == 0;
    for entry in walk(dir.path()) {
        let mode = if entry.is_dir() { 0o755 } else { 0o644 };
        if !entry.is_symlink() {
            std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    }
    write(dir.path(), "secret.key", "k");
    std::fs::set_permissions(
        dir.path().join("secret.key"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    let mut cmd = spiro_deploy(dir.path());
    if as_root {
        cmd.uid(65534).gid(65534);
    }
    let out = run(cmd.args(["--include-source=fs", "--output", "-", "p", "d"]));
    let stderr = bundle_failure(&out);
    assert!(stderr.starts_with("error: cannot read `"), "{stderr}");
    assert!(stderr.contains("secret.key`"), "{stderr}");
    assert!(
        stderr.contains("help: make the file readable, or leave it out with .spiroignore"),
        "{stderr}"
    );
}

fn walk(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![root.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        if out[i].is_dir() && !out[i].is_symlink() {
            for entry in std::fs::read_dir(&out[i]).unwrap() {
                out.push(entry.unwrap().path());
            }
        }
        i += 1;
    }
    out
}

// --- git ---

fn repository() -> tempfile::TempDir {
    let dir = project();
    let root = dir.path();
    for vcs in [
        ".hg",
        "CVS",
        "_darcs",
        ".bzr",
        "_salt/.git",
        "_salt/web/.svn",
    ] {
        std::fs::remove_dir_all(root.join(vcs)).unwrap();
    }
    git_init(root);
    write(root, "untracked-later.txt", "");
    std::fs::remove_file(root.join("untracked-later.txt")).unwrap();
    git_commit_all(root, "first");
    dir
}

#[test]
fn gitcommit_holds_head_and_git_describe_all() {
    let dir = repository();
    let root = dir.path();
    git(root, &["tag", "-a", "v1.0", "-m", "release"]);
    write(root, "src/new.py", "new\n");
    git_commit_all(root, "second");
    let head = git(root, &["rev-parse", "HEAD"]);
    git(root, &["checkout", "-q", "--detach", "HEAD"]);
    let describe = git(root, &["describe", "--all"]);
    let members = bundle(root, &["p", "d"]);
    assert_eq!(names(&members)[0], ".gitcommit");
    let content = String::from_utf8(member(&members, ".gitcommit").content.clone()).unwrap();
    // Byte for byte what spiro-deploy 0.4 writes: no newline after the describe line.
    assert_eq!(content, format!("{head}{}", describe.trim_end()));
    assert!(
        describe.starts_with("heads/main") || describe.starts_with("tags/v1.0-1-g"),
        "{describe}"
    );
}

#[test]
fn no_gitcommit_outside_a_repository() {
    let dir = project();
    let members = bundle(dir.path(), &["p", "d"]);
    assert!(!names(&members).contains(&".gitcommit"));
}

#[test]
fn a_ceiling_directory_not_above_the_repository_is_ignored_as_git_ignores_it() {
    // A CI job may set GIT_CEILING_DIRECTORIES for another checkout: git ignores an entry that
    // is not above the directory, and so must discovery here (gix would fail on it).
    let dir = repository();
    let elsewhere = tempfile::tempdir().unwrap();
    for source in ["--include-source=git", "--include-source=fs"] {
        let out_dir = tempfile::tempdir().unwrap();
        let out = out_dir.path().join("bundle.tar");
        let output = run(spiro_deploy(dir.path())
            .env("GIT_CEILING_DIRECTORIES", elsewhere.path())
            .args([source, "p", "d", "--output"])
            .arg(&out));
        assert_exit(&output, 0);
        let members = read_tar(&std::fs::read(&out).unwrap());
        assert!(names(&members).contains(&".gitcommit"), "{source}");
    }
}

#[test]
fn git_source_matches_the_head_commit() {
    let dir = repository();
    let root = dir.path();
    write(root, "uncommitted.txt", "not in HEAD\n");
    let members = bundle(root, &["--include-source=git", "p", "d"]);
    let source: Vec<&str> = names(&members)
        .into_iter()
        .filter(|n| n.starts_with("_source/"))
        .collect();
    // git archive includes the committed _salt; the bundle carries it at its root only.
    assert!(
        !source.iter().any(|n| n.starts_with("_source/_salt")),
        "{source:?}"
    );
    assert!(source.contains(&"_source/src/main.py"), "{source:?}");
    assert!(!source.contains(&"_source/uncommitted.txt"), "{source:?}");
    assert_eq!(member(&members, "_source/bin/run.sh").mode, 0o755);
    let link = member(&members, "_source/src/link.py");
    assert_eq!((link.kind, link.link.as_deref()), ('2', Some("main.py")));
    assert_eq!(
        member(&members, "_source/données/été.txt").content,
        b"chaud\n"
    );
}

/// A project with `_salt` below the top (left out of `_source/` by every scanner, as 0.4 does)
/// and committed files below VCS-metadata names (content for the git scanner, as for
/// `git archive`; left out by the fs scanner).
fn repository_with_nested_salt_and_vcs_names() -> tempfile::TempDir {
    let dir = repository();
    let root = dir.path();
    write(root, "docs/_salt/x.sls", "nested\n");
    write(root, "docs/readme.txt", "docs\n");
    write(root, ".hg/.keep", "");
    write(root, "fixtures/CVS/Root", "x\n");
    git_commit_all(root, "nested _salt and VCS names");
    dir
}

#[test]
fn no_source_path_has_a_salt_component() {
    let dir = repository_with_nested_salt_and_vcs_names();
    for scanner in ["git", "fs"] {
        let members = bundle(
            dir.path(),
            &[&format!("--include-source={scanner}"), "p", "d"],
        );
        let names = names(&members);
        assert!(
            names.contains(&"_source/docs/readme.txt"),
            "{scanner}: {names:?}"
        );
        assert!(
            !names
                .iter()
                .any(|n| n.starts_with("_source/") && n.split('/').any(|c| c == "_salt")),
            "{scanner}: {names:?}"
        );
        assert!(names.contains(&"top.sls"), "{scanner}: {names:?}");
    }
}

#[test]
fn committed_vcs_names_are_content_for_git_only() {
    let dir = repository_with_nested_salt_and_vcs_names();
    let git = bundle(dir.path(), &["--include-source=git", "p", "d"]);
    let git = names(&git);
    assert!(git.contains(&"_source/.hg/.keep"), "{git:?}");
    assert!(git.contains(&"_source/fixtures/CVS/Root"), "{git:?}");
    let fs = bundle(dir.path(), &["--include-source=fs", "p", "d"]);
    let fs = names(&fs);
    assert!(
        !fs.iter()
            .any(|n| n.contains(".hg") || n.contains("CVS") || n.contains(".git/")),
        "{fs:?}"
    );
}

#[test]
fn include_source_takes_a_scanner_name_after_a_space_as_04_does() {
    let dir = repository();
    write(dir.path(), "uncommitted.txt", "x");
    // `fs` names a scanner: taken as METHOD (it used to be taken as PROJECT, listing git).
    let out = run(spiro_deploy(dir.path()).args(["--list", "--include-source", "fs"]));
    assert!(out.status.success());
    assert!(contains(&out.stdout, "_source/uncommitted.txt"));
    let with_space = bundle(dir.path(), &["--include-source", "git", "p", "d"]);
    assert!(names(&with_space).contains(&"_source/src/main.py"));
    assert!(!names(&with_space).contains(&"_source/uncommitted.txt"));
    // Any other word is PROJECT, and the flag is the bare form.
    let bare = bundle(dir.path(), &["--include-source", "myproject", "staging"]);
    assert!(names(&bare).contains(&"_source/src/main.py"));
}

#[test]
fn include_source_takes_a_plugin_name_or_library_path_after_a_space() {
    let dir = project();
    let plugins = tempfile::tempdir().unwrap();
    // Not a real library: that it is reported as the plugin proves the word was taken as METHOD.
    write(plugins.path(), "libspiro_scanner_fake.so", "not a library");
    let out = run(spiro_deploy(dir.path())
        .env("SPIRO_PLUGIN_PATH", plugins.path())
        .args(["--list", "--include-source", "fake"]));
    let stderr = bundle_failure(&out);
    assert!(stderr.contains("libspiro_scanner_fake.so"), "{stderr}");
    let library = plugins.path().join("libspiro_scanner_fake.so");
    let out = run(spiro_deploy(dir.path())
        .args(["--list", "--include-source"])
        .arg(&library));
    let stderr = bundle_failure(&out);
    assert!(stderr.contains("libspiro_scanner_fake.so"), "{stderr}");
    // Without the library on the search path, `fake` is PROJECT.
    let out = run(spiro_deploy(dir.path()).args(["--list", "--include-source", "fake", "d"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bare_include_source_picks_git_in_a_repository_and_fs_elsewhere() {
    let dir = repository();
    write(dir.path(), "uncommitted.txt", "x");
    let in_repo = bundle(dir.path(), &["--include-source", "p", "d"]);
    assert!(!names(&in_repo).contains(&"_source/uncommitted.txt"));
    let plain = project();
    write(plain.path(), "uncommitted.txt", "x");
    let elsewhere = bundle(plain.path(), &["--include-source", "p", "d"]);
    assert!(names(&elsewhere).contains(&"_source/uncommitted.txt"));
}

#[test]
fn git_source_outside_a_repository_is_an_error() {
    let dir = project();
    let out = bundle_to_stdout(dir.path(), &["--include-source=git"]);
    let stderr = bundle_failure(&out);
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains("not inside a git repository"), "{stderr}");
    assert!(stderr.contains("--include-source=fs"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn git_source_without_a_commit_is_an_error() {
    let dir = project();
    git_init(dir.path());
    let out = bundle_to_stdout(dir.path(), &["--include-source=git"]);
    let stderr = bundle_failure(&out);
    assert!(stderr.contains("commit"), "{stderr}");
    assert!(stderr.contains("no commit yet"), "{stderr}");
    assert!(
        stderr.contains("make a first commit or use --include-source=fs"),
        "{stderr}"
    );
}

#[test]
fn composed_scanners_refuse_duplicate_names() {
    let dir = repository();
    let out = bundle_to_stdout(dir.path(), &["--include-source=git", "--include-source=fs"]);
    let stderr = bundle_failure(&out);
    assert!(
        stderr.contains("scanner `git`") && stderr.contains("scanner `fs`"),
        "{stderr}"
    );
}

#[test]
fn help_explains_every_option() {
    let out = run(spiro_deploy(Path::new(".")).arg("--help"));
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for option in [
        "--artifact",
        "--include-source",
        "--highstate",
        "--no-highstate",
        "--server",
        "--token",
        "--ssl-cert",
        "--insecure",
        "--output",
        "--list",
        "SPIRO_URL",
        "SPIRO_TOKEN",
        "https://salt:4510/",
    ] {
        assert!(
            help.contains(option),
            "--help does not mention {option}:\n{help}"
        );
    }
}

#[cfg(unix)]
#[test]
fn a_reader_that_stops_early_ends_the_listing_quietly() {
    use std::process::Stdio;
    let dir = project();
    for i in 0..5000 {
        write(dir.path(), format!("many/file-{i:05}.txt"), "x");
    }
    let mut child = spiro_deploy(dir.path())
        .args(["--include-source=fs", "--list", "p", "d"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line, then close the pipe, as `| head -1` does.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 8];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !contains(&out.stderr, "error"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg(unix)]
#[test]
fn nothing_is_bundled_through_a_symlink_of_the_bundle() {
    // `_salt/_artifacts -> …` lands at the bundle root as `_artifacts`; an artifact would then
    // be extracted through it, outside the deployment on the master. Refused even where links
    // out of the bundle are allowed.
    let dir = project();
    std::os::unix::fs::symlink("../../../../etc", dir.path().join("_salt/_artifacts")).unwrap();
    write(dir.path(), "app.bin", "binary");
    let out = run(spiro_deploy(dir.path()).args([
        "--allow-symlinks-out",
        "--artifact",
        "app.bin",
        "--output",
        "out.tar",
        "p",
        "d",
    ]));
    let stderr = bundle_failure(&out);
    assert!(
        stderr.starts_with("error: `_artifacts/app.bin` (the artifact `"),
        "{stderr}"
    );
    assert!(
        stderr.contains("cannot be bundled: `_artifacts` (the salt directory `"),
        "{stderr}"
    );
    assert!(!dir.path().join("out.tar").exists());
}

#[test]
fn a_bundle_written_into_salt_or_an_artifact_directory_stays_out_of_itself() {
    for output in ["dist/bundle.tar", "_salt/bundle.tar"] {
        let dir = project();
        write(dir.path(), "dist/app.whl", "wheel");
        for _ in 0..2 {
            // The second run finds the first run's bundle in the tree.
            let out = run(spiro_deploy(dir.path()).args([
                "--artifact",
                "dist",
                "--output",
                output,
                "p",
                "d",
            ]));
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let members = read_tar(&std::fs::read(dir.path().join(output)).unwrap());
        let names = names(&members);
        assert!(names.contains(&"_artifacts/dist/app.whl"), "{names:?}");
        assert!(
            !names
                .iter()
                .any(|n| n.contains("bundle") || n.contains(".spiro-bundle-")),
            "{names:?}"
        );
    }
}

#[test]
fn version_control_metadata_named_as_an_artifact_is_refused() {
    let dir = repository();
    let out = bundle_to_stdout(dir.path(), &["--artifact", ".git/config"]);
    let stderr = bundle_failure(&out);
    assert!(
        stderr.starts_with("error: the artifact `.git/config` is version-control metadata"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[cfg(unix)]
#[test]
fn a_bundle_cut_short_by_a_closed_pipe_is_a_failure() {
    use std::process::Stdio;
    let dir = project();
    write(dir.path(), "big.bin", vec![7u8; 4 << 20]);
    let mut child = spiro_deploy(dir.path())
        .args(["--artifact", "big.bin", "--output", "-", "p", "d"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let stderr = bundle_failure(&child.wait_with_output().unwrap());
    assert!(
        stderr.contains("error: standard output was closed before the bundle was complete"),
        "{stderr}"
    );
}
