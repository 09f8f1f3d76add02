//! The `git` scanner: the files of the `HEAD` commit, read with gix.

use std::collections::VecDeque;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use gix::ObjectId;
use gix::objs::tree::EntryKind as TreeEntryKind;
use spiro_scanner::{Candidate, Entries, Entry, EntryName, Error, Opener, Scanner, ShouldSkip};

use crate::GitCommit;
use crate::ahead::{Budget, Pool, Reserved, Ticket};
use crate::walk_ahead::{WalkAhead, Walker};

use crate::attributes::ExportIgnore;
use crate::repo::{SCANNER, discover, gix_error, open_again, reopen};

/// How many bytes of blobs are read through one repository handle before the walk opens the
/// repository anew. gix memory-maps pack files, and every page read stays in this process's
/// resident memory while the mapping lives: a 1 GiB pack would make a 1 GiB process. A fresh
/// handle every 4 MiB unmaps the old packs (their pages stay in the kernel's page cache, so
/// reading on costs only minor faults), keeping memory flat whatever the repository's size.
/// Each thread that inflates blobs has a handle of its own, and each counts its own bytes.
const BYTES_PER_HANDLE: u64 = 4 * 1024 * 1024;

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
}

impl GitScanner {
    /// A scanner of the `HEAD` commit of the repository containing `dir` (found upwards from
    /// `dir`, as git finds it), limited to `dir`'s own tree when `dir` is a subdirectory of
    /// the work tree. Nothing is opened until [`scan`](Scanner::scan).
    pub fn new(dir: impl Into<PathBuf>) -> GitScanner {
        GitScanner {
            dir: dir.into(),
            inflate_ahead: None,
        }
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
        let attributes = ExportIgnore::new(&repo);
        let budget = Budget::new(BUDGET);
        let inflate_ahead = start_inflating(&repo, self.inflate_ahead, &budget);
        let mut walk = Walk {
            repo: Rc::new(repo),
            read_since_reopen: Rc::new(std::cell::Cell::new(0)),
            should_skip,
            mtime,
            attributes,
            stack: Vec::new(),
            base: 0,
            stopped: false,
            inflate_ahead,
            budget,
        };
        walk.start(&prefix, tree)?;
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
/// An entry as far as the walk has got with it.
enum Planned<'s> {
    /// Made on this thread: symlinks, and blobs while nothing is inflated ahead.
    Ready(Entry<'s>),
    /// A blob queued for inflating ahead.
    Queued {
        name: EntryName,
        executable: bool,
        id: ObjectId,
        ticket: Ticket<ObjectId, Reserved>,
    },
    /// The walk stopped here.
    Failed(Error),
}

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
    /// Set when the walk has stopped at an error: nothing is walked after it.
    stopped: bool,
    /// Workers inflating the blobs walked ahead, once the consumer reads content.
    inflate_ahead: Option<Pool<ObjectId, Reserved>>,
    budget: Budget,
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

    /// The next entry, reading trees as needed; `None` at the end. With `queue`, a blob is
    /// queued for inflating ahead rather than made into an entry.
    fn advance(&mut self, queue: bool) -> Result<Option<Planned<'s>>, Error> {
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
                    let entry = Entry::symlink(name, target, self.mtime);
                    return Ok(Some(Planned::Ready(entry)));
                }
                TreeEntryKind::Blob | TreeEntryKind::BlobExecutable => {
                    let executable = kind == TreeEntryKind::BlobExecutable;
                    // This thread inflates some of the queued blobs too.
                    self.reopen_if_due()?;
                    if let (true, Some(pool)) = (queue, &self.inflate_ahead) {
                        let ticket = pool.queue(entry.oid);
                        return Ok(Some(Planned::Queued {
                            name,
                            executable,
                            id: entry.oid,
                            ticket,
                        }));
                    }
                    let entry = self.blob_entry(name, executable, entry.oid)?;
                    return Ok(Some(Planned::Ready(entry)));
                }
                TreeEntryKind::Commit => unreachable!("handled above"),
            }
        }
    }

    /// A blob's entry as made without inflating ahead: its size from its header, its content
    /// inflated when it is opened.
    fn blob_entry(
        &mut self,
        name: EntryName,
        executable: bool,
        id: ObjectId,
    ) -> Result<Entry<'s>, Error> {
        self.reopen_if_due()?;
        let header = self
            .repo
            .find_header(id)
            .map_err(|e| gix_error(format!("cannot find the blob of `{name}`"), e))?;
        let repo = Rc::clone(&self.repo);
        let read = Rc::clone(&self.read_since_reopen);
        let display = name.to_string();
        let open = move || -> Result<Box<dyn Read + 's>, Error> {
            let data = read_blob(&repo, id)
                .map_err(|e| gix_error(format!("cannot read `{display}`"), e))?;
            read.set(read.get() + data.len() as u64);
            Ok(Box::new(Cursor::new(data)))
        };
        let open = self.mark_reading(Box::new(open));
        Ok(Entry::file(
            name,
            header.size(),
            executable,
            self.mtime,
            open,
        ))
    }

    /// Opens the repository anew once enough has been read through this handle: see
    /// [`BYTES_PER_HANDLE`].
    fn reopen_if_due(&mut self) -> Result<(), Error> {
        if self.read_since_reopen.get() >= BYTES_PER_HANDLE {
            // Openers already handed out keep the old handle until they are done.
            self.repo = Rc::new(reopen(&self.repo)?);
            self.read_since_reopen = Rc::new(std::cell::Cell::new(0));
        }
        Ok(())
    }

    /// `open` made to tell the inflating workers, if any, that the consumer reads content.
    fn mark_reading(&self, open: Opener<'s>) -> Opener<'s> {
        match &self.inflate_ahead {
            Some(pool) => Box::new(pool.opener(open)),
            None => open,
        }
    }

    /// The entry of a planned item. For a queued blob: the content a worker inflated, or this
    /// thread did (helping with the blobs after it while a worker is on it); where that failed,
    /// the blob done again as without inflating ahead, for the same entry or error.
    fn resolve(
        &mut self,
        planned: Planned<'s>,
        later: &VecDeque<Planned<'s>>,
    ) -> Result<Entry<'s>, Error> {
        let (name, executable, id, ticket) = match planned {
            Planned::Ready(entry) => return Ok(entry),
            Planned::Failed(error) => return Err(error),
            Planned::Queued {
                name,
                executable,
                id,
                ticket,
            } => (name, executable, id, ticket),
        };
        let next = later.iter().filter_map(|planned| match planned {
            Planned::Queued { ticket, .. } => Some(ticket),
            _ => None,
        });
        let (repo, read, budget) = (&self.repo, &self.read_since_reopen, &self.budget);
        let content = ticket.take_or_help(next, |id| {
            let content = inflate(repo, id, budget)?;
            read.set(read.get() + content.as_ref().len() as u64);
            Some(content)
        });
        let Some(content) = content else {
            return self.blob_entry(name, executable, id);
        };
        let size = content.as_ref().len() as u64;
        let open = self.mark_reading(Box::new(move || {
            Ok(Box::new(Cursor::new(content)) as Box<dyn Read>)
        }));
        Ok(Entry::file(name, size, executable, self.mtime, open))
    }
}

