//! The bridge from the bundle writer to the connection: [`Upload`] is the `io::Write` the tar
//! is written to; it fills recycled chunk buffers and hands them through a short channel to
//! the request body stream that the connection reads.

use std::io::{self, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::classify::{Classifier, caused_by};
use crate::error::Error;
use crate::error_page::status_error;
use crate::events::Events;
use crate::gzip::Compressor;

/// The size of the chunks handed to the connection: large, so a gigabyte moves in few
/// wake-ups; bounded, with a channel four chunks deep, so memory stays flat.
const CHUNK: usize = 256 * 1024;
const CHANNEL_CHUNKS: usize = 4;
/// How many spare chunk buffers a [`ChunkPool`] keeps: enough for the channel and the
/// connection's hands, 2 MiB at most.
const POOL_CHUNKS: usize = 2 * CHANNEL_CHUNKS;
/// How long an aborted upload waits for the server's answer (the reason a write failed).
const ABORT_ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// Chunk buffers recycled between the writer and the connection. A fresh 256 KiB allocation is
/// an `mmap` for glibc, so every chunk faulted its pages in and unmapped them once sent: in a
/// profile of a 512 MiB upload that cost twice the copy itself.
#[derive(Clone, Default)]
struct ChunkPool(Arc<std::sync::Mutex<Vec<Vec<u8>>>>);

impl ChunkPool {
    /// A spare buffer as it came back, stale bytes and all.
    fn spare(&self) -> Option<Vec<u8>> {
        self.0.lock().ok().and_then(|mut spare| spare.pop())
    }

    /// An empty buffer of at least [`CHUNK`] bytes' capacity.
    fn take(&self) -> Vec<u8> {
        let mut buf = self.spare().unwrap_or_else(|| Vec::with_capacity(CHUNK));
        buf.clear();
        buf
    }

    /// A buffer [`CHUNK`] bytes long, to be filled whole ([`Upload::take_buffer`]). A spare
    /// one keeps its stale bytes: zeroing it again would be one more pass over the bundle.
    fn lend(&self) -> Vec<u8> {
        let mut buf = self.spare().unwrap_or_default();
        buf.resize(CHUNK, 0);
        buf
    }

    /// `buf` as a chunk for the connection; the buffer comes back here when the chunk is sent.
    fn chunk(&self, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(Pooled {
            buf,
            pool: self.clone(),
        })
    }
}

/// A chunk's buffer on its way to the connection; returned to its pool when dropped.
struct Pooled {
    buf: Vec<u8>,
    pool: ChunkPool,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        // Not cleared: `lend` reuses the length (and `take` clears it).
        let buf = std::mem::take(&mut self.buf);
        // A buffer of another size (a caller's own, given to `take_buffer`) is not kept: the
        // pool's buffers stay chunk-sized, and its memory bounded.
        if !(CHUNK..=2 * CHUNK).contains(&buf.capacity()) {
            return;
        }
        if let Ok(mut spare) = self.pool.0.lock()
            && spare.len() < POOL_CHUNKS
        {
            spare.push(buf);
        }
    }
}

/// What goes through the channel from the writer to the body.
enum Chunk {
    Data(Bytes),
    End,
}

/// The request body: the chunks the writer sends, ending cleanly only on [`Chunk::End`]. A
/// writer that goes away without it (an error, a panic) makes the body fail, so the server
/// never receives a truncated bundle as a complete one.
struct BundleStream {
    rx: mpsc::Receiver<Chunk>,
    sent: Arc<AtomicU64>,
    ended: bool,
}

/// The body's error when the writer went away without ending the bundle.
#[derive(Debug, thiserror::Error)]
#[error("the bundle upload was aborted")]
struct Aborted;

impl futures_core::Stream for BundleStream {
    type Item = Result<Bytes, Aborted>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Chunk::Data(bytes))) => {
                self.sent.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                Poll::Ready(Some(Ok(bytes)))
            }
            Poll::Ready(Some(Chunk::End)) => {
                self.ended = true;
                Poll::Ready(None)
            }
            Poll::Ready(None) => {
                self.ended = true;
                Poll::Ready(Some(Err(Aborted)))
            }
        }
    }
}

