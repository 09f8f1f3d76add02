//! The [`Scanner`] trait: how the builder learns which files to bundle.

use std::fmt;
use std::io::Read;
use std::path::Path;

use crate::{EntryName, Error};

/// Opens an entry's content. Called at most once, only when the builder writes that entry, so
/// that a scan of 20,000 files holds 20,000 names and not 20,000 open files.
pub type Opener<'s> = Box<dyn FnOnce() -> Result<Box<dyn Read + 's>, Error> + 's>;

/// What an entry is: a file, with the way to open its content, or a symlink.
pub enum EntryKind<'s> {
    /// A regular file of `size` bytes. The builder checks that exactly `size` bytes are read.
    File {
        /// The size announced in the tar header.
        size: u64,
        /// Whether any execute bit is set; the bundle stores `0755` or `0644`.
        executable: bool,
        /// Opens the content; called at most once, when the entry is written.
        open: Opener<'s>,
    },
    /// A symbolic link, stored as a link (never followed).
    Symlink {
        /// The link's target, as bytes, exactly as stored on disk or in git.
        target: Vec<u8>,
    },
}

impl fmt::Debug for EntryKind<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryKind::File {
                size, executable, ..
            } => f
                .debug_struct("File")
                .field("size", size)
                .field("executable", executable)
                .finish_non_exhaustive(),
            EntryKind::Symlink { target } => f
                .debug_struct("Symlink")
                .field("target", &String::from_utf8_lossy(target))
                .finish(),
        }
    }
}

/// One file or symlink a scanner yields: a name relative to the scanned root, what it is, and
/// (for a file) a way to open it later.
///
/// ```
/// use spiro_scanner::{Entry, EntryName};
/// let entry = Entry::file(EntryName::new("hello.txt").unwrap(), 5, false, 0, || {
///     Ok(Box::new(&b"hello"[..]) as Box<dyn std::io::Read>)
/// });
/// assert_eq!(entry.name().to_string(), "hello.txt");
/// ```
pub struct Entry<'s> {
    name: EntryName,
    kind: EntryKind<'s>,
    mtime: u64,
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
            kind: EntryKind::File {
                size,
                executable,
                open: Box::new(open),
            },
            mtime,
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
        }
    }

    /// The name relative to the scanned root.
    pub fn name(&self) -> &EntryName {
        &self.name
    }

    /// File or symlink, with size or target.
    pub fn kind(&self) -> &EntryKind<'s> {
        &self.kind
    }

    /// Modification time, seconds since the Unix epoch.
    pub fn mtime(&self) -> u64 {
        self.mtime
    }

    /// The entry with a file's opener replaced by `wrap(opener)` (a symlink is unchanged): for
    /// scanners that read ahead or count what is opened.
    pub fn map_opener(mut self, wrap: impl FnOnce(Opener<'s>) -> Opener<'s>) -> Entry<'s> {
        self.kind = match self.kind {
            EntryKind::File {
                size,
                executable,
                open,
            } => EntryKind::File {
                size,
                executable,
                open: wrap(open),
            },
            symlink @ EntryKind::Symlink { .. } => symlink,
        };
        self
    }

    /// Splits the entry into its name, kind (with a file's opener) and mtime.
    pub fn into_parts(self) -> (EntryName, EntryKind<'s>, u64) {
        (self.name, self.kind, self.mtime)
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
/// shared libraries, all stand behind this trait, so the bundle builder (`spiro-bundle`) cannot
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
/// use spiro_scanner::{Candidate, Entries, Entry, EntryName, Scanner, ShouldSkip};
///
/// /// Bundles one in-memory file.
/// struct Motd;
///
/// impl Scanner for Motd {
///     fn name(&self) -> &str { "motd" }
///     fn scan<'s>(&'s self, should_skip: &'s ShouldSkip<'s>) -> spiro_scanner::Result<Entries<'s>> {
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

    /// Whether the entries are the content of a commit (as the `git` scanner's are) rather than
    /// a walk of the file system. A commit's content is bundled as committed, so a builder
    /// leaves version-control metadata out only of file-system walks: a committed `.hg/.keep`
    /// is content, as it is to `git archive`. `false` unless a scanner says otherwise, so
    /// plugins are treated as file-system scanners.
    fn yields_commit_content(&self) -> bool {
        false
    }
}

impl<S: Scanner + ?Sized> Scanner for &S {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn scan<'s>(&'s self, should_skip: &'s ShouldSkip<'s>) -> crate::Result<Entries<'s>> {
        (**self).scan(should_skip)
    }
    fn yields_commit_content(&self) -> bool {
        (**self).yields_commit_content()
    }
}

impl<S: Scanner + ?Sized> Scanner for Box<S> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn scan<'s>(&'s self, should_skip: &'s ShouldSkip<'s>) -> crate::Result<Entries<'s>> {
        (**self).scan(should_skip)
    }
    fn yields_commit_content(&self) -> bool {
        (**self).yields_commit_content()
    }
}
