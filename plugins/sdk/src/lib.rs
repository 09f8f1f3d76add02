//! Write `spiro-deploy` scanner plugins in Rust.
//!
//! A plugin is an ordinary [`Scanner`] — the same trait as the built-in `fs` and `git`
//! scanners — plus a constructor ([`PluginScanner`]), exported with [`export_scanner!`] from a
//! crate built as a `cdylib`:
//!
//! ```
//! use std::path::{Path, PathBuf};
//! use spiro_plugin_sdk::scanner::{Candidate, Entries, Entry, EntryName, Error, Scanner, ShouldSkip};
//! use spiro_plugin_sdk::PluginScanner;
//!
//! /// Bundles one generated file.
//! pub struct Hello { root: PathBuf }
//!
//! impl Scanner for Hello {
//!     fn name(&self) -> &str { Self::NAME }
//!     fn scan<'s>(&'s self, should_skip: &'s ShouldSkip<'s>) -> spiro_scanner::Result<Entries<'s>> {
//!         let name = EntryName::new("hello.txt").unwrap();
//!         if should_skip(&Candidate { path: name.as_path(), is_dir: false }) {
//!             return Ok(Box::new(std::iter::empty()));
//!         }
//!         let text = format!("scanned {}\n", self.root.display()).into_bytes();
//!         let size = text.len() as u64;
//!         let entry = Entry::file(name, size, false, 0, move || {
//!             Ok(Box::new(std::io::Cursor::new(text)) as Box<dyn std::io::Read>)
//!         });
//!         Ok(Box::new(std::iter::once(Ok(entry))))
//!     }
//! }
//!
//! impl PluginScanner for Hello {
//!     const NAME: &'static str = "hello";
//!     const DESCRIPTION: &'static str = "Bundles a generated hello.txt";
//!     fn new(root: &Path) -> Result<Self, Error> {
//!         Ok(Hello { root: root.to_path_buf() })
//!     }
//! }
//!
//! spiro_plugin_sdk::export_scanner!(Hello);
//! ```
//!
//! With `crate-type = ["cdylib"]` in `[lib]`, `cargo build --release` gives
//! `target/release/libspiro_scanner_hello.so` (name the package `spiro-scanner-hello`), which
//! `spiro-deploy --include-source=hello` loads from `SPIRO_PLUGIN_PATH` or the per-user plugin
//! directory.
//!
//! What the SDK does for you, behind the C ABI of `plugins/include/spiro_scanner.h`:
//! - answers the host's ABI version check and describes the scanner;
//! - drives your iterator one entry per call, passing the host's `should_skip` through;
//! - keeps each entry's opener until the host opens the entry (or says it never will) and
//!   serves its content in the chunks the host asks for, never whole;
//! - hands error messages over in memory the host gives back to the SDK to free;
//! - catches every panic (reported as the plugin's error, `panicked: <message> at <place>`), so
//!   nothing unwinds into the host. Build plugins with the default `panic = "unwind"`: with
//!   `panic = "abort"` a panic ends the host process.

#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::path::Path;

pub use spiro_plugin_abi as abi;
pub use spiro_scanner as scanner;

use spiro_scanner::{Error, Scanner};

mod export;
mod panic;

/// A [`Scanner`] that can be exported as a plugin: a name, a description and a constructor.
///
/// The host constructs one scanner per scan, with the directory the user deploys from (the
/// project root) as `root`, and calls [`Scanner::scan`] on it once.
pub trait PluginScanner: Scanner + Sized + 'static {
    /// The name users pass to `--include-source` and see in messages. By convention the
    /// library is called `libspiro_scanner_<NAME>.so`; the host refuses a plugin found under
    /// another name, so keep them equal.
    const NAME: &'static str;
    /// One line for `spiro-deploy --list-scanners`.
    const DESCRIPTION: &'static str;

    /// A scanner of `root`. An error here is the scan's error.
    fn new(root: &Path) -> Result<Self, Error>;
}

/// Exports `$scanner` (a [`PluginScanner`]) as this library's `spiro_scanner_plugin` entry
/// symbol. Use it once, at the root of a `cdylib` crate.
#[macro_export]
macro_rules! export_scanner {
    ($scanner:ty) => {
        /// The scanner plugin entry symbol (see `spiro_scanner.h`).
        #[unsafe(no_mangle)]
        pub extern "C" fn spiro_scanner_plugin() -> *const $crate::abi::SpiroScannerPlugin {
            static DESCRIPTOR: $crate::__private::StaticDescriptor =
                $crate::__private::StaticDescriptor($crate::__private::descriptor::<$scanner>());
            &DESCRIPTOR.0
        }
    };
}

#[doc(hidden)]
pub mod __private {
    pub use crate::export::descriptor;

    /// The descriptor as the `static` that [`export_scanner!`](crate::export_scanner) returns
    /// a pointer to. Raw pointers are not `Sync`, so a `static` of the bare descriptor does
    /// not compile; this wrapper is `Sync`, and is used for nothing else.
    #[repr(transparent)]
    pub struct StaticDescriptor(pub spiro_plugin_abi::SpiroScannerPlugin);

    // SAFETY: a `StaticDescriptor` is only ever built by `export_scanner!` from `descriptor`,
    // whose pointers are to `'static` strings (the scanner's NAME and DESCRIPTION) and
    // functions, all immutable: sharing it between threads reads nothing that can change.
    unsafe impl Sync for StaticDescriptor {}
}
