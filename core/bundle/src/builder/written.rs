//! The registry of names written so far: no name twice, nothing below a file or symlink.
//!
//! It holds every name of the bundle, so its size is what grows with the number of entries.
//! Kept compactly (about 16 bytes a name at a million entries instead of about 100), and
//! exactly: a fingerprint only ever says "maybe", which the full names then settle.
//! - `fingerprints`: 44 bits of a keyed hash of every name, in sorted shards. A name whose
//!   fingerprint is absent was certainly not written; one whose fingerprint is present is looked
//!   up in `log`, so a hash collision costs a scan, never a wrong answer.
//! - `log`: every name in the order written, front-coded (the bytes it shares with the name
//!   before it are not stored again: scanners walk trees, so consecutive names share their
//!   directory), with where each came from.
//! - `dirs`: every directory the names imply, exactly, with the origin of the first entry below
//!   it. There are far fewer directories than names, and each is looked up only when the walk
//!   enters a directory other than the last name's.
//!
//! The checks make no assumption about the order names come in: a plugin may yield them in any
//! order and is held to the same rules.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use spiro_scanner::EntryName;

use crate::Error;

/// Every name written, and every directory those names imply, each with where it came from.
pub(super) struct WrittenNames {
    fingerprints: Fingerprints,
    log: NameLog,
    /// Every directory the names written so far imply (`a` and `a/b` for `a/b/c`), with the
    /// origin of the first entry below it: a file or symlink may not take such a name, and
    /// nothing may be written below a file or symlink.
    dirs: HashMap<Box<[u8]>, u32>,
    /// The directory of the last name written: it and every directory above it are in `dirs`.
    last_parent: Vec<u8>,
    origins: Vec<String>,
    /// Keyed per registry, so that no tree can be made whose names collide on purpose.
    hasher: RandomState,
    /// How many bits of the hash a fingerprint keeps: [`FINGERPRINT_BITS`] (tests make it tiny,
    /// so that every lookup goes through the collision path).
    fingerprint_bits: u32,
}

/// The bits of a name's hash kept: 12 choose the shard, 32 are stored. Two names share a
/// fingerprint with odds of about n / 2^44 per name (a scan of `log` in 30,000 at a million).
const FINGERPRINT_BITS: u32 = 44;

impl Default for WrittenNames {
    fn default() -> WrittenNames {
        WrittenNames::with_fingerprint_bits(FINGERPRINT_BITS)
    }
}

impl WrittenNames {
    fn with_fingerprint_bits(fingerprint_bits: u32) -> WrittenNames {
        WrittenNames {
            fingerprints: Fingerprints {
                shards: Vec::new(),
                count: 1 << fingerprint_bits.saturating_sub(32),
            },
            log: NameLog::default(),
            dirs: HashMap::new(),
            last_parent: Vec::new(),
            origins: Vec::new(),
            hasher: RandomState::new(),
            fingerprint_bits,
        }
    }

    fn fingerprint(&self, bytes: &[u8]) -> Fingerprint {
        let hash = self.hasher.hash_one(bytes) & ((1u64 << self.fingerprint_bits) - 1);
        Fingerprint {
            shard: (hash >> 32) as usize,
            key: hash as u32,
        }
    }

    /// The origin of `name` if it was written.
    fn written(&self, name: &[u8]) -> Option<u32> {
        if !self.fingerprints.contains(self.fingerprint(name)) {
            return None;
        }
        self.log.find(name)
    }

