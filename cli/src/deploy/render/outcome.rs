//! What the deploy has shown so far: the plain data every output mode reads, and the exit
//! status it leads to. No formatting here.

use std::collections::HashSet;
use std::time::Duration;

use spiro_client::{Event, MinionResult, Ret, Summary};

use crate::error::{CliError, Exit};

use super::junit::duration_ms;
use super::plural;

/// The deploy's outcome as the events tell it.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Whether the deploy runs a highstate (else only the deploy itself counts).
    pub highstate: bool,
    /// The minions `highstate-start` named, once it came.
    pub targeted: Option<Vec<String>>,
    /// The minions that reported their states, in the order they did.
    pub reported: Vec<String>,
    /// `reported` as a set: finding the unreported minions stays linear on large fleets.
    reported_set: HashSet<String>,
    /// The minions whose states failed (or that returned a render error), in report order.
    pub failed: Vec<String>,
    /// The server's `exception` message, trailing whitespace trimmed.
    pub exception: Option<String>,
    /// Whether `highstate-finish` came.
    pub finished: bool,
    /// Each minion's counts, in the order they reported (non-returning minions included).
    pub minions: Vec<MinionOutcome>,
    /// The `--timeout` that ran out before the deploy ended.
    pub timed_out: Option<Duration>,
}

/// How one minion's highstate went, in counts.
#[derive(Clone, Debug, PartialEq)]
pub struct MinionOutcome {
    /// The minion id.
    pub minion: String,
    /// What became of its highstate.
    pub status: MinionStatus,
    /// Its states' counts (zeros unless `status` is `Succeeded` or `Failed`).
    pub summary: Summary,
    /// Its states that changed something, failed ones included (as Salt counts `changed=`).
    pub changed_states: usize,
    /// The sum of its states' durations, in milliseconds.
    pub run_time_ms: f64,
}

/// What became of one minion's highstate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MinionStatus {
    /// Every state succeeded.
    Succeeded,
    /// A state failed (or the retcode said so).
    Failed,
    /// Its states did not render.
    RenderError,
    /// It did not return.
    NoReturn,
    /// It returned something this client cannot read.
    Unreadable,
}

impl MinionStatus {
    /// The status's name in `--format json`'s summary.
    pub fn name(self) -> &'static str {
        match self {
            MinionStatus::Succeeded => "succeeded",
            MinionStatus::Failed => "failed",
            MinionStatus::RenderError => "render-error",
            MinionStatus::NoReturn => "no-return",
            MinionStatus::Unreadable => "unreadable",
        }
    }
}

impl MinionOutcome {
    /// The outcome `result` means for `minion`.
    pub fn new(minion: &str, result: &MinionResult) -> MinionOutcome {
        let status = match result {
            MinionResult::NoReturn { .. } => MinionStatus::NoReturn,
            MinionResult::Other(_) => MinionStatus::Unreadable,
            MinionResult::Returned(returned) => match &returned.ret {
                Ret::States(_) if result.is_success() => MinionStatus::Succeeded,
                Ret::States(_) => MinionStatus::Failed,
                Ret::RenderErrors(_) => MinionStatus::RenderError,
                Ret::Other(_) => MinionStatus::Unreadable,
            },
        };
        let states = match result {
            MinionResult::Returned(returned) => returned.states().unwrap_or_default(),
            _ => Vec::new(),
        };
        MinionOutcome {
            minion: minion.to_owned(),
            status,
            summary: result.summary(),
            changed_states: states.iter().filter(|state| state.changed()).count(),
            run_time_ms: states.iter().filter_map(duration_ms).sum(),
        }
    }
}

impl Outcome {
    /// An outcome before any event.
    pub fn new(highstate: bool) -> Outcome {
        Outcome {
            highstate,
            ..Outcome::default()
        }
    }

    /// Remembers what `event` means for the outcome.
    pub fn record(&mut self, event: &Event) {
        match event {
            Event::HighstateStart(start) => self.targeted = Some(start.minions.clone()),
            Event::HighstateUpdate(update) => {
                self.minions
                    .push(MinionOutcome::new(&update.minion, &update.result));
                self.record_report(update);
            }
            Event::HighstateFinish(_) => self.finished = true,
            Event::Exception(status) => self.exception = Some(status.msg.trim_end().to_owned()),
            _ => {}
        }
    }

    /// Remembers whether the minion of `update` reported, and whether it failed.
    fn record_report(&mut self, update: &spiro_client::HighstateUpdate) {
        match update {
            // A minion that did not return (`failed: true`) has not reported its states.
            update if matches!(update.result, MinionResult::NoReturn { .. }) => {}
            update => {
                self.reported.push(update.minion.clone());
                self.reported_set.insert(update.minion.clone());
                if !update.result.is_success() {
                    self.failed.push(update.minion.clone());
                }
            }
        }
    }

