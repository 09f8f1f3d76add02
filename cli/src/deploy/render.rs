//! Showing the deploy: readable blocks per minion in the spirit of Salt's highstate outputter,
//! or one JSON object per event per line. Each event is printed the moment it arrives, and
//! every minion's result is shown even after one has failed.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use serde_json::Value;
use spiro_client::{Event, HighstateUpdate, MinionResult, Ret};

use crate::args::Format;
use crate::error::{CliError, Exit};

const GREEN: Style = AnsiColor::Green.on_default();
const CYAN: Style = AnsiColor::Cyan.on_default();
const RED: Style = AnsiColor::Red.on_default();
const RED_BOLD: Style = AnsiColor::Red.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const BOLD: Style = Style::new().bold();

/// What the deploy has shown so far, to decide the exit status.
pub struct Report {
    format: Format,
    highstate: bool,
    targeted: Option<Vec<String>>,
    reported: Vec<String>,
    failed: Vec<String>,
    exception: Option<String>,
    finished: bool,
    out: fn(&str),
}

impl Report {
    pub fn new(format: Format, highstate: bool) -> Report {
        Report {
            format,
            highstate,
            targeted: None,
            reported: Vec::new(),
            failed: Vec::new(),
            exception: None,
            finished: false,
            out: print,
        }
    }

    /// Shows one event and remembers what it means for the outcome.
    #[cfg(test)]
    pub fn event(&mut self, event: &Event) {
        self.event_with_data(event, None);
    }

    /// Records and shows `event`, whose `data` the server sent as `raw` (see
    /// `Events::last_data`): `--format json` passes that on as it came.
    pub fn event_with_data(&mut self, event: &Event, raw: Option<&str>) {
        match event {
            Event::HighstateStart(start) => self.targeted = Some(start.minions.clone()),
            // A minion that did not return (`failed: true`) has not reported its states.
            Event::HighstateUpdate(update)
                if matches!(update.result, MinionResult::NoReturn { .. }) => {}
            Event::HighstateUpdate(update) => {
                self.reported.push(update.minion.clone());
                if !update.result.is_success() {
                    self.failed.push(update.minion.clone());
                }
            }
            Event::HighstateFinish(_) => self.finished = true,
            Event::Exception(status) => self.exception = Some(status.msg.trim_end().to_owned()),
            _ => {}
        }
        let text = match self.format {
            Format::Json => json_line(event, raw) + "\n",
            Format::Human => human(event),
        };
        (self.out)(&text);
        if self.format == Format::Human && matches!(event, Event::HighstateFinish(_)) {
            (self.out)(&self.closing());
        }
    }

    /// The stream broke: say how far the deploy got before the error is shown.
    pub fn interrupted(&self) {
        if self.format == Format::Human && self.highstate && self.targeted.is_some() {
            (self.out)(&self.closing());
        }
    }

    /// "N minions reported of M" and the list of the unreported ones.
    fn closing(&self) -> String {
        let mut out = String::new();
        let reported = self.reported.len();
        match &self.targeted {
            Some(targeted) => {
                let style = if self.unreported().is_empty() {
                    BOLD
                } else {
                    RED_BOLD
                };
                let _ = writeln!(
                    out,
                    "{style}{reported} {} reported of {}{style:#}",
                    plural(reported, "minion", "minions"),
                    targeted.len()
                );
                let missing = self.unreported();
                if !missing.is_empty() {
                    let _ = writeln!(out, "{RED_BOLD}Did not report:{RED_BOLD:#}");
                    for minion in missing {
                        let _ = writeln!(out, "    {RED}{minion}{RED:#}");
                    }
                }
            }
            None => {
                let _ = writeln!(
                    out,
                    "{reported} {} reported",
                    plural(reported, "minion", "minions")
                );
            }
        }
        out
    }

    fn unreported(&self) -> Vec<&str> {
        self.targeted
            .iter()
            .flatten()
            .filter(|m| !self.reported.contains(m))
            .map(String::as_str)
            .collect()
    }

