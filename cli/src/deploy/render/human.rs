//! `--format human`: readable blocks per minion in the spirit of Salt's highstate outputter,
//! written straight to the output as they are formed.
//!
//! Every string from the server or a minion goes through [`visible`]: its control characters
//! are shown, never obeyed (see `crate::terminal`).

use std::borrow::Cow;
use std::io::{self, Write};

use anstyle::{AnsiColor, Style};
use serde_json::Value;
use spiro_client::{Event, HighstateUpdate, MinionResult, Ret, Returned, State};

use super::outcome::Outcome;
use super::plural;
use crate::terminal::visible;

const GREEN: Style = AnsiColor::Green.on_default();
const CYAN: Style = AnsiColor::Cyan.on_default();
const RED: Style = AnsiColor::Red.on_default();
const RED_BOLD: Style = AnsiColor::Red.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const BOLD: Style = Style::new().bold();

/// Writes the human form of one event.
pub fn write_event(out: &mut impl Write, event: &Event) -> io::Result<()> {
    match event {
        Event::HighstateUpdate(update) => write_minion(out, update),
        Event::Exception(status) => writeln!(
            out,
            "{RED_BOLD}exception:{RED_BOLD:#} {}",
            visible(status.msg.trim_end())
        ),
        Event::HighstateStart(start) => writeln!(
            out,
            "{BOLD}»{BOLD:#} {} ({} {})",
            visible(&start.msg),
            start.minions.len(),
            plural(start.minions.len(), "minion", "minions")
        ),
        Event::Unknown { event, data } => {
            let msg = match data.get("msg").and_then(Value::as_str) {
                Some(msg) => Cow::Borrowed(msg),
                None => Cow::Owned(data.to_string()),
            };
            writeln!(out, "{BOLD}»{BOLD:#} {}: {}", visible(event), visible(&msg))
        }
        other => writeln!(out, "{BOLD}»{BOLD:#} {}", visible(other.msg())),
    }
}

/// Writes "N minions reported of M" and the list of the minions that did not report.
pub fn write_closing(out: &mut impl Write, outcome: &Outcome) -> io::Result<()> {
    let reported = outcome.reported.len();
    let minions = plural(reported, "minion", "minions");
    let Some(targeted) = &outcome.targeted else {
        return writeln!(out, "{reported} {minions} reported");
    };
    let missing = outcome.unreported();
    let style = if missing.is_empty() { BOLD } else { RED_BOLD };
    writeln!(
        out,
        "{style}{reported} {minions} reported of {}{style:#}",
        targeted.len()
    )?;
    if !missing.is_empty() {
        writeln!(out, "{RED_BOLD}Did not report:{RED_BOLD:#}")?;
        for minion in missing {
            writeln!(out, "    {RED}{}{RED:#}", visible(minion))?;
        }
    }
    Ok(())
}

/// One minion's block: each state, then the summary line.
fn write_minion(out: &mut impl Write, update: &HighstateUpdate) -> io::Result<()> {
    let minion = visible(&update.minion);
    let style = if update.result.is_success() {
        GREEN
    } else {
        RED_BOLD
    };
    writeln!(out, "{style}{minion}:{style:#}")?;
    let returned = match &update.result {
        MinionResult::NoReturn { .. } => {
            writeln!(
                out,
                "{RED}    (No Results): the minion did not return{RED:#}"
            )?;
            return writeln!(
                out,
                "{RED_BOLD}Summary for {minion}: did not return{RED_BOLD:#}"
            );
        }
        MinionResult::Other(value) => {
            let value = value.to_string();
            writeln!(
                out,
                "{RED}    unexpected result: {}{RED:#}",
                visible(&value)
            )?;
            return writeln!(
                out,
                "{RED_BOLD}Summary for {minion}: unreadable result{RED_BOLD:#}"
            );
        }
        MinionResult::Returned(returned) => returned,
    };
    if let Some(states) = returned.states() {
        for state in &states {
            write_state(out, state)?;
        }
        return write_summary(out, update, returned);
    }
    match &returned.ret {
        Ret::RenderErrors(errors) => {
            writeln!(out, "{RED}    Data failed to compile:{RED:#}")?;
            for line in errors.iter().flat_map(|error| error.lines()) {
                writeln!(out, "{RED}        {}{RED:#}", visible(line))?;
            }
            writeln!(
                out,
                "{RED_BOLD}Summary for {minion}: render error{RED_BOLD:#}"
            )
        }
        ret => {
            let text = serde_json::to_string(ret).unwrap_or_default();
            writeln!(out, "{RED}    {}{RED:#}", visible(&text))?;
            writeln!(
                out,
                "{RED_BOLD}Summary for {minion}: unreadable result{RED_BOLD:#}"
            )
        }
    }
}

