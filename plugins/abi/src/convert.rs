//! Between the ABI's byte strings and Rust slices and paths. The host and the SDK both use
//! these, so the two sides of the boundary read the header's rules with the same code.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// Borrows the `len` bytes at `ptr`: a string lent across the boundary (header rule 1). A NULL
/// pointer or a zero length is the empty string.
///
/// # Safety
/// Unless `len` is 0 or `ptr` is NULL, `ptr` must point to `len` readable bytes that stay valid
/// and unchanged for `'a`.
pub unsafe fn lent<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: the caller's promise.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

/// A path as the ABI passes it: its bytes on Unix; elsewhere UTF-8 with `/` separators.
pub fn path_bytes(path: &Path) -> Cow<'_, [u8]> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Cow::Borrowed(path.as_os_str().as_bytes())
    }
    #[cfg(not(unix))]
    {
        Cow::Owned(path.to_string_lossy().replace('\\', "/").into_bytes())
    }
}

/// The path whose ABI bytes are `bytes` (the inverse of [`path_bytes`]).
pub fn bytes_path(bytes: &[u8]) -> PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
    }
    #[cfg(not(unix))]
    {
        PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip_and_null_is_empty() {
        let path = Path::new("src/dépôt/main.rs");
        assert_eq!(bytes_path(&path_bytes(path)), path);
        // SAFETY: a NULL pointer is allowed and means the empty string.
        assert_eq!(unsafe { lent(std::ptr::null(), 5) }, b"");
        let text = b"hello";
        // SAFETY: `text` is 5 readable bytes that outlive the borrow.
        assert_eq!(unsafe { lent(text.as_ptr(), 5) }, b"hello");
    }
}
