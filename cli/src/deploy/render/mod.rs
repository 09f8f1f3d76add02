//! Showing the deploy as it happens. Each event is written the moment it arrives, and every
//! minion's result is shown even after one has failed.
//!
//! - [`outcome`]: what the events have told so far (plain data) and the exit status it means.
//! - [`human`]: readable blocks per minion, as Salt's highstate outputter prints them, in the
//!   `--state-output` mode chosen ([`StateOutput`]).
//! - [`json`]: one JSON object per event per line, and a closing summary object.
//! - [`junit`]: `--junit FILE`, the deploy as a JUnit XML report.
//! - [`ci`]: the CI server's own log markup (GitHub Actions, GitLab CI) around the human form.
//!
//! A new output mode is one more module that reads the same events and [`outcome::Outcome`].

mod ci;
mod human;
mod json;
mod junit;
mod outcome;

use std::io::{self, BufWriter, Write};
use std::time::Duration;

use spiro_client::Event;

use crate::args::Format;
use crate::error::{CliError, Exit};

pub use self::ci::Ci;
pub use self::human::States;
pub use self::junit::Junit;
use self::outcome::Outcome;

/// Follows the deploy: records each event's meaning and writes it in the chosen format.
pub struct Report<W: Write = BufWriter<anstream::AutoStream<io::Stdout>>> {
    format: Format,
    outcome: Outcome,
    out: W,
    /// Writes the CI server's markers, which colour stripping must not touch.
    write_marker: fn(&mut W, &[u8]) -> io::Result<()>,
    /// The output failed (a reader that closed the pipe, as `| head` does): the deploy goes on
    /// to its end and its exit status, unseen.
    closed: bool,
    states: States,
    ci: Ci,
    /// `--junit`'s report, until a write to it fails.
    junit: Option<Junit>,
    /// Why the JUnit report could not be written.
    junit_error: Option<(std::path::PathBuf, io::Error)>,
}

impl Report {
    /// A report on standard output, coloured only on a terminal (anstream decides).
    pub fn new(format: Format, highstate: bool) -> Report {
        let mut report = Report::to_writer(format, highstate, BufWriter::new(anstream::stdout()));
        // Markers go to standard output as they are, after what the colour stripping passed.
        report.write_marker = |out, marker| {
            out.flush()?;
            let mut stdout = io::stdout().lock();
            stdout.write_all(marker)?;
            stdout.flush()
        };
        report
    }
}

impl<W: Write> Report<W> {
    /// A report written to `out`.
    pub fn to_writer(format: Format, highstate: bool, out: W) -> Report<W> {
        Report {
            format,
            outcome: Outcome::new(highstate),
            out,
            write_marker: |out, marker| out.write_all(marker),
            closed: false,
            states: States::default(),
            ci: Ci::None,
            junit: None,
            junit_error: None,
        }
    }

    /// Shows states as `states` says (`--state-output`, `--state-verbose`).
    pub fn states(mut self, states: States) -> Report<W> {
        self.states = states;
        self
    }

    /// Adds the CI server's markup to the human form.
    pub fn ci(mut self, ci: Ci) -> Report<W> {
        self.ci = ci;
        self
    }

    /// Writes a JUnit report too.
    pub fn junit(mut self, junit: Option<Junit>) -> Report<W> {
        self.junit = junit;
        self
    }

    /// Records and shows `event`, whose `data` the server sent as `raw` (see
    /// `Events::last_data`): `--format json` passes that on as it came.
    pub fn event_with_data(&mut self, event: &Event, raw: Option<&str>) {
        self.outcome.record(event);
        if let Event::HighstateUpdate(update) = event {
            self.write_junit(|junit| junit.minion(update));
        }
        let finished = matches!(event, Event::HighstateFinish(_));
        let (states, ci) = (self.states, &mut self.ci);
        let write_marker = self.write_marker;
        match self.format {
            Format::Json => show(&mut self.out, &mut self.closed, |out| {
                json::write_event(out, event, raw)
            }),
            Format::Human => match event {
                Event::HighstateUpdate(update) => show(&mut self.out, &mut self.closed, |out| {
                    write_marker(out, ci.opening().as_bytes())?;
                    let (before, after) = ci.minion_markers(update);
                    write_marker(out, before.as_bytes())?;
                    human::write_minion(out, update, states)?;
                    write_marker(out, after.as_bytes())
                }),
                _ => show(&mut self.out, &mut self.closed, |out| {
                    write_marker(out, ci.opening().as_bytes())?;
                    human::write_event(out, event)?;
                    if finished {
                        human::write_totals(out, &self.outcome)?;
                        human::write_closing(out, &self.outcome)?;
                    }
                    Ok(())
                }),
            },
        }
    }

    /// The stream broke with `error`: say how far the deploy got, write the reports, and
    /// return the error to show.
    pub fn interrupted(self, error: CliError) -> CliError {
        self.interrupt(error).0
    }

