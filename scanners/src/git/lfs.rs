//! Git LFS (`lfs=true`): a pointer file replaced by its object from the local LFS store.
//!
//! A file on a path marked `filter=lfs` is stored in the repository as a small pointer
//! ([the spec](https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md)):
//!
//! ```text
//! version https://git-lfs.github.com/spec/v1
//! oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393
//! size 12345
//! ```
//!
//! and its content lives in `$GIT_COMMON_DIR/lfs/objects/4d/7a/4d7a2146…` once `git lfs fetch`
//! has brought it. The walk reads the pointer (under 1 KiB) and checks the object is there at
//! the pointer's size with one `stat`, so counting and listing never read an object; the
//! content is streamed from disk when it is written, its SHA-256 checked as it goes. A file
//! under `filter=lfs` that is not a pointer is bundled as it is, as git-lfs's smudge does.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use sha2::{Digest, Sha256};
use spiro_scanner::Error;

use super::GitError;
use crate::disk::{Seen, Tree};

/// git-lfs never takes a blob larger than this for a pointer (its `blobSizeCutoff`).
pub(super) const MAX_POINTER: u64 = 1024;

/// The first line of every pointer: the current spec, and the one before git-lfs was renamed.
const VERSIONS: [&str; 2] = [
    "https://git-lfs.github.com/spec/v1",
    "https://hawser.github.com/spec/v1",
];

/// A parsed pointer file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Pointer {
    /// The object's SHA-256, 64 lower-case hex digits.
    pub(super) oid: String,
    /// The object's size in bytes.
    pub(super) size: u64,
    /// Whether the pointer names extensions (`ext-N-name`), which only git-lfs can undo.
    pub(super) extensions: bool,
}

impl Pointer {
    /// `data` as a pointer, or `None` if it is not one (the file is then bundled as it is).
    /// Strict, as git-lfs is: `key value` lines ending in `\n`, `version` first, the other
    /// keys sorted and unique, `oid sha256:<64 hex>` and `size <decimal>` present.
    pub(super) fn parse(data: &[u8]) -> Option<Pointer> {
        if data.len() as u64 > MAX_POINTER {
            return None;
        }
        let text = std::str::from_utf8(data).ok()?;
        let body = text.strip_suffix('\n')?;
        let mut lines = body.split('\n');
        let version = lines.next()?.strip_prefix("version ")?;
        if !VERSIONS.contains(&version) {
            return None;
        }
        let (mut oid, mut size, mut extensions) = (None, None, false);
        let mut previous: Option<&str> = None;
        for line in lines {
            let (key, value) = line.split_once(' ')?;
            let key_ok = !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b));
            if !key_ok || previous.is_some_and(|p| p >= key) || key == "version" {
                return None;
            }
            previous = Some(key);
            match key {
                "oid" => {
                    let hex = value.strip_prefix("sha256:")?;
                    let valid = hex.len() == 64
                        && hex
                            .bytes()
                            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                    oid = Some(valid.then(|| hex.to_owned())?);
                }
                "size" => {
                    let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
                    size = Some(value.parse().ok().filter(|_| digits)?);
                }
                _ if key.starts_with("ext-") => extensions = true,
                // Unknown keys are allowed by the spec and mean nothing to a reader.
                _ => {}
            }
        }
        Some(Pointer {
            oid: oid?,
            size: size?,
            extensions,
        })
    }

    /// The object's path below the store's `objects` directory: `ab/cd/abcd…`.
    fn relative_path(&self) -> PathBuf {
        Path::new(&self.oid[0..2])
            .join(&self.oid[2..4])
            .join(&self.oid)
    }
}

/// The LFS store of one repository: `$GIT_COMMON_DIR/lfs/objects`, or `<lfs.storage>/objects`.
///
/// The `objects` directory itself may be a link (a store moved to another disk); below it,
/// objects are opened through no symlink. Whatever is reached, only content whose SHA-256 is
/// the committed pointer's completes an entry, so a link cannot smuggle in another file.
#[derive(Debug)]
pub(super) struct Store {
    objects: PathBuf,
    /// The `objects` directory held open once an object is read: objects are opened below it
    /// through no symlink.
    tree: OnceLock<Arc<Tree>>,
}

impl Store {
    /// The store of `repo`, honouring `lfs.storage` (absolute, or relative to the git
    /// directory, as git-lfs takes it).
    pub(super) fn of(repo: &gix::Repository) -> Store {
        let common = repo.common_dir();
        let storage = repo
            .config_snapshot()
            .trusted_path("lfs.storage")
            .ok()
            .flatten()
            .filter(|path| !path.as_os_str().is_empty())
            .map_or_else(|| common.join("lfs"), |path| common.join(path));
        Store {
            objects: storage.join("objects"),
            tree: OnceLock::new(),
        }
    }

