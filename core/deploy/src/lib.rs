//! The SpiroFS deploy client: upload a bundle while it is built and follow the deploy as
//! typed events.
//!
//! - [`Client`] (or the one-call [`upload`]) sends the bundle as a chunked multipart request,
//!   exactly as the SpiroFS server expects it, streaming from whatever writes the tar (such as
//!   `spiro_bundle::Builder`) without holding it in memory.
//! - [`Events`] yields [`Event`]s as the server sends them, parsed by a WHATWG-conformant
//!   Server-Sent Events parser ([`sse`]); there is no read timeout, and an event over
//!   [`Options::event_limit`] (64 MiB by default) ends the stream with an error.
//! - [`Caveats`] reads a token's macaroon caveats to refuse an expired token or a project the
//!   token does not cover before anything is uploaded.
//! - [`validate_project`] and [`validate_deployment`] refuse names that would escape on the
//!   server.
//!
//! The library never prints, and the [`Token`] never appears in any `Debug`, `Display` or
//! error.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod classify;
mod client;
mod error;
mod error_page;
mod event;
mod events;
mod gzip;
mod macaroon;
mod names;
mod options;
mod proxy;
mod redact;
pub mod sse;
mod tls;
mod token;
mod upload;

pub use client::{Client, Deploy, PLAIN_HTTP_BODY_LIMIT, upload};
pub use error::{Cause, Error, UploadError};
pub use event::{
    Event, HighstateStart, HighstateUpdate, MinionResult, Ret, Returned, State, StateResult,
    Status, Summary,
};
pub use events::{DEFAULT_EVENT_LIMIT, Events};
pub use gzip::{Gzip, GzipWriter};
pub use macaroon::{CaveatProblem, Caveats, MacaroonError, unix_now};
pub use names::{NameError, validate_deployment, validate_project};
pub use options::{Options, Tls};
pub use token::Token;
pub use upload::Upload;
