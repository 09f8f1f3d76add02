//! The `git` scanner: the files of the `HEAD` commit, read with gix.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use gix::ObjectId;
use gix::objs::tree::EntryKind as TreeEntryKind;
use spiro_bundle::{Candidate, Entries, Entry, EntryName, Error, GitCommit, Scanner, ShouldSkip};

use crate::attributes::ExportIgnore;
use crate::repo::{SCANNER, discover, gix_error, reopen};

/// How many bytes of blobs are read through one repository handle before the walk opens the
/// repository anew. gix memory-maps pack files, and every page read stays in this process's
/// resident memory while the mapping lives: a 1 GiB pack would make a 1 GiB process. A fresh
/// handle every 16 MiB unmaps the old packs (their pages stay in the kernel's page cache, so
/// reading on costs only minor faults), keeping memory flat whatever the repository's size.
const BYTES_PER_HANDLE: u64 = 16 * 1024 * 1024;

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
///   content out; directories are implied by their files;
/// - every entry's mtime is the commit's committer time, as in `git archive`;
/// - the order is git's tree order walked depth-first, which is the order of `git archive`
///   (and, for any tree git itself writes, the byte order of the full paths);
/// - paths with the `export-ignore` attribute are left out (from the committed
///   `.gitattributes` files, `$GIT_DIR/info/attributes` and the global attributes file),
///   matched against their full paths in the repository, so that from a subdirectory the
///   `.gitattributes` files of its ancestors apply as they do to `git archive`;
/// - file contents are the blobs as stored: `export-subst`, end-of-line conversion (`eol`,
///   `text`, `core.autocrlf`), `ident` and filter drivers (such as Git LFS's smudge), which
///   `git archive` applies, are **not** applied, since they would mean running commands or
///   rewriting content; a repository relying on them bundles the stored form.
///
/// The `should_skip` veto is asked about every directory before its tree is read and about
/// every file before its entry is built, with the same relative paths as the names yielded
/// (the ancestors of a scanned subdirectory are not offered). Blobs are read only when an
/// entry's opener is called, one at a time (a blob is held in memory whole while it is
/// written, as gix inflates objects whole).
///
/// ```no_run
/// use spiro_bundle::Scanner;
/// use spiro_scanners::GitScanner;
///
/// for entry in GitScanner::new(".").scan(&|_| false)? {
///     println!("{}", entry?.name());
/// }
/// # Ok::<(), spiro_bundle::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct GitScanner {
    dir: PathBuf,
}

impl GitScanner {
    /// A scanner of the `HEAD` commit of the repository containing `dir` (found upwards from
    /// `dir`, as git finds it), limited to `dir`'s own tree when `dir` is a subdirectory of
    /// the work tree. Nothing is opened until [`scan`](Scanner::scan).
    pub fn new(dir: impl Into<PathBuf>) -> GitScanner {
        GitScanner { dir: dir.into() }
    }

    /// The directory the repository is looked for from, and whose tree is bundled.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Scanner for GitScanner {
    fn name(&self) -> &str {
        SCANNER
    }

