//! The bundle builder: composes scanners into one tar stream.

use std::collections::HashMap;
use std::fs;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Component, Path};

use crate::name::os_bytes;
use crate::scanner::Opener;
use crate::{Candidate, Entry, EntryKind, EntryName, Error, FsScanner, Scanner, ShouldSkip};

/// Directory names that hold version-control metadata. They are never bundled: they can be
/// large, they may hold credentials (`.git/config`), and Salt has no use for them.
pub const VCS_DIRS: &[&str] = &[".git", ".hg", ".svn", ".bzr", "CVS", "_darcs"];

/// Whether a single path component is version-control metadata (see [`VCS_DIRS`]).
pub fn is_vcs_metadata(component: &[u8]) -> bool {
    VCS_DIRS.iter().any(|d| d.as_bytes() == component)
}

/// The top-level directory for artifacts.
pub const ARTIFACTS_DIR: &str = "_artifacts";
/// The top-level directory for source code.
pub const SOURCE_DIR: &str = "_source";
/// The name of the commit file at the bundle root.
pub const GITCOMMIT_FILE: &str = ".gitcommit";

/// What `.gitcommit` records: the commit that was deployed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitCommit {
    /// The full hexadecimal hash of `HEAD`.
    pub hash: String,
    /// Exactly what `git describe --all` prints, without the trailing newline; empty where git
    /// would fail ("No names found"), and then `.gitcommit` holds the hash line only.
    pub describe: String,
}

/// Counts of what a [`Builder`] has written so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Regular files written.
    pub files: u64,
    /// Symlinks written.
    pub symlinks: u64,
    /// Bytes of file content written (not counting tar headers and padding).
    pub content_bytes: u64,
}

enum Sink<W: Write> {
    Tar(tar::Builder<OutBuf<W>>),
    List(BufWriter<W>),
    /// Headers as `Tar` writes them; content as zeros, without opening anything.
    Count(tar::Builder<W>),
}

/// What [`Builder::counting`] writes to: nothing, but it counts.
#[derive(Debug, Default)]
pub struct ByteCount {
    bytes: u64,
}

impl ByteCount {
    /// The length of the bundle the same calls on [`Builder::new`] write, in bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Write for ByteCount {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.bytes += data.len() as u64;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Builds a deployment bundle, streaming it to any [`Write`]r as entries are added: nothing is
/// held in memory but one copy buffer and the names already written with the directories they
/// imply (to refuse duplicates, and entries below a file or symlink of the bundle).
///
/// The layout is SpiroFS's: the `_salt` directory at the root, artifacts under `_artifacts/`,
/// source under `_source/`, and `.gitcommit` at the root. Entries are written in the order the
/// `add_*` calls are made and, within one call, in the scanner's (sorted) order, so the same
/// tree always gives the same bytes. Owners are always 0/0 with empty names; with
/// [`source_date_epoch`](Builder::source_date_epoch) set, mtimes are clamped to it.
///
/// ```
/// use spiro_bundle::{Builder, EntryName, FsScanner};
/// # let dir = tempfile::tempdir()?;
/// # std::fs::create_dir(dir.path().join("_salt"))?;
/// # std::fs::write(dir.path().join("_salt/top.sls"), "base: {}\n")?;
/// let mut builder = Builder::new(Vec::new());
/// builder.add_saltdir(&dir.path().join("_salt"))?;
/// builder.add_virtual(&EntryName::new("motd").unwrap(), b"hello\n")?;
/// builder.add_source(&FsScanner::new(dir.path()).exclude("_salt"))?;
/// let tar_bytes = builder.finish()?;
///
/// let names: Vec<String> = tar::Archive::new(&tar_bytes[..]).entries()?
///     .map(|e| e.unwrap().path().unwrap().display().to_string())
///     .collect();
/// assert_eq!(names, ["top.sls", "motd"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Builder<W: Write> {
    sink: Sink<W>,
    mtime_clamp: Option<u64>,
    /// Every name written, with the index of its origin in `origins`, to refuse duplicates.
    seen: HashMap<EntryName, usize>,
    /// Every directory the names written so far imply (`a` and `a/b` for `a/b/c`), with the
    /// origin of the first entry below it: a file or symlink may not take such a name, and
    /// nothing may be written below a file or symlink.
    dirs: HashMap<Vec<u8>, usize>,
    origins: Vec<String>,
    /// Paths the builder's own directory walks leave out (see [`Builder::exclude`]).
    excluded: Vec<std::path::PathBuf>,
    stats: Stats,
}

