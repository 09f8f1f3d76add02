//! Reading (never verifying) the caveats of a SpiroFS token.
//!
//! Tokens are version-1 macaroons serialised as URL-safe base64: packets of a 4-hex-digit
//! length (counting itself and the trailing newline) followed by `key value\n`. The first-party
//! caveat (`cid`) is JSON: `{"not_before": …, "not_after": …, "project_allow": […]}`. Reading it
//! lets the client say "this token expired yesterday" before uploading a gigabyte.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use serde::Deserialize;

use crate::Token;

/// The restrictions a token carries, merged over all its caveats.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Caveats {
    /// Not valid before this Unix time.
    pub not_before: Option<i64>,
    /// Not valid after this Unix time.
    pub not_after: Option<i64>,
    /// The projects the token may deploy; `None` means any (a root token).
    pub project_allow: Option<Vec<String>>,
    /// Caveats that are not SpiroFS JSON (kept to be shown, never interpreted).
    pub other: Vec<String>,
}

/// Why the caveats could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the token is not a SpiroFS macaroon: {0}")]
pub struct MacaroonError(String);

/// What the caveats say about a deploy, if it will be refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CaveatProblem {
    /// `not_after` is in the past.
    #[error(
        "the token expired {} ago ({})",
        human_duration(now.saturating_sub(*not_after)),
        utc_date(*not_after)
    )]
    Expired {
        /// When it expired (Unix time).
        not_after: i64,
        /// Now (Unix time).
        now: i64,
    },
    /// `not_before` is in the future.
    #[error(
        "the token is not valid for another {} (from {})",
        human_duration(not_before.saturating_sub(*now)),
        utc_date(*not_before)
    )]
    NotYetValid {
        /// When it becomes valid (Unix time).
        not_before: i64,
        /// Now (Unix time).
        now: i64,
    },
    /// `project_allow` does not list the project.
    #[error(
        "the token does not cover the project {project:?} ({})",
        covered(allowed)
    )]
    ProjectNotAllowed {
        /// The project asked for.
        project: String,
        /// The projects the token covers.
        allowed: Vec<String>,
    },
}

/// `it covers "a", "b"`, or `it covers no project`.
fn covered(allowed: &[String]) -> String {
    if allowed.is_empty() {
        "it covers no project".to_owned()
    } else {
        let list: Vec<String> = allowed.iter().map(|p| format!("{p:?}")).collect();
        format!("it covers {}", list.join(", "))
    }
}

/// A Unix time as a UTC date in RFC 3339 (`2026-11-30T12:00:00Z`): people read dates, not
/// seconds since 1970. A time no calendar can hold stays a number.
fn utc_date(unix_time: i64) -> String {
    match jiff::Timestamp::from_second(unix_time) {
        Ok(date) => date.to_string(),
        Err(_) => format!("Unix time {unix_time}"),
    }
}

fn human_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86400),
    }
}

#[derive(Deserialize)]
struct CaveatJson {
    not_before: Option<f64>,
    not_after: Option<f64>,
    project_allow: Option<Vec<String>>,
}

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_encode_padding(false)
    .with_decode_padding_mode(DecodePaddingMode::Indifferent);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);

