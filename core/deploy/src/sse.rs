//! A Server-Sent Events parser that follows the WHATWG rules
//! (<https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation>).
//!
//! The SpiroFS server sends LF-terminated lines with one-line JSON in `data`, but proxies and
//! other servers differ, so every rule is implemented: CR, LF and CRLF line endings (a CRLF may
//! be split across two chunks), a leading byte order mark, several `data:` lines joined by `\n`,
//! `:` comments, fields without a colon, one optional space after the colon, `id` (ignored when
//! it holds NUL) and `retry` (only ASCII digits). Input is pushed in chunks of any size; a
//! line of several megabytes is scanned once (`memchr`) and copied once, whatever the chunking.
//!
//! Memory is bounded: an event whose data grows past the parser's limit
//! ([`DEFAULT_EVENT_LIMIT`] unless set with [`SseParser::with_limit`]), or a line (with no end
//! in sight, or many small `data:` lines adding up) longer than the limit plus
//! [`LINE_SLACK`], is an [`EventTooLarge`] error, found before more than that is buffered.

/// The default limit on an event's data: 64 MiB. A `highstate-update` of a real fleet can be
/// several megabytes (thousands of states with their diffs); 64 MiB leaves a wide margin while
/// keeping a misbehaving server from exhausting memory.
pub const DEFAULT_EVENT_LIMIT: usize = 64 << 20;

/// How much longer than the event limit one line may be: room for the field name, the colon
/// and the space before the value.
pub const LINE_SLACK: usize = 1024;

/// An event (or one line) went past the parser's limit; the parser refuses all further input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("an event of the stream is larger than the limit of {limit} bytes")]
pub struct EventTooLarge {
    /// The limit on an event's data, in bytes.
    pub limit: usize,
}

/// One dispatched event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The event type: the last `event:` field, or `message` when there was none.
    pub event: String,
    /// The `data:` lines joined by `\n`.
    pub data: String,
    /// The last event ID seen on the stream so far (the spec's "last event ID buffer").
    pub id: String,
}

/// The incremental parser: [`push`](SseParser::push) bytes as they arrive and collect the
/// events that are complete.
///
/// ```
/// use spiro_client::sse::SseParser;
/// let mut parser = SseParser::new();
/// let mut events = Vec::new();
/// parser.push(b"event: deploy-bundle\r\ndata: {\"msg\":", &mut events)?;
/// parser.push(b" \"Deploying bundle\"}\r\n\r\n", &mut events)?;
/// assert_eq!(events.len(), 1);
/// assert_eq!(events[0].event, "deploy-bundle");
/// assert_eq!(events[0].data, r#"{"msg": "Deploying bundle"}"#);
/// # Ok::<(), spiro_client::sse::EventTooLarge>(())
/// ```
#[derive(Debug)]
pub struct SseParser {
    /// Bytes of the current, unfinished line.
    line: Vec<u8>,
    /// The previous chunk ended with CR: an LF at the start of the next one ends nothing.
    after_cr: bool,
    /// How many bytes of a leading BOM have been matched so far; `None` once past the start.
    bom: Option<usize>,
    data: String,
    /// Whether any `data` field was seen since the last dispatch (the data may be empty).
    has_data: bool,
    event: String,
    last_id: String,
    retry: Option<u64>,
    /// The largest event data accepted, in bytes.
    limit: usize,
    /// Set once the limit was exceeded: the stream cannot be resynchronised.
    failed: bool,
}

