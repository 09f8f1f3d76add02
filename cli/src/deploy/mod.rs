//! Uploading the bundle while it is built and showing the deploy as it happens.

mod render;

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use spiro_bundle::Builder;
use spiro_client::{
    CaveatProblem, Caveats, Client, Deploy, Error, Options, Tls, UploadError, unix_now,
};

use crate::args::Args;
use crate::bundle::Plan;
use crate::error::{CliError, Exit};
use crate::output;

use render::Report;

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

/// Refuses project and deployment names that would escape on the server.
pub fn validate_names(args: &Args) -> Result<(), CliError> {
    let hint = "names may not be empty, `.` or `..`, contain `..` components, or (for the \
                deployment) contain `/`: the server builds paths from them without checking";
    if let Some(project) = &args.project {
        spiro_client::validate_project(project)
            .map_err(|e| CliError::new(Exit::Usage, e).hint(hint))?;
    }
    if let Some(deployment) = &args.deployment {
        spiro_client::validate_deployment(deployment)
            .map_err(|e| CliError::new(Exit::Usage, e).hint(hint))?;
    }
    Ok(())
}

/// The largest body SpiroFS (Tornado's default buffer) takes over plain HTTP.
const PLAIN_HTTP_LIMIT: u64 = 100 * 1024 * 1024;

/// Streams the bundle that `plan` describes to the server `client` (from [`connect`]) and
/// shows the deploy.
pub fn run(args: &Args, client: &Client, plan: Plan) -> Result<Exit, CliError> {
    let (Some(project), Some(deployment)) = (&args.project, &args.deployment) else {
        return Err(CliError::msg(
            Exit::Usage,
            "a deploy needs a PROJECT and a DEPLOYMENT",
        ));
    };
    // Measuring the bundle first (names and sizes only, no file is read) lets it go out with a
    // Content-Length: servers take a sized body in fewer, larger pieces than a chunked one.
    let (measured, _) = plan.write(Builder::counting())?;
    let bundle_len = measured.bytes();
    if client.plain_http() && bundle_len > PLAIN_HTTP_LIMIT {
        output::warning(&format!(
            "the bundle is {}: SpiroFS refuses bodies over 100 MiB over plain HTTP (use https://)",
            output::human_bytes(bundle_len)
        ));
    }
    let deploy = Deploy {
        project: project.clone(),
        deployment: deployment.clone(),
        highstate: args.highstate(),
        bundle_len: Some(bundle_len),
    };

    let bar = progress_bar(bundle_len);
    if bar.is_hidden() {
        output::status(&format!(
            "uploading the bundle to {} as {project}/{deployment}",
            client.url()
        ));
    }
    let started = Instant::now();
    let result = client.upload(&deploy, |upload| {
        let counting = Counting {
            inner: upload,
            bar: &bar,
        };
        plan.write(Builder::new(counting)).map(|(_, stats)| stats)
    });
    bar.finish_and_clear();
    let (stats, events) = match result {
        Ok((stats, events)) => (stats, events),
        Err(UploadError::Bundle(error)) => return Err(error),
        Err(UploadError::Deploy(error)) => return Err(client_error(error, args)),
    };
    output::status(&format!(
        "uploaded {} in {}; the server accepted the deploy",
        output::bundle_summary(&stats),
        human_elapsed(started.elapsed()),
    ));

    let mut report = Report::new(args.format, deploy.highstate);
    let mut events = events;
    while let Some(event) = events.next() {
        match event {
            Ok(event) => report.event_with_data(&event, events.last_data()),
            Err(error) => {
                report.interrupted();
                return Err(client_error(error, args));
            }
        }
    }
    report.finish()
}

/// Counts the bundle's bytes for the progress bar as they go to the upload.
struct Counting<'a, W: Write> {
    inner: W,
    bar: &'a ProgressBar,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(data)?;
        self.bar.inc(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A bar with the bytes sent of `total`, the rate and the time left, on a terminal only (in a
/// CI log it would be noise: plain status lines are printed instead).
fn progress_bar(total: u64) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template(
            "uploading the bundle [{bar:30}] {bytes}/{total_bytes} ({binary_bytes_per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_draw_target(ProgressDrawTarget::stderr());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn human_elapsed(elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1} s")
    } else {
        format!(
            "{}:{:02} min",
            elapsed.as_secs() / 60,
            elapsed.as_secs() % 60
        )
    }
}

