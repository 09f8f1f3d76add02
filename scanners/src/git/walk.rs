//! The depth-first walk over the `HEAD` tree, as `git archive` walks it, and with
//! `submodules`, into the trees of the commits its gitlinks pin.

use std::cell::{Cell, RefCell};
use std::io::{Cursor, Read};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use gix::ObjectId;
use gix::objs::tree::EntryKind as TreeEntryKind;
use spiro_scanner::{Candidate, Entry, EntryName, Error, Opener, ShouldSkip};

use super::GitError;
use super::inflate::{BUDGET, start_inflating};
use super::lfs::{self, MAX_POINTER, Pointer};
use super::packs::Packs;
use super::submodule::{Lookup, Modules};
use crate::ahead::{Budget, Pool, Reserved, Ticket};
use crate::attributes::TreeAttributes;
use crate::repo::{SCANNER, gix_error, reopen};

/// How many bytes of blobs are read through one gix handle before the walk opens the
/// repository anew. Most objects are read with `pread` ([`Packs`]); what is left to gix (deltas,
/// loose objects) goes through its memory mappings of the packs, and every page read stays in
/// this process's resident memory while the mapping lives. A fresh handle every 4 MiB unmaps
/// the old packs (their pages stay in the kernel's page cache), keeping memory flat whatever
/// the repository's size. Each thread that inflates blobs has a handle of its own, and each
/// counts its own bytes.
pub(super) const BYTES_PER_HANDLE: u64 = 4 * 1024 * 1024;

/// The inflating workers' job: a blob of one of the [`Repositories`].
pub(super) type Job = (usize, ObjectId);

/// The repositories a scan reads objects from, by [`Source::key`]: the top one first, then
/// each submodule as the walk enters it. The inflating workers open them from here (a gix
/// handle belongs to one thread), each as it first needs it.
pub(super) type Repositories = Arc<Mutex<Vec<Registered>>>;

/// One of the [`Repositories`]: how to open it again, and its packs.
#[derive(Clone)]
pub(super) struct Registered {
    pub(super) git_dir: PathBuf,
    pub(super) options: gix::open::Options,
    /// Shared by every thread of the scan, so that each pack's tables are read once.
    pub(super) packs: Arc<Packs>,
}

/// One repository whose objects the walk reads: the top one, or a submodule's.
pub(super) struct Source {
    /// Its index in the scan's [`Repositories`].
    pub(super) key: usize,
    /// The handle this thread reads through, replaced every [`BYTES_PER_HANDLE`].
    repo: RefCell<Rc<gix::Repository>>,
    /// Bytes of blobs read through `repo` (by the openers too).
    read_since_reopen: Cell<u64>,
    /// Its Git LFS store, when LFS pointers are replaced.
    lfs: Option<lfs::Store>,
    /// Its packs, read without mapping them.
    pub(super) packs: Arc<Packs>,
}

impl Source {
    fn new(repositories: &Repositories, repo: gix::Repository, lfs: bool) -> Source {
        let (key, packs) = register(repositories, &repo);
        Source {
            key,
            packs,
            lfs: lfs.then(|| lfs::Store::of(&repo)),
            repo: RefCell::new(Rc::new(repo)),
            read_since_reopen: Cell::new(0),
        }
    }

    /// The current handle.
    pub(super) fn repo(&self) -> Rc<gix::Repository> {
        Rc::clone(&self.repo.borrow())
    }

    /// The size of blob `id`: see [`blob_size`].
    fn blob_size(&self, id: ObjectId) -> Result<u64, gix::Error> {
        blob_size(&self.packs, &self.repo(), id)
    }

    /// Counts `bytes` read through the current handle.
    pub(super) fn count_read(&self, bytes: u64) {
        self.read_since_reopen
            .set(self.read_since_reopen.get() + bytes);
    }

    /// Opens the repository anew once enough has been read through this handle: see
    /// [`BYTES_PER_HANDLE`].
    fn reopen_if_due(&self) -> Result<(), Error> {
        if self.read_since_reopen.get() >= BYTES_PER_HANDLE {
            // Openers already reading keep the old handle until they are done.
            let fresh = reopen(&self.repo())?;
            *self.repo.borrow_mut() = Rc::new(fresh);
            self.read_since_reopen.set(0);
        }
        Ok(())
    }
}

