//! The typed deploy events, as PROTOCOL.md describes them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::sse::SseEvent;

/// One event of a deploy, in the order the server sends them.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", content = "data")]
pub enum Event {
    /// `deploy-bundle`: the bundle is being extracted. Without highstate, the only event.
    #[serde(rename = "deploy-bundle")]
    DeployBundle(Status),
    /// `highstate-calc`: working out which minions have top-file entries in this saltenv.
    #[serde(rename = "highstate-calc")]
    HighstateCalc(Status),
    /// `highstate-start`: the minions that will be highstated.
    #[serde(rename = "highstate-start")]
    HighstateStart(HighstateStart),
    /// `highstate-update`: one minion's result, in completion order.
    #[serde(rename = "highstate-update")]
    HighstateUpdate(Box<HighstateUpdate>),
    /// `highstate-finish`: "Highstate complete".
    #[serde(rename = "highstate-finish")]
    HighstateFinish(Status),
    /// `exception`: the server failed; the stream ends after it.
    #[serde(rename = "exception")]
    Exception(Status),
    /// An event this client does not know, kept as it came.
    #[serde(untagged)]
    Unknown {
        /// The event type.
        event: String,
        /// The `data`, parsed as JSON when it is JSON, else as a JSON string.
        data: Value,
    },
}

impl Event {
    /// The SSE event type (`deploy-bundle`, …).
    pub fn name(&self) -> &str {
        match self {
            Event::DeployBundle(_) => "deploy-bundle",
            Event::HighstateCalc(_) => "highstate-calc",
            Event::HighstateStart(_) => "highstate-start",
            Event::HighstateUpdate(_) => "highstate-update",
            Event::HighstateFinish(_) => "highstate-finish",
            Event::Exception(_) => "exception",
            Event::Unknown { event, .. } => event,
        }
    }

    /// The human-readable status every event carries in `msg` (empty if absent).
    pub fn msg(&self) -> &str {
        match self {
            Event::DeployBundle(s)
            | Event::HighstateCalc(s)
            | Event::HighstateFinish(s)
            | Event::Exception(s) => &s.msg,
            Event::HighstateStart(s) => &s.msg,
            Event::HighstateUpdate(u) => &u.msg,
            Event::Unknown { data, .. } => data.get("msg").and_then(Value::as_str).unwrap_or(""),
        }
    }

    /// Decodes a raw SSE event. Known events whose data does not have the documented shape
    /// are an error; unknown event types are kept as [`Event::Unknown`].
    pub fn from_sse(sse: &SseEvent) -> Result<Event, serde_json::Error> {
        let data = sse.data.as_str();
        Ok(match sse.event.as_str() {
            "deploy-bundle" => Event::DeployBundle(serde_json::from_str(data)?),
            "highstate-calc" => Event::HighstateCalc(serde_json::from_str(data)?),
            "highstate-start" => Event::HighstateStart(serde_json::from_str(data)?),
            "highstate-update" => Event::HighstateUpdate(Box::new(serde_json::from_str(data)?)),
            "highstate-finish" => Event::HighstateFinish(serde_json::from_str(data)?),
            "exception" => Event::Exception(serde_json::from_str(data)?),
            other => Event::Unknown {
                event: other.to_owned(),
                data: serde_json::from_str(data).unwrap_or_else(|_| Value::String(data.into())),
            },
        })
    }
}

/// The data of the status-only events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The human-readable status.
    #[serde(default)]
    pub msg: String,
}

/// The data of `highstate-start`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HighstateStart {
    /// The human-readable status.
    #[serde(default)]
    pub msg: String,
    /// The minions that will be highstated (may be empty).
    #[serde(default)]
    pub minions: Vec<String>,
}

/// The data of `highstate-update`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HighstateUpdate {
    /// The human-readable status.
    #[serde(default)]
    pub msg: String,
    /// The minion id.
    pub minion: String,
    /// What the minion returned.
    pub result: MinionResult,
}

