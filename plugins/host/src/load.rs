//! Opening a plugin library and checking its descriptor.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use libloading::Library;
use spiro_plugin_abi::{
    ConfigFreeFn, ConfigureFn, ENTRY_SYMBOL, EntryFn, EntryReleaseFn, OpenFn, ReadFn, ReaderFreeFn,
    ScanFreeFn, ScanNextFn, ScanStartConfiguredFn, ScanStartFn, SpiroOptionInfo,
    SpiroScannerPlugin, SpiroScannerPluginV1, StringFreeFn, descriptor_size,
};
use spiro_scanner::{OptionError, OptionInfo, ScannerOptions};

use crate::scan::{Config, PluginScanner, Setup};

/// The oldest plugin ABI version this host speaks.
pub const MIN_ABI_VERSION: u32 = 1;
/// The newest plugin ABI version this host speaks.
pub const MAX_ABI_VERSION: u32 = spiro_plugin_abi::ABI_VERSION;

/// The longest name or description accepted: a descriptor claiming more is garbage, and reading
/// it could fault.
const MAX_TEXT: usize = 4096;

/// The most options a plugin may declare: a table claiming more is garbage.
const MAX_OPTIONS: usize = 256;

/// The longest option name accepted (the header's rule).
const MAX_OPTION_NAME: usize = 64;

/// Why a plugin could not be found or loaded. Every variant about a file names its path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be loaded as a shared library (missing, unreadable, not a library, built
    /// for another platform, or this binary is statically linked and cannot load libraries).
    #[error("cannot load scanner plugin `{}`: not a shared library this system can load ({detail})", path.display())]
    NotALibrary {
        /// The file.
        path: PathBuf,
        /// The system loader's reason.
        detail: String,
    },
    /// The library does not export the entry symbol: it is not a scanner plugin.
    #[error(
        "`{}` is not a spiro-deploy scanner plugin: it does not export `{symbol}`",
        path.display()
    )]
    MissingSymbol {
        /// The file.
        path: PathBuf,
        /// The symbol looked for.
        symbol: &'static str,
    },
    /// The entry symbol returned NULL.
    #[error("scanner plugin `{}` returned no descriptor (its `{}` returned NULL)", path.display(), ENTRY_SYMBOL)]
    NullDescriptor {
        /// The file.
        path: PathBuf,
    },
    /// The plugin speaks an ABI version this host does not.
    #[error(
        "scanner plugin `{}` uses ABI version {found}, but this spiro-deploy supports ABI versions \
         {min} to {max}; rebuild the plugin against a supported spiro_scanner.h or spiro-plugin-sdk",
        path.display()
    )]
    UnsupportedAbi {
        /// The file.
        path: PathBuf,
        /// The version the plugin declares.
        found: u32,
        /// [`MIN_ABI_VERSION`].
        min: u32,
        /// [`MAX_ABI_VERSION`].
        max: u32,
    },
    /// The descriptor is smaller than its ABI version requires.
    #[error(
        "scanner plugin `{}` has a descriptor of {size} bytes, but ABI version {abi_version} needs \
         at least {expected}",
        path.display()
    )]
    DescriptorTooSmall {
        /// The file.
        path: PathBuf,
        /// The declared ABI version.
        abi_version: u32,
        /// The declared size.
        size: u32,
        /// The size this host needs.
        expected: u32,
    },
    /// The descriptor is malformed (a NULL function, a name that is not UTF-8, ...).
    #[error("scanner plugin `{}` has an invalid descriptor: {reason}", path.display())]
    InvalidDescriptor {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A plugin found as `libspiro_scanner_NAME.so` calls itself something else.
    #[error(
        "`{}` should hold the scanner `{expected}`, but the plugin calls itself `{found}`; \
         rename the file or fix the plugin's name",
        path.display()
    )]
    NameMismatch {
        /// The file.
        path: PathBuf,
        /// The name from the file name.
        expected: String,
        /// The name in the descriptor.
        found: String,
    },
    /// No built-in scanner and no plugin of that name.
    #[error(
        "no scanner `{name}`: it is not built in, and no `{file}` was found in {}",
        searched_text(searched)
    )]
    NotFound {
        /// The name asked for.
        name: String,
        /// The file name looked for.
        file: String,
        /// The directories searched, in order.
        searched: Vec<PathBuf>,
    },
    /// The name cannot name a plugin (empty, or with a NUL byte).
    #[error("`{name}` is not a valid scanner name")]
    InvalidName {
        /// The name asked for.
        name: String,
    },
}

