//! `--junit FILE`: the deploy as a JUnit XML report, the schema GitLab's and GitHub's test
//! viewers read: `<testsuites>` > one `<testsuite>` per targeted minion > one `<testcase>` per
//! state, with `<failure>` for a failed state, `<error>` for a render error or a minion that did
//! not report, `<skipped>` for a state whose result is `None` (test mode).
//!
//! Memory stays flat on large fleets: each minion's suite is written to an unnamed scratch file
//! as it reports; [`Junit::finish`] writes the totals, copies the suites after them into a
//! temporary file beside FILE and renames it into place, so FILE is never seen half-written.
//! Every string from the server goes through [`visible`], which also keeps the XML valid (XML
//! 1.0 allows no control character but newline, tab and carriage return).

use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesStart, BytesText, Event as Xml};
use serde_json::Value;
use spiro_client::{HighstateUpdate, MinionResult, Ret, State};
use tempfile::NamedTempFile;

use crate::terminal::visible;

/// The root element.
const SUITES: &str = "testsuites";

/// The counts a `<testsuite>` and `<testsuites>` carry.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Totals {
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
    /// Seconds.
    time: f64,
}

impl Totals {
    fn add(&mut self, other: Totals) {
        self.tests += other.tests;
        self.failures += other.failures;
        self.errors += other.errors;
        self.skipped += other.skipped;
        self.time += other.time;
    }

    fn attributes(&self) -> [(&'static str, String); 5] {
        [
            ("tests", self.tests.to_string()),
            ("failures", self.failures.to_string()),
            ("errors", self.errors.to_string()),
            ("skipped", self.skipped.to_string()),
            ("time", seconds(self.time)),
        ]
    }
}

/// A JUnit report being written (see the module docs).
pub struct Junit {
    path: PathBuf,
    /// The file that becomes `path`, created up front so that an unwritable place fails
    /// before the deploy rather than after it.
    target: NamedTempFile,
    /// The suites written so far.
    suites: Writer<BufWriter<File>>,
    totals: Totals,
    /// The report's name: `spiro-deploy PROJECT/DEPLOYMENT`.
    name: String,
}

impl std::fmt::Debug for Junit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Junit").field("path", &self.path).finish()
    }
}

impl Junit {
    /// Starts a report that [`finish`](Junit::finish) writes to `path`, named `name`.
    pub fn create(path: &Path, name: &str) -> io::Result<Junit> {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let target = tempfile::Builder::new()
            .prefix(".spiro-junit")
            .suffix(".tmp")
            .tempfile_in(dir)?;
        let scratch = tempfile::tempfile()?;
        let mut suites = Writer::new_with_indent(BufWriter::new(scratch), b' ', 2);
        // The suites sit inside <testsuites>: opening it here indents them as its children;
        // `finish` copies what follows the tag, after the real one with the totals.
        suites.write_event(Xml::Start(BytesStart::new(SUITES)))?;
        Ok(Junit {
            path: path.to_owned(),
            target,
            suites,
            totals: Totals::default(),
            name: name.to_owned(),
        })
    }

    /// Where the report goes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds the suite of the minion that reported in `update`.
    pub fn minion(&mut self, update: &HighstateUpdate) -> io::Result<()> {
        let minion = xml_text(&update.minion);
        let returned = match &update.result {
            MinionResult::Returned(returned) => returned,
            MinionResult::NoReturn { .. } => {
                return self.error_suite(&minion, "the minion did not return", "");
            }
            MinionResult::Other(value) => {
                let body = xml_text(&value.to_string());
                return self.error_suite(&minion, "unreadable result", &body);
            }
        };
        let Some(states) = returned.states() else {
            let (message, body) = match &returned.ret {
                Ret::RenderErrors(errors) => ("Data failed to compile", errors.join("\n")),
                other => (
                    "unreadable result",
                    serde_json::to_string(other).unwrap_or_default(),
                ),
            };
            return self.error_suite(&minion, message, &xml_text(&body));
        };
        let mut totals = Totals::default();
        for state in &states {
            totals.tests += 1;
            match state.result.result {
                Some(false) => totals.failures += 1,
                None => totals.skipped += 1,
                Some(true) => {}
            }
            totals.time += duration_ms(state).unwrap_or(0.0) / 1000.0;
        }
        self.totals.add(totals);
        self.suites
            .create_element("testsuite")
            .with_attribute(("name", minion.as_str()))
            .with_attributes(totals.attributes().iter().map(|(k, v)| (*k, v.as_str())))
            .write_inner_content(|xml| {
                for state in &states {
                    write_case(xml, &minion, state)?;
                }
                Ok(())
            })?;
        Ok(())
    }

    /// Adds a suite with one `<error>` for each minion that was targeted and did not report.
    pub fn unreported(&mut self, minions: &[&str], why: &str) -> io::Result<()> {
        for minion in minions {
            self.error_suite(&xml_text(minion), why, "")?;
        }
        Ok(())
    }

