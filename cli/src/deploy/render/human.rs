//! `--format human`: readable blocks per minion in the spirit of Salt's highstate outputter,
//! written straight to the output as they are formed.
//!
//! Every string from the server or a minion goes through [`visible`]: its control characters
//! are shown, never obeyed (see `crate::terminal`).

use std::borrow::Cow;
use std::io::{self, Write};

use anstyle::{AnsiColor, Style};
use serde_json::Value;
use spiro_client::{Event, HighstateUpdate, MinionResult, Ret, State};

use super::outcome::{MinionStatus, Outcome};
use super::plural;
pub use crate::args::StateOutput;
use crate::terminal::visible;

const GREEN: Style = AnsiColor::Green.on_default();
const CYAN: Style = AnsiColor::Cyan.on_default();
const RED: Style = AnsiColor::Red.on_default();
const RED_BOLD: Style = AnsiColor::Red.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const BOLD: Style = Style::new().bold();

/// Which states are shown, and how: Salt's `--state-output` and `--state-verbose`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct States {
    /// `--state-output`.
    pub output: StateOutput,
    /// `--state-verbose`: `false` hides the states that succeeded without changes.
    pub verbose: bool,
}

impl Default for States {
    /// Salt's defaults: `full`, verbose.
    fn default() -> States {
        States {
            output: StateOutput::Full,
            verbose: true,
        }
    }
}