/// The output buffer: file contents are read straight into it and it is written out whole, so a
/// big artifact moves in few syscalls and every byte is copied once in user space.
const WRITE_BUFFER: usize = 256 * 1024;

impl Builder<ByteCount> {
    /// A builder that opens no file and writes nothing, but counts exactly the bytes the same
    /// calls on [`Builder::new`] would write (headers, long-name entries, content, padding,
    /// the end marker), from the sizes the scanners announce: the length of an upload body,
    /// known before the upload starts. A file whose size changes before it is written makes
    /// the real build fail ([`Error::SizeChanged`]), so a wrong count cannot go unnoticed.
    ///
    /// ```
    /// use spiro_bundle::{Builder, EntryName};
    /// let name = EntryName::new("motd").unwrap();
    /// let mut counting = Builder::counting();
    /// counting.add_virtual(&name, b"hello\n")?;
    /// let mut builder = Builder::new(Vec::new());
    /// builder.add_virtual(&name, b"hello\n")?;
    /// assert_eq!(counting.finish()?.bytes(), builder.finish()?.len() as u64);
    /// # Ok::<(), spiro_bundle::Error>(())
    /// ```
    pub fn counting() -> Builder<ByteCount> {
        let mut tar = tar::Builder::new(ByteCount::default());
        tar.mode(tar::HeaderMode::Deterministic);
        tar.follow_symlinks(false);
        Builder::with_sink(Sink::Count(tar))
    }
}

impl<W: Write> Builder<W> {
    /// A builder that writes an uncompressed tar to `out`. `out` need not be buffered.
    pub fn new(out: W) -> Builder<W> {
        let mut tar = tar::Builder::new(OutBuf::new(out));
        tar.mode(tar::HeaderMode::Deterministic);
        tar.follow_symlinks(false);
        Builder::with_sink(Sink::Tar(tar))
    }

    /// A builder that writes the names of the entries it would bundle, one per line, and opens
    /// no file: what `spiro-deploy --list` prints.
    ///
    /// ```
    /// use spiro_bundle::{Builder, EntryName};
    /// let mut builder = Builder::listing(Vec::new());
    /// builder.add_virtual(&EntryName::new("a").unwrap(), b"")?;
    /// assert_eq!(builder.finish()?, b"a\n");
    /// # Ok::<(), spiro_bundle::Error>(())
    /// ```
    pub fn listing(out: W) -> Builder<W> {
        Builder::with_sink(Sink::List(BufWriter::new(out)))
    }

    fn with_sink(sink: Sink<W>) -> Builder<W> {
        Builder {
            sink,
            mtime_clamp: None,
            seen: HashMap::new(),
            dirs: HashMap::new(),
            origins: Vec::new(),
            excluded: Vec::new(),
            stats: Stats::default(),
        }
    }

    /// Clamps every mtime to `epoch` (seconds since the Unix epoch), as the reproducible-builds
    /// `SOURCE_DATE_EPOCH` convention asks. Virtual entries get `epoch` itself (0 without it).
    pub fn source_date_epoch(&mut self, epoch: Option<u64>) -> &mut Builder<W> {
        self.mtime_clamp = epoch;
        self
    }

    /// What has been written so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Adds everything below `dir` at the bundle root (`_salt/spam.sls` → `spam.sls`),
    /// leaving out version-control metadata.
    pub fn add_saltdir(&mut self, dir: &Path) -> crate::Result<()> {
        let origin = format!("the salt directory `{}`", dir.display());
        let scanner = self.dir_scanner(dir);
        self.add_scanner_as(None, &scanner, &skip_vcs, origin)
    }

