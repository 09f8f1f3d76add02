//! The bundle builder: composes scanners into one tar stream in the SpiroFS layout.
//!
//! [`layout`] says where things go, [`written`] refuses names that clash, [`sink`] writes (or
//! lists, or counts) what is accepted; this module holds the `add_*` methods that feed them.

mod layout;
mod links;
mod sink;
mod written;

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use spiro_scanner::{Candidate, EntryKind, EntryName, Scanner, ShouldSkip, bytes_path};
use spiro_scanners::exclusion::{resolves_into_vcs_metadata, skip_vcs_metadata, source_policy};
use spiro_scanners::{FsScanner, GitCommit, entry_from_disk};

use crate::{Error, Refusal};
pub use layout::{ARTIFACTS_DIR, GITCOMMIT_FILE, SOURCE_DIR, artifact_name};
pub use links::LinkEscape;
pub use sink::{ByteCount, MAX_BUNDLE_SIZE, MAX_ENTRY_SIZE, TakeBuffers};
use sink::{CountSink, ListSink, Sink, TarSink};
use written::WrittenNames;

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

/// Where a builder's entries go; each sink is its own type (see [`sink`]).
enum Output<W: Write> {
    Tar(TarSink<W>),
    List(ListSink<W>),
    Count(CountSink<W>),
}

impl<W: Write> Output<W> {
    fn sink(&mut self) -> &mut dyn Sink {
        match self {
            Output::Tar(sink) => sink,
            Output::List(sink) => sink,
            Output::Count(sink) => sink,
        }
    }

    fn finish(self) -> crate::Result<W> {
        match self {
            Output::Tar(sink) => sink.finish(),
            Output::List(sink) => sink.finish(),
            Output::Count(sink) => sink.finish(),
        }
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
/// use spiro_bundle::Builder;
/// use spiro_scanner::EntryName;
/// use spiro_scanners::FsScanner;
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
    output: Output<W>,
    mtime_clamp: Option<u64>,
    written: WrittenNames,
    /// Paths the builder's own directory walks leave out (see [`Builder::exclude`]).
    excluded: Vec<PathBuf>,
    /// Whether symlinks may point out of the bundle (see [`Builder::allow_symlinks_out`]).
    allow_symlinks_out: bool,
    stats: Stats,
}

impl Builder<ByteCount> {
    /// A builder that opens no file and writes nothing, but counts exactly the bytes the same
    /// calls on [`Builder::new`] would write (headers, long-name entries, content, padding,
    /// the end marker), from the sizes the scanners announce: the length of an upload body,
    /// known before the upload starts. A file whose size changes before it is written makes
    /// the real build fail ([`Error::SizeChanged`]), so a wrong count cannot go unnoticed.
    ///
    /// ```
    /// use spiro_bundle::Builder;
    /// use spiro_scanner::EntryName;
    /// let name = EntryName::new("motd").unwrap();
    /// let mut counting = Builder::counting();
    /// counting.add_virtual(&name, b"hello\n")?;
    /// let mut builder = Builder::new(Vec::new());
    /// builder.add_virtual(&name, b"hello\n")?;
    /// assert_eq!(counting.finish()?.bytes(), builder.finish()?.len() as u64);
    /// # Ok::<(), spiro_bundle::Error>(())
    /// ```
    pub fn counting() -> Builder<ByteCount> {
        Builder::with_output(Output::Count(CountSink::new(std::convert::identity)))
    }
}

impl<W: TakeBuffers> Builder<W> {
    /// A builder like [`Builder::new`] that hands `out` its filled buffers whole (file
    /// contents are read straight into them) instead of writing from them: the same bytes,
    /// one copy fewer when `out` would only have copied them elsewhere.
    pub fn handing_buffers(out: W) -> Builder<W> {
        Builder::with_output(Output::Tar(TarSink::handing_buffers(out)))
    }
}

impl<W: Write> Builder<W> {
    /// A builder that writes an uncompressed tar to `out`. `out` need not be buffered.
    pub fn new(out: W) -> Builder<W> {
        Builder::with_output(Output::Tar(TarSink::new(out)))
    }

    /// A builder that writes the names of the entries it would bundle, one per line, and opens
    /// no file: what `spiro-deploy --list` prints.
    ///
    /// ```
    /// use spiro_bundle::Builder;
    /// use spiro_scanner::EntryName;
    /// let mut builder = Builder::listing(Vec::new());
    /// builder.add_virtual(&EntryName::new("a").unwrap(), b"")?;
    /// assert_eq!(builder.finish()?, b"a\n");
    /// # Ok::<(), spiro_bundle::Error>(())
    /// ```
    pub fn listing(out: W) -> Builder<W> {
        Builder::with_output(Output::List(ListSink::new(out)))
    }

