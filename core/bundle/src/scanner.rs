//! The [`Scanner`] trait: how the builder learns which files to bundle.

use std::fmt;
use std::io::Read;
use std::path::Path;

use crate::{EntryName, Error};

/// Opens an entry's content. Called at most once, only when the builder writes that entry, so
/// that a scan of 20,000 files holds 20,000 names and not 20,000 open files.
pub type Opener<'s> = Box<dyn FnOnce() -> Result<Box<dyn Read + 's>, Error> + 's>;

/// What an entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file of `size` bytes. The builder checks that exactly `size` bytes are read.
    File {
        /// The size announced in the tar header.
        size: u64,
        /// Whether any execute bit is set; the bundle stores `0755` or `0644`.
        executable: bool,
    },
    /// A symbolic link, stored as a link (never followed).
    Symlink {
        /// The link's target, as bytes, exactly as stored on disk or in git.
        target: Vec<u8>,
    },
}

/// One file or symlink a scanner yields: a name relative to the scanned root, what it is, and
/// (for a file) a way to open it later.
///
/// ```
/// use spiro_bundle::{Entry, EntryName};
/// let entry = Entry::file(EntryName::new("hello.txt").unwrap(), 5, false, 0, || {
///     Ok(Box::new(&b"hello"[..]) as Box<dyn std::io::Read>)
/// });
/// assert_eq!(entry.name().to_string(), "hello.txt");
/// ```
pub struct Entry<'s> {
    name: EntryName,
    kind: EntryKind,
    mtime: u64,
    opener: Option<Opener<'s>>,
}

impl<'s> Entry<'s> {
    /// A regular file whose content `open` produces on demand.
    pub fn file(
        name: EntryName,
        size: u64,
        executable: bool,
        mtime: u64,
        open: impl FnOnce() -> Result<Box<dyn Read + 's>, Error> + 's,
    ) -> Entry<'s> {
        Entry {
            name,
            kind: EntryKind::File { size, executable },
            mtime,
            opener: Some(Box::new(open)),
        }
    }

    /// A symbolic link to `target`.
    pub fn symlink(name: EntryName, target: impl Into<Vec<u8>>, mtime: u64) -> Entry<'s> {
        Entry {
            name,
            kind: EntryKind::Symlink {
                target: target.into(),
            },
            mtime,
            opener: None,
        }
    }

    /// The name relative to the scanned root.
    pub fn name(&self) -> &EntryName {
        &self.name
    }

    /// File or symlink, with size or target.
    pub fn kind(&self) -> &EntryKind {
        &self.kind
    }

    /// Modification time, seconds since the Unix epoch.
    pub fn mtime(&self) -> u64 {
        self.mtime
    }

    /// The entry with its opener (a file's) wrapped by `wrap`.
    pub(crate) fn wrap_opener(mut self, wrap: impl FnOnce(Opener<'s>) -> Opener<'s>) -> Entry<'s> {
        self.opener = self.opener.map(wrap);
        self
    }

    /// Splits the entry into its parts; the opener is `None` for symlinks.
    pub fn into_parts(self) -> (EntryName, EntryKind, u64, Option<Opener<'s>>) {
        (self.name, self.kind, self.mtime, self.opener)
    }
}

impl fmt::Debug for Entry<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("mtime", &self.mtime)
            .finish_non_exhaustive()
    }
}

/// A path a scanner is about to enter or yield, offered to `should_skip` first.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    /// Relative to the scanned root, `/`-separated, never empty.
    pub path: &'a Path,
    /// `true` for a directory: if it is skipped, nothing below it is visited.
    pub is_dir: bool,
}

/// The caller's veto: `true` means "leave this path out" (and, for a directory, do not enter it).
pub type ShouldSkip<'a> = dyn Fn(&Candidate<'_>) -> bool + 'a;

/// The entries of one scan, in a stable order.
pub type Entries<'s> = Box<dyn Iterator<Item = Result<Entry<'s>, Error>> + 's>;

/// A source of bundle entries: the built-in `fs` and `git` scanners, and plugins loaded from
/// shared libraries, all stand behind this trait, so the [`Builder`](crate::Builder) cannot
/// tell them apart.
///
/// A scanner must:
/// - ask `should_skip` about every directory before entering it and every file before yielding
///   it, and honour the answer (the builder checks names again, so a scanner that forgets is
///   caught, but a skipped directory must not even be read);
/// - yield entries in a stable order, so the same tree gives the same bundle bytes;
/// - open nothing until an entry's opener is called.
///
/// ```
/// use spiro_bundle::{Candidate, Entries, Entry, EntryName, Scanner, ShouldSkip};
///
/// /// Bundles one in-memory file.
/// struct Motd;
///
/// impl Scanner for Motd {
///     fn name(&self) -> &str { "motd" }
///     fn scan<'s>(&'s self, should_skip: &'s ShouldSkip<'s>) -> spiro_bundle::Result<Entries<'s>> {
///         let name = EntryName::new("motd").unwrap();
///         if should_skip(&Candidate { path: name.as_path(), is_dir: false }) {
///             return Ok(Box::new(std::iter::empty()));
///         }
///         let entry = Entry::file(name, 6, false, 0, || Ok(Box::new(&b"hello\n"[..]) as _));
///         Ok(Box::new(std::iter::once(Ok(entry))))
///     }
/// }
///
/// let mut names = Vec::new();
/// for entry in Motd.scan(&|_| false).unwrap() {
///     names.push(entry.unwrap().name().to_string());
/// }
/// assert_eq!(names, ["motd"]);
/// ```
pub trait Scanner {
    /// A short name for messages: `fs`, `git`, or a plugin's name.
    fn name(&self) -> &str;

    /// Starts a scan. Errors that stop the scan before it yields anything (no repository, an
    /// unreadable root) come back here; errors on single entries come through the iterator.
    fn scan<'s>(&'s self, should_skip: &'s ShouldSkip<'s>) -> crate::Result<Entries<'s>>;
}

impl<S: Scanner + ?Sized> Scanner for &S {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn scan<'s>(&'s self, should_skip: &'s ShouldSkip<'s>) -> crate::Result<Entries<'s>> {
        (**self).scan(should_skip)
    }
}

impl<S: Scanner + ?Sized> Scanner for Box<S> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn scan<'s>(&'s self, should_skip: &'s ShouldSkip<'s>) -> crate::Result<Entries<'s>> {
        (**self).scan(should_skip)
    }
}
