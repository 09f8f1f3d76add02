//! When to let go of mapped pack pages.
//!
//! gix memory-maps pack files, and every page a lookup touches stays in this process's
//! resident memory for as long as the mapping lives: `--list` of a 200,000-file repository
//! through one handle ended at 700 MiB, the whole pack. Counting the bytes read (see
//! `BYTES_PER_HANDLE`) misses most of it when only object headers are read (counting a
//! deploy's length, `--list`): a header is a few bytes, but the page fault behind it maps the
//! kernel's whole fault-around window. So the scan also asks the kernel: every
//! [`CHECK_EVERY`] lookups it reads the process's file-backed resident memory
//! (`/proc/self/statm`), and when that has grown by [`GROWTH`] since its lowest point, it
//! starts a new *generation*: every repository handle of an older one is reopened before its
//! next lookup, which unmaps what it had mapped (the pages stay in the page cache, so reading
//! on costs minor faults only). Reopening on a measured growth rather than every few lookups
//! keeps the cost to one reopen per [`GROWTH`] of pack touched.
//!
//! The state is process-wide, like the memory it watches. Where `/proc` is not there, byte
//! counting alone decides.

use std::sync::atomic::{AtomicU64, Ordering};

/// Growth of file-backed resident memory that starts a new generation.
const GROWTH: u64 = 8 * 1024 * 1024;
/// Lookups between two readings of `/proc/self/statm` (a few microseconds each). A lookup
/// maps at most the fault-around window (64 KiB by default), so memory can overshoot
/// [`GROWTH`] by about 4 MiB between two readings.
const CHECK_EVERY: u64 = 64;

static LOOKUPS: AtomicU64 = AtomicU64::new(0);
static LOWEST: AtomicU64 = AtomicU64::new(u64::MAX);
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Notes one object lookup (a header, a tree, a blob) through any handle.
pub(super) fn note_lookup() {
    if !LOOKUPS
        .fetch_add(1, Ordering::Relaxed)
        .is_multiple_of(CHECK_EVERY)
    {
        return;
    }
    if let Some(now) = file_backed_resident_bytes()
        && grew(&LOWEST, now)
    {
        GENERATION.fetch_add(1, Ordering::Relaxed);
    }
}

/// Whether `now` is [`GROWTH`] above the lowest figure seen (kept in `lowest`), which then
/// starts again from `now`: the handles reopen and the figure falls, and the lowest follows
/// it down.
fn grew(lowest: &AtomicU64, now: u64) -> bool {
    let low = lowest.fetch_min(now, Ordering::Relaxed).min(now);
    if now - low >= GROWTH {
        lowest.store(now, Ordering::Relaxed);
        return true;
    }
    false
}

/// The current generation: a handle opened in an older one is due for a reopen.
pub(super) fn generation() -> u64 {
    GENERATION.load(Ordering::Relaxed)
}

/// File-backed (and shared-memory) resident memory of this process, from the third field of
/// `/proc/self/statm`, in bytes; `None` where there is no such file.
#[cfg(target_os = "linux")]
fn file_backed_resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_ascii_whitespace().nth(2)?.parse().ok()?;
    Some(pages * rustix::param::page_size() as u64)
}

#[cfg(not(target_os = "linux"))]
fn file_backed_resident_bytes() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_plausible_figure_where_proc_is_mounted() {
        if std::path::Path::new("/proc/self/statm").exists() {
            let bytes = file_backed_resident_bytes().expect("statm parses");
            // At least this test binary's own text is mapped from its file.
            assert!(bytes > 0 && bytes < 1 << 40, "{bytes}");
        }
    }

    #[test]
    fn a_new_generation_after_each_growth_from_the_lowest_point() {
        const MIB: u64 = 1024 * 1024;
        let lowest = AtomicU64::new(u64::MAX);
        assert!(!grew(&lowest, 20 * MIB), "the first figure is the lowest");
        assert!(!grew(&lowest, 27 * MIB));
        assert!(grew(&lowest, 28 * MIB), "8 MiB above 20");
        // Handles reopened: the figure falls, and growth counts from the new low.
        assert!(!grew(&lowest, 30 * MIB));
        assert!(!grew(&lowest, 21 * MIB));
        assert!(!grew(&lowest, 28 * MIB));
        assert!(grew(&lowest, 29 * MIB), "8 MiB above 21");
        assert!(!grew(&lowest, 29 * MIB), "counted from 29 now");
    }
}