    fn with_output(output: Output<W>) -> Builder<W> {
        Builder {
            output,
            mtime_clamp: None,
            written: WrittenNames::default(),
            excluded: Vec::new(),
            allow_symlinks_out: false,
            stats: Stats::default(),
        }
    }

    /// Clamps every mtime to `epoch` (seconds since the Unix epoch), as the reproducible-builds
    /// `SOURCE_DATE_EPOCH` convention asks. Virtual entries get `epoch` itself (0 without it).
    pub fn source_date_epoch(&mut self, epoch: Option<u64>) -> &mut Builder<W> {
        self.mtime_clamp = epoch;
        self
    }

    /// Allows symlinks whose target is absolute or climbs out of the bundle (refused by
    /// default, with [`Error::SymlinkOutside`]).
    ///
    /// The risk: SpiroFS extracts links as they are and its fileserver follows them, so
    /// `_salt/key -> /etc/salt/pki/master/master.pem` hands the master's private key to any
    /// minion that asks for `salt://key`. Allow it only for trees whose every committer may
    /// read every file the master can.
    pub fn allow_symlinks_out(&mut self, allow: bool) -> &mut Builder<W> {
        self.allow_symlinks_out = allow;
        self
    }

    /// Makes the tar longer than `len` bytes an error ([`Error::LongerThanAnnounced`]) naming
    /// the entry that crosses it: for a stream sent with a `Content-Length` counted beforehand
    /// with [`Builder::counting`]. No effect on a listing or counting builder.
    pub fn announced_len(&mut self, len: u64) -> &mut Builder<W> {
        if let Output::Tar(sink) = &mut self.output {
            sink.announced_len(len);
        }
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
        self.add_scanner_as(None, &scanner, &skip_vcs_metadata, origin)
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
    /// refused here too (`.git/config` can hold credentials), even when named explicitly or
    /// reached through a symlink (judged by what `path` resolves to).
    pub fn add_artifact(&mut self, path: &Path, name: &EntryName) -> crate::Result<()> {
        let refused = |reason| Error::Refused {
            path: path.to_path_buf(),
            reason,
        };
        let vcs = resolves_into_vcs_metadata(path)
            || name
                .components()
                .any(spiro_scanners::exclusion::is_vcs_metadata);
        if vcs {
            return Err(refused(Refusal::VcsMetadata));
        }
        let full = layout::under(ARTIFACTS_DIR, name);
        let meta = fs::metadata(path).map_err(|e| spiro_scanner::Error::read(path, e))?;
        let origin = format!("the artifact `{}`", path.display());
        if meta.is_dir() {
            let scanner = self.dir_scanner(path);
            return self.add_scanner_as(Some(&full), &scanner, &skip_vcs_metadata, origin);
        }
        let Some(entry) = entry_from_disk(full, path.to_path_buf(), &meta)? else {
            return Err(refused(Refusal::NotFileOrDirectory));
        };
        let (name, kind, mtime) = entry.into_parts();
        self.write(name, kind, mtime, &origin)
    }

    /// Adds `data` as a file called `name`.
    pub fn add_virtual(&mut self, name: &EntryName, data: &[u8]) -> crate::Result<()> {
        let data = data.to_vec();
        let kind = EntryKind::File {
            size: data.len() as u64,
            executable: false,
            open: Box::new(move || Ok(Box::new(io::Cursor::new(data)) as Box<dyn Read>)),
        };
        let mtime = self.mtime_clamp.unwrap_or(0);
        self.write(
            name.clone(),
            kind,
            mtime,
            &format!("the virtual file `{name}`"),
        )
    }

    /// Adds `.gitcommit`: the hash on line 1 and the `git describe --all` output on line 2.
    ///
    /// ```
    /// use spiro_bundle::Builder;
    /// use spiro_scanners::GitCommit;
    /// let mut builder = Builder::listing(Vec::new());
    /// let commit = GitCommit { hash: "1a2b".repeat(10), describe: "heads/main".into() };
    /// builder.add_gitcommit(&commit)?;
    /// assert_eq!(builder.finish()?, b".gitcommit\n");
    /// # Ok::<(), spiro_bundle::Error>(())
    /// ```
    pub fn add_gitcommit(&mut self, commit: &GitCommit) -> crate::Result<()> {
        let content = layout::gitcommit_content(commit);
        self.add_virtual(&layout::top(GITCOMMIT_FILE), content.as_bytes())
    }

    /// Adds what `scanner` yields under `_source/`, leaving out any path with a component
    /// named `_salt` and, unless the scanner yields a commit's content, version-control
    /// metadata ([`source_policy`](spiro_scanners::exclusion::source_policy)). The policy is
    /// checked again on every name yielded, so a plugin that ignores it is held to it too.
    /// Call it once per scanner to compose several; a name produced twice is an error that
    /// names both scanners.
    pub fn add_source(&mut self, scanner: &dyn Scanner) -> crate::Result<()> {
        let prefix = layout::top(SOURCE_DIR);
        self.add_scanner(Some(&prefix), scanner, source_policy(scanner))
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
            let (name, kind, mtime) = entry?.into_parts();
            // Scanners are asked to honour `should_skip`; checking again here means a plugin
            // that forgets cannot smuggle a skipped path (`.git/config`) into the bundle.
            if skipped_by(&name, should_skip) {
                continue;
            }
            let full = match prefix {
                Some(prefix) => prefix.join(&name),
                None => name,
            };
            self.write(full, kind, mtime, &origin)?;
        }
        Ok(())
    }