    /// Writes the report to its file: the declaration, `<testsuites>` with the totals, the
    /// suites, and, if given, the deploy's closing words as `<system-out>`.
    pub fn finish(self, system_out: &str) -> io::Result<PathBuf> {
        let Junit {
            path,
            target,
            suites,
            totals,
            name,
        } = self;
        let mut scratch = suites
            .into_inner()
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        scratch.seek(SeekFrom::Start(format!("<{SUITES}>").len() as u64))?;
        let mut xml = Writer::new_with_indent(BufWriter::new(target), b' ', 2);
        xml.write_event(Xml::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        let name = xml_text(&name);
        xml.create_element(SUITES)
            .with_attribute(("name", name.as_str()))
            .with_attributes(totals.attributes().iter().map(|(k, v)| (*k, v.as_str())))
            .write_inner_content(|xml| {
                io::copy(&mut scratch, xml.get_mut())?;
                if !system_out.is_empty() {
                    xml.create_element("system-out")
                        .write_text_content(BytesText::new(&xml_text(system_out)))?;
                }
                Ok(())
            })?;
        xml.get_mut().write_all(b"\n")?;
        let target = xml
            .into_inner()
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        target.as_file().sync_all()?;
        target.persist(&path).map_err(|err| err.error)?;
        Ok(path)
    }

    /// A suite of one test case in error: a minion whose states are unknown.
    fn error_suite(&mut self, minion: &str, message: &str, body: &str) -> io::Result<()> {
        let totals = Totals {
            tests: 1,
            errors: 1,
            ..Totals::default()
        };
        self.totals.add(totals);
        self.suites
            .create_element("testsuite")
            .with_attribute(("name", minion))
            .with_attributes(totals.attributes().iter().map(|(k, v)| (*k, v.as_str())))
            .write_inner_content(|xml| {
                xml.create_element("testcase")
                    .with_attribute(("name", "highstate"))
                    .with_attribute(("classname", minion))
                    .with_attribute(("time", "0"))
                    .write_inner_content(|xml| {
                        let error = xml
                            .create_element("error")
                            .with_attribute(("message", message));
                        match body.is_empty() {
                            true => error.write_empty()?,
                            false => error.write_text_content(BytesText::new(body))?,
                        };
                        Ok(())
                    })?;
                Ok(())
            })?;
        Ok(())
    }
}

/// One state's `<testcase>`: named by its id and function, grouped (`classname`) by minion and
/// SLS file.
fn write_case<W: Write>(xml: &mut Writer<W>, minion: &str, state: &State) -> io::Result<()> {
    let name = xml_text(&format!("{} ({})", state.id, state.function));
    let classname = match &state.result.sls {
        Some(sls) => format!("{minion}.{}", xml_text(sls)),
        None => minion.to_owned(),
    };
    let time = seconds(duration_ms(state).unwrap_or(0.0) / 1000.0);
    let case = xml
        .create_element("testcase")
        .with_attribute(("name", name.as_str()))
        .with_attribute(("classname", classname.as_str()))
        .with_attribute(("time", time.as_str()));
    match state.result.result {
        Some(true) => {
            case.write_empty()?;
        }
        None => {
            let comment = comment_text(&state.result.comment);
            case.write_inner_content(|xml| {
                xml.create_element("skipped")
                    .with_attribute(("message", comment.as_str()))
                    .write_empty()?;
                Ok(())
            })?;
        }
        Some(false) => {
            let comment = comment_text(&state.result.comment);
            let changes = match state.changed() {
                true => serde_json::to_string_pretty(&state.result.changes).unwrap_or_default(),
                false => String::new(),
            };
            case.write_inner_content(|xml| {
                let failure = xml
                    .create_element("failure")
                    .with_attribute(("message", comment.as_str()));
                match changes.is_empty() {
                    true => failure.write_empty()?,
                    false => failure.write_text_content(BytesText::new(&xml_text(&changes)))?,
                };
                Ok(())
            })?;
        }
    }
    Ok(())
}

/// A state's comment (a string or a list of them) as one text, made visible.
fn comment_text(comment: &Value) -> String {
    let text = match comment {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    xml_text(&text)
}

/// A state's duration in milliseconds: Salt sends a number, some returners a string.
pub fn duration_ms(state: &State) -> Option<f64> {
    match state.result.duration.as_ref()? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().trim_end_matches("ms").trim().parse().ok(),
        _ => None,
    }
}

/// Seconds with millisecond precision, as JUnit's `time` attributes hold them.
fn seconds(secs: f64) -> String {
    format!("{secs:.3}")
}

/// `text` made visible, without the two non-characters XML 1.0 forbids besides controls.
fn xml_text(text: &str) -> String {
    visible(text)
        .to_string()
        .replace(['\u{fffe}', '\u{ffff}'], "\u{fffd}")
}
