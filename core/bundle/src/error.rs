use std::io;
use std::path::PathBuf;

use crate::name::NameError;

/// Everything that can go wrong while scanning or bundling.
///
/// Each variant names the thing at fault (a path, an entry, a scanner) so that a front end can
/// print one line a user can act on; the underlying cause is kept as [`std::error::Error::source`].
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
    /// A file's size differed between the scan and the moment it was written into the bundle.
    #[error(
        "`{name}` changed size while it was being bundled ({expected} bytes when scanned, {found}); \
         retry once nothing is writing to it"
    )]
    SizeChanged {
        /// The entry's name in the bundle.
        name: String,
        /// The size the scanner announced.
        expected: u64,
        /// What was found instead, in words ("only 10 bytes", "more bytes").
        found: String,
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
        reason: NameError,
    },
    /// Two scanners (or one scanner twice) produced the same bundle name.
    #[error("`{name}` is produced twice, by {first} and by {second}; remove one of them")]
    Duplicate {
        /// The duplicated name.
        name: String,
        /// Where the first one came from.
        first: String,
        /// Where the second one came from.
        second: String,
    },
    /// An entry would sit below a file or symlink of the bundle (or a file or symlink would
    /// take the name of a directory other entries sit in). Extracting a symlink and then an
    /// entry below it writes through the link, outside the deployment, so this is refused.
    #[error(
        "`{entry}` ({second}) cannot be bundled: `{parent}` ({first}) is a file or symlink, not a \
         directory; rename or leave out one of them"
    )]
    PathConflict {
        /// The entry that cannot be written (`name/…` for the entries below a name).
        entry: String,
        /// The file or symlink in its way.
        parent: String,
        /// Where the earlier of the two came from.
        first: String,
        /// Where the later one came from.
        second: String,
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
    /// The bundle could not be written to its destination.
    #[error("cannot write the bundle")]
    Write(#[source] io::Error),
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

/// `Result<T, spiro_bundle::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
