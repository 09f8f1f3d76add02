//! Blobs inflated ahead of the builder on worker threads, each with repository handles of its
//! own (one per repository it has had jobs from, submodules included), driven by the shared
//! walk-ahead driver.

use std::collections::VecDeque;
use std::io::{Cursor, Read};
use std::sync::Arc;

use gix::ObjectId;
use spiro_scanner::{Entry, Error};

use super::packs::Packs;
use super::walk::{
    BYTES_PER_HANDLE, Job, Planned, Repositories, Walk, blob_size, read_blob_through_gix,
};
use crate::ahead::{Budget, Pool, Reserved};
use crate::repo::{open_again, reopen};
use crate::walk_ahead::Walker;

impl<'s> Walk<'s> {
    /// The entry of a planned item. For a queued blob: the content a worker inflated, or this
    /// thread did (helping with the blobs after it while a worker is on it); where that failed,
    /// the blob done again as without inflating ahead, for the same entry or error.
    fn resolve(
        &mut self,
        planned: Planned<'s>,
        later: &VecDeque<Planned<'s>>,
    ) -> Result<Entry<'s>, Error> {
        let (name, executable, id, source, ticket) = match planned {
            Planned::Ready(entry) => return Ok(entry),
            Planned::Failed(error) => return Err(error),
            Planned::Queued {
                name,
                executable,
                id,
                source,
                ticket,
            } => (name, executable, id, source, ticket),
        };
        let next = later.iter().filter_map(|planned| match planned {
            Planned::Queued { ticket, .. } => Some(ticket),
            _ => None,
        });
        let budget = &self.budget;
        let content = ticket.take_or_help(next, |(key, id)| {
            // A job after a submodule's first or last blob may be another repository's.
            let helped = if key == source.key {
                &source
            } else {
                later.iter().find_map(|planned| match planned {
                    Planned::Queued { source, .. } if source.key == key => Some(source),
                    _ => None,
                })?
            };
            let content = inflate(&helped.packs, &helped.repo(), id, budget)?;
            helped.count_read(content.as_ref().len() as u64);
            Some(content)
        });
        let Some(content) = content else {
            return self.blob_entry(name, executable, id, source);
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
pub(super) const MAX_BLOB: u64 = 1024 * 1024;
/// Inflated content held ahead of the builder, at most.
pub(super) const BUDGET: u64 = 8 * 1024 * 1024;

/// How many repository handles a worker keeps: the walk meets a submodule's blobs together,
/// so two cover the repository being walked and the one the walk returns to. Few, because
/// each keeps the pack pages it read (up to [`BYTES_PER_HANDLE`]) mapped while it lives.
const HANDLES_PER_WORKER: usize = 2;

/// One worker's handle on one of the scan's repositories.
struct Handle {
    key: usize,
    repo: gix::Repository,
    packs: Arc<Packs>,
    read: u64,
}

/// Starts the workers that inflate blobs ahead of the builder, each opening the repositories
/// of its jobs itself (a gix handle belongs to one thread); `None` if none could start.
pub(super) fn start_inflating(
    repositories: &Repositories,
    workers: Option<usize>,
    budget: &Budget,
) -> Option<Pool<Job, Reserved>> {
    let workers = workers.unwrap_or_else(crate::ahead::default_workers);
    let repositories = Arc::clone(repositories);
    let budget = budget.clone();
    Pool::start(
        workers,
        || Some(Vec::<Handle>::new()),
        move |handles: &mut Vec<Handle>, (key, id): Job| {
            let handle = handle(handles, key, &repositories)?;
            // As on the consumer's thread, a fresh handle every so often unmaps what was read.
            if handle.read >= BYTES_PER_HANDLE {
                handle.repo = reopen(&handle.repo).ok()?;
                handle.read = 0;
            }
            let content = inflate(&handle.packs, &handle.repo, id, &budget)?;
            handle.read += content.as_ref().len() as u64;
            Some(content)
        },
    )
}

/// The worker's handle on repository `key`, opened if it has none (dropping the least
/// recently used one beyond [`HANDLES_PER_WORKER`]); `None` if it cannot be opened (the
/// consumer then reads the blob itself, and reports the error).
fn handle<'h>(
    handles: &'h mut Vec<Handle>,
    key: usize,
    repositories: &Repositories,
) -> Option<&'h mut Handle> {
    match handles.iter().position(|h| h.key == key) {
        Some(at) => {
            let handle = handles.remove(at);
            handles.push(handle);
        }
        None => {
            let registered = repositories
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(key)?
                .clone();
            let repo = open_again(&registered.git_dir, registered.options).ok()?;
            if handles.len() >= HANDLES_PER_WORKER {
                handles.remove(0);
            }
            handles.push(Handle {
                key,
                repo,
                packs: registered.packs,
                read: 0,
            });
        }
    }
    handles.last_mut()
}

/// Inflates the blob `id` if it is small enough and fits the budget; `None` otherwise and on
/// any error (the consumer then reads it the usual way, which reports the error).
fn inflate(
    packs: &Packs,
    repo: &gix::Repository,
    id: ObjectId,
    budget: &Budget,
) -> Option<Reserved> {
    let packed = packs.open(&id, gix::object::Kind::Blob);
    let size = match &packed {
        Some(object) => object.size(),
        None => blob_size(packs, repo, id).ok()?,
    };
    if size > MAX_BLOB {
        return None;
    }
    let mut content = budget.reserve(size)?;
    let data = match packed {
        Some(object) => object.read_whole()?,
        // A delta, or not a blob (a corrupt tree, which fails here).
        None => read_blob_through_gix(repo, id).ok()?,
    };
    if data.len() as u64 != size {
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
