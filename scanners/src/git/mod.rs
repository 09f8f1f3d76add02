//! The `git` scanner: the files of the `HEAD` commit, read with gix.
//!
//! This module: the scanner, its setup (finding the repository, `HEAD`, the subdirectory) and
//! [`head_commit`]; [`walk`]: the depth-first walk of the tree; [`inflate`]: blobs inflated
//! ahead on workers, on the shared walk-ahead driver.

use std::path::{Path, PathBuf};

use gix::ObjectId;
use spiro_scanner::{Entries, Error, OptionError, OptionInfo, Scanner, ScannerOptions, ShouldSkip};

mod inflate;
mod lfs;
mod packs;
mod submodule;
mod walk;

use crate::GitCommit;
use crate::repo::{SCANNER, discover, gix_error};
use crate::walk_ahead::WalkAhead;
use walk::{Extras, Walk};

/// Bundles the files of the `HEAD` commit of the repository containing a directory, as
/// `git archive HEAD` run in that directory would: what is deployed is exactly what was
/// committed, whatever the state of the work tree, and `.gitcommit` can name it.
///
/// What it yields, and how that compares with `git archive HEAD`:
///
/// - from a subdirectory of the work tree, only that directory's tree in `HEAD`, with names
///   relative to it, as `git archive HEAD` run there gives it (git takes the current
///   directory's path in the work tree as the path of the tree to archive). The directory is
///   located after resolving symlinks. When that path is not a directory in `HEAD`
///   (untracked or empty directories, which git does not record, or a path that is a file in
///   `HEAD`), or when it or one of its ancestors is `export-ignore`d, the scan is empty and
///   succeeds, as `git archive` is (git 2.47 writes an empty archive and succeeds; some older
///   versions stopped with "current working directory is untracked"). From the work tree's
///   root, from inside the git directory (`.git`), from outside the work tree
///   (`GIT_WORK_TREE` elsewhere) and in a bare repository, the whole tree is bundled, as git
///   does there;
/// - regular files (`100644`, and `100755` as executable) and symlinks (`120000`, the blob's
///   content as target); submodules (gitlinks) are left out, as `git archive` leaves their
///   content out, unless [`submodules`](GitScanner::submodules) is on; directories are implied
///   by their files;
/// - every entry's mtime is the commit's committer time, as in `git archive` (a submodule's
///   entries too: the superproject's commit is what is deployed);
/// - the order is git's tree order walked depth-first, which is the order of `git archive`
///   (and, for any tree git itself writes, the byte order of the full paths; a submodule's
///   files come where its gitlink sorts, as a file would);
/// - paths with the `export-ignore` attribute are left out (from the committed
///   `.gitattributes` files, `$GIT_DIR/info/attributes` and the global attributes file),
///   matched against their full paths in the repository, so that from a subdirectory the
///   `.gitattributes` files of its ancestors apply as they do to `git archive`;
/// - file contents are the blobs as stored: `export-subst`, end-of-line conversion (`eol`,
///   `text`, `core.autocrlf`), `ident` and filter drivers, which `git archive` applies, are
///   **not** applied, since they would mean running commands or rewriting content; a
///   repository relying on them bundles the stored form. `export-subst` in particular would
///   make the bytes depend on more than the commit (`%h` grows with the repository's object
///   count, `%d` lists whichever refs point at it today), and `.gitcommit` records the commit
///   already. The one filter done, on request, is Git LFS's: with [`lfs`](GitScanner::lfs), a
///   pointer is replaced by its object from the local store, without running git-lfs.
///
/// The `should_skip` veto is asked about every directory before its tree is read (a
/// submodule's path, as a directory, before its repository is looked for) and about every
/// file before its entry is built, with the same relative paths as the names yielded (the
/// ancestors of a scanned subdirectory are not offered). Blobs are read only when an entry's
/// opener is called, one at a time (a blob is held in memory whole while it is written, as
/// gix inflates objects whole), except LFS pointers, which are small and read by the walk to
/// find their objects; an LFS object is streamed from disk, never held whole.
///
/// ```no_run
/// use spiro_scanner::Scanner;
/// use spiro_scanners::GitScanner;
///
/// for entry in GitScanner::new(".").scan(&|_| false)? {
///     println!("{}", entry?.name());
/// }
/// # Ok::<(), spiro_scanner::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct GitScanner {
    dir: PathBuf,
    inflate_ahead: Option<usize>,
    submodules: bool,
    lfs: bool,
}