/// One state: id, function, name, result, comment, timing and changes, in the state's colour.
fn write_state(out: &mut impl Write, state: &State) -> io::Result<()> {
    let (style, result) = match state.result.result {
        Some(true) if state.changed() => (CYAN, "True"),
        Some(true) => (GREEN, "True"),
        Some(false) => (RED, "False"),
        None => (YELLOW, "None"),
    };
    let field = |out: &mut dyn Write, label: &str, value: &dyn std::fmt::Display| {
        writeln!(out, "{style}{label:>12}: {value}{style:#}")
    };
    writeln!(out, "{style}----------{style:#}")?;
    field(out, "ID", &visible(&state.id))?;
    field(out, "Function", &visible(&state.function))?;
    field(out, "Name", &Scalar(&state.result.name))?;
    if state.result.result == Some(false) {
        writeln!(out, "{RED_BOLD}{:>12}: {result}{RED_BOLD:#}", "Result")?;
    } else {
        field(out, "Result", &result)?;
    }
    write_comment(out, &state.result.comment, style)?;
    if let Some(started) = &state.result.start_time {
        field(out, "Started", &visible(started))?;
    }
    if let Some(duration) = &state.result.duration {
        field(out, "Duration", &format_args!("{} ms", Scalar(duration)))?;
    }
    if state.changed() {
        writeln!(out, "{style}{:>12}:{style:#}", "Changes")?;
        write_nested(out, &state.result.changes, 0, style)
    } else {
        field(out, "Changes", &"")
    }
}

/// The comment, a string or a list of them, one line each; the first beside its label.
fn write_comment(out: &mut impl Write, comment: &Value, style: Style) -> io::Result<()> {
    // Lines are split before the text is made visible, so `\r\n` ends a line as it did.
    let text = match comment {
        Value::Array(items) => items
            .iter()
            .map(|item| scalar_text(item))
            .collect::<Vec<_>>()
            .join("\n"),
        other => scalar_text(other).into_owned(),
    };
    let mut lines = text.lines();
    let first = visible(lines.next().unwrap_or(""));
    writeln!(out, "{style}{:>12}: {first}{style:#}", "Comment")?;
    for line in lines {
        writeln!(out, "{style}{:>12}  {}{style:#}", "", visible(line))?;
    }
    Ok(())
}

/// The summary line: counts of succeeded, changed and failed states.
fn write_summary(
    out: &mut impl Write,
    update: &HighstateUpdate,
    returned: &Returned,
) -> io::Result<()> {
    let summary = update.result.summary();
    let ok = update.result.is_success();
    let style = if summary.failed > 0 || !ok {
        RED_BOLD
    } else {
        GREEN
    };
    write!(
        out,
        "{style}Summary for {}: Succeeded: {} (changed={})  Failed: {}",
        visible(&update.minion),
        summary.succeeded,
        summary.changed,
        summary.failed
    )?;
    if summary.unknown > 0 {
        write!(out, "  Unknown (test mode): {}", summary.unknown)?;
    }
    if summary.failed == 0 && !ok {
        write!(out, "  (retcode {})", returned.retcode.unwrap_or(0))?;
    }
    writeln!(out, "{style:#}")
}

