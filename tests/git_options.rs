//! `--include-source=git,submodules,lfs`: the git scanner's options from the command line,
//! on repositories made by git (LFS pointers and objects written by hand; the tool runs
//! neither git nor git-lfs: its `PATH` holds neither).

use std::path::Path;

use spiro_tests::git::Fixture;
use spiro_tests::git_extras::{
    add_submodule, clone_without_submodules, commit_in, git_with_file_transport, lfs_pointer,
    origin, store_lfs_object,
};
use spiro_tests::*;

spiro_tests::spiro_deploy_binary!();

const ASSET: &[u8] = b"the asset's real content\n";

/// A project whose submodule `vendor/lib` is pinned at v1 while v2 is checked out, with an
/// LFS file `assets/logo.bin` whose object is in the store.
fn project() -> Fixture {
    let fx = Fixture::init();
    let lib = origin(&fx, "lib");
    commit_in(&fx, &lib, &[("lib.sls", "lib: v1\n")], "v1");
    fx.write("_salt/top.sls", "base: {}\n");
    fx.write(
        ".gitattributes",
        "*.bin filter=lfs diff=lfs merge=lfs -text\n",
    );
    fx.write("assets/logo.bin", lfs_pointer(ASSET));
    add_submodule(&fx, &fx.root, &lib, "vendor/lib");
    fx.commit("project");
    commit_in(&fx, &lib, &[("lib.sls", "lib: v2\n")], "v2");
    git_with_file_transport(
        &fx,
        &fx.root.join("vendor/lib"),
        &["pull", "-q", "origin", "main"],
    );
    store_lfs_object(&fx.root.join(".git"), ASSET, ASSET);
    fx
}

fn bundle(dir: &Path, source: &str) -> Vec<Member> {
    let out = run(spiro_deploy(dir).args([source, "--output", "-", "p", "d"]));
    assert_exit(&out, 0);
    read_tar(&out.stdout)
}

#[test]
fn submodules_and_lfs_objects_are_bundled_when_asked_for() {
    let fx = project();
    let members = bundle(&fx.root, "--include-source=git,submodules,lfs");
    assert_eq!(
        member(&members, "_source/vendor/lib/lib.sls").content,
        b"lib: v1\n",
        "the pinned commit, not the checkout"
    );
    assert_eq!(member(&members, "_source/assets/logo.bin").content, ASSET);

    let listed =
        run(spiro_deploy(&fx.root).args(["--list", "--include-source=git,submodules,lfs"]));
    assert_exit(&listed, 0);
    let listed = stdout(&listed);
    assert!(listed.contains("_source/vendor/lib/lib.sls"), "{listed}");
    assert!(listed.contains("_source/assets/logo.bin"), "{listed}");
}

#[test]
fn without_the_options_the_bundle_is_git_archives() {
    let fx = project();
    let members = bundle(&fx.root, "--include-source=git");
    assert!(
        !names(&members)
            .iter()
            .any(|n| n.starts_with("_source/vendor/lib/")),
        "{:?}",
        names(&members)
    );
    assert_eq!(
        member(&members, "_source/assets/logo.bin").content,
        lfs_pointer(ASSET).as_bytes()
    );
    let explicit = bundle(&fx.root, "--include-source=git,submodules=false,lfs=false");
    assert_eq!(names(&explicit), names(&members));
}

#[test]
fn an_uninitialised_submodule_fails_the_bundle_saying_what_to_run() {
    let fx = project();
    let clone = clone_without_submodules(&fx, "clone");
    let out = run(spiro_deploy(&clone).args([
        "--include-source=git,submodules",
        "--output",
        "-",
        "p",
        "d",
    ]));
    assert_exit(&out, 3);
    let stderr = stderr(&out);
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains("`vendor/lib`"), "{stderr}");
    assert!(stderr.contains("git submodule update --init"), "{stderr}");
    let listed = run(spiro_deploy(&clone).args(["--list", "--include-source=git,submodules"]));
    assert_exit(&listed, 3);
}

#[test]
fn a_missing_lfs_object_fails_the_bundle_saying_what_to_run() {
    let fx = project();
    std::fs::remove_dir_all(fx.root.join(".git/lfs")).unwrap();
    let out =
        run(spiro_deploy(&fx.root).args(["--include-source=git,lfs", "--output", "-", "p", "d"]));
    assert_exit(&out, 3);
    let stderr = stderr(&out);
    assert!(stderr.contains("`assets/logo.bin`"), "{stderr}");
    assert!(stderr.contains("git lfs fetch"), "{stderr}");
}

#[test]
fn a_corrupt_lfs_object_fails_the_bundle() {
    let fx = project();
    let object = store_lfs_object(&fx.root.join(".git"), ASSET, ASSET);
    let mut corrupt = ASSET.to_vec();
    corrupt[3] ^= 0x20;
    std::fs::write(object, corrupt).unwrap();
    let out =
        run(spiro_deploy(&fx.root).args(["--include-source=git,lfs", "--output", "-", "p", "d"]));
    assert_exit(&out, 3);
    let stderr = stderr(&out);
    assert!(
        stderr.contains("`assets/logo.bin`") && stderr.contains("corrupt"),
        "{stderr}"
    );
}
