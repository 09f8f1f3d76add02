//! What the CLI reports when it fails, and with which exit status.

use std::error::Error as StdError;
use std::fmt;
use std::process::ExitCode;

/// The documented exit statuses. README's "Exit status" table mirrors this enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// The deploy was accepted and, with highstate on, every targeted minion reported and every
    /// state succeeded; or a bundle was written; or the token check passed.
    Success = 0,
    /// Reserved for failures that fit no other class.
    Other = 1,
    /// Bad command line (clap exits with 2 too).
    Usage = 2,
    /// The bundle could not be built (a missing artifact, an unreadable file, a bad scanner).
    Bundle = 3,
    /// The server could not be reached: DNS, refused connection, TLS, reset.
    Connection = 4,
    /// The server refused the token (401) or the project (403).
    Auth = 5,
    /// The server failed: an `exception` event, or a 4xx/5xx other than 401/403.
    Server = 6,
    /// At least one state failed, or a minion's states did not render.
    FailedStates = 7,
    /// A targeted minion did not report, or the event stream ended before `highstate-finish`.
    Incomplete = 8,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// A failure the user can act on: the error (with its chain of causes), an optional hint
/// saying what to do, the warnings that go before it, and the exit status it maps to.
pub struct CliError {
    pub exit: Exit,
    pub error: Box<dyn StdError + Send + Sync>,
    pub hint: Option<String>,
    /// Shown as `warning: …` lines before the error: what else the user must know (a 403
    /// that may have deployed anyway).
    pub warnings: Vec<String>,
}

impl CliError {
    pub fn new(exit: Exit, error: impl Into<Box<dyn StdError + Send + Sync>>) -> CliError {
        CliError {
            exit,
            error: error.into(),
            hint: None,
            warnings: Vec::new(),
        }
    }

    pub fn msg(exit: Exit, message: impl fmt::Display) -> CliError {
        CliError::new(exit, message.to_string())
    }

    pub fn hint(mut self, hint: impl Into<String>) -> CliError {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a warning to show before the error.
    pub fn warning(mut self, warning: impl Into<String>) -> CliError {
        self.warnings.push(warning.into());
        self
    }

    /// Whether the failure was a write to a pipe whose reader had gone away.
    pub fn is_broken_pipe(&self) -> bool {
        chain(self.error.as_ref())
            .find_map(|error| error.downcast_ref::<std::io::Error>())
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    }

    /// `error: …`, one `caused by: …` line per cause, then `help: …`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write_to(&mut out)
            .expect("formatting into a String cannot fail");
        out
    }

    fn write_to(&self, out: &mut impl fmt::Write) -> fmt::Result {
        writeln!(out, "error: {}", self.error)?;
        let mut previous = self.error.to_string();
        for cause in chain(self.error.as_ref()).skip(1) {
            let text = cause.to_string();
            // Some errors repeat their source's message in their own (an `io::Error` shows
            // the error it wraps); say each thing once.
            if !previous.contains(&text) {
                writeln!(out, "caused by: {text}")?;
            }
            previous = text;
        }
        if let Some(hint) = &self.hint {
            writeln!(out, "help: {hint}")?;
        }
        Ok(())
    }
}

use spiro_scanner::error_chain as chain;

impl fmt::Debug for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn renders_the_chain_and_the_hint() {
        let error =
            spiro_bundle::Error::read("build/app.tar", io::Error::from(io::ErrorKind::NotFound));
        let text = CliError::new(Exit::Bundle, error)
            .hint("check the path given to --artifact")
            .render();
        assert_eq!(
            text,
            "error: cannot read `build/app.tar`\ncaused by: entity not found\nhelp: check the path given to --artifact\n"
        );
    }
}
