//! `--format json`: one JSON object per event per line, `{"event": NAME, "data": DATA}`, and
//! at the end a summary line of the same shape, named `spiro-deploy-summary`.
//!
//! Each line is valid JSON with no raw control character: serde_json escapes C0, and
//! [`write_json_visible`] escapes the DEL and C1 characters JSON allows raw.

use std::io::{self, Write};

use serde_json::value::RawValue;
use serde_json::{Value, json};
use spiro_client::Event;

use super::outcome::Outcome;
use crate::error::Exit;
use crate::terminal::write_json_visible;

/// Writes the line for `event`: its name and its `data` exactly as the server sent it (`raw`),
/// so machines see every field, including those this client does not know. Data that is not
/// JSON, or not on one line, is re-serialised from what was parsed.
pub fn write_event(out: &mut impl Write, event: &Event, raw: Option<&str>) -> io::Result<()> {
    let verbatim = raw
        .filter(|raw| !raw.contains(['\n', '\r']))
        .and_then(|raw| serde_json::from_str::<&RawValue>(raw).ok());
    if let Some(data) = verbatim {
        let name = serde_json::to_string(event.name()).unwrap_or_default();
        out.write_all(br#"{"event":"#)?;
        write_json_visible(out, &name)?;
        out.write_all(br#","data":"#)?;
        write_json_visible(out, data.get())?;
        return out.write_all(b"}\n");
    }
    let reparsed = raw.and_then(|raw| serde_json::from_str::<Value>(raw).ok());
    let line = match reparsed {
        Some(data) => {
            serde_json::to_string(&serde_json::json!({"event": event.name(), "data": data}))
        }
        None => serde_json::to_string(event),
    };
    match line {
        Ok(line) => {
            write_json_visible(out, &line)?;
            out.write_all(b"\n")
        }
        Err(e) => writeln!(
            out,
            r#"{{"event":"spiro-deploy-error","data":{{"msg":{:?}}}}}"#,
            e.to_string()
        ),
    }
}

/// Writes the closing summary line, `{"event": "spiro-deploy-summary", "data": …}`: each
/// minion's counts in report order, the minions that did not report, whether `--timeout` ran
/// out, and the exit status.
pub fn write_summary(out: &mut impl Write, outcome: &Outcome, exit: Exit) -> io::Result<()> {
    let minions: Vec<Value> = outcome
        .minions
        .iter()
        .map(|minion| {
            json!({
                "minion": minion.minion,
                "status": minion.status.name(),
                "succeeded": minion.summary.succeeded,
                "changed": minion.summary.changed,
                "failed": minion.summary.failed,
                "unknown": minion.summary.unknown,
            })
        })
        .collect();
    let data = json!({
        "minions": minions,
        "unreported": outcome.unreported(),
        "timed_out": outcome.timed_out.is_some(),
        "exit": exit as u8,
    });
    let data = serde_json::to_string(&data).map_err(io::Error::other)?;
    // `event` first, as on every other line.
    out.write_all(br#"{"event":"spiro-deploy-summary","data":"#)?;
    write_json_visible(out, &data)?;
    out.write_all(b"}\n")
}
