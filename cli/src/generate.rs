//! `--generate`: the man page and shell completion scripts, made from the clap definition so
//! that they never disagree with `--help`.

use std::io::{self, Write};

use clap::{CommandFactory, ValueEnum};
use clap_complete::Shell;

use crate::args::Args;
use crate::error::{CliError, Exit};

/// What `--generate` prints (ripgrep's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Generate {
    /// The `spiro-deploy(1)` man page (roff)
    Man,
    /// Completions for bash
    CompleteBash,
    /// Completions for zsh
    CompleteZsh,
    /// Completions for fish
    CompleteFish,
    /// Completions for PowerShell
    CompletePowershell,
    /// Completions for elvish
    CompleteElvish,
}

impl Generate {
    /// The man page or completion script. Made in memory (a few dozen KiB at most) because
    /// clap_complete panics when a write fails, and a closed pipe must not end in a panic.
    pub fn render(self) -> Vec<u8> {
        let mut command = Args::command();
        let mut out = Vec::new();
        let shell = match self {
            Generate::Man => {
                clap_mangen::Man::new(command)
                    .render(&mut out)
                    .expect("writing to a Vec cannot fail");
                return out;
            }
            Generate::CompleteBash => Shell::Bash,
            Generate::CompleteZsh => Shell::Zsh,
            Generate::CompleteFish => Shell::Fish,
            Generate::CompletePowershell => Shell::PowerShell,
            Generate::CompleteElvish => Shell::Elvish,
        };
        let name = command.get_name().to_owned();
        clap_complete::generate(shell, &mut command, name, &mut out);
        out
    }
}

/// Prints what `--generate` asked for on standard output.
pub fn print(what: Generate) -> Result<(), CliError> {
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(&what.render())
        .and_then(|()| stdout.flush())
        .map_err(|e| CliError::new(Exit::Other, e))
}
