//! The one walk-ahead driver: a scan walks up to [`MAX_AHEAD`] entries ahead of its consumer
//! so that workers (the `ahead` pool) can do the slow part of the entries to come (the `fs`
//! scanner's read-ahead, the `git` scanner's inflate-ahead) while the consumer writes the ones
//! before them.
//!
//! A [`Walker`] says how to plan one step of its walk and how to finish a planned item into an
//! entry; [`WalkAhead`] decides how far ahead to walk: one item at a time, queueing nothing,
//! until the consumer reads content (so a scan only counted or listed costs what it would
//! without workers), then up to [`MAX_AHEAD`].

use std::collections::VecDeque;

use spiro_scanner::{Entry, Error};

/// Entries walked ahead of the consumer, at most.
pub(crate) const MAX_AHEAD: usize = 512;

/// One scan's walk, as [`WalkAhead`] drives it.
pub(crate) trait Walker<'s> {
    /// An item walked but not yet yielded: made already, or with work queued for a worker.
    type Planned;

    /// Whether the consumer has started reading content: only then is work queued.
    fn consumer_reads(&self) -> bool;

    /// The next step of the walk, with work queued for it when `queue`: `None` at the end of
    /// the walk, `Some(None)` for an item that yields nothing (a directory).
    fn plan(&mut self, queue: bool) -> Option<Option<Self::Planned>>;

    /// The entry (or error) of a planned item, or `None` if it turns out to yield nothing.
    /// `later` are the items planned after it, whose work the consumer may do meanwhile.
    fn finish(
        &mut self,
        planned: Self::Planned,
        later: &VecDeque<Self::Planned>,
    ) -> Option<Result<Entry<'s>, Error>>;
}

/// A [`Walker`]'s entries, walked ahead of the consumer; see the module docs.
pub(crate) struct WalkAhead<'s, W: Walker<'s>> {
    // Dropped before `walker` (and the pool it holds), so that the workers the pool waits for
    // find no ticket held and skip the jobs left in the queue.
    ahead: VecDeque<W::Planned>,
    pub(crate) walker: W,
    walk_done: bool,
    /// Whether the first error ends the scan (as the walk without workers would).
    stop_at_error: bool,
}

impl<'s, W: Walker<'s>> WalkAhead<'s, W> {
    /// Drives `walker`; with `stop_at_error`, nothing is yielded after the first error.
    pub(crate) fn new(walker: W, stop_at_error: bool) -> WalkAhead<'s, W> {
        WalkAhead {
            ahead: VecDeque::new(),
            walker,
            walk_done: false,
            stop_at_error,
        }
    }
}

impl<'s, W: Walker<'s>> Iterator for WalkAhead<'s, W> {
    type Item = Result<Entry<'s>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let reading = self.walker.consumer_reads();
            // Until the consumer reads content, walk one item at a time and queue nothing.
            let lead = if reading { MAX_AHEAD } else { 1 };
            while !self.walk_done && self.ahead.len() < lead {
                match self.walker.plan(reading) {
                    Some(Some(planned)) => self.ahead.push_back(planned),
                    Some(None) => {}
                    None => self.walk_done = true,
                }
            }
            let planned = self.ahead.pop_front()?;
            match self.walker.finish(planned, &self.ahead) {
                Some(Err(error)) if self.stop_at_error => {
                    self.ahead.clear();
                    self.walk_done = true;
                    return Some(Err(error));
                }
                Some(entry) => return Some(entry),
                None => {}
            }
        }
    }
}
