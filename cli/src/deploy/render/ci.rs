//! The CI server's own log markup around the human form, when the job runs there:
//!
//! - GitHub Actions (`GITHUB_ACTIONS=true`): each minion's block in `::group::`/`::endgroup::`,
//!   an `::error title=…::…` workflow command per failed state and per minion that did not
//!   report, and a Markdown summary appended to the file `GITHUB_STEP_SUMMARY` names.
//! - GitLab CI (`GITLAB_CI=true`): each minion's block in a collapsible section, collapsed when
//!   the minion succeeded.
//!
//! The markers are this program's own; everything from the server inside them goes through
//! [`visible`] and the escaping the service documents. GitHub runs any line of the log that
//! looks like a workflow command, so a state's output could forge annotations or mask
//! text: command processing is stopped (`::stop-commands::`) while server text is written
//! and resumed only around this program's own commands.

use std::fmt;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use spiro_client::{HighstateUpdate, MinionResult};

use super::outcome::{MinionStatus, Outcome};
use crate::error::Exit;
use crate::terminal::visible;

/// The CI server the job runs on, as far as its log markup goes.
#[derive(Debug, Default)]
pub enum Ci {
    /// None, or one this program has no markup for.
    #[default]
    None,
    /// GitHub Actions.
    GitHub {
        /// `GITHUB_STEP_SUMMARY`: the file the job summary is appended to.
        step_summary: Option<PathBuf>,
        /// The failed states so far: `(minion, id, function, comment)`, made visible.
        failed: Vec<[String; 4]>,
        /// The token that resumes command processing: unguessable, so server text cannot.
        resume: String,
        /// Whether command processing is stopped.
        stopped: bool,
    },
    /// GitLab CI.
    GitLab {
        /// Sections opened so far, to keep their names unique.
        sections: usize,
    },
}

impl Ci {
    /// The CI server that the environment names (`GITHUB_ACTIONS=true`, `GITLAB_CI=true`).
    pub fn detect() -> Ci {
        let is_true = |name: &str| std::env::var_os(name).is_some_and(|value| value == "true");
        if is_true("GITHUB_ACTIONS") {
            Ci::github(
                std::env::var_os("GITHUB_STEP_SUMMARY")
                    .filter(|path| !path.is_empty())
                    .map(PathBuf::from),
            )
        } else if is_true("GITLAB_CI") {
            Ci::GitLab { sections: 0 }
        } else {
            Ci::None
        }
    }

    /// GitHub Actions, appending the job summary to `step_summary`.
    pub fn github(step_summary: Option<PathBuf>) -> Ci {
        Ci::GitHub {
            step_summary,
            failed: Vec::new(),
            resume: resume_token(),
            stopped: false,
        }
    }

    /// What goes before the first line of the report: on GitHub, the command that stops
    /// command processing (the rest of the log is server text).
    pub fn opening(&mut self) -> String {
        match self {
            Ci::GitHub {
                resume, stopped, ..
            } if !*stopped => {
                *stopped = true;
                format!("::stop-commands::{resume}\n")
            }
            _ => String::new(),
        }
    }

    /// What goes before and after the block of the minion that reported in `update`.
    pub fn minion_markers(&mut self, update: &HighstateUpdate) -> (String, String) {
        let minion = visible(&update.minion).to_string();
        match self {
            Ci::None => (String::new(), String::new()),
            Ci::GitHub { failed, resume, .. } => {
                let stop = format!("::stop-commands::{resume}\n");
                let before = format!("::{resume}::\n::group::{}\n{stop}", escape_data(&minion));
                let mut after = format!("::{resume}::\n::endgroup::\n");
                let states = match &update.result {
                    MinionResult::Returned(returned) => returned.states(),
                    _ => None,
                };
                match (&update.result, states) {
                    (_, Some(states)) => {
                        for state in states.iter().filter(|s| s.result.result == Some(false)) {
                            let id = visible(&state.id).to_string();
                            let function = visible(&state.function).to_string();
                            let comment = visible(&comment_text(&state.result.comment)).to_string();
                            let title = format!("{id} ({function}) failed on {minion}");
                            after += &Annotation::new(&title, &comment).to_string();
                            failed.push([minion.clone(), id, function, comment]);
                        }
                    }
                    (MinionResult::NoReturn { .. }, None) => {
                        let title = format!("{minion} did not return");
                        after +=
                            &Annotation::new(&title, "the minion did not return its highstate")
                                .to_string();
                    }
                    (_, None) => {
                        let title = format!("{minion}: the states did not render");
                        let message =
                            format!("the highstate of {minion} failed before any state ran");
                        after += &Annotation::new(&title, &message).to_string();
                    }
                }
                after += &stop;
                (before, after)
            }
            Ci::GitLab { sections } => {
                *sections += 1;
                let name = section_name(&minion, *sections);
                let collapsed = match update.result.is_success() {
                    true => "[collapsed=true]",
                    false => "",
                };
                // The section's header is the block's first line (`web1:`), which follows.
                let before = format!(
                    "\x1b[0Ksection_start:{}:{name}{collapsed}\r\x1b[0K",
                    unix_now()
                );
                let after = format!("\x1b[0Ksection_end:{}:{name}\r\x1b[0K\n", unix_now());
                (before, after)
            }
        }
    }