    /// The exit status: 0 only when the deploy was accepted and, with highstate on, every
    /// targeted minion reported and every state succeeded.
    pub fn finish(self) -> Result<Exit, CliError> {
        if let Some(exception) = &self.exception {
            return Err(CliError::msg(
                Exit::Server,
                format!("the server failed during the deploy: {exception}"),
            )
            .hint("the salt-master's log has the details (a YAML error in spirotop.sls is a common cause)"));
        }
        if !self.highstate {
            return Ok(Exit::Success);
        }
        let unreported = self.unreported();
        if !unreported.is_empty() {
            let hint = match self.failed.is_empty() {
                true => {
                    "check that those minions are up and connected to the salt-master".to_owned()
                }
                false => format!(
                    "states also failed on {}; check that the other minions are up",
                    self.failed.join(", ")
                ),
            };
            return Err(CliError::msg(
                Exit::Incomplete,
                format!(
                    "{} of {} {} did not report: {}",
                    unreported.len(),
                    self.targeted.as_ref().map_or(0, Vec::len),
                    plural(unreported.len(), "minion", "minions"),
                    unreported.join(", ")
                ),
            )
            .hint(hint));
        }
        if !self.failed.is_empty() {
            return Err(CliError::msg(
                Exit::FailedStates,
                format!(
                    "the highstate failed on {} {}: {}",
                    self.failed.len(),
                    plural(self.failed.len(), "minion", "minions"),
                    self.failed.join(", ")
                ),
            ));
        }
        Ok(Exit::Success)
    }
}

