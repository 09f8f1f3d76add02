//! Showing the deploy as it happens. Each event is written the moment it arrives, and every
//! minion's result is shown even after one has failed.
//!
//! - [`outcome`]: what the events have told so far (plain data) and the exit status it means.
//! - [`human`]: readable blocks per minion, in the spirit of Salt's highstate outputter.
//! - [`json`]: one JSON object per event per line.
//!
//! A new output mode is one more module that reads the same events and [`outcome::Outcome`].

mod human;
mod json;
mod outcome;

use std::io::{self, BufWriter, Write};

use spiro_client::Event;

use crate::args::Format;
use crate::error::{CliError, Exit};

use self::outcome::Outcome;

/// Follows the deploy: records each event's meaning and writes it in the chosen format.
pub struct Report<W: Write = BufWriter<anstream::AutoStream<io::Stdout>>> {
    format: Format,
    outcome: Outcome,
    out: W,
    /// The output failed (a reader that closed the pipe, as `| head` does): the deploy goes on
    /// to its end and its exit status, unseen.
    closed: bool,
}

impl Report {
    /// A report on standard output, coloured only on a terminal (anstream decides).
    pub fn new(format: Format, highstate: bool) -> Report {
        Report::to_writer(format, highstate, BufWriter::new(anstream::stdout()))
    }
}

impl<W: Write> Report<W> {
    /// A report written to `out`.
    pub fn to_writer(format: Format, highstate: bool, out: W) -> Report<W> {
        Report {
            format,
            outcome: Outcome::new(highstate),
            out,
            closed: false,
        }
    }

    /// Records and shows `event`, whose `data` the server sent as `raw` (see
    /// `Events::last_data`): `--format json` passes that on as it came.
    pub fn event_with_data(&mut self, event: &Event, raw: Option<&str>) {
        self.outcome.record(event);
        let finished = matches!(event, Event::HighstateFinish(_));
        self.show(|out, format, outcome| match format {
            Format::Json => json::write_event(out, event, raw),
            Format::Human => {
                human::write_event(out, event)?;
                match finished {
                    true => human::write_closing(out, outcome),
                    false => Ok(()),
                }
            }
        });
    }

    /// The stream broke: say how far the deploy got before the error is shown.
    pub fn interrupted(&mut self) {
        let outcome = &self.outcome;
        if self.format == Format::Human && outcome.highstate && outcome.targeted.is_some() {
            self.show(|out, _, outcome| human::write_closing(out, outcome));
        }
    }

    /// The exit status: see [`Outcome::exit`].
    pub fn finish(self) -> Result<Exit, CliError> {
        self.outcome.exit()
    }

    /// Writes with `render` and flushes, so each event is seen as soon as it came. A failed
    /// write (stdout closed by its reader) must not abort the deploy half-way: the report
    /// stops writing, and the deploy's exit status still tells how it went.
    fn show(&mut self, render: impl FnOnce(&mut W, Format, &Outcome) -> io::Result<()>) {
        if self.closed {
            return;
        }
        let shown =
            render(&mut self.out, self.format, &self.outcome).and_then(|()| self.out.flush());
        self.closed = shown.is_err();
    }
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

#[cfg(test)]
mod tests;