impl GitScanner {
    /// A scanner of the `HEAD` commit of the repository containing `dir` (found upwards from
    /// `dir`, as git finds it), limited to `dir`'s own tree when `dir` is a subdirectory of
    /// the work tree. Nothing is opened until [`scan`](Scanner::scan).
    pub fn new(dir: impl Into<PathBuf>) -> GitScanner {
        GitScanner {
            dir: dir.into(),
            inflate_ahead: None,
            submodules: false,
            lfs: false,
        }
    }

    /// The options the `git` scanner takes on the command line
    /// (`--include-source=git,KEY=VALUE`), each matching a method of the same name.
    pub const OPTIONS: &'static [OptionInfo] = &[
        OptionInfo::new(
            "submodules",
            "also bundle submodules, at the commits the superproject pins",
            "false",
        ),
        OptionInfo::new(
            "lfs",
            "replace Git LFS pointer files with their objects from .git/lfs/objects",
            "false",
        ),
    ];

    /// Applies options given as text (`submodules=true`), checked against
    /// [`GitScanner::OPTIONS`]: the command line's way to configure the scanner. Code can call
    /// the methods directly.
    pub fn options(self, options: &ScannerOptions) -> Result<GitScanner, OptionError> {
        let options = options.reader(SCANNER, Self::OPTIONS)?;
        Ok(self
            .submodules(options.bool("submodules")?)
            .lfs(options.bool("lfs")?))
    }

    /// Whether to bundle the content of submodules: each at the commit the superproject's tree
    /// pins (not whatever is checked out), read from the submodule's own repository
    /// (`$GIT_DIR/modules/<name>`, the name from the commit's `.gitmodules`, else the `.git`
    /// in the submodule's work tree), recursively, under the submodule's path. Inside a
    /// submodule, its own attributes decide `export-ignore`. A submodule without a repository,
    /// or whose repository lacks the pinned commit, fails the scan
    /// ([`GitError::SubmoduleNotInitialized`], [`GitError::SubmoduleCommitMissing`]). Off by
    /// default, as in `git archive`, which leaves submodules out.
    pub fn submodules(mut self, yes: bool) -> GitScanner {
        self.submodules = yes;
        self
    }

    /// Whether to replace Git LFS pointer files (on paths marked `filter=lfs` in
    /// `.gitattributes`) with their objects from the local LFS store
    /// (`$GIT_COMMON_DIR/lfs/objects`, or `lfs.storage`; a submodule's own for its files).
    /// The walk checks each object is there at the pointer's size (one `stat`: counting and
    /// listing read no object); its SHA-256 is checked while it is streamed, and a mismatch
    /// fails the read of that entry. A missing object is [`GitError::LfsObjectMissing`], a
    /// wrong one [`GitError::LfsObjectCorrupt`]. A `filter=lfs` file that is not a pointer is
    /// bundled as it is, as git-lfs does. Off by default: `git archive` exports the pointers.
    pub fn lfs(mut self, yes: bool) -> GitScanner {
        self.lfs = yes;
        self
    }

    /// How many threads inflate blobs ahead of the builder (`0`: none, every blob is inflated
    /// when its entry is written). Inflating is most of the work of a git scan; this spreads
    /// it over the cores, and while a worker is on the blob the builder needs next, the
    /// builder inflates the next one nobody has started. The entries, their order, the errors
    /// and the bundle's bytes are the same either way. The default is one fewer than the
    /// cores, at least one and at most three. At most 8 MiB is held ahead, blobs over 1 MiB
    /// are never inflated ahead, and nothing is until the first entry is opened (so counting
    /// or listing a scan inflates no blob).
    pub fn inflate_ahead(mut self, workers: usize) -> GitScanner {
        self.inflate_ahead = Some(workers);
        self
    }

    /// The directory the repository is looked for from, and whose tree is bundled.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Why the `git` scanner cannot start, for a front end to add what to do instead (such as
