//! A test SpiroFS server on 127.0.0.1 that behaves as PROTOCOL.md says the real one does.
//!
//! It parses the multipart body for real, as a stream (chunked requests and
//! `Expect: 100-continue` are handled by hyper), checks `Authorization: Bearer` (the scheme
//! case-insensitively), validates the bundle as a tar while it arrives (relative member names,
//! no `..`), records what it received, and answers as the test's [`Responder`] decides: the
//! event stream exactly as the real server writes it (LF endings, Python-style one-line JSON,
//! one event per chunk, no heartbeats, keep-alive, chunked terminator), or an error status with
//! a small HTML body like Tornado's, or a connection reset when the body exceeds a limit.
//!
//! It can also speak TLS with a certificate from a test CA ([`TestPki`]).

use std::convert::Infallible;
use std::io::{self, BufRead, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, BodyStream, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// What the server received in one request.
#[derive(Clone, Debug, Default)]
pub struct Received {
    /// `POST`, `GET`…
    pub method: String,
    /// The request path.
    pub path: String,
    /// Whether the bearer token matched.
    pub authorized: bool,
    /// The `Authorization` scheme as sent (`Bearer`, `bearer`…).
    pub auth_scheme: Option<String>,
    /// Request headers, lower-case names, in order.
    pub headers: Vec<(String, String)>,
    /// Multipart text fields, in order (`project`, `deployment`, `highstate`…).
    pub fields: Vec<(String, String)>,
    /// How many parts named `bundle` carried a filename.
    pub bundle_parts: usize,
    /// The filename of the (first) bundle part.
    pub bundle_filename: Option<String>,
    /// The bundle's content type.
    pub bundle_content_type: Option<String>,
    /// The bundle's size in bytes, as received (compressed, if it was).
    pub bundle_size: u64,
    /// Whether the bundle came gzip-compressed (SpiroFS's `tarfile.open` detects it).
    pub bundle_gzipped: bool,
    /// The tar's size in bytes, after decompression if the bundle was gzipped.
    pub tar_size: u64,
    /// The bundle bytes, kept when the bundle is at most 64 MiB.
    pub bundle: Option<Vec<u8>>,
    /// The bundle's member names, in order, if it is a valid tar.
    pub members: Vec<String>,
    /// Why the bundle is not a valid or safe tar.
    pub tar_error: Option<String>,
    /// The body exceeded the configured limit and the connection was reset.
    pub reset: bool,
    /// The status answered.
    pub status: u16,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A text field's value.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One step of an event stream.
#[derive(Clone, Debug)]
pub enum Step {
    /// Sends `event: NAME\ndata: JSON\n\n` as one chunk.
    Event(String, Value),
    /// Sends these exact bytes as one chunk (for non-conforming servers and proxies).
    Raw(Vec<u8>),
    /// Says nothing for a while.
    Sleep(Duration),
    /// Breaks the connection without the chunked terminator.
    Cut,
    /// Keeps the connection open without ending the response, for a long time.
    Hang,
}

/// How the server answers a deploy.
#[derive(Clone, Debug)]
pub enum Answer {
    /// An error status with Tornado's small HTML body.
    Status(u16),
    /// `200 text/event-stream`, then the steps.
    Stream(Vec<Step>),
    /// Waits (saying nothing at all, not even the status line), then answers.
    Delay(Duration, Box<Answer>),
}

/// Decides the answer to a deploy that passed the checks the real server makes.
pub type Responder = Arc<dyn Fn(&Received) -> Answer + Send + Sync>;

/// The server's configuration.
#[derive(Clone)]
pub struct Config {
    /// The one valid token.
    pub token: String,
    /// Projects the token covers (`None`: all). Others get 403, and the deploy "happens"
    /// anyway, as with the real server.
    pub projects: Option<Vec<String>>,
    /// Reset the connection, with no response, when a request body exceeds this many bytes
    /// (the real server: 100 MiB over plain HTTP).
    pub body_limit: Option<u64>,
    /// Write each bundle to this directory (`bundle-<n>.tar`), streaming.
    pub save_dir: Option<PathBuf>,
    /// Speak TLS with this configuration.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The answer to a valid deploy.
    pub responder: Responder,
}

impl Config {
    /// A plain-HTTP server accepting `token` that answers every deploy with `answer`.
    pub fn new(token: &str, answer: Answer) -> Config {
        Config {
            token: token.to_owned(),
            projects: None,
            body_limit: None,
            save_dir: None,
            tls: None,
            responder: Arc::new(move |_| answer.clone()),
        }
    }
}

/// A running test server; it stops when dropped.
pub struct TestServer {
    addr: SocketAddr,
    tls: bool,
    received: Arc<Mutex<Vec<Received>>>,
    rt: Option<tokio::runtime::Runtime>,
}

impl TestServer {
    /// Starts a server on 127.0.0.1 on a free port.
    pub fn start(config: Config) -> TestServer {
        TestServer::start_on("127.0.0.1:0".parse().expect("an address"), config)
    }

    /// Starts a server on `addr`, which must be a loopback address.
    pub fn start_on(addr: SocketAddr, config: Config) -> TestServer {
        assert!(
            addr.ip().is_loopback(),
            "the test server listens on loopback only"
        );
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("test-server")
            .build()
            .expect("a runtime");
        let listener = rt
            .block_on(TcpListener::bind(addr))
            .expect("bind the test server");
        let addr = listener.local_addr().expect("a local address");
        let received = Arc::new(Mutex::new(Vec::new()));
        let tls = config.tls.is_some();
        let state = Arc::new(State {
            config,
            received: received.clone(),
            count: Mutex::new(0),
        });
        rt.spawn(accept_loop(listener, state));
        TestServer {
            addr,
            tls,
            received,
            rt: Some(rt),
        }
    }

    /// `http://127.0.0.1:PORT/` (or `https://`).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}/", self.addr)
    }

    /// The address listened on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("not poisoned").clone()
    }

    /// The last deploy (`POST`) received; panics if there was none.
    pub fn last_deploy(&self) -> Received {
        self.received()
            .into_iter()
            .rev()
            .find(|r| r.method == "POST")
            .expect("the server received a deploy")
    }

    /// Runs the server until the process is killed (for the `spiro-test-server` binary).
    pub fn wait_forever(self) -> ! {
        loop {
            std::thread::park();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

struct State {
    config: Config,
    received: Arc<Mutex<Vec<Received>>>,
    count: Mutex<u64>,
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    let acceptor = state
        .config
        .tls
        .clone()
        .map(tokio_rustls::TlsAcceptor::from);
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        // Tornado, which serves SpiroFS, turns Nagle off to send the end of a response at once;
        // without it, small event writes wait out the client's delayed ACK (about 40 ms each).
        let _ = tcp.set_nodelay(true);
        let state = state.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(state.clone(), req));
            let http = hyper::server::conn::http1::Builder::new();
            match acceptor {
                Some(acceptor) => {
                    // A failed handshake (the client refused our certificate) just ends.
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        let _ = http.serve_connection(TokioIo::new(tls), service).await;
                    }
                }
                None => {
                    let _ = http.serve_connection(TokioIo::new(tcp), service).await;
                }
            }
        });
    }
}