    /// Leaves `path` out of the directories this builder walks itself (`_salt`, artifact
    /// directories), as [`FsScanner::exclude`] does: for a bundle written inside the tree it
    /// bundles, which must not end up in itself.
    pub fn exclude(&mut self, path: impl AsRef<Path>) -> &mut Builder<W> {
        self.excluded.push(path.as_ref().to_path_buf());
        self
    }

    /// The scanner for a directory the builder bundles whole: no ignore file, its exclusions.
    fn dir_scanner(&self, dir: &Path) -> FsScanner {
        let scanner = FsScanner::new(dir).ignore_file(None);
        self.excluded
            .iter()
            .fold(scanner, |scanner, path| scanner.exclude(path))
    }

    /// Adds the file or directory at `path` as `_artifacts/<name>`. A symlink given here is
    /// followed (the user named it); symlinks inside a directory are stored as symlinks.
    ///
    /// Use [`artifact_name`] for the safe default name of a path. Version-control metadata is
    /// refused here too (`.git/config` can hold credentials), even when named explicitly.
    pub fn add_artifact(&mut self, path: &Path, name: &EntryName) -> crate::Result<()> {
        let vcs = path
            .components()
            .any(|c| is_vcs_metadata(os_bytes(c.as_os_str())))
            || name.components().any(is_vcs_metadata);
        if vcs {
            let reason = "version-control metadata is never bundled";
            return Err(Error::read(
                path,
                io::Error::new(io::ErrorKind::InvalidInput, reason),
            ));
        }
        let full = EntryName::new(ARTIFACTS_DIR)
            .expect("constant is valid")
            .join(name);
        let meta = fs::metadata(path).map_err(|e| Error::read(path, e))?;
        let origin = format!("the artifact `{}`", path.display());
        if meta.is_dir() {
            let scanner = self.dir_scanner(path);
            return self.add_scanner_as(Some(&full), &scanner, &skip_vcs, origin);
        }
        let Some(entry) = Entry::from_disk(full, path.to_path_buf(), &meta)? else {
            return Err(Error::read(
                path,
                io::Error::other("not a regular file or a directory"),
            ));
        };
        let (name, kind, mtime, opener) = entry.into_parts();
        self.write(name, &kind, mtime, opener, origin)
    }

    /// Adds `data` as a file called `name`.
    pub fn add_virtual(&mut self, name: &EntryName, data: &[u8]) -> crate::Result<()> {
        let kind = EntryKind::File {
            size: data.len() as u64,
            executable: false,
        };
        let data = data.to_vec();
        let opener: Opener<'_> =
            Box::new(move || Ok(Box::new(io::Cursor::new(data)) as Box<dyn Read>));
        let mtime = self.mtime_clamp.unwrap_or(0);
        self.write(
            name.clone(),
            &kind,
            mtime,
            Some(opener),
            format!("the virtual file `{name}`"),
        )
    }

    /// Adds `.gitcommit`: the hash on line 1 and the `git describe --all` output on line 2.
    ///
    /// ```
    /// use spiro_bundle::{Builder, GitCommit};
    /// let mut builder = Builder::listing(Vec::new());
    /// let commit = GitCommit { hash: "1a2b".repeat(10), describe: "heads/main".into() };
    /// builder.add_gitcommit(&commit)?;
    /// assert_eq!(builder.finish()?, b".gitcommit\n");
    /// # Ok::<(), spiro_bundle::Error>(())
    /// ```
    pub fn add_gitcommit(&mut self, commit: &GitCommit) -> crate::Result<()> {
        let content = match commit.describe.as_str() {
            "" => format!("{}\n", commit.hash),
            describe => format!("{}\n{describe}\n", commit.hash),
        };
        self.add_virtual(
            &EntryName::new(GITCOMMIT_FILE).expect("constant is valid"),
            content.as_bytes(),
        )
    }

    /// Adds what `scanner` yields under `_source/`, leaving out version-control metadata.
    /// Call it once per scanner to compose several; a name produced twice is an error that
    /// names both scanners.
    pub fn add_source(&mut self, scanner: &dyn Scanner) -> crate::Result<()> {
        let prefix = EntryName::new(SOURCE_DIR).expect("constant is valid");
        self.add_scanner(Some(&prefix), scanner, &skip_vcs)
    }

