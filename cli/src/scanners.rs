//! `--include-source=METHOD`: from a name to a scanner, built-ins first, then plugins.

use std::path::{Path, PathBuf};

use spiro_bundle::Scanner;

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
        let fs = exclude.iter().fold(
            spiro_scanners::FsScanner::new(root).exclude("_salt"),
            |fs, path| fs.exclude(path),
        );
        return Ok(Box::new(fs));
    }
    if let Some(scanner) = spiro_scanners::builtin(method, root) {
        return Ok(scanner);
    }
    let known: Vec<&str> = spiro_scanners::BUILTIN.iter().map(|b| b.0).collect();
    Err(
        CliError::msg(Exit::Bundle, format!("unknown scanner `{method}`")).hint(format!(
            "the built-in scanners are {}; see --list-scanners for plugins",
            known.join(", ")
        )),
    )
}

/// `--list-scanners`: the built-ins, then every plugin found (plugins: in progress).
pub fn list() -> Result<Exit, CliError> {
    for (name, description) in spiro_scanners::BUILTIN {
        println!("{name:<12} built-in  {description}");
    }
    Ok(Exit::Success)
}
