//! The HTTP side: uploading a bundle as it is built and reading the deploy's events.

use std::collections::VecDeque;
use std::error::Error as StdError;
use std::io::{self, Write};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use reqwest::{StatusCode, Url};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::error::{Cause, Error, UploadError};
use crate::event::Event;
use crate::sse::{SseEvent, SseParser};
use crate::{Token, validate_deployment, validate_project};

/// How the server's certificate is checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Tls {
    /// Against the system's certificate authorities.
    #[default]
    System,
    /// Against the certificates in this PEM file only: the CA that signed the server's
    /// certificate (as a root), or the server's certificate itself (pinned: a server
    /// presenting exactly that certificate is trusted whatever signed it, self-signed or not;
    /// its dates and host name are still checked).
    Trust(PathBuf),
    /// Not at all; this also allows plain `http://` URLs. Dangerous.
    Insecure,
}

/// How to reach the server.
#[derive(Clone, Debug)]
pub struct Options {
    /// The server URL, such as `https://salt:4510/`.
    pub url: String,
    /// The bearer token (never printed).
    pub token: Token,
    /// Certificate checking.
    pub tls: Tls,
    /// How long to wait for the TCP connection and the TLS handshake. There is deliberately
    /// no read timeout: a highstate may be silent for an hour.
    pub connect_timeout: Duration,
    /// TCP keepalive idle time, so that a dead peer is noticed during a silent highstate.
    pub keepalive: Duration,
}

impl Options {
    /// Options with the defaults: system roots, a 20 s connect timeout, 30 s keepalive.
    pub fn new(url: impl Into<String>, token: Token) -> Options {
        Options {
            url: url.into(),
            token,
            tls: Tls::System,
            connect_timeout: Duration::from_secs(20),
            keepalive: Duration::from_secs(30),
        }
    }

    /// Sets the certificate checking.
    pub fn tls(mut self, tls: Tls) -> Options {
        self.tls = tls;
        self
    }

    /// Sets the connect timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Options {
        self.connect_timeout = timeout;
        self
    }
}

/// What to deploy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deploy {
    /// The project (checked with [`validate_project`]).
    pub project: String,
    /// The deployment (checked with [`validate_deployment`]).
    pub deployment: String,
    /// Whether the server highstates the affected minions.
    pub highstate: bool,
    /// The bundle's exact length, when known beforehand (`spiro_bundle::Builder::counting`
    /// measures it without reading a file). The request then carries a `Content-Length`
    /// instead of a chunked body, which servers take in fewer, larger pieces, and the upload
    /// fails with [`Error::BundleLength`] if the bundle written differs.
    pub bundle_len: Option<u64>,
}

/// A connection-ready client for one SpiroFS server.
///
/// It runs a one-thread tokio runtime of its own; its methods block and must not be called
/// from inside an async runtime.
pub struct Client {
    url: Url,
    shown_url: String,
    plain_http: bool,
    /// `Bearer <token>`, built and checked once, marked sensitive so that hyper never logs
    /// it and its `Debug` prints no token.
    authorization: HeaderValue,
    /// Whether `GET /` has accepted the token.
    checked: AtomicBool,
    connect_timeout: Duration,
    http: reqwest::Client,
    rt: Arc<Runtime>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.shown_url)
            .field("authorization", &self.authorization)
            .finish_non_exhaustive()
    }
}

/// The size of the chunks handed to the connection: large, so a gigabyte moves in few
/// wake-ups; bounded, with a channel four chunks deep, so memory stays flat.
pub const CHUNK: usize = 256 * 1024;
const CHANNEL_CHUNKS: usize = 4;
/// How many spare chunk buffers a [`ChunkPool`] keeps: enough for the channel and the
/// connection's hands, 2 MiB at most.
const POOL_CHUNKS: usize = 2 * CHANNEL_CHUNKS;

/// Chunk buffers recycled between the writer and the connection. A fresh 256 KiB allocation is
/// an `mmap` for glibc, so every chunk faulted its pages in and unmapped them once sent: in a
/// profile of a 512 MiB upload that cost twice the copy itself.
#[derive(Clone, Default)]
struct ChunkPool(Arc<std::sync::Mutex<Vec<Vec<u8>>>>);