type Body = BoxBody<Bytes, io::Error>;

#[derive(Debug)]
struct Reset;

impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request body over the limit: connection reset")
    }
}

impl std::error::Error for Reset {}

fn html(status: u16) -> Response<Body> {
    let code = StatusCode::from_u16(status).expect("a valid status");
    let reason = code.canonical_reason().unwrap_or("Unknown");
    let body =
        format!("<html><title>{status}: {reason}</title><body>{status}: {reason}</body></html>");
    Response::builder()
        .status(code)
        .header("Content-Type", "text/html; charset=UTF-8")
        .body(
            Full::new(Bytes::from(body))
                .map_err(|e: Infallible| match e {})
                .boxed(),
        )
        .expect("a response")
}

fn check_token(state: &State, req: &Request<Incoming>, received: &mut Received) {
    let value = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    received.auth_scheme = (!value.is_empty()).then(|| scheme.to_owned());
    received.authorized =
        scheme.eq_ignore_ascii_case("bearer") && token.trim() == state.config.token;
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, Reset> {
    let mut received = Received {
        method: req.method().to_string(),
        path: req.uri().path().to_owned(),
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        ..Received::default()
    };
    check_token(&state, &req, &mut received);
    let record = |mut received: Received, status: u16| {
        received.status = status;
        state.received.lock().expect("not poisoned").push(received);
    };
    match *req.method() {
        Method::GET => {
            if !received.authorized {
                record(received, 401);
                return Ok(html(401));
            }
            record(received, 200);
            return Ok(Response::new(
                Full::new(Bytes::from_static(b"Auth OK"))
                    .map_err(|e: Infallible| match e {})
                    .boxed(),
            ));
        }
        Method::POST => {}
        _ => {
            record(received, 405);
            return Ok(html(405));
        }
    }
    if !received.authorized {
        // Like Tornado: answer at once, without reading the body, and close.
        record(received, 401);
        return Ok(html(401));
    }

    let parsed = read_multipart(&state, req, &mut received).await;
    if let Err(status) = parsed {
        if status == 0 {
            received.reset = true;
            record(received, 0);
            return Err(Reset);
        }
        record(received, status);
        return Ok(html(status));
    }
    let Some(project) = received.field("project").map(str::to_owned) else {
        record(received, 400);
        return Ok(html(400));
    };
    if received.bundle_parts == 0 {
        record(received, 500);
        return Ok(html(500));
    }
    if received.tar_error.is_some() || received.bundle_parts > 1 {
        record(received, 400);
        return Ok(html(400));
    }
    if let Some(projects) = &state.config.projects
        && !projects.contains(&project)
    {
        // The real server answers 403 and deploys anyway (see PROTOCOL.md).
        record(received, 403);
        return Ok(html(403));
    }
    let answer = (state.config.responder)(&received);
    record(received, 200);
    Ok(respond(answer).await)
}

async fn respond(answer: Answer) -> Response<Body> {
    let mut answer = answer;
    loop {
        match answer {
            Answer::Delay(delay, next) => {
                tokio::time::sleep(delay).await;
                answer = *next;
            }
            Answer::Status(status) => return html(status),
            Answer::Stream(steps) => return stream(steps),
        }
    }
}

fn stream(steps: Vec<Step>) -> Response<Body> {
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, io::Error>>(4);
    tokio::spawn(async move {
        for step in steps {
            let chunk = match step {
                Step::Event(name, data) => {
                    Bytes::from(format!("event: {name}\ndata: {}\n\n", python_json(&data)))
                }
                Step::Raw(bytes) => Bytes::from(bytes),
                Step::Sleep(duration) => {
                    tokio::time::sleep(duration).await;
                    continue;
                }
                Step::Cut => {
                    let _ = tx
                        .send(Err(io::Error::new(io::ErrorKind::ConnectionAborted, "cut")))
                        .await;
                    return;
                }
                Step::Hang => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return;
                }
            };
            if tx.send(Ok(Frame::data(chunk))).await.is_err() {
                return;
            }
        }
    });
    let body = StreamBody::new(tokio_stream_from(rx));
    Response::builder()
        .status(200)
        .header("Content-Type", "text/event-stream")
        .header("Cache-Control", "no-cache")
        .body(BodyExt::boxed(body))
        .expect("a response")
}