/// The writer's end of a new upload bridge, before the request is sent.
pub(crate) struct Bridge {
    tx: mpsc::Sender<Chunk>,
    /// Bytes handed to the connection, counted by the body stream.
    pub(crate) sent: Arc<AtomicU64>,
}

/// A new bridge: the writer's end, and the request body that the connection reads.
pub(crate) fn bridge() -> (Bridge, reqwest::Body) {
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    let sent = Arc::new(AtomicU64::new(0));
    let stream = BundleStream {
        rx,
        sent: sent.clone(),
        ended: false,
    };
    (Bridge { tx, sent }, reqwest::Body::wrap_stream(stream))
}

/// The bounds of an upload: how long it waits for the connection to take more of the
/// bundle and for the answer once it has all of it, and how large an event may be.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) stall: Duration,
    pub(crate) response: Duration,
    /// The largest event accepted, in bytes of its data.
    pub(crate) event_limit: usize,
}

/// The upload request on its way: the task sending it, and the status of the server's
/// answer once it came (0 if the request failed instead).
pub(crate) struct Request {
    pub(crate) response: JoinHandle<reqwest::Result<reqwest::Response>>,
    pub(crate) answered: watch::Receiver<Option<u16>>,
}

/// A deploy in progress: write the tar bundle to it (it is a [`Write`]r), then call
/// [`finish`](Upload::finish). Writes block while the connection is busy, so memory stays at
/// about a megabyte whatever the bundle's size.
pub struct Upload {
    tx: Option<mpsc::Sender<Chunk>>,
    buf: Vec<u8>,
    pool: ChunkPool,
    response: Option<JoinHandle<reqwest::Result<reqwest::Response>>>,
    /// The status of the server's answer once it came (0 if the request failed instead).
    answered: watch::Receiver<Option<u16>>,
    classifier: Classifier,
    rt: Arc<Runtime>,
    highstate: bool,
    written: u64,
    /// The tar's length announced beforehand, if any: the bundle must be exactly that long.
    announced: Option<u64>,
    /// The gzip stream the bundle goes through on its way out, with `--compress`.
    gzip: Option<Compressor>,
    limits: Limits,
    /// Set when a write waited longer than `limits.stall` for the connection.
    stalled: bool,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("url", &self.classifier.url())
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

fn broken_pipe(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, message.to_owned())
}

impl Upload {
    /// The upload whose request (with `bridge`'s body) is on its way.
    pub(crate) fn new(
        bridge: Bridge,
        request: Request,
        classifier: Classifier,
        rt: Arc<Runtime>,
        highstate: bool,
        announced: Option<u64>,
        limits: Limits,
    ) -> Upload {
        Upload {
            tx: Some(bridge.tx),
            buf: Vec::with_capacity(CHUNK),
            pool: ChunkPool::default(),
            response: Some(request.response),
            answered: request.answered,
            classifier,
            rt,
            highstate,
            written: 0,
            announced,
            gzip: None,
            limits,
            stalled: false,
        }
    }

    /// The upload with the bundle passing through `gzip` on its way out.
    pub(crate) fn compressed(mut self, gzip: Option<Compressor>) -> Upload {
        self.gzip = gzip;
        self
    }

    /// Bytes of the bundle written so far (before compression).
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Bytes handed to the connection so far (after compression, if any).
    pub fn sent(&self) -> u64 {
        self.classifier.sent()
    }

