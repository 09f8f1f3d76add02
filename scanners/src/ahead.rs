//! Work done ahead of a scan's consumer, on worker threads: reading small files for the `fs`
//! scanner, inflating blobs for the `git` scanner. Public for scanners that want the same.
//!
//! A scanner walks ahead of the builder, [queues](Pool::queue) a job for each entry it wants
//! done early, and keeps the [`Ticket`]s in walk order. When the builder gets to an entry, the
//! scanner [takes](Ticket::take_or_help) its ticket: the result if a worker has finished it,
//! the job itself (to run on the consumer's thread) if no worker has started it, and while a
//! worker is still on it, the consumer runs the next job nobody has started rather than wait.
//! So the consumer's thread is never idle while there is work, and nothing ever waits on a
//! worker that has not started: a consumer that opens entries out of order, or never, cannot
//! stall anything.
//!
//! The scanner keeps what the consumer sees unchanged: the same entries in the same order,
//! with the same bytes (a job computes what the consumer would), and the same errors (a job
//! that fails returns `None` and the consumer does the work again the way it would without a
//! pool, so the error comes from the same place).
//!
//! Results should be bounded with a [`Budget`]. Jobs should only be queued once the consumer
//! reads content ([`Pool::opener`] tells): a scan that is only counted or listed has no use
//! for them, and a pool starts its threads only with its first job.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, mpsc};
use std::thread::JoinHandle;

/// The number of workers to use when the caller does not choose: one fewer than the cores
/// (the consumer's thread runs jobs too, and has its own work: headers, writing), at least one,
/// at most three (more only contend).
pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .saturating_sub(1)
        .clamp(1, 3)
}

/// Worker threads running jobs of type `J` into results of type `T`, in queue order.
/// Dropping the pool waits for the workers, which skip what is left in the queue.
///
/// The threads start with the first job queued: a scan that is only counted or listed queues
/// none, and then costs no thread.
pub struct Pool<J, T> {
    jobs: Option<mpsc::Sender<Arc<Slot<J, T>>>>,
    /// Starts the workers; taken by the first [`queue`](Pool::queue).
    spawn: std::cell::Cell<Option<Box<Spawn>>>,
    workers: std::cell::RefCell<Vec<JoinHandle<()>>>,
    consumer_reads: Arc<AtomicBool>,
}

type Spawn = dyn FnOnce() -> Vec<JoinHandle<()>> + Send;

impl<J: Send + 'static, T: Send + 'static> Pool<J, T> {
    /// A pool of `workers` threads, started with the first job queued. Each makes its state
    /// with `init` (`None`: that worker does nothing) and runs `run` on the jobs it takes. If no
    /// thread can be started, the consumer runs every job itself (see [`Ticket::take_or_help`]).
    pub fn start<S, I, R>(workers: usize, init: I, run: R) -> Option<Pool<J, T>>
    where
        I: Fn() -> Option<S> + Send + Sync + 'static,
        R: Fn(&mut S, J) -> Option<T> + Send + Sync + 'static,
    {
        if workers == 0 {
            return None;
        }
        let (sender, receiver) = mpsc::channel::<Arc<Slot<J, T>>>();
        let receiver = Arc::new(Mutex::new(receiver));
        let work = Arc::new((init, run));
        let spawn = move || -> Vec<JoinHandle<()>> {
            (0..workers)
                .map_while(|i| {
                    let receiver = Arc::clone(&receiver);
                    let work = Arc::clone(&work);
                    std::thread::Builder::new()
                        .name(format!("spiro-ahead-{i}"))
                        .spawn(move || {
                            let (init, run) = &*work;
                            if let Some(mut state) = init() {
                                serve(&receiver, |job| run(&mut state, job));
                            }
                        })
                        .ok()
                })
                .collect()
            // With no thread started, the receiver is dropped here: sends then fail and the
            // consumer runs each job itself.
        };
        Some(Pool {
            jobs: Some(sender),
            spawn: std::cell::Cell::new(Some(Box::new(spawn))),
            workers: std::cell::RefCell::new(Vec::new()),
            consumer_reads: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Queues `job` for the workers.
    pub fn queue(&self, job: J) -> Ticket<J, T> {
        if let Some(spawn) = self.spawn.take() {
            *self.workers.borrow_mut() = spawn();
        }
        let slot = Arc::new(Slot {
            state: Mutex::new(State::Queued(job)),
            done: Condvar::new(),
        });
        // A send fails only if every worker is gone; the consumer then runs the job itself.
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(Arc::clone(&slot));
        }
        Ticket(slot)
    }
}

impl<J, T> Pool<J, T> {
    /// Whether an entry's content has been opened through an [`opener`](Pool::opener) of this
    /// pool: until then, queueing work is likely a waste.
    pub fn consumer_reads(&self) -> bool {
        self.consumer_reads.load(Ordering::Relaxed)
    }

    /// `open` made to record, when called, that the consumer reads content.
    pub fn opener<'s, O>(&self, open: impl FnOnce() -> O + 's) -> impl FnOnce() -> O + 's {
        let consumer_reads = Arc::clone(&self.consumer_reads);
        move || {
            consumer_reads.store(true, Ordering::Relaxed);
            open()
        }
    }
}

