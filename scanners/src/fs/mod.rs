//! The `fs` scanner: walks a directory on disk.

mod gitignore;
mod read_ahead;
mod walk;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use spiro_scanner::{Entries, Entry, EntryName, Error, Scanner, ShouldSkip};
use spiro_scanner::{OptionError, OptionInfo, ScannerOptions};

use std::sync::Arc;

use crate::disk::{Tree, entry_below};
use crate::walk_ahead::WalkAhead;
use gitignore::GitIgnores;
use read_ahead::{FsWalk, ReadAhead};
use walk::{LeftOut, Walk, WalkItem};

/// The file that excludes paths from an [`FsScanner`] by default, in gitignore syntax.
pub const IGNORE_FILE: &str = ".spiroignore";

/// Walks a directory tree in sorted order, yielding regular files and symlinks (never following
/// them); other kinds of file (sockets, FIFOs, devices) are passed over, since opening a FIFO
/// would block the deploy forever.
///
/// Configured like `ignore::WalkBuilder`: construct, chain options, then [`scan`](Scanner::scan).
///
/// ```no_run
/// use spiro_scanner::Scanner;
/// use spiro_scanners::FsScanner;
/// let scanner = FsScanner::new(".").exclude("_salt");
/// for entry in scanner.scan(&|_| false)? {
///     println!("{}", entry?.name());
/// }
/// # Ok::<(), spiro_scanner::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct FsScanner {
    root: PathBuf,
    ignore_file: Option<String>,
    excluded: Vec<PathBuf>,
    read_ahead: Option<usize>,
    gitignore: bool,
}

impl FsScanner {
    /// A scanner of everything below `root`, honouring `root/.spiroignore` when it exists.
    pub fn new(root: impl Into<PathBuf>) -> FsScanner {
        FsScanner {
            root: root.into(),
            ignore_file: Some(IGNORE_FILE.to_owned()),
            excluded: Vec::new(),
            read_ahead: None,
            gitignore: false,
        }
    }

    /// The options the `fs` scanner takes on the command line (`--include-source=fs,KEY=VALUE`),
    /// each matching a method of the same name.
    pub const OPTIONS: &'static [OptionInfo] = &[OptionInfo::new(
        "gitignore",
        "also leave out what .gitignore files, .git/info/exclude and git's global excludes file ignore",
        "false",
    )];

    /// Applies options given as text (`gitignore=true`), checked against [`FsScanner::OPTIONS`]:
    /// the command line's way to configure the scanner. Code can call the methods directly.
    pub fn options(self, options: &ScannerOptions) -> Result<FsScanner, OptionError> {
        let options = options.reader("fs", Self::OPTIONS)?;
        Ok(self.gitignore(options.bool("gitignore")?))
    }

    /// Whether to leave out, on top of `.spiroignore`, what git would ignore: patterns in
    /// `.gitignore` files at every depth, in `.git/info/exclude` and in git's global excludes
    /// file (`core.excludesFile`, or `$XDG_CONFIG_HOME/git/ignore`), with git's precedence.
    /// Off by default: a deploy of a work tree bundles build outputs that are usually ignored.
    pub fn gitignore(mut self, yes: bool) -> FsScanner {
        self.gitignore = yes;
        self
    }

    /// How many threads read small files ahead of the builder (`0`: none, every file is read
    /// when its entry is written). A tree of small files costs more in opening them than in
    /// copying them, and the opening can overlap the builder's writing; the entries, their
    /// order, the errors and the bundle's bytes are the same either way. The default is one
    /// fewer than the cores, at least one and at most three. At most 4 MiB of content is held
    /// ahead, files over 256 KiB are never read ahead, and nothing is read ahead until the first
    /// entry is opened (so counting or listing a scan reads no file).
    pub fn read_ahead(mut self, workers: usize) -> FsScanner {
        self.read_ahead = Some(workers);
        self
    }

    /// Which file at the root holds gitignore-style exclusions (`None`: no such file). The
    /// `_salt` directory and artifacts are bundled whole, so the builder turns this off there.
    pub fn ignore_file(mut self, file_name: Option<&str>) -> FsScanner {
        self.ignore_file = file_name.map(str::to_owned);
        self
    }

    /// Leaves out `path` (relative to the root, or absolute) and everything below it. Used for
    /// `_salt` and for a bundle being written inside the tree it bundles.
    pub fn exclude(mut self, path: impl AsRef<Path>) -> FsScanner {
        let path = path.as_ref();
        let full = if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.root.join(path)
        };
        self.excluded.push(full.canonicalize().unwrap_or(full));
        self
    }

    /// The directory this scanner walks.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn load_ignore(&self) -> spiro_scanner::Result<Option<Gitignore>> {
        let Some(file_name) = &self.ignore_file else {
            return Ok(None);
        };
        let path = self.root.join(file_name);
        match fs::metadata(&path) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::read(path, e)),
        }
        // Rooted at `.`: the walk matches paths relative to the root, and a matcher rooted at
        // a relative root (`proj`) would strip it from a path that merely starts with those
        // bytes (`project/x`).
        let mut builder = GitignoreBuilder::new(".");
        if let Some(err) = builder.add(&path) {
            return Err(Error::scanner_with(
                "fs",
                format!("cannot use `{}`", path.display()),
                err,
            ));
        }
        let matcher = builder.build().map_err(|e| {
            Error::scanner_with("fs", format!("cannot use `{}`", path.display()), e)
        })?;
        Ok(Some(matcher))
    }
}

