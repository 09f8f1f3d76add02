//! Entry names: the only paths that ever reach the tar.
//!
//! The SpiroFS server extracts bundles without checking member names, so a name that is
//! absolute or climbs with `..` would be written outside the deployment on the master. Every
//! name is therefore validated once, here, whatever scanner produced it.

use std::fmt;
use std::path::{Component, Path};

/// A validated, relative, `/`-separated name inside the bundle, such as `_source/src/main.rs`.
///
/// Names are bytes, not `String`s, because file names on Unix and paths in git trees are bytes;
/// a non-UTF-8 name is carried intact and only displayed lossily.
///
/// ```
/// use spiro_scanner::EntryName;
/// let name = EntryName::new("src/main.rs").unwrap();
/// assert_eq!(name.join(&EntryName::new("x").unwrap()).to_string(), "src/main.rs/x");
/// assert!(EntryName::new("../etc/passwd").is_err());
/// assert!(EntryName::new("/etc/passwd").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryName(Vec<u8>);

/// Why a name was refused; see [`EntryName::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryNameError {
    /// The name is empty (or only `/` and `.` components).
    Empty,
    /// The name starts with `/`.
    Absolute,
    /// A component is `..`.
    ParentComponent,
    /// The name contains a NUL byte.
    Nul,
}

impl fmt::Display for EntryNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EntryNameError::Empty => "the name is empty",
            EntryNameError::Absolute => "the name is absolute",
            EntryNameError::ParentComponent => "the name has a `..` component",
            EntryNameError::Nul => "the name contains a NUL byte",
        })
    }
}

impl std::error::Error for EntryNameError {}

impl EntryName {
    /// Validates `name` and normalises it: empty and `.` components are dropped, so
    /// `./src//main.rs` becomes `src/main.rs`.
    pub fn new(name: impl AsRef<[u8]>) -> Result<EntryName, EntryNameError> {
        let name = name.as_ref();
        if name.contains(&0) {
            return Err(EntryNameError::Nul);
        }
        if name.first() == Some(&b'/') {
            return Err(EntryNameError::Absolute);
        }
        let mut out = Vec::with_capacity(name.len());
        for component in name.split(|&b| b == b'/') {
            match component {
                b"" | b"." => continue,
                b".." => return Err(EntryNameError::ParentComponent),
                _ => {
                    if !out.is_empty() {
                        out.push(b'/');
                    }
                    out.extend_from_slice(component);
                }
            }
        }
        if out.is_empty() {
            return Err(EntryNameError::Empty);
        }
        Ok(EntryName(out))
    }

    /// Builds a name from a relative filesystem path, as scanners that walk directories do.
    pub fn from_path(path: &Path) -> Result<EntryName, EntryNameError> {
        let mut out: Vec<u8> = Vec::new();
        for component in path.components() {
            match component {
                Component::Normal(part) => {
                    if !out.is_empty() {
                        out.push(b'/');
                    }
                    out.extend_from_slice(os_bytes(part));
                }
                Component::CurDir => {}
                Component::ParentDir => return Err(EntryNameError::ParentComponent),
                Component::RootDir | Component::Prefix(_) => return Err(EntryNameError::Absolute),
            }
        }
        EntryName::new(out)
    }

    /// `self/other`.
    pub fn join(&self, other: &EntryName) -> EntryName {
        let mut out = Vec::with_capacity(self.0.len() + 1 + other.0.len());
        out.extend_from_slice(&self.0);
        out.push(b'/');
        out.extend_from_slice(&other.0);
        EntryName(out)
    }

    /// The raw bytes, `/`-separated.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The name as a relative [`Path`], for the tar header and for `should_skip` queries.
    pub fn as_path(&self) -> &Path {
        bytes_path(&self.0)
    }

    /// The first component (`_source` for `_source/src/main.rs`).
    pub fn first_component(&self) -> &[u8] {
        self.0.split(|&b| b == b'/').next().unwrap_or(&self.0)
    }

    /// Iterates over the `/`-separated components.
    pub fn components(&self) -> impl Iterator<Item = &[u8]> {
        self.0.split(|&b| b == b'/')
    }
}

/// Lets maps keyed by names be searched with bytes (the builder looks up a name's parents).
/// `EntryName` hashes and compares exactly as its bytes do.
impl std::borrow::Borrow<[u8]> for EntryName {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for EntryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&String::from_utf8_lossy(&self.0), f)
    }
}

impl fmt::Debug for EntryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&String::from_utf8_lossy(&self.0), f)
    }
}

/// The bytes of an OS string, as names and symlink targets are stored in a bundle. On Unix
/// these are the bytes on disk; elsewhere a string that is not UTF-8 becomes a NUL, which
/// [`EntryName::new`] refuses.
#[cfg(unix)]
pub fn os_bytes(s: &std::ffi::OsStr) -> &[u8] {
    std::os::unix::ffi::OsStrExt::as_bytes(s)
}

/// The bytes of an OS string, as names and symlink targets are stored in a bundle. On Unix
/// these are the bytes on disk; elsewhere a string that is not UTF-8 becomes a NUL, which
/// [`EntryName::new`] refuses.
#[cfg(not(unix))]
pub fn os_bytes(s: &std::ffi::OsStr) -> &[u8] {
    // Non-Unix paths that are not UTF-8 cannot be named portably in a tar; they are refused
    // later as NUL-free but lossy names would be worse than an error.
    s.to_str().map(str::as_bytes).unwrap_or(b"\0")
}

/// Bytes of a name or symlink target as a [`Path`] (the inverse of [`os_bytes`]).
#[cfg(unix)]
pub fn bytes_path(b: &[u8]) -> &Path {
    Path::new(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b))
}

/// Bytes of a name or symlink target as a [`Path`] (the inverse of [`os_bytes`]).
#[cfg(not(unix))]
pub fn bytes_path(b: &[u8]) -> &Path {
    Path::new(std::str::from_utf8(b).unwrap_or("\u{fffd}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_separators_and_dots() {
        assert_eq!(EntryName::new("./a//b/./c").unwrap().as_bytes(), b"a/b/c");
        assert_eq!(EntryName::new("a/b/").unwrap().as_bytes(), b"a/b");
    }

    #[test]
    fn refuses_unsafe_names() {
        assert_eq!(EntryName::new(""), Err(EntryNameError::Empty));
        assert_eq!(EntryName::new("./."), Err(EntryNameError::Empty));
        assert_eq!(EntryName::new("/x"), Err(EntryNameError::Absolute));
        assert_eq!(
            EntryName::new("a/../../x"),
            Err(EntryNameError::ParentComponent)
        );
        assert_eq!(EntryName::new(".."), Err(EntryNameError::ParentComponent));
        assert_eq!(EntryName::new("a\0b"), Err(EntryNameError::Nul));
        assert_eq!(
            EntryName::from_path(Path::new("/abs")),
            Err(EntryNameError::Absolute)
        );
        assert_eq!(
            EntryName::from_path(Path::new("a/../b")),
            Err(EntryNameError::ParentComponent)
        );
    }

    #[test]
    fn keeps_non_ascii_and_non_utf8_bytes() {
        let name = EntryName::new("dépôt/日本.sls").unwrap();
        assert_eq!(name.to_string(), "dépôt/日本.sls");
        let raw = EntryName::new(b"a/\xff\xfe").unwrap();
        assert_eq!(raw.as_bytes(), b"a/\xff\xfe");
    }
}