fn tokio_stream_from(
    mut rx: mpsc::Receiver<Result<Frame<Bytes>, io::Error>>,
) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, io::Error>> + Send + Sync + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// A token for `projects` as `salt-run spiro.issue_token` makes it: valid from a minute ago
/// for `lifetime` seconds, with `identifier` as its macaroon identifier (tests that look for a
/// leaked token in output choose a distinctive one).
pub fn project_token(identifier: &str, projects: &[&str], lifetime: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    let caveat = serde_json::json!({
        "not_before": now - 60,
        "not_after": now + lifetime,
        "project_allow": projects,
    });
    issue_token("spirofs-test", identifier, &[&caveat.to_string()])
}

/// A token as `salt-run spiro.issue_token` makes it: a version-1 macaroon serialised as
/// URL-safe base64, whose first-party caveats (`cid`) are `caveats`, with a dummy all-zero
/// signature (the test server compares tokens, it verifies no signature).
pub fn issue_token(location: &str, identifier: &str, caveats: &[&str]) -> String {
    use base64::Engine;
    fn packet(out: &mut Vec<u8>, key: &str, value: &[u8]) {
        // A packet's length counts its four hex digits, the space and the newline.
        let len = 4 + key.len() + 1 + value.len() + 1;
        out.extend_from_slice(format!("{len:04x}").as_bytes());
        out.extend_from_slice(key.as_bytes());
        out.push(b' ');
        out.extend_from_slice(value);
        out.push(b'\n');
    }
    let mut out = Vec::new();
    packet(&mut out, "location", location.as_bytes());
    packet(&mut out, "identifier", identifier.as_bytes());
    for caveat in caveats {
        packet(&mut out, "cid", caveat.as_bytes());
    }
    packet(&mut out, "signature", &[0u8; 32]);
    base64::engine::general_purpose::URL_SAFE.encode(out)
}