/// What one minion returned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MinionResult {
    /// The minion returned: its states, or its render errors.
    Returned(Returned),
    /// The minion did not return (`{"failed": true}`).
    NoReturn {
        /// Always `true`.
        failed: bool,
    },
    /// Anything else, kept as it came.
    Other(Value),
}

/// A minion's return.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Returned {
    /// The states, or the render errors.
    pub ret: Ret,
    /// Salt's outputter for this return (`highstate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out: Option<String>,
    /// 0 when every state succeeded, 2 when one failed, 1 for a render error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retcode: Option<i64>,
    /// The job id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jid: Option<String>,
}

/// `ret`: a map of state results, or a list of render errors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Ret {
    /// The states, keyed `<module>_|-<id>_|-<name>_|-<function>`.
    States(serde_json::Map<String, Value>),
    /// The states did not render: the error texts.
    RenderErrors(Vec<String>),
    /// Anything else (a string from a minion-side exception, …).
    Other(Value),
}

/// One state's result, decoded from a `ret` entry by [`Returned::states`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateResult {
    /// The state's `name` argument.
    #[serde(default)]
    pub name: Value,
    /// What changed (an empty object when nothing did).
    #[serde(default)]
    pub changes: Value,
    /// `true`, `false`, or `None` (test mode: would change).
    #[serde(default)]
    pub result: Option<bool>,
    /// Salt's comment (a string, or a list of strings).
    #[serde(default)]
    pub comment: Value,
    /// The SLS file it came from.
    #[serde(default, rename = "__sls__")]
    pub sls: Option<String>,
    /// The order it ran in.
    #[serde(default, rename = "__run_num__")]
    pub run_num: Option<u64>,
    /// The state's id.
    #[serde(default, rename = "__id__")]
    pub id: Option<String>,
    /// When it started.
    #[serde(default)]
    pub start_time: Option<String>,
    /// How long it took, in milliseconds.
    #[serde(default)]
    pub duration: Option<Value>,
}

/// A state with its key split into parts.
#[derive(Clone, Debug, PartialEq)]
pub struct State {
    /// The full key, `file_|-motd_|-/etc/motd_|-managed`.
    pub key: String,
    /// `file.managed`.
    pub function: String,
    /// The id (`__id__`, or the second key part).
    pub id: String,
    /// The decoded result.
    pub result: StateResult,
}

impl State {
    /// Whether the state changed anything.
    pub fn changed(&self) -> bool {
        match &self.result.changes {
            Value::Null => false,
            Value::Object(map) => !map.is_empty(),
            Value::Array(list) => !list.is_empty(),
            Value::String(s) => !s.is_empty(),
            _ => true,
        }
    }
}

impl Returned {
    /// The states in the order they ran (`__run_num__`, then key), or `None` for a render
    /// error or an unexpected `ret`. An entry that is not an object becomes a failed state.
    pub fn states(&self) -> Option<Vec<State>> {
        let Ret::States(map) = &self.ret else {
            return None;
        };
        let mut states: Vec<State> = map
            .iter()
            .map(|(key, value)| {
                let result = serde_json::from_value(value.clone()).unwrap_or(StateResult {
                    name: Value::Null,
                    changes: Value::Null,
                    result: Some(false),
                    comment: value.clone(),
                    sls: None,
                    run_num: None,
                    id: None,
                    start_time: None,
                    duration: None,
                });
                let parts: Vec<&str> = key.split("_|-").collect();
                let function = match parts.as_slice() {
                    [module, _, _, fun, ..] => format!("{module}.{fun}"),
                    _ => key.clone(),
                };
                let id = result
                    .id
                    .clone()
                    .or_else(|| parts.get(1).map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| key.clone());
                State {
                    key: key.clone(),
                    function,
                    id,
                    result,
                }
            })
            .collect();
        states.sort_by(|a, b| {
            (a.result.run_num.unwrap_or(u64::MAX), &a.key)
                .cmp(&(b.result.run_num.unwrap_or(u64::MAX), &b.key))
        });
        Some(states)
    }
}