impl ChunkPool {
    /// An empty buffer of at least [`CHUNK`] bytes' capacity.
    fn take(&self) -> Vec<u8> {
        let spare = self.0.lock().ok().and_then(|mut spare| spare.pop());
        spare.unwrap_or_else(|| Vec::with_capacity(CHUNK))
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
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        if let Ok(mut spare) = self.pool.0.lock()
            && spare.len() < POOL_CHUNKS
        {
            spare.push(buf);
        }
    }
}
/// How much of an error response's body is read.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// A URL without credentials, query or fragment, for messages.
pub fn redact_url(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

impl Client {
    /// Checks the options and sets up the HTTP client. Nothing is sent yet.
    pub fn new(options: Options) -> Result<Client, Error> {
        // A token a header cannot carry (a line break inside a pasted secret) would be sent as
        // something else and refused with a misleading 401: say so now, without the token.
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {}", options.token.expose()))
                .map_err(|_| Error::BadToken)?;
        authorization.set_sensitive(true);
        let url = Url::parse(&options.url).map_err(|e| Error::InvalidUrl {
            url: redact_str(&options.url),
            reason: e.to_string(),
        })?;
        let shown_url = redact_url(&url);
        let plain_http = match url.scheme() {
            "https" => false,
            "http" => true,
            other => {
                return Err(Error::InvalidUrl {
                    url: shown_url,
                    reason: format!("the scheme must be https or http, not {other:?}"),
                });
            }
        };
        if plain_http && options.tls != Tls::Insecure {
            return Err(Error::PlainHttp { url: shown_url });
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .tcp_keepalive(options.keepalive)
            .tcp_keepalive_interval(Duration::from_secs(10))
            .tcp_keepalive_retries(3u32)
            .tcp_nodelay(true)
            .http1_only()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("spiro-deploy/", env!("CARGO_PKG_VERSION")));
        match &options.tls {
            Tls::System => {}
            Tls::Trust(path) => {
                let pem = std::fs::read(path).map_err(|source| Error::CertFile {
                    path: path.clone(),
                    source,
                })?;
                let certs = CertificateDer::pem_slice_iter(&pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| Error::BadCertFile {
                        path: path.clone(),
                        source: Some(Box::new(e)),
                    })?;
                if certs.is_empty() {
                    return Err(Error::BadCertFile {
                        path: path.clone(),
                        source: None,
                    });
                }
                // The file's certificates are trusted as roots and pinned (see `tls.rs`).
                let config = crate::tls::trust_config(certs).map_err(|e| Error::BadCertFile {
                    path: path.clone(),
                    source: Some(e),
                })?;
                builder = builder.tls_backend_preconfigured(config);
            }
            Tls::Insecure => builder = builder.tls_danger_accept_invalid_certs(true),
        }
        let http = builder
            .build()
            .map_err(|e| Error::Setup(Box::new(e.without_url())))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("spiro-client")
            .enable_all()
            .build()
            .map_err(|e| Error::Setup(Box::new(e)))?;
        Ok(Client {
            url,
            shown_url,
            plain_http,
            authorization,
            connect_timeout: options.connect_timeout,
            http,
            rt: Arc::new(rt),
            checked: AtomicBool::new(false),
        })
    }

    /// Whether the server is reached over plain `http://` (only allowed with `Tls::Insecure`).
    pub fn plain_http(&self) -> bool {
        self.plain_http
    }

    /// The server URL, without credentials.
    pub fn url(&self) -> &str {
        &self.shown_url
    }

    /// `GET /`: whether the server accepts the token (200 `Auth OK`). Once it has, uploads
    /// from this client skip their own check.
    pub fn check(&self) -> Result<(), Error> {
        let request = self
            .http
            .get(self.url.clone())
            .header(AUTHORIZATION, self.authorization.clone());
        let ctx = self.context(None);
        self.rt.block_on(async {
            let response = request.send().await.map_err(|e| ctx.classify(e))?;
            if response.status() == StatusCode::OK {
                self.checked.store(true, Ordering::Relaxed);
                Ok(())
            } else {
                Err(status_error(response).await)
            }
        })
    }

    fn context(&self, sent: Option<Arc<AtomicU64>>) -> Ctx {
        Ctx {
            url: self.shown_url.clone(),
            host: self.url.host_str().unwrap_or("").to_owned(),
            plain_http: self.plain_http,
            connect_timeout: self.connect_timeout,
            sent,
        }
    }

    /// Starts a deploy: checks the token with `GET /` ([`check`](Client::check)), then sends
    /// the fields; the bundle is then written to the returned [`Upload`], which streams it
    /// into the request body as it comes (chunked), and [`Upload::finish`] returns the events.
    pub fn start(&self, deploy: &Deploy) -> Result<Upload, Error> {
        validate_project(&deploy.project)?;
        validate_deployment(&deploy.deployment)?;
        // A cheap `GET /` first (unless the caller already made it): a refused token (401) or
        // an unreachable server is reported before the bundle is built. Without it, a server
        // that answers 401 and closes while the body is still streaming resets the
        // connection, and the answer can be lost.
        if !self.checked.load(Ordering::Relaxed) {
            self.check()?;
        }
        let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
        let sent = Arc::new(AtomicU64::new(0));
        let stream = BundleStream {
            rx,
            sent: sent.clone(),
            ended: false,
        };
        let body = reqwest::Body::wrap_stream(stream);
        let bundle = match deploy.bundle_len {
            Some(len) => reqwest::multipart::Part::stream_with_length(body, len),
            None => reqwest::multipart::Part::stream(body),
        };
        let bundle = bundle
            .file_name("bundle")
            .mime_str("application/x-tar")
            .map_err(|e| Error::Setup(Box::new(e.without_url())))?;
        let mut form = reqwest::multipart::Form::new()
            .text("project", deploy.project.clone())
            .text("deployment", deploy.deployment.clone());
        if deploy.highstate {
            // Any non-empty value means "highstate", even `false`: leave it out to say no.
            form = form.text("highstate", "True");
        }
        form = form.part("bundle", bundle);
        let request = self
            .http
            .post(self.url.clone())
            .header(AUTHORIZATION, self.authorization.clone())
            .header(ACCEPT, "text/event-stream")
            .header(CACHE_CONTROL, "no-cache")
            .multipart(form);
        let (answered_tx, answered_rx) = watch::channel(None);
        let response = self.rt.spawn(async move {
            let result = request.send().await;
            let status = result.as_ref().map_or(0, |r| r.status().as_u16());
            let _ = answered_tx.send(Some(status));
            result
        });
        Ok(Upload {
            tx: Some(tx),
            buf: Vec::with_capacity(CHUNK),
            pool: ChunkPool::default(),
            response: Some(response),
            answered: answered_rx,
            ctx: self.context(Some(sent)),
            rt: self.rt.clone(),
            highstate: deploy.highstate,
            written: 0,
            announced: deploy.bundle_len,
        })
    }

    /// Deploys the bundle that `write_bundle` writes, streaming it to the server while it is
    /// written, and returns what `write_bundle` returned with the events.
    ///
    /// If `write_bundle` fails, the upload is aborted (the server sees a broken request and
    /// deploys nothing) and its error is returned, unless the failure came from the server
    /// having answered already (a 401 that closed the connection, which the writer sees as a
    /// broken pipe): then the server's answer is returned.
    pub fn upload<T, E>(
        &self,
        deploy: &Deploy,
        write_bundle: impl FnOnce(&mut Upload) -> Result<T, E>,
    ) -> Result<(T, Events), UploadError<E>> {
        let mut upload = self.start(deploy).map_err(UploadError::Deploy)?;
        match write_bundle(&mut upload) {
            Ok(value) => {
                let events = upload.finish().map_err(UploadError::Deploy)?;
                Ok((value, events))
            }
            Err(error) => match upload.abort() {
                Some(server) => Err(UploadError::Deploy(server)),
                None => Err(UploadError::Bundle(error)),
            },
        }
    }
}

/// Deploys in one call, like the original client's `upload()`: the options, what to deploy,
/// and a function that writes the tar bundle (for example with `spiro_bundle::Builder`).
///
/// ```no_run
/// use std::io::Write;
/// use spiro_client::{Deploy, Event, Options, Token, upload};
/// let options = Options::new("https://salt:4510/", Token::new(std::env::var("SPIRO_TOKEN")?));
/// let deploy = Deploy {
///     project: "web".into(),
///     deployment: "prod".into(),
///     highstate: true,
///     bundle_len: None,
/// };
/// let events = upload(options, &deploy, |out| {
///     let mut builder = spiro_bundle::Builder::new(out);
///     builder.add_saltdir("_salt".as_ref())?;
///     builder.finish().map(drop)
/// })?;
/// for event in events {
///     println!("{}", event?.msg());
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn upload<E>(
    options: Options,
    deploy: &Deploy,
    write_bundle: impl FnOnce(&mut Upload) -> Result<(), E>,
) -> Result<Events, UploadError<E>> {
    let client = Client::new(options).map_err(UploadError::Deploy)?;
    client
        .upload(deploy, write_bundle)
        .map(|((), events)| events)
}

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

/// A deploy in progress: write the tar bundle to it (it is a [`Write`]r), then call
/// [`finish`](Upload::finish). Writes block while the connection is busy, so memory stays at
/// about a megabyte whatever the bundle's size.
pub struct Upload {
    tx: Option<mpsc::Sender<Chunk>>,
    buf: Vec<u8>,
    pool: ChunkPool,
    response: Option<JoinHandle<reqwest::Result<reqwest::Response>>>,
    answered: watch::Receiver<Option<u16>>,
    ctx: Ctx,
    rt: Arc<Runtime>,
    highstate: bool,
    written: u64,
    /// The length announced in `Content-Length`, if any: the bundle must be exactly that long.
    announced: Option<u64>,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("url", &self.ctx.url)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

fn broken_pipe(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, message.to_owned())
}

impl Upload {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Bytes handed to the connection so far.
    pub fn sent(&self) -> u64 {
        self.ctx
            .sent
            .as_ref()
            .map_or(0, |s| s.load(Ordering::Relaxed))
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
        // Wait for room, or for an early answer (a server that says 401 and stops reading).
        let mut answered = self.answered.clone();
        self.rt.block_on(async {
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
            }
        })
    }

    fn send_buffer(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.buf, self.pool.take());
        let chunk = self.pool.chunk(full);
        self.send(Chunk::Data(chunk))
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
        let sent = self.send_buffer().and_then(|()| self.send(Chunk::End));
        self.tx = None;
        let handle = self.response.take().expect("finish is called once");
        let result = self.rt.block_on(handle);
        let response = match result {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => return Err(self.ctx.classify(e)),
            Err(join) => return Err(Error::Setup(Box::new(join))),
        };
        if let (Err(e), true) = (sent, response.status().is_success()) {
            return Err(self.ctx.upload_error(Box::new(e)));
        }
        let status = response.status();
        if status != StatusCode::OK {
            return Err(self.rt.block_on(status_error(response)));
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
        Ok(Events {
            rt: self.rt.clone(),
            response: Some(response),
            parser: SseParser::new(),
            pending: VecDeque::new(),
            highstate: self.highstate,
            seen_deploy: false,
            last_data: None,
            done: false,
        })
    }

    /// Abandons the upload: the server sees a broken request and deploys nothing. Returns the
    /// server's answer or the connection's failure if there was one (the reason a write
    /// failed), or `None` if the abort was the only problem.
    pub fn abort(mut self) -> Option<Error> {
        // Dropping the sender without `End` makes the body fail.
        self.tx = None;
        let handle = self.response.take()?;
        let result = self
            .rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(10), handle).await });
        match result {
            Ok(Ok(Ok(response))) if !response.status().is_success() => {
                Some(self.rt.block_on(status_error(response)))
            }
            Ok(Ok(Ok(_))) => None,
            Ok(Ok(Err(e))) if !caused_by::<Aborted>(&e) => Some(self.ctx.classify(e)),
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
        if let Some(announced) = self.announced
            && self.written + data.len() as u64 > announced
        {
            let written = self.written + data.len() as u64;
            return Err(io::Error::other(Error::BundleLength { announced, written }));
        }
        if self.buf.is_empty() && data.len() >= CHUNK {
            // A large write goes out as one chunk: one copy into a recycled buffer.
            let mut chunk = self.pool.take();
            chunk.extend_from_slice(&data[..CHUNK]);
            let chunk = self.pool.chunk(chunk);
            self.send(Chunk::Data(chunk))?;
            self.written += CHUNK as u64;
            return Ok(CHUNK);
        }
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.send_buffer()?;
        }
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buffer()
    }
}