    fn scan<'s>(&'s self, should_skip: &'s ShouldSkip<'s>) -> spiro_bundle::Result<Entries<'s>> {
        let Some(repo) = discover(&self.dir)? else {
            return Err(Error::scanner(
                SCANNER,
                format!(
                    "`{}` is not inside a git repository; use --include-source=fs or run from \
                     the repository",
                    self.dir.display()
                ),
            ));
        };
        let Some(head) = head_commit_id(&repo)? else {
            return Err(Error::scanner(
                SCANNER,
                format!(
                    "the git repository at `{}` has no commit yet (HEAD is unborn); make a \
                     first commit or use --include-source=fs",
                    repo.workdir().unwrap_or(repo.git_dir()).display()
                ),
            ));
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
        let attributes = ExportIgnore::new(&repo);
        let mut walk = Walk {
            repo: Rc::new(repo),
            read_since_reopen: Rc::new(std::cell::Cell::new(0)),
            should_skip,
            mtime,
            attributes,
            stack: Vec::new(),
            base: 0,
            done: false,
        };
        walk.start(&prefix, tree)?;
        Ok(Box::new(walk))
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
/// what `git describe --all` prints for it (see [`crate::describe`]).
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

/// One tree being walked.
struct Frame {
    /// The directory's path from the repository root, `/`-separated, empty for the root
    /// (attributes match full paths; names are these paths without [`Walk::base`]).
    dir: Vec<u8>,
    entries: std::vec::IntoIter<gix::objs::tree::Entry>,
    /// Whether this directory's `.gitattributes` was pushed onto the attribute stack.
    pushed_attributes: bool,
}

/// The depth-first walk over the `HEAD` tree; the [`Entries`] iterator of a scan.
struct Walk<'s> {
    repo: Rc<gix::Repository>,
    /// Bytes of blobs read through `repo` (by the openers too): see [`BYTES_PER_HANDLE`].
    read_since_reopen: Rc<std::cell::Cell<u64>>,
    should_skip: &'s ShouldSkip<'s>,
    mtime: u64,
    attributes: ExportIgnore,
    stack: Vec<Frame>,
    /// How many leading bytes of a full path are the scanned subdirectory and its `/` (0 for
    /// the whole tree): a yielded name is the full path without them.
    base: usize,
    /// Set after an error, so that the iterator ends there.
    done: bool,
}

impl<'s> Walk<'s> {
    /// Starts the walk at the directory `prefix` (its components from the root; empty for the
    /// whole tree) of the root tree `root`.
    ///
    /// Each ancestor's tree is read only to find the next component and to push its
    /// `.gitattributes`; its frame is pushed with no entries left, so that its attributes are
    /// popped when the walk ends. A component that is not a tree in `HEAD`, or that is
    /// `export-ignore`d, leaves the walk empty, as `git archive` is from such a directory.
    fn start(&mut self, prefix: &[Vec<u8>], root: ObjectId) -> Result<(), Error> {
        let mut dir = Vec::new();
        let mut id = root;
        for component in prefix {
            let (entries, pushed_attributes) = self.read_tree(&dir, id)?;
            let next = entries
                .iter()
                .find(|e| e.filename == component.as_slice() && e.mode.is_tree())
                .map(|e| e.oid);
            self.stack.push(Frame {
                dir: dir.clone(),
                entries: Vec::new().into_iter(),
                pushed_attributes,
            });
            let path = join(&dir, component);
            let Some(next) = next else {
                return Ok(());
            };
            if self.attributes.is_ignored(&path, true) {
                return Ok(());
            }
            dir = path;
            id = next;
        }
        self.base = if dir.is_empty() { 0 } else { dir.len() + 1 };
        self.enter(dir, id)
    }

    /// Reads tree `id` (the directory `dir`) and pushes it onto the stack.
    fn enter(&mut self, dir: Vec<u8>, id: ObjectId) -> Result<(), Error> {
        let (entries, pushed_attributes) = self.read_tree(&dir, id)?;
        self.stack.push(Frame {
            dir,
            entries: entries.into_iter(),
            pushed_attributes,
        });
        Ok(())
    }

    /// The entries of tree `id` (the directory `dir`), after pushing its `.gitattributes` onto
    /// the attribute stack; the flag says whether it was pushed.
    fn read_tree(
        &mut self,
        dir: &[u8],
        id: ObjectId,
    ) -> Result<(Vec<gix::objs::tree::Entry>, bool), Error> {
        let tree = self
            .repo
            .find_tree(id)
            .map_err(|e| gix_error(format!("cannot read the tree of `{}`", display_dir(dir)), e))?;
        let decoded = tree.decode().map_err(|e| {
            gix_error(
                format!("cannot parse the tree of `{}`", display_dir(dir)),
                e,
            )
        })?;
        let entries: Vec<gix::objs::tree::Entry> =
            decoded.entries.iter().map(|e| (*e).into()).collect();
        drop(tree);
        let attributes_blob = entries
            .iter()
            .find(|e| e.filename == ".gitattributes" && e.mode.is_blob())
            .map(|e| e.oid);
        let mut pushed_attributes = false;
        if let Some(blob) = attributes_blob {
            let data = self.read_blob(blob, dir, b".gitattributes")?;
            pushed_attributes = self.attributes.push_dir(dir, &data);
        }
        Ok((entries, pushed_attributes))
    }

