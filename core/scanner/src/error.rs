//! What a scan or an entry's opener reports.

use std::io;
use std::path::PathBuf;

use crate::EntryNameError;

/// Everything that can go wrong while scanning or opening an entry.
///
/// Each variant names the thing at fault (a path, a scanner) so that a front end can print one
/// line a user can act on; the underlying cause is kept as [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read.
    #[error("cannot read `{}`", path.display())]
    Read {
        /// The path on disk.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
    /// A file is not what the walk saw when it is opened to be bundled: swapped for a symlink,
    /// a FIFO or another file, or a directory above it swapped for a symlink. Never followed.
    #[error("`{}` changed while bundling ({what}); retry once nothing writes to it", path.display())]
    Changed {
        /// The path on disk.
        path: PathBuf,
        /// What changed, in words ("now a symlink", "another file").
        what: String,
    },
    /// A scanner produced a name that would escape the bundle or is otherwise unusable.
    #[error("scanner `{scanner}` produced an unsafe entry name {name:?}: {reason}")]
    UnsafeName {
        /// The scanner's name.
        scanner: String,
        /// The offending name, lossily decoded.
        name: String,
        /// What is wrong with it.
        #[source]
        reason: EntryNameError,
    },
    /// A scanner failed on its own terms (a git object is missing, a plugin reported an error).
    #[error("scanner `{scanner}` failed: {message}")]
    Scanner {
        /// The scanner's name.
        scanner: String,
        /// What the scanner said.
        message: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl Error {
    /// A [`Error::Read`] for `path`.
    pub fn read(path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Read {
            path: path.into(),
            source,
        }
    }

    /// A [`Error::Scanner`] with a message and no underlying cause: what plugins report.
    pub fn scanner(scanner: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Scanner {
            scanner: scanner.into(),
            message: message.into(),
            source: None,
        }
    }

    /// A [`Error::Scanner`] wrapping another error.
    pub fn scanner_with(
        scanner: impl Into<String>,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::Scanner {
            scanner: scanner.into(),
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}

/// `Result<T, spiro_scanner::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