fn token(args: &Args) -> Result<&spiro_client::Token, CliError> {
    args.token.as_ref().ok_or_else(|| {
        CliError::msg(
            Exit::Auth,
            "no token: the server needs one to accept a deploy",
        )
        .hint(
            "set SPIRO_TOKEN (or pass --token) to a token from \
             `salt-run spiro.issue_token <project>` on the salt-master, or name a file holding \
             it with --token-file or SPIRO_TOKEN_FILE",
        )
    })
}

/// Reads the token's caveats and stops before uploading anything if they refuse the deploy.
fn check_caveats(args: &Args, project: Option<&str>) -> Result<(), CliError> {
    let token = token(args)?;
    let caveats = match Caveats::read(token) {
        Ok(caveats) => caveats,
        Err(e) => {
            output::warning(&format!(
                "cannot read the caveats of {}: {e}; the server will decide",
                args.token_source.describe()
            ));
            return Ok(());
        }
    };
    let now = unix_now();
    let checked = match project {
        Some(project) => caveats.check(project, now),
        None => caveats.check_time(now),
    };
    let problem = match checked {
        Ok(()) => return Ok(()),
        Err(problem) => problem,
    };
    let hint = match &problem {
        CaveatProblem::Expired { .. } => format!(
            "issue a new token with `salt-run spiro.issue_token {} [lifespan]` and put it in {}",
            project.unwrap_or("<project>"),
            args.token_source.setting()
        ),
        CaveatProblem::NotYetValid { .. } => {
            "check this machine's clock, or wait until the token becomes valid".to_owned()
        }
        CaveatProblem::ProjectNotAllowed { project, .. } => format!(
            "deploy a project the token covers, or issue a token for this one with \
             `salt-run spiro.issue_token {project}`"
        ),
    };
    Err(CliError::msg(
        Exit::Auth,
        format!(
            "{problem} (checked {}; nothing was sent)",
            args.token_source.describe()
        ),
    )
    .hint(hint))
}

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
    let timeout = Duration::try_from_secs_f64(args.connect_timeout)
        .ok()
        .filter(|t| !t.is_zero())
        .ok_or_else(|| {
            CliError::msg(
                Exit::Usage,
                format!(
                    "--connect-timeout {} is not a positive number of seconds",
                    args.connect_timeout
                ),
            )
        })?;
    let options = Options::new(&args.server, token)
        .tls(tls)
        .connect_timeout(timeout);
    Client::new(options).map_err(|e| client_error(e, args))
}