impl Caveats {
    /// Reads the caveats of `token`.
    ///
    /// ```
    /// use spiro_client::{Caveats, Token};
    /// // A macaroon whose caveat allows the project "web" until 2001-09-09:
    /// // {"not_before": 0, "not_after": 1000000000, "project_allow": ["web"]}
    /// let token = Token::new(concat!(
    ///     "MDAxNWxvY2F0aW9uIHNwaXJvZnMKMDAxMmlkZW50aWZpZXIgaWQKMDA0ZGNpZCB7Im5vdF9iZWZvcmUiOiAw",
    ///     "LCAibm90X2FmdGVyIjogMTAwMDAwMDAwMCwgInByb2plY3RfYWxsb3ciOiBbIndlYiJdfQowMDJmc2lnbmF0",
    ///     "dXJlIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAACg==",
    /// ));
    /// let caveats = Caveats::read(&token).unwrap();
    /// assert_eq!(caveats.project_allow.as_deref(), Some(&["web".to_string()][..]));
    /// assert!(caveats.check("web", 999_999_999).is_ok());
    /// assert!(caveats.check("web", 1_000_000_001).is_err());
    /// assert!(caveats.check("api", 0).is_err());
    /// ```
    pub fn read(token: &Token) -> Result<Caveats, MacaroonError> {
        let text = token.expose().trim();
        let bytes = URL_SAFE
            .decode(text)
            .or_else(|_| STANDARD.decode(text))
            .map_err(|_| MacaroonError("it is not base64".into()))?;
        let mut caveats = Caveats::default();
        let mut rest = &bytes[..];
        let mut saw_identifier = false;
        let mut saw_signature = false;
        while !rest.is_empty() {
            let header = rest
                .get(..4)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| usize::from_str_radix(h, 16).ok())
                .ok_or_else(|| MacaroonError("a packet has no length".into()))?;
            if header < 6 || header > rest.len() {
                return Err(MacaroonError("a packet length is out of range".into()));
            }
            let packet = &rest[4..header];
            rest = &rest[header..];
            let packet = packet
                .strip_suffix(b"\n")
                .ok_or_else(|| MacaroonError("a packet does not end with a newline".into()))?;
            let space = memchr::memchr(b' ', packet)
                .ok_or_else(|| MacaroonError("a packet has no key".into()))?;
            let (key, value) = (&packet[..space], &packet[space + 1..]);
            match key {
                b"identifier" => saw_identifier = true,
                b"signature" => saw_signature = true,
                b"cid" => caveats.add(value),
                _ => {}
            }
        }
        if !saw_identifier || !saw_signature {
            return Err(MacaroonError("it has no identifier or no signature".into()));
        }
        Ok(caveats)
    }

    fn add(&mut self, cid: &[u8]) {
        let Ok(json) = serde_json::from_slice::<CaveatJson>(cid) else {
            self.other.push(String::from_utf8_lossy(cid).into_owned());
            return;
        };
        // Several caveats must all hold: keep the strictest of each.
        if let Some(t) = json.not_before {
            let t = t as i64;
            self.not_before = Some(self.not_before.map_or(t, |old| old.max(t)));
        }
        if let Some(t) = json.not_after {
            let t = t as i64;
            self.not_after = Some(self.not_after.map_or(t, |old| old.min(t)));
        }
        if let Some(allow) = json.project_allow {
            self.project_allow = Some(match self.project_allow.take() {
                None => allow,
                Some(old) => old.into_iter().filter(|p| allow.contains(p)).collect(),
            });
        }
    }

    /// Whether a deploy of `project` at Unix time `now` would pass the caveats. A minute of
    /// clock skew is tolerated on `not_before`.
    pub fn check(&self, project: &str, now: i64) -> Result<(), CaveatProblem> {
        self.check_time(now)?;
        match &self.project_allow {
            Some(allowed) if !allowed.iter().any(|p| p == project) => {
                Err(CaveatProblem::ProjectNotAllowed {
                    project: project.to_owned(),
                    allowed: allowed.clone(),
                })
            }
            _ => Ok(()),
        }
    }

    /// [`check`](Caveats::check) without a project: only the validity period.
    pub fn check_time(&self, now: i64) -> Result<(), CaveatProblem> {
        match (self.not_after, self.not_before) {
            (Some(not_after), _) if now > not_after => {
                Err(CaveatProblem::Expired { not_after, now })
            }
            (_, Some(not_before)) if now + 60 < not_before => {
                Err(CaveatProblem::NotYetValid { not_before, now })
            }
            _ => Ok(()),
        }
    }
}

/// The current Unix time, for [`Caveats::check`].
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_merges_caveats() {
        let token = Token::new(spiro_tests::server::issue_token(
            "loc",
            "id",
            &[
                r#"{"not_before": 10, "project_allow": ["a", "b"]}"#,
                r#"{"not_before": 5, "not_after": 100.5, "project_allow": ["b"]}"#,
                "time < 2030",
            ],
        ));
        let c = Caveats::read(&token).unwrap();
        assert_eq!(c.not_before, Some(10));
        assert_eq!(c.not_after, Some(100));
        assert_eq!(c.project_allow, Some(vec!["b".to_string()]));
        assert_eq!(c.other, ["time < 2030"]);
        assert!(matches!(
            c.check("a", 50),
            Err(CaveatProblem::ProjectNotAllowed { .. })
        ));
        assert!(matches!(
            c.check("b", 101),
            Err(CaveatProblem::Expired { .. })
        ));
        assert!(matches!(
            c.check("b", -100),
            Err(CaveatProblem::NotYetValid { .. })
        ));
        assert!(c.check("b", 50).is_ok());
    }

    #[test]
    fn token_times_are_shown_as_utc_dates_and_how_long_ago() {
        let expired = CaveatProblem::Expired {
            not_after: 1_796_040_000,
            now: 1_796_040_000 + 3 * 86_400,
        };
        assert_eq!(
            expired.to_string(),
            "the token expired 3 days ago (2026-11-30T12:00:00Z)"
        );
        let early = CaveatProblem::NotYetValid {
            not_before: 1_796_040_000,
            now: 1_796_040_000 - 600,
        };
        assert_eq!(
            early.to_string(),
            "the token is not valid for another 10 min (from 2026-11-30T12:00:00Z)"
        );
    }

    #[test]
    fn root_token_allows_every_project_and_padding_is_optional() {
        let encoded = spiro_tests::server::issue_token("loc", "id", &[r#"{"not_before": 0}"#]);
        let token = Token::new(encoded.trim_end_matches('='));
        let c = Caveats::read(&token).unwrap();
        assert!(c.check("anything", 1).is_ok());
    }

    #[test]
    fn garbage_is_an_error_that_does_not_show_the_token() {
        for bad in ["not a token!", "MDAx", "ZZZZ"] {
            let err = Caveats::read(&Token::new(bad)).unwrap_err();
            assert!(!err.to_string().contains(bad));
        }
    }
}
