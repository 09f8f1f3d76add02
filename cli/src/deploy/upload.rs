//! The deploy itself: the bundle measured, then built straight into the upload under a
//! progress bar, then the server's events shown as they come.

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use spiro_bundle::Builder;
use spiro_client::{Client, Deploy, UploadError};

use super::client_error::{client_error, plain_http_limit};
use super::render::Report;
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
    if client.plain_http_limit_exceeded(bundle_len) {
        output::warning(&format!(
            "the bundle is {}: SpiroFS refuses bodies over {} over plain HTTP (use https://)",
            output::human_bytes(bundle_len),
            plain_http_limit(),
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
        // A tree that changed since it was measured must not send more than announced.
        let mut builder = Builder::new(counting);
        builder.announced_len(bundle_len);
        plan.write(builder).map(|(_, stats)| stats)
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

    #[test]
    fn elapsed_is_readable() {
        assert_eq!(human_elapsed(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(human_elapsed(Duration::from_secs(125)), "2:05 min");
    }
}