    /// The `::error` commands for the minions that did not report (GitHub only), each saying
    /// `why`; command processing is resumed for good before them.
    pub fn unreported_annotations(&mut self, outcome: &Outcome, why: &str) -> String {
        let mut out = String::new();
        if let Ci::GitHub {
            resume, stopped, ..
        } = self
        {
            if *stopped {
                out = format!("::{resume}::\n");
                *stopped = false;
            }
            for minion in outcome.silent() {
                let title = format!("{} did not report", visible(minion));
                out += &Annotation::new(&title, why).to_string();
            }
        }
        out
    }

    /// Appends the job summary to `GITHUB_STEP_SUMMARY` (GitHub only): a table of the minions
    /// with their counts, then the failed states. A file that cannot be written is skipped:
    /// the summary is a convenience, the log and the exit status tell it all.
    pub fn write_step_summary(&self, outcome: &Outcome, exit: Exit) {
        let Ci::GitHub {
            step_summary: Some(path),
            failed,
            ..
        } = self
        else {
            return;
        };
        let markdown = step_summary(outcome, failed, exit);
        let appended = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .and_then(|mut file| file.write_all(markdown.as_bytes()));
        if let Err(err) = appended {
            crate::output::warning(&format!(
                "could not append the job summary to {} (GITHUB_STEP_SUMMARY): {err}",
                path.display()
            ));
        }
    }
}

/// The Markdown of the job summary.
fn step_summary(outcome: &Outcome, failed: &[[String; 4]], exit: Exit) -> String {
    StepSummary {
        outcome,
        failed,
        exit,
    }
    .to_string()
}

/// The job summary: a verdict, a table of the minions, then the failed states.
struct StepSummary<'a> {
    outcome: &'a Outcome,
    failed: &'a [[String; 4]],
    exit: Exit,
}

impl fmt::Display for StepSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = match self.exit {
            Exit::Success => "succeeded",
            _ => "failed",
        };
        writeln!(
            f,
            "### spiro-deploy {verdict} (exit status {})\n",
            self.exit as u8
        )?;
        if !self.outcome.highstate {
            return Ok(());
        }
        f.write_str("| Minion | Result | Succeeded | Changed | Failed |\n")?;
        f.write_str("| --- | --- | ---: | ---: | ---: |\n")?;
        for minion in &self.outcome.minions {
            let counts = &minion.summary;
            writeln!(
                f,
                "| {} | {} | {} | {} | {} |",
                cell(&minion.minion),
                match minion.status {
                    MinionStatus::Succeeded => "✅ succeeded",
                    MinionStatus::Failed => "❌ failed",
                    MinionStatus::RenderError => "❌ render error",
                    MinionStatus::NoReturn => "❌ did not return",
                    MinionStatus::Unreadable => "❌ unreadable result",
                },
                counts.succeeded,
                counts.changed,
                counts.failed
            )?;
        }
        for minion in self.outcome.silent() {
            writeln!(f, "| {} | ❌ did not report | | | |", cell(minion))?;
        }
        if !self.failed.is_empty() {
            f.write_str(
                "\n#### Failed states\n\n| Minion | State | Function | Comment |\n| --- | --- | --- | --- |\n",
            )?;
            for [minion, id, function, comment] in self.failed {
                writeln!(
                    f,
                    "| {} | {} | {} | {} |",
                    cell(minion),
                    cell(id),
                    cell(function),
                    cell(comment)
                )?;
            }
        }
        f.write_str("\n")
    }
}

/// A GitHub `::error` workflow command: its title and message escaped as the
/// workflow-command rules say.
struct Annotation<'a> {
    title: &'a str,
    message: &'a str,
}

impl<'a> Annotation<'a> {
    fn new(title: &'a str, message: &'a str) -> Annotation<'a> {
        Annotation { title, message }
    }
}

impl fmt::Display for Annotation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "::error title={}::{}",
            escape_property(self.title),
            escape_data(self.message)
        )
    }
}

/// A Markdown table cell: visible, `|` escaped, lines joined with `<br>`.
fn cell(text: &str) -> String {
    visible(text)
        .to_string()
        .replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('\n', "<br>")
}

/// A state's comment, a string or a list of them, as one text.
fn comment_text(comment: &Value) -> String {
    match comment {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map_or_else(|| item.to_string(), str::to_owned)
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A workflow command's message: `%`, CR and LF escaped, as GitHub's toolkit does.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: as [`escape_data`], plus `:` and `,`.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// A GitLab section name for the `n`th minion: only `[a-zA-Z0-9_.-]`, unique by `n`.
pub fn section_name(minion: &str, n: usize) -> String {
    let clean: String = minion
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '.' | '-' => c,
            _ => '_',
        })
        .collect();
    format!("minion_{n}_{clean}")
}

/// A token no server text can guess: from the standard library's randomly seeded hasher and
/// the time.
fn resume_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos()),
    );
    let high = hasher.finish();
    hasher.write_u64(u64::from(std::process::id()));
    format!("spiro-deploy-{high:016x}{:016x}", hasher.finish())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_command_escaping() {
        assert_eq!(escape_data("50%\r\nnext"), "50%25%0D%0Anext");
        assert_eq!(escape_property("a: b, c%"), "a%3A b%2C c%25");
    }

    #[test]
    fn section_names_keep_only_what_gitlab_allows() {
        assert_eq!(
            section_name("web-1.example.com", 3),
            "minion_3_web-1.example.com"
        );
        assert_eq!(section_name("we b/\u{1b}[2K", 1), "minion_1_we_b___2K");
    }

    #[test]
    fn markdown_cells_escape_pipes_and_lines() {
        assert_eq!(cell("a|b\nc"), "a\\|b<br>c");
    }
}
