//! Entries from what is on disk: stat results made into entries, and files opened for them.
//! A leaf: the `fs` walk and its read-ahead both build on it.
//!
//! Every open here is checked against what the walk saw. A file swapped for a symlink between
//! the walk and the open would otherwise bundle the link's target (`~/.ssh/id_rsa`), and a
//! FIFO swapped in would block the build forever. So files are opened without following a
//! symlink and without blocking (`O_NOFOLLOW | O_NONBLOCK`), then `fstat`ed, and device, inode,
//! type and size must be what the walk saw; below a walked tree they are opened relative to the
//! tree's own descriptor with no symlink anywhere on the way ([`Tree::open_file`]), so that a
//! directory swapped for a link is caught too.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use spiro_scanner::{Entry, EntryName, Error, os_bytes};

/// The entry for what is at `path` on disk, as `meta` describes it: a regular file (opened
/// only when written, read errors naming `path`), a symlink (stored as a link, with its
/// target as on disk), or `None` for a directory, socket, FIFO or device, which are never
/// bundled. Pass `fs::symlink_metadata` to store a symlink as such, `fs::metadata` to
/// follow it. What the `fs` scanner yields for each path, for scanners and plugins that
/// find files their own way.
///
/// The file is opened without blocking and must then be the very file `meta` describes (same
/// device, inode and size): one swapped since is an error ([`Error::Changed`]), never bundled.
///
/// ```
/// use spiro_scanner::{EntryKind, EntryName};
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("run.sh");
/// std::fs::write(&path, "#!/bin/sh\n")?;
/// let meta = std::fs::symlink_metadata(&path)?;
/// let entry = spiro_scanners::entry_from_disk(EntryName::new("run.sh").unwrap(), path, &meta)?.unwrap();
/// assert!(matches!(entry.kind(), EntryKind::File { size: 10, executable: false, .. }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn entry_from_disk<'s>(
    name: EntryName,
    path: PathBuf,
    meta: &fs::Metadata,
) -> spiro_scanner::Result<Option<Entry<'s>>> {
    let seen = Seen::of(meta);
    let at = path.clone();
    entry_with_opener(name, &at, meta, move || {
        open_path(&path, seen).map(|file| reader(file, path))
    })
}

/// The entry for a path the walk saw below `tree` (at `rel`), as `meta` (its `lstat`)
/// describes it; the file is opened through [`Tree::open_file`].
pub(crate) fn entry_below<'s>(
    name: EntryName,
    tree: std::sync::Arc<Tree>,
    rel: PathBuf,
    meta: &fs::Metadata,
) -> spiro_scanner::Result<Option<Entry<'s>>> {
    let seen = Seen::of(meta);
    let path = tree.root.join(&rel);
    entry_with_opener(name, &path, meta, move || {
        let (file, _) = tree.open_file(&rel, Some(seen))?;
        Ok(reader(file, tree.root.join(rel)))
    })
}

fn entry_with_opener<'s>(
    name: EntryName,
    path: &Path,
    meta: &fs::Metadata,
    open: impl FnOnce() -> spiro_scanner::Result<Box<dyn Read>> + 's,
) -> spiro_scanner::Result<Option<Entry<'s>>> {
    let mtime = mtime_of(meta);
    let file_type = meta.file_type();
    if file_type.is_symlink() {
        let target = fs::read_link(path).map_err(|e| match e.kind() {
            // The walk saw a link that is no longer one (or no longer there): a swap, reported
            // as such rather than as an unreadable file.
            io::ErrorKind::InvalidInput | io::ErrorKind::NotFound => Error::Changed {
                path: path.to_path_buf(),
                what: "no longer the symlink the walk saw".into(),
            },
            _ => Error::read(path, e),
        })?;
        return Ok(Some(Entry::symlink(
            name,
            os_bytes(target.as_os_str()).to_vec(),
            mtime,
        )));
    }
    if !file_type.is_file() {
        return Ok(None);
    }
    Ok(Some(Entry::file(
        name,
        meta.len(),
        is_executable(meta),
        mtime,
        move || open().map(|reader| reader as Box<dyn Read + 's>),
    )))
}

/// What the walk saw of a regular file, to compare with what is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Seen {
    dev: u64,
    ino: u64,
    size: u64,
}