/// JSON as Python's `json.dumps` writes it: `{"a": 1, "b": [1, 2]}`.
pub fn python_json(value: &Value) -> String {
    struct Python;
    impl serde_json::ser::Formatter for Python {
        fn begin_array_value<W: ?Sized + io::Write>(
            &mut self,
            w: &mut W,
            first: bool,
        ) -> io::Result<()> {
            if first { Ok(()) } else { w.write_all(b", ") }
        }
        fn begin_object_key<W: ?Sized + io::Write>(
            &mut self,
            w: &mut W,
            first: bool,
        ) -> io::Result<()> {
            if first { Ok(()) } else { w.write_all(b", ") }
        }
        fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
            w.write_all(b": ")
        }
    }
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, Python);
    serde::Serialize::serialize(value, &mut ser).expect("JSON serialises");
    String::from_utf8(out).expect("JSON is UTF-8")
}

/// Reads the multipart body into `received`. `Err(0)` means "reset the connection"; another
/// `Err` is the status to answer.
async fn read_multipart(
    state: &State,
    req: Request<Incoming>,
    received: &mut Received,
) -> Result<(), u16> {
    let content_type = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let Ok(boundary) = multer::parse_boundary(&content_type) else {
        return Err(400);
    };
    let limit = state.config.body_limit.unwrap_or(u64::MAX);
    let over_limit = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = over_limit.clone();
    let mut total = 0u64;
    let body = BodyStream::new(req.into_body()).filter_map(move |frame| {
        let item = match frame {
            Ok(frame) => frame.into_data().ok().map(|data| {
                total += data.len() as u64;
                if total > limit {
                    flag.store(true, std::sync::atomic::Ordering::Relaxed);
                    Err(io::Error::other("over the limit"))
                } else {
                    Ok(data)
                }
            }),
            Err(e) => Some(Err(io::Error::other(e))),
        };
        std::future::ready(item)
    });
    let mut multipart = multer::Multipart::new(body, boundary);
    let result = async {
        while let Some(mut field) = multipart.next_field().await.map_err(|_| 400u16)? {
            let name = field.name().unwrap_or("").to_owned();
            match field.file_name() {
                Some(filename) if !filename.is_empty() && name == "bundle" => {
                    received.bundle_parts += 1;
                    if received.bundle_parts > 1 {
                        // Read and drop a second bundle (the real server answers 400 for it).
                        while field.chunk().await.map_err(|_| 400u16)?.is_some() {}
                        continue;
                    }
                    received.bundle_filename = Some(filename.to_owned());
                    received.bundle_content_type = field.content_type().map(|m| m.to_string());
                    read_bundle(state, &mut field, received).await?;
                }
                _ => {
                    let text = field.text().await.map_err(|_| 400u16)?;
                    if name == "bundle" {
                        // A bundle without a filename is a text field: the real server fails.
                        return Err(500);
                    }
                    received.fields.push((name, text));
                }
            }
        }
        Ok(())
    }
    .await;
    if over_limit.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(0);
    }
    result
}

