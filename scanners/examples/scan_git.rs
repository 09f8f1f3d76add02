//! Reads every file of the `HEAD` commit of the repository containing a directory, as a
//! bundle would, and prints how many files and bytes and how long it took: for comparing
//! with `time git archive HEAD >/dev/null`.
//!
//! `cargo run --release -p spiro-scanners --example scan_git -- <dir>`

use std::io::Read;
use std::time::Instant;

use spiro_scanner::{EntryKind, Scanner};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| ".".into());
    let start = Instant::now();
    let scanner = spiro_scanners::GitScanner::new(dir);
    let (mut files, mut bytes) = (0u64, 0u64);
    let mut buf = Vec::new();
    for entry in scanner.scan(&|_| false)? {
        let (_, kind, _) = entry?.into_parts();
        if let EntryKind::File { open, .. } = kind {
            buf.clear();
            bytes += open()?.read_to_end(&mut buf)? as u64;
            files += 1;
        }
    }
    println!("{files} files, {bytes} bytes in {:?}", start.elapsed());
    Ok(())
}
