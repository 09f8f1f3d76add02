//! Connecting: the client options from the flags, and everything checked before a byte of
//! the bundle is built (`--check` stops there).

use std::time::Duration;

use spiro_client::{Client, Options, Tls};

use super::client_error::client_error;
use super::names::validate_names;
use super::token::{check_caveats, token};
use crate::args::Args;
use crate::error::{CliError, Exit};
use crate::output;

/// Everything that can be checked before a byte of the bundle is built, in order: the names,
/// the token's caveats, the connection options (URL, TLS file, timeout), and the token with
/// the server (`GET /`). So a usage error exits 2 and a refused token 5 without a scan.
pub fn connect(args: &Args) -> Result<Client, CliError> {
    validate_names(args)?;
    check_caveats(args, args.project.as_deref())?;
    let client = client(args)?;
    client.check().map_err(|e| client_error(e, args))?;
    Ok(client)
}

/// `--check`: reads the token's caveats, then verifies the token with `GET /`.
pub fn check(args: &Args) -> Result<Exit, CliError> {
    let client = connect(args)?;
    let covered = match &args.project {
        Some(project) => format!(" (its caveats cover the project {project:?})"),
        None => String::new(),
    };
    output::status(&format!(
        "the server at {} accepts {}{covered}",
        client.url(),
        args.token_source.describe()
    ));
    Ok(Exit::Success)
}

/// The client for `--server`, `--insecure`, `--ssl-cert` and the timeouts.
fn client(args: &Args) -> Result<Client, CliError> {
    crate::credentials::check_server_url(&args.server)?;
    let token = token(args)?.clone();
    let tls = if args.insecure {
        Tls::Insecure
    } else if let Some(cert) = &args.ssl_cert {
        Tls::Trust(cert.clone())
    } else {
        Tls::System
    };
    let mut options = Options::new(&args.server, token)
        .tls(tls)
        .connect_timeout(seconds("--connect-timeout", args.connect_timeout)?)
        .check_timeout(seconds("--check-timeout", args.check_timeout)?)
        .stall_timeout(seconds("--stall-timeout", args.stall_timeout)?)
        .response_timeout(seconds("--response-timeout", args.response_timeout)?);
    if let Some(limit) = test_event_limit() {
        options = options.event_limit(limit);
    }
    Client::new(options).map_err(|e| client_error(e, args))
}

/// The value of the timeout `flag`: a positive number of seconds.
fn seconds(flag: &str, value: f64) -> Result<Duration, CliError> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|t| !t.is_zero())
        .ok_or_else(|| {
            CliError::msg(
                Exit::Usage,
                format!("{flag} {value} is not a positive number of seconds"),
            )
        })
}

/// The test suite's smaller event limit, so that a test need not send 64 MiB to pass it:
/// `SPIRO_DEPLOY_TEST_EVENT_LIMIT` (bytes). Not a user setting (the library's
/// [`Options::event_limit`] is): read by debug builds only, so no release binary obeys it.
fn test_event_limit() -> Option<usize> {
    if !cfg!(debug_assertions) {
        return None;
    }
    std::env::var("SPIRO_DEPLOY_TEST_EVENT_LIMIT")
        .ok()?
        .parse()
        .ok()
}
