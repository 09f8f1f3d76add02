//! Finding plugins: by name for `--include-source`, and all of them for `--list-scanners`.

use std::collections::HashMap;
use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use spiro_scanner::Scanner;

use crate::{LoadError, Plugin};

/// The environment variable listing plugin directories, searched first, in order, separated
/// like `PATH` (`:` on Unix, `;` on Windows). Empty entries are ignored: the working directory
/// is never searched unless named.
pub const PLUGIN_PATH_VAR: &str = "SPIRO_PLUGIN_PATH";

/// What every plugin library's file name starts with after the platform's prefix.
const STEM_PREFIX: &str = "spiro_scanner_";

/// The file a plugin called `name` lives in on this platform: `libspiro_scanner_NAME.so` on
/// Linux, `libspiro_scanner_NAME.dylib` on macOS, `spiro_scanner_NAME.dll` on Windows.
///
/// ```
/// # #[cfg(target_os = "linux")]
/// assert_eq!(spiro_plugin_host::library_file_name("manifest"), "libspiro_scanner_manifest.so");
/// ```
pub fn library_file_name(name: &str) -> String {
    format!("{DLL_PREFIX}{STEM_PREFIX}{name}{DLL_SUFFIX}")
}

/// The scanner name of a plugin library's file name, if it is one.
fn name_of_file(file_name: &OsStr) -> Option<&str> {
    let name = file_name
        .to_str()?
        .strip_prefix(DLL_PREFIX)?
        .strip_prefix(STEM_PREFIX)?
        .strip_suffix(DLL_SUFFIX)?;
    (!name.is_empty()).then_some(name)
}

/// Whether an `--include-source` value is a path to load directly rather than a name to look
/// up: it contains a path separator (`./libx.so`, `/opt/x.so`).
pub fn is_path(value: &str) -> bool {
    value.chars().any(std::path::is_separator)
}

/// The per-user plugin directory, searched after [`PLUGIN_PATH_VAR`]:
/// `$XDG_DATA_HOME/spiro-deploy/plugins` if `XDG_DATA_HOME` is set to an absolute path, else
/// `$HOME/.local/share/spiro-deploy/plugins` (on Windows, `%APPDATA%\spiro-deploy\plugins`).
/// `None` when the home directory is unknown.
pub fn user_plugin_dir() -> Option<PathBuf> {
    user_plugin_dir_from(|var| std::env::var_os(var))
}

fn user_plugin_dir_from(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> Option<PathBuf> {
    let absolute = |v: std::ffi::OsString| {
        let p = PathBuf::from(v);
        p.is_absolute().then_some(p)
    };
    let base = if cfg!(windows) {
        var("APPDATA").and_then(absolute)?
    } else if let Some(data) = var("XDG_DATA_HOME").and_then(absolute) {
        data
    } else {
        var("HOME").and_then(absolute)?.join(".local").join("share")
    };
    Some(base.join("spiro-deploy").join("plugins"))
}

/// The directories searched for plugins, in order: each of [`PLUGIN_PATH_VAR`], then
/// [`user_plugin_dir`].
pub fn search_path() -> Vec<PathBuf> {
    SearchPath::from_env().dirs
}

/// Finds the plugin `name` on the [`search_path`]; see [`SearchPath::find`].
pub fn find(name: &str) -> Result<Option<Plugin>, LoadError> {
    SearchPath::from_env().find(name)
}

/// Every plugin library on the [`search_path`]; see [`SearchPath::discover`].
pub fn discover() -> Vec<Candidate> {
    SearchPath::from_env().discover()
}

/// For `--include-source=NAME` once the built-in scanners did not match: the plugin `NAME` (or
/// the file, if `NAME` is a path) from the [`search_path`], as a scanner of `root` with its
/// default options. With options, [`SearchPath::resolve`] the plugin and call
/// [`Plugin::scanner_with_options`].
pub fn open_scanner(name: &str, root: &Path) -> Result<Box<dyn Scanner>, LoadError> {
    let plugin = SearchPath::from_env().resolve(name)?;
    Ok(Box::new(plugin.scanner(root)))
}

/// An ordered list of plugin directories.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchPath {
    dirs: Vec<PathBuf>,
}

/// A plugin library found by [`SearchPath::discover`], loaded or refused.
#[derive(Debug)]
pub struct Candidate {
    /// The scanner name its file name gives.
    pub name: String,
    /// Where it is.
    pub path: PathBuf,
    /// The plugin, or why it was refused.
    pub plugin: Result<Plugin, LoadError>,
    /// An earlier library of the same name on the search path, which `--include-source` would
    /// use instead.
    pub shadowed_by: Option<PathBuf>,
}

impl SearchPath {
    /// [`PLUGIN_PATH_VAR`]'s directories, then [`user_plugin_dir`].
    pub fn from_env() -> SearchPath {
        let mut dirs: Vec<PathBuf> = std::env::var_os(PLUGIN_PATH_VAR)
            .map(|v| {
                std::env::split_paths(&v)
                    .filter(|d| !d.as_os_str().is_empty())
                    .collect()
            })
            .unwrap_or_default();
        dirs.extend(user_plugin_dir());
        SearchPath { dirs }
    }