/// One repository being walked: the top one, and above it each submodule the walk is in.
struct Layer {
    source: Rc<Source>,
    /// Its own attributes: those of a superproject do not apply inside a submodule.
    attributes: TreeAttributes,
    /// How many leading bytes of a full path are this repository's place in the top tree and
    /// its `/` (0 for the top repository): attributes and `.gitmodules` match the rest.
    root_len: usize,
    /// The tree of the commit walked, whose `.gitmodules` names its submodules.
    root_tree: ObjectId,
    /// That `.gitmodules`, read when the first gitlink is met.
    modules: Option<Modules>,
}

impl Layer {
    fn new(
        source: Rc<Source>,
        repo: &gix::Repository,
        root_len: usize,
        root_tree: ObjectId,
    ) -> Layer {
        Layer {
            attributes: TreeAttributes::new(repo),
            source,
            root_len,
            root_tree,
            modules: None,
        }
    }

    /// `path` (from the top repository's root) relative to this repository's root.
    fn relative<'p>(&self, path: &'p [u8]) -> &'p [u8] {
        path.get(self.root_len..).unwrap_or_default()
    }
}

/// One tree being walked.
pub(super) struct Frame {
    /// The directory's path from the top repository's root, `/`-separated, empty for the root
    /// (names are these paths without [`Walk::base`]).
    dir: Vec<u8>,
    entries: std::vec::IntoIter<gix::objs::tree::Entry>,
    /// Whether this directory's `.gitattributes` was pushed onto the attribute stack.
    pushed_attributes: bool,
    /// Whether this is a submodule's root, whose [`Layer`] ends with it.
    opens_layer: bool,
}

/// An entry as far as the walk has got with it.
pub(super) enum Planned<'s> {
    /// Made on this thread: symlinks, LFS objects, and blobs while nothing is inflated ahead.
    Ready(Entry<'s>),
    /// A blob queued for inflating ahead.
    Queued {
        name: EntryName,
        executable: bool,
        id: ObjectId,
        source: Rc<Source>,
        ticket: Ticket<Job, Reserved>,
    },
    /// The walk stopped here.
    Failed(Error),
}

/// What the scan asked for beyond `git archive`.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Extras {
    /// Walk into submodules.
    pub(super) submodules: bool,
    /// Replace LFS pointers with their objects.
    pub(super) lfs: bool,
}

/// The depth-first walk over the `HEAD` tree; the [`Entries`](spiro_scanner::Entries)
/// iterator of a scan.
pub(super) struct Walk<'s> {
    should_skip: &'s ShouldSkip<'s>,
    pub(super) mtime: u64,
    extras: Extras,
    /// The top repository's work tree, below which submodules are checked out.
    work_tree: Option<PathBuf>,
    /// The repositories being walked, the top one first; the last is the current one.
    layers: Vec<Layer>,
    repositories: Repositories,
    stack: Vec<Frame>,
    /// How many leading bytes of a full path are the scanned subdirectory and its `/` (0 for
    /// the whole tree): a yielded name is the full path without them.
    base: usize,
    /// Set when the walk has stopped at an error: nothing is walked after it.
    pub(super) stopped: bool,
    /// Workers inflating the blobs walked ahead, once the consumer reads content.
    pub(super) inflate_ahead: Option<Pool<Job, Reserved>>,
    pub(super) budget: Budget,
}