    /// The targeted minions that have not reported, in the order they were targeted.
    pub fn unreported(&self) -> Vec<&str> {
        self.targeted
            .iter()
            .flatten()
            .filter(|m| !self.reported_set.contains(m.as_str()))
            .map(String::as_str)
            .collect()
    }

    /// The targeted minions from which no `highstate-update` came at all (unlike
    /// [`unreported`](Outcome::unreported), without those that said they did not return).
    pub fn silent(&self) -> Vec<&str> {
        let no_return: HashSet<&str> = self
            .minions
            .iter()
            .filter(|m| m.status == MinionStatus::NoReturn)
            .map(|m| m.minion.as_str())
            .collect();
        self.unreported()
            .into_iter()
            .filter(|m| !no_return.contains(m))
            .collect()
    }

    /// The exit status: 0 only when the deploy was accepted and, with highstate on, every
    /// targeted minion reported and every state succeeded.
    pub fn exit(&self) -> Result<Exit, CliError> {
        if let Some(exception) = &self.exception {
            return Err(CliError::msg(
                Exit::Server,
                format!("the server failed during the deploy: {exception}"),
            )
            .hint("the salt-master's log has the details (a YAML error in spirotop.sls is a common cause)"));
        }
        if let Some(timeout) = self.timed_out {
            return Err(self.timed_out_error(timeout));
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

impl Outcome {
    /// `--timeout` ran out: which minions had not reported, and where the highstate may still
    /// be running.
    fn timed_out_error(&self, timeout: Duration) -> CliError {
        let after = humantime::format_duration(timeout);
        let unreported = self.unreported();
        let message = match (&self.targeted, unreported.is_empty()) {
            (None, _) => {
                format!("the deploy timed out after {after}, before the highstate started")
            }
            (Some(_), true) => format!(
                "the deploy timed out after {after}, before the server said it was complete"
            ),
            (Some(targeted), false) => format!(
                "the deploy timed out after {after}: {} of {} {} did not report: {}",
                unreported.len(),
                targeted.len(),
                plural(targeted.len(), "minion", "minions"),
                unreported.join(", ")
            ),
        };
        CliError::msg(Exit::Incomplete, message).hint(
            "the highstate may still be running on the salt-master: `salt-run jobs.active` there lists it",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(json: &str) -> Event {
        Event::HighstateUpdate(Box::new(serde_json::from_str(json).unwrap()))
    }

    fn ok(minion: &str) -> Event {
        update(&format!(
            r#"{{"minion": "{minion}", "result": {{"ret": {{}}, "retcode": 0}}}}"#
        ))
    }

    fn start(minions: &[&str]) -> Event {
        Event::HighstateStart(spiro_client::HighstateStart {
            msg: String::new(),
            minions: minions.iter().map(|m| m.to_string()).collect(),
        })
    }

    fn exit_after(events: &[Event]) -> Result<Exit, Exit> {
        let mut outcome = Outcome::new(true);
        for event in events {
            outcome.record(event);
        }
        outcome.exit().map_err(|err| err.exit)
    }

    #[test]
    fn exit_codes() {
        let no_return = update(r#"{"minion": "b", "result": {"failed": true}}"#);
        let render_error =
            update(r#"{"minion": "b", "result": {"ret": ["bad yaml"], "retcode": 1}}"#);
        let targeted = start(&["a", "b"]);
        assert_eq!(
            exit_after(&[targeted.clone(), ok("a")]),
            Err(Exit::Incomplete)
        );
        assert_eq!(
            exit_after(&[targeted.clone(), ok("a"), no_return]),
            Err(Exit::Incomplete)
        );
        assert_eq!(
            exit_after(&[targeted.clone(), ok("a"), render_error]),
            Err(Exit::FailedStates)
        );
        assert_eq!(exit_after(&[targeted, ok("a"), ok("b")]), Ok(Exit::Success));
        let exception = Event::Exception(spiro_client::Status {
            msg: "boom\n".into(),
        });
        assert_eq!(exit_after(&[exception]), Err(Exit::Server));
        assert_eq!(Outcome::new(false).exit().unwrap(), Exit::Success);
    }

    /// Finding the unreported minions was quadratic: 40,000 minions took 10 s of CPU. This runs
    /// in a blink now (no timing assertion: a slow machine must not fail it).
    #[test]
    fn forty_thousand_minions() {
        let minions: Vec<String> = (0..40_000).map(|i| format!("minion-{i:05}")).collect();
        let mut outcome = Outcome::new(true);
        outcome.record(&start(
            &minions.iter().map(String::as_str).collect::<Vec<_>>(),
        ));
        // Every other minion reports, in reverse order.
        for minion in minions.iter().rev().step_by(2) {
            outcome.record(&ok(minion));
        }
        let unreported = outcome.unreported();
        assert_eq!(unreported.len(), 20_000);
        assert_eq!(unreported[..2], ["minion-00000", "minion-00002"]);
        assert_eq!(outcome.exit().unwrap_err().exit, Exit::Incomplete);
    }
}
