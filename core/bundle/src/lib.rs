//! The SpiroFS bundle builder.
//!
//! A SpiroFS deployment bundle is an uncompressed tar: the project's `_salt` directory at the
//! root, build artifacts under `_artifacts/`, optionally the source under `_source/`, and a
//! `.gitcommit` file naming the commit. [`Builder`] builds one as a stream, from any number of
//! [`Scanner`](spiro_scanner::Scanner)s (the Scanner API lives in `spiro-scanner`; the
//! built-in `fs` and `git` scanners in `spiro-scanners`), written to any [`std::io::Write`],
//! like `tar::Builder`, holding neither a whole file nor the whole bundle in memory.
//!
//! Every name that reaches the tar is relative, free of `..` and NUL, and unique, and no entry
//! sits below a file or symlink: the SpiroFS server extracts bundles without checking, so this
//! crate is the last line of defence.
//!
//! ```
//! use spiro_bundle::Builder;
//! # let project = tempfile::tempdir()?;
//! # std::fs::create_dir(project.path().join("_salt"))?;
//! # std::fs::write(project.path().join("_salt/top.sls"), "base: {}\n")?;
//! # std::fs::write(project.path().join("main.py"), "print()\n")?;
//! let mut out = Vec::new();
//! let mut builder = Builder::new(&mut out);
//! builder.add_saltdir(&project.path().join("_salt"))?;
//! builder.add_source(&spiro_scanners::fs_source(project.path()))?;
//! builder.finish()?;
//! assert!(out.len() >= 3 * 512);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod builder;
mod error;

pub use builder::{
    ARTIFACTS_DIR, Builder, ByteCount, GITCOMMIT_FILE, LinkEscape, MAX_BUNDLE_SIZE, MAX_ENTRY_SIZE,
    SOURCE_DIR, Stats, TakeBuffers, artifact_name,
};
pub use error::{Error, Refusal, Result};
