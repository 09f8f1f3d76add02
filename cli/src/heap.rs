//! Handing freed heap memory back to the system during long scans.
//!
//! glibc's allocator keeps what a program frees for reuse and gives back only the top of the
//! heap. A walk over a million git entries frees millions of small blocks (names, tree
//! entries, tree buffers) between the long-lived ones (the registry of written names, which
//! grows all along). In about one run in three the freed regions end up where neither reuse
//! nor trimming reaches them, and the heap peaks at twice its live size: 48–63 MiB for a
//! million-entry `--list` against 30 MiB in the other runs (bench/RESULTS.md, item 19).
//! `malloc_trim` also releases the whole pages inside free regions in the middle of the heap;
//! called every [`TRIM_EVERY`] entries it holds every run near the live size, for about a
//! millisecond in all at a million entries.
//!
//! This is the allocator's policy, so the binary sets it, not the libraries: a program that
//! uses `spiro-bundle` with another allocator has no use for it.

use spiro_scanner::{Entries, Scanner, ShouldSkip};

/// How many entries a scan yields between two trims: few enough that the freed memory stays a
/// few MiB, many enough that trimming costs nothing measurable.
pub const TRIM_EVERY: u64 = 65_536;

/// A scanner yielding what `inner` yields, releasing freed heap memory every
/// [`TRIM_EVERY`] entries.
pub struct Trimming<S> {
    inner: S,
    every: u64,
    trim: fn(),
}

impl<S: Scanner> Trimming<S> {
    /// `inner`, trimming the heap as it goes.
    pub fn new(inner: S) -> Trimming<S> {
        Trimming {
            inner,
            every: TRIM_EVERY,
            trim: release_freed_memory,
        }
    }
}

impl<S: Scanner> Scanner for Trimming<S> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn scan<'s>(&'s self, should_skip: &'s ShouldSkip<'s>) -> spiro_scanner::Result<Entries<'s>> {
        let entries = self.inner.scan(should_skip)?;
        let (every, trim) = (self.every, self.trim);
        let mut yielded = 0u64;
        Ok(Box::new(entries.inspect(move |_| {
            yielded += 1;
            if yielded.is_multiple_of(every) {
                trim();
            }
        })))
    }

    fn yields_commit_content(&self) -> bool {
        self.inner.yields_commit_content()
    }
}

/// Gives the whole free pages of glibc's heaps back to the system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_freed_memory() {
    // SAFETY: malloc_trim only walks the allocator's own free lists, under its own locks; it
    // touches no memory that is in use, so it is sound at any time, from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other C libraries give freed memory back by themselves, or offer no way to ask.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_freed_memory() {}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use spiro_scanner::{Entry, EntryName};

    use super::*;

    /// Yields `count` empty files.
    struct Files(usize);

    impl Scanner for Files {
        fn name(&self) -> &str {
            "files"
        }
        fn scan<'s>(&'s self, _: &'s ShouldSkip<'s>) -> spiro_scanner::Result<Entries<'s>> {
            Ok(Box::new((0..self.0).map(|i| {
                let name = EntryName::new(format!("f{i}")).expect("a valid name");
                Ok(Entry::file(name, 0, false, 0, || {
                    Ok(Box::new(&b""[..]) as _)
                }))
            })))
        }
        fn yields_commit_content(&self) -> bool {
            true
        }
    }

    static TRIMS: AtomicUsize = AtomicUsize::new(0);

    fn count_trim() {
        TRIMS.fetch_add(1, Ordering::SeqCst);
    }

    #[test]
    fn yields_the_same_entries_and_trims_every_so_many() {
        let trimming = Trimming {
            inner: Files(7),
            every: 3,
            trim: count_trim,
        };
        assert_eq!(trimming.name(), "files");
        assert!(trimming.yields_commit_content());
        let names: Vec<String> = trimming
            .scan(&|_| false)
            .expect("the scan starts")
            .map(|entry| entry.expect("an entry").name().to_string())
            .collect();
        assert_eq!(names, ["f0", "f1", "f2", "f3", "f4", "f5", "f6"]);
        assert_eq!(TRIMS.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn trimming_for_real_is_harmless() {
        let trimming = Trimming {
            inner: Files(4),
            every: 1,
            trim: release_freed_memory,
        };
        assert_eq!(trimming.scan(&|_| false).expect("starts").count(), 4);
    }
}