/// Chooses the exit status and the hint for a client error.
fn client_error(error: Error, args: &Args) -> CliError {
    let source = args.token_source.describe();
    let project = args.project.as_deref().unwrap_or("<project>");
    match &error {
        Error::InvalidUrl { .. } => CliError::new(Exit::Usage, error)
            .hint("give --server (or SPIRO_URL) a URL such as https://salt:4510/"),
        Error::PlainHttp { url } => {
            let https = url.replacen("http://", "https://", 1);
            CliError::new(Exit::Usage, error).hint(format!(
                "the token would cross the network in clear: use {https}; --insecure is what \
                 allows unencrypted HTTP (dangerous)"
            ))
        }
        Error::Name(_) => CliError::new(Exit::Usage, error),
        Error::BadToken => CliError::new(Exit::Auth, error).hint(format!(
            "check {}: copy the token from `salt-run spiro.issue_token` again, on one line",
            args.token_source.setting()
        )),
        Error::CertFile { .. } | Error::BadCertFile { .. } => CliError::new(Exit::Usage, error)
            .hint("--ssl-cert takes a PEM file holding the CA certificate (or the server's own certificate)"),
        Error::Dns { .. } => CliError::new(Exit::Connection, error)
            .hint("check the host name in --server (or SPIRO_URL)"),
        Error::ConnectionRefused { .. } => CliError::new(Exit::Connection, error).hint(
            "check that the SpiroFS engine runs on the salt-master and listens on that port \
             (4510 by default)",
        ),
        Error::ConnectTimeout { .. } => CliError::new(Exit::Connection, error).hint(
            "check the address and any firewall in between, or raise --connect-timeout",
        ),
        Error::Tls {
            verification: true, ..
        } => CliError::new(Exit::Connection, error).hint(
            "if the server's certificate comes from a private CA or is self-signed, trust it with \
             --ssl-cert FILE (--insecure skips verification altogether: dangerous)",
        ),
        Error::Tls { .. } => CliError::new(Exit::Connection, error).hint(
            "if the server speaks plain HTTP, use an http:// URL with --insecure (dangerous)",
        ),
        Error::UploadReset {
            plain_http: true,
            sent,
            ..
        } => {
            let hint = format!(
                "SpiroFS refuses bodies over 100 MiB over plain HTTP: it resets the connection \
                 with no answer ({} had been sent). Use https:// (the limit is 10 GiB there) or \
                 a smaller bundle",
                output::human_bytes(*sent)
            );
            CliError::new(Exit::Connection, error).hint(hint)
        }
        Error::BundleLength { .. } => CliError::new(Exit::Bundle, error)
            .hint("retry once nothing is writing to the project, its artifacts or its repository"),
        Error::UploadReset { .. } | Error::Connection { .. } => {
            CliError::new(Exit::Connection, error)
                .hint("the connection broke: check the network and the salt-master, then retry")
        }
        Error::Status { status: 401, .. } => {
            CliError::new(Exit::Auth, format!("the server refused {source}: {error}")).hint(
                format!(
                    "the token is missing, invalid, expired, or was issued by another salt-master; \
                     issue one with `salt-run spiro.issue_token {project}` and put it in {}",
                    args.token_source.setting()
                ),
            )
        }
        Error::Status { status: 403, .. } => {
            output::warning(
                "SpiroFS 0.3 goes on after answering 403: the bundle may have been deployed (and \
                 highstated) anyway",
            );
            CliError::new(
                Exit::Auth,
                format!("{source} does not cover the project {project:?}: {error}"),
            )
            .hint(format!(
                "issue a token for it with `salt-run spiro.issue_token {project}`"
            ))
        }
        Error::Status { status: 400, .. } => CliError::new(Exit::Server, error).hint(
            "the server could not read the request (a field, or the bundle as a tar); check that \
             --server points at SpiroFS",
        ),
        Error::Status { status, .. } if *status >= 500 => CliError::new(Exit::Server, error)
            .hint("the server failed: its reason is in the salt-master's log"),
        Error::Status { .. } | Error::NotEventStream { .. } => CliError::new(Exit::Server, error)
            .hint("check that --server (or SPIRO_URL) points at the SpiroFS deploy engine"),
        Error::BadEvent { .. } => CliError::new(Exit::Server, error),
        Error::StreamCut { .. } => CliError::new(Exit::Incomplete, error).hint(
            "the deploy may still be running on the salt-master: check with \
             `salt-run jobs.active` before deploying again",
        ),
        _ => CliError::new(Exit::Other, error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elapsed_is_readable() {
        assert_eq!(human_elapsed(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(human_elapsed(Duration::from_secs(125)), "2:05 min");
    }

    #[test]
    fn exit_codes_follow_the_error() {
        let args = {
            use clap::Parser;
            Args::try_parse_from(["spiro-deploy", "p", "d"]).unwrap()
        };
        let status = |status| Error::Status {
            status,
            reason: String::new(),
            message: String::new(),
        };
        assert_eq!(client_error(status(401), &args).exit, Exit::Auth);
        assert_eq!(client_error(status(400), &args).exit, Exit::Server);
        assert_eq!(client_error(status(502), &args).exit, Exit::Server);
        let cut = Error::StreamCut {
            expected: "x",
            source: None,
        };
        assert_eq!(client_error(cut, &args).exit, Exit::Incomplete);
        let plain = Error::PlainHttp {
            url: "http://h/".into(),
        };
        assert!(
            client_error(plain, &args)
                .hint
                .unwrap()
                .contains("--insecure")
        );
    }

    #[test]
    fn deploy_events_are_json_lines() {
        let event = spiro_client::Event::DeployBundle(spiro_client::Status {
            msg: "Deploying bundle".into(),
        });
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"event":"deploy-bundle","data":{"msg":"Deploying bundle"}}"#
        );
    }
}
