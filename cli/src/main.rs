//! `spiro-deploy`: build a SpiroFS bundle, upload it, follow the deploy.
//!
//! This is the only crate that prints: the libraries return data and errors, and the CLI
//! decides how a person or a CI log sees them.

// The argument docs are clap's help text, which names `<PROJECT>` and `[default]` as a
// terminal shows them; rustdoc would read them as HTML and links.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]
// The only unsafe code is the signal handling of `--output` (output_file.rs) and the heap trim
// (heap.rs): each block says why it is sound.
#![deny(clippy::undocumented_unsafe_blocks)]

mod args;
mod bundle;
mod credentials;
mod deploy;
mod error;
mod generate;
mod heap;
mod output;
mod output_file;
mod scanners;
mod terminal;

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use spiro_bundle::Builder;

use crate::args::Args;
use crate::bundle::Plan;
use crate::error::{CliError, Exit};
use crate::terminal::VisibleWriter;

fn main() -> ExitCode {
    let mut args = Args::parse_from_env();
    match args.read_token_file().and_then(|()| run(&args)) {
        Ok(exit) => exit.into(),
        Err(err) => {
            output::error(&err);
            err.exit.into()
        }
    }
}

fn run(args: &Args) -> Result<Exit, CliError> {
    if let Some(what) = args.generate {
        return quiet_on_closed_stdout(generate::print(what));
    }
    if args.list_scanners {
        return scanners::list();
    }
    if args.check {
        return deploy::check(args);
    }
    let root = std::env::current_dir().map_err(|e| {
        CliError::new(Exit::Bundle, e).hint("run spiro-deploy from the project's directory")
    })?;
    if args.list {
        let plan = plan(args, &root, &[])?;
        let listed = plan
            // Names come from the project and its scanners: shown, never obeyed by a terminal.
            .write(Builder::listing(VisibleWriter::new(io::stdout().lock())))
            .and_then(|(stdout, _)| {
                stdout
                    .finish()
                    .map(drop)
                    .map_err(|e| CliError::new(Exit::Bundle, e))
            });
        return quiet_on_closed_stdout(listed);
    }
    if let Some(output) = &args.output {
        write_bundle(args, &root, output)?;
        return Ok(Exit::Success);
    }
    bundle::require_saltdir(args, &root)?;
    let client = deploy::connect(args)?;
    deploy::run(args, &client, plan(args, &root, &[])?)
}

/// Standard output without Rust's line buffering: the builder buffers already, and a
/// `LineWriter` would scan the binary bundle for newlines and split its writes at them.
#[cfg(unix)]
fn raw_stdout() -> Result<std::fs::File, CliError> {
    use std::os::fd::AsFd;
    let fd = io::stdout().as_fd().try_clone_to_owned();
    fd.map(std::fs::File::from)
        .map_err(|e| CliError::new(Exit::Bundle, e))
}

#[cfg(not(unix))]
fn raw_stdout() -> Result<io::StdoutLock<'static>, CliError> {
    Ok(io::stdout().lock())
}

/// Standard output closed by its reader (`spiro-deploy --list | head`) ends the job quietly, as
/// ripgrep does: the reader has all it wanted, and an error about it would only be noise.
fn quiet_on_closed_stdout(result: Result<(), CliError>) -> Result<Exit, CliError> {
    match result {
        Err(err) if err.is_broken_pipe() => Ok(Exit::Success),
        other => other.map(|()| Exit::Success),
    }
}

fn plan(args: &Args, root: &Path, exclude: &[PathBuf]) -> Result<Plan, CliError> {
    let plan = Plan::new(args, root, exclude)?;
    for warning in &plan.warnings {
        output::warning(warning);
    }
    Ok(plan)
}

/// `--output FILE`: see [`output_file`] for how FILE is written (in place for a device or a
/// FIFO, else replaced only once the bundle is complete).
fn write_bundle(args: &Args, root: &Path, output: &Path) -> Result<(), CliError> {
    if output_file::is_stdout(output) {
        // As gzip does: a binary tar on a terminal is garbage to read and may upset it.
        if io::stdout().is_terminal() {
            return Err(CliError::msg(
                Exit::Usage,
                "not writing the bundle to a terminal: it is binary tar data",
            )
            .hint(
                "redirect standard output (`--output - > bundle.tar`, `--output - | tar tv`) \
                 or give --output a file name",
            ));
        }
        let plan = plan(args, root, &[])?;
        let written = write_into(&plan, raw_stdout()?, args.compression())
            .and_then(|(mut stdout, _)| stdout.flush().map_err(|e| CliError::new(Exit::Bundle, e)));
        // Unlike a listing, a bundle cut short is a failure, whoever closed the pipe.
        return written.map_err(|err| match err.is_broken_pipe() {
            true => CliError::msg(
                Exit::Bundle,
                "standard output was closed before the bundle was complete",
            )
            .hint("the program reading the bundle stopped early: see why it failed"),
            false => err,
        });
    }
    let file = output_file::OutputFile::create(&root.join(output))?;
    let plan = plan(args, root, &file.excluded())?;
    let (file, stats) = write_into(&plan, file, args.compression())
        .map_err(|err| naming_the_output(err, output))?;
    let shown = file.path().to_owned();
    file.finish()?;
    output::status(&format!(
        "wrote `{}`: {}",
        shown.display(),
        output::bundle_summary(&stats)
    ));
    Ok(())
}

/// Writes the bundle into `out`, gzipped with `--compress`, and returns `out` with what was
/// written.
fn write_into<W: Write>(
    plan: &Plan,
    out: W,
    gzip: Option<spiro_client::Gzip>,
) -> Result<(W, spiro_bundle::Stats), CliError> {
    let Some(gzip) = gzip else {
        return plan.write(Builder::new(out));
    };
    let write_error = |e| CliError::new(Exit::Bundle, spiro_bundle::Error::Write(e));
    // Dropped unfinished when the build fails: no trailer then, see `GzipWriter`.
    let writer = gzip.writer(out).map_err(write_error)?;
    let (writer, stats) = plan.write(Builder::new(writer))?;
    Ok((writer.finish().map_err(write_error)?, stats))
}

/// A failure to write the bundle (a full disk, say) named after the `--output` file, which
/// the builder does not know.
fn naming_the_output(err: CliError, output: &Path) -> CliError {
    let is_write = err
        .error
        .downcast_ref::<spiro_bundle::Error>()
        .is_some_and(|e| matches!(e, spiro_bundle::Error::Write(_)));
    if !is_write {
        return err;
    }
    CliError::new(
        err.exit,
        OutputWriteError {
            path: output.to_owned(),
            source: err.error,
        },
    )
    .hint("make room on its file system, or give --output another place")
}

/// `cannot write the bundle to `PATH``, caused by what the builder reported.
#[derive(Debug)]
struct OutputWriteError {
    path: std::path::PathBuf,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl std::fmt::Display for OutputWriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot write the bundle to `{}`", self.path.display())
    }
}

impl std::error::Error for OutputWriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.source.as_ref())
    }
}
