//! Fixtures for the `git` scanner's options: submodules (made with the real `git`) and Git LFS
//! pointers and objects (written by hand: git-lfs is not needed, and the tool never runs it).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::git::Fixture;

/// A new repository `name` on branch `main` in the fixture's temporary directory (beside its
/// work tree), without commits: the origin of a submodule.
pub fn origin(fx: &Fixture, name: &str) -> PathBuf {
    let dir = fx.tmp.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    fx.git_in(&dir, &["init", "-q", "-b", "main", "."]);
    dir
}

/// Writes `files` in the work tree `dir` and commits everything there; returns the commit.
pub fn commit_in(fx: &Fixture, dir: &Path, files: &[(&str, &str)], message: &str) -> String {
    for (path, content) in files {
        let full = dir.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }
    fx.git_in(dir, &["add", "-A"]);
    fx.git_in(dir, &["commit", "-q", "--allow-empty", "-m", message]);
    fx.git_in(dir, &["rev-parse", "HEAD"]).trim().to_owned()
}

/// `git submodule add` of the local repository `origin` at `path` of the work tree `dir`
/// (local clones need the file transport, which git refuses by default since 2.38).
pub fn add_submodule(fx: &Fixture, dir: &Path, origin: &Path, path: &str) {
    fx.git_in(
        dir,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            origin.to_str().unwrap(),
            path,
        ],
    );
}

/// Runs git with the file transport allowed (for `submodule update`, `clone`).
pub fn git_with_file_transport(fx: &Fixture, dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["-c", "protocol.file.allow=always"];
    all.extend_from_slice(args);
    fx.git_in(dir, &all)
}

/// A clone of the fixture's repository at `clone` in its temporary directory, its submodules
/// left uninitialised; returns its path.
pub fn clone_without_submodules(fx: &Fixture, clone: &str) -> PathBuf {
    let path = fx.tmp.path().join(clone);
    git_with_file_transport(
        fx,
        fx.tmp.path(),
        &[
            "clone",
            "-q",
            fx.root.to_str().unwrap(),
            path.to_str().unwrap(),
        ],
    );
    path
}

/// The SHA-256 of `content`, as LFS names objects.
pub fn lfs_oid(content: &[u8]) -> String {
    Sha256::digest(content)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The pointer file git-lfs writes for `content`.
pub fn lfs_pointer(content: &[u8]) -> String {
    format!(
        "version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize {}\n",
        lfs_oid(content),
        content.len()
    )
}

/// Stores `stored` as the LFS object named by `content`'s hash in the store of the git
/// directory `git_dir` (`git_dir/lfs/objects/ab/cd/abcd…`); pass the same bytes twice for a
/// good object, others for a corrupt one. Returns the object's path.
pub fn store_lfs_object(git_dir: &Path, content: &[u8], stored: &[u8]) -> PathBuf {
    let oid = lfs_oid(content);
    let path = git_dir
        .join("lfs/objects")
        .join(&oid[0..2])
        .join(&oid[2..4])
        .join(&oid);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, stored).unwrap();
    path
}