/// Writes the human form of one event (a minion's result: see [`write_minion`]).
pub fn write_event(out: &mut impl Write, event: &Event) -> io::Result<()> {
    match event {
        Event::HighstateUpdate(update) => write_minion(out, update, States::default()),
        Event::Exception(status) => writeln!(
            out,
            "{RED_BOLD}exception:{RED_BOLD:#} {}",
            visible(status.msg.trim_end())
        ),
        Event::HighstateStart(start) => {
            writeln!(out, "{BOLD}»{BOLD:#} {}", visible(&start.msg))?;
            if start.minions.is_empty() {
                writeln!(
                    out,
                    "{YELLOW}  hint: the deployment's entry in spirotop.sls matches no minion; \
                     check its target there{YELLOW:#}"
                )?;
            }
            Ok(())
        }
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

/// After the last minion: the counts of every minion's states, in the form of Salt's
/// per-minion summary, when more than one minion reported states (for one, its own summary
/// says it all).
pub fn write_totals(out: &mut impl Write, outcome: &Outcome) -> io::Result<()> {
    let with_states: Vec<_> = outcome
        .minions
        .iter()
        .filter(|m| matches!(m.status, MinionStatus::Succeeded | MinionStatus::Failed))
        .collect();
    if with_states.len() < 2 {
        return Ok(());
    }
    let mut totals = Counts::default();
    for minion in &with_states {
        totals.add(&Counts {
            succeeded: minion.summary.succeeded,
            failed: minion.summary.failed,
            not_run: minion.summary.unknown,
            changed: minion.changed_states,
            run_time: minion.run_time_ms,
        });
    }
    let title = format!(
        "Totals for {} {}",
        with_states.len(),
        plural(with_states.len(), "minion", "minions")
    );
    writeln!(out)?;
    write_counts(out, &title, &totals)
}

/// One minion's block: each state, then the summary, as Salt's highstate outputter.
pub fn write_minion(
    out: &mut impl Write,
    update: &HighstateUpdate,
    states: States,
) -> io::Result<()> {
    let minion = visible(&update.minion);
    let returned = match &update.result {
        MinionResult::NoReturn { .. } => {
            writeln!(out, "{RED_BOLD}{minion}:{RED_BOLD:#}")?;
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
            writeln!(out, "{RED_BOLD}{minion}:{RED_BOLD:#}")?;
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
    if let Some(list) = returned.states() {
        let style = if list.iter().any(|s| s.result.result == Some(false)) {
            RED
        } else if list.iter().any(|s| s.result.result.is_none()) {
            YELLOW
        } else if update.result.is_success() {
            GREEN
        } else {
            RED
        };
        writeln!(out, "{style}{minion}:{style:#}")?;
        for state in &list {
            write_state(out, state, states)?;
        }
        let counts = Counts::of(&list);
        writeln!(out)?;
        write_counts(out, &format!("Summary for {minion}"), &counts)?;
        if counts.failed == 0 && !update.result.is_success() {
            writeln!(
                out,
                "{RED_BOLD}retcode: {}{RED_BOLD:#}",
                returned.retcode.unwrap_or(0)
            )?;
        }
        return Ok(());
    }
    match &returned.ret {
        Ret::RenderErrors(errors) => {
            writeln!(out, "{RED}{minion}:{RED:#}")?;
            writeln!(out, "{RED}    Data failed to compile:{RED:#}")?;
            for error in errors {
                writeln!(out, "{RED}----------{RED:#}")?;
                // Salt indents the first line only; the rest keep their own indentation.
                let text = visible(error.trim_end()).to_string();
                writeln!(out, "{RED}    {text}{RED:#}")?;
            }
            writeln!(
                out,
                "{RED_BOLD}Summary for {minion}: render error{RED_BOLD:#}"
            )
        }
        ret => {
            writeln!(out, "{RED_BOLD}{minion}:{RED_BOLD:#}")?;
            let text = serde_json::to_string(ret).unwrap_or_default();
            writeln!(out, "{RED}    {}{RED:#}", visible(&text))?;
            writeln!(
                out,
                "{RED_BOLD}Summary for {minion}: unreadable result{RED_BOLD:#}"
            )
        }
    }
}

/// The counts in Salt's summary block.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Counts {
    succeeded: usize,
    failed: usize,
    not_run: usize,
    changed: usize,
    /// Milliseconds.
    run_time: f64,
}

impl Counts {
    /// The counts of `states`, as Salt counts them.
    fn of(states: &[State]) -> Counts {
        let mut counts = Counts::default();
        for state in states {
            match state.result.result {
                Some(true) => counts.succeeded += 1,
                Some(false) => counts.failed += 1,
                None => counts.not_run += 1,
            }
            if state.changed() {
                counts.changed += 1;
            }
            counts.run_time += super::junit::duration_ms(state).unwrap_or(0.0);
        }
        counts
    }

    fn add(&mut self, other: &Counts) {
        self.succeeded += other.succeeded;
        self.failed += other.failed;
        self.not_run += other.not_run;
        self.changed += other.changed;
        self.run_time += other.run_time;
    }
}

/// Salt's summary block: `Summary for web1`, a rule as wide as the widest line, Succeeded
/// (with `unchanged=`/`changed=` only when not zero), Failed, Total states run, Total run
/// time in ms, or in s from a second on.
fn write_counts(out: &mut impl Write, title: &str, counts: &Counts) -> io::Result<()> {
    let widest_count = [counts.succeeded, counts.failed, counts.not_run]
        .iter()
        .filter(|&&n| n > 0)
        .map(|n| n.to_string().len())
        .max()
        .unwrap_or(0);
    // "Succeeded" is the longest label: 9 characters, then ": ".
    let width = 9 + widest_count + 2;
    let rule = "-".repeat(width);
    writeln!(out, "{CYAN}{title}\n{rule}{CYAN:#}")?;
    let line = |label: &str, n: usize| format!("{label}: {n:>0$}", width - (label.len() + 2));
    let mut changes = Vec::new();
    if counts.not_run > 0 {
        changes.push(format!("{YELLOW}unchanged={}{YELLOW:#}", counts.not_run));
    }
    if counts.changed > 0 {
        changes.push(format!("{GREEN}changed={}{GREEN:#}", counts.changed));
    }
    let changes = match changes.is_empty() {
        true => String::new(),
        false => format!(" ({})", changes.join(", ")),
    };
    writeln!(
        out,
        "{GREEN}{}{GREEN:#}{changes}",
        line("Succeeded", counts.succeeded + counts.not_run)
    )?;
    let failed_style = if counts.failed > 0 { RED } else { CYAN };
    writeln!(
        out,
        "{failed_style}{}{failed_style:#}",
        line("Failed", counts.failed)
    )?;
    let total = counts.succeeded + counts.failed + counts.not_run;
    writeln!(
        out,
        "{CYAN}{rule}\nTotal states run: {total:>0$}{CYAN:#}",
        width - 7
    )?;
    let (run_time, unit) = match counts.run_time > 999.0 {
        true => (counts.run_time / 1000.0, "s"),
        false => (counts.run_time, "ms"),
    };
    writeln!(
        out,
        "{CYAN}Total run time: {:>1$} {unit}{CYAN:#}",
        format!("{run_time:.3}"),
        width - 5
    )
}

/// One state, in the form `states.output` asks for (or hidden: `--state-verbose=false`).
fn write_state(out: &mut impl Write, state: &State, states: States) -> io::Result<()> {
    let changed = state.changed();
    let result = state.result.result;
    if !states.verbose && result == Some(true) && !changed {
        return Ok(());
    }
    let terse = match states.output {
        StateOutput::Full => false,
        StateOutput::Terse => true,
        StateOutput::Mixed => result != Some(false),
        StateOutput::Changes => result == Some(true) && !changed,
    };
    let style = match result {
        Some(false) => RED,
        None => YELLOW,
        Some(true) if changed => CYAN,
        Some(true) => GREEN,
    };
    let parts = KeyParts::of(state);
    if terse {
        let word = match result {
            Some(false) => "Failed",
            None => "Differs",
            Some(true) if changed => "Changed",
            Some(true) => "Clean",
        };
        write!(
            out,
            "{style}  Name: {} - Function: {} - Result: {word}",
            visible(parts.name),
            visible(&state.function),
        )?;
        if let Some(started) = &state.result.start_time {
            let duration = state.result.duration.as_ref().unwrap_or(&Value::Null);
            write!(
                out,
                " - Started: {} - Duration: {} ms",
                visible(started),
                Scalar(duration)
            )?;
        }
        return writeln!(out, "{style:#}");
    }
    let field = |out: &mut dyn Write, label: &str, value: &dyn std::fmt::Display| {
        writeln!(out, "{style}{label:>12}: {value}{style:#}")
    };
    writeln!(out, "{style}----------{style:#}")?;
    field(out, "ID", &visible(&state.id))?;
    field(out, "Function", &visible(&state.function))?;
    if parts.name != state.id {
        field(out, "Name", &visible(parts.name))?;
    }
    let result_text = match result {
        Some(true) => "True",
        Some(false) => "False",
        None => "None",
    };
    field(out, "Result", &result_text)?;
    write_comment(out, &state.result.comment, style)?;
    // Salt shows the timing only when the state has a start time (`state_output_profile`).
    if let Some(started) = &state.result.start_time {
        field(out, "Started", &visible(started))?;
        match &state.result.duration {
            Some(duration) => field(out, "Duration", &format_args!("{} ms", Scalar(duration)))?,
            None => writeln!(out, "{style}{:>12}: {style:#}", "Duration")?,
        }
    }
    if changed {
        writeln!(out, "{style}{:>12}:   {style:#}", "Changes")?;
        write_nested(out, &state.result.changes, 0, style)
    } else {
        writeln!(out, "{style}{:>12}:   {style:#}", "Changes")
    }
}

/// The parts of a state's key, `file_|-motd_|-/etc/motd_|-managed`: Salt shows the name
/// from here, not from the result.
struct KeyParts<'a> {
    name: &'a str,
}

impl<'a> KeyParts<'a> {
    fn of(state: &'a State) -> KeyParts<'a> {
        let name = state.key.split("_|-").nth(2).unwrap_or(&state.id);
        KeyParts { name }
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
    let mut lines = text.trim().lines();
    let first = visible(lines.next().unwrap_or(""));
    writeln!(out, "{style}{:>12}: {first}{style:#}", "Comment")?;
    for line in lines {
        writeln!(out, "{style}{:>12}  {}{style:#}", "", visible(line))?;
    }
    Ok(())
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

/// Salt's `nested` outputter: a map is a `----------` rule, then each key (sorted) with `:`
/// and its value 4 columns further in; a list's maps and lists follow a `|_` line 2 columns
/// further in, its scalars are `- value`; strings line by line (diffs stay readable), an empty
/// one no line at all; null and booleans as Python prints them. `depth` levels in, past
/// [`MAX_NESTING`], a value is shown compactly instead.
fn write_nested(out: &mut impl Write, value: &Value, depth: usize, style: Style) -> io::Result<()> {
    write_nested_at(out, value, 14, "", depth, style)
}

/// [`write_nested`] at `indent` columns, the first line after `prefix`.
fn write_nested_at(
    out: &mut impl Write,
    value: &Value,
    indent: usize,
    prefix: &str,
    depth: usize,
    style: Style,
) -> io::Result<()> {
    let pad = Pad(indent);
    if depth >= MAX_NESTING {
        return writeln!(out, "{style}{pad}{prefix}{}{style:#}", Compact(value));
    }
    match value {
        Value::Object(map) => {
            writeln!(out, "{style}{pad}----------{style:#}")?;
            for (key, value) in map {
                writeln!(out, "{style}{pad}{prefix}{}:{style:#}", visible(key))?;
                write_nested_at(out, value, indent + 4, "", depth + 1, style)?;
            }
        }
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Object(_) => {
                        writeln!(out, "{style}{pad}|_{style:#}")?;
                        write_nested_at(out, item, indent + 2, "", depth + 1, style)?;
                    }
                    Value::Array(_) => {
                        writeln!(out, "{style}{pad}|_{style:#}")?;
                        write_nested_at(out, item, indent + 2, "- ", depth + 1, style)?;
                    }
                    other => write_nested_at(out, other, indent, "- ", depth + 1, style)?,
                }
            }
        }
        Value::String(s) => {
            let mut line_prefix = prefix;
            let blank = " ".repeat(prefix.len());
            for line in s.lines() {
                writeln!(out, "{style}{pad}{line_prefix}{}{style:#}", visible(line))?;
                line_prefix = &blank;
            }
        }
        Value::Null => writeln!(out, "{style}{pad}{prefix}None{style:#}")?,
        Value::Bool(true) => writeln!(out, "{style}{pad}{prefix}True{style:#}")?,
        Value::Bool(false) => writeln!(out, "{style}{pad}{prefix}False{style:#}")?,
        Value::Number(n) => writeln!(out, "{style}{pad}{prefix}{n}{style:#}")?,
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
