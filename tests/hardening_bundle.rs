//! The bundle's part of the hardening audit (issue 10), through the command line: what
//! `spiro-deploy` refuses to put in a bundle.

use spiro_tests::*;

spiro_tests::spiro_deploy_binary!();

// Finding 3: a symlink out of the bundle was bundled as it is, and SpiroFS's fileserver
// follows it.

#[cfg(unix)]
#[test]
fn a_symlink_out_of_the_bundle_is_refused_naming_it_its_target_and_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "_salt/top.sls", "base: {}\n");
    std::os::unix::fs::symlink(
        "/etc/salt/pki/master/master.pem",
        dir.path().join("_salt/key"),
    )
    .unwrap();
    let output = run(spiro_deploy(dir.path()).args(["--output", "-"]));
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(output.stdout.is_empty(), "a bundle was written");
    let text = stderr(&output);
    assert!(
        text.contains("`key` -> `/etc/salt/pki/master/master.pem`"),
        "{text}"
    );
    assert!(text.contains("--allow-symlinks-out"), "{text}");

    let output = run(spiro_deploy(dir.path()).args(["--output", "-", "--allow-symlinks-out"]));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let members = read_tar(&output.stdout);
    assert!(names(&members).contains(&"key"));
}

// Finding 7: `--artifact build-meta`, a link to `.git`, bundled `.git/config`.

#[cfg(unix)]
#[test]
fn an_artifact_that_resolves_into_version_control_metadata_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "_salt/top.sls", "base: {}\n");
    write(dir.path(), ".git/config", "[remote]\nsecret-token\n");
    std::os::unix::fs::symlink(".git", dir.path().join("build-meta")).unwrap();
    for artifact in ["build-meta", "build-meta/config", "./build-meta/"] {
        let output = run(spiro_deploy(dir.path()).args(["--artifact", artifact, "--output", "-"]));
        assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
        let text = stderr(&output);
        assert!(text.contains("version-control metadata"), "{text}");
        assert!(
            !output.stdout.windows(12).any(|w| w == b"secret-token"),
            "{artifact}: .git/config was bundled"
        );
    }
}
