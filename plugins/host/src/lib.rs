//! Loads `spiro-deploy` scanner plugins: shared libraries that speak the C ABI of
//! `plugins/include/spiro_scanner.h`, wrapped as ordinary [`spiro_scanner::Scanner`]s so the
//! bundle builder cannot tell them from the built-in scanners.
//!
//! - [`Plugin::load`] opens one library, checks its ABI version before anything else (versions
//!   1 and 2 are spoken: [`MIN_ABI_VERSION`]`..=`[`MAX_ABI_VERSION`]), and validates its
//!   descriptor, including the options a version-2 plugin declares ([`PluginInfo::options`]);
//!   every [`LoadError`] names the library's path.
//! - [`Plugin::scanner_with_options`] has the plugin check the options given to it
//!   (`--include-source=NAME,KEY=VALUE`) and make its configuration, before anything is
//!   scanned: an undeclared option (any option, for a version-1 plugin) is
//!   [`OptionError::Unknown`](spiro_scanner::OptionError::Unknown), one the plugin refuses is
//!   [`OptionError::Refused`](spiro_scanner::OptionError::Refused) with its message.
//! - [`Plugin::scanner`] (default options) and [`Plugin::scanner_with_options`] give a
//!   [`PluginScanner`] of a root directory. Entry names it yields are
//!   validated like any other scanner's; content is read through the ABI in the builder's
//!   chunks, never whole; plugin errors become [`spiro_scanner::Error::Scanner`] naming the
//!   plugin and its path.
//! - [`SearchPath`] finds plugins by name (`--include-source=NAME`) in `SPIRO_PLUGIN_PATH` and
//!   then the per-user plugin directory ([`user_plugin_dir`]), and lists every candidate for
//!   `--list-scanners`.
//!
//! For a front end, the whole of it is two calls, after trying the built-in scanners:
//!
//! ```no_run
//! use std::path::Path;
//! # fn builtin(_: &str) -> Option<Box<dyn spiro_scanner::Scanner>> { None }
//! let name = "manifest";
//! let scanner: Box<dyn spiro_scanner::Scanner> = match builtin(name) {
//!     Some(scanner) => scanner,
//!     None => spiro_plugin_host::open_scanner(name, Path::new("."))?,
//! };
//! // With options, `--include-source=manifest,file=deploy/web.list`:
//! let spec: spiro_scanner::ScannerSpec = "manifest,file=deploy/web.list".parse()?;
//! let plugin = spiro_plugin_host::SearchPath::from_env().resolve(spec.name())?;
//! let configured = plugin.scanner_with_options(".", spec.options())?;
//! for found in spiro_plugin_host::discover() {
//!     let state = match &found.plugin {
//!         Ok(plugin) => plugin.info().description.clone(),
//!         Err(refused) => refused.to_string(),
//!     };
//!     println!("{} ({}): {state}", found.name, found.path.display());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Loading a plugin runs its code in this process: plugins are trusted like the binary itself.
//! What the ABI checks buy is that a plugin built for another ABI version, or something that
//! is not a plugin at all, is refused with a message instead of crashing. A statically linked
//! (musl) binary cannot load shared libraries at all; [`Plugin::load`] then fails with the
//! platform's reason.

#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod callback;
mod discover;
mod load;
mod scan;

pub use discover::{
    Candidate, PLUGIN_PATH_VAR, SearchPath, discover, find, is_path, library_file_name,
    open_scanner, search_path, user_plugin_dir,
};
pub use load::{LoadError, MAX_ABI_VERSION, MIN_ABI_VERSION, Plugin, PluginInfo};
pub use scan::PluginScanner;
