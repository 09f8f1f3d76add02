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
//!     type Options = ();
//!     fn new(root: &Path, _options: &()) -> Result<Self, Error> {
//!         Ok(Hello { root: root.to_path_buf() })
//!     }
//! }
//!
//! spiro_plugin_sdk::export_scanner!(Hello);
//! ```
//!
//! # Options
//!
//! A scanner that takes options (`--include-source=hello,greeting=hi`) declares them on a type
//! of its own, which implements [`PluginOptions`], and receives it in
//! [`PluginScanner::new`]:
//!
//! ```
//! use spiro_plugin_sdk::PluginOptions;
//! use spiro_plugin_sdk::scanner::{OptionError, OptionInfo, OptionReader};
//!
//! pub struct HelloOptions { greeting: String, loud: bool }
//!
//! impl PluginOptions for HelloOptions {
//!     const OPTIONS: &'static [OptionInfo] = &[
//!         OptionInfo::new("greeting", "the text of hello.txt", "hello"),
//!         OptionInfo::new("loud", "in capitals", "false"),
//!     ];
//!     fn from_options(options: &OptionReader<'_>) -> Result<Self, OptionError> {
//!         let greeting = options.str("greeting");
//!         if greeting.is_empty() {
//!             return Err(options.invalid("greeting", "some text"));
//!         }
//!         Ok(HelloOptions { greeting: greeting.to_owned(), loud: options.bool("loud")? })
//!     }
//! }
//! ```
//!
//! The host shows the declarations in `--list-scanners` and in its errors. The SDK reads the
//! options when the host configures the plugin, before any scan: an option not declared is
//! refused with the same words as the built-in scanners use, and an error from
//! [`from_options`](PluginOptions::from_options) is the plugin's refusal, which the user sees
//! as a usage error listing the declared options. A scanner that takes no options uses `()`.
//!
//! With `crate-type = ["cdylib"]` in `[lib]`, `cargo build --release` gives
//! `target/release/libspiro_scanner_hello.so` (name the package `spiro-scanner-hello`), which
//! `spiro-deploy --include-source=hello` loads from `SPIRO_PLUGIN_PATH` or the per-user plugin
//! directory.
//!
//! What the SDK does for you, behind the C ABI of `plugins/include/spiro_scanner.h`:
//! - answers the host's ABI version check and describes the scanner and its options;
//! - reads the options into your type when the host configures the plugin, and refuses bad
//!   ones with a message the host shows;
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

use spiro_scanner::{Error, OptionError, OptionInfo, OptionReader, Scanner, ScannerOptions};

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

    /// The options it takes, read when the host configures the plugin; `()` for none.
    type Options: PluginOptions;

    /// A scanner of `root` with `options`. An error here is the scan's error.
    fn new(root: &Path, options: &Self::Options) -> Result<Self, Error>;
}

/// The options a [`PluginScanner`] takes: their declarations, and how to read them into this
/// type. The host configures a plugin once per `--include-source`, and may start several
/// scans (from several threads) with one configuration, hence `Send + Sync`.
pub trait PluginOptions: Sized + Send + Sync + 'static {
    /// The options, in the order `--list-scanners` shows them. Each name is 1 to 64 ASCII
    /// letters, digits, `-` and `_`, and each string is static ([`OptionInfo::new`]): the
    /// descriptor points to them. A default is written as a user would give the value.
    const OPTIONS: &'static [OptionInfo];

    /// Reads the options a user gave, already checked against [`OPTIONS`](Self::OPTIONS); an
    /// option not given reads as its default. An error is the plugin's refusal: use
    /// [`OptionReader::invalid`] (or the errors of [`OptionReader::bool`] and
    /// [`OptionReader::parse`]) for a bad value, so the user sees the usual wording.
    fn from_options(options: &OptionReader<'_>) -> Result<Self, OptionError>;

    /// Checks the options given to scanner `scanner` against [`OPTIONS`](Self::OPTIONS) and
    /// reads them. Override it only to refuse an undeclared option with a message of your own
    /// (the host refuses those itself before calling a plugin).
    fn read(scanner: &str, options: &ScannerOptions) -> Result<Self, OptionError> {
        Self::from_options(&options.reader(scanner, Self::OPTIONS)?)
    }
}

/// No options.
impl PluginOptions for () {
    const OPTIONS: &'static [OptionInfo] = &[];

    fn from_options(_: &OptionReader<'_>) -> Result<(), OptionError> {
        Ok(())
    }
}

/// Exports `$scanner` (a [`PluginScanner`]) as this library's `spiro_scanner_plugin` entry
/// symbol. Use it once, at the root of a `cdylib` crate.
#[macro_export]
macro_rules! export_scanner {
    ($scanner:ty) => {
        /// The scanner plugin entry symbol (see `spiro_scanner.h`).
        #[unsafe(no_mangle)]
        pub extern "C" fn spiro_scanner_plugin() -> *const $crate::abi::SpiroScannerPlugin {
            const COUNT: usize =
                <<$scanner as $crate::PluginScanner>::Options as $crate::PluginOptions>::OPTIONS
                    .len();
            static OPTIONS: $crate::__private::StaticOptions<COUNT> =
                $crate::__private::StaticOptions($crate::__private::option_table::<
                    <$scanner as $crate::PluginScanner>::Options,
                    COUNT,
                >());
            static DESCRIPTOR: $crate::__private::StaticDescriptor =
                $crate::__private::StaticDescriptor($crate::__private::descriptor::<$scanner>(
                    OPTIONS.0.as_ptr(),
                    COUNT,
                ));
            &DESCRIPTOR.0
        }
    };
}

#[doc(hidden)]
pub mod __private {
    pub use crate::export::{descriptor, option_table};

    /// The option table as the `static` the descriptor points to; `Sync` for the same reason
    /// as [`StaticDescriptor`].
    #[repr(transparent)]
    pub struct StaticOptions<const N: usize>(pub [spiro_plugin_abi::SpiroOptionInfo; N]);

    // SAFETY: only ever built by `export_scanner!` from `option_table`, whose pointers are to
    // the `'static`, immutable strings of the scanner's option declarations.
    unsafe impl<const N: usize> Sync for StaticOptions<N> {}

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