impl<'s> Walk<'s> {
    /// A walk of `repo`'s commit whose tree is `root_tree`, not started, with `workers`
    /// threads inflating blobs ahead (see [`GitScanner::inflate_ahead`](super::GitScanner)).
    pub(super) fn new(
        repo: gix::Repository,
        root_tree: ObjectId,
        mtime: u64,
        extras: Extras,
        should_skip: &'s ShouldSkip<'s>,
        workers: Option<usize>,
    ) -> Walk<'s> {
        let budget = Budget::new(BUDGET);
        let repositories = Repositories::default();
        let inflate_ahead = start_inflating(&repositories, workers, &budget);
        let work_tree = repo.workdir().map(PathBuf::from);
        let source = Rc::new(Source::new(&repositories, repo, extras.lfs));
        let layer = Layer::new(Rc::clone(&source), &source.repo(), 0, root_tree);
        Walk {
            should_skip,
            mtime,
            extras,
            work_tree,
            layers: vec![layer],
            repositories,
            stack: Vec::new(),
            base: 0,
            stopped: false,
            inflate_ahead,
            budget,
        }
    }

    fn layer(&mut self) -> &mut Layer {
        self.layers
            .last_mut()
            .expect("the top layer lives as long as the walk")
    }

    /// Starts the walk at the directory `prefix` (its components from the root; empty for the
    /// whole tree) of the root tree.
    ///
    /// Each ancestor's tree is read only to find the next component and to push its
    /// `.gitattributes`; its frame is pushed with no entries left, so that its attributes are
    /// popped when the walk ends. A component that is not a tree in `HEAD`, or that is
    /// `export-ignore`d, leaves the walk empty, as `git archive` is from such a directory.
    pub(super) fn start(&mut self, prefix: &[Vec<u8>]) -> Result<(), Error> {
        let mut dir = Vec::new();
        let mut id = self.layers[0].root_tree;
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
                opens_layer: false,
            });
            let path = join(&dir, component);
            let Some(next) = next else {
                return Ok(());
            };
            if self.layer().attributes.is_ignored(&path, true) {
                return Ok(());
            }
            dir = path;
            id = next;
        }
        self.base = if dir.is_empty() { 0 } else { dir.len() + 1 };
        self.enter(dir, id, false)
    }

    /// Reads tree `id` (the directory `dir`) and pushes it onto the stack.
    fn enter(&mut self, dir: Vec<u8>, id: ObjectId, opens_layer: bool) -> Result<(), Error> {
        let (entries, pushed_attributes) = self.read_tree(&dir, id)?;
        self.stack.push(Frame {
            dir,
            entries: entries.into_iter(),
            pushed_attributes,
            opens_layer,
        });
        Ok(())
    }

    /// The entries of tree `id` (the directory `dir` of the current repository), after pushing
    /// its `.gitattributes` onto the attribute stack; the flag says whether it was pushed.
    fn read_tree(
        &mut self,
        dir: &[u8],
        id: ObjectId,
    ) -> Result<(Vec<gix::objs::tree::Entry>, bool), Error> {
        let source = Rc::clone(&self.layer().source);
        let repo = source.repo();
        let data = read_tree(&source.packs, &repo, id)
            .map_err(|e| gix_error(format!("cannot read the tree of `{}`", display_dir(dir)), e))?;
        let decoded = gix::objs::TreeRef::from_bytes(&data, repo.object_hash()).map_err(|e| {
            gix_error(
                format!("cannot parse the tree of `{}`", display_dir(dir)),
                e,
            )
        })?;
        let entries: Vec<gix::objs::tree::Entry> =
            decoded.entries.iter().map(|e| (*e).into()).collect();
        let attributes_blob = entries
            .iter()
            .find(|e| e.filename == ".gitattributes" && e.mode.is_blob())
            .map(|e| e.oid);
        let mut pushed_attributes = false;
        if let Some(blob) = attributes_blob {
            let data = read_named_blob(&source.packs, &repo, blob, dir, b".gitattributes")?;
            let layer = self.layer();
            let relative = layer.relative(dir).to_vec();
            pushed_attributes = layer.attributes.push_dir(&relative, &data);
        }
        Ok((entries, pushed_attributes))
    }

    /// The next entry, reading trees as needed; `None` at the end. With `queue`, a blob is
    /// queued for inflating ahead rather than made into an entry.
    pub(super) fn advance(&mut self, queue: bool) -> Result<Option<Planned<'s>>, Error> {
        loop {
            let Some(frame) = self.stack.last_mut() else {
                return Ok(None);
            };
            let Some(entry) = frame.entries.next() else {
                let frame = self.stack.pop().expect("not empty");
                if frame.pushed_attributes {
                    self.layer().attributes.pop_dir();
                }
                if frame.opens_layer {
                    self.layers.pop();
                }
                continue;
            };
            let path = join(&frame.dir, &entry.filename);
            let kind = entry.mode.kind();
            if kind == TreeEntryKind::Commit && !self.extras.submodules {
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
            // A gitlink is matched as a directory, as `git archive` matches it.
            let is_dir = matches!(kind, TreeEntryKind::Tree | TreeEntryKind::Commit);
            let layer = self.layers.last_mut().expect("the top layer");
            let attributes = layer.attributes.of(layer.relative(&path), is_dir);
            if attributes.export_ignore {
                continue;
            }
            if (self.should_skip)(&Candidate {
                path: name.as_path(),
                is_dir,
            }) {
                continue;
            }
            let source = Rc::clone(&layer.source);
            match kind {
                TreeEntryKind::Tree => self.enter(path, entry.oid, false)?,
                TreeEntryKind::Commit => self.enter_submodule(path, entry.oid)?,
                TreeEntryKind::Link => {
                    let target = read_blob(&source.packs, &source.repo(), entry.oid)
                        .map_err(|e| gix_error(format!("cannot read the symlink `{name}`"), e))?;
                    let entry = Entry::symlink(name, target, self.mtime);
                    return Ok(Some(Planned::Ready(entry)));
                }
                TreeEntryKind::Blob | TreeEntryKind::BlobExecutable => {
                    let executable = kind == TreeEntryKind::BlobExecutable;
                    // This thread inflates some of the queued blobs too.
                    source.reopen_if_due()?;
                    if attributes.lfs && self.extras.lfs {
                        let (name, executable) = (name.clone(), executable);
                        if let Some(entry) = self.lfs_entry(name, executable, entry.oid, &source)? {
                            return Ok(Some(Planned::Ready(entry)));
                        }
                    }
                    if let (true, Some(pool)) = (queue, &self.inflate_ahead) {
                        let ticket = pool.queue((source.key, entry.oid));
                        return Ok(Some(Planned::Queued {
                            name,
                            executable,
                            id: entry.oid,
                            source,
                            ticket,
                        }));
                    }
                    let entry = self.blob_entry(name, executable, entry.oid, source)?;
                    return Ok(Some(Planned::Ready(entry)));
                }
            }
        }
    }

    /// Enters the submodule at `path` (from the top repository's root), pinned at commit
    /// `pinned`: its repository found and opened, its tree pushed with a layer of its own.
    fn enter_submodule(&mut self, path: Vec<u8>, pinned: ObjectId) -> Result<(), Error> {
        let nested = self.layers.len() > 1;
        let work_tree = match &self.work_tree {
            Some(work_tree) => Some(work_tree.join(gix::path::from_byte_slice(&path).map_err(
                |_| {
                    Error::scanner(
                        SCANNER,
                        format!(
                            "the submodule path `{}` cannot be a path here",
                            String::from_utf8_lossy(&path)
                        ),
                    )
                },
            )?)),
            None => None,
        };
        let layer = self.layer();
        if layer.modules.is_none() {
            layer.modules = Some(read_modules(
                &layer.source.packs,
                &layer.source.repo(),
                layer.root_tree,
            )?);
        }
        let parent = layer.source.repo();
        let display = String::from_utf8_lossy(&path).into_owned();
        let lookup = Lookup {
            parent_git_dirs: [parent.git_dir(), parent.common_dir()],
            name: layer
                .modules
                .as_ref()
                .and_then(|modules| modules.name(layer.relative(&path))),
            work_tree,
            display: &display,
            nested,
        };
        let (repo, tree) = lookup.open(pinned)?;
        drop(parent);
        let source = Rc::new(Source::new(&self.repositories, repo, self.extras.lfs));
        let layer = Layer::new(Rc::clone(&source), &source.repo(), path.len() + 1, tree);
        self.layers.push(layer);
        self.enter(path, tree, true)
    }

    /// The entry of an LFS pointer blob: its object from the store, checked to be there at
    /// the pointer's size (one `stat`; read only when written). `None` if the blob is not a
    /// pointer: it is then bundled as it is.
    fn lfs_entry(
        &mut self,
        name: EntryName,
        executable: bool,
        id: ObjectId,
        source: &Rc<Source>,
    ) -> Result<Option<Entry<'s>>, Error> {
        let size = source
            .blob_size(id)
            .map_err(|e| gix_error(format!("cannot find the blob of `{name}`"), e))?;
        if size > MAX_POINTER {
            return Ok(None);
        }
        let repo = source.repo();
        let data = read_blob(&source.packs, &repo, id)
            .map_err(|e| gix_error(format!("cannot read `{name}`"), e))?;
        source.count_read(data.len() as u64);
        let Some(pointer) = Pointer::parse(&data) else {
            return Ok(None);
        };
        let display = name.to_string();
        if pointer.extensions {
            return Err(GitError::LfsExtensions { path: display }.into());
        }
        let store = source.lfs.as_ref().expect("a store whenever lfs is on");
        let seen = store.check(&display, &pointer)?;
        let size = pointer.size;
        let source = Rc::clone(source);
        let open = move || -> Result<Box<dyn Read + 's>, Error> {
            let store = source.lfs.as_ref().expect("a store whenever lfs is on");
            store.open(&display, &pointer, seen)
        };
        let open = self.mark_reading(Box::new(open));
        Ok(Some(Entry::file(name, size, executable, self.mtime, open)))
    }

    /// A blob's entry as made without inflating ahead: its size from its header, its content
    /// inflated when it is opened.
    pub(super) fn blob_entry(
        &mut self,
        name: EntryName,
        executable: bool,
        id: ObjectId,
        source: Rc<Source>,
    ) -> Result<Entry<'s>, Error> {
        source.reopen_if_due()?;
        let size = source
            .blob_size(id)
            .map_err(|e| gix_error(format!("cannot find the blob of `{name}`"), e))?;
        let display = name.to_string();
        let open = move || -> Result<Box<dyn Read + 's>, Error> {
            if let Some(blob) = source.packs.open(&id, gix::object::Kind::Blob) {
                return Ok(Box::new(blob));
            }
            // A delta, or an object outside the packs: gix reads it whole.
            let data = read_blob_through_gix(&source.repo(), id)
                .map_err(|e| gix_error(format!("cannot read `{display}`"), e))?;
            source.count_read(data.len() as u64);
            Ok(Box::new(Cursor::new(data)))
        };
        let open = self.mark_reading(Box::new(open));
        Ok(Entry::file(name, size, executable, self.mtime, open))
    }

    /// `open` made to tell the inflating workers, if any, that the consumer reads content.
    pub(super) fn mark_reading(&self, open: Opener<'s>) -> Opener<'s> {
        match &self.inflate_ahead {
            Some(pool) => Box::new(pool.opener(open)),
            None => open,
        }
    }
}