impl Seen {
    pub(crate) fn of(meta: &fs::Metadata) -> Seen {
        #[cfg(unix)]
        let (dev, ino) = {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        };
        #[cfg(not(unix))]
        let (dev, ino) = (0, 0);
        Seen {
            dev,
            ino,
            size: meta.len(),
        }
    }
}

/// Checks that the opened `file` is a regular file and, given what the walk saw, that very
/// file at the same size; returns its metadata.
fn check_opened(
    file: &File,
    path: &Path,
    seen: Option<Seen>,
) -> spiro_scanner::Result<fs::Metadata> {
    let meta = file.metadata().map_err(|e| Error::read(path, e))?;
    let changed = |what: String| Error::Changed {
        path: path.to_path_buf(),
        what,
    };
    if !meta.is_file() {
        return Err(changed("no longer a regular file".into()));
    }
    if let Some(seen) = seen {
        let now = Seen::of(&meta);
        if (now.dev, now.ino) != (seen.dev, seen.ino) {
            return Err(changed("another file is there now".into()));
        }
        if now.size != seen.size {
            return Err(changed(format!(
                "{} bytes when walked, {} when opened",
                seen.size, now.size
            )));
        }
    }
    Ok(meta)
}

/// Opens `path` (following a symlink the caller chose to follow) without blocking, and checks
/// it is what `seen` describes.
fn open_path(path: &Path, seen: Seen) -> spiro_scanner::Result<File> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = options.open(path).map_err(|e| Error::read(path, e))?;
    check_opened(&file, path, Some(seen))?;
    Ok(file)
}

/// A walked directory tree, held open: files below it are opened relative to its descriptor,
/// through no symlink (the root itself, named by the user, is followed once when it is opened).
#[derive(Debug)]
pub(crate) struct Tree {
    root: PathBuf,
    #[cfg(unix)]
    dir: std::os::fd::OwnedFd,
}

impl Tree {
    /// Opens the directory at `root`.
    pub(crate) fn open(root: &Path) -> spiro_scanner::Result<Tree> {
        #[cfg(unix)]
        {
            use rustix::fs::{Mode, OFlags};
            let dir = rustix::fs::open(
                root,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| Error::read(root, e.into()))?;
            Ok(Tree {
                root: root.to_path_buf(),
                dir,
            })
        }
        #[cfg(not(unix))]
        Ok(Tree {
            root: root.to_path_buf(),
        })
    }

    /// The tree's root, as given.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Opens the regular file at `rel` below the tree, following no symlink and never
    /// blocking, and checks it is what the walk saw (`seen`, when the walk stat'ed it); returns
    /// it with its metadata. Errors name the path.
    pub(crate) fn open_file(
        &self,
        rel: &Path,
        seen: Option<Seen>,
    ) -> spiro_scanner::Result<(File, fs::Metadata)> {
        let path = self.root.join(rel);
        #[cfg(unix)]
        let file = match beneath::open(&self.dir, rel) {
            Ok(fd) => File::from(fd),
            Err(e) if e == rustix::io::Errno::LOOP || e == rustix::io::Errno::XDEV => {
                return Err(Error::Changed {
                    path,
                    what: "a symlink is on its path now".into(),
                });
            }
            Err(e) => return Err(Error::read(&path, e.into())),
        };
        #[cfg(not(unix))]
        let file = File::open(&path).map_err(|e| Error::read(&path, e))?;
        let meta = check_opened(&file, &path, seen)?;
        Ok((file, meta))
    }
}

#[cfg(unix)]
mod beneath {
    //! Opening a path below a directory descriptor through no symlink.

    use std::os::fd::{AsFd, OwnedFd};
    use std::path::{Component, Path};

    use rustix::fs::{Mode, OFlags};
    use rustix::io::Errno;

    /// How a file's content is opened: never through a symlink, never blocking on a FIFO, not
    /// becoming the controlling terminal, not inherited by children.
    const FILE: OFlags = OFlags::RDONLY
        .union(OFlags::NOFOLLOW)
        .union(OFlags::NONBLOCK)
        .union(OFlags::NOCTTY)
        .union(OFlags::CLOEXEC);

    #[cfg(any(target_os = "linux", target_os = "android"))]
    static OPENAT2: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