fn searched_text(searched: &[PathBuf]) -> String {
    if searched.is_empty() {
        return format!(
            "any plugin directory (none is configured: set {} or create the per-user plugin directory)",
            crate::PLUGIN_PATH_VAR
        );
    }
    let dirs: Vec<String> = searched
        .iter()
        .map(|d| format!("`{}`", d.display()))
        .collect();
    dirs.join(", ")
}

impl LoadError {
    /// The plugin file concerned, if the error is about one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            LoadError::NotALibrary { path, .. }
            | LoadError::MissingSymbol { path, .. }
            | LoadError::NullDescriptor { path }
            | LoadError::UnsupportedAbi { path, .. }
            | LoadError::DescriptorTooSmall { path, .. }
            | LoadError::InvalidDescriptor { path, .. }
            | LoadError::NameMismatch { path, .. } => Some(path),
            LoadError::NotFound { .. } | LoadError::InvalidName { .. } => None,
        }
    }
}

/// What a plugin says about itself, and where it was loaded from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginInfo {
    /// The scanner's name (`manifest`).
    pub name: String,
    /// Its one-line description.
    pub description: String,
    /// The ABI version it speaks.
    pub abi_version: u32,
    /// The options it declares, in its order (none for an ABI version 1 plugin).
    pub options: Vec<OptionInfo>,
    /// The library's path, as given to [`Plugin::load`].
    pub path: PathBuf,
}

/// How scans start: a version-1 plugin's `scan_start`, or version 2's configuration functions.
#[derive(Clone, Copy)]
pub(crate) enum Start {
    /// ABI version 1: no options.
    V1(ScanStartFn),
    /// ABI version 2.
    V2 {
        configure: ConfigureFn,
        config_free: ConfigFreeFn,
        scan_start: ScanStartConfiguredFn,
    },
}

/// The descriptor's functions, checked non-NULL.
#[derive(Clone, Copy)]
pub(crate) struct VTable {
    pub(crate) start: Start,
    pub(crate) scan_next: ScanNextFn,
    pub(crate) entry_release: EntryReleaseFn,
    pub(crate) open: OpenFn,
    pub(crate) read: ReadFn,
    pub(crate) reader_free: ReaderFreeFn,
    pub(crate) scan_free: ScanFreeFn,
    pub(crate) string_free: StringFreeFn,
}

pub(crate) struct Loaded {
    pub(crate) vtable: VTable,
    pub(crate) info: PluginInfo,
    /// `name (plugin /path)`: how errors name the plugin.
    pub(crate) label: String,
    // Last: the functions above point into the library, which must stay loaded while any of
    // them may be called. Every scan, reader and pending entry holds a `Plugin` clone.
    _library: Library,
}