/// choosing another scanner). Reported as the source of a [`spiro_scanner::Error::Scanner`];
/// find it with [`spiro_scanner::error_chain`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GitError {
    /// The directory is not inside a git repository.
    #[error("`{}` is not inside a git repository", dir.display())]
    NotARepository {
        /// The directory the scanner was given.
        dir: PathBuf,
    },
    /// The repository has no commit yet (`HEAD` is unborn).
    #[error("the git repository at `{}` has no commit yet (HEAD is unborn)", repository.display())]
    NoCommit {
        /// The repository's work tree (or git directory, for a bare one).
        repository: PathBuf,
    },
    /// With `submodules`, a submodule has no repository here (it was never initialised).
    #[error(
        "the submodule `{path}` is not initialised (no repository for it in the git directory's \
         `modules/` nor in its work tree); run `git submodule update --init{}`",
        if *nested { " --recursive" } else { "" }
    )]
    SubmoduleNotInitialized {
        /// The submodule's path from the top repository's root.
        path: String,
        /// Whether it is inside another submodule.
        nested: bool,
    },
    /// With `submodules`, a submodule's repository lacks the commit the superproject pins.
    #[error(
        "the submodule `{path}` does not have the commit {commit} its superproject pins; \
         run `git submodule update --init{}`",
        if *nested { " --recursive" } else { "" }
    )]
    SubmoduleCommitMissing {
        /// The submodule's path from the top repository's root.
        path: String,
        /// The pinned commit.
        commit: String,
        /// Whether it is inside another submodule.
        nested: bool,
    },
    /// With `lfs`, the object of an LFS pointer is not in the local LFS store.
    #[error(
        "the Git LFS object of `{path}` is not in the local store (`{}`); run `git lfs fetch` \
         (or `git lfs pull`)",
        object.display()
    )]
    LfsObjectMissing {
        /// The file's name in the bundle.
        path: String,
        /// Where the object was looked for.
        object: PathBuf,
    },
    /// With `lfs`, an LFS object is not what its pointer says (size or SHA-256).
    #[error(
        "the Git LFS object of `{path}` is corrupt ({what}): `{}`; delete it and run \
         `git lfs fetch`",
        object.display()
    )]
    LfsObjectCorrupt {
        /// The file's name in the bundle.
        path: String,
        /// The object's path.
        object: PathBuf,
        /// What is wrong, in words.
        what: String,
    },
    /// With `lfs`, a pointer names LFS extensions, which only git-lfs can undo.
    #[error(
        "the Git LFS pointer `{path}` uses LFS extensions, which only git-lfs itself can \
         apply; bundle a checkout made by git-lfs instead"
    )]
    LfsExtensions {
        /// The file's name in the bundle.
        path: String,
    },
}

impl From<GitError> for Error {
    fn from(error: GitError) -> Error {
        let message = error.to_string();
        Error::scanner_with(SCANNER, message, error)
    }
}

impl Scanner for GitScanner {
    fn name(&self) -> &str {
        SCANNER
    }

    /// The commit's content: bundled as committed (a committed `.hg/.keep` included), as
    /// `git archive` bundles it.
    fn yields_commit_content(&self) -> bool {
        true
    }

