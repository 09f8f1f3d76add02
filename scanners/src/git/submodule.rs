//! Submodules (`submodules=true`): finding the repository of a gitlink, as git finds it.
//!
//! A gitlink (mode `160000`) is a commit id in the superproject's tree. Its repository is
//! found the way `git submodule` lays it out: the submodule's name is read from the
//! `.gitmodules` of the superproject's commit (`submodule.<name>.path`), and its git
//! directory is `$GIT_DIR/modules/<name>` (or the same in the common directory, for a linked
//! work tree; for a nested submodule, below its parent's git directory:
//! `.git/modules/a/modules/b`). Failing that, the submodule's work tree
//! is asked: a `.git` directory there (an old-style clone) or a `.git` file pointing elsewhere.
//! The first of these that holds the pinned commit is used.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use gix::ObjectId;
use gix::bstr::{BStr, ByteSlice};
use spiro_scanner::Error;

use super::GitError;
use crate::repo::{SCANNER, open_submodule};

/// The `.gitmodules` of one commit: submodule paths (from the repository's root) to names.
#[derive(Debug, Default)]
pub(super) struct Modules {
    names: HashMap<Vec<u8>, Vec<u8>>,
}

impl Modules {
    /// Parses a `.gitmodules` file (git's config syntax). Sections without a `path`, and names
    /// git would refuse (`..` components), are left out: such a submodule is looked for in its
    /// work tree only.
    pub(super) fn parse(data: &[u8]) -> Result<Modules, Error> {
        let meta = gix::config::file::Metadata::api();
        let file = gix::config::File::from_bytes_no_includes(data, meta, Default::default())
            .map_err(|e| Error::scanner_with(SCANNER, "cannot parse `.gitmodules`", e))?;
        let mut names = HashMap::new();
        for section in file.sections_by_name("submodule").into_iter().flatten() {
            let Some(name) = section.header().subsection_name() else {
                continue;
            };
            if gix::validate::submodule::name(name).is_err() {
                continue;
            }
            if let Some(path) = section.value("path") {
                let path = path.trim_end_with(|c| c == '/');
                names.insert(path.to_vec(), name.to_vec());
            }
        }
        Ok(Modules { names })
    }

    /// The name of the submodule at `path`.
    pub(super) fn name(&self, path: &[u8]) -> Option<&BStr> {
        self.names.get(path).map(|name| name.as_bstr())
    }
}

/// Where to look for one submodule's repository.
pub(super) struct Lookup<'a> {
    /// The git directories of the repository whose tree holds the gitlink, where `modules/`
    /// lives: its own, then its common one (they differ in a linked work tree, and git
    /// versions have put submodules in either).
    pub(super) parent_git_dirs: [&'a Path; 2],
    /// The submodule's name in that repository's `.gitmodules`, if it has one.
    pub(super) name: Option<&'a BStr>,
    /// Where its work tree would be checked out, if the top repository has a work tree.
    pub(super) work_tree: Option<PathBuf>,
    /// The submodule's path in the bundle's tree, for errors.
    pub(super) display: &'a str,
    /// Whether the gitlink is inside another submodule (the advice then says `--recursive`).
    pub(super) nested: bool,
}

impl Lookup<'_> {
    /// Opens the submodule's repository, one that holds `pinned`, with the commit's tree.
    pub(super) fn open(&self, pinned: ObjectId) -> Result<(gix::Repository, ObjectId), Error> {
        let mut found_any = false;
        for git_dir in self.candidates() {
            if !git_dir.is_dir() {
                continue;
            }
            let repo = open_submodule(&git_dir)?;
            found_any = true;
            let Ok(commit) = repo.find_commit(pinned) else {
                continue;
            };
            let tree = commit.tree_id().map_err(|e| {
                Error::scanner_with(
                    SCANNER,
                    format!(
                        "cannot read the tree of commit {pinned} of the submodule `{}`",
                        self.display
                    ),
                    e,
                )
            })?;
            let tree = tree.detach();
            drop(commit);
            return Ok((repo, tree));
        }
        let path = self.display.to_owned();
        Err(if found_any {
            GitError::SubmoduleCommitMissing {
                path,
                commit: pinned.to_string(),
                nested: self.nested,
            }
        } else {
            GitError::SubmoduleNotInitialized {
                path,
                nested: self.nested,
            }
        }
        .into())
    }

    /// The git directories that may be the submodule's, in the order git would use them.
    fn candidates(&self) -> Vec<PathBuf> {
        let mut candidates = Vec::new();
        if let Some(name) = self.name.and_then(|name| gix::path::from_bstr(name).ok()) {
            for git_dir in self.parent_git_dirs {
                let modules = git_dir.join("modules").join(&name);
                if !candidates.contains(&modules) {
                    candidates.push(modules);
                }
            }
        }
        if let Some(work_tree) = &self.work_tree {
            let dot_git = work_tree.join(".git");
            if dot_git.is_file() {
                if let Ok(git_dir) = gix::discover::path::from_gitdir_file(&dot_git) {
                    candidates.push(git_dir);
                }
            } else {
                candidates.push(dot_git);
            }
        }
        candidates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitmodules_map_paths_to_names() {
        let modules = Modules::parse(
            br#"[submodule "lib"]
	path = vendor/lib
	url = https://example.invalid/lib.git
[submodule "evil"]
	path = x
[submodule "../../escape"]
	path = y
[submodule "nopath"]
	url = z
"#,
        )
        .unwrap();
        assert_eq!(modules.name(b"vendor/lib"), Some(BStr::new("lib")));
        assert_eq!(modules.name(b"x"), Some(BStr::new("evil")));
        assert_eq!(modules.name(b"y"), None, "a name climbing out is refused");
        assert_eq!(modules.name(b"nopath"), None);
        assert!(Modules::parse(b"[submodule \"a\"\n").is_err());
    }
}