    /// Adds what `scanner` yields under `prefix` (or at the root), asking `should_skip` first.
    /// The general form of the `add_*` methods.
    pub fn add_scanner(
        &mut self,
        prefix: Option<&EntryName>,
        scanner: &dyn Scanner,
        should_skip: &ShouldSkip<'_>,
    ) -> crate::Result<()> {
        let origin = format!("scanner `{}`", scanner.name());
        self.add_scanner_as(prefix, scanner, should_skip, origin)
    }

    fn add_scanner_as(
        &mut self,
        prefix: Option<&EntryName>,
        scanner: &dyn Scanner,
        should_skip: &ShouldSkip<'_>,
        origin: String,
    ) -> crate::Result<()> {
        for entry in scanner.scan(should_skip)? {
            let (name, kind, mtime, opener) = entry?.into_parts();
            // Scanners are asked to honour `should_skip`; checking again here means a plugin
            // that forgets cannot smuggle a skipped path (`.git/config`) into the bundle.
            if skipped_by(&name, should_skip) {
                continue;
            }
            let full = match prefix {
                Some(prefix) => prefix.join(&name),
                None => name,
            };
            self.write(full, &kind, mtime, opener, origin.clone())?;
        }
        Ok(())
    }

    fn write(
        &mut self,
        name: EntryName,
        kind: &EntryKind,
        mtime: u64,
        opener: Option<Opener<'_>>,
        origin: String,
    ) -> crate::Result<()> {
        self.remember(&name, origin)?;
        let mtime = self.mtime_clamp.map_or(mtime, |clamp| mtime.min(clamp));
        match &mut self.sink {
            Sink::List(out) => {
                out.write_all(name.as_bytes())
                    .and_then(|()| out.write_all(b"\n"))
                    .map_err(Error::Write)?;
                return Ok(());
            }
            Sink::Count(tar) => {
                // The content counted as the zeros it would be padded to, without opening it.
                let content = match kind {
                    EntryKind::File { size, .. } => size.div_ceil(512) * 512,
                    EntryKind::Symlink { .. } => 0,
                };
                append_head(tar, &name, kind, mtime)
                    .and_then(|()| write_zeros(tar.get_mut(), content))
                    .map_err(Error::Write)?;
            }
            Sink::Tar(tar) => {
                // A file is opened before anything of it is written, so a file that cannot be
                // opened leaves no header behind.
                let reader = match (kind, opener) {
                    (EntryKind::File { size, .. }, Some(open)) => Some(ExactReader {
                        inner: open()?,
                        remaining: *size,
                        expected: *size,
                        name: &name,
                        failure: None,
                    }),
                    (EntryKind::File { .. }, None) => {
                        return Err(Error::scanner(
                            "builder",
                            format!("`{name}` has no content"),
                        ));
                    }
                    (EntryKind::Symlink { .. }, _) => None,
                };
                // tar writes the header (and a long-name entry before it, if needed); the
                // content is read straight into the output buffer rather than through the
                // 8 KiB stack buffer of `tar`'s `io::copy`. The bytes are the same: header,
                // content, zeros to the next 512-byte block.
                let written = append_head(tar, &name, kind, mtime);
                if let Some(mut reader) = reader {
                    let copied = written.and_then(|()| tar.get_mut().copy_entry(&mut reader));
                    if let Some(failure) = reader.failure {
                        return Err(failure);
                    }
                    copied.map_err(Error::Write)?;
                } else {
                    written.map_err(Error::Write)?;
                }
            }
        }
        match kind {
            EntryKind::Symlink { .. } => self.stats.symlinks += 1,
            EntryKind::File { size, .. } => {
                self.stats.files += 1;
                self.stats.content_bytes += size;
            }
        }
        Ok(())
    }