    fn scan<'s>(&'s self, should_skip: &'s ShouldSkip<'s>) -> spiro_scanner::Result<Entries<'s>> {
        let Some(repo) = discover(&self.dir)? else {
            return Err(GitError::NotARepository {
                dir: self.dir.clone(),
            }
            .into());
        };
        let Some(head) = head_commit_id(&repo)? else {
            return Err(GitError::NoCommit {
                repository: repo.workdir().unwrap_or(repo.git_dir()).to_path_buf(),
            }
            .into());
        };
        let commit = repo
            .find_commit(head)
            .map_err(|e| gix_error(format!("cannot read the HEAD commit {head}"), e))?;
        let tree = commit
            .tree_id()
            .map_err(|e| gix_error(format!("cannot read the tree of commit {head}"), e))?
            .detach();
        let mtime = commit
            .time()
            .map_err(|e| gix_error(format!("cannot read the date of commit {head}"), e))?
            .seconds
            .max(0) as u64;
        drop(commit);
        let prefix = workdir_prefix(&repo, &self.dir)?;
        let extras = Extras {
            submodules: self.submodules,
            lfs: self.lfs,
        };
        let mut walk = Walk::new(repo, tree, mtime, extras, should_skip, self.inflate_ahead);
        walk.start(&prefix)?;
        Ok(Box::new(WalkAhead::new(walk, true)))
    }
}

/// The commit `HEAD` points to, or `None` when `HEAD` is unborn.
pub(crate) fn head_commit_id(repo: &gix::Repository) -> Result<Option<ObjectId>, Error> {
    let mut head = repo.head().map_err(|e| gix_error("cannot read HEAD", e))?;
    if head.is_unborn() {
        return Ok(None);
    }
    let commit = head
        .peel_to_commit()
        .map_err(|e| gix_error("HEAD does not point to a readable commit", e))?;
    Ok(Some(commit.id))
}

/// What `.gitcommit` records for the repository containing `dir`: the full hash of `HEAD` and
/// what `git describe --all` prints for it.
///
/// `Ok(None)` outside a repository and when `HEAD` is unborn: a bundle can be made without a
/// commit, it just cannot name one. When `git describe --all` itself would fail (no ref at all,
/// as in a repository with only a detached `HEAD`, or no ref reachable from `HEAD`), the
/// `describe` field is empty; git prints nothing on its standard output then either.
///
/// Errors are kept for a repository that exists but cannot be read, since bundling without
/// telling would hide a corrupt repository.
pub fn head_commit(dir: &Path) -> Result<Option<GitCommit>, Error> {
    let Some(repo) = discover(dir)? else {
        return Ok(None);
    };
    let Some(head) = head_commit_id(&repo)? else {
        return Ok(None);
    };
    let describe = crate::describe::describe_all(&repo, head)?.unwrap_or_default();
    Ok(Some(GitCommit {
        hash: head.to_string(),
        describe,
    }))
}

/// The path of `dir` in the work tree of `repo`, as the names of its components (empty for
/// the whole tree): the path `git archive HEAD` run in `dir` archives.
///
/// Both sides are canonicalized, so a `dir` reached through a symlink, or a work tree given
/// with a relative path, is located where it really is. Empty when there is no work tree (a
/// bare repository), when `dir` is inside the git directory (even one inside the work tree, as
/// `.git` is), and when `dir` is outside the work tree (`GIT_WORK_TREE` or `core.worktree`
/// elsewhere): git archives the whole tree in all three cases.
fn workdir_prefix(repo: &gix::Repository, dir: &Path) -> Result<Vec<Vec<u8>>, Error> {
    let Some(workdir) = repo.workdir() else {
        return Ok(Vec::new());
    };
    let canonical = |path: &Path| {
        std::fs::canonicalize(path).map_err(|e| {
            Error::scanner_with(
                SCANNER,
                format!("cannot resolve the directory `{}`", path.display()),
                e,
            )
        })
    };
    let dir = canonical(dir)?;
    for git_dir in [repo.git_dir(), repo.common_dir()] {
        if std::fs::canonicalize(git_dir).is_ok_and(|g| dir.starts_with(g)) {
            return Ok(Vec::new());
        }
    }
    let workdir = canonical(workdir)?;
    let Ok(relative) = dir.strip_prefix(&workdir) else {
        return Ok(Vec::new());
    };
    relative
        .components()
        .map(|component| {
            gix::path::os_str_into_bstr(component.as_os_str())
                .map(|name| name.to_vec())
                .map_err(|_| {
                    Error::scanner(
                        SCANNER,
                        format!(
                            "the directory `{}` has a name git cannot represent",
                            dir.display()
                        ),
                    )
                })
        })
        .collect()
}