    fn read_blob(&self, id: ObjectId, dir: &[u8], name: &[u8]) -> Result<Vec<u8>, Error> {
        read_blob(&self.repo, id).map_err(|e| {
            gix_error(
                format!(
                    "cannot read `{}`",
                    String::from_utf8_lossy(&join(dir, name))
                ),
                e,
            )
        })
    }

    /// The next entry to yield, reading trees as needed; `None` at the end.
    fn advance(&mut self) -> Result<Option<Entry<'s>>, Error> {
        loop {
            let Some(frame) = self.stack.last_mut() else {
                return Ok(None);
            };
            let Some(entry) = frame.entries.next() else {
                let frame = self.stack.pop().expect("not empty");
                if frame.pushed_attributes {
                    self.attributes.pop_dir();
                }
                continue;
            };
            let path = join(&frame.dir, &entry.filename);
            let kind = entry.mode.kind();
            if kind == TreeEntryKind::Commit {
                // A submodule: its content is in another repository, and `git archive` leaves
                // it out too.
                continue;
            }
            let relative = &path[self.base..];
            let name = EntryName::new(relative).map_err(|reason| Error::UnsafeName {
                scanner: SCANNER.into(),
                name: String::from_utf8_lossy(relative).into_owned(),
                reason,
            })?;
            let is_dir = kind == TreeEntryKind::Tree;
            if self.attributes.is_ignored(&path, is_dir) {
                continue;
            }
            if (self.should_skip)(&Candidate {
                path: name.as_path(),
                is_dir,
            }) {
                continue;
            }
            match kind {
                TreeEntryKind::Tree => self.enter(path, entry.oid)?,
                TreeEntryKind::Link => {
                    let target = read_blob(&self.repo, entry.oid)
                        .map_err(|e| gix_error(format!("cannot read the symlink `{name}`"), e))?;
                    return Ok(Some(Entry::symlink(name, target, self.mtime)));
                }
                TreeEntryKind::Blob | TreeEntryKind::BlobExecutable => {
                    if self.read_since_reopen.get() >= BYTES_PER_HANDLE {
                        // Openers already handed out keep the old handle until they are done.
                        self.repo = Rc::new(reopen(&self.repo)?);
                        self.read_since_reopen = Rc::new(std::cell::Cell::new(0));
                    }
                    let header = self
                        .repo
                        .find_header(entry.oid)
                        .map_err(|e| gix_error(format!("cannot find the blob of `{name}`"), e))?;
                    let repo = Rc::clone(&self.repo);
                    let read = Rc::clone(&self.read_since_reopen);
                    let id = entry.oid;
                    let display = name.to_string();
                    let open = move || -> Result<Box<dyn Read + 's>, Error> {
                        let data = read_blob(&repo, id)
                            .map_err(|e| gix_error(format!("cannot read `{display}`"), e))?;
                        read.set(read.get() + data.len() as u64);
                        Ok(Box::new(Cursor::new(data)))
                    };
                    return Ok(Some(Entry::file(
                        name,
                        header.size(),
                        kind == TreeEntryKind::BlobExecutable,
                        self.mtime,
                        open,
                    )));
                }
                TreeEntryKind::Commit => unreachable!("handled above"),
            }
        }
    }
}

impl<'s> Iterator for Walk<'s> {
    type Item = Result<Entry<'s>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.advance() {
            Ok(Some(entry)) => Some(Ok(entry)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(err) => {
                self.done = true;
                Some(Err(err))
            }
        }
    }
}

/// The content of blob `id`, owned.
fn read_blob(repo: &gix::Repository, id: ObjectId) -> Result<Vec<u8>, gix::Error> {
    let blob = repo.find_blob(id)?;
    Ok(blob.detach().data)
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut path = Vec::with_capacity(dir.len() + 1 + name.len());
    if !dir.is_empty() {
        path.extend_from_slice(dir);
        path.push(b'/');
    }
    path.extend_from_slice(name);
    path
}

fn display_dir(dir: &[u8]) -> String {
    if dir.is_empty() {
        ".".into()
    } else {
        String::from_utf8_lossy(dir).into_owned()
    }
}