async fn read_bundle(
    state: &State,
    field: &mut multer::Field<'_>,
    received: &mut Received,
) -> Result<(), u16> {
    const KEEP: u64 = 64 << 20;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Bytes>(16);
    let validator = tokio::task::spawn_blocking(move || {
        // As SpiroFS's `tarfile.open(mode="r")` does: a gzip stream is unpacked first.
        let mut reader = io::BufReader::new(ChannelReader {
            rx,
            current: Bytes::new(),
        });
        let gzipped = reader
            .fill_buf()
            .is_ok_and(|head| head.starts_with(&[0x1f, 0x8b]));
        let mut tar_size = 0;
        let members = if gzipped {
            validate_tar(CountingReader {
                inner: flate2::bufread::MultiGzDecoder::new(reader),
                count: &mut tar_size,
            })
        } else {
            validate_tar(CountingReader {
                inner: reader,
                count: &mut tar_size,
            })
        };
        members.map(|members| (members, gzipped, tar_size))
    });
    let mut file = match &state.config.save_dir {
        Some(dir) => {
            let n = {
                let mut count = state.count.lock().expect("not poisoned");
                *count += 1;
                *count
            };
            Some(
                tokio::fs::File::create(dir.join(format!("bundle-{n}.tar")))
                    .await
                    .map_err(|_| 500u16)?,
            )
        }
        None => None,
    };
    let mut kept = Vec::new();
    let mut tx = Some(tx);
    while let Some(chunk) = field.chunk().await.map_err(|_| 400u16)? {
        received.bundle_size += chunk.len() as u64;
        if let Some(file) = &mut file {
            file.write_all(&chunk).await.map_err(|_| 500u16)?;
        }
        if received.bundle_size <= KEEP {
            kept.extend_from_slice(&chunk);
        }
        if let Some(sender) = &tx {
            let sender = sender.clone();
            // The validator may have stopped (a bad tar): then the rest is just read.
            if tokio::task::spawn_blocking(move || sender.send(chunk))
                .await
                .ok()
                .and_then(Result::ok)
                .is_none()
            {
                tx = None;
            }
        }
    }
    drop(tx);
    if let Some(file) = &mut file {
        file.flush().await.map_err(|_| 500u16)?;
    }
    if received.bundle_size <= KEEP {
        received.bundle = Some(kept);
    }
    match validator.await {
        Ok(Ok((_, gzipped, tar_size))) if tar_size < 1024 || !tar_size.is_multiple_of(512) => {
            received.bundle_gzipped = gzipped;
            received.tar_size = tar_size;
            received.tar_error = Some(format!("not a tar: {tar_size} bytes"));
        }
        Ok(Ok((members, gzipped, tar_size))) => {
            received.members = members;
            received.bundle_gzipped = gzipped;
            received.tar_size = tar_size;
        }
        Ok(Err(e)) => received.tar_error = Some(e),
        Err(e) => received.tar_error = Some(e.to_string()),
    }
    Ok(())
}

/// Counts what passes through it.
struct CountingReader<'a, R> {
    inner: R,
    count: &'a mut u64,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        *self.count += n as u64;
        Ok(n)
    }
}