    fn remember(&mut self, name: &EntryName, origin: String) -> crate::Result<()> {
        let index = match self.origins.last() {
            Some(last) if *last == origin => self.origins.len() - 1,
            _ => {
                self.origins.push(origin);
                self.origins.len() - 1
            }
        };
        if let Some(&first) = self.seen.get(name) {
            return Err(Error::Duplicate {
                name: name.to_string(),
                first: self.origins[first].clone(),
                second: self.origins[index].clone(),
            });
        }
        // A tar that holds `link -> /etc` and then `link/passwd` makes the extractor write
        // through the link: the SpiroFS server would write outside the deployment. So no entry
        // may sit below a file or symlink, in either order.
        if let Some(&first) = self.dirs.get(name.as_bytes()) {
            return Err(Error::PathConflict {
                entry: format!("{name}/…"),
                parent: name.to_string(),
                first: self.origins[first].clone(),
                second: self.origins[index].clone(),
            });
        }
        let bytes = name.as_bytes();
        for (end, _) in bytes.iter().enumerate().filter(|(_, b)| **b == b'/') {
            let parent = &bytes[..end];
            if let Some((parent_name, &first)) = self.seen.get_key_value(parent) {
                return Err(Error::PathConflict {
                    entry: name.to_string(),
                    parent: parent_name.to_string(),
                    first: self.origins[first].clone(),
                    second: self.origins[index].clone(),
                });
            }
        }
        for (end, _) in bytes.iter().enumerate().filter(|(_, b)| **b == b'/') {
            self.dirs.entry(bytes[..end].to_vec()).or_insert(index);
        }
        self.seen.insert(name.clone(), index);
        Ok(())
    }

    /// Writes the end-of-archive marker, flushes, and returns the writer.
    pub fn finish(self) -> crate::Result<W> {
        match self.sink {
            Sink::Tar(tar) => tar
                .into_inner()
                .and_then(OutBuf::into_inner)
                .map_err(Error::Write),
            Sink::List(out) => out.into_inner().map_err(|e| Error::Write(e.into_error())),
            Sink::Count(tar) => tar.into_inner().map_err(Error::Write),
        }
    }
}

/// The tar header of an entry, before its name (which `tar` sets, with a long-name entry if
/// needed) and checksum.
/// Writes what tar writes of an entry before its content: all of a symlink, and a file's
/// header (after a long-name entry, where the name needs one). Shared by the real and the
/// counting sinks, so that the count is the bundle's length by construction.
fn append_head<T: Write>(
    tar: &mut tar::Builder<T>,
    name: &EntryName,
    kind: &EntryKind,
    mtime: u64,
) -> io::Result<()> {
    let mut header = header_for(kind, mtime);
    match kind {
        EntryKind::Symlink { target } => {
            tar.append_link(&mut header, name.as_path(), crate::name::bytes_path(target))
        }
        EntryKind::File { .. } => tar.append_data(&mut header, name.as_path(), io::empty()),
    }
}

fn header_for(kind: &EntryKind, mtime: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_mtime(mtime);
    header.set_uid(0);
    header.set_gid(0);
    match kind {
        EntryKind::Symlink { .. } => {
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_mode(0o777);
            header.set_size(0);
        }
        EntryKind::File { size, executable } => {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(if *executable { 0o755 } else { 0o644 });
            header.set_size(*size);
        }
    }
    header
}

/// Writes `len` zero bytes (a counting writer's stand-in for content).
fn write_zeros(out: &mut dyn Write, mut len: u64) -> io::Result<()> {
    static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
    while len > 0 {
        let n = len.min(ZEROS.len() as u64) as usize;
        out.write_all(&ZEROS[..n])?;
        len -= n as u64;
    }
    Ok(())
}

/// The skip policy of the builder's own scans: version-control metadata.
fn skip_vcs(candidate: &Candidate<'_>) -> bool {
    candidate
        .path
        .file_name()
        .is_some_and(|name| is_vcs_metadata(os_bytes(name)))
}

/// Whether `should_skip` refuses `name` or any directory above it.
fn skipped_by(name: &EntryName, should_skip: &ShouldSkip<'_>) -> bool {
    let bytes = name.as_bytes();
    let mut dirs = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'/')
        .map(|(i, _)| i);
    dirs.any(|end| {
        should_skip(&Candidate {
            path: crate::name::bytes_path(&bytes[..end]),
            is_dir: true,
        })
    }) || should_skip(&Candidate {
        path: name.as_path(),
        is_dir: false,
    })
}

