//! The deploy itself: the bundle measured, then built straight into the upload under a
//! progress bar, then the server's events shown as they come.

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use spiro_bundle::{Builder, TakeBuffers};
use spiro_client::{Client, Deploy, Upload, UploadError};

use super::client_error::{client_error, plain_http_limit};
use super::deadline::{Following, Next};
use super::interrupt::{OnInterrupt, Stage};
use super::render::{Ci, Junit, Report, States};
use crate::args::Args;
use crate::bundle::Plan;
use crate::error::{CliError, Exit};
use crate::output;

/// Streams the bundle that `plan` describes to the server `client` (from
/// [`connect`](super::connect)) and shows the deploy.
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
    let compression = args.compression();
    if client.plain_http_limit_exceeded(bundle_len) {
        let message = match compression {
            Some(_) => format!(
                "the bundle is {} before compression: SpiroFS refuses bodies over {} over plain \
                 HTTP, and the compressed size is known only once it is sent (use https://)",
                output::human_bytes(bundle_len),
                plain_http_limit(),
            ),
            None => format!(
                "the bundle is {}: SpiroFS refuses bodies over {} over plain HTTP (use https://)",
                output::human_bytes(bundle_len),
                plain_http_limit(),
            ),
        };
        output::warning(&message);
    }
    let deploy = Deploy {
        project: project.clone(),
        deployment: deployment.clone(),
        highstate: args.highstate(),
        bundle_len: Some(bundle_len),
        compression,
    };

    // An unwritable --junit place fails here, before anything is deployed.
    let junit = match &args.junit {
        Some(path) => Some(
            Junit::create(path, &format!("spiro-deploy {project}/{deployment}")).map_err(
                |err| {
                    // The temporary file's name would only confuse: say what the system said.
                    let reason = err
                        .get_ref()
                        .and_then(|inner| inner.source())
                        .map_or_else(|| err.to_string(), ToString::to_string);
                    CliError::msg(
                        Exit::Usage,
                        format!("cannot write the JUnit report {}: {reason}", path.display()),
                    )
                    .hint("give --junit a file in a writable directory")
                },
            )?,
        ),
        None => None,
    };

    let bar = progress_bar(bundle_len);
    if bar.is_hidden() {
        output::status(&format!(
            "uploading the bundle to {} as {project}/{deployment}",
            client.url()
        ));
    }
    let on_interrupt = OnInterrupt::arm(&bar);
    let started = Instant::now();
    let result = client.upload(&deploy, |upload| {
        let counting = Counting {
            inner: upload,
            bar: &bar,
        };
        // A tree that changed since it was measured must not send more than announced.
        let mut builder = Builder::handing_buffers(counting);
        builder.announced_len(bundle_len);
        let written = plan.write(builder).map(|(_, stats)| stats);
        if written.is_ok() {
            on_interrupt.reached(Stage::Sent);
        }
        written
    });
    bar.finish_and_clear();
    let (stats, events) = match result {
        Ok((stats, events)) => (stats, events),
        Err(UploadError::Bundle(error)) => return Err(error),
        Err(UploadError::Deploy(error)) => return Err(client_error(error, args)),
    };
    on_interrupt.reached(Stage::Following);
    // The bundle's length, as the progress bar showed it; compressed, what went on the wire too.
    let compressed = match compression {
        Some(gzip) => format!(
            ", gzipped to {} at level {}",
            output::human_bytes(events.bundle_bytes_sent()),
            gzip.level()
        ),
        None => String::new(),
    };
    output::status(&format!(
        "uploaded {} ({}{compressed}) in {}; the server accepted the deploy",
        output::human_bytes(bundle_len),
        output::entry_counts(&stats),
        human_elapsed(started.elapsed()),
    ));

    let mut report = Report::new(args.format, deploy.highstate)
        .states(States {
            output: args.state_output,
            verbose: args.state_verbose,
        })
        .ci(Ci::detect())
        .junit(junit);
    let mut events = Following::new(events, args.timeout);
    loop {
        match events.next() {
            Next::Item((Ok(event), raw)) => report.event_with_data(&event, raw.as_deref()),
            Next::Item((Err(error), _)) => {
                return Err(report.interrupted(client_error(error, args)));
            }
            Next::End => return report.finish(),
            Next::TimedOut => {
                return report.timed_out(args.timeout.unwrap_or_default());
            }
        }
    }
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

/// The builder's buffers go to the upload whole, sparing a copy of the bundle.
impl TakeBuffers for Counting<'_, &mut Upload> {
    fn take_buffer(&mut self, full: Vec<u8>) -> io::Result<Vec<u8>> {
        let n = full.len() as u64;
        let next = self.inner.take_buffer(full)?;
        self.bar.inc(n);
        Ok(next)
    }
}

/// The progress line: the bar takes what the terminal's width leaves (an 80-column line fits
/// with room to spare), and the bytes are the bundle's length as sent, in the figures of the
/// summary printed after it.
const PROGRESS_TEMPLATE: &str = "uploading [{wide_bar}] {sent} {binary_bytes_per_sec}, {eta} left";

/// A bar with the bytes sent of `total`, the rate and the time left, on a terminal only (in a
/// CI log it would be noise: plain status lines are printed instead).
fn progress_bar(total: u64) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total).with_style(progress_style());
    bar.set_draw_target(ProgressDrawTarget::stderr());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn progress_style() -> ProgressStyle {
    ProgressStyle::with_template(PROGRESS_TEMPLATE)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key(
            "sent",
            |state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
                let total = state.len().unwrap_or(0);
                // indicatif's key callback returns nothing, so the result has nowhere to go;
                // the writer is indicatif's String buffer, which cannot fail.
                let _ = write!(
                    out,
                    "{}/{}",
                    output::human_bytes(state.pos()),
                    output::human_bytes(total)
                );
            },
        )
        .progress_chars("=> ")
}

/// `1.5 s`, or `2:05 min` from a minute on.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A terminal of a given width that keeps what is drawn on it.
    #[derive(Debug)]
    struct Screen {
        width: u16,
        lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    }

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            self.width
        }
        fn move_cursor_up(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> io::Result<()> {
            self.write_str(s)
        }
        fn write_str(&self, s: &str) -> io::Result<()> {
            if !s.is_empty() {
                self.lines.lock().unwrap().push(s.to_owned());
            }
            Ok(())
        }
        fn clear_line(&self) -> io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_progress_line_fits_the_terminal_and_shows_the_bundle_length_as_sent() {
        for width in [80, 120] {
            let lines = std::sync::Arc::default();
            let screen = Screen {
                width,
                lines: std::sync::Arc::clone(&lines),
            };
            let total = 58_368; // 57.0 KiB
            let bar = ProgressBar::with_draw_target(
                Some(total),
                ProgressDrawTarget::term_like(Box::new(screen)),
            )
            .with_style(progress_style());
            bar.set_position(total / 2);
            bar.tick();
            let lines = lines.lock().unwrap();
            let line = lines.last().expect("the bar was drawn");
            assert!(
                line.chars().count() <= usize::from(width),
                "{} columns on a {width}-column terminal: {line:?}",
                line.chars().count()
            );
            assert!(line.starts_with("uploading ["), "{line:?}");
            assert!(line.contains(" 28.5 KiB/57.0 KiB "), "{line:?}");
            assert_eq!(output::human_bytes(total), "57.0 KiB");
        }
    }

    #[test]
    fn elapsed_is_readable() {
        assert_eq!(human_elapsed(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(human_elapsed(Duration::from_secs(125)), "2:05 min");
    }
}