struct ChannelReader {
    rx: std::sync::mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.recv() {
                Ok(next) => self.current = next,
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// Reads a tar to its end, refusing absolute names and `..` components, as the real server
/// should (but does not). Returns the member names.
pub fn validate_tar(reader: impl Read) -> Result<Vec<String>, String> {
    let mut archive = tar::Archive::new(reader);
    let mut names = Vec::new();
    let entries = archive.entries().map_err(|e| format!("not a tar: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("not a tar: {e}"))?;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        if raw.starts_with(b"/") {
            return Err(format!("absolute member name {name:?}"));
        }
        if raw.split(|&b| b == b'/').any(|c| c == b"..") {
            return Err(format!("member name {name:?} climbs with .."));
        }
        let link = entry.link_name_bytes().map(|l| l.into_owned());
        let escapes = |l: &[u8]| l.starts_with(b"/") || l.split(|&b| b == b'/').any(|c| c == b"..");
        if entry.header().entry_type().is_hard_link() && link.as_deref().is_some_and(escapes) {
            return Err(format!("hard link {name:?} points outside"));
        }
        io::copy(&mut entry, &mut io::sink()).map_err(|e| format!("truncated tar: {e}"))?;
        names.push(name);
    }
    // Drain what follows the end-of-archive marker.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| e.to_string())?;
    Ok(names)
}

// --- Scenarios ---------------------------------------------------------------------------

/// The `deploy-bundle` event.
pub fn deploy_bundle() -> Step {
    Step::Event("deploy-bundle".into(), json!({"msg": "Deploying bundle"}))
}

/// The `highstate-calc` event.
pub fn highstate_calc() -> Step {
    Step::Event(
        "highstate-calc".into(),
        json!({"msg": "Calculating minions to highstate"}),
    )
}

/// The `highstate-start` event for these minions.
pub fn highstate_start(minions: &[&str]) -> Step {
    let msg = if minions.is_empty() {
        "No minions to highstate".to_owned()
    } else {
        format!("Starting highstate on {}", minions.join(", "))
    };
    Step::Event(
        "highstate-start".into(),
        json!({"msg": msg, "minions": minions}),
    )
}

/// The `highstate-update` event for a minion.
pub fn highstate_update(minion: &str, result: Value) -> Step {
    Step::Event(
        "highstate-update".into(),
        json!({"msg": format!("Highstate complete on {minion}"), "minion": minion, "result": result}),
    )
}

/// The `highstate-finish` event.
pub fn highstate_finish() -> Step {
    Step::Event(
        "highstate-finish".into(),
        json!({"msg": "Highstate complete"}),
    )
}

/// The `exception` event.
pub fn exception(text: &str) -> Step {
    Step::Event("exception".into(), json!({"msg": format!("{text}\n")}))
}

/// One state of a minion's return: `(module, id, name, function, result, changes, comment)`.
pub struct StateSpec<'a> {
    /// `file`.
    pub module: &'a str,
    /// The state id.
    pub id: &'a str,
    /// The `name` argument.
    pub name: &'a str,
    /// `managed`.
    pub function: &'a str,
    /// The result.
    pub result: Option<bool>,
    /// The changes.
    pub changes: Value,
    /// The comment.
    pub comment: &'a str,
}

/// A minion's `result` as Salt returns it for these states.
pub fn states_result(states: &[StateSpec<'_>]) -> Value {
    let mut ret = serde_json::Map::new();
    for (i, s) in states.iter().enumerate() {
        ret.insert(
            format!("{}_|-{}_|-{}_|-{}", s.module, s.id, s.name, s.function),
            json!({
                "name": s.name, "changes": s.changes, "result": s.result, "comment": s.comment,
                "__sls__": "app", "__run_num__": i, "start_time": "12:00:00.000000",
                "duration": 1.25, "__id__": s.id,
            }),
        );
    }
    let failed = states.iter().any(|s| s.result == Some(false));
    json!({"ret": ret, "out": "highstate", "retcode": if failed { 2 } else { 0 }, "jid": "20240101120000000000"})
}

/// A successful state.
pub fn ok_state<'a>(id: &'a str, changed: bool) -> StateSpec<'a> {
    StateSpec {
        module: "file",
        id,
        name: id,
        function: "managed",
        result: Some(true),
        changes: if changed {
            json!({"diff": "New file"})
        } else {
            json!({})
        },
        comment: if changed {
            "File updated"
        } else {
            "File is in the correct state"
        },
    }
}