impl Default for SseParser {
    fn default() -> SseParser {
        SseParser::new()
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl SseParser {
    /// A parser at the start of a stream, with the [`DEFAULT_EVENT_LIMIT`].
    pub fn new() -> SseParser {
        SseParser::with_limit(DEFAULT_EVENT_LIMIT)
    }

    /// A parser at the start of a stream that refuses an event whose data is over `limit`
    /// bytes (and a line over `limit` + [`LINE_SLACK`]).
    pub fn with_limit(limit: usize) -> SseParser {
        SseParser {
            line: Vec::new(),
            after_cr: false,
            bom: Some(0),
            data: String::new(),
            has_data: false,
            event: String::new(),
            last_id: String::new(),
            retry: None,
            limit,
            failed: false,
        }
    }

    /// The limit on an event's data, in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The last `retry:` value, in milliseconds. The deploy client never reconnects (a deploy
    /// cannot be resumed) but keeps it for completeness.
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// Whether bytes of an unfinished event are pending (a stream that ends now was cut).
    pub fn has_pending(&self) -> bool {
        !self.line.is_empty() || self.has_data || !self.event.is_empty()
    }

    /// Feeds `chunk` and appends every event it completes to `out`. Fails, and keeps failing,
    /// once an event or a line is over the limit (the events completed before it are in
    /// `out`).
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), EventTooLarge> {
        if self.failed {
            return Err(self.too_large());
        }
        let result = self.push_unchecked(chunk, out);
        if result.is_err() {
            // Let go of what was buffered: the rest of the stream is not read.
            self.failed = true;
            self.line = Vec::new();
            self.data = String::new();
            self.event = String::new();
        }
        result
    }

    fn too_large(&self) -> EventTooLarge {
        EventTooLarge { limit: self.limit }
    }

    fn push_unchecked(
        &mut self,
        mut chunk: &[u8],
        out: &mut Vec<SseEvent>,
    ) -> Result<(), EventTooLarge> {
        if let Some(matched) = self.bom {
            // The BOM may arrive split across chunks: match it byte by byte.
            let mut matched = matched;
            while matched < BOM.len() {
                match chunk.first() {
                    None => {
                        self.bom = Some(matched);
                        return Ok(());
                    }
                    Some(&b) if b == BOM[matched] => {
                        matched += 1;
                        chunk = &chunk[1..];
                    }
                    Some(_) => {
                        // Not a BOM after all: the bytes matched so far are content.
                        let partial = BOM[..matched].to_vec();
                        self.bom = None;
                        self.push_lines(&partial, out)?;
                        break;
                    }
                }
            }
            self.bom = None;
        }
        self.push_lines(chunk, out)
    }

    fn push_lines(
        &mut self,
        mut chunk: &[u8],
        out: &mut Vec<SseEvent>,
    ) -> Result<(), EventTooLarge> {
        if self.after_cr {
            self.after_cr = false;
            if chunk.first() == Some(&b'\n') {
                chunk = &chunk[1..];
            }
        }
        while let Some(end) = memchr::memchr2(b'\r', b'\n', chunk) {
            if self.line.is_empty() {
                self.process_line(&chunk[..end], out)?;
            } else {
                self.check_line(end)?;
                self.line.extend_from_slice(&chunk[..end]);
                let line = std::mem::take(&mut self.line);
                self.process_line(&line, out)?;
                // Keep the allocation for the next long line, but do not hoard megabytes.
                self.line = line;
                self.line.clear();
                if self.line.capacity() > 1 << 20 {
                    self.line = Vec::new();
                }
            }
            let crlf = chunk[end] == b'\r';
            chunk = &chunk[end + 1..];
            if crlf {
                match chunk.first() {
                    Some(b'\n') => chunk = &chunk[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        // The rest is an unfinished line: refuse it before buffering past the limit.
        self.check_line(chunk.len())?;
        self.line.extend_from_slice(chunk);
        Ok(())
    }

    /// Whether the unfinished line may grow by `more` bytes.
    fn check_line(&self, more: usize) -> Result<(), EventTooLarge> {
        let limit = self.limit.saturating_add(LINE_SLACK);
        if self.line.len().saturating_add(more) > limit {
            return Err(self.too_large());
        }
        Ok(())
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) -> Result<(), EventTooLarge> {
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        if line.len() > self.limit.saturating_add(LINE_SLACK) {
            return Err(self.too_large());
        }
        if line[0] == b':' {
            return Ok(()); // a comment
        }
        let (name, value) = match memchr::memchr(b':', line) {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match name {
            b"event" => self.event = String::from_utf8_lossy(value).into_owned(),
            b"data" => {
                // Many small lines add up: the joined data is what is bounded.
                let joined = self.data.len() + usize::from(self.has_data) + value.len();
                if joined > self.limit {
                    return Err(self.too_large());
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.has_data = true;
                self.data.push_str(&String::from_utf8_lossy(value));
            }
            b"id" if !value.contains(&0) => {
                self.last_id = String::from_utf8_lossy(value).into_owned();
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                // An absurdly long number saturates rather than being ignored.
                let text = std::str::from_utf8(value).unwrap_or("0");
                self.retry = Some(text.parse().unwrap_or(u64::MAX));
            }
            _ => {} // unknown fields are ignored
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = std::mem::take(&mut self.event);
        if !self.has_data {
            return;
        }
        self.has_data = false;
        out.push(SseEvent {
            event: if event.is_empty() {
                "message".to_owned()
            } else {
                event
            },
            data: std::mem::take(&mut self.data),
            id: self.last_id.clone(),
        });
    }
}

/// Parses a complete stream at once; what is pending at the end (an event without its
/// closing blank line) is discarded, as the spec says.
pub fn parse_all(input: &[u8]) -> Vec<SseEvent> {
    let mut parser = SseParser::with_limit(usize::MAX);
    let mut out = Vec::new();
    // Unlimited: whatever is in memory already is parsed.
    let _ = parser.push(input, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
            id: String::new(),
        }
    }

    #[test]
    fn spiro_stream() {
        let input = b"event: deploy-bundle\ndata: {\"msg\": \"Deploying bundle\"}\n\n\
                      event: highstate-finish\ndata: {\"msg\": \"Highstate complete\"}\n\n";
        assert_eq!(
            parse_all(input),
            [
                ev("deploy-bundle", r#"{"msg": "Deploying bundle"}"#),
                ev("highstate-finish", r#"{"msg": "Highstate complete"}"#)
            ]
        );
    }

    #[test]
    fn line_endings_and_multiline_data() {
        let input = b"data: a\r\ndata: b\rdata\n\r\n: comment\nevent\ndata:c\r\r";
        assert_eq!(
            parse_all(input),
            [ev("message", "a\nb\n"), ev("message", "c")]
        );
    }

    #[test]
    fn spec_examples() {
        // From the WHATWG spec: three events, the second with an empty-string data.
        let input = b"data\n\ndata\ndata\n\ndata:\n";
        assert_eq!(parse_all(input), [ev("message", ""), ev("message", "\n")]);
        let input = b"data:test\n\ndata: test\n\n";
        assert_eq!(
            parse_all(input),
            [ev("message", "test"), ev("message", "test")]
        );
        let input = b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n";
        let events = parse_all(input);
        assert_eq!(events[0].data, "first event");
        assert_eq!(events[0].id, "1");
        assert_eq!(events[1].id, "");
        assert_eq!(events[2].data, " third event");
    }

    #[test]
    fn bom_only_at_start_and_split() {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        parser.push(b"\xEF", &mut out).unwrap();
        parser
            .push(b"\xBB\xBFdata: x\n\n\xEF\xBB\xBFdata: y\n\n", &mut out)
            .unwrap();
        assert_eq!(out[0], ev("message", "x"));
        // A second BOM is not stripped: its field name is not `data`.
        assert_eq!(out.len(), 1);
        // A partial BOM followed by something else is content.
        let events = parse_all(b"\xEFdata: z\n\ndata: w\n\n");
        assert_eq!(events, [ev("message", "w")]);
    }

    #[test]
    fn crlf_split_across_chunks() {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        parser.push(b"data: a\r", &mut out).unwrap();
        parser.push(b"\n", &mut out).unwrap();
        parser.push(b"\r", &mut out).unwrap();
        parser.push(b"\ndata: b\r\n\r\n", &mut out).unwrap();
        assert_eq!(out, [ev("message", "a"), ev("message", "b")]);
    }

    #[test]
    fn event_without_blank_line_is_discarded() {
        assert_eq!(parse_all(b"event: x\ndata: y\n"), []);
        let mut parser = SseParser::new();
        parser.push(b"data: y\n", &mut Vec::new()).unwrap();
        assert!(parser.has_pending());
    }

    #[test]
    fn retry_and_id_rules() {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        parser
            .push(
                b"retry: 1500\nretry: 12a\nid: a\0b\nid: 7\ndata\n\n",
                &mut out,
            )
            .unwrap();
        assert_eq!(parser.retry(), Some(1500));
        assert_eq!(out[0].id, "7");
        assert_eq!(out[0].data, "");
    }

    #[test]
    fn multi_megabyte_line_in_small_chunks() {
        let payload = "x".repeat(8 << 20);
        let input = format!("event: highstate-update\ndata: {payload}\n\n");
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        for chunk in input.as_bytes().chunks(8192) {
            parser.push(chunk, &mut out).unwrap();
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data.len(), payload.len());
    }

    /// The same events come out whatever the chunking, for random inputs built from the
    /// characters that matter to the grammar. The fuzz target (`fuzz/`) checks the same
    /// invariant on arbitrary bytes; this test runs it in CI without nightly.
    #[test]
    fn chunking_does_not_change_the_events() {
        const PIECES: &[&[u8]] = &[
            b"data",
            b"event",
            b"id",
            b"retry",
            b":",
            b": ",
            b" ",
            b"\r",
            b"\n",
            b"\r\n",
            b"x",
            b"\xEF\xBB\xBF",
            b"\xEF",
            b"\0",
            b"12",
            b"\xC3\xA9",
            b"\xFF",
            b"deploy-bundle",
        ];
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..3000 {
            let mut input = Vec::new();
            for _ in 0..rng.below(60) {
                input.extend_from_slice(PIECES[rng.below(PIECES.len())]);
            }
            let whole = parse_all(&input);
            for _ in 0..4 {
                let mut parser = SseParser::new();
                let mut out = Vec::new();
                let mut rest = &input[..];
                while !rest.is_empty() {
                    let n = 1 + rng.below(rest.len().min(7));
                    parser.push(&rest[..n], &mut out).unwrap();
                    rest = &rest[n..];
                }
                assert_eq!(out, whole, "input {:?}", String::from_utf8_lossy(&input));
            }
            // Invariants: event names are never empty and hold no line breaks.
            for event in &whole {
                assert!(!event.event.is_empty());
                assert!(!event.event.contains(['\r', '\n']));
                assert!(!event.data.contains('\r'));
            }
        }
    }

    #[test]
    fn an_event_over_the_limit_is_refused() {
        // Exactly the limit passes; one byte more fails, and the parser stays failed.
        let mut parser = SseParser::with_limit(10);
        let mut out = Vec::new();
        parser.push(b"data: 0123456789\n\n", &mut out).unwrap();
        assert_eq!(out, [ev("message", "0123456789")]);
        let err = parser.push(b"data: 0123456789A\n\n", &mut out).unwrap_err();
        assert_eq!(err, EventTooLarge { limit: 10 });
        assert!(parser.push(b"data: x\n\n", &mut out).is_err());
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn small_data_lines_adding_up_are_refused() {
        let mut parser = SseParser::with_limit(100);
        let mut out = Vec::new();
        let mut result = Ok(());
        for _ in 0..60 {
            result = result.and_then(|()| parser.push(b"data: x\n", &mut out));
        }
        assert_eq!(result, Err(EventTooLarge { limit: 100 }));
        assert!(out.is_empty());
    }

    #[test]
    fn a_line_without_end_is_refused_before_it_is_buffered() {
        let mut parser = SseParser::with_limit(1000);
        let chunk = [b'x'; 256];
        let mut pushed = 0;
        let err = loop {
            match parser.push(&chunk, &mut Vec::new()) {
                Ok(()) => pushed += chunk.len(),
                Err(err) => break err,
            }
        };
        assert_eq!(err.limit, 1000);
        assert!(pushed <= 1000 + LINE_SLACK, "{pushed}");
        // A long comment line is a line like any other.
        let mut parser = SseParser::with_limit(10);
        let long_comment = format!(":{}\n", "c".repeat(2000));
        assert!(
            parser
                .push(long_comment.as_bytes(), &mut Vec::new())
                .is_err()
        );
    }

    struct XorShift(u64);

    impl XorShift {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n.max(1) as u64) as usize
        }
    }
}
