//! The `fs` scanner's read-ahead: small files opened, stat'ed and read on worker threads while
//! the builder writes the entries before them.
//!
//! A source tree is mostly small files, and for each the kernel spends more time finding it
//! (a walk of its whole path, permission checks) than copying it. [`FsWalk`], driven by the
//! shared [`WalkAhead`](crate::walk_ahead::WalkAhead), walks up to
//! [`MAX_AHEAD`](crate::walk_ahead::MAX_AHEAD) entries ahead of its consumer and queues each
//! regular file for a worker, which
//! opens it, takes its size and mode from the open file and reads it whole if it is small; when
//! the builder gets to the entry, its content is waiting.
//!
//! What stays as it was without read-ahead:
//! - the entries, their order and the bundle's bytes;
//! - the errors: anything a worker trips over is done again on the consumer's thread, the way
//!   the plain scan does it, so the same error comes from the same place (a file that cannot
//!   be opened still fails when its entry is written, a vanished one when it is yielded);
//! - bounded memory: at most [`BUDGET`] bytes of content read ahead and not yet written, no file
//!   over [`MAX_FILE`] read ahead, no file held open by a worker.
//!
//! Nothing waits on a worker that has not started: an entry the consumer reaches first is done
//! on the consumer's thread, and the worker skips it. And nothing is read ahead until the
//! consumer opens a file, so a scan only counted or listed (`Builder::counting`, `--list`)
//! costs what it did.

use std::collections::VecDeque;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use spiro_scanner::{Entry, EntryName, Error};

use crate::ahead::{Budget, Pool, Reserved, Ticket};
use crate::disk::{Seen, Tree, entry_below, is_executable, mtime_of};
use crate::walk_ahead::Walker;

use super::walk::WalkItem;

/// Files up to this size are read ahead whole; larger ones are only stat'ed ahead and streamed
/// by the builder, so that one big file never sits whole in memory.
const MAX_FILE: u64 = 256 * 1024;
/// Content read ahead and not yet written, at most.
const BUDGET: u64 = 4 * 1024 * 1024;

/// The workers of one scan.
pub(crate) struct ReadAhead {
    pool: Pool<Arc<Path>, Found>,
    budget: Budget,
    /// Files queued so far, for the tests.
    #[cfg(test)]
    queued: std::cell::Cell<usize>,
}

impl ReadAhead {
    /// Starts `workers` threads; `None` if none could be started (the scan then does without).
    pub(crate) fn start(workers: usize, tree: Arc<Tree>) -> Option<ReadAhead> {
        let budget = Budget::new(BUDGET);
        let for_workers = budget.clone();
        let pool = Pool::start(
            workers,
            move || Some((for_workers.clone(), Arc::clone(&tree))),
            |(budget, tree): &mut (Budget, Arc<Tree>), rel: Arc<Path>| {
                read_ahead(tree, &rel, budget)
            },
        )?;
        Some(ReadAhead {
            pool,
            budget,
            #[cfg(test)]
            queued: std::cell::Cell::new(0),
        })
    }

    fn queue(&self, path: PathBuf) -> (Arc<Path>, Ticket<Arc<Path>, Found>) {
        #[cfg(test)]
        self.queued.set(self.queued.get() + 1);
        let path: Arc<Path> = path.into();
        (Arc::clone(&path), self.pool.queue(path))
    }
}

/// What a worker found at a path the walk saw as a regular file.
pub(crate) struct Found {
    /// The opened file as it was, for the builder's own open of a file too big to read ahead.
    seen: Seen,
    size: u64,
    executable: bool,
    mtime: u64,
    /// The whole content and one byte more if there is one (so that the builder can tell a
    /// file that grew), or `None` for a file too big to read ahead or over the budget.
    content: Option<Reserved>,
}

