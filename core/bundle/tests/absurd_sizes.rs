//! Finding 6 of issue 10: sizes no real file has (a hostile git blob header, a broken plugin)
//! are counted arithmetically or refused, never written out as zeros.

use std::io::Read;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use spiro_bundle::{Builder, Error, MAX_ENTRY_SIZE};
use spiro_scanner::{Entries, Entry, EntryName, Scanner, ShouldSkip};

/// A scanner whose files claim the given sizes and hold nothing.
struct Claims(Vec<(&'static str, u64)>);

impl Scanner for Claims {
    fn name(&self) -> &str {
        "claims"
    }
    fn scan<'s>(&'s self, _: &'s ShouldSkip<'s>) -> spiro_scanner::Result<Entries<'s>> {
        Ok(Box::new(self.0.iter().map(|(name, size)| {
            Ok(Entry::file(
                EntryName::new(name).unwrap(),
                *size,
                false,
                0,
                || Ok(Box::new(std::io::empty()) as Box<dyn Read>),
            ))
        })))
    }
}

/// Runs `work` on a thread and fails the test if it takes longer than a few seconds, rather
/// than hanging CI (the old counting sink wrote 2^62 zeros).
fn within_seconds<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, result) = mpsc::channel();
    thread::spawn(move || done.send(work()));
    result
        .recv_timeout(Duration::from_secs(20))
        .expect("counting did not finish: it is writing the claimed bytes")
}

fn count(claims: Vec<(&'static str, u64)>) -> spiro_bundle::Result<u64> {
    within_seconds(move || {
        let mut counting = Builder::counting();
        counting.add_source(&Claims(claims))?;
        Ok(counting.finish()?.bytes())
    })
}

#[test]
fn a_huge_claimed_size_is_counted_arithmetically() {
    let size = 1u64 << 62;
    let bytes = count(vec![("huge", size)]).unwrap();
    // One header, the content padded to a block, the two-block end marker.
    assert_eq!(bytes, 512 + size + 1024);
}

#[test]
fn a_size_past_what_tar_extractors_hold_is_an_error_naming_the_entry() {
    let err = count(vec![("absurd", MAX_ENTRY_SIZE + 1)]).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("`_source/absurd`"), "{message}");
    assert!(
        message.contains(&(MAX_ENTRY_SIZE + 1).to_string()),
        "{message}"
    );

    // The real build refuses it before opening anything, too.
    let mut builder = Builder::new(Vec::new());
    let err = builder
        .add_source(&Claims(vec![("absurd", u64::MAX)]))
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
}

#[test]
fn a_bundle_whose_total_overflows_is_an_error_naming_the_entry_that_crosses() {
    let half = MAX_ENTRY_SIZE / 2 + 1;
    let err = count(vec![("first", half), ("second", half)]).unwrap_err();
    assert!(matches!(err, Error::BundleTooLarge { .. }), "{err:?}");
    assert!(err.to_string().contains("`_source/second`"), "{err}");
}

/// A scanner whose second scan yields more than its first (a tree that changed between the
/// count and the build, a plugin that answers differently): the real build stops at the
/// length announced, naming the entry that crosses it.
#[test]
fn a_build_longer_than_announced_is_an_error_naming_the_entry() {
    let counted = Claims(vec![("a", 100)]);
    let mut counting = Builder::counting();
    counting.add_source(&counted).unwrap();
    let announced = counting.finish().unwrap().bytes();

    struct Zeros(Vec<(&'static str, u64)>);
    impl Scanner for Zeros {
        fn name(&self) -> &str {
            "zeros"
        }
        fn scan<'s>(&'s self, _: &'s ShouldSkip<'s>) -> spiro_scanner::Result<Entries<'s>> {
            Ok(Box::new(self.0.iter().map(|(name, size)| {
                let size = *size;
                Ok(Entry::file(
                    EntryName::new(name).unwrap(),
                    size,
                    false,
                    0,
                    move || Ok(Box::new(std::io::repeat(0).take(size)) as Box<dyn Read>),
                ))
            })))
        }
    }
    let mut builder = Builder::new(Vec::new());
    builder.announced_len(announced);
    builder.add_source(&Zeros(vec![("a", 100)])).unwrap();
    let err = builder.add_source(&Zeros(vec![("b", 1)])).unwrap_err();
    assert!(matches!(err, Error::LongerThanAnnounced { .. }), "{err:?}");
    assert!(err.to_string().contains("`_source/b`"), "{err}");

    // Exactly the announced length passes.
    let mut builder = Builder::new(Vec::new());
    builder.announced_len(announced);
    builder.add_source(&Zeros(vec![("a", 100)])).unwrap();
    assert_eq!(builder.finish().unwrap().len() as u64, announced);
}
