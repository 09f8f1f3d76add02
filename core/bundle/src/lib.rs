//! The SpiroFS bundle engine.
//!
//! A SpiroFS deployment bundle is an uncompressed tar: the project's `_salt` directory at the
//! root, build artifacts under `_artifacts/`, optionally the source under `_source/`, and a
//! `.gitcommit` file naming the commit. This crate builds one as a stream:
//!
//! - [`Scanner`] is the one interface to everything that produces files: the [`FsScanner`]
//!   here, the git scanner in `spiro-scanners`, and plugins loaded from shared libraries.
//!   A scanner yields [`Entry`]s (a validated [`EntryName`] plus an opener that is called only
//!   when the entry is written) and honours the caller's `should_skip` veto.
//! - [`Builder`] composes any number of scanners into one tar written to any
//!   [`std::io::Write`], like `tar::Builder`, holding neither a whole file nor the whole bundle
//!   in memory.
//!
//! Every name that reaches the tar is relative, free of `..` and NUL, and unique: the SpiroFS
//! server extracts bundles without checking, so this crate is the last line of defence.
//!
//! ```
//! use spiro_bundle::{Builder, FsScanner};
//! # let project = tempfile::tempdir()?;
//! # std::fs::create_dir(project.path().join("_salt"))?;
//! # std::fs::write(project.path().join("_salt/top.sls"), "base: {}\n")?;
//! # std::fs::write(project.path().join("main.py"), "print()\n")?;
//! let mut out = Vec::new();
//! let mut builder = Builder::new(&mut out);
//! builder.add_saltdir(&project.path().join("_salt"))?;
//! builder.add_source(&FsScanner::new(project.path()).exclude("_salt"))?;
//! builder.finish()?;
//! assert!(out.len() >= 3 * 512);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod ahead;
mod builder;
mod error;
mod fs;
mod name;
mod read_ahead;
mod scanner;

pub use builder::{
    ARTIFACTS_DIR, Builder, ByteCount, GITCOMMIT_FILE, GitCommit, SOURCE_DIR, Stats, VCS_DIRS,
    artifact_name, is_vcs_metadata,
};
pub use error::{Error, Result};
pub use fs::{FsScanner, IGNORE_FILE};
pub use name::{EntryName, NameError};
pub use scanner::{Candidate, Entries, Entry, EntryKind, Opener, Scanner, ShouldSkip};