/// The deploy's events as they arrive. Reading blocks for as long as the server is silent
/// (there is no read timeout: a highstate can take an hour); TCP keepalive notices a dead
/// peer.
///
/// The iterator ends after `highstate-finish` or `exception`, or, without highstate, when the
/// stream ends after `deploy-bundle`. A stream that ends or breaks before that yields
/// [`Error::StreamCut`] as its last item.
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
            if self.done {
                return None;
            }
            let response = self.response.as_mut()?;
            match self.rt.block_on(response.chunk()) {
                Ok(Some(bytes)) => {
                    let mut out = Vec::new();
                    self.parser.push(&bytes, &mut out);
                    self.pending.extend(out);
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

/// What the classifier needs to know about a request.
#[derive(Clone)]
struct Ctx {
    url: String,
    host: String,
    plain_http: bool,
    connect_timeout: Duration,
    /// Bytes of the bundle handed to the connection; `Some` for the upload request only.
    sent: Option<Arc<AtomicU64>>,
}

fn caused_by<T: StdError + 'static>(error: &(dyn StdError + 'static)) -> bool {
    find_cause::<T>(error).is_some()
}

/// Every error in the chain, including the errors that `io::Error`s wrap (whose `source()`
/// skips them: hyper-rustls wraps tokio-rustls's `io::Error` around the `rustls::Error`).
fn chain<'a>(error: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut out = Vec::new();
    let mut current = Some(error);
    while let Some(e) = current {
        out.push(e);
        let mut inner = e.downcast_ref::<io::Error>().and_then(|io| io.get_ref());
        while let Some(wrapped) = inner {
            let wrapped: &(dyn StdError + 'static) = wrapped;
            out.push(wrapped);
            inner = wrapped
                .downcast_ref::<io::Error>()
                .and_then(|io| io.get_ref());
        }
        current = e.source();
    }
    out
}

