//! Entries from what is on disk: stat results made into entries, and files opened for them.
//! A leaf: the `fs` walk and its read-ahead both build on it.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::PathBuf;
use std::time::UNIX_EPOCH;

use spiro_scanner::{Entry, EntryName, Error, os_bytes};

/// The entry for what is at `path` on disk, as `meta` describes it: a regular file (opened
/// only when written, read errors naming `path`), a symlink (stored as a link, with its
/// target as on disk), or `None` for a directory, socket, FIFO or device, which are never
/// bundled. Pass `fs::symlink_metadata` to store a symlink as such, `fs::metadata` to
/// follow it. What the `fs` scanner yields for each path, for scanners and plugins that
/// find files their own way.
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
    let mtime = mtime_of(meta);
    let file_type = meta.file_type();
    if file_type.is_symlink() {
        let target = fs::read_link(&path).map_err(|e| Error::read(&path, e))?;
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
        move || open_file(path),
    )))
}

/// Opens the file at `path` for an entry's content; errors name the path.
pub(crate) fn open_file(path: PathBuf) -> spiro_scanner::Result<Box<dyn Read>> {
    let file = File::open(&path).map_err(|e| Error::read(&path, e))?;
    Ok(Box::new(PathReader { file, path }))
}

/// Attributes read errors to the file, so a failing disk names the file and not the entry.
struct PathReader {
    file: File,
    path: PathBuf,
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
