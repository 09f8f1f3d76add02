//! `--timeout`: the deploy's events, read on a thread of their own when there is a deadline,
//! so that waiting for the next one ends when the time is up (reading blocks for as long as
//! the server is silent, and a highstate may be silent for an hour).

use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use spiro_client::{Error, Event, Events};

/// An event with the `data` the server sent for it (see `Events::last_data`).
type Item = (Result<Event, Error>, Option<String>);

/// What came next.
pub enum Next {
    /// An event, or the error that ended the stream, with its raw data.
    Item(Item),
    /// The stream is over.
    End,
    /// The deadline passed first.
    TimedOut,
}

/// The events, with or without a deadline.
pub enum Following {
    /// No deadline: read as they come.
    Direct(Box<Events>),
    /// Read by a thread; waiting ends at `deadline`.
    Timed {
        /// The events, one at a time (the reader waits until each is taken: memory stays flat).
        items: Receiver<Item>,
        /// When the deploy must be over.
        deadline: Instant,
    },
}

impl Following {
    /// Follows `events` until `timeout` from now, or for as long as they go on.
    pub fn new(events: Events, timeout: Option<Duration>) -> Following {
        let Some(timeout) = timeout else {
            return Following::Direct(Box::new(events));
        };
        let deadline = Instant::now() + timeout;
        let (send, items) = mpsc::sync_channel(0);
        let mut events = events;
        // The thread ends with the stream, or when the receiver is gone; on a timeout it may
        // still be blocked reading when the process exits, which ends it.
        std::thread::spawn(move || {
            while let Some(event) = events.next() {
                let raw = events.last_data().map(str::to_owned);
                if send.send((event, raw)).is_err() {
                    break;
                }
            }
        });
        Following::Timed { items, deadline }
    }

    /// The next event, the end, or the deadline.
    pub fn next(&mut self) -> Next {
        match self {
            Following::Direct(events) => match events.next() {
                Some(event) => Next::Item((event, events.last_data().map(str::to_owned))),
                None => Next::End,
            },
            Following::Timed { items, deadline } => {
                let left = deadline.saturating_duration_since(Instant::now());
                match items.recv_timeout(left) {
                    Ok(item) => Next::Item(item),
                    Err(RecvTimeoutError::Disconnected) => Next::End,
                    Err(RecvTimeoutError::Timeout) => Next::TimedOut,
                }
            }
        }
    }
}
