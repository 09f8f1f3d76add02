//! How to reach a server: the URL, the token, certificate checking and timeouts.

use std::path::PathBuf;
use std::time::Duration;

use crate::Token;

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
    /// no read timeout on the event stream: a highstate may be silent for an hour.
    pub connect_timeout: Duration,
    /// How long the token check (`GET /`) may take, connecting included: a server that
    /// accepts the connection and never answers fails with
    /// [`Error::NoAnswer`](crate::Error::NoAnswer) after it.
    pub check_timeout: Duration,
    /// How long the upload may make no progress (the server stopped reading the bundle)
    /// before it fails with [`Error::UploadStalled`](crate::Error::UploadStalled).
    pub stall_timeout: Duration,
    /// How long to wait for the server's answer once the whole bundle was handed to the
    /// connection, before failing with [`Error::NoAnswer`](crate::Error::NoAnswer). The
    /// events that follow the answer have no timeout.
    pub response_timeout: Duration,
    /// TCP keepalive idle time, so that a dead peer is noticed during a silent highstate.
    pub keepalive: Duration,
    /// The largest event the server may send, in bytes of its data
    /// ([`DEFAULT_EVENT_LIMIT`](crate::DEFAULT_EVENT_LIMIT), 64 MiB, by default): a larger one
    /// ends the deploy with [`Error::EventTooLarge`](crate::Error::EventTooLarge), so memory
    /// stays bounded whatever the server sends.
    pub event_limit: usize,
}

impl Options {
    /// Options with the defaults: system roots, a 20 s connect timeout, 30 s for the token
    /// check, 60 s without upload progress, 300 s for the answer after the upload, 30 s
    /// keepalive, events up to 64 MiB.
    pub fn new(url: impl Into<String>, token: Token) -> Options {
        Options {
            url: url.into(),
            token,
            tls: Tls::System,
            connect_timeout: Duration::from_secs(20),
            check_timeout: Duration::from_secs(30),
            stall_timeout: Duration::from_secs(60),
            response_timeout: Duration::from_secs(300),
            keepalive: Duration::from_secs(30),
            event_limit: crate::DEFAULT_EVENT_LIMIT,
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

    /// Sets the limit on one event's data, in bytes.
    pub fn event_limit(mut self, bytes: usize) -> Options {
        self.event_limit = bytes;
        self
    }

    /// Sets how long the token check (`GET /`) may take, connecting included.
    pub fn check_timeout(mut self, timeout: Duration) -> Options {
        self.check_timeout = timeout;
        self
    }

    /// Sets how long the upload may make no progress.
    pub fn stall_timeout(mut self, timeout: Duration) -> Options {
        self.stall_timeout = timeout;
        self
    }

    /// Sets how long to wait for the answer once the bundle was sent.
    pub fn response_timeout(mut self, timeout: Duration) -> Options {
        self.response_timeout = timeout;
        self
    }
}