    fn send(&mut self, chunk: Chunk) -> io::Result<()> {
        let Some(tx) = &self.tx else {
            return Err(broken_pipe("the upload is closed"));
        };
        if matches!(*self.answered.borrow(), Some(status) if status != 200) {
            return Err(broken_pipe(
                "the server answered before the upload was complete",
            ));
        }
        let chunk = match tx.try_send(chunk) {
            Ok(()) => return Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                return Err(broken_pipe("the connection stopped taking the upload"));
            }
            Err(mpsc::error::TrySendError::Full(chunk)) => chunk,
        };
        // Wait for room, or for an early answer (a server that says 401 and stops reading), or
        // give up on a server that stopped reading without answering.
        let mut answered = self.answered.clone();
        let stall = self.limits.stall;
        let result = self.rt.block_on(async {
            tokio::select! {
                permit = tx.reserve() => match permit {
                    Ok(permit) => {
                        permit.send(chunk);
                        Ok(())
                    }
                    Err(_) => Err(broken_pipe("the connection stopped taking the upload")),
                },
                _ = answered.wait_for(|a| matches!(a, Some(status) if *status != 200)) => {
                    Err(broken_pipe("the server answered before the upload was complete"))
                }
                () = tokio::time::sleep(stall) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the upload made no progress for {} s", stall.as_secs_f64()),
                )),
            }
        });
        if result
            .as_ref()
            .is_err_and(|e| e.kind() == io::ErrorKind::TimedOut)
        {
            self.stalled = true;
        }
        result
    }

    /// [`Error::UploadStalled`] with what was sent so far.
    fn stall_error(&self) -> Error {
        Error::UploadStalled {
            url: self.classifier.url().to_owned(),
            sent: self.classifier.sent(),
            timeout: self.limits.stall,
        }
    }

    fn send_buffer(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.buf, self.pool.take());
        let chunk = self.pool.chunk(full);
        self.send(Chunk::Data(chunk))
    }

    /// Writes bytes as they go on the wire: into the current chunk, or as a chunk of their own.
    fn write_raw(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.is_empty() && data.len() >= CHUNK {
            // A large write goes out as one chunk: one copy into a recycled buffer.
            let mut chunk = self.pool.take();
            chunk.extend_from_slice(&data[..CHUNK]);
            let chunk = self.pool.chunk(chunk);
            self.send(Chunk::Data(chunk))?;
            return Ok(CHUNK);
        }
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.send_buffer()?;
        }
        Ok(n)
    }

    /// Hands what the gzip worker has produced so far to the connection.
    fn send_compressed(&mut self, gzip: &mut Compressor) -> io::Result<()> {
        for output in gzip.ready() {
            self.write_all_raw(&output?)?;
        }
        Ok(())
    }

    /// Ends the gzip stream, if any, and hands the rest of it to the connection.
    fn finish_gzip(&mut self) -> io::Result<()> {
        let Some(mut gzip) = self.gzip.take() else {
            return Ok(());
        };
        for output in gzip.finish()? {
            self.write_all_raw(&output?)?;
        }
        Ok(())
    }

    /// An error if `more` bytes would take the bundle past its announced length.
    fn check_announced(&self, more: usize) -> io::Result<()> {
        match self.announced {
            Some(announced) if self.written + more as u64 > announced => {
                let written = self.written + more as u64;
                Err(io::Error::other(Error::BundleLength { announced, written }))
            }
            _ => Ok(()),
        }
    }

    /// Takes `full` whole as the next bytes of the bundle, and returns a buffer to fill next
    /// ([`CHUNK`] bytes long, stale bytes and all): [`write`](Write::write) without its copy
    /// into a chunk, a pass over the whole bundle in user space. What
    /// `spiro_bundle::Builder::handing_buffers` wants of its output (this crate does not
    /// depend on `spiro-bundle`: a newtype implementing its `TakeBuffers` calls this).
    pub fn take_buffer(&mut self, full: Vec<u8>) -> io::Result<Vec<u8>> {
        if self.gzip.is_some() {
            // On its way to the gzip worker the data is copied anyway.
            self.write_all(&full)?;
            return Ok(full);
        }
        self.check_announced(full.len())?;
        // Bytes written before go first.
        self.send_buffer()?;
        let n = full.len();
        if n > 0 {
            let chunk = self.pool.chunk(full);
            self.send(Chunk::Data(chunk))?;
        }
        self.written += n as u64;
        Ok(self.pool.lend())
    }

    fn write_all_raw(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n = self.write_raw(data)?;
            data = &data[n..];
        }
        Ok(())
    }

    /// Ends the bundle and waits for the server's answer: the events on 200, else the error.
    pub fn finish(mut self) -> Result<Events, Error> {
        if let Some(announced) = self.announced
            && announced != self.written
        {
            // A short body would leave the server waiting for the rest: break it instead.
            let written = self.written;
            return Err(self
                .abort()
                .unwrap_or(Error::BundleLength { announced, written }));
        }
        let sent = self
            .finish_gzip()
            .and_then(|()| self.send_buffer())
            .and_then(|()| self.send(Chunk::End));
        if self.stalled {
            // The request task is stuck writing to a server that does not read: `Drop`
            // cancels it.
            return Err(self.stall_error());
        }
        self.tx = None;
        let Some(handle) = self.response.take() else {
            // Only `finish` and `abort` take the handle, and both consume the upload.
            return Err(Error::Internal("the upload's request is gone"));
        };
        let abort = handle.abort_handle();
        let answer = self
            .rt
            .block_on(async { tokio::time::timeout(self.limits.response, handle).await });
        let response = match answer {
            Ok(Ok(Ok(response))) => response,
            Ok(Ok(Err(e))) => return Err(self.classifier.classify(e)),
            Ok(Err(join)) => return Err(Error::Task(join)),
            Err(_) => {
                abort.abort();
                return Err(Error::NoAnswer {
                    url: self.classifier.url().to_owned(),
                    request: "the deploy",
                    timeout: self.limits.response,
                    after_upload: true,
                });
            }
        };
        if let (Err(e), true) = (sent, response.status().is_success()) {
            return Err(self.classifier.upload_error(Box::new(e)));
        }
        let status = response.status();
        if status != StatusCode::OK {
            let error = self.rt.block_on(status_error(response));
            return Err(self.classifier.proxy_status(error));
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        if !content_type.starts_with("text/event-stream") {
            return Err(Error::NotEventStream { content_type });
        }
        Ok(Events::new(
            self.rt.clone(),
            response,
            self.highstate,
            self.limits.event_limit,
            self.classifier.sent(),
        ))
    }

    /// Abandons the upload: the server sees a broken request and deploys nothing. Returns the
    /// server's answer or the connection's failure if there was one (the reason a write
    /// failed), or `None` if the abort was the only problem.
    pub fn abort(mut self) -> Option<Error> {
        // Dropping the sender without `End` makes the body fail.
        self.tx = None;
        if self.stalled {
            // The body is not even polled: no answer is coming. `Drop` cancels the request.
            return Some(self.stall_error());
        }
        let handle = self.response.take()?;
        let result = self
            .rt
            .block_on(async { tokio::time::timeout(ABORT_ANSWER_TIMEOUT, handle).await });
        match result {
            Ok(Ok(Ok(response))) if !response.status().is_success() => {
                Some(self.rt.block_on(status_error(response)))
            }
            Ok(Ok(Ok(_))) => None,
            Ok(Ok(Err(e))) if !caused_by::<Aborted>(&e) => Some(self.classifier.classify(e)),
            _ => None,
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(handle) = self.response.take() {
            handle.abort();
        }
    }
}

impl Write for Upload {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.check_announced(data.len())?;
        let n = match self.gzip.take() {
            None => self.write_raw(data)?,
            Some(mut gzip) => {
                gzip.write_all(data)?;
                self.send_compressed(&mut gzip)?;
                self.gzip = Some(gzip);
                data.len()
            }
        };
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buffer()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sent chunks come back to the pool, chunk-sized ones only, and at most `POOL_CHUNKS`.
    #[test]
    fn the_pool_keeps_only_chunk_sized_buffers_and_only_so_many() {
        let pool = ChunkPool::default();
        drop(pool.chunk(vec![7; 3 * CHUNK]));
        drop(pool.chunk(vec![7; 10]));
        assert!(pool.spare().is_none(), "odd sizes are dropped");

        let lent = pool.lend();
        assert_eq!(lent.len(), CHUNK);
        assert!(lent.iter().all(|&b| b == 0), "a fresh buffer is zeroed");
        drop(pool.chunk(lent));
        let mut stale = pool.lend();
        assert_eq!(stale.len(), CHUNK);
        stale[0] = 9;
        drop(pool.chunk(stale));
        assert_eq!(pool.lend()[0], 9, "a spare one is reused as it came back");
        drop(pool.chunk(pool.lend()));
        assert!(pool.take().is_empty(), "`take` clears it");

        for _ in 0..2 * POOL_CHUNKS {
            drop(pool.chunk(Vec::with_capacity(CHUNK)));
        }
        assert_eq!(pool.0.lock().unwrap().len(), POOL_CHUNKS);
    }
}
