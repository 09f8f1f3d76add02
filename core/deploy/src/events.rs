//! [`Events`]: the iterator over a deploy's event stream, read as it arrives.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::runtime::Runtime;

use crate::error::{Cause, Error};
use crate::event::Event;
use crate::sse::{SseEvent, SseParser};

/// The limit on one event's data, when not set with [`Options::event_limit`]: 64 MiB.
///
/// [`Options::event_limit`]: crate::Options::event_limit
pub const DEFAULT_EVENT_LIMIT: usize = crate::sse::DEFAULT_EVENT_LIMIT;

/// The deploy's events as they arrive. Reading blocks for as long as the server is silent
/// (there is no read timeout: a highstate can take an hour); TCP keepalive notices a dead
/// peer.
///
/// The iterator ends after `highstate-finish` or `exception`, or, without highstate, when the
/// stream ends after `deploy-bundle`. A stream that ends or breaks before that yields
/// [`Error::StreamCut`] as its last item. An event over the limit
/// ([`Options::event_limit`](crate::Options::event_limit)) yields [`Error::EventTooLarge`] and
/// ends the iterator: memory stays bounded whatever the server sends.
pub struct Events {
    rt: Arc<Runtime>,
    response: Option<reqwest::Response>,
    parser: SseParser,
    pending: VecDeque<SseEvent>,
    highstate: bool,
    seen_deploy: bool,
    done: bool,
    /// The `data` of the event `next` returned last, as the server sent it.
    last_data: Option<String>,
    /// The error to yield once the events before it are out.
    failed: Option<Error>,
    /// The bundle's bytes as they went on the wire.
    bundle_sent: u64,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("highstate", &self.highstate)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Events {
    /// The events of `response`, a 200 event stream; `highstate` says whether
    /// `highstate-finish` is expected.
    /// `event_limit` bounds one event's data.
    pub(crate) fn new(
        rt: Arc<Runtime>,
        response: reqwest::Response,
        highstate: bool,
        event_limit: usize,
        bundle_sent: u64,
    ) -> Events {
        Events {
            rt,
            response: Some(response),
            parser: SseParser::with_limit(event_limit),
            pending: VecDeque::new(),
            highstate,
            seen_deploy: false,
            done: false,
            last_data: None,
            failed: None,
            bundle_sent,
        }
    }

    /// How many bytes of bundle went on the wire: the tar's length, or less with
    /// [`Deploy::compression`](crate::Deploy::compression).
    pub fn bundle_bytes_sent(&self) -> u64 {
        self.bundle_sent
    }

    /// The `data` of the event [`next`](Iterator::next) returned last, byte for byte as the
    /// server sent it: the typed [`Event`] keeps only the fields this client knows, so a
    /// consumer that passes events on (`--format json`) uses this.
    pub fn last_data(&self) -> Option<&str> {
        self.last_data.as_deref()
    }

    /// Whether highstate was asked for (and so `highstate-finish` is expected).
    pub fn highstate(&self) -> bool {
        self.highstate
    }

    /// The next raw SSE event, without decoding. Mixing this with the iterator is fine.
    pub fn next_raw(&mut self) -> Option<Result<SseEvent, Error>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(Ok(event));
            }
            if let Some(error) = self.failed.take() {
                return Some(Err(error));
            }
            if self.done {
                return None;
            }
            let response = self.response.as_mut()?;
            match self.rt.block_on(response.chunk()) {
                Ok(Some(bytes)) => {
                    let mut out = Vec::new();
                    let pushed = self.parser.push(&bytes, &mut out);
                    self.pending.extend(out);
                    if let Err(too_large) = pushed {
                        // Dropping the response closes the connection: nothing more is read.
                        self.done = true;
                        self.response = None;
                        self.failed = Some(Error::EventTooLarge {
                            limit: too_large.limit,
                        });
                    }
                }
                Ok(None) => {
                    self.done = true;
                    self.response = None;
                    return self.cut(None);
                }
                Err(e) => {
                    self.done = true;
                    self.response = None;
                    return self.cut(Some(Box::new(e.without_url())));
                }
            }
        }
    }

    /// What the end of the stream means here: [`Error::StreamCut`] if the deploy was not
    /// over, else the end of the iterator.
    fn cut(&self, source: Option<Cause>) -> Option<Result<SseEvent, Error>> {
        let expected = if self.highstate {
            "`highstate-finish`"
        } else if !self.seen_deploy {
            "`deploy-bundle`"
        } else if let Some(source) = source {
            // Without highstate the stream may end at any point after deploy-bundle; a broken
            // connection there is still worth reporting.
            return Some(Err(Error::StreamCut {
                expected: "its end",
                source: Some(source),
            }));
        } else {
            return None;
        };
        Some(Err(Error::StreamCut { expected, source }))
    }
}

impl Iterator for Events {
    type Item = Result<Event, Error>;

    fn next(&mut self) -> Option<Result<Event, Error>> {
        let raw = match self.next_raw()? {
            Ok(raw) => raw,
            Err(e) => return Some(Err(e)),
        };
        let event = match Event::from_sse(&raw) {
            Ok(event) => event,
            Err(source) => {
                return Some(Err(Error::BadEvent {
                    event: raw.event,
                    source,
                }));
            }
        };
        self.last_data = Some(raw.data);
        match event {
            Event::DeployBundle(_) => self.seen_deploy = true,
            Event::HighstateFinish(_) | Event::Exception(_) => {
                // The deploy is over; the server keeps the connection alive, so stop here.
                self.done = true;
                self.pending.clear();
                self.response = None;
            }
            _ => {}
        }
        Some(Ok(event))
    }
}
