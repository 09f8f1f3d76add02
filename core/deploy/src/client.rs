//! The client: set up once for a server ([`Client::new`]), check the token
//! ([`Client::check`]), then start deploys ([`Client::start`], [`Client::upload`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CACHE_CONTROL, HeaderValue};
use reqwest::{StatusCode, Url};
use tokio::runtime::Runtime;
use tokio::sync::watch;

use crate::classify::Classifier;
use crate::error::{Error, UploadError};
use crate::error_page::status_error;
use crate::events::Events;
use crate::gzip::Gzip;
use crate::options::{Options, Tls};
use crate::redact::{redact_str, redact_url};
use crate::upload::{self, Upload};
use crate::{validate_deployment, validate_project};

/// The largest request body SpiroFS takes over plain `http://`: Tornado's default
/// `max_buffer_size`. Over HTTPS SpiroFS sets its own limit, 10 GiB. A larger body is reset
/// with no answer at all (see [`Error::UploadReset`]).
pub const PLAIN_HTTP_BODY_LIMIT: u64 = 100 * 1024 * 1024;

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
    /// fails with [`Error::BundleLength`] if the bundle written differs. With
    /// [`compression`](Deploy::compression), the length is still the tar's and still checked,
    /// but the compressed body goes out chunked: its length is only known once it is sent.
    pub bundle_len: Option<u64>,
    /// Whether the bundle is gzipped on the wire (`None`: it goes out as the plain tar the
    /// protocol documents). Pays on slow links only; see [`Gzip`].
    pub compression: Option<Gzip>,
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
    check_timeout: Duration,
    /// The proxy the environment sets for the server, named in errors.
    proxy: Option<crate::proxy::Proxy>,
    /// How long an upload may stall and its answer take, and how large an event may be.
    limits: upload::Limits,
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

impl Client {
    /// Checks the options and sets up the HTTP client. Nothing is sent yet.
    ///
    /// TLS uses the process's default rustls crypto provider; if the program installed none,
    /// this installs ring's as the default.
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
        // reqwest takes the process's default provider: make sure there is one.
        crate::tls::crypto_provider();
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
                // The file's certificates are trusted as roots and pinned (see `tls.rs`).
                let config = crate::tls::trust_file(path)?;
                builder = builder.tls_backend_preconfigured(config);
            }
            Tls::Insecure => builder = builder.tls_danger_accept_invalid_certs(true),
        }
        let http = builder.build().map_err(|e| Error::Setup(e.without_url()))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("spiro-client")
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let proxy = crate::proxy::proxy_for(&url);
        Ok(Client {
            url,
            shown_url,
            plain_http,
            authorization,
            connect_timeout: options.connect_timeout,
            check_timeout: options.check_timeout,
            proxy,
            limits: upload::Limits {
                stall: options.stall_timeout,
                response: options.response_timeout,
                event_limit: options.event_limit,
            },
            http,
            rt: Arc::new(rt),
            checked: AtomicBool::new(false),
        })
    }

    /// Whether the server is reached over plain `http://` (only allowed with `Tls::Insecure`).
    pub fn plain_http(&self) -> bool {
        self.plain_http
    }

    /// Whether a bundle of `len` bytes is over what SpiroFS takes over this client's plain
    /// `http://` ([`PLAIN_HTTP_BODY_LIMIT`]): it would reset the upload. Always `false` over
    /// HTTPS.
    pub fn plain_http_limit_exceeded(&self, len: u64) -> bool {
        self.plain_http && len > PLAIN_HTTP_BODY_LIMIT
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
        let classifier = self.classifier(None);
        let check = async {
            let response = request.send().await.map_err(|e| classifier.classify(e))?;
            if response.status() == StatusCode::OK {
                self.checked.store(true, Ordering::Relaxed);
                Ok(())
            } else {
                Err(classifier.proxy_status(status_error(response).await))
            }
        };
        // A server that takes the connection and never answers must not hang the deploy.
        self.rt
            .block_on(async { tokio::time::timeout(self.check_timeout, check).await })
            .unwrap_or_else(|_| {
                Err(Error::NoAnswer {
                    url: self.shown_url.clone(),
                    request: "the token check (GET /)",
                    timeout: self.check_timeout,
                    after_upload: false,
                })
            })
    }

    /// What classifying a failure of a request to this server needs; `sent` counts the
    /// bundle's bytes for the upload request.
    fn classifier(&self, sent: Option<Arc<AtomicU64>>) -> Classifier {
        Classifier {
            url: self.shown_url.clone(),
            host: self.url.host_str().unwrap_or("").to_owned(),
            plain_http: self.plain_http,
            connect_timeout: self.connect_timeout,
            sent,
            proxy: self.proxy.clone(),
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
        let gzip = match deploy.compression {
            Some(gzip) => Some(
                gzip.compressor()
                    .map_err(|_| Error::Internal("cannot start the gzip worker thread"))?,
            ),
            None => None,
        };
        let (bridge, body) = upload::bridge();
        let (bundle, mime) = match (deploy.bundle_len, deploy.compression) {
            (_, Some(_)) => (reqwest::multipart::Part::stream(body), "application/gzip"),
            (Some(len), None) => (
                reqwest::multipart::Part::stream_with_length(body, len),
                "application/x-tar",
            ),
            (None, None) => (reqwest::multipart::Part::stream(body), "application/x-tar"),
        };
        let bundle = bundle
            .file_name("bundle")
            .mime_str(mime)
            .map_err(|_| Error::Internal("a bundle MIME type did not parse"))?;
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
        let classifier = self.classifier(Some(bridge.sent.clone()));
        Ok(Upload::new(
            bridge,
            upload::Request {
                response,
                answered: answered_rx,
            },
            classifier,
            self.rt.clone(),
            deploy.highstate,
            deploy.bundle_len,
            self.limits,
        )
        .compressed(gzip))
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
///     compression: None,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Token;

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
            compression: None,
        };
        assert!(matches!(client.start(&deploy), Err(Error::Name(_))));
    }
}