/// The safe bundle name for an artifact path, under `_artifacts/`.
///
/// The path is normalised lexically (`./a`, `a/./b`, `a/../b` fold away). A relative path that
/// stays inside the working directory keeps its shape; an absolute path or one that climbs out
/// with `..` keeps only its file name, so nothing can land outside `_artifacts/`.
///
/// ```
/// use spiro_bundle::artifact_name;
/// use std::path::Path;
/// assert_eq!(artifact_name(Path::new("build/eggs")).unwrap().to_string(), "build/eggs");
/// assert_eq!(artifact_name(Path::new("./build/../dist/app.tar")).unwrap().to_string(), "dist/app.tar");
/// assert_eq!(artifact_name(Path::new("/tmp/out/app.tar")).unwrap().to_string(), "app.tar");
/// assert_eq!(artifact_name(Path::new("../sibling/app.tar")).unwrap().to_string(), "app.tar");
/// assert!(artifact_name(Path::new("..")).is_none());
/// ```
pub fn artifact_name(path: &Path) -> Option<EntryName> {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    let mut escapes = false;
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    escapes = true;
                }
            }
            Component::RootDir | Component::Prefix(_) => escapes = true,
        }
    }
    if escapes {
        let last = path.components().next_back()?;
        let Component::Normal(file_name) = last else {
            return None;
        };
        return EntryName::new(os_bytes(file_name)).ok();
    }
    let joined: Vec<u8> = parts
        .iter()
        .map(|p| os_bytes(p))
        .collect::<Vec<_>>()
        .join(&b'/');
    EntryName::new(joined).ok()
}

/// The tar stream's output buffer. Unlike `BufWriter`, it can be filled by a reader directly:
/// [`copy_entry`](OutBuf::copy_entry) reads an entry's content into its free space, so content
/// is copied once (kernel to buffer) before it is written, in `WRITE_BUFFER`-sized writes.
struct OutBuf<W: Write> {
    buf: Box<[u8]>,
    len: usize,
    out: W,
}

impl<W: Write> OutBuf<W> {
    fn new(out: W) -> OutBuf<W> {
        OutBuf {
            buf: vec![0; WRITE_BUFFER].into_boxed_slice(),
            len: 0,
            out,
        }
    }

    /// Writes out what is buffered.
    fn flush_buf(&mut self) -> io::Result<()> {
        let result = self.out.write_all(&self.buf[..self.len]);
        self.len = 0;
        result
    }