/// A JSON scalar as Salt shows it: strings bare, null empty, the rest as JSON.
fn scalar_text(value: &Value) -> Cow<'_, str> {
    match value {
        Value::String(s) => Cow::Borrowed(s),
        Value::Null => Cow::Borrowed(""),
        other => Cow::Owned(other.to_string()),
    }
}

/// [`scalar_text`], made visible.
struct Scalar<'a>(&'a Value);

impl std::fmt::Display for Scalar<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", visible(&scalar_text(self.0)))
    }
}

/// How deep [`write_nested`] lays out a state's changes; anything deeper is one line of JSON.
/// Salt has no limit, but each level indents by 4 more spaces, so a result nested 120 deep
/// printed hundreds of times its size; 32 levels is more than real changes use.
pub const MAX_NESTING: usize = 32;

/// How many bytes of JSON the one line of a too-deep value shows before `…`.
pub const MAX_COMPACT_BYTES: usize = 1024;

/// Salt's `nested` outputter, roughly: keys on their own line, values indented below, strings
/// line by line (diffs stay readable). `depth` levels in, past [`MAX_NESTING`], a value is
/// shown compactly instead.
fn write_nested(out: &mut impl Write, value: &Value, depth: usize, style: Style) -> io::Result<()> {
    let pad = Pad(14 + 4 * depth);
    if depth >= MAX_NESTING {
        return writeln!(out, "{style}{pad}{}{style:#}", Compact(value));
    }
    match value {
        Value::Object(map) => {
            writeln!(out, "{style}{pad}----------{style:#}")?;
            for (key, value) in map {
                writeln!(out, "{style}{pad}{}:{style:#}", visible(key))?;
                match value {
                    Value::Object(_) | Value::Array(_) => {
                        write_nested(out, value, depth + 1, style)?
                    }
                    Value::String(s) if s.contains('\n') => {
                        write_nested(out, value, depth + 1, style)?
                    }
                    other => writeln!(out, "{style}{pad}    {}{style:#}", Scalar(other))?,
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Object(_) | Value::Array(_) => {
                        writeln!(out, "{style}{pad}-{style:#}")?;
                        write_nested(out, item, depth + 1, style)?;
                    }
                    other => writeln!(out, "{style}{pad}- {}{style:#}", Scalar(other))?,
                }
            }
        }
        Value::String(s) => {
            for line in s.lines() {
                writeln!(out, "{style}{pad}{}{style:#}", visible(line))?;
            }
        }
        other => writeln!(out, "{style}{pad}{}{style:#}", Scalar(other))?,
    }
    Ok(())
}

/// A value as one line of JSON, cut after [`MAX_COMPACT_BYTES`] with `…`, made visible.
struct Compact<'a>(&'a Value);

impl std::fmt::Display for Compact<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut head = Head {
            bytes: Vec::with_capacity(MAX_COMPACT_BYTES),
            cut: false,
        };
        // An error here is `Head` saying it is full: the head is what it holds.
        let _full = serde_json::to_writer(&mut head, self.0);
        let text = match std::str::from_utf8(&head.bytes) {
            Ok(text) => text,
            // Cut inside a character: show up to it.
            Err(err) => std::str::from_utf8(&head.bytes[..err.valid_up_to()]).unwrap_or_default(),
        };
        write!(f, "{}", visible(text))?;
        if head.cut {
            f.write_str("…")?;
        }
        Ok(())
    }
}

/// A writer that keeps the first [`MAX_COMPACT_BYTES`] written and then refuses more.
struct Head {
    bytes: Vec<u8>,
    cut: bool,
}

impl Write for Head {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = MAX_COMPACT_BYTES - self.bytes.len();
        if buf.len() > room {
            self.bytes.extend_from_slice(&buf[..room]);
            self.cut = true;
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "compact form full",
            ));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `n` spaces, written without building a string.
struct Pad(usize);

impl std::fmt::Display for Pad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:1$}", "", self.0)
    }
}
