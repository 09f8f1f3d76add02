//! `--format json`: one JSON object per event per line, `{"event": NAME, "data": DATA}`.

use std::io::{self, Write};

use serde_json::Value;
use serde_json::value::RawValue;
use spiro_client::Event;

/// Writes the line for `event`: its name and its `data` exactly as the server sent it (`raw`),
/// so machines see every field, including those this client does not know. Data that is not
/// JSON, or not on one line, is re-serialised from what was parsed.
pub fn write_event(out: &mut impl Write, event: &Event, raw: Option<&str>) -> io::Result<()> {
    let name = serde_json::to_string(event.name()).unwrap_or_default();
    let verbatim = raw
        .filter(|raw| !raw.contains(['\n', '\r']))
        .and_then(|raw| serde_json::from_str::<&RawValue>(raw).ok());
    if let Some(data) = verbatim {
        return writeln!(out, r#"{{"event":{name},"data":{}}}"#, data.get());
    }
    let reparsed = raw.and_then(|raw| serde_json::from_str::<Value>(raw).ok());
    let line = match reparsed {
        Some(data) => {
            serde_json::to_string(&serde_json::json!({"event": event.name(), "data": data}))
        }
        None => serde_json::to_string(event),
    };
    match line {
        Ok(line) => writeln!(out, "{line}"),
        Err(e) => writeln!(
            out,
            r#"{{"event":"spiro-deploy-error","data":{{"msg":{:?}}}}}"#,
            e.to_string()
        ),
    }
}