    /// Records `name`, from `origin`, or says why it cannot be written.
    pub(super) fn insert(&mut self, name: &EntryName, origin: &str) -> crate::Result<()> {
        let index = match self.origins.last() {
            Some(last) if last == origin => self.origins.len() - 1,
            _ => {
                self.origins.push(origin.to_owned());
                self.origins.len() - 1
            }
        };
        let origin_of = |first: u32| self.origins[first as usize].clone();
        let bytes = name.as_bytes();
        if let Some(first) = self.written(bytes) {
            return Err(Error::Duplicate {
                name: name.to_string(),
                first: origin_of(first),
                second: origin_of(index as u32),
            });
        }
        // A tar that holds `link -> /etc` and then `link/passwd` makes the extractor write
        // through the link: the SpiroFS server would write outside the deployment. So no entry
        // may sit below a file or symlink, in either order.
        if let Some(&first) = self.dirs.get(bytes) {
            return Err(Error::PathConflict {
                entry: format!("{name}/…"),
                parent: name.to_string(),
                first: origin_of(first),
                second: origin_of(index as u32),
            });
        }
        let parent = &bytes[..bytes.iter().rposition(|b| *b == b'/').unwrap_or(0)];
        // The directories this name adds, deepest first. Once one is known, every one above
        // it is too (they were added with it), and none of them can be a name (that would
        // have been refused), so the walk up stops there.
        let mut new_dirs = 0;
        if parent != self.last_parent.as_slice() {
            for dir in ancestors(parent) {
                if self.dirs.contains_key(dir) {
                    break;
                }
                if let Some(first) = self.written(dir) {
                    return Err(Error::PathConflict {
                        entry: name.to_string(),
                        parent: String::from_utf8_lossy(dir).into_owned(),
                        first: origin_of(first),
                        second: origin_of(index as u32),
                    });
                }
                new_dirs += 1;
            }
        }
        for dir in ancestors(parent).take(new_dirs) {
            self.dirs.insert(dir.into(), index as u32);
        }
        if parent != self.last_parent.as_slice() {
            self.last_parent.clear();
            self.last_parent.extend_from_slice(parent);
        }
        self.fingerprints.insert(self.fingerprint(bytes));
        self.log.push(bytes, index as u32);
        Ok(())
    }
}

/// `dir` and every directory above it, deepest first (`a/b/c`, `a/b`, `a`); none for `""`.
fn ancestors(dir: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = (!dir.is_empty()).then_some(dir);
    std::iter::from_fn(move || {
        let current = rest?;
        rest = current
            .iter()
            .rposition(|b| *b == b'/')
            .map(|end| &current[..end]);
        Some(current)
    })
}

#[derive(Clone, Copy)]
struct Fingerprint {
    shard: usize,
    key: u32,
}

/// A set of fingerprints: 4,096 sorted shards of 32-bit keys, 4 bytes (and some slack) a name.
struct Fingerprints {
    /// Empty until the first insert.
    shards: Vec<Vec<u32>>,
    /// How many shards there are once there are any.
    count: usize,
}

impl Fingerprints {
    fn contains(&self, print: Fingerprint) -> bool {
        self.shards
            .get(print.shard)
            .is_some_and(|shard| shard.binary_search(&print.key).is_ok())
    }

    fn insert(&mut self, print: Fingerprint) {
        if self.shards.is_empty() {
            self.shards = vec![Vec::new(); self.count];
        }
        let shard = &mut self.shards[print.shard];
        if let Err(at) = shard.binary_search(&print.key) {
            shard.insert(at, print.key);
        }
    }
}

/// Every name in the order written, front-coded in blocks, with the origin of each.
///
/// A record is `shared` (varint: bytes shared with the name before it in the same block),
/// `len` (varint: bytes that follow), then those bytes. Each block starts from nothing, so it
/// decodes on its own; blocks are allocated at their final size, so the log never holds spare
/// capacity beyond the last block, nor is it ever copied to grow.
#[derive(Default)]
struct NameLog {
    blocks: Vec<Vec<u8>>,
    /// The last name pushed (what the next record shares bytes with).
    last: Vec<u8>,
    /// Names pushed so far.
    count: u64,
    /// `(first record, origin)` at every change of origin, in record order.
    origins: Vec<(u64, u32)>,
}

const LOG_BLOCK: usize = 64 * 1024;