    /// Checks that the object of `pointer` (the file `name` of the bundle) is in the store at
    /// the pointer's size, without reading it; returns what was seen, for the open to check.
    pub(super) fn check(&self, name: &str, pointer: &Pointer) -> Result<Seen, Error> {
        let path = self.objects.join(pointer.relative_path());
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(GitError::LfsObjectMissing {
                    path: name.to_owned(),
                    object: path,
                }
                .into());
            }
            Err(e) => return Err(Error::read(path, e)),
        };
        let corrupt = |what: String| -> Error {
            GitError::LfsObjectCorrupt {
                path: name.to_owned(),
                object: path.clone(),
                what,
            }
            .into()
        };
        if !meta.is_file() {
            return Err(corrupt("it is not a regular file".into()));
        }
        if meta.len() != pointer.size {
            return Err(corrupt(format!(
                "it has {} bytes, the pointer says {}",
                meta.len(),
                pointer.size
            )));
        }
        Ok(Seen::of(&meta))
    }

    /// Opens the object of `pointer` (checked by [`Store::check`] as `seen`) for the file
    /// `name`: a reader that fails on the last byte if the content is not the pointer's.
    pub(super) fn open(
        &self,
        name: &str,
        pointer: &Pointer,
        seen: Seen,
    ) -> Result<Box<dyn Read>, Error> {
        let tree = match self.tree.get() {
            Some(tree) => Arc::clone(tree),
            None => {
                let tree = Arc::new(Tree::open(&self.objects)?);
                Arc::clone(self.tree.get_or_init(|| tree))
            }
        };
        let relative = pointer.relative_path();
        let (file, _) = tree.open_file(&relative, Some(seen))?;
        Ok(Box::new(Verified {
            file,
            path: self.objects.join(relative),
            name: name.to_owned(),
            expected_oid: pointer.oid.clone(),
            remaining: pointer.size,
            hash: Sha256::new(),
        }))
    }
}

/// An LFS object's content, hashed as it is read: the read that completes the announced size
/// fails instead if the SHA-256 is not the pointer's, so a corrupt object never completes an
/// entry.
struct Verified {
    file: File,
    path: PathBuf,
    name: String,
    expected_oid: String,
    remaining: u64,
    hash: Sha256,
}

impl Read for Verified {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            // Past the announced size: the builder's probe for a grown file.
            return self.file.read(buf).map_err(|e| self.read_error(e));
        }
        let max = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self
            .file
            .read(&mut buf[..max])
            .map_err(|e| self.read_error(e))?;
        self.hash.update(&buf[..n]);
        self.remaining -= n as u64;
        if self.remaining == 0 {
            let found = hex(&std::mem::take(&mut self.hash).finalize());
            if found != self.expected_oid {
                let error: Error = GitError::LfsObjectCorrupt {
                    path: self.name.clone(),
                    object: self.path.clone(),
                    what: format!("its SHA-256 is {found}, not the pointer's"),
                }
                .into();
                return Err(io::Error::other(error));
            }
        }
        Ok(n)
    }
}

impl Verified {
    fn read_error(&self, e: io::Error) -> io::Error {
        if e.kind() == io::ErrorKind::Interrupted {
            e
        } else {
            io::Error::other(Error::read(&self.path, e))
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OID: &str = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393";

    fn pointer(text: &str) -> Option<Pointer> {
        Pointer::parse(text.as_bytes())
    }

    #[test]
    fn a_pointer_as_git_lfs_writes_it_parses() {
        let text =
            format!("version https://git-lfs.github.com/spec/v1\noid sha256:{OID}\nsize 12345\n");
        assert_eq!(
            pointer(&text),
            Some(Pointer {
                oid: OID.into(),
                size: 12345,
                extensions: false
            })
        );
        let old = text.replace("git-lfs.github.com", "hawser.github.com");
        assert!(pointer(&old).is_some());
        let with_ext = format!(
            "version https://git-lfs.github.com/spec/v1\next-0-foo sha256:{OID}\noid sha256:{OID}\nsize 1\n"
        );
        assert!(pointer(&with_ext).unwrap().extensions);
        assert_eq!(
            pointer(&format!(
                "version https://git-lfs.github.com/spec/v1\noid sha256:{OID}\nsize 0\n"
            ))
            .unwrap()
            .size,
            0
        );
    }

    #[test]
    fn anything_else_is_not_a_pointer() {
        let good =
            format!("version https://git-lfs.github.com/spec/v1\noid sha256:{OID}\nsize 5\n");
        let bad = [
            String::new(),
            "hello\n".into(),
            good.trim_end().into(),             // no final newline
            good.replace('\n', "\r\n"),         // CRLF
            good.replace("spec/v1", "spec/v2"), // unknown version
            good.replace("size 5\n", ""),       // no size
            good.replace("size 5", "size -5"),  // not a number
            good.replace("size 5", "size +5"),  // not plain digits
            good.replace("size 5", "size 99999999999999999999999"), // overflows
            good.replace("sha256:", "sha1:"),   // another hash
            good.replace(OID, &OID.to_uppercase()), // upper-case hex
            good.replace(OID, &OID[1..]),       // too short
            format!("version https://git-lfs.github.com/spec/v1\nsize 5\noid sha256:{OID}\n"), // unsorted
            format!("oid sha256:{OID}\nversion https://git-lfs.github.com/spec/v1\nsize 5\n"), // version not first
            format!("{good}size 5\n"),             // repeated key
            format!("{good}{}", "x".repeat(1024)), // too long
        ];
        for text in bad {
            assert_eq!(pointer(&text), None, "{text:?}");
        }
    }

    #[test]
    fn hex_is_lower_case_and_padded() {
        assert_eq!(hex(&[0, 1, 0xab, 0xff]), "0001abff");
    }
}