/// Opens, stats and (if small enough and within the budget) reads the file at `rel` below
/// `tree`; `None` if anything is not as the walk saw it (not there, not a regular file any
/// more, a symlink on its way, unreadable): the consumer then does it all again, as a scan
/// without read-ahead would, and reports it. The open is the one [`Tree::open_file`] does
/// for every file: no symlink followed, no FIFO waited on.
fn read_ahead(tree: &Tree, rel: &Path, budget: &Budget) -> Option<Found> {
    let (file, meta) = tree.open_file(rel, None).ok()?;
    let size = meta.len();
    // The content and one byte more if there is one, so that the builder can tell a file
    // that grew.
    let mut content = (size <= MAX_FILE)
        .then(|| budget.reserve(size + 1))
        .flatten();
    if let Some(content) = &mut content {
        read_whole(file, size, content.data()).ok()?;
    }
    Some(Found {
        seen: Seen::of(&meta),
        size,
        executable: is_executable(&meta),
        mtime: mtime_of(&meta),
        content,
    })
}

/// Reads the file the walk saw at `size` bytes into `data`: its content, and one byte more if
/// it has grown. A read of a regular file returns fewer bytes than asked only at its end, so a
/// first read of `size + 1` bytes that returns `size` has found the end: the read that would
/// return 0 to say so is a system call per file saved. Anything else (a short read, a file
/// that grew) reads on as `read_to_end` does.
fn read_whole(file: fs::File, size: u64, data: &mut Vec<u8>) -> io::Result<()> {
    let want = usize::try_from(size + 1).map_err(io::Error::other)?;
    data.reserve_exact(want);
    #[cfg(unix)]
    {
        // Into the buffer's spare capacity: no zeroing of what the read overwrites.
        let first = loop {
            match rustix::io::read(&file, rustix::buffer::spare_capacity(data)) {
                Err(rustix::io::Errno::INTR) => {}
                result => break result.map_err(io::Error::from)?,
            }
        };
        if first as u64 == size || first == want {
            return Ok(());
        }
    }
    let left = (size + 1).saturating_sub(data.len() as u64);
    file.take(left).read_to_end(data).map(drop)
}

/// A scan's entry, as far as the walk has got with it.
pub(crate) enum Ahead<'s> {
    /// Made on the consumer's thread (directories' errors, symlinks, other kinds of file).
    Ready(spiro_scanner::Result<Entry<'s>>),
    /// A regular file queued for a worker.
    Queued {
        name: EntryName,
        path: Arc<Path>,
        ticket: Ticket<Arc<Path>, Found>,
    },
}

/// The walk items of the `fs` scanner made into entries, read ahead; see the module docs.
pub(crate) struct FsWalk<W> {
    walk: W,
    tree: Arc<Tree>,
    pub(crate) read_ahead: ReadAhead,
}

impl<W: Iterator<Item = WalkItem>> FsWalk<W> {
    pub(crate) fn new(walk: W, tree: Arc<Tree>, read_ahead: ReadAhead) -> FsWalk<W> {
        FsWalk {
            walk,
            tree,
            read_ahead,
        }
    }

    /// The next walk item made into an entry or queued; `None` for a directory.
    fn plan_item<'s>(&self, item: WalkItem, queue: bool) -> Option<Ahead<'s>> {
        let entry = match super::walked(self.tree.root(), item) {
            Ok(Some(entry)) => entry,
            Ok(None) => return None,
            Err(e) => return Some(Ahead::Ready(Err(e))),
        };
        if queue && entry.walked.file_type().is_file() {
            let (path, ticket) = self.read_ahead.queue(entry.rel);
            return Some(Ahead::Queued {
                name: entry.name,
                path,
                ticket,
            });
        }
        self.ready(entry.into_entry(&self.tree)).map(Ahead::Ready)
    }

    /// An entry made on this thread, its opener (if any) made to tell the read-ahead.
    fn ready<'s>(
        &self,
        made: spiro_scanner::Result<Option<Entry<'s>>>,
    ) -> Option<spiro_scanner::Result<Entry<'s>>> {
        let pool = &self.read_ahead.pool;
        made.map(|entry| entry.map(|entry| entry.map_opener(|open| Box::new(pool.opener(open)))))
            .transpose()
    }
}