/// Adds `repo` to `repositories` for the workers; returns its key and packs.
fn register(repositories: &Repositories, repo: &gix::Repository) -> (usize, Arc<Packs>) {
    let packs = Arc::new(Packs::of(repo));
    let mut repositories = repositories.lock().unwrap_or_else(|e| e.into_inner());
    repositories.push(Registered {
        git_dir: repo.git_dir().to_path_buf(),
        options: repo.open_options().clone(),
        packs: Arc::clone(&packs),
    });
    (repositories.len() - 1, packs)
}

/// The size of blob `id`: from its pack entry's header, read without mapping the pack, or
/// where that cannot tell, from gix (which reports any error).
pub(super) fn blob_size(
    packs: &Packs,
    repo: &gix::Repository,
    id: ObjectId,
) -> Result<u64, gix::Error> {
    match packs.size(&id) {
        Some(size) => Ok(size),
        None => Ok(repo.find_header(id)?.size()),
    }
}

/// The `.gitmodules` of the commit whose tree is `root_tree`; empty if it has none.
fn read_modules(
    packs: &Packs,
    repo: &gix::Repository,
    root_tree: ObjectId,
) -> Result<Modules, Error> {
    let data =
        read_tree(packs, repo, root_tree).map_err(|e| gix_error("cannot read the root tree", e))?;
    let decoded = gix::objs::TreeRef::from_bytes(&data, repo.object_hash())
        .map_err(|e| gix_error("cannot parse the root tree", e))?;
    let Some(blob) = decoded
        .entries
        .iter()
        .find(|e| e.filename == ".gitmodules" && e.mode.is_blob())
        .map(|e| e.oid.to_owned())
    else {
        return Ok(Modules::default());
    };
    let data = read_named_blob(packs, repo, blob, b"", b".gitmodules")?;
    Modules::parse(&data)
}

