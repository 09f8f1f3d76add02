//! The SpiroFS bundle layout: where each kind of content goes, and the safe name of an
//! artifact.

use std::path::{Component, Path};

use spiro_scanner::{EntryName, os_bytes};
use spiro_scanners::GitCommit;

/// The top-level directory for artifacts.
pub const ARTIFACTS_DIR: &str = "_artifacts";
/// The top-level directory for source code.
pub const SOURCE_DIR: &str = "_source";
/// The name of the commit file at the bundle root.
pub const GITCOMMIT_FILE: &str = ".gitcommit";

/// `name` under `dir`, one of the layout's constant directories.
pub(super) fn under(dir: &str, name: &EntryName) -> EntryName {
    top(dir).join(name)
}

/// One of the layout's constant names as an [`EntryName`].
pub(super) fn top(name: &str) -> EntryName {
    EntryName::new(name).expect("the layout's names are valid")
}

/// What `.gitcommit` holds, byte for byte what spiro-deploy 0.4 writes: the hash, a newline,
/// and what `git describe --all` prints without its final newline, with no newline at the end
/// of the file (0.4 joins the two stripped outputs with one `\n`). When describe prints
/// nothing, that is the hash and its newline alone.
pub(super) fn gitcommit_content(commit: &GitCommit) -> String {
    format!("{}\n{}", commit.hash, commit.describe)
}

/// The safe bundle name for an artifact path, under `_artifacts/`.
///
/// The path is normalised lexically (`./a`, `a/./b`, `a/../b` fold away). A relative path that
/// stays inside the working directory keeps its shape; an absolute path or one that climbs out
/// with `..` keeps only its file name, so nothing can land outside `_artifacts/`.
///
/// ```
/// use spiro_bundle::artifact_name;
/// use std::path::Path;
/// assert_eq!(artifact_name(Path::new("build/eggs")).unwrap().to_string(), "build/eggs");
/// assert_eq!(artifact_name(Path::new("./build/../dist/app.tar")).unwrap().to_string(), "dist/app.tar");
/// assert_eq!(artifact_name(Path::new("/tmp/out/app.tar")).unwrap().to_string(), "app.tar");
/// assert_eq!(artifact_name(Path::new("../sibling/app.tar")).unwrap().to_string(), "app.tar");
/// assert!(artifact_name(Path::new("..")).is_none());
/// ```
pub fn artifact_name(path: &Path) -> Option<EntryName> {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    let mut escapes = false;
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    escapes = true;
                }
            }
            Component::RootDir | Component::Prefix(_) => escapes = true,
        }
    }
    if escapes {
        let last = path.components().next_back()?;
        let Component::Normal(file_name) = last else {
            return None;
        };
        return EntryName::new(os_bytes(file_name)).ok();
    }
    let joined: Vec<u8> = parts
        .iter()
        .map(|p| os_bytes(p))
        .collect::<Vec<_>>()
        .join(&b'/');
    EntryName::new(joined).ok()
}
