//! A property test: whatever a scanner yields (names with `..`, `.`, empty parts, absolute
//! names, NULs; files whose size is wrong; links anywhere; any order; duplicates), every tar the
//! builder writes is safe to extract, and a bad entry is an error, never a panic.
//!
//! Safe to extract means: every name is relative, with no `..`, `.` or empty part; no name
//! twice; no entry below a file or link; and every link, resolved from its own place in the
//! extracted tree and following the other links as a file system would, stays inside.

use std::collections::{HashMap, VecDeque};
use std::io::Read;

use proptest::prelude::*;
use spiro_bundle::Builder;
use spiro_scanner::{Entries, Entry, EntryName, Scanner, ShouldSkip};

/// One thing a random scanner yields.
#[derive(Clone, Debug)]
enum Yield {
    File {
        name: Vec<u8>,
        content: Vec<u8>,
        announced: u64,
    },
    Link {
        name: Vec<u8>,
        target: Vec<u8>,
    },
}

struct Random(Vec<Yield>);

impl Scanner for Random {
    fn name(&self) -> &str {
        "random"
    }
    fn scan<'s>(&'s self, _: &'s ShouldSkip<'s>) -> spiro_scanner::Result<Entries<'s>> {
        Ok(Box::new(self.0.iter().map(|item| {
            let raw = match item {
                Yield::File { name, .. } | Yield::Link { name, .. } => name,
            };
            let name =
                EntryName::new(raw.clone()).map_err(|reason| spiro_scanner::Error::UnsafeName {
                    scanner: "random".into(),
                    name: String::from_utf8_lossy(raw).into_owned(),
                    reason,
                })?;
            Ok(match item {
                Yield::File {
                    content, announced, ..
                } => {
                    let content = content.clone();
                    Entry::file(name, *announced, false, 0, move || {
                        Ok(Box::new(std::io::Cursor::new(content)) as Box<dyn Read>)
                    })
                }
                Yield::Link { target, .. } => Entry::symlink(name, target.clone(), 0),
            })
        })))
    }
}

fn part() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::sample::select(vec!["a", "b", "c", "_salt"]).prop_map(|p| p.as_bytes().to_vec()),
        2 => Just(b"..".to_vec()),
        1 => Just(b".".to_vec()),
        1 => Just(Vec::new()),
        1 => Just(b"x\0y".to_vec()),
    ]
}

/// A path of one to four parts, sometimes absolute.
fn path() -> impl Strategy<Value = Vec<u8>> {
    (any::<bool>(), prop::collection::vec(part(), 1..5)).prop_map(|(absolute, parts)| {
        let joined = parts.join(&b'/');
        if absolute {
            [b"/".as_slice(), &joined].concat()
        } else {
            joined
        }
    })
}

fn item() -> impl Strategy<Value = Yield> {
    prop_oneof![
        (path(), prop::collection::vec(any::<u8>(), 0..600), 0u8..6).prop_map(
            |(name, content, skew)| {
                let len = content.len() as u64;
                let announced = match skew {
                    0 => len + 1,
                    1 => len.saturating_sub(1),
                    _ => len,
                };
                Yield::File {
                    name,
                    content,
                    announced,
                }
            }
        ),
        (path(), path()).prop_map(|(name, target)| Yield::Link { name, target }),
    ]
}

/// What an extracted entry is.
#[derive(Debug)]
enum Kind {
    File,
    Link(Vec<u8>),
}

/// Checks that the tar in `bytes` is safe to extract (see the module docs).
fn assert_safe(bytes: &[u8]) {
    let mut archive = tar::Archive::new(bytes);
    let mut entries: HashMap<Vec<u8>, Kind> = HashMap::new();
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let name = entry.path_bytes().into_owned();
        let parts: Vec<&[u8]> = name.split(|&b| b == b'/').collect();
        assert!(
            parts
                .iter()
                .all(|p| !p.is_empty() && *p != b"." && *p != b".." && !p.contains(&0)),
            "unsafe name {:?}",
            String::from_utf8_lossy(&name)
        );
        let kind = match entry.header().entry_type() {
            tar::EntryType::Regular => Kind::File,
            tar::EntryType::Symlink => Kind::Link(entry.link_name_bytes().unwrap().into_owned()),
            other => panic!("unexpected entry type {other:?}"),
        };
        assert!(
            entries.insert(name.clone(), kind).is_none(),
            "{:?} twice",
            String::from_utf8_lossy(&name)
        );
    }
    for name in entries.keys() {
        for (end, _) in name.iter().enumerate().filter(|(_, b)| **b == b'/') {
            assert!(
                !entries.contains_key(&name[..end]),
                "{:?} below a file or link",
                String::from_utf8_lossy(name)
            );
        }
    }
    for (name, kind) in &entries {
        if let Kind::Link(target) = kind {
            let mut dir: Vec<Vec<u8>> = name.split(|&b| b == b'/').map(<[u8]>::to_vec).collect();
            dir.pop();
            assert!(
                resolves_inside(&entries, dir, target),
                "{:?} -> {:?} leads out",
                String::from_utf8_lossy(name),
                String::from_utf8_lossy(target)
            );
        }
    }
}

/// Resolves `target` from the directory `dir` as a file system would, following the bundle's
/// links (at most 40, like Linux); false if it ever climbs above the root or is absolute.
fn resolves_inside(entries: &HashMap<Vec<u8>, Kind>, mut dir: Vec<Vec<u8>>, target: &[u8]) -> bool {
    if target.starts_with(b"/") {
        return false;
    }
    let mut todo: VecDeque<Vec<u8>> = target.split(|&b| b == b'/').map(<[u8]>::to_vec).collect();
    let mut hops = 0;
    while let Some(part) = todo.pop_front() {
        match part.as_slice() {
            b"" | b"." => {}
            b".." => {
                if dir.pop().is_none() {
                    return false;
                }
            }
            _ => {
                dir.push(part);
                match entries.get(&dir.join(&b'/')) {
                    Some(Kind::Link(next)) => {
                        hops += 1;
                        if hops > 40 {
                            return true; // ELOOP: resolves nowhere
                        }
                        if next.starts_with(b"/") {
                            return false;
                        }
                        dir.pop();
                        for part in next.split(|&b| b == b'/').rev() {
                            todo.push_front(part.to_vec());
                        }
                    }
                    // A file in the middle (ENOTDIR), or the end: nothing further is reached.
                    Some(Kind::File) => return true,
                    // A directory the entries imply, or nothing (ENOENT) further down.
                    None => {}
                }
            }
        }
    }
    true
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn every_tar_the_builder_writes_is_safe_to_extract(
        batches in prop::collection::vec((any::<bool>(), prop::collection::vec(item(), 0..12)), 1..4)
    ) {
        let mut builder = Builder::new(Vec::new());
        for (at_root, items) in batches {
            let scanner = Random(items);
            // Errors are expected (bad names, wrong sizes, clashes, links out); panics are not.
            // What was accepted before an error must still make a safe tar.
            let _ = if at_root {
                builder.add_scanner(None, &scanner, &|_| false)
            } else {
                builder.add_source(&scanner)
            };
        }
        match builder.finish() {
            Ok(bytes) => assert_safe(&bytes),
            // An entry failed halfway: the builder refuses to pass the stream off as a tar.
            Err(spiro_bundle::Error::Incomplete) => {}
            Err(other) => panic!("finish failed: {other}"),
        }
    }
}