fn read_named_blob(
    packs: &Packs,
    repo: &gix::Repository,
    id: ObjectId,
    dir: &[u8],
    name: &[u8],
) -> Result<Vec<u8>, Error> {
    read_blob(packs, repo, id).map_err(|e| {
        gix_error(
            format!(
                "cannot read `{}`",
                String::from_utf8_lossy(&join(dir, name))
            ),
            e,
        )
    })
}

/// The content of blob `id`, whole: from its pack without mapping it where it can be, else
/// through gix.
pub(super) fn read_blob(
    packs: &Packs,
    repo: &gix::Repository,
    id: ObjectId,
) -> Result<Vec<u8>, gix::Error> {
    match packs.read(&id, gix::object::Kind::Blob) {
        Some(data) => Ok(data),
        None => read_blob_through_gix(repo, id),
    }
}

/// The content of blob `id`, whole, as gix reads it (through its mappings of the packs): for
/// what [`Packs`] leaves to gix, deltas and loose objects.
pub(super) fn read_blob_through_gix(
    repo: &gix::Repository,
    id: ObjectId,
) -> Result<Vec<u8>, gix::Error> {
    Ok(repo.find_blob(id)?.detach().data)
}

/// The encoded tree `id`, as [`read_blob`] reads a blob.
fn read_tree(packs: &Packs, repo: &gix::Repository, id: ObjectId) -> Result<Vec<u8>, gix::Error> {
    match packs.read(&id, gix::object::Kind::Tree) {
        Some(data) => Ok(data),
        None => Ok(repo.find_tree(id)?.detach().data),
    }
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