fn find_cause<'a, T: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    chain(error).into_iter().find_map(|e| e.downcast_ref::<T>())
}

fn chain_text(error: &(dyn StdError + 'static)) -> String {
    chain(error).iter().map(|e| e.to_string() + "\n").collect()
}

/// The innermost cause, which says what happened in the fewest words.
fn root_cause(error: reqwest::Error) -> Cause {
    let error = error.without_url();
    let mut innermost: &(dyn StdError + 'static) = &error;
    while let Some(next) = innermost.source() {
        innermost = next;
    }
    let text = innermost.to_string();
    if text == error.to_string() {
        Box::new(error)
    } else {
        text.into()
    }
}

impl Ctx {
    /// Whether this is the upload request. A connection that breaks before the server answers
    /// it (past connecting and TLS) broke the upload, even when the last bytes had already been
    /// handed to the kernel: SpiroFS resets a body over its limit with no answer at all, and
    /// that reset can land after the body was sent.
    fn is_upload(&self) -> bool {
        self.sent.is_some()
    }

    fn upload_error(&self, source: Cause) -> Error {
        Error::UploadReset {
            url: self.url.clone(),
            sent: self.sent.as_ref().map_or(0, |s| s.load(Ordering::Relaxed)),
            plain_http: self.plain_http,
            source,
        }
    }

    /// Turns a reqwest error into the variant that says what to do about it.
    fn classify(&self, error: reqwest::Error) -> Error {
        let url = self.url.clone();
        if let Some(tls) = find_cause::<rustls::Error>(&error) {
            let (reason, verification) = describe_tls(tls, &self.host);
            return Error::Tls {
                url,
                reason,
                verification,
                source: Box::new(tls.clone()),
            };
        }
        let text = chain_text(&error);
        if error.is_timeout() || (error.is_connect() && text.contains("timed out")) {
            return Error::ConnectTimeout {
                url,
                timeout: self.connect_timeout,
            };
        }
        let io_kind = find_cause::<io::Error>(&error).map(io::Error::kind);
        if error.is_connect() {
            if io_kind == Some(io::ErrorKind::ConnectionRefused) {
                return Error::ConnectionRefused {
                    url,
                    source: root_cause(error),
                };
            }
            if text.contains("dns error") || text.contains("failed to lookup address") {
                return Error::Dns {
                    url,
                    source: root_cause(error),
                };
            }
            return Error::Connection {
                url,
                source: root_cause(error),
            };
        }
        if self.is_upload() {
            return self.upload_error(root_cause(error));
        }
        Error::Connection {
            url,
            source: root_cause(error),
        }
    }
}

fn describe_tls(error: &rustls::Error, host: &str) -> (String, bool) {
    use rustls::{CertificateError, Error as E};
    match error {
        E::InvalidCertificate(cert) => {
            let why = match cert {
                CertificateError::UnknownIssuer => {
                    "the server's certificate is not signed by a trusted authority".to_owned()
                }
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => {
                    format!("the server's certificate is not valid for {host:?}")
                }
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    "the server's certificate has expired".to_owned()
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    "the server's certificate is not valid yet".to_owned()
                }
                CertificateError::Revoked => "the server's certificate is revoked".to_owned(),
                other => format!("the server's certificate was refused ({other:?})"),
            };
            (why, true)
        }
        E::InvalidMessage(_) | E::InappropriateMessage { .. } => (
            "the server did not answer in TLS (is it a plain http:// server?)".to_owned(),
            false,
        ),
        E::NoCertificatesPresented => ("the server presented no certificate".to_owned(), true),
        other => (other.to_string(), false),
    }
}

/// Reads a little of an error response and turns it into [`Error::Status`].
async fn status_error(mut response: reqwest::Response) -> Error {
    let status = response.status();
    let mut body = Vec::new();
    while body.len() < ERROR_BODY_LIMIT {
        match tokio::time::timeout(Duration::from_secs(5), response.chunk()).await {
            Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(ERROR_BODY_LIMIT);
    Error::Status {
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or("").to_owned(),
        message: html_text(&String::from_utf8_lossy(&body)),
    }
}

/// The readable text of a small HTML error page: the `<body>` (or the `<title>`, or all of it)
/// without tags, whitespace collapsed, at most 500 characters.
pub fn html_text(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let section = |tag: &str| -> Option<&str> {
        let open = lower.find(&format!("<{tag}"))?;
        let start = open + lower[open..].find('>')? + 1;
        let end = start
            + lower[start..]
                .find(&format!("</{tag}"))
                .unwrap_or(lower.len() - start);
        Some(&html[start..end])
    };
    let chosen = section("body")
        .filter(|s| !strip_tags(s).trim().is_empty())
        .or_else(|| section("title"))
        .unwrap_or(html);
    let text = strip_tags(chosen);
    let mut collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() > 500 {
        collapsed = collapsed.chars().take(500).collect::<String>() + "…";
    }
    collapsed
}

fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn redact_str(url: &str) -> String {
    // Drop the query and fragment (they may carry secrets), then anything between `://` and
    // `@` (credentials), as `redact_url` does for a URL that parses.
    let url = &url[..url.find(['?', '#']).unwrap_or(url.len())];
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}{}", &url[..scheme + 3], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_text_prefers_the_body() {
        assert_eq!(
            html_text(
                "<html><title>401: Unauthorized</title><body>401: Unauthorized</body></html>"
            ),
            "401: Unauthorized"
        );
        assert_eq!(
            html_text("<html><title>T</title><body> </body></html>"),
            "T"
        );
        assert_eq!(html_text("plain &amp; simple\n"), "plain & simple");
    }

    #[test]
    fn plain_http_needs_insecure() {
        let token = Token::new("secret-token-value");
        let err = Client::new(Options::new("http://127.0.0.1:1/", token.clone())).unwrap_err();
        assert!(matches!(err, Error::PlainHttp { .. }));
        assert!(
            Client::new(Options::new("http://127.0.0.1:1/", token.clone()).tls(Tls::Insecure))
                .is_ok()
        );
        let err = Client::new(Options::new("ftp://x/", token.clone())).unwrap_err();
        assert!(matches!(err, Error::InvalidUrl { .. }));
        let client = Client::new(Options::new("https://user:pw@h:1/?q=1", token)).unwrap();
        assert_eq!(client.url(), "https://h:1/");
        assert!(!format!("{client:?}").contains("secret-token-value"));
        assert_eq!(redact_str("https://u:p@@x"), "https://x");
    }

    #[test]
    fn a_cert_file_without_a_usable_certificate_is_refused() {
        let dir = std::env::temp_dir().join(format!("spiro-client-certs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases = [
            // No certificate at all (a key only): nothing to trust.
            (
                "key.pem",
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            ),
            // A certificate block that is not a certificate.
            (
                "junk.pem",
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            ),
        ];
        for (name, pem) in cases {
            let path = dir.join(name);
            std::fs::write(&path, pem).unwrap();
            let options =
                Options::new("https://127.0.0.1:1/", Token::new("t")).tls(Tls::Trust(path.clone()));
            let err = Client::new(options).unwrap_err();
            assert!(
                matches!(&err, Error::BadCertFile { path: p, .. } if *p == path),
                "{err:?}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn names_are_checked_before_anything_is_sent() {
        let client =
            Client::new(Options::new("http://127.0.0.1:1/", Token::new("t")).tls(Tls::Insecure))
                .unwrap();
        let deploy = Deploy {
            project: "..".into(),
            deployment: "d".into(),
            highstate: false,
            bundle_len: None,
        };
        assert!(matches!(client.start(&deploy), Err(Error::Name(_))));
    }
}
