//! What a deploy-client failure means on the command line: its exit status, the hint naming
//! the flag or setting to change, and any warning that must go with it.

use spiro_client::{Error, PLAIN_HTTP_BODY_LIMIT};

use crate::args::Args;
use crate::error::{CliError, Exit};
use crate::output;

/// Chooses the exit status, the hint and the warnings for a client error; prints nothing.
pub fn client_error(error: Error, args: &Args) -> CliError {
    let may_have_deployed = error.may_have_deployed();
    let cli_error = exit_and_hint(error, args);
    if may_have_deployed {
        cli_error.warning(
            "SpiroFS 0.3 goes on after answering 403: the bundle may have been deployed (and \
             highstated) anyway",
        )
    } else {
        cli_error
    }
}

/// `100 MiB`: the largest body SpiroFS takes over plain HTTP, in words.
pub fn plain_http_limit() -> String {
    format!("{} MiB", PLAIN_HTTP_BODY_LIMIT >> 20)
}

/// The exit status and the hint for `error`.
fn exit_and_hint(error: Error, args: &Args) -> CliError {
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
        Error::UploadReset { sent, .. } if error.plain_http_limit_reset() => {
            let hint = format!(
                "SpiroFS refuses bodies over {} over plain HTTP: it resets the connection \
                 with no answer ({} had been sent). Use https:// (the limit is 10 GiB there) or \
                 a smaller bundle",
                plain_http_limit(),
                output::human_bytes(*sent)
            );
            CliError::new(Exit::Connection, error).hint(hint)
        }
        Error::Proxy { variable, .. } => {
            let hint = format!(
                "the proxy comes from the environment variable {variable}: fix it, unset it, or \
                 add the server's host to NO_PROXY (a comma-separated list of hosts that are \
                 reached directly)"
            );
            CliError::new(Exit::Connection, error).hint(hint)
        }
        Error::NoAnswer {
            after_upload: false,
            ..
        } => CliError::new(Exit::Connection, error).hint(
            "something accepts connections at that address but does not answer: check that \
             --server points at the SpiroFS engine (or raise --check-timeout)",
        ),
        Error::NoAnswer { .. } => CliError::new(Exit::Server, error).hint(
            "the server took the whole bundle but did not answer: it may still be deploying \
             it; check the salt-master's log and `salt-run jobs.active` before deploying again \
             (or raise --response-timeout)",
        ),
        Error::UploadStalled { .. } => CliError::new(Exit::Connection, error).hint(
            "the server or a proxy in between stopped taking data without answering; nothing \
             was deployed. Check the salt-master, then retry (or raise --stall-timeout)",
        ),
        Error::BundleLength { .. } => CliError::new(Exit::Bundle, error)
            .hint("retry once nothing is writing to the project, its artifacts or its repository"),
        Error::TlsPort { https, .. } => {
            let hint = format!(
                "use {https}, without --insecure: trust the server's certificate with \
                 --ssl-cert FILE if a private CA signed it"
            );
            CliError::new(Exit::Connection, error).hint(hint)
        }
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
        Error::Status { status: 403, .. } => CliError::new(
            Exit::Auth,
            format!("{source} does not cover the project {project:?}: {error}"),
        )
        .hint(format!(
            "issue a token for it with `salt-run spiro.issue_token {project}`"
        )),
        Error::Status { status: 400, .. } => CliError::new(Exit::Server, error).hint(
            "the server could not read the request (a field, or the bundle as a tar); check that \
             --server points at SpiroFS",
        ),
        Error::Status { status, .. } if *status >= 500 => CliError::new(Exit::Server, error)
            .hint("the server failed: its reason is in the salt-master's log"),
        Error::Status { .. } | Error::NotEventStream { .. } => CliError::new(Exit::Server, error)
            .hint("check that --server (or SPIRO_URL) points at the SpiroFS deploy engine"),
        Error::BadEvent { .. } => CliError::new(Exit::Server, error),
        Error::EventTooLarge { .. } => CliError::new(Exit::Server, error).hint(
            "the connection was closed there, so the rest of the deploy is not shown: it may \
             still be running on the salt-master (`salt-run jobs.active`); check that --server \
             points at SpiroFS",
        ),
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
        assert!(client_error(status(401), &args).warnings.is_empty());
        let forbidden = client_error(status(403), &args);
        assert_eq!(forbidden.exit, Exit::Auth);
        assert_eq!(forbidden.warnings.len(), 1);
        assert!(forbidden.warnings[0].contains("may have been deployed"));
        assert_eq!(client_error(status(400), &args).exit, Exit::Server);
        assert_eq!(client_error(status(502), &args).exit, Exit::Server);
        let cut = Error::StreamCut {
            expected: "x",
            source: None,
        };
        assert_eq!(client_error(cut, &args).exit, Exit::Incomplete);
        let too_large = Error::EventTooLarge { limit: 64 << 20 };
        assert_eq!(client_error(too_large, &args).exit, Exit::Server);
        let no_answer = |after_upload| Error::NoAnswer {
            url: "https://h/".into(),
            request: "x",
            timeout: std::time::Duration::from_secs(1),
            after_upload,
        };
        assert_eq!(client_error(no_answer(false), &args).exit, Exit::Connection);
        assert_eq!(client_error(no_answer(true), &args).exit, Exit::Server);
        let proxy = Error::Proxy {
            url: "https://h/".into(),
            proxy: "http://p:3128".into(),
            variable: "HTTPS_PROXY",
            reason: "the proxy refused the connection".into(),
            source: None,
        };
        let proxy = client_error(proxy, &args);
        assert_eq!(proxy.exit, Exit::Connection);
        assert!(proxy.hint.unwrap().contains("NO_PROXY"));
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
}