impl<J, T> Drop for Pool<J, T> {
    fn drop(&mut self) {
        // Closing the queue stops the workers once they have skipped what is left in it.
        drop(self.jobs.take());
        for worker in self.workers.get_mut().drain(..) {
            let _ = worker.join();
        }
    }
}

fn serve<J, T>(jobs: &Mutex<mpsc::Receiver<Arc<Slot<J, T>>>>, mut run: impl FnMut(J) -> Option<T>) {
    loop {
        let slot = match lock(jobs).recv() {
            Ok(slot) => slot,
            Err(mpsc::RecvError) => return,
        };
        // The queue holds one reference; without another, nobody will ever take the result.
        if Arc::strong_count(&slot) < 2 {
            continue;
        }
        if let Some(job) = slot.claim() {
            slot.finish(run(job));
        }
    }
}

enum State<J, T> {
    /// Waiting for someone to run it.
    Queued(J),
    /// Running; `true` once the ticket's holder waits for it.
    Running(bool),
    /// Run; `None` if the job failed and its holder must do the work again.
    Done(Option<T>),
    /// Handed over.
    Taken,
}

struct Slot<J, T> {
    state: Mutex<State<J, T>>,
    done: Condvar,
}

impl<J, T> Slot<J, T> {
    /// The job, if nobody has started it; whoever gets it must `finish` it.
    fn claim(&self) -> Option<J> {
        let mut state = lock(&self.state);
        match std::mem::replace(&mut *state, State::Running(false)) {
            State::Queued(job) => Some(job),
            other => {
                *state = other;
                None
            }
        }
    }

    fn finish(&self, result: Option<T>) {
        let mut state = lock(&self.state);
        let waited = matches!(*state, State::Running(true));
        *state = State::Done(result);
        // Waking costs a system call; most of the time nobody is waiting.
        if waited {
            self.done.notify_one();
        }
    }
}

/// The claim on one queued job's result, kept by the scanner in walk order.
pub struct Ticket<J, T>(Arc<Slot<J, T>>);

impl<J, T> Ticket<J, T> {
    /// The job's result, `None` if the job failed (the caller then does the work again its own
    /// way). If no worker has started the job, `run` runs it here. While a worker is on it,
    /// `run` runs the first job of `next` that nobody has started (the tickets that follow
    /// this one, in walk order) instead of waiting idle.
    pub fn take_or_help<'t>(
        &self,
        next: impl IntoIterator<Item = &'t Ticket<J, T>>,
        mut run: impl FnMut(J) -> Option<T>,
    ) -> Option<T>
    where
        J: 't,
        T: 't,
    {
        let mut next = next.into_iter();
        loop {
            let mut state = lock(&self.0.state);
            match std::mem::replace(&mut *state, State::Taken) {
                State::Done(result) => return result,
                State::Queued(job) => {
                    drop(state);
                    return run(job);
                }
                State::Taken => return None,
                State::Running(_) => {
                    *state = State::Running(false);
                    drop(state);
                    if let Some((slot, job)) = next.by_ref().find_map(|t| Some((t, t.0.claim()?))) {
                        slot.0.finish(run(job));
                        continue;
                    }
                    let mut state = lock(&self.0.state);
                    while let State::Running(_) = *state {
                        *state = State::Running(true);
                        state = self.0.done.wait(state).unwrap_or_else(|e| e.into_inner());
                    }
                }
            }
        }
    }
}

/// A limit on the bytes of results held ahead of the consumer, shared by a pool's jobs.
#[derive(Clone, Debug)]
pub struct Budget {
    limit: u64,
    used: Arc<AtomicU64>,
}

