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

/// Whether `word` names a scanner, for `--include-source METHOD` given with a space: a
/// built-in's name, a file (a plugin library given by path), or a plugin whose library is on
/// the search path. Nothing is loaded: a broken plugin found here is reported when it is
/// opened, as for `--include-source=METHOD`.
pub fn names_a_scanner(word: &str) -> bool {
    if word.is_empty() || word.contains('\0') {
        return false;
    }
    if spiro_scanners::BUILTIN
        .iter()
        .any(|(name, _)| *name == word)
    {
        return true;
    }
    if spiro_plugin_host::is_path(word) {
        return Path::new(word).is_file();
    }
    let file = spiro_plugin_host::library_file_name(word);
    spiro_plugin_host::SearchPath::from_env()
        .dirs()
        .iter()
        .any(|dir| dir.join(&file).is_file())
}

/// `--list-scanners`: the built-ins, then every plugin found, loaded or refused with the reason.
pub fn list() -> Result<Exit, CliError> {
    let search = spiro_plugin_host::SearchPath::from_env();
    let lines = listing(spiro_scanners::BUILTIN, search.dirs(), &search.discover());
    let mut stdout = std::io::stdout().lock();
    for line in lines {
        // A closed standard output (`| head`) ends the listing quietly.
        if writeln!(stdout, "{}", crate::terminal::visible(&line)).is_err() {
            break;
        }
    }
    Ok(Exit::Success)
}

/// The lines `--list-scanners` prints: the built-in scanners (given as `(name, description)`),
/// then every plugin found with its description, ABI version and path, or the reason it was
/// refused, then where plugins were looked for. A plugin with a built-in's name, or behind an
/// earlier one of the same name, is marked as unreachable by name.
fn listing(
    builtins: &[(&str, &str)],
    dirs: &[PathBuf],
    candidates: &[spiro_plugin_host::Candidate],
) -> Vec<String> {
    let width = builtins
        .iter()
        .map(|(n, _)| n.len())
        .chain(candidates.iter().map(|c| c.name.len()))
        .max()
        .unwrap_or(0);
    let mut lines = Vec::new();
    for (name, description) in builtins {
        lines.push(format!("{name:width$}  built-in  {description}"));
    }
    for c in candidates {
        let path = c.path.display();
        let line = match &c.plugin {
            Ok(plugin) => {
                let info = plugin.info();
                let mut line = format!(
                    "{:width$}  plugin    {} (ABI {}, {path})",
                    c.name, info.description, info.abi_version
                );
                if builtins.iter().any(|(n, _)| *n == c.name) {
                    line.push_str(&format!(
                        "; not used by --include-source={}: the built-in scanner comes first",
                        c.name
                    ));
                } else if let Some(by) = &c.shadowed_by {
                    line.push_str(&format!("; shadowed by `{}`", by.display()));
                }
                line
            }
            Err(error) => format!("{:width$}  refused   {error}", c.name),
        };
        lines.push(line);
    }
    let searched = if dirs.is_empty() {
        "(none)".to_owned()
    } else {
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    lines.push(format!(
        "plugin directories searched: {searched} (set {} to add more)",
        spiro_plugin_host::PLUGIN_PATH_VAR
    ));
    lines
}