/// A minion's outcome, summarised.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// States whose result is `true`.
    pub succeeded: usize,
    /// Of those and the `None` ones, how many changed something.
    pub changed: usize,
    /// States whose result is `false`.
    pub failed: usize,
    /// States whose result is `None` (test mode).
    pub unknown: usize,
}

impl MinionResult {
    /// Whether every state succeeded: a returned map without a `false` result and with a
    /// zero (or absent) retcode.
    pub fn is_success(&self) -> bool {
        match self {
            MinionResult::Returned(returned) => match returned.states() {
                Some(states) => {
                    states.iter().all(|s| s.result.result != Some(false))
                        && returned.retcode.unwrap_or(0) == 0
                }
                None => false,
            },
            _ => false,
        }
    }

    /// Counts of succeeded, changed and failed states (zeros when the minion did not return
    /// or its states did not render).
    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        if let MinionResult::Returned(returned) = self {
            for state in returned.states().unwrap_or_default() {
                match state.result.result {
                    Some(true) => summary.succeeded += 1,
                    Some(false) => summary.failed += 1,
                    None => summary.unknown += 1,
                }
                if state.result.result != Some(false) && state.changed() {
                    summary.changed += 1;
                }
            }
        }
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sse(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
            id: String::new(),
        }
    }

    #[test]
    fn decodes_an_update_with_states() {
        let data = r#"{"msg": "m1 done", "minion": "m1", "result": {"out": "highstate", "retcode": 2, "jid": "1",
            "ret": {
              "file_|-motd_|-/etc/motd_|-managed": {"name": "/etc/motd", "changes": {"diff": "x"}, "result": true,
                 "comment": "ok", "__sls__": "motd", "__run_num__": 1, "start_time": "1", "duration": 1.5, "__id__": "motd"},
              "cmd_|-fail_|-false_|-run": {"name": "false", "changes": {}, "result": false, "comment": "bad",
                 "__run_num__": 0, "__id__": "fail"}
            }}}"#;
        let Event::HighstateUpdate(update) =
            Event::from_sse(&sse("highstate-update", data)).unwrap()
        else {
            panic!()
        };
        assert_eq!(update.minion, "m1");
        assert!(!update.result.is_success());
        let MinionResult::Returned(ret) = &update.result else {
            panic!()
        };
        let states = ret.states().unwrap();
        assert_eq!(states[0].id, "fail");
        assert_eq!(states[1].function, "file.managed");
        assert_eq!(
            update.result.summary(),
            Summary {
                succeeded: 1,
                changed: 1,
                failed: 1,
                unknown: 0
            }
        );
    }

    #[test]
    fn decodes_render_errors_and_no_return() {
        let e = Event::from_sse(&sse(
            "highstate-update",
            r#"{"msg": "x", "minion": "m", "result": {"ret": ["Rendering SLS failed"], "retcode": 1, "out": "highstate"}}"#,
        ))
        .unwrap();
        let Event::HighstateUpdate(u) = e else {
            panic!()
        };
        assert!(
            matches!(&u.result, MinionResult::Returned(Returned { ret: Ret::RenderErrors(v), .. }) if v.len() == 1)
        );
        assert!(!u.result.is_success());
        let e = Event::from_sse(&sse(
            "highstate-update",
            r#"{"msg": "x", "minion": "m", "result": {"failed": true}}"#,
        ))
        .unwrap();
        let Event::HighstateUpdate(u) = e else {
            panic!()
        };
        assert_eq!(u.result, MinionResult::NoReturn { failed: true });
    }

    #[test]
    fn unknown_events_are_kept_and_serialise_back() {
        let e = Event::from_sse(&sse("surprise", r#"{"msg": "hi", "n": 1}"#)).unwrap();
        assert_eq!(e.name(), "surprise");
        assert_eq!(e.msg(), "hi");
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"event": "surprise", "data": {"msg": "hi", "n": 1}})
        );
        let e = Event::from_sse(&sse("deploy-bundle", r#"{"msg": "Deploying bundle"}"#)).unwrap();
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"event": "deploy-bundle", "data": {"msg": "Deploying bundle"}})
        );
        assert!(Event::from_sse(&sse("highstate-start", "not json")).is_err());
    }
}