    /// [`interrupted`](Report::interrupted), giving back the output too.
    fn interrupt(mut self, error: CliError) -> (CliError, W) {
        if self.format == Format::Human && self.outcome.highstate && self.outcome.targeted.is_some()
        {
            let outcome = &self.outcome;
            show(&mut self.out, &mut self.closed, |out| {
                human::write_totals(out, outcome)?;
                human::write_closing(out, outcome)
            });
        }
        let (exit, rendered) = (error.exit, error.render());
        let why = "the event stream ended before the minion reported";
        let error = match self.conclude(exit, why, &rendered) {
            Ok(()) => error,
            Err(junit) => error.warning(junit),
        };
        (error, self.out)
    }

    /// `--timeout` ran out after `timeout`: list the minions that did not report, write the
    /// reports, and return the error.
    pub fn timed_out(self, timeout: Duration) -> Result<Exit, CliError> {
        self.time_out(timeout).0
    }

    /// [`timed_out`](Report::timed_out), giving back the output too.
    fn time_out(mut self, timeout: Duration) -> (Result<Exit, CliError>, W) {
        self.outcome.timed_out = Some(timeout);
        if self.format == Format::Human {
            let outcome = &self.outcome;
            show(&mut self.out, &mut self.closed, |out| {
                human::write_totals(out, outcome)?;
                human::write_closing(out, outcome)
            });
        }
        let why = format!(
            "the minion had not reported when --timeout ran out after {}",
            humantime::format_duration(timeout)
        );
        self.finish_with(&why)
    }

    /// The exit status: see [`Outcome::exit`]. Writes the closing summaries and the JUnit
    /// report first.
    pub fn finish(self) -> Result<Exit, CliError> {
        self.finish_with("the minion did not report").0
    }

    /// [`finish`](Report::finish), naming the minions that did not report with `why`, giving
    /// back the output too.
    fn finish_with(mut self, why: &str) -> (Result<Exit, CliError>, W) {
        let exit = self.outcome.exit();
        let (status, rendered) = match &exit {
            Ok(exit) => (*exit, String::new()),
            Err(err) => (err.exit, err.render()),
        };
        let exit = match (self.conclude(status, why, &rendered), exit) {
            (Ok(()), exit) => exit,
            (Err(junit), Err(err)) => Err(err.warning(junit)),
            (Err(junit), Ok(_)) => Err(CliError::msg(Exit::Other, junit).hint(
                "the deploy itself succeeded; check that the --junit file's directory is writable",
            )),
        };
        (exit, self.out)
    }

    /// The closing pieces every ending writes: the JSON summary, the CI server's summary and
    /// the JUnit report. The error says what became of the JUnit report, if it failed.
    fn conclude(
        &mut self,
        exit: Exit,
        why_unreported: &str,
        system_out: &str,
    ) -> Result<(), String> {
        let outcome = &self.outcome;
        if self.format == Format::Json {
            show(&mut self.out, &mut self.closed, |out| {
                json::write_summary(out, outcome, exit)
            });
        }
        if self.format == Format::Human {
            let ci = &mut self.ci;
            let write_marker = self.write_marker;
            show(&mut self.out, &mut self.closed, |out| {
                let annotations = ci.unreported_annotations(outcome, why_unreported);
                write_marker(out, annotations.as_bytes())
            });
        }
        self.ci.write_step_summary(outcome, exit);
        if let Some(mut junit) = self.junit.take() {
            let path = junit.path().to_owned();
            let unreported = match outcome.highstate {
                true => outcome.silent(),
                false => Vec::new(),
            };
            let written = junit
                .unreported(&unreported, why_unreported)
                .and_then(|()| junit.finish(system_out));
            if let Err(err) = written {
                self.junit_error = Some((path, err));
            }
        }
        match &self.junit_error {
            None => Ok(()),
            Some((path, err)) => Err(format!(
                "could not write the JUnit report {}: {err}",
                path.display()
            )),
        }
    }

    /// Runs `write` on the JUnit report; a failure ends the report and is told at the end.
    fn write_junit(&mut self, write: impl FnOnce(&mut Junit) -> io::Result<()>) {
        if let Some(junit) = &mut self.junit
            && let Err(err) = write(junit)
        {
            let path = junit.path().to_owned();
            self.junit = None;
            self.junit_error = Some((path, err));
        }
    }
}

/// Writes with `render` and flushes, so each event is seen as soon as it came. A failed
/// write (stdout closed by its reader) must not abort the deploy half-way: the report
/// stops writing (`closed`), and the deploy's exit status still tells how it went.
fn show<W: Write>(out: &mut W, closed: &mut bool, render: impl FnOnce(&mut W) -> io::Result<()>) {
    if *closed {
        return;
    }
    let shown = render(out).and_then(|()| out.flush());
    *closed = shown.is_err();
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

#[cfg(test)]
mod tests;