impl Scanner for FsScanner {
    fn name(&self) -> &str {
        "fs"
    }

    fn scan<'s>(&'s self, should_skip: &'s ShouldSkip<'s>) -> spiro_scanner::Result<Entries<'s>> {
        let meta = fs::metadata(&self.root).map_err(|e| Error::read(&self.root, e))?;
        if !meta.is_dir() {
            return Err(Error::read(
                &self.root,
                io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
            ));
        }
        let spiroignore = self.load_ignore()?;
        // Files are opened relative to the root's descriptor, through no symlink.
        let tree = Arc::new(Tree::open(&self.root)?);
        let gitignores = if self.gitignore {
            Some(GitIgnores::load(&tree)?)
        } else {
            None
        };
        // Excluded paths are canonical. The walk never follows a symlink, so the canonical
        // root joined with an entry's relative path is that entry's canonical path: an
        // excluded path is compared, relative to the canonical root, with the entries' own
        // relative paths (one `realpath` for the scan, no path built per entry).
        let canonical_root = canonical(&self.root);
        let excluded = self
            .excluded
            .iter()
            .filter_map(|path| path.strip_prefix(&canonical_root).ok())
            .filter(|rel| !rel.as_os_str().is_empty())
            // Rebuilt from its components: clean (no `a//b`, no `a/./b`), as the walk's are.
            .map(|rel| rel.components().collect())
            .collect();
        let walk = Walk::new(
            Arc::clone(&tree),
            LeftOut {
                excluded,
                spiroignore,
                gitignores,
                should_skip,
            },
        );
        let workers = self
            .read_ahead
            .unwrap_or_else(crate::ahead::default_workers);
        match ReadAhead::start(workers, Arc::clone(&tree)) {
            Some(read_ahead) => Ok(Box::new(WalkAhead::new(
                FsWalk::new(walk, tree, read_ahead),
                false,
            ))),
            None => {
                Ok(Box::new(walk.filter_map(move |item| {
                    entry_for(&tree, item).transpose()
                })))
            }
        }
    }
}

/// A walked path that may become an entry, with its name in the bundle.
pub(crate) struct Walked {
    pub(crate) walked: walkdir::DirEntry,
    pub(crate) name: EntryName,
    /// Its path relative to the scan's root.
    pub(crate) rel: PathBuf,
}

/// The walk item checked and named; `None` for a directory.
pub(crate) fn walked(root: &Path, item: WalkItem) -> spiro_scanner::Result<Option<Walked>> {
    let entry = item?;
    if entry.file_type().is_dir() {
        return Ok(None);
    }
    let path = entry.path();
    let rel = path.strip_prefix(root).unwrap_or(path);
    let name = EntryName::from_path(rel).map_err(|reason| Error::UnsafeName {
        scanner: "fs".into(),
        name: rel.display().to_string(),
        reason,
    })?;
    let rel = rel.to_path_buf();
    Ok(Some(Walked {
        walked: entry,
        name,
        rel,
    }))
}

fn entry_for<'s>(tree: &Arc<Tree>, item: WalkItem) -> spiro_scanner::Result<Option<Entry<'s>>> {
    match walked(tree.root(), item)? {
        Some(walked) => walked.into_entry(tree),
        None => Ok(None),
    }
}

impl Walked {
    /// The entry for the walked path, as the walk saw it (`lstat`; no file is opened).
    pub(crate) fn into_entry<'s>(
        self,
        tree: &Arc<Tree>,
    ) -> spiro_scanner::Result<Option<Entry<'s>>> {
        let meta = self
            .walked
            .metadata()
            .map_err(|e| Error::read(self.walked.path(), io::Error::from(e)))?;
        entry_below(self.name, Arc::clone(tree), self.rel, &meta)
    }
}

/// `path` made canonical, or, for a file that does not exist yet (a bundle about to be
/// written), its canonical parent joined with its name.
fn canonical(path: &Path) -> PathBuf {
    if let Ok(canonical) = path.canonicalize() {
        return canonical;
    }
    match (
        path.parent().and_then(|p| p.canonicalize().ok()),
        path.file_name(),
    ) {
        (Some(parent), Some(name)) => parent.join(name),
        _ => path.to_path_buf(),
    }
}
