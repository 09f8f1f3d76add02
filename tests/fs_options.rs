//! `--include-source=fs,gitignore`: the `fs` scanner's option from the command line, with
//! git's global excludes file found through `HOME` and `XDG_CONFIG_HOME` set for the run.

use std::path::Path;
use std::process::Command;

use spiro_tests::*;

spiro_tests::spiro_deploy_binary!();

/// A project with `.gitignore` files at two depths (not a repository: the files in the tree
/// apply anyway, as `tests` in the scanner crate show for a work tree).
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "_salt/top.sls", "base: {}\n");
    write(root, ".gitignore", "*.log\nbuild/\n");
    write(root, "src/.gitignore", "!keep.log\ngenerated.py\n");
    for file in [
        "main.py",
        "debug.log",
        "build/out.bin",
        "src/app.py",
        "src/keep.log",
        "src/other.log",
        "src/generated.py",
        "editor.swp",
        "src/editor.swp",
    ] {
        write(root, file, "x\n");
    }
    dir
}

/// `spiro-deploy` in `dir` with a home of its own (`home`), no git configuration from the
/// machine, and `XDG_CONFIG_HOME` as given.
fn isolated(dir: &Path, home: &Path, xdg_config_home: Option<&Path>) -> Command {
    let mut cmd = spiro_deploy(dir);
    cmd.env("HOME", home)
        .env_remove("GIT_CONFIG_GLOBAL")
        .env("GIT_CONFIG_SYSTEM", home.join("no-system-config"));
    match xdg_config_home {
        Some(config) => cmd.env("XDG_CONFIG_HOME", config),
        None => cmd.env_remove("XDG_CONFIG_HOME"),
    };
    cmd
}

/// The `_source/` names `--list` prints.
fn listed_sources(output: &std::process::Output) -> Vec<String> {
    assert_exit(output, 0);
    stdout(output)
        .lines()
        .filter_map(|line| line.trim().strip_prefix("_source/"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn gitignore_leaves_out_what_gitignore_files_and_the_xdg_global_excludes_file_ignore() {
    let dir = project();
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("config");
    write(&config, "git/ignore", "*.swp\n");
    let out = run(isolated(dir.path(), home.path(), Some(&config))
        .args(["--list", "--include-source=fs,gitignore"]));
    assert_eq!(
        listed_sources(&out),
        [
            ".gitignore",
            "main.py",
            "src/.gitignore",
            "src/app.py",
            "src/keep.log"
        ]
    );
}

#[test]
fn the_global_excludes_file_defaults_to_home_config_and_follows_core_excludesfile() {
    let dir = project();
    let home = tempfile::tempdir().unwrap();
    write(home.path(), ".config/git/ignore", "*.swp\n");
    let out = run(isolated(dir.path(), home.path(), None)
        .args(["--list", "--include-source=fs,gitignore=true"]));
    let listed = listed_sources(&out);
    assert!(
        !listed.iter().any(|name| name.ends_with(".swp")),
        "{listed:?}"
    );

    write(
        home.path(),
        ".gitconfig",
        "[core]\n\texcludesFile = ~/my-excludes\n",
    );
    write(home.path(), "my-excludes", "main.py\n");
    let out =
        run(isolated(dir.path(), home.path(), None)
            .args(["--list", "--include-source=fs,gitignore"]));
    let listed = listed_sources(&out);
    assert!(!listed.contains(&"main.py".to_owned()), "{listed:?}");
    assert!(
        listed.contains(&"editor.swp".to_owned()),
        "core.excludesFile replaces the default file: {listed:?}"
    );
}

#[test]
fn without_gitignore_every_file_is_bundled_as_before() {
    let dir = project();
    let home = tempfile::tempdir().unwrap();
    write(home.path(), ".config/git/ignore", "*.swp\n");
    for spec in ["--include-source=fs", "--include-source=fs,gitignore=false"] {
        let out = run(isolated(dir.path(), home.path(), None).args(["--list", spec]));
        assert_eq!(listed_sources(&out).len(), 11, "{spec}");
    }
}

#[test]
fn an_invalid_gitignore_fails_the_build_naming_the_file() {
    let dir = project();
    write(dir.path(), "src/.gitignore", "ok\n[unclosed\n{a,b\n");
    let home = tempfile::tempdir().unwrap();
    let out = run(isolated(dir.path(), home.path(), None).args([
        "--include-source=fs,gitignore",
        "--output",
        "-",
        "p",
        "d",
    ]));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("src/.gitignore") && err.contains("line 3"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_value_that_is_not_a_boolean_is_a_usage_error() {
    let dir = project();
    let out = run(spiro_deploy(dir.path()).args(["--list", "--include-source=fs,gitignore=maybe"]));
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("gitignore"), "{}", stderr(&out));
}