    /// Copies `data` to its end into the stream, then zeros to the next 512-byte block, as
    /// `tar::Builder::append_data` does.
    fn copy_entry(&mut self, data: &mut dyn Read) -> io::Result<()> {
        let mut copied = 0u64;
        loop {
            if self.len == self.buf.len() {
                self.flush_buf()?;
            }
            match data.read(&mut self.buf[self.len..]) {
                Ok(0) => break,
                Ok(n) => {
                    self.len += n;
                    copied += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let padding = (512 - copied % 512) % 512;
        self.write_all(&[0; 512][..padding as usize])
    }

    fn into_inner(mut self) -> io::Result<W> {
        self.flush_buf()?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for OutBuf<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.len == self.buf.len() {
            self.flush_buf()?;
        }
        let n = data.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&data[..n]);
        self.len += n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_buf()?;
        self.out.flush()
    }
}

/// Reads exactly the size the scanner announced and records why it could not, so that the
/// builder can tell a failing source (named after its path or entry) from a failing writer.
struct ExactReader<'n, 'r> {
    inner: Box<dyn Read + 'r>,
    remaining: u64,
    expected: u64,
    name: &'n EntryName,
    failure: Option<Error>,
}

impl ExactReader<'_, '_> {
    fn fail(&mut self, error: Error) -> io::Error {
        self.failure = Some(error);
        io::Error::other("the entry's source failed")
    }

    fn size_changed(&mut self, found: String) -> io::Error {
        let error = Error::SizeChanged {
            name: self.name.to_string(),
            expected: self.expected,
            found,
        };
        self.fail(error)
    }

    fn source_error(&mut self, error: io::Error) -> io::Error {
        let error = match error.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            true => *error
                .into_inner()
                .expect("checked")
                .downcast::<Error>()
                .expect("checked"),
            false => {
                Error::scanner_with("builder", format!("reading `{}` failed", self.name), error)
            }
        };
        self.fail(error)
    }
}

impl Read for ExactReader<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            // One more read tells a file that grew from one that ended where announced.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe) {
                Ok(0) => Ok(0),
                Ok(_) => Err(self.size_changed("more bytes when read".into())),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
                Err(e) => Err(self.source_error(e)),
            };
        }
        let max = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        match self.inner.read(&mut buf[..max]) {
            Ok(0) => {
                let read = self.expected - self.remaining;
                Err(self.size_changed(format!("only {read} when read")))
            }
            Ok(n) => {
                self.remaining -= n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => Err(self.source_error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The content copy bypasses `tar::Builder::append_data`'s own copy; the bytes must be
    /// exactly what `append_data` writes, at every size around the block and buffer edges.
    #[test]
    fn content_copy_writes_what_append_data_writes() {
        let sizes = [
            0,
            1,
            511,
            512,
            513,
            WRITE_BUFFER - 1,
            WRITE_BUFFER,
            WRITE_BUFFER + 1,
            3 * WRITE_BUFFER + 7,
        ];
        let long = format!("{}/long-name.txt", "d".repeat(120));
        let mut ours = Builder::new(Vec::new());
        let mut reference = tar::Builder::new(Vec::new());
        for (i, size) in sizes.into_iter().enumerate() {
            let data: Vec<u8> = (0..size).map(|b| (b * 7 + i) as u8).collect();
            for name in [format!("f{i}"), format!("{long}{i}")] {
                ours.add_virtual(&EntryName::new(name.as_str()).unwrap(), &data)
                    .unwrap();
                let mut header = tar::Header::new_gnu();
                header.set_mtime(0);
                header.set_uid(0);
                header.set_gid(0);
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(0o644);
                header.set_size(size as u64);
                reference
                    .append_data(&mut header, &name, &data[..])
                    .unwrap();
            }
        }
        assert!(ours.finish().unwrap() == reference.into_inner().unwrap());
    }

    /// `counting` must give the exact length `new` writes, long names and links included.
    #[cfg(unix)]
    #[test]
    fn counting_gives_the_length_of_the_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let deep = format!("{}/{}", "n".repeat(90), "m".repeat(90));
        std::fs::create_dir_all(root.join("_salt")).unwrap();
        std::fs::create_dir_all(root.join("src").join(&deep)).unwrap();
        std::fs::write(root.join("_salt/top.sls"), "base: {}\n").unwrap();
        for size in [0usize, 1, 511, 512, 513, WRITE_BUFFER + 3] {
            std::fs::write(root.join(format!("src/f{size}")), vec![b'x'; size]).unwrap();
            std::fs::write(
                root.join("src").join(&deep).join(format!("g{size}")),
                vec![b'y'; size],
            )
            .unwrap();
        }
        std::os::unix::fs::symlink(format!("../{deep}/g1"), root.join("src/link")).unwrap();
        std::os::unix::fs::symlink("f1", root.join("src").join(&deep).join("l".repeat(120)))
            .unwrap();
        std::fs::write(root.join("app.bin"), vec![7u8; 70_000]).unwrap();

        fn fill<W: Write>(builder: &mut Builder<W>, root: &Path) {
            builder.source_date_epoch(Some(1_700_000_000));
            builder
                .add_gitcommit(&GitCommit {
                    hash: "0".repeat(40),
                    describe: "heads/main".into(),
                })
                .unwrap();
            builder.add_saltdir(&root.join("_salt")).unwrap();
            builder
                .add_artifact(&root.join("app.bin"), &EntryName::new("app.bin").unwrap())
                .unwrap();
            builder
                .add_source(&FsScanner::new(root).exclude("_salt"))
                .unwrap();
        }
        let mut counting = Builder::counting();
        fill(&mut counting, root);
        let counted_stats = counting.stats();
        let mut real = Builder::new(Vec::new());
        fill(&mut real, root);
        assert_eq!(counted_stats, real.stats());
        assert_eq!(
            counting.finish().unwrap().bytes(),
            real.finish().unwrap().len() as u64
        );
    }
}