impl NameLog {
    fn push(&mut self, name: &[u8], origin: u32) {
        if self.origins.last().is_none_or(|&(_, last)| last != origin) {
            self.origins.push((self.count, origin));
        }
        let mut shared = self
            .last
            .iter()
            .zip(name)
            .take_while(|(a, b)| a == b)
            .count();
        let need = |shared: usize| 2 * VARINT_MAX + name.len() - shared;
        let fits = self
            .blocks
            .last()
            .is_some_and(|block| block.capacity() - block.len() >= need(shared));
        if !fits {
            shared = 0;
            self.blocks.push(Vec::with_capacity(LOG_BLOCK.max(need(0))));
        }
        let block = self.blocks.last_mut().expect("a block was just pushed");
        put_varint(block, shared);
        put_varint(block, name.len() - shared);
        block.extend_from_slice(&name[shared..]);
        self.last.clear();
        self.last.extend_from_slice(name);
        self.count += 1;
    }

    /// The origin of `name`, if it was pushed: a scan of the whole log.
    fn find(&self, name: &[u8]) -> Option<u32> {
        let mut current = Vec::new();
        let mut record = 0u64;
        for block in &self.blocks {
            current.clear();
            let mut rest = block.as_slice();
            while !rest.is_empty() {
                let shared = take_varint(&mut rest);
                let len = take_varint(&mut rest);
                let (suffix, after) = rest.split_at(len);
                rest = after;
                current.truncate(shared);
                current.extend_from_slice(suffix);
                if current == name {
                    let change = self.origins.partition_point(|&(first, _)| first <= record);
                    return Some(self.origins[change - 1].1);
                }
                record += 1;
            }
        }
        None
    }
}

/// The most bytes a `usize` takes as a varint.
const VARINT_MAX: usize = usize::BITS.div_ceil(7) as usize;

