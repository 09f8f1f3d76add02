//! `--include-source=METHOD`: from a name to a scanner, built-ins first, then plugins.

use std::io::Write;
use std::path::{Path, PathBuf};

use spiro_scanner::Scanner;

use crate::error::{CliError, Exit};

/// Resolves one `--include-source` value. The empty value (a bare `--include-source`) means
/// `git` inside a git repository and `fs` elsewhere.
pub fn resolve(
    method: &str,
    root: &Path,
    exclude: &[PathBuf],
) -> Result<Box<dyn Scanner>, CliError> {
    let method = match method {
        "" if spiro_scanners::is_in_git_repository(root) => "git",
        "" => "fs",
        other => other,
    };
    if matches!(method, "fs" | "filesystem") {
        // The bundle being written may sit inside the tree: never bundle it into itself.
        let fs = exclude
            .iter()
            .fold(spiro_scanners::fs_source(root), |fs, path| fs.exclude(path));
        return Ok(Box::new(fs));
    }
    if let Some(scanner) = spiro_scanners::builtin(method, root) {
        return Ok(scanner);
    }
    spiro_plugin_host::open_scanner(method, root).map_err(|error| {
        let hint = match error {
            spiro_plugin_host::LoadError::NotFound { .. } => {
                let known: Vec<&str> = spiro_scanners::BUILTIN.iter().map(|b| b.0).collect();
                format!(
                    "the built-in scanners are {}; --list-scanners shows the plugins found",
                    known.join(", ")
                )
            }
            _ => "--list-scanners shows every plugin found and why any was refused; \
                  plugins/README.md says how plugins are built"
                .to_owned(),
        };
        CliError::new(Exit::Bundle, error).hint(hint)
    })
}

/// `--list-scanners`: the built-ins, then every plugin found, loaded or refused with the reason.
pub fn list() -> Result<Exit, CliError> {
    let mut stdout = std::io::stdout().lock();
    for line in spiro_plugin_host::list_scanners(spiro_scanners::BUILTIN) {
        // A closed standard output (`| head`) ends the listing quietly.
        if writeln!(stdout, "{line}").is_err() {
            break;
        }
    }
    Ok(Exit::Success)
}
