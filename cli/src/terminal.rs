//! Making text that did not come from spiro-deploy safe to print.
//!
//! Minion ids, state output, server messages, error bodies and file names can hold control
//! characters: a hostile server or repository could set the window title, write the clipboard
//! (OSC 52), erase lines or print a fake `Result: True`, on a terminal and in CI logs that
//! render ANSI alike. So every such string is printed through [`visible`] (or, for a byte
//! stream, [`VisibleWriter`]), whatever the colour choice.
//!
//! The visible form: each control character except newline and tab (C0, ESC, DEL and C1,
//! U+0080–U+009F, that is Unicode's `Cc`) is written the way Rust's `Debug` writes it,
//! `\u{1b}`, `\u{7f}`, `\u{9b}`; a byte that is not UTF-8 is written `\xNN`. Backslashes are
//! left as they are, so Windows paths and diffs read as they came.
//!
//! `--format json` does not go through here: serde_json escapes C0 already, and
//! [`write_json_visible`] escapes DEL and C1 as JSON's `\u007f`, which keeps the line valid JSON
//! meaning the same.

use std::fmt;
use std::io::{self, Write};

/// Whether `c` is shown in its escaped form: a control character other than newline and tab.
fn is_hidden_control(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

/// `text`, displayed with its control characters made visible (see the module docs).
pub fn visible(text: &str) -> Visible<'_> {
    Visible(text)
}

/// Text whose `Display` makes control characters visible; made by [`visible`].
#[derive(Clone, Copy)]
pub struct Visible<'a>(&'a str);

impl fmt::Display for Visible<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(is_hidden_control) {
            f.write_str(&rest[..at])?;
            let control = rest[at..].chars().next().unwrap_or_default();
            write!(f, "\\u{{{:x}}}", u32::from(control))?;
            rest = &rest[at + control.len_utf8()..];
        }
        f.write_str(rest)
    }
}

/// A writer that passes bytes on with control characters made visible, lines and tabs kept
/// (for `--list`, whose names the bundle builder writes). A character split between two writes
/// is held back until it is complete; [`VisibleWriter::finish`] writes what is left.
pub struct VisibleWriter<W: Write> {
    inner: W,
    /// The start of a UTF-8 sequence that the last write cut off (at most 3 bytes).
    pending: Vec<u8>,
}

impl<W: Write> VisibleWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> VisibleWriter<W> {
        VisibleWriter {
            inner,
            pending: Vec::new(),
        }
    }

    /// Writes the bytes held back (an incomplete character, so as `\xNN`), flushes, and
    /// returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        for byte in std::mem::take(&mut self.pending) {
            write!(self.inner, "\\x{byte:02x}")?;
        }
        self.inner.flush()?;
        Ok(self.inner)
    }

    fn write_visible(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        loop {
            match std::str::from_utf8(bytes) {
                Ok(text) => return write!(self.inner, "{}", visible(text)),
                Err(err) => {
                    let (valid, rest) = bytes.split_at(err.valid_up_to());
                    // `valid` is UTF-8: `valid_up_to` says so.
                    let valid = std::str::from_utf8(valid).unwrap_or_default();
                    write!(self.inner, "{}", visible(valid))?;
                    match err.error_len() {
                        Some(len) => {
                            for byte in &rest[..len] {
                                write!(self.inner, "\\x{byte:02x}")?;
                            }
                            bytes = &rest[len..];
                        }
                        None => {
                            self.pending.extend_from_slice(rest);
                            return Ok(());
                        }
                    }
                }
            }
        }
    }
}

impl<W: Write> Write for VisibleWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.pending.is_empty() {
            self.write_visible(buf)?;
        } else {
            let mut joined = std::mem::take(&mut self.pending);
            joined.extend_from_slice(buf);
            self.write_visible(&joined)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `json` (serialised JSON) with DEL and C1 characters escaped as `\u007f`: the
/// serialisers leave them raw, and outside a string they cannot occur, so the result is valid
/// JSON with the same meaning.
pub fn write_json_visible(out: &mut impl Write, json: &str) -> io::Result<()> {
    let mut rest = json;
    while let Some(at) = rest.find(is_hidden_control) {
        out.write_all(&rest.as_bytes()[..at])?;
        let control = rest[at..].chars().next().unwrap_or_default();
        write!(out, "\\u{:04x}", u32::from(control))?;
        rest = &rest[at + control.len_utf8()..];
    }
    out.write_all(rest.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Terminal attacks: OSC 0 (title), OSC 52 (clipboard), CSI 2K (erase line), C1 CSI.
    const HOSTILE: &str =
        "a\u{1b}]0;title\u{7}b\u{1b}]52;c;aGk=\u{7}c\u{1b}[2Kd\u{9b}31me\u{7f}f\r\n\tg";

    fn has_raw_controls(text: &str) -> bool {
        text.chars().any(is_hidden_control)
    }

    #[test]
    fn controls_are_shown_escaped_and_lines_and_tabs_kept() {
        let shown = visible(HOSTILE).to_string();
        assert_eq!(
            shown,
            r"a\u{1b}]0;title\u{7}b\u{1b}]52;c;aGk=\u{7}c\u{1b}[2Kd\u{9b}31me\u{7f}f\u{d}"
                .to_owned()
                + "\n\tg"
        );
        assert!(!has_raw_controls(&shown));
        assert_eq!(
            visible("plain ünïcode » \\ path").to_string(),
            "plain ünïcode » \\ path"
        );
    }

    #[test]
    fn the_writer_matches_display_whatever_the_split() {
        let bytes = HOSTILE.as_bytes();
        for split in 0..=bytes.len() {
            let mut writer = VisibleWriter::new(Vec::new());
            writer.write_all(&bytes[..split]).unwrap();
            writer.write_all(&bytes[split..]).unwrap();
            let out = String::from_utf8(writer.finish().unwrap()).unwrap();
            assert_eq!(out, visible(HOSTILE).to_string(), "split at {split}");
        }
    }

    #[test]
    fn the_writer_shows_bytes_that_are_not_utf8() {
        let mut writer = VisibleWriter::new(Vec::new());
        writer.write_all(b"a\x9bb\xe2\x82").unwrap();
        let out = writer.finish().unwrap();
        assert_eq!(out, br"a\x9bb\xe2\x82");
    }

    #[test]
    fn json_stays_valid_and_means_the_same() {
        let value = serde_json::json!({ "msg": HOSTILE });
        let mut out = Vec::new();
        write_json_visible(&mut out, &serde_json::to_string(&value).unwrap()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!has_raw_controls(&text), "{text}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            value
        );
    }
}
