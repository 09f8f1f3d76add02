//! The Scanner API of SpiroFS bundles: what a scanner or a plugin needs, and nothing more.
//!
//! - [`Scanner`] is the one interface to everything that produces files for a bundle: the
//!   built-in `fs` and `git` scanners of `spiro-scanners` and plugins loaded from shared
//!   libraries. A scanner yields [`Entry`]s (a validated [`EntryName`] and an [`EntryKind`];
//!   a file's kind holds the [`Opener`] that is called only when the entry is written) and
//!   honours the caller's [`ShouldSkip`] veto.
//! - [`EntryName`] is the only kind of path that reaches a bundle: relative, free of `..` and
//!   NUL. The SpiroFS server extracts bundles without checking, so names are checked here.
//! - [`Error`] is what a scan or an opener reports; [`error_chain`] walks any error's causes.
//! - [`OptionInfo`], [`ScannerSpec`] and [`ScannerOptions`] are how a scanner declares and
//!   receives its options (`--include-source=git,submodules`); [`OptionError`] is a mistake
//!   in them, worded the same for every scanner.
//!
//! This crate knows no tar, no directory walker, no git and no HTTP: the bundle builder
//! (`spiro-bundle`) and the scanners depend on it, never the other way round.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod chain;
mod entry;
mod error;
mod name;
mod options;

pub use chain::error_chain;
pub use entry::{Candidate, Entries, Entry, EntryKind, Opener, Scanner, ShouldSkip};
pub use error::{Error, Result};
pub use name::{EntryName, EntryNameError, bytes_path, os_bytes};
pub use options::{OptionError, OptionInfo, OptionReader, ScannerOptions, ScannerSpec};
