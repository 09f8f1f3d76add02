//! `--include-source=METHOD`: from a name to a scanner, built-ins first, then plugins.

use std::io::Write;
use std::path::{Path, PathBuf};

use spiro_scanner::{OptionError, OptionInfo, Scanner, ScannerSpec};

use crate::error::{CliError, Exit};

/// Resolves one `--include-source` value. The empty name (a bare `--include-source`) means
/// `git` inside a git repository and `fs` elsewhere. Options a scanner does not take, or values
/// it cannot use, are usage errors naming the scanner, the option and what it does take.
pub fn resolve(
    spec: &ScannerSpec,
    root: &Path,
    exclude: &[PathBuf],
) -> Result<Box<dyn Scanner>, CliError> {
    let options = spec.options();
    let method = match spec.name() {
        "" if spiro_scanners::is_in_git_repository(root) => "git",
        "" => "fs",
        other => other,
    };
    if matches!(method, "fs" | "filesystem") {
        // The bundle being written may sit inside the tree: never bundle it into itself.
        let fs = exclude
            .iter()
            .fold(spiro_scanners::fs_source(root), |fs, path| fs.exclude(path));
        return Ok(Box::new(fs.options(options).map_err(usage)?));
    }
    if let Some(scanner) = spiro_scanners::builtin(method, root, options) {
        return scanner.map_err(usage);
    }
    let plugin = spiro_plugin_host::SearchPath::from_env()
        .resolve(method)
        .map_err(|error| {
            let hint = match error {
                spiro_plugin_host::LoadError::NotFound { .. } => {
                    let known: Vec<&str> = spiro_scanners::BUILTIN.iter().map(|b| b.name).collect();
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
        })?;
    // The plugin checks its options here, before anything is scanned: an undeclared one (any,
    // for an ABI version 1 plugin) or one it refuses is the user's mistake.
    let scanner = plugin.scanner_with_options(root, options).map_err(usage)?;
    Ok(Box::new(scanner))
}

/// A mistake in a scanner's options is the user's: a usage error, with where to look.
fn usage(error: OptionError) -> CliError {
    CliError::new(Exit::Usage, error)
        .hint("--list-scanners shows every scanner's options, with their defaults")
}

/// Whether `word` names a scanner, for `--include-source METHOD` given with a space: a
/// built-in's name, a file (a plugin library given by path), or a plugin whose library is on
/// the search path. Nothing is loaded: a broken plugin found here is reported when it is
/// opened, as for `--include-source=METHOD`.
pub fn names_a_scanner(word: &str) -> bool {
    if word.is_empty() || word.contains('\0') {
        return false;
    }
    if spiro_scanners::BUILTIN.iter().any(|b| b.name == word) {
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

/// The lines `--list-scanners` prints: the built-in scanners with their options, then every
/// plugin found with its description, ABI version and path, or the reason it was
/// refused, then where plugins were looked for. A plugin with a built-in's name, or behind an
/// earlier one of the same name, is marked as unreachable by name.
fn listing(
    builtins: &[spiro_scanners::Builtin],
    dirs: &[PathBuf],
    candidates: &[spiro_plugin_host::Candidate],
) -> Vec<String> {
    let width = builtins
        .iter()
        .map(|b| b.name.len())
        .chain(candidates.iter().map(|c| c.name.len()))
        .max()
        .unwrap_or(0);
    let mut lines = Vec::new();
    for (i, builtin) in builtins.iter().enumerate() {
        let (name, description) = (builtin.name, builtin.description);
        lines.push(format!("{name:width$}  built-in  {description}"));
        // `filesystem` is `fs`: its options are listed once.
        let listed = builtins[..i]
            .iter()
            .any(|earlier| std::ptr::eq(earlier.options, builtin.options));
        if !listed {
            lines.extend(option_lines(builtin.options, width));
        }
    }
    for c in candidates {
        let path = c.path.display();
        match &c.plugin {
            Ok(plugin) => {
                let info = plugin.info();
                let mut line = format!(
                    "{:width$}  plugin    {} (ABI {}, {path})",
                    c.name, info.description, info.abi_version
                );
                if builtins.iter().any(|b| b.name == c.name) {
                    line.push_str(&format!(
                        "; not used by --include-source={}: the built-in scanner comes first",
                        c.name
                    ));
                } else if let Some(by) = &c.shadowed_by {
                    line.push_str(&format!("; shadowed by `{}`", by.display()));
                }
                lines.push(line);
                lines.extend(option_lines(&info.options, width));
            }
            Err(error) => lines.push(format!("{:width$}  refused   {error}", c.name)),
        }
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

/// One line per option, under its scanner's line: `,KEY=DEFAULT  description`, the form it
/// takes on the command line.
fn option_lines(options: &[OptionInfo], width: usize) -> impl Iterator<Item = String> + '_ {
    let key_width = options
        .iter()
        .map(|o| o.name.len() + o.default.len() + 2)
        .max()
        .unwrap_or(0);
    options.iter().map(move |option| {
        let key = format!(",{}={}", option.name, option.default);
        format!(
            "{:width$}  option    {key:key_width$}  {}",
            "", option.description
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_shows_each_builtin_scanners_options_once() {
        let lines = listing(spiro_scanners::BUILTIN, &[], &[]);
        let text = lines.join("\n");
        assert!(
            text.contains("option    ,submodules=false  also bundle submodules"),
            "{text}"
        );
        assert!(
            text.contains("option    ,gitignore=false  also leave out"),
            "{text}"
        );
        assert_eq!(text.matches(",gitignore=").count(), 1, "{text}");
        // Each option line follows its scanner's line.
        let fs = lines.iter().position(|l| l.starts_with("fs ")).unwrap();
        assert!(lines[fs + 1].contains(",gitignore=false"), "{text}");
    }
}