/// Blobs up to this size are inflated ahead; larger ones when they are written, so that a
/// big blob is never held while others are.
const MAX_BLOB: u64 = 1024 * 1024;
/// Inflated content held ahead of the builder, at most.
const BUDGET: u64 = 8 * 1024 * 1024;

/// Starts the workers that inflate blobs ahead of the builder, each with a repository handle
/// of its own (a gix handle belongs to one thread); `None` if none could start.
fn start_inflating(
    repo: &gix::Repository,
    workers: Option<usize>,
    budget: &Budget,
) -> Option<Pool<ObjectId, Reserved>> {
    let workers = workers.unwrap_or_else(crate::ahead::default_workers);
    let (git_dir, options) = (repo.git_dir().to_path_buf(), repo.open_options().clone());
    let budget = budget.clone();
    Pool::start(
        workers,
        move || Some((open_again(&git_dir, options.clone()).ok()?, 0u64)),
        move |(repo, read): &mut (gix::Repository, u64), id| {
            // As on the consumer's thread, a fresh handle every so often unmaps what was read.
            if *read >= BYTES_PER_HANDLE {
                *repo = reopen(repo).ok()?;
                *read = 0;
            }
            let content = inflate(repo, id, &budget)?;
            *read += content.as_ref().len() as u64;
            Some(content)
        },
    )
}

/// Inflates the blob `id` if it is small enough and fits the budget; `None` otherwise and on
/// any error (the consumer then reads it the usual way, which reports the error).
fn inflate(repo: &gix::Repository, id: ObjectId, budget: &Budget) -> Option<Reserved> {
    let header = repo.find_header(id).ok()?;
    if header.kind() != gix::object::Kind::Blob || header.size() > MAX_BLOB {
        return None;
    }
    let mut content = budget.reserve(header.size())?;
    let data = read_blob(repo, id).ok()?;
    if data.len() as u64 != header.size() {
        return None;
    }
    *content.data() = data;
    Some(content)
}

/// The walk on the shared driver: it ends at the first error, as the walk without inflating
/// ahead would.
impl<'s> Walker<'s> for Walk<'s> {
    type Planned = Planned<'s>;

    fn consumer_reads(&self) -> bool {
        self.inflate_ahead
            .as_ref()
            .is_some_and(|pool| pool.consumer_reads())
    }

    fn plan(&mut self, queue: bool) -> Option<Option<Planned<'s>>> {
        if self.stopped {
            return None;
        }
        match self.advance(queue) {
            Ok(planned) => planned.map(Some),
            Err(error) => {
                self.stopped = true;
                Some(Some(Planned::Failed(error)))
            }
        }
    }

    fn finish(
        &mut self,
        planned: Planned<'s>,
        later: &VecDeque<Planned<'s>>,
    ) -> Option<Result<Entry<'s>, Error>> {
        Some(self.resolve(planned, later))
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
