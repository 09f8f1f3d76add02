//! What a failed request means: a reqwest, rustls or io error turned into the [`Error`]
//! variant that says what happened (refused, DNS, TLS, timeout, reset…) and so what to do.

use std::error::Error as StdError;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{Cause, Error};
use crate::proxy::Proxy;

/// What the classification needs to know about a request.
#[derive(Clone, Debug)]
pub(crate) struct Classifier {
    /// The server URL, without credentials.
    pub(crate) url: String,
    /// The host name, for certificate messages.
    pub(crate) host: String,
    pub(crate) plain_http: bool,
    pub(crate) connect_timeout: Duration,
    /// Bytes of the bundle handed to the connection; `Some` for the upload request only.
    pub(crate) sent: Option<Arc<AtomicU64>>,
    /// The proxy the requests go through, if the environment sets one for the server.
    pub(crate) proxy: Option<Proxy>,
}

impl Classifier {
    /// The URL, for messages.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Bytes of the bundle handed to the connection so far.
    pub(crate) fn sent(&self) -> u64 {
        self.sent.as_ref().map_or(0, |s| s.load(Ordering::Relaxed))
    }

    /// Whether this is the upload request. A connection that breaks before the server answers
    /// it (past connecting and TLS) broke the upload, even when the last bytes had already been
    /// handed to the kernel: SpiroFS resets a body over its limit with no answer at all, and
    /// that reset can land after the body was sent.
    fn is_upload(&self) -> bool {
        self.sent.is_some()
    }

    /// [`Error::UploadReset`] with what was sent so far.
    pub(crate) fn upload_error(&self, source: Cause) -> Error {
        Error::UploadReset {
            url: self.url.clone(),
            sent: self.sent(),
            plain_http: self.plain_http,
            source,
        }
    }

    /// Turns a reqwest error into the variant that says what to do about it.
    pub(crate) fn classify(&self, error: reqwest::Error) -> Error {
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
        if let Some(proxy) = &self.proxy
            && (error.is_connect() || error.is_timeout() || !self.is_upload())
        {
            // Every connection goes to the proxy first: its failure is not the server's.
            return self.proxy_error(proxy, &error, &text);
        }
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
        if self.plain_http && answered_in_tls_or_cut(&text, io_kind) {
            return Error::TlsPort {
                https: url.replacen("http://", "https://", 1),
                url,
                source: root_cause(error),
            };
        }
        Error::Connection {
            url,
            source: root_cause(error),
        }
    }
}

impl Classifier {
    /// [`Error::Proxy`] for a request that failed at or through `proxy`.
    fn proxy_error(&self, proxy: &Proxy, error: &reqwest::Error, text: &str) -> Error {
        let io_kind = find_cause::<io::Error>(error).map(io::Error::kind);
        let reason = if io_kind == Some(io::ErrorKind::ConnectionRefused) {
            "the proxy refused the connection".to_owned()
        } else if text.contains("proxy authorization required") {
            PROXY_AUTH.to_owned()
        } else if error.is_timeout() || text.contains("timed out") {
            format!(
                "the proxy did not accept the connection within {} s",
                self.connect_timeout.as_secs_f64()
            )
        } else if text.contains("dns error") || text.contains("failed to lookup address") {
            "the proxy's host name does not resolve".to_owned()
        } else if text.contains("unexpected end of file") {
            "the proxy closed the connection without answering".to_owned()
        } else if text.contains("tunnel error") {
            "the proxy did not open a tunnel to the server (it refused, or it does not answer \
             as an HTTP proxy)"
                .to_owned()
        } else if text.contains("invalid HTTP") || text.contains("parse") {
            "the proxy's answer is not HTTP".to_owned()
        } else {
            "the request through the proxy failed".to_owned()
        };
        Error::Proxy {
            url: self.url.clone(),
            proxy: proxy.shown.clone(),
            variable: proxy.variable,
            reason,
            source: Some(root_cause_ref(error)),
        }
    }

    /// A `407` answer is the proxy's, not the server's (a plain `http://` server is reached
    /// through the proxy without a tunnel, so the proxy's refusal is an ordinary answer).
    pub(crate) fn proxy_status(&self, error: Error) -> Error {
        match (&self.proxy, error.status()) {
            (Some(proxy), Some(407)) => Error::Proxy {
                url: self.url.clone(),
                proxy: proxy.shown.clone(),
                variable: proxy.variable,
                reason: PROXY_AUTH.to_owned(),
                // `Error::Status` would say "the server answered": it is the proxy's answer.
                source: None,
            },
            _ => error,
        }
    }
}

/// A proxy's `407`, in words.
const PROXY_AUTH: &str = "the proxy asks for authentication (407 Proxy Authentication Required): \
     put the user and password in the proxy URL";

/// The innermost cause of `error`, as text.
fn root_cause_ref(error: &(dyn StdError + 'static)) -> Cause {
    chain(error)
        .last()
        .map_or_else(String::new, |innermost| innermost.to_string())
        .into()
}

/// Whether a plain-HTTP request (before any upload) failed as it does on a TLS port: the
/// server's TLS alert is not an HTTP status line (rustls, hyper: "invalid HTTP version"), or
/// the server reset or closed the connection without answering (OpenSSL, so SpiroFS). A plain
/// HTTP server answers a `GET /` rather than cutting it.
fn answered_in_tls_or_cut(text: &str, io_kind: Option<io::ErrorKind>) -> bool {
    text.contains("invalid HTTP version")
        || text.contains("connection closed before message completed")
        || matches!(
            io_kind,
            Some(
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::UnexpectedEof
            )
        )
}

/// Whether a `T` is anywhere in `error`'s chain.
pub(crate) fn caused_by<T: StdError + 'static>(error: &(dyn StdError + 'static)) -> bool {
    find_cause::<T>(error).is_some()
}

use spiro_scanner::error_chain as chain;

/// The first `T` in `error`'s chain.
fn find_cause<'a, T: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    chain(error).find_map(|e| e.downcast_ref::<T>())
}

/// Every message of the chain, a line each, to search for words no type carries.
fn chain_text(error: &(dyn StdError + 'static)) -> String {
    chain(error).map(|e| e.to_string() + "\n").collect()
}

/// The innermost cause, which says what happened in the fewest words.
fn root_cause(error: reqwest::Error) -> Cause {
    let error = error.without_url();
    let text = chain(&error)
        .last()
        .map_or_else(String::new, |innermost| innermost.to_string());
    if text == error.to_string() {
        Box::new(error)
    } else {
        text.into()
    }
}

/// A TLS failure in words, and whether it is a certificate verification failure.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("inner")]
    struct Inner;

    #[test]
    fn the_chain_descends_into_what_an_io_error_wraps() {
        let error = Outer(io::Error::other(Inner));
        let messages: Vec<String> = chain(&error).map(|e| e.to_string()).collect();
        assert_eq!(messages, ["outer", "inner", "inner"]);
        assert!(caused_by::<Inner>(&error));
        assert_eq!(chain_text(&error), "outer\ninner\ninner\n");
    }
}
