//! What can go wrong talking to a SpiroFS server, classified so that a caller can choose an
//! exit status and a hint. No variant ever holds the token.

use std::error::Error as StdError;
use std::path::PathBuf;
use std::time::Duration;

use crate::NameError;

/// A boxed cause.
pub type Cause = Box<dyn StdError + Send + Sync + 'static>;

/// A failure of the deploy client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server URL does not parse or is not `http(s)://`.
    #[error("invalid server URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given (without credentials).
        url: String,
        /// Why.
        reason: String,
    },
    /// A plain `http://` URL without [`Tls::Insecure`](crate::Tls::Insecure).
    #[error("refusing to send the token unencrypted to {url}")]
    PlainHttp {
        /// The URL.
        url: String,
    },
    /// A project or deployment name that would escape on the server.
    #[error(transparent)]
    Name(#[from] NameError),
    /// The `--ssl-cert` file cannot be read.
    #[error("cannot read the certificate file `{}`", path.display())]
    CertFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The `--ssl-cert` file holds no usable PEM certificate.
    #[error("`{}` holds no usable PEM certificate", path.display())]
    BadCertFile {
        /// The file.
        path: PathBuf,
        /// Why, if known.
        #[source]
        source: Option<Cause>,
    },
    /// The bundle written was not as long as announced in [`Deploy::bundle_len`](crate::Deploy):
    /// a file changed between measuring the bundle and writing it.
    #[error(
        "the bundle came to {written} bytes, not the {announced} announced: a file changed while \
         it was being bundled"
    )]
    BundleLength {
        /// The length sent as `Content-Length`.
        announced: u64,
        /// The length written (so far, when it overshot).
        written: u64,
    },
    /// The token holds characters an HTTP header cannot carry (a control character or a line
    /// break, often from a pasted secret).
    #[error(
        "the token holds characters an HTTP header cannot carry (a line break or a control character)"
    )]
    BadToken,
    /// The host name does not resolve.
    #[error("cannot resolve the host name of {url}")]
    Dns {
        /// The URL.
        url: String,
        /// The resolver's error.
        #[source]
        source: Cause,
    },
    /// Nothing listens at the server's address.
    #[error("the connection to {url} was refused")]
    ConnectionRefused {
        /// The URL.
        url: String,
        /// The system error.
        #[source]
        source: Cause,
    },
    /// The server did not accept the connection in time.
    #[error("timed out after {timeout:?} connecting to {url}")]
    ConnectTimeout {
        /// The URL.
        url: String,
        /// The connect timeout in force.
        timeout: Duration,
    },
    /// The TLS handshake failed: most often the server's certificate could not be verified.
    #[error("TLS with {url} failed: {reason}")]
    Tls {
        /// The URL.
        url: String,
        /// What went wrong, in words.
        reason: String,
        /// Whether it is a certificate verification failure (`--ssl-cert` may help).
        verification: bool,
        /// The TLS error.
        #[source]
        source: Cause,
    },
    /// The connection broke while the bundle was being sent.
    #[error("the connection to {url} was reset after {sent} bytes of the upload had been sent")]
    UploadReset {
        /// The URL.
        url: String,
        /// Bytes of the request body handed to the connection.
        sent: u64,
        /// Whether the URL is plain `http://` (where SpiroFS refuses bodies over 100 MiB).
        plain_http: bool,
        /// The underlying error.
        #[source]
        source: Cause,
    },
    /// The proxy set in the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`) failed:
    /// it refused the connection, asked for authentication, or did not answer as a proxy.
    #[error("cannot reach {url} through the proxy {proxy} (from {variable}): {reason}")]
    Proxy {
        /// The server URL.
        url: String,
        /// The proxy, `scheme://host:port` (never its user info).
        proxy: String,
        /// The environment variable that set it.
        variable: &'static str,
        /// What went wrong, in words.
        reason: String,
        /// The underlying error, if any.
        #[source]
        source: Option<Cause>,
    },
    /// The server took the connection (and the request) but did not answer in time.
    #[error("the server at {url} did not answer {request} within {}", seconds(*timeout))]
    NoAnswer {
        /// The URL.
        url: String,
        /// Which request, in words (`the token check (GET /)`, `the deploy`…).
        request: &'static str,
        /// The timeout in force.
        timeout: Duration,
        /// Whether the whole bundle had been sent (the server may be deploying it).
        after_upload: bool,
    },
    /// The server stopped reading the bundle: the upload made no progress for too long.
    #[error(
        "the upload to {url} made no progress for {} ({sent} bytes had been sent): the server \
         stopped reading it", seconds(*timeout)
    )]
    UploadStalled {
        /// The URL.
        url: String,
        /// Bytes of the request body handed to the connection.
        sent: u64,
        /// The timeout in force.
        timeout: Duration,
    },
    /// A plain `http://` request answered in TLS (an alert), or cut by a reset or a close
    /// before any answer: the port most likely speaks HTTPS.
    #[error("{url} did not answer in plain HTTP: the server seems to speak TLS on that port")]
    TlsPort {
        /// The URL.
        url: String,
        /// The same URL with `https://`, to use instead.
        https: String,
        /// The underlying error.
        #[source]
        source: Cause,
    },
    /// Any other connection failure before the server answered.
    #[error("the request to {url} failed")]
    Connection {
        /// The URL.
        url: String,
        /// The underlying error.
        #[source]
        source: Cause,
    },
    /// The server answered with an error status (the deploy did not start, except for 403:
    /// see PROTOCOL.md).
    #[error("the server answered {status} {reason}{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Status {
        /// The HTTP status code.
        status: u16,
        /// Its canonical reason phrase.
        reason: String,
        /// The text of the server's (HTML) body, tags stripped.
        message: String,
    },
    /// The server answered 200 with something that is not an event stream.
    #[error("the server answered with {content_type:?} instead of an event stream")]
    NotEventStream {
        /// The `Content-Type` received.
        content_type: String,
    },
    /// The event stream ended (or broke) before the deploy was reported complete.
    #[error("the event stream ended before {expected}")]
    StreamCut {
        /// What was still expected (`highstate-finish`, …).
        expected: &'static str,
        /// The read error, if the connection broke rather than ended.
        #[source]
        source: Option<Cause>,
    },
    /// The server sent an event larger than the limit
    /// ([`Options::event_limit`](crate::Options::event_limit)); the stream was closed there.
    #[error("the server sent an event larger than the limit of {}", mib(*limit))]
    EventTooLarge {
        /// The limit on an event's data, in bytes.
        limit: usize,
    },
    /// A known event whose data does not have the documented shape.
    #[error("the server sent a malformed `{event}` event")]
    BadEvent {
        /// The event type.
        event: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The HTTP client could not be set up (its TLS backend, most likely).
    #[error("cannot set up the HTTP client")]
    Setup(#[source] reqwest::Error),
    /// The client's runtime thread could not be started.
    #[error("cannot start the deploy client's runtime")]
    Runtime(#[source] std::io::Error),
    /// The task sending the upload request failed (it panicked or was cancelled).
    #[error("the upload's request task failed")]
    Task(#[source] tokio::task::JoinError),
    /// A bug in this client: a state its own code should have made impossible.
    #[error("internal error in the deploy client: {0}")]
    Internal(&'static str),
}

/// `30 s`, `1.5 s`.
fn seconds(duration: Duration) -> String {
    format!("{} s", duration.as_secs_f64())
}

/// `64 MiB`, or the exact byte count when it is not a whole number of MiB.
fn mib(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

impl Error {
    /// The HTTP status, for [`Error::Status`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the bundle may have been deployed although the deploy failed: SpiroFS 0.3
    /// goes on with the deploy (and the highstate) after answering 403 (see PROTOCOL.md).
    pub fn may_have_deployed(&self) -> bool {
        self.status() == Some(403)
    }

    /// Whether this is, most likely, SpiroFS refusing a body over
    /// [`PLAIN_HTTP_BODY_LIMIT`](crate::PLAIN_HTTP_BODY_LIMIT) over plain `http://`: it resets
    /// the connection with no answer, so the reset upload is all there is to go on.
    pub fn plain_http_limit_reset(&self) -> bool {
        matches!(
            self,
            Error::UploadReset {
                plain_http: true,
                ..
            }
        )
    }
}

/// What [`Client::upload`](crate::Client::upload) returns when it fails: either the bundle
/// producer's own error, or the client's.
#[derive(Debug, thiserror::Error)]
pub enum UploadError<E> {
    /// The producer failed (the upload was aborted, so the server deploys nothing).
    #[error("the bundle could not be built: {0}")]
    Bundle(#[source] E),
    /// The client failed; when the producer failed because the server had already answered
    /// (a 401 that closed the connection), this is the server's answer.
    #[error(transparent)]
    Deploy(Error),
}
