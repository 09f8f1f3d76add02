//! What can go wrong while building a bundle.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while bundling: a scanner's error, or one of the builder's own
/// checks.
///
/// Each variant names the thing at fault (a path, an entry, a scanner) so that a front end can
/// print one line a user can act on; the underlying cause is kept as [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A scanner (or an entry's opener) failed: an unreadable file, an unsafe name, a scanner's
    /// own error.
    #[error(transparent)]
    Scan(#[from] spiro_scanner::Error),
    /// A path given to the builder is never bundled; see [`Refusal`].
    #[error("cannot bundle `{}`", path.display())]
    Refused {
        /// The path as given.
        path: PathBuf,
        /// Why.
        #[source]
        reason: Refusal,
    },
    /// A file's content did not match the size its scanner announced (it changed between the
    /// scan and the moment it was written into the bundle).
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
    /// An entry's content failed while it was read, with an error its scanner did not attribute
    /// to a path.
    #[error("reading `{name}` failed")]
    ReadEntry {
        /// The entry's name in the bundle.
        name: String,
        /// What the reader reported.
        #[source]
        source: io::Error,
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
    /// A scanner announced a file larger than any tar extractor can hold
    /// ([`MAX_ENTRY_SIZE`](crate::MAX_ENTRY_SIZE)): a broken scanner or plugin, or a hostile
    /// git object header.
    #[error(
        "`{name}` claims {size} bytes, more than a bundle can hold ({limit} bytes at most); \
         its scanner or its source is broken"
    )]
    TooLarge {
        /// The entry's name in the bundle.
        name: String,
        /// The size its scanner announced.
        size: u64,
        /// The largest size allowed.
        limit: u64,
    },
    /// The bundle would grow past [`MAX_BUNDLE_SIZE`](crate::MAX_BUNDLE_SIZE) bytes with this
    /// entry.
    #[error("the bundle would be longer than {limit} bytes with `{name}`; leave some of it out")]
    BundleTooLarge {
        /// The entry that crosses the limit.
        name: String,
        /// The largest bundle allowed.
        limit: u64,
    },
    /// A symlink may lead out of the bundle (see [`LinkEscape`](crate::LinkEscape)). SpiroFS's
    /// fileserver follows links, so such a link would serve the master's own files to minions;
    /// [`Builder::allow_symlinks_out`](crate::Builder::allow_symlinks_out) allows it.
    #[error(
        "the symlink `{name}` -> `{target}` ({origin}) may point out of the bundle, which is \
         refused: the SpiroFS fileserver would follow it"
    )]
    SymlinkOutside {
        /// The link's name in the bundle.
        name: String,
        /// Its target, lossily made text.
        target: String,
        /// Where it came from.
        origin: String,
        /// Why its target may lead out.
        #[source]
        reason: crate::LinkEscape,
    },
    /// The bundle grew past the length announced for it
    /// ([`Builder::announced_len`](crate::Builder::announced_len)): what was counted changed
    /// before it was written (a file added, a plugin that yields differently each time).
    #[error(
        "the bundle grew past the {announced} bytes announced for it at {what}; retry once \
         nothing is changing the files"
    )]
    LongerThanAnnounced {
        /// The entry (or the end marker) that crossed the length.
        what: String,
        /// The length announced.
        announced: u64,
    },
    /// An earlier entry failed after part of it was written, so the stream is not a whole tar:
    /// the builder appends nothing more and does not finish it.
    #[error("the bundle is incomplete: an entry failed while it was being written")]
    Incomplete,
    /// The bundle could not be written to its destination.
    #[error("cannot write the bundle")]
    Write(#[source] io::Error),
}

/// Why the builder refuses a path it was given (see [`Error::Refused`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The path is, or is inside, version-control metadata (`.git/config` can hold
    /// credentials).
    #[error("version-control metadata is never bundled")]
    VcsMetadata,
    /// The path is neither a regular file nor a directory (a socket, FIFO or device).
    #[error("not a regular file or a directory")]
    NotFileOrDirectory,
}

/// `Result<T, spiro_bundle::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Scan`] of a [`spiro_scanner::Error::Read`] for `path`: a file or directory
    /// that could not be read.
    pub fn read(path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Scan(spiro_scanner::Error::read(path, source))
    }
}
