//! The depth-first walk over the `HEAD` tree, as `git archive` walks it.

use std::io::{Cursor, Read};
use std::rc::Rc;

use gix::ObjectId;
use gix::objs::tree::EntryKind as TreeEntryKind;
use spiro_scanner::{Candidate, Entry, EntryName, Error, Opener, ShouldSkip};

use crate::ahead::{Budget, Pool, Reserved, Ticket};
use crate::attributes::ExportIgnore;
use crate::repo::{SCANNER, gix_error, reopen};

/// How many bytes of blobs are read through one repository handle before the walk opens the
/// repository anew. gix memory-maps pack files, and every page read stays in this process's
/// resident memory while the mapping lives: a 1 GiB pack would make a 1 GiB process. A fresh
/// handle every 4 MiB unmaps the old packs (their pages stay in the kernel's page cache, so
/// reading on costs only minor faults), keeping memory flat whatever the repository's size.
/// Each thread that inflates blobs has a handle of its own, and each counts its own bytes.
pub(super) const BYTES_PER_HANDLE: u64 = 4 * 1024 * 1024;

/// One tree being walked.
pub(super) struct Frame {
    /// The directory's path from the repository root, `/`-separated, empty for the root
    /// (attributes match full paths; names are these paths without [`Walk::base`]).
    dir: Vec<u8>,
    entries: std::vec::IntoIter<gix::objs::tree::Entry>,
    /// Whether this directory's `.gitattributes` was pushed onto the attribute stack.
    pushed_attributes: bool,
}

/// The depth-first walk over the `HEAD` tree; the [`Entries`] iterator of a scan.
/// An entry as far as the walk has got with it.
pub(super) enum Planned<'s> {
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

pub(super) struct Walk<'s> {
    pub(super) repo: Rc<gix::Repository>,
    /// Bytes of blobs read through `repo` (by the openers too): see [`BYTES_PER_HANDLE`].
    pub(super) read_since_reopen: Rc<std::cell::Cell<u64>>,
    pub(super) should_skip: &'s ShouldSkip<'s>,
    pub(super) mtime: u64,
    pub(super) attributes: ExportIgnore,
    pub(super) stack: Vec<Frame>,
    /// How many leading bytes of a full path are the scanned subdirectory and its `/` (0 for
    /// the whole tree): a yielded name is the full path without them.
    pub(super) base: usize,
    /// Set when the walk has stopped at an error: nothing is walked after it.
    pub(super) stopped: bool,
    /// Workers inflating the blobs walked ahead, once the consumer reads content.
    pub(super) inflate_ahead: Option<Pool<ObjectId, Reserved>>,
    pub(super) budget: Budget,
}

impl<'s> Walk<'s> {
    /// Starts the walk at the directory `prefix` (its components from the root; empty for the
    /// whole tree) of the root tree `root`.
    ///
    /// Each ancestor's tree is read only to find the next component and to push its
    /// `.gitattributes`; its frame is pushed with no entries left, so that its attributes are
    /// popped when the walk ends. A component that is not a tree in `HEAD`, or that is
    /// `export-ignore`d, leaves the walk empty, as `git archive` is from such a directory.
    pub(super) fn start(&mut self, prefix: &[Vec<u8>], root: ObjectId) -> Result<(), Error> {
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
    pub(super) fn advance(&mut self, queue: bool) -> Result<Option<Planned<'s>>, Error> {
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
    pub(super) fn blob_entry(
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
    pub(super) fn mark_reading(&self, open: Opener<'s>) -> Opener<'s> {
        match &self.inflate_ahead {
            Some(pool) => Box::new(pool.opener(open)),
            None => open,
        }
    }
}

/// The content of blob `id`, owned.
pub(super) fn read_blob(repo: &gix::Repository, id: ObjectId) -> Result<Vec<u8>, gix::Error> {
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
