//! The `fs` scanner's walk: the directory tree in sorted order, less what is left out
//! (excluded paths, `.spiroignore`, git's ignore rules when asked for, the builder's veto).
//! A directory left out is not walked.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ignore::gitignore::Gitignore;
use spiro_scanner::{Candidate, Error, ShouldSkip, os_bytes};

use super::gitignore::GitIgnores;
use crate::disk::Tree;

/// One step of the walk: a path to bundle (or a directory to enter), or what went wrong.
pub(crate) type WalkItem = Result<walkdir::DirEntry, Error>;

/// What a walk leaves out.
pub(crate) struct LeftOut<'s> {
    /// Paths left out with everything below them, relative to the root.
    pub(crate) excluded: Vec<PathBuf>,
    /// The `.spiroignore` patterns, if any.
    pub(crate) spiroignore: Option<Gitignore>,
    /// Git's ignore rules, when the scanner honours them.
    pub(crate) gitignores: Option<GitIgnores>,
    /// The builder's veto.
    pub(crate) should_skip: &'s ShouldSkip<'s>,
}

/// The walk of a tree; see the module docs.
pub(crate) struct Walk<'s> {
    inner: walkdir::IntoIter,
    tree: Arc<Tree>,
    left_out: LeftOut<'s>,
}

impl<'s> Walk<'s> {
    /// Walks `tree` in sorted order (byte order of names), never following a symlink.
    pub(crate) fn new(tree: Arc<Tree>, left_out: LeftOut<'s>) -> Walk<'s> {
        let inner = walkdir::WalkDir::new(tree.root())
            .follow_links(false)
            .min_depth(1)
            .sort_by(|a, b| os_bytes(a.file_name()).cmp(os_bytes(b.file_name())))
            .into_iter();
        Walk {
            inner,
            tree,
            left_out,
        }
    }
}

impl LeftOut<'_> {
    /// Whether the walked path at `rel` (`depth` below the root) is left out.
    fn leaves_out(&mut self, rel: &Path, depth: usize, is_dir: bool) -> bool {
        // Compared as bytes: both are clean relative paths (joined by the walk, stripped from
        // canonical ones), and `Path`'s `==` walks the components of every path that differs.
        let rel_bytes = os_bytes(rel.as_os_str());
        if self
            .excluded
            .iter()
            .any(|excluded| os_bytes(excluded.as_os_str()) == rel_bytes)
        {
            return true;
        }
        if let Some(ignore) = &self.spiroignore
            && ignore.matched(rel, is_dir).is_ignore()
        {
            return true;
        }
        if let Some(gitignores) = &mut self.gitignores
            && gitignores.is_ignored(rel, depth, is_dir)
        {
            return true;
        }
        (self.should_skip)(&Candidate { path: rel, is_dir })
    }
}

impl Iterator for Walk<'_> {
    type Item = WalkItem;

    fn next(&mut self) -> Option<WalkItem> {
        loop {
            let entry = match self.inner.next()? {
                Ok(entry) => entry,
                Err(err) => {
                    let path = err.path().unwrap_or(self.tree.root()).to_path_buf();
                    return Some(Err(Error::read(path, io::Error::from(err))));
                }
            };
            let Ok(rel) = entry.path().strip_prefix(self.tree.root()) else {
                return Some(Ok(entry));
            };
            let is_dir = entry.file_type().is_dir();
            if self.left_out.leaves_out(rel, entry.depth(), is_dir) {
                if is_dir {
                    self.inner.skip_current_dir();
                }
                continue;
            }
            if is_dir
                && let Some(gitignores) = &mut self.left_out.gitignores
                && let Err(err) = gitignores.enter(&self.tree, rel, entry.depth())
            {
                // Not walked: what its .gitignore leaves out must not be bundled.
                self.inner.skip_current_dir();
                return Some(Err(err));
            }
            return Some(Ok(entry));
        }
    }
}
