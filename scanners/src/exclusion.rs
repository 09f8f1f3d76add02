//! What is never bundled, in one place: the builder's own walks and the CLI both ask here.
//!
//! Two rules, as spiro-deploy 0.4 has them (its `should_skip` tests every path component):
//!
//! - `_salt`: no path under `_source/` has a component named `_salt`, whatever scanner made it
//!   (plugins included): the project's states travel at the bundle root, and a nested
//!   `docs/_salt/` is left out as 0.4 leaves it out;
//! - version-control metadata ([`VCS_DIRS`]): left out of every file-system walk (`_salt`,
//!   artifact directories, the `fs` scanner, plugins). A commit's content (the `git` scanner,
//!   see [`Scanner::yields_commit_content`]) is bundled as committed, as `git archive` and 0.4
//!   do: a committed `.hg/.keep` is content. `.git` itself cannot be committed.

use std::path::Path;

use spiro_scanner::{Candidate, Scanner, ShouldSkip, os_bytes};

/// Directory names that hold version-control metadata. They are never bundled from a
/// file-system walk: they can be large, they may hold credentials (`.git/config`), and Salt has
/// no use for them.
pub const VCS_DIRS: &[&str] = &[".git", ".hg", ".svn", ".bzr", "CVS", "_darcs"];

/// The project's Salt states: bundled at the bundle root, so never again as source, at any
/// depth.
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

/// A `should_skip` that leaves out anything named `_salt` ([`SALT_DIR`]), and so everything
/// below a directory so named.
pub fn skip_salt(candidate: &Candidate<'_>) -> bool {
    candidate
        .path
        .file_name()
        .is_some_and(|name| os_bytes(name) == SALT_DIR.as_bytes())
}

/// The `should_skip` for a source scanned from the file system: `_salt` and version-control
/// metadata at any depth.
pub fn skip_walked_source(candidate: &Candidate<'_>) -> bool {
    skip_salt(candidate) || skip_vcs_metadata(candidate)
}

/// The `should_skip` for a source that is a commit's content: `_salt` at any depth only.
pub fn skip_committed_source(candidate: &Candidate<'_>) -> bool {
    skip_salt(candidate)
}

/// The policy for what `scanner` yields under `_source/`: [`skip_committed_source`] for a
/// scanner that [yields a commit's content](Scanner::yields_commit_content), otherwise
/// [`skip_walked_source`].
pub fn source_policy(scanner: &dyn Scanner) -> &'static ShouldSkip<'static> {
    if scanner.yields_commit_content() {
        &skip_committed_source
    } else {
        &skip_walked_source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> Candidate<'_> {
        Candidate {
            path: Path::new(path),
            is_dir: false,
        }
    }

    #[test]
    fn salt_is_skipped_by_name_at_any_depth() {
        assert!(skip_salt(&file("_salt")));
        assert!(skip_salt(&file("docs/_salt")));
        assert!(!skip_salt(&file("docs/_salted")));
        assert!(!skip_salt(&file("salt")));
    }

    #[test]
    fn only_walked_sources_skip_vcs_metadata() {
        for name in VCS_DIRS {
            assert!(skip_walked_source(&file(name)), "{name}");
            assert!(!skip_committed_source(&file(name)), "{name}");
        }
        assert!(skip_walked_source(&file("a/_salt")));
        assert!(skip_committed_source(&file("a/_salt")));
        assert!(!skip_walked_source(&file("a/b")));
    }
}