/// A loaded, validated scanner plugin. Cheap to clone; the library stays loaded while any
/// clone, scanner, scan or reader of it exists.
#[derive(Clone)]
pub struct Plugin {
    pub(crate) inner: Arc<Loaded>,
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("info", &self.inner.info)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    /// Loads the plugin library at `path` and validates it: the entry symbol must exist, its
    /// ABI version (read before any other field) must lie in
    /// [`MIN_ABI_VERSION`]`..=`[`MAX_ABI_VERSION`], and the descriptor must be complete.
    ///
    /// Loading runs the library's initialisers: only load plugins you trust as much as this
    /// program. `path` is used as given (no search), so pass a path with a directory part.
    pub fn load(path: impl AsRef<Path>) -> Result<Plugin, LoadError> {
        let path = path.as_ref();
        // SAFETY: loading a library runs its initialisers; plugins are trusted code (see the
        // crate documentation). Everything after this is checked before it is relied upon.
        let library = unsafe { Library::new(path) }.map_err(|e| LoadError::NotALibrary {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        // SAFETY: the symbol's type is the entry type of the ABI every version shares: a C
        // function of no arguments returning a pointer.
        let entry = unsafe { library.get::<EntryFn>(ENTRY_SYMBOL.as_bytes()) }.map_err(|_| {
            LoadError::MissingSymbol {
                path: path.to_path_buf(),
                symbol: ENTRY_SYMBOL,
            }
        })?;
        // SAFETY: calling the entry symbol is what the ABI asks of the host; it has no arguments.
        let descriptor = unsafe { entry() };
        if descriptor.is_null() {
            return Err(LoadError::NullDescriptor {
                path: path.to_path_buf(),
            });
        }
        // SAFETY: every version's descriptor starts with `uint32_t abi_version`; nothing else is
        // read until the version is known to be one whose layout this host knows.
        let abi_version = unsafe { descriptor.cast::<u32>().read_unaligned() };
        if !(MIN_ABI_VERSION..=MAX_ABI_VERSION).contains(&abi_version) {
            return Err(LoadError::UnsupportedAbi {
                path: path.to_path_buf(),
                found: abi_version,
                min: MIN_ABI_VERSION,
                max: MAX_ABI_VERSION,
            });
        }
        let expected = descriptor_size(abi_version).expect("every supported version has a size");
        // SAFETY: in every version, the second field is `uint32_t struct_size`.
        let size = unsafe { descriptor.cast::<u32>().add(1).read_unaligned() };
        if size < expected {
            return Err(LoadError::DescriptorTooSmall {
                path: path.to_path_buf(),
                abi_version,
                size,
                expected,
            });
        }
        let invalid = |reason: String| LoadError::InvalidDescriptor {
            path: path.to_path_buf(),
            reason,
        };
        let (d, v2) = if abi_version == 1 {
            // SAFETY: the plugin declares a version-1 descriptor at least this large.
            let v1 = unsafe { descriptor.cast::<SpiroScannerPluginV1>().read_unaligned() };
            (v1, None)
        } else {
            // SAFETY: the plugin declares a version-2 descriptor at least this large.
            let d: SpiroScannerPlugin = unsafe { descriptor.read_unaligned() };
            (version_1_part(&d), Some(d))
        };
        let start = match &v2 {
            None => Start::V1(d.scan_start.ok_or_else(|| invalid(null_fn("scan_start")))?),
            Some(v2) => Start::V2 {
                configure: v2.configure.ok_or_else(|| invalid(null_fn("configure")))?,
                config_free: v2
                    .config_free
                    .ok_or_else(|| invalid(null_fn("config_free")))?,
                scan_start: v2
                    .scan_start_configured
                    .ok_or_else(|| invalid(null_fn("scan_start_configured")))?,
            },
        };
        let vtable = VTable {
            start,
            scan_next: d.scan_next.ok_or_else(|| invalid(null_fn("scan_next")))?,
            entry_release: d
                .entry_release
                .ok_or_else(|| invalid(null_fn("entry_release")))?,
            open: d.open.ok_or_else(|| invalid(null_fn("open")))?,
            read: d.read.ok_or_else(|| invalid(null_fn("read")))?,
            reader_free: d
                .reader_free
                .ok_or_else(|| invalid(null_fn("reader_free")))?,
            scan_free: d.scan_free.ok_or_else(|| invalid(null_fn("scan_free")))?,
            string_free: d
                .string_free
                .ok_or_else(|| invalid(null_fn("string_free")))?,
        };
        // SAFETY: the descriptor's strings are static data of the stated lengths (checked to be
        // plausible first).
        let name = unsafe { text(d.name, d.name_len) }.map_err(|e| invalid(format!("name {e}")))?;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(invalid(format!(
                "its name {name:?} is not made of ASCII letters, digits, `_` and `-`"
            )));
        }
        // SAFETY: as above.
        let description = unsafe { text(d.description, d.description_len) }
            .map_err(|e| invalid(format!("description {e}")))?;
        let description = one_line(&description);
        let options = match &v2 {
            // SAFETY: the table is static data of the declared length (checked plausible).
            Some(v2) => unsafe { option_table(v2.options, v2.option_count) }.map_err(invalid)?,
            None => Vec::new(),
        };
        let label = format!("{name} (plugin {})", path.display());
        let info = PluginInfo {
            name,
            description,
            abi_version,
            options,
            path: path.to_path_buf(),
        };
        Ok(Plugin {
            inner: Arc::new(Loaded {
                vtable,
                info,
                label,
                _library: library,
            }),
        })
    }

    /// What the plugin says about itself, and where it was loaded from.
    pub fn info(&self) -> &PluginInfo {
        &self.inner.info
    }

    /// A scanner of `root` backed by this plugin with its default options; it implements
    /// [`spiro_scanner::Scanner`] and its [`name`](spiro_scanner::Scanner::name) is the
    /// plugin's name. If the plugin refuses to work without options, its scans fail saying so;
    /// [`scanner_with_options`](Plugin::scanner_with_options) reports that up front.
    pub fn scanner(&self, root: impl Into<PathBuf>) -> PluginScanner {
        let setup = self
            .configure(&ScannerOptions::new())
            .unwrap_or_else(Setup::Refused);
        PluginScanner::new(self.clone(), root.into(), setup)
    }

    /// A scanner of `root` backed by this plugin, configured with `options`. An option the
    /// plugin does not declare (any option, for an ABI version 1 plugin) is
    /// [`OptionError::Unknown`]; options the plugin itself refuses (a bad value) are
    /// [`OptionError::Refused`] with its message. Both list the options it declares.
    pub fn scanner_with_options(
        &self,
        root: impl Into<PathBuf>,
        options: &ScannerOptions,
    ) -> Result<PluginScanner, OptionError> {
        let setup = self.configure(options)?;
        Ok(PluginScanner::new(self.clone(), root.into(), setup))
    }

    /// Checks `options` against the declarations and, for a version-2 plugin, has the plugin
    /// make its configuration from them.
    fn configure(&self, options: &ScannerOptions) -> Result<Setup, OptionError> {
        let info = self.info();
        options.reader(&info.name, &info.options)?;
        match self.vtable().start {
            Start::V1(_) => Ok(Setup::V1),
            Start::V2 { .. } => {
                Config::new(self, options).map(|config| Setup::V2(Arc::new(config)))
            }
        }
    }

    /// `name (plugin /path/to/lib.so)`: how errors name this plugin.
    pub fn label(&self) -> &str {
        &self.inner.label
    }

    pub(crate) fn vtable(&self) -> &VTable {
        &self.inner.vtable
    }
}

/// The version-1 fields of a version-2 descriptor: what the two versions share.
fn version_1_part(d: &SpiroScannerPlugin) -> SpiroScannerPluginV1 {
    SpiroScannerPluginV1 {
        abi_version: d.abi_version,
        struct_size: d.struct_size,
        name: d.name,
        name_len: d.name_len,
        description: d.description,
        description_len: d.description_len,
        scan_start: d.scan_start,
        scan_next: d.scan_next,
        entry_release: d.entry_release,
        open: d.open,
        read: d.read,
        reader_free: d.reader_free,
        scan_free: d.scan_free,
        string_free: d.string_free,
    }
}

/// Reads and checks a version-2 option table: `count` entries at `table`, each name a valid
/// key (as `--include-source` spells keys), unique, every string UTF-8 and of a plausible
/// length, descriptions and defaults without control characters.
///
/// # Safety
/// If `count` is plausible (at most [`MAX_OPTIONS`]) and `table` is not NULL, `table` must
/// point to `count` readable entries whose strings are readable for their stated lengths (when
/// plausible, at most [`MAX_TEXT`]).
unsafe fn option_table(
    table: *const SpiroOptionInfo,
    count: usize,
) -> Result<Vec<OptionInfo>, String> {
    if count == 0 {
        return Ok(Vec::new());
    }
    if count > MAX_OPTIONS {
        return Err(format!(
            "its option table claims {count} options (at most {MAX_OPTIONS} allowed)"
        ));
    }
    if table.is_null() {
        return Err(format!("its option table is NULL with a count of {count}"));
    }
    let mut options: Vec<OptionInfo> = Vec::with_capacity(count);
    for i in 0..count {
        // SAFETY: the caller's promise; read unaligned, as nothing says the plugin aligned it.
        let raw = unsafe { table.add(i).read_unaligned() };
        let which = format!("option {}", i + 1);
        // SAFETY: the caller's promise, for each string.
        let name = unsafe { text(raw.name, raw.name_len) }
            .map_err(|e| format!("the name of its {which} {e}"))?;
        let valid_key = !name.is_empty()
            && name.len() <= MAX_OPTION_NAME
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid_key {
            return Err(format!(
                "its {which} is called {name:?}: an option name is 1 to {MAX_OPTION_NAME} ASCII                  letters, digits, `-` and `_`"
            ));
        }
        if options.iter().any(|o| o.name == name) {
            return Err(format!("it declares the option `{name}` twice"));
        }
        // SAFETY: as above.
        let description = unsafe { text(raw.description, raw.description_len) }
            .map_err(|e| format!("the description of its option `{name}` {e}"))?;
        // SAFETY: as above.
        let default = unsafe { text(raw.default_value, raw.default_value_len) }
            .map_err(|e| format!("the default of its option `{name}` {e}"))?;
        if default.chars().any(char::is_control) {
            return Err(format!(
                "the default of its option `{name}` contains a control character"
            ));
        }
        options.push(OptionInfo::owned(name, one_line(&description), default));
    }
    Ok(options)
}

/// `text` on one line: control characters (a newline, an escape) become spaces, so that a
/// plugin's text cannot break or restyle the listing.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

fn null_fn(name: &str) -> String {
    format!("its `{name}` function is NULL")
}

/// # Safety
/// `ptr` must point to `len` readable bytes if `len` is plausible (at most [`MAX_TEXT`]).
unsafe fn text(ptr: *const u8, len: usize) -> Result<String, String> {
    if len > MAX_TEXT {
        return Err(format!("is {len} bytes long (at most {MAX_TEXT} allowed)"));
    }
    if len == 0 {
        return Ok(String::new());
    }
    if ptr.is_null() {
        return Err(format!("is NULL with a length of {len}"));
    }
    // SAFETY: the caller's promise.
    let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
    String::from_utf8(bytes.to_vec()).map_err(|_| "is not UTF-8".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(
        name: &'static str,
        description: &'static str,
        default: &'static str,
    ) -> SpiroOptionInfo {
        SpiroOptionInfo {
            name: name.as_ptr(),
            name_len: name.len(),
            description: description.as_ptr(),
            description_len: description.len(),
            default_value: default.as_ptr(),
            default_value_len: default.len(),
        }
    }

    fn check(table: &[SpiroOptionInfo]) -> Result<Vec<OptionInfo>, String> {
        // SAFETY: `table` and its strings are live, readable Rust data of the stated lengths.
        unsafe { option_table(table.as_ptr(), table.len()) }
    }

    #[test]
    fn option_tables_are_read_and_their_text_put_on_one_line() {
        let options = check(&[
            info("hidden", "also\nbundle dotfiles ", "true"),
            info("max-size", "a limit", ""),
        ])
        .unwrap();
        assert_eq!(
            options,
            [
                OptionInfo::new("hidden", "also bundle dotfiles", "true"),
                OptionInfo::new("max-size", "a limit", ""),
            ]
        );
        // SAFETY: a count of 0 reads nothing, whatever the pointer.
        let none = unsafe { option_table(std::ptr::dangling(), 0) };
        assert_eq!(none, Ok(Vec::new()));
    }

    #[test]
    fn bad_option_tables_are_refused_saying_what_is_wrong() {
        let cases: [(&[SpiroOptionInfo], &str); 5] = [
            (
                &[info("a", "", ""), info("a", "", "")],
                "declares the option `a` twice",
            ),
            (&[info("", "", "")], "its option 1 is called \"\""),
            (
                &[info("key=value", "", "")],
                "its option 1 is called \"key=value\"",
            ),
            (
                &[info("ok", "", "tab\there")],
                "the default of its option `ok` contains a control character",
            ),
            (
                &[
                    info("ok", "", ""),
                    info("ok2", "", ""),
                    info("sp ace", "", ""),
                ],
                "its option 3 is called \"sp ace\"",
            ),
        ];
        for (table, expected) in cases {
            let error = check(table).unwrap_err();
            assert!(error.contains(expected), "{error}");
        }
        let long = "x".repeat(MAX_OPTION_NAME + 1).leak();
        assert!(
            check(&[info(long, "", "")])
                .unwrap_err()
                .contains("1 to 64")
        );
        let table = [info("a", "", "")];
        // SAFETY: a count past the cap is refused before anything is read.
        let error = unsafe { option_table(table.as_ptr(), MAX_OPTIONS + 1) }.unwrap_err();
        assert!(error.contains("claims 257 options"), "{error}");
        // SAFETY: a NULL table is refused before anything is read.
        let error = unsafe { option_table(std::ptr::null(), 3) }.unwrap_err();
        assert_eq!(error, "its option table is NULL with a count of 3");
    }
}
