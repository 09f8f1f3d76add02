//! What is never bundled, in one place: the builder's own walks and the CLI both ask here.

use std::path::Path;

use spiro_scanner::{Candidate, os_bytes};

/// Directory names that hold version-control metadata. They are never bundled: they can be
/// large, they may hold credentials (`.git/config`), and Salt has no use for them.
pub const VCS_DIRS: &[&str] = &[".git", ".hg", ".svn", ".bzr", "CVS", "_darcs"];

/// The project's Salt states: bundled at the bundle root, so never again as source.
pub const SALT_DIR: &str = "_salt";

/// Whether a single path component is version-control metadata (see [`VCS_DIRS`]).
pub fn is_vcs_metadata(component: &[u8]) -> bool {
    VCS_DIRS.iter().any(|d| d.as_bytes() == component)
}

/// Whether any component of `path` is version-control metadata: `.git/config` is, and so is
/// `.git` itself.
pub fn is_in_vcs_metadata(path: &Path) -> bool {
    path.components()
        .any(|c| is_vcs_metadata(os_bytes(c.as_os_str())))
}

/// Whether `path` is, or is inside, version-control metadata, by its name or by what it
/// resolves to: `build-meta` that links to `.git`, or `build-meta/config` through it, is. The
/// lexical check alone would let a link smuggle `.git/config` (and the credentials it can hold)
/// into a bundle. A path that cannot be resolved (it does not exist) is judged by its name;
/// opening it fails anyway.
pub fn resolves_into_vcs_metadata(path: &Path) -> bool {
    is_in_vcs_metadata(path)
        || path
            .canonicalize()
            .is_ok_and(|resolved| is_in_vcs_metadata(&resolved))
}

/// A `should_skip` that leaves out version-control metadata (a directory or file so named,
/// and so everything below such a directory).
pub fn skip_vcs_metadata(candidate: &Candidate<'_>) -> bool {
    candidate
        .path
        .file_name()
        .is_some_and(|name| is_vcs_metadata(os_bytes(name)))
}