fn put_varint(out: &mut Vec<u8>, mut value: usize) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn take_varint(input: &mut &[u8]) -> usize {
    let mut value = 0;
    let mut shift = 0;
    loop {
        let byte = input[0];
        *input = &input[1..];
        value |= usize::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return value;
        }
        shift += 7;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The registry as it was before it was made compact: two hash maps of every name and
    /// directory. Exact and obviously right; the compact one must answer exactly as it does.
    #[derive(Default)]
    struct Reference {
        seen: HashMap<Vec<u8>, usize>,
        dirs: HashMap<Vec<u8>, usize>,
        origins: Vec<String>,
    }

    impl Reference {
        fn insert(&mut self, name: &EntryName, origin: &str) -> crate::Result<()> {
            let index = match self.origins.last() {
                Some(last) if last == origin => self.origins.len() - 1,
                _ => {
                    self.origins.push(origin.to_owned());
                    self.origins.len() - 1
                }
            };
            let bytes = name.as_bytes();
            if let Some(&first) = self.seen.get(bytes) {
                return Err(Error::Duplicate {
                    name: name.to_string(),
                    first: self.origins[first].clone(),
                    second: self.origins[index].clone(),
                });
            }
            if let Some(&first) = self.dirs.get(bytes) {
                return Err(Error::PathConflict {
                    entry: format!("{name}/…"),
                    parent: name.to_string(),
                    first: self.origins[first].clone(),
                    second: self.origins[index].clone(),
                });
            }
            for (end, _) in bytes.iter().enumerate().filter(|(_, b)| **b == b'/') {
                if let Some(&first) = self.seen.get(&bytes[..end]) {
                    return Err(Error::PathConflict {
                        entry: name.to_string(),
                        parent: String::from_utf8_lossy(&bytes[..end]).into_owned(),
                        first: self.origins[first].clone(),
                        second: self.origins[index].clone(),
                    });
                }
            }
            for (end, _) in bytes.iter().enumerate().filter(|(_, b)| **b == b'/') {
                self.dirs.entry(bytes[..end].to_vec()).or_insert(index);
            }
            self.seen.insert(bytes.to_vec(), index);
            Ok(())
        }
    }

    /// Feeds `names` (with their origins) to the reference and to the compact registry with
    /// `bits`-bit fingerprints (so that lookups collide) and, when `full`, with the real ones,
    /// and compares every answer.
    fn agree(names: &[(&[u8], &str)], bits: u32, full: bool) {
        let mut reference = Reference::default();
        let mut compact = full.then(WrittenNames::default);
        let mut colliding = WrittenNames::with_fingerprint_bits(bits);
        for (name, origin) in names {
            let name = EntryName::new(*name).unwrap();
            let want = reference.insert(&name, origin).map_err(|e| e.to_string());
            if let Some(compact) = &mut compact {
                let got = compact.insert(&name, origin).map_err(|e| e.to_string());
                assert_eq!(got, want, "{names:?}");
            }
            let got_colliding = colliding.insert(&name, origin).map_err(|e| e.to_string());
            assert_eq!(got_colliding, want, "{names:?}");
            if want.is_err() {
                // The builder stops at the first refusal.
                return;
            }
        }
    }

    /// Every sequence of up to four names from a small set that nests and sorts awkwardly
    /// (`a.b` sorts between `a` and `a/b` in byte order, after `a/b` in a directory walk),
    /// from one or two origins: the compact registry answers exactly as the reference.
    #[test]
    fn agrees_with_the_reference_on_every_short_sequence() {
        let pool: [&[u8]; 8] = [
            b"a", b"a/b", b"a.b", b"a/b/c", b"a/c", b"b", b"a.b/c", b"b/a",
        ];
        let origins = ["one", "two"];
        let mut sequence = Vec::new();
        fn each(
            pool: &[&'static [u8]],
            origins: &[&'static str],
            sequence: &mut Vec<(&'static [u8], &'static str)>,
            depth: usize,
        ) {
            // Two-bit fingerprints: nearly every lookup collides and is settled by the log.
            agree(sequence, 2, false);
            if depth == 0 {
                return;
            }
            for name in pool {
                for origin in origins {
                    sequence.push((name, origin));
                    each(pool, origins, sequence, depth - 1);
                    sequence.pop();
                }
            }
        }
        each(&pool, &origins, &mut sequence, 4);
    }

    /// Long sequences across many log blocks and shards, sorted and shuffled, with the
    /// duplicate or conflict placed far from what it clashes with.
    #[test]
    fn agrees_with_the_reference_at_scale() {
        let mut names: Vec<Vec<u8>> = (0..20_000u32)
            .map(|i| format!("d{}/e{}/f{i}.txt", i % 37, i % 11).into_bytes())
            .collect();
        names.sort();
        let clashes: [&[u8]; 4] = [b"d3/e3/f3.txt", b"d5/e5", b"d7/e7/f7.txt/x", b"d0/new"];
        for clash in clashes {
            for shuffled in [false, true] {
                let mut sequence: Vec<(&[u8], &str)> =
                    names.iter().map(|n| (n.as_slice(), "walk")).collect();
                if shuffled {
                    // A fixed permutation: plugins may yield in any order.
                    let len = sequence.len();
                    for i in 0..len {
                        sequence.swap(i, (i * 7919 + 13) % len);
                    }
                }
                sequence.push((clash, "plugin"));
                // Twenty-bit fingerprints: about one lookup in fifty collides.
                agree(&sequence, 20, true);
            }
        }
    }

    #[test]
    fn the_log_finds_every_name_with_its_origin() {
        let mut log = NameLog::default();
        let long = "x".repeat(3 * LOG_BLOCK);
        let names: Vec<String> = (0..30_000)
            .map(|i| format!("dir{}/name{i}", i / 100))
            .chain([long.clone(), format!("{long}/y"), "z".into()])
            .collect();
        for (i, name) in names.iter().enumerate() {
            log.push(name.as_bytes(), (i / 1000) as u32);
        }
        for (i, name) in names.iter().enumerate().step_by(97).chain([
            (30_000, &names[30_000]),
            (30_001, &names[30_001]),
            (30_002, &names[30_002]),
        ]) {
            assert_eq!(log.find(name.as_bytes()), Some((i / 1000) as u32), "{name}");
        }
        assert_eq!(log.find(b"dir0/name"), None);
        assert_eq!(log.find(b"x"), None);
    }

    #[test]
    fn ancestors_are_listed_deepest_first() {
        let listed: Vec<&[u8]> = ancestors(b"a/b/c").collect();
        assert_eq!(listed, [&b"a/b/c"[..], b"a/b", b"a"]);
        assert_eq!(ancestors(b"").count(), 0);
    }
}