    fn write(
        &mut self,
        name: EntryName,
        kind: EntryKind<'_>,
        mtime: u64,
        origin: &str,
    ) -> crate::Result<()> {
        if let EntryKind::Symlink { target } = &kind
            && !self.allow_symlinks_out
            && let Err(reason) = links::check_link(&name, target)
        {
            return Err(Error::SymlinkOutside {
                name: name.to_string(),
                target: String::from_utf8_lossy(target).into_owned(),
                origin: origin.to_owned(),
                reason,
            });
        }
        self.written.insert(&name, origin)?;
        let mtime = self.mtime_clamp.map_or(mtime, |clamp| mtime.min(clamp));
        let counted = match &kind {
            EntryKind::Symlink { .. } => None,
            EntryKind::File { size, .. } => Some(*size),
        };
        if let Some(size) = counted
            && size > MAX_ENTRY_SIZE
        {
            return Err(Error::TooLarge {
                name: name.to_string(),
                size,
                limit: MAX_ENTRY_SIZE,
            });
        }
        let sink = self.output.sink();
        sink.append(&name, kind, mtime)?;
        if !sink.keeps_stats() {
            return Ok(());
        }
        match counted {
            None => self.stats.symlinks += 1,
            Some(size) => {
                self.stats.files += 1;
                self.stats.content_bytes = self.stats.content_bytes.saturating_add(size);
            }
        }
        Ok(())
    }

    /// Writes the end-of-archive marker, flushes, and returns the writer.
    pub fn finish(self) -> crate::Result<W> {
        self.output.finish()
    }
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
            path: bytes_path(&bytes[..end]),
            is_dir: true,
        })
    }) || should_skip(&Candidate {
        path: name.as_path(),
        is_dir: false,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use spiro_scanners::{FsScanner, GitCommit};

    use super::sink::WRITE_BUFFER;
    use super::*;

    /// Adds files of every size around the block and buffer edges, each under a short and a
    /// long name, to `ours` and to `reference`, `tar::Builder::append_data`'s way.
    fn add_edge_sizes<W: Write>(ours: &mut Builder<W>, reference: &mut tar::Builder<Vec<u8>>) {
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
    }

    /// The content copy bypasses `tar::Builder::append_data`'s own copy; the bytes must be
    /// exactly what `append_data` writes, at every size around the block and buffer edges.
    #[test]
    fn content_copy_writes_what_append_data_writes() {
        let mut ours = Builder::new(Vec::new());
        let mut reference = tar::Builder::new(Vec::new());
        add_edge_sizes(&mut ours, &mut reference);
        assert!(ours.finish().unwrap() == reference.into_inner().unwrap());
    }

    /// A [`TakeBuffers`] output that keeps what it is handed, and hands back stale buffers
    /// of assorted lengths, as a recycling pool would.
    #[derive(Default)]
    struct Taker {
        stream: Vec<u8>,
        pieces: Vec<usize>,
    }

    impl Write for Taker {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            panic!("a builder handing buffers wrote through `write`");
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl TakeBuffers for Taker {
        fn take_buffer(&mut self, full: Vec<u8>) -> io::Result<Vec<u8>> {
            self.stream.extend_from_slice(&full);
            self.pieces.push(full.len());
            let lengths = [0, 100, WRITE_BUFFER, WRITE_BUFFER + 5000];
            Ok(vec![0xAA; lengths[self.pieces.len() % lengths.len()]])
        }
    }

    /// Handing buffers over gives the same bytes as writing them, in whole buffers but the
    /// last, whatever length and content the buffers handed back have.
    #[test]
    fn handing_buffers_gives_the_bytes_new_writes() {
        let mut ours = Builder::handing_buffers(Taker::default());
        let mut reference = tar::Builder::new(Vec::new());
        add_edge_sizes(&mut ours, &mut reference);
        let taker = ours.finish().unwrap();
        assert!(taker.stream == reference.into_inner().unwrap());
        let (last, whole) = taker.pieces.split_last().unwrap();
        assert!(whole.len() > 4, "{:?}", taker.pieces);
        assert!(
            whole.iter().all(|&n| n == WRITE_BUFFER),
            "{:?}",
            taker.pieces
        );
        assert!((1..=WRITE_BUFFER).contains(last));
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