/// One line of `--format json`: the event's name and its `data` exactly as the server sent it,
/// so machines see every field, including those this client does not know. Data that is not
/// JSON, or not on one line, is re-serialised from what was parsed.
fn json_line(event: &Event, raw: Option<&str>) -> String {
    let name = serde_json::to_string(event.name()).unwrap_or_default();
    let verbatim = raw
        .filter(|raw| !raw.contains(['\n', '\r']))
        .and_then(|raw| serde_json::from_str::<&serde_json::value::RawValue>(raw).ok());
    if let Some(data) = verbatim {
        return format!(r#"{{"event":{name},"data":{}}}"#, data.get());
    }
    let reparsed = raw.and_then(|raw| serde_json::from_str::<Value>(raw).ok());
    let line = match reparsed {
        Some(data) => {
            serde_json::to_string(&serde_json::json!({"event": event.name(), "data": data}))
        }
        None => serde_json::to_string(event),
    };
    line.unwrap_or_else(|e| {
        format!(
            r#"{{"event":"spiro-deploy-error","data":{{"msg":{:?}}}}}"#,
            e.to_string()
        )
    })
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

fn print(text: &str) {
    use std::io::Write;
    let mut out = anstream::stdout().lock();
    // A closed stdout (`| head`) must not abort the deploy report half-way with a panic.
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// The human form of one event.
fn human(event: &Event) -> String {
    match event {
        Event::HighstateUpdate(update) => minion_block(update),
        Event::Exception(status) => {
            format!(
                "{RED_BOLD}exception:{RED_BOLD:#} {}\n",
                status.msg.trim_end()
            )
        }
        Event::HighstateStart(start) => {
            format!(
                "{BOLD}»{BOLD:#} {} ({} {})\n",
                start.msg,
                start.minions.len(),
                plural(start.minions.len(), "minion", "minions")
            )
        }
        Event::Unknown { event, data } => {
            let msg = event_msg(data).unwrap_or_else(|| data.to_string());
            format!("{BOLD}»{BOLD:#} {event}: {msg}\n")
        }
        other => format!("{BOLD}»{BOLD:#} {}\n", other.msg()),
    }
}

fn event_msg(data: &Value) -> Option<String> {
    data.get("msg").and_then(Value::as_str).map(str::to_owned)
}

/// One minion's block: each state with id, function, name, result, comment and changes, then
/// the summary line.
pub fn minion_block(update: &HighstateUpdate) -> String {
    let mut out = String::new();
    let minion = &update.minion;
    let ok = update.result.is_success();
    let style = if ok { GREEN } else { RED_BOLD };
    let _ = writeln!(out, "{style}{minion}:{style:#}");
    match &update.result {
        MinionResult::NoReturn { .. } => {
            let _ = writeln!(
                out,
                "{RED}    (No Results): the minion did not return{RED:#}"
            );
            let _ = writeln!(
                out,
                "{RED_BOLD}Summary for {minion}: did not return{RED_BOLD:#}"
            );
        }
        MinionResult::Other(value) => {
            let _ = writeln!(out, "{RED}    unexpected result: {value}{RED:#}");
            let _ = writeln!(
                out,
                "{RED_BOLD}Summary for {minion}: unreadable result{RED_BOLD:#}"
            );
        }
        MinionResult::Returned(returned) => match (&returned.ret, returned.states()) {
            (_, Some(states)) => {
                for state in &states {
                    let (style, result) = match state.result.result {
                        Some(true) if state.changed() => (CYAN, "True"),
                        Some(true) => (GREEN, "True"),
                        Some(false) => (RED, "False"),
                        None => (YELLOW, "None"),
                    };
                    let _ = writeln!(out, "{style}----------{style:#}");
                    let field = |out: &mut String, label: &str, value: &str| {
                        let _ = writeln!(out, "{style}{label:>12}: {value}{style:#}");
                    };
                    field(&mut out, "ID", &state.id);
                    field(&mut out, "Function", &state.function);
                    field(&mut out, "Name", &scalar(&state.result.name));
                    if state.result.result == Some(false) {
                        let _ = writeln!(out, "{RED_BOLD}{:>12}: {result}{RED_BOLD:#}", "Result");
                    } else {
                        field(&mut out, "Result", result);
                    }
                    let comment = comment_text(&state.result.comment);
                    let mut lines = comment.lines();
                    field(&mut out, "Comment", lines.next().unwrap_or(""));
                    for line in lines {
                        let _ = writeln!(out, "{style}{:>12}  {line}{style:#}", "");
                    }
                    if let Some(started) = &state.result.start_time {
                        field(&mut out, "Started", started);
                    }
                    if let Some(duration) = &state.result.duration {
                        field(&mut out, "Duration", &format!("{} ms", scalar(duration)));
                    }
                    if state.changed() {
                        let _ = writeln!(out, "{style}{:>12}:{style:#}", "Changes");
                        nested(&mut out, &state.result.changes, 14, style);
                    } else {
                        field(&mut out, "Changes", "");
                    }
                }
                let summary = update.result.summary();
                let style = if summary.failed > 0 || !ok {
                    RED_BOLD
                } else {
                    GREEN
                };
                let _ = write!(
                    out,
                    "{style}Summary for {minion}: Succeeded: {} (changed={})  Failed: {}",
                    summary.succeeded, summary.changed, summary.failed
                );
                if summary.unknown > 0 {
                    let _ = write!(out, "  Unknown (test mode): {}", summary.unknown);
                }
                if summary.failed == 0 && !ok {
                    let _ = write!(out, "  (retcode {})", returned.retcode.unwrap_or(0));
                }
                let _ = writeln!(out, "{style:#}");
            }
            (Ret::RenderErrors(errors), None) => {
                let _ = writeln!(out, "{RED}    Data failed to compile:{RED:#}");
                for error in errors {
                    for line in error.lines() {
                        let _ = writeln!(out, "{RED}        {line}{RED:#}");
                    }
                }
                let _ = writeln!(
                    out,
                    "{RED_BOLD}Summary for {minion}: render error{RED_BOLD:#}"
                );
            }
            (ret, None) => {
                let text = serde_json::to_string(ret).unwrap_or_default();
                let _ = writeln!(out, "{RED}    {text}{RED:#}");
                let _ = writeln!(
                    out,
                    "{RED_BOLD}Summary for {minion}: unreadable result{RED_BOLD:#}"
                );
            }
        },
    }
    out
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn comment_text(value: &Value) -> String {
    match value {
        Value::Array(items) => items.iter().map(scalar).collect::<Vec<_>>().join("\n"),
        other => scalar(other),
    }
}

/// Salt's `nested` outputter, roughly: keys on their own line, values indented below, strings
/// line by line (diffs stay readable).
fn nested(out: &mut String, value: &Value, indent: usize, style: Style) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) => {
            let _ = writeln!(out, "{style}{pad}----------{style:#}");
            for (key, value) in map {
                match value {
                    Value::Object(_) | Value::Array(_) => {
                        let _ = writeln!(out, "{style}{pad}{key}:{style:#}");
                        nested(out, value, indent + 4, style);
                    }
                    Value::String(s) if s.contains('\n') => {
                        let _ = writeln!(out, "{style}{pad}{key}:{style:#}");
                        nested(out, value, indent + 4, style);
                    }
                    other => {
                        let _ = writeln!(out, "{style}{pad}{key}:{style:#}");
                        let _ = writeln!(out, "{style}{pad}    {}{style:#}", scalar(other));
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Object(_) | Value::Array(_) => {
                        let _ = writeln!(out, "{style}{pad}-{style:#}");
                        nested(out, item, indent + 4, style);
                    }
                    other => {
                        let _ = writeln!(out, "{style}{pad}- {}{style:#}", scalar(other));
                    }
                }
            }
        }
        Value::String(s) => {
            for line in s.lines() {
                let _ = writeln!(out, "{style}{pad}{line}{style:#}");
            }
        }
        other => {
            let _ = writeln!(out, "{style}{pad}{}{style:#}", scalar(other));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(json: &str) -> HighstateUpdate {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn block_shows_every_state_and_the_summary() {
        let u = update(
            r#"{"msg": "m", "minion": "web1", "result": {"out": "highstate", "retcode": 2, "ret": {
            "file_|-motd_|-/etc/motd_|-managed": {"name": "/etc/motd", "changes": {"diff": "--- a\n+++ b"}, "result": true, "comment": "File updated", "__run_num__": 0, "__id__": "motd"},
            "cmd_|-boom_|-false_|-run": {"name": "false", "changes": {}, "result": false, "comment": "Command failed", "__run_num__": 1, "__id__": "boom"}}}}"#,
        );
        let text = minion_block(&u);
        let plain = anstream::adapter::strip_str(&text).to_string();
        assert!(plain.starts_with("web1:\n"), "{plain}");
        assert!(plain.contains("          ID: motd\n    Function: file.managed\n        Name: /etc/motd\n      Result: True\n"));
        assert!(
            plain.contains("                  --- a\n                  +++ b\n"),
            "{plain}"
        );
        assert!(plain.contains("      Result: False\n     Comment: Command failed\n"));
        assert!(
            plain.ends_with("Summary for web1: Succeeded: 1 (changed=1)  Failed: 1\n"),
            "{plain}"
        );
    }

    #[test]
    fn render_errors_and_no_return() {
        let u = update(
            r#"{"minion": "db", "result": {"ret": ["Rendering SLS 'base:app' failed: mapping values"], "retcode": 1}}"#,
        );
        let plain = anstream::adapter::strip_str(&minion_block(&u)).to_string();
        assert!(
            plain.contains("Data failed to compile:\n        Rendering SLS"),
            "{plain}"
        );
        assert!(plain.ends_with("Summary for db: render error\n"));
        let u = update(r#"{"minion": "db", "result": {"failed": true}}"#);
        let plain = anstream::adapter::strip_str(&minion_block(&u)).to_string();
        assert!(plain.contains("(No Results)"));
    }

    #[test]
    fn outcome_exit_codes() {
        let start = Event::HighstateStart(spiro_client::HighstateStart {
            msg: String::new(),
            minions: vec!["a".into(), "b".into()],
        });
        let ok = |m: &str| {
            Event::HighstateUpdate(Box::new(update(&format!(
                r#"{{"minion": "{m}", "result": {{"ret": {{}}, "retcode": 0}}}}"#
            ))))
        };
        let bad = Event::HighstateUpdate(Box::new(update(
            r#"{"minion": "b", "result": {"failed": true}}"#,
        )));
        let quiet = |format, highstate| Report {
            out: |_| {},
            ..Report::new(format, highstate)
        };
        let mut r = quiet(Format::Json, true);
        r.event(&start);
        r.event(&ok("a"));
        assert_eq!(r.finish().unwrap_err().exit, Exit::Incomplete);
        let mut r = quiet(Format::Json, true);
        r.event(&start);
        r.event(&ok("a"));
        r.event(&bad);
        assert_eq!(r.finish().unwrap_err().exit, Exit::Incomplete);
        let mut r = quiet(Format::Json, true);
        r.event(&start);
        r.event(&ok("a"));
        r.event(&Event::HighstateUpdate(Box::new(update(
            r#"{"minion": "b", "result": {"ret": ["bad yaml"], "retcode": 1}}"#,
        ))));
        assert_eq!(r.finish().unwrap_err().exit, Exit::FailedStates);
        let mut r = quiet(Format::Json, true);
        r.event(&start);
        r.event(&ok("a"));
        r.event(&ok("b"));
        assert_eq!(r.finish().unwrap(), Exit::Success);
    }
}