/// A failed state.
pub fn failed_state(id: &str) -> StateSpec<'_> {
    StateSpec {
        module: "cmd",
        id,
        name: id,
        function: "run",
        result: Some(false),
        changes: json!({}),
        comment: "Command \"false\" run: retcode 1",
    }
}

/// A render error `result`.
pub fn render_error(text: &str) -> Value {
    json!({"ret": [text], "out": "highstate", "retcode": 1, "jid": "20240101120000000000"})
}

/// A minion that did not return.
pub fn no_return() -> Value {
    json!({"failed": true})
}

/// The full successful highstate of these minions, each with two good states.
pub fn successful_highstate(minions: &[&str]) -> Vec<Step> {
    let mut steps = vec![deploy_bundle(), highstate_calc(), highstate_start(minions)];
    for minion in minions {
        steps.push(highstate_update(
            minion,
            states_result(&[
                ok_state("/etc/motd", true),
                ok_state("/etc/app.conf", false),
            ]),
        ));
    }
    steps.push(highstate_finish());
    steps
}

// --- TLS ---------------------------------------------------------------------------------

/// A test CA and a leaf certificate for 127.0.0.1 and `localhost` signed by it, plus a
/// self-signed leaf, as PEM files in a temporary directory.
pub struct TestPki {
    dir: tempfile::TempDir,
    leaf_chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    leaf_key: rustls::pki_types::PrivateKeyDer<'static>,
    self_signed: rustls::pki_types::CertificateDer<'static>,
    self_signed_key: rustls::pki_types::PrivateKeyDer<'static>,
}

impl TestPki {
    /// Generates the certificates.
    pub fn new() -> TestPki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];

        let ca_key = KeyPair::generate().expect("a key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "spiro test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key).expect("a CA");
        let issuer = rcgen::Issuer::new(ca_params, ca_key);

        let leaf_key = KeyPair::generate().expect("a key");
        let mut leaf_params = CertificateParams::new(names.clone()).expect("params");
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "spiro test server");
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).expect("a leaf");

        let self_key = KeyPair::generate().expect("a key");
        let mut self_params = CertificateParams::new(names).expect("params");
        self_params
            .distinguished_name
            .push(DnType::CommonName, "spiro self-signed");
        let self_signed = self_params
            .self_signed(&self_key)
            .expect("a self-signed leaf");

        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).expect("write ca.pem");
        std::fs::write(dir.path().join("leaf.pem"), leaf.pem()).expect("write leaf.pem");
        std::fs::write(dir.path().join("self-signed.pem"), self_signed.pem())
            .expect("write self-signed.pem");

        TestPki {
            dir,
            leaf_chain: vec![leaf.der().clone()],
            leaf_key: rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
            self_signed: self_signed.der().clone(),
            self_signed_key: rustls::pki_types::PrivateKeyDer::Pkcs8(
                self_key.serialize_der().into(),
            ),
        }
    }

    /// The CA certificate (PEM), for `--ssl-cert`.
    pub fn ca_pem(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The CA-signed leaf certificate (PEM).
    pub fn leaf_pem(&self) -> PathBuf {
        self.dir.path().join("leaf.pem")
    }

    /// The self-signed leaf certificate (PEM).
    pub fn self_signed_pem(&self) -> PathBuf {
        self.dir.path().join("self-signed.pem")
    }

    /// A server configuration presenting the CA-signed leaf.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        server_config(self.leaf_chain.clone(), self.leaf_key.clone_key())
    }

    /// A server configuration presenting the self-signed leaf.
    pub fn self_signed_server_config(&self) -> Arc<rustls::ServerConfig> {
        server_config(
            vec![self.self_signed.clone()],
            self.self_signed_key.clone_key(),
        )
    }

    /// The directory holding the PEM files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Default for TestPki {
    fn default() -> Self {
        TestPki::new()
    }
}

fn server_config(
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("a certificate and key");
    // HTTP/1.1 only and no ALPN, like the real server.
    Arc::new(config)
}