impl Budget {
    /// A budget of `limit` bytes.
    pub fn new(limit: u64) -> Budget {
        Budget {
            limit,
            used: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Reserves `bytes` if they fit; the reservation lasts as long as the returned buffer
    /// (empty: fill it, or put a buffer of at most `bytes` in its place).
    pub fn reserve(&self, bytes: u64) -> Option<Reserved> {
        let fits = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                (used + bytes <= self.limit).then_some(used + bytes)
            })
            .is_ok();
        fits.then(|| Reserved {
            data: Vec::new(),
            bytes,
            used: Arc::clone(&self.used),
        })
    }
}

/// A buffer counted against a [`Budget`] until it is dropped. Fill it through
/// [`data`](Reserved::data); read it as `io::Cursor<Reserved>`.
#[derive(Debug)]
pub struct Reserved {
    data: Vec<u8>,
    bytes: u64,
    used: Arc<AtomicU64>,
}

impl Reserved {
    /// The buffer.
    pub fn data(&mut self) -> &mut Vec<u8> {
        &mut self.data
    }
}

impl AsRef<[u8]> for Reserved {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        self.used.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// A worker panics only if allocation fails; the state it guards stays consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// Squares numbers, counting every run wherever it happens; 13 fails.
    fn squares(workers: usize, runs: &Arc<AtomicUsize>) -> Pool<u64, u64> {
        let runs = Arc::clone(runs);
        Pool::start(
            workers,
            || Some(()),
            move |(), n: u64| {
                runs.fetch_add(1, Ordering::Relaxed);
                (n != 13).then_some(n * n)
            },
        )
        .unwrap()
    }

    fn run_here(runs: &AtomicUsize) -> impl FnMut(u64) -> Option<u64> + '_ {
        |n| {
            runs.fetch_add(1, Ordering::Relaxed);
            (n != 13).then_some(n * n)
        }
    }

    #[test]
    fn threads_start_with_the_first_job_not_before() {
        let runs = Arc::new(AtomicUsize::new(0));
        let pool = squares(2, &runs);
        let opened = pool.opener(|| ());
        opened();
        assert!(pool.consumer_reads());
        assert!(pool.workers.borrow().is_empty(), "no job yet, no thread");
        let ticket = pool.queue(3);
        assert_eq!(pool.workers.borrow().len(), 2);
        assert_eq!(ticket.take_or_help(&[], run_here(&runs)), Some(9));
        // A pool never given a job drops without any thread to wait for.
        drop(squares(3, &runs));
    }

    #[test]
    fn results_come_in_order_and_every_job_runs_once() {
        for workers in [1, 2, 3] {
            let runs = Arc::new(AtomicUsize::new(0));
            let pool = squares(workers, &runs);
            let mut tickets: std::collections::VecDeque<_> =
                (0..2000).map(|n| pool.queue(n)).collect();
            let mut n = 0;
            while let Some(ticket) = tickets.pop_front() {
                let result = ticket.take_or_help(&tickets, run_here(&runs));
                assert_eq!(
                    result,
                    (n != 13).then_some(n * n),
                    "{workers} workers, job {n}"
                );
                n += 1;
            }
            drop(pool);
            assert_eq!(runs.load(Ordering::Relaxed), 2000, "{workers} workers");
        }
    }

    #[test]
    fn tickets_taken_out_of_order_or_dropped_stall_nothing() {
        let runs = Arc::new(AtomicUsize::new(0));
        let pool = squares(2, &runs);
        let tickets: Vec<_> = (0..500).map(|n| pool.queue(n)).collect();
        for (n, ticket) in tickets.iter().enumerate().rev().step_by(3) {
            let n = n as u64;
            let result = ticket.take_or_help([], run_here(&runs));
            assert_eq!(result, (n != 13).then_some(n * n));
        }
        drop(tickets);
        drop(pool);
        assert!(runs.load(Ordering::Relaxed) <= 500);
    }

    #[test]
    fn the_opener_records_that_the_consumer_reads() {
        let pool = squares(1, &Arc::new(AtomicUsize::new(0)));
        let open = pool.opener(|| 7);
        assert!(!pool.consumer_reads());
        assert_eq!(open(), 7);
        assert!(pool.consumer_reads());
    }

    #[test]
    fn a_budget_refuses_what_does_not_fit_until_room_is_freed() {
        let budget = Budget::new(100);
        let first = budget.reserve(60).unwrap();
        assert!(budget.reserve(41).is_none());
        let second = budget.reserve(40).unwrap();
        assert!(budget.reserve(1).is_none());
        drop(first);
        assert!(budget.reserve(60).is_some());
        drop(second);
        assert!(budget.reserve(100).is_some());
    }
}