impl<'s, W: Iterator<Item = WalkItem>> Walker<'s> for FsWalk<W> {
    type Planned = Ahead<'s>;

    fn consumer_reads(&self) -> bool {
        self.read_ahead.pool.consumer_reads()
    }

    fn plan(&mut self, queue: bool) -> Option<Option<Ahead<'s>>> {
        let item = self.walk.next()?;
        Some(self.plan_item(item, queue))
    }

    /// The entry for a planned item: what the worker found, or, where it has not started, found
    /// here (helping with the next items while a worker is on this one).
    fn finish(
        &mut self,
        ahead: Ahead<'s>,
        later: &VecDeque<Ahead<'s>>,
    ) -> Option<spiro_scanner::Result<Entry<'s>>> {
        let (name, path, ticket) = match ahead {
            Ahead::Ready(entry) => return Some(entry),
            Ahead::Queued { name, path, ticket } => (name, path, ticket),
        };
        let next = later.iter().filter_map(|ahead| match ahead {
            Ahead::Queued { ticket, .. } => Some(ticket),
            Ahead::Ready(_) => None,
        });
        let tree = &self.tree;
        let found =
            ticket.take_or_help(next, |rel| read_ahead(tree, &rel, &self.read_ahead.budget));
        let Some(found) = found else {
            // Something was not as the walk saw it: done again as the scan without read-ahead
            // does it (stat, then open when written), for the same entry or error.
            let full = tree.root().join(&path);
            let made = fs::symlink_metadata(&full)
                .map_err(|e| Error::read(&full, e))
                .and_then(|meta| entry_below(name, Arc::clone(tree), path.to_path_buf(), &meta));
            return self.ready(made);
        };
        let (size, executable, mtime) = (found.size, found.executable, found.mtime);
        let tree = Arc::clone(tree);
        let open = move || match found.content {
            Some(content) => Ok(Box::new(io::Cursor::new(content)) as Box<dyn Read>),
            None => {
                let (file, _) = tree.open_file(&path, Some(found.seen))?;
                Ok(
                    Box::new(crate::disk::PathReader::new(file, tree.root().join(&path)))
                        as Box<dyn Read>,
                )
            }
        };
        let entry = Entry::file(
            name,
            size,
            executable,
            mtime,
            self.read_ahead.pool.opener(open),
        );
        Some(Ok(entry))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::walk_ahead::WalkAhead;
    use spiro_bundle::Builder;
    use spiro_scanner::{EntryKind, Scanner};

    use crate::FsScanner;
    use crate::fs::walk::{LeftOut, Walk};

    /// Sizes around the limits, more content than the budget, executables, a symlink, nesting.
    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let sizes = [
            0,
            1,
            511,
            4096,
            MAX_FILE - 1,
            MAX_FILE,
            MAX_FILE + 1,
            3 * MAX_FILE,
        ];
        for (i, size) in sizes.into_iter().enumerate() {
            let content: Vec<u8> = (0..size).map(|b| (b as usize * 31 + i) as u8).collect();
            std::fs::write(root.join(format!("f{i}")), content).unwrap();
        }
        let many = 2 * BUDGET / (200 * 1024);
        for i in 0..many {
            let dir = root.join(format!("d{}/e{}", i % 3, i % 5));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join(format!("g{i}")),
                vec![i as u8; 200 * 1024 + i as usize],
            )
            .unwrap();
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(root.join("f2"), std::fs::Permissions::from_mode(0o755))
                .unwrap();
            std::os::unix::fs::symlink("f1", root.join("link")).unwrap();
        }
        dir
    }

    fn bundle(scanner: FsScanner) -> Vec<u8> {
        let mut builder = Builder::new(Vec::new());
        builder.add_source(&scanner).unwrap();
        builder.finish().unwrap()
    }

    #[test]
    fn reading_ahead_changes_no_byte_of_the_bundle() {
        let dir = tree();
        let plain = bundle(FsScanner::new(dir.path()).read_ahead(0));
        assert!(plain.len() > 2 * BUDGET as usize);
        for workers in [1, 2, 3] {
            let read_ahead = bundle(FsScanner::new(dir.path()).read_ahead(workers));
            assert!(read_ahead == plain, "{workers} workers");
        }
    }

    /// The content and, for a file that grew since the walk, one byte more; a file that
    /// shrank gives what it has.
    #[test]
    fn a_whole_read_gives_the_content_and_one_byte_more_of_a_file_that_grew() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        for (len, walked_size, expected) in [
            (0, 0, 0),
            (1, 1, 1),
            (5000, 5000, 5000),
            (5000, 4000, 4001),
            (5000, 6000, 5000),
            (0, 3, 0),
        ] {
            std::fs::write(&path, vec![7u8; len]).unwrap();
            let mut data = Vec::new();
            read_whole(fs::File::open(&path).unwrap(), walked_size, &mut data).unwrap();
            assert_eq!(
                data,
                vec![7u8; expected],
                "{len} bytes, walked at {walked_size}"
            );
        }
    }

    fn content_of(entry: Entry<'_>) -> Vec<u8> {
        let (_, EntryKind::File { open, .. }, _) = entry.into_parts() else {
            panic!("not a file");
        };
        let mut content = Vec::new();
        open().unwrap().read_to_end(&mut content).unwrap();
        content
    }

    /// Entries kept past the next one, opened out of order or never opened must neither stall
    /// the scan nor mix contents up.
    #[test]
    fn entries_opened_out_of_order_or_never_get_their_own_content() {
        let dir = tree();
        let scanner = FsScanner::new(dir.path()).read_ahead(2);
        let mut entries = scanner.scan(&|_| false).unwrap();
        let first = entries.next().unwrap().unwrap();
        let first_path = dir.path().join(first.name().as_path());
        assert_eq!(content_of(first), std::fs::read(first_path).unwrap());
        let rest: Vec<Entry<'_>> = entries.map(Result::unwrap).collect();
        assert!(rest.len() > 20);
        let files = rest
            .into_iter()
            .rev()
            .filter(|e| matches!(e.kind(), EntryKind::File { .. }))
            .step_by(2);
        for entry in files {
            let path = dir.path().join(entry.name().as_path());
            assert!(
                content_of(entry) == std::fs::read(&path).unwrap(),
                "{path:?}"
            );
        }
    }

    fn keep_all(_: &spiro_scanner::Candidate<'_>) -> bool {
        false
    }

    fn walk_ahead(root: &Path) -> WalkAhead<'static, FsWalk<Walk<'static>>> {
        let tree = Arc::new(Tree::open(root).unwrap());
        let left_out = LeftOut {
            excluded: Vec::new(),
            spiroignore: None,
            gitignores: None,
            should_skip: &keep_all,
        };
        let walk = Walk::new(Arc::clone(&tree), left_out);
        let walker = FsWalk::new(walk, Arc::clone(&tree), ReadAhead::start(1, tree).unwrap());
        WalkAhead::new(walker, false)
    }

    #[test]
    fn nothing_is_read_ahead_until_an_entry_is_opened() {
        let dir = tree();
        let mut walk = walk_ahead(dir.path());
        let mut seen = 0;
        for entry in walk.by_ref() {
            entry.unwrap();
            seen += 1;
        }
        assert!(seen > 20);
        assert_eq!(
            walk.walker.read_ahead.queued.get(),
            0,
            "a counted scan read ahead"
        );

        let mut walk = walk_ahead(dir.path());
        content_of(walk.next().unwrap().unwrap());
        walk.next().unwrap().unwrap();
        assert!(
            walk.walker.read_ahead.queued.get() > 10,
            "an opened scan did not read ahead"
        );
    }
}
