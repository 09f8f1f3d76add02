//! Blobs inflated ahead of the builder on worker threads, each with a repository handle of
//! its own, driven by the shared walk-ahead driver.

use std::collections::VecDeque;
use std::io::{Cursor, Read};

use gix::ObjectId;
use spiro_scanner::{Entry, Error};

use super::walk::{BYTES_PER_HANDLE, Planned, Walk, read_blob};
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
pub(super) const MAX_BLOB: u64 = 1024 * 1024;
/// Inflated content held ahead of the builder, at most.
pub(super) const BUDGET: u64 = 8 * 1024 * 1024;

/// Starts the workers that inflate blobs ahead of the builder, each with a repository handle
/// of its own (a gix handle belongs to one thread); `None` if none could start.
pub(super) fn start_inflating(
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