    /// Exactly these directories, in this order (empty paths are dropped).
    pub fn from_dirs(dirs: impl IntoIterator<Item = PathBuf>) -> SearchPath {
        SearchPath {
            dirs: dirs
                .into_iter()
                .filter(|d| !d.as_os_str().is_empty())
                .collect(),
        }
    }

    /// The directories, in search order.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The plugin `name`: if `name` [is a path](is_path), that file; otherwise the first
    /// [`library_file_name`]`(name)` in the directories, in order. `Ok(None)` if there is none;
    /// an error if the file found cannot be loaded or calls itself by another name (a broken
    /// plugin is reported, not passed over for one further down the path).
    pub fn find(&self, name: &str) -> Result<Option<Plugin>, LoadError> {
        if is_path(name) {
            return Plugin::load(name).map(Some);
        }
        if name.is_empty() || name.contains('\0') {
            return Err(LoadError::InvalidName {
                name: name.to_owned(),
            });
        }
        let file = library_file_name(name);
        for dir in &self.dirs {
            let path = dir.join(&file);
            if path.exists() {
                return load_named(&path, name).map(Some);
            }
        }
        Ok(None)
    }

    /// Like [`find`](SearchPath::find), but a missing plugin is an error that lists where it
    /// was looked for.
    pub fn resolve(&self, name: &str) -> Result<Plugin, LoadError> {
        self.find(name)?.ok_or_else(|| LoadError::NotFound {
            name: name.to_owned(),
            file: library_file_name(name),
            searched: self.dirs.clone(),
        })
    }

    /// Every plugin library (`libspiro_scanner_*.so`) in the directories, in search order and
    /// by name within a directory, each loaded or refused with the reason. Missing or
    /// unreadable directories are passed over.
    pub fn discover(&self) -> Vec<Candidate> {
        let mut first: HashMap<String, PathBuf> = HashMap::new();
        let mut found = Vec::new();
        for dir in &self.dirs {
            let Ok(read) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut files: Vec<(String, PathBuf)> = read
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let name = name_of_file(&e.file_name())?.to_owned();
                    Some((name, e.path()))
                })
                .collect();
            files.sort();
            for (name, path) in files {
                let shadowed_by = first.get(&name).cloned();
                first.entry(name.clone()).or_insert_with(|| path.clone());
                let plugin = load_named(&path, &name);
                found.push(Candidate {
                    name,
                    path,
                    plugin,
                    shadowed_by,
                });
            }
        }
        found
    }
}

/// Loads `path`, found as the library of `name`, and checks that the plugin agrees.
fn load_named(path: &Path, name: &str) -> Result<Plugin, LoadError> {
    let plugin = Plugin::load(path)?;
    if plugin.info().name != name {
        return Err(LoadError::NameMismatch {
            path: path.to_path_buf(),
            expected: name.to_owned(),
            found: plugin.info().name.clone(),
        });
    }
    Ok(plugin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    #[test]
    fn user_dir_prefers_an_absolute_xdg_data_home() {
        if cfg!(windows) {
            return;
        }
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |var: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == var)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        assert_eq!(
            user_plugin_dir_from(env(&[("XDG_DATA_HOME", "/data"), ("HOME", "/home/u")])),
            Some(PathBuf::from("/data/spiro-deploy/plugins"))
        );
        assert_eq!(
            user_plugin_dir_from(env(&[("XDG_DATA_HOME", "rel"), ("HOME", "/home/u")])),
            Some(PathBuf::from("/home/u/.local/share/spiro-deploy/plugins"))
        );
        assert_eq!(user_plugin_dir_from(env(&[])), None);
    }

    #[test]
    fn file_names_round_trip() {
        let file = library_file_name("manifest");
        assert_eq!(name_of_file(OsStr::new(&file)), Some("manifest"));
        assert_eq!(name_of_file(OsStr::new("libfoo.so")), None);
        assert_eq!(name_of_file(OsStr::new(&library_file_name(""))), None);
    }

    #[test]
    fn paths_are_told_from_names() {
        assert!(is_path("./libx.so"));
        assert!(is_path("/opt/libx.so"));
        assert!(!is_path("manifest"));
    }

    #[test]
    fn a_missing_plugin_names_where_it_was_looked_for() {
        let search = SearchPath::from_dirs([PathBuf::from("/nonexistent/a"), PathBuf::new()]);
        assert_eq!(search.dirs(), [PathBuf::from("/nonexistent/a")]);
        let err = search.resolve("nothere").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("no scanner `nothere`"), "{text}");
        assert!(text.contains("/nonexistent/a"), "{text}");
        assert!(search.discover().is_empty());
    }

    #[test]
    fn a_directly_named_file_that_is_not_a_library_is_refused_by_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("libspiro_scanner_text.so");
        std::fs::write(&path, "not ELF").unwrap();
        let err = SearchPath::default()
            .find(path.to_str().unwrap())
            .unwrap_err();
        assert!(matches!(err, LoadError::NotALibrary { .. }), "{err}");
        assert_eq!(err.path(), Some(path.as_path()));
        assert!(err.to_string().contains(&path.display().to_string()));
    }
}