    /// Opens `rel` below `dir`: one `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`
    /// where the kernel has it (Linux 5.6), else `openat` component by component. A symlink
    /// anywhere on the way is `ELOOP` (or `EXDEV`).
    pub(super) fn open(dir: &OwnedFd, rel: &Path) -> rustix::io::Result<OwnedFd> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            use rustix::fs::ResolveFlags;
            use std::sync::atomic::Ordering;
            if OPENAT2.load(Ordering::Relaxed) {
                let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS;
                match rustix::fs::openat2(dir, rel, FILE, Mode::empty(), resolve) {
                    // No openat2 (an old kernel, or a sandbox that hides it): walk instead.
                    Err(Errno::NOSYS) => OPENAT2.store(false, Ordering::Relaxed),
                    Err(Errno::PERM) => {}
                    result => return result,
                }
            }
        }
        by_components(dir, rel)
    }

    /// The fallback: each directory opened with `O_NOFOLLOW | O_DIRECTORY` from the last.
    pub(super) fn by_components(dir: &OwnedFd, rel: &Path) -> rustix::io::Result<OwnedFd> {
        let mut parts = rel.components().peekable();
        let mut current: Option<OwnedFd> = None;
        while let Some(part) = parts.next() {
            let Component::Normal(part) = part else {
                // The walk only ever gives plain relative names; anything else would climb.
                return Err(Errno::XDEV);
            };
            let at = current.as_ref().map_or(dir.as_fd(), |fd| fd.as_fd());
            if parts.peek().is_none() {
                return rustix::fs::openat(at, part, FILE, Mode::empty());
            }
            let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            current = Some(rustix::fs::openat(at, part, flags, Mode::empty())?);
        }
        Err(Errno::INVAL)
    }
}

fn reader(file: File, path: PathBuf) -> Box<dyn Read> {
    Box::new(PathReader::new(file, path))
}

/// Attributes read errors to the file, so a failing disk names the file and not the entry.
pub(crate) struct PathReader {
    file: File,
    path: PathBuf,
}

impl PathReader {
    /// Reads `file`, opened from `path`.
    pub(crate) fn new(file: File, path: PathBuf) -> PathReader {
        PathReader { file, path }
    }
}

impl Read for PathReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::Interrupted {
                e
            } else {
                io::Error::other(Error::read(&self.path, e))
            }
        })
    }
}
#[cfg(unix)]
pub(crate) fn is_executable(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
pub(crate) fn is_executable(_meta: &fs::Metadata) -> bool {
    false
}

/// Modification time in seconds since the Unix epoch; 0 where there is none.
pub(crate) fn mtime_of(meta: &fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::symlink;
    use std::path::Path;

    use super::*;

    /// Both ways of opening below a tree: a file opens, a link anywhere on the way does not.
    #[test]
    fn no_symlink_is_followed_by_openat2_or_by_the_component_walk() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("tree");
        std::fs::create_dir_all(root.join("d")).unwrap();
        std::fs::write(root.join("d/f"), "x").unwrap();
        std::fs::write(dir.path().join("secret"), "s").unwrap();
        symlink(dir.path().join("secret"), root.join("d/link")).unwrap();
        symlink(root.join("d"), root.join("dlink")).unwrap();
        let tree = Tree::open(&root).unwrap();
        type Open = fn(&std::os::fd::OwnedFd, &Path) -> rustix::io::Result<std::os::fd::OwnedFd>;
        let ways: [(&str, Open); 2] = [
            ("openat2", beneath::open),
            ("components", beneath::by_components),
        ];
        for (way, open) in ways {
            assert!(open(&tree.dir, Path::new("d/f")).is_ok(), "{way}");
            for path in ["d/link", "dlink/f", "../secret"] {
                let err = open(&tree.dir, Path::new(path)).unwrap_err();
                assert!(
                    [
                        rustix::io::Errno::LOOP,
                        rustix::io::Errno::XDEV,
                        rustix::io::Errno::NOTDIR
                    ]
                    .contains(&err),
                    "{way} {path}: {err}"
                );
            }
        }
        let err = tree.open_file(Path::new("dlink/f"), None).unwrap_err();
        assert!(matches!(err, Error::Changed { .. }), "{err:?}");
    }
}
