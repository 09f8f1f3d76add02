//! Fuzzes the SSE parser: arbitrary bytes, split at arbitrary points, must give the same
//! events as the whole input at once, never panic, and keep the WHATWG invariants.
//!
//! Run: `cargo +nightly fuzz run sse -- -max_total_time=60` (from core/deploy/).

#![no_main]

use libfuzzer_sys::fuzz_target;
use spiro_client::sse::{SseParser, parse_all};

fuzz_target!(|input: &[u8]| {
    // The first byte chooses the chunk sizes, the rest is the stream.
    let Some((&seed, stream)) = input.split_first() else {
        return;
    };
    let whole = parse_all(stream);
    for event in &whole {
        assert!(!event.event.is_empty());
        assert!(!event.event.contains(['\r', '\n']));
        assert!(!event.data.contains('\r'));
        assert!(!event.id.contains(['\r', '\n', '\0']));
    }
    let mut parser = SseParser::new();
    let mut chunked = Vec::new();
    let mut rest = stream;
    let mut step = usize::from(seed % 7) + 1;
    while !rest.is_empty() {
        let n = step.min(rest.len());
        parser
            .push(&rest[..n], &mut chunked)
            .expect("fuzz inputs are far below the limit");
        rest = &rest[n..];
        step = step % 7 + 1;
    }
    assert_eq!(chunked, whole);
});
