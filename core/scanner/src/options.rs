//! Scanner options: `--include-source=NAME,KEY=VALUE,...` and its library form.
//!
//! A scanner declares the options it takes as [`OptionInfo`]s (name, one-line description,
//! default), so that a front end can list them and an error can say what is accepted. The
//! options given to one scanner are a [`ScannerOptions`]: `KEY=VALUE` pairs in the order given.
//! A scanner reads them through [`ScannerOptions::reader`], which refuses a key it did not
//! declare, and turns values into types with [`OptionReader::bool`] and friends, so that every
//! scanner (built-in or plugin) refuses the same mistakes with the same words.
//!
//! ```
//! use spiro_scanner::{OptionInfo, ScannerSpec};
//!
//! const OPTIONS: &[OptionInfo] = &[OptionInfo::new("lfs", "fetch LFS objects", "false")];
//!
//! let spec: ScannerSpec = "git,lfs".parse().unwrap();
//! assert_eq!(spec.name(), "git");
//! let options = spec.options().reader("git", OPTIONS).unwrap();
//! assert!(options.bool("lfs").unwrap());
//!
//! let wrong: ScannerSpec = "git,lsf".parse().unwrap();
//! let error = wrong.options().reader("git", OPTIONS).unwrap_err();
//! assert_eq!(
//!     error.to_string(),
//!     "scanner `git` has no option `lsf`; it takes: `lfs` (fetch LFS objects; default: false)"
//! );
//! ```

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

/// One option a scanner takes: what `--list-scanners` shows and errors name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionInfo {
    /// The key, as given on the command line: `submodules` in `git,submodules=true`.
    pub name: Cow<'static, str>,
    /// One line saying what it does.
    pub description: Cow<'static, str>,
    /// The value used when the option is not given, as it would be written (`false`).
    pub default: Cow<'static, str>,
}

impl OptionInfo {
    /// An option declared in static data, as the built-in scanners declare theirs.
    pub const fn new(
        name: &'static str,
        description: &'static str,
        default: &'static str,
    ) -> OptionInfo {
        OptionInfo {
            name: Cow::Borrowed(name),
            description: Cow::Borrowed(description),
            default: Cow::Borrowed(default),
        }
    }

    /// An option declared at run time, as a plugin declares its own.
    pub fn owned(name: String, description: String, default: String) -> OptionInfo {
        OptionInfo {
            name: Cow::Owned(name),
            description: Cow::Owned(description),
            default: Cow::Owned(default),
        }
    }
}

impl fmt::Display for OptionInfo {
    /// `` `name` (description; default: value) ``, as errors list accepted options.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` ({}; default: {})",
            self.name, self.description, self.default
        )
    }
}

/// A scanner's name and the options given to it: the value of `--include-source`.
///
/// The syntax is `NAME[,KEY[=VALUE]]...`: a bare `KEY` means `KEY=true`, a value runs to the
/// next comma (so it cannot contain one), and a key may be given once. An empty `NAME` is kept
/// empty: it means "the default scanner" to the command-line tool.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScannerSpec {
    name: String,
    options: ScannerOptions,
}

impl ScannerSpec {
    /// A scanner name with no options.
    pub fn new(name: impl Into<String>) -> ScannerSpec {
        ScannerSpec {
            name: name.into(),
            options: ScannerOptions::default(),
        }
    }

    /// A scanner name with the given options.
    pub fn with_options(name: impl Into<String>, options: ScannerOptions) -> ScannerSpec {
        ScannerSpec {
            name: name.into(),
            options,
        }
    }

    /// The scanner's name (a built-in's, a plugin's, or a plugin library's path).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The options given to it.
    pub fn options(&self) -> &ScannerOptions {
        &self.options
    }

    /// Splits the spec into its name and options.
    pub fn into_parts(self) -> (String, ScannerOptions) {
        (self.name, self.options)
    }
}

impl FromStr for ScannerSpec {
    type Err = OptionError;

    fn from_str(text: &str) -> Result<ScannerSpec, OptionError> {
        let (name, rest) = match text.split_once(',') {
            Some((name, rest)) => (name, Some(rest)),
            None => (text, None),
        };
        let mut options = ScannerOptions::default();
        for item in rest.into_iter().flat_map(|rest| rest.split(',')) {
            let (key, value) = item.split_once('=').unwrap_or((item, "true"));
            if !is_valid_key(key) {
                return Err(OptionError::Malformed {
                    text: text.to_owned(),
                    reason: if item.is_empty() {
                        "an empty option between commas".to_owned()
                    } else {
                        format!(
                            "`{item}` is not KEY or KEY=VALUE (a key is letters, digits, `-` and `_`)"
                        )
                    },
                });
            }
            options.insert(name, key, value)?;
        }
        Ok(ScannerSpec {
            name: name.to_owned(),
            options,
        })
    }
}

impl fmt::Display for ScannerSpec {
    /// The spec as it would be written on the command line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for (key, value) in self.options.iter() {
            write!(f, ",{key}={value}")?;
        }
        Ok(())
    }
}

fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The options given to one scanner: `KEY=VALUE` pairs of UTF-8 text, in the order given,
/// each key once. Nothing here knows which keys a scanner takes: a scanner checks that with
/// [`reader`](ScannerOptions::reader).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScannerOptions {
    pairs: Vec<(String, String)>,
}

impl ScannerOptions {
    /// No options.
    pub fn new() -> ScannerOptions {
        ScannerOptions::default()
    }

    /// Adds `key=value` for scanner `scanner` (named in the error when `key` is given twice).
    pub fn insert(
        &mut self,
        scanner: &str,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), OptionError> {
        let key = key.into();
        if self.get(&key).is_some() {
            return Err(OptionError::Duplicate {
                scanner: scanner.to_owned(),
                option: key,
            });
        }
        self.pairs.push((key, value.into()));
        Ok(())
    }

    /// `key=value` added, for building options in code: `ScannerOptions::new().set("lfs", "true")`.
    /// A key given twice keeps its last value.
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> ScannerOptions {
        let key = key.into();
        self.pairs.retain(|(k, _)| *k != key);
        self.pairs.push((key, value.into()));
        self
    }

    /// The value given for `key`, if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The pairs in the order given.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether no option was given.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The number of options given.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Checks the options against what scanner `scanner` declares, refusing any key not in
    /// `declared` (with the list of those that are), and returns a reader of typed values.
    pub fn reader<'a>(
        &'a self,
        scanner: &'a str,
        declared: &'a [OptionInfo],
    ) -> Result<OptionReader<'a>, OptionError> {
        if let Some((key, _)) = self
            .pairs
            .iter()
            .find(|(key, _)| !declared.iter().any(|d| d.name == key.as_str()))
        {
            return Err(OptionError::Unknown {
                scanner: scanner.to_owned(),
                option: key.clone(),
                accepted: declared.to_vec(),
            });
        }
        Ok(OptionReader {
            options: self,
            scanner,
            declared,
        })
    }
}

/// Typed access to options already checked against a scanner's declarations; a value not
/// given is the declared default.
#[derive(Clone, Copy, Debug)]
pub struct OptionReader<'a> {
    options: &'a ScannerOptions,
    scanner: &'a str,
    declared: &'a [OptionInfo],
}

impl<'a> OptionReader<'a> {
    /// The value of `name` as given, or its declared default.
    ///
    /// # Panics
    /// If `name` was not declared: that is a bug in the scanner, not a user's mistake.
    pub fn str(&self, name: &str) -> &'a str {
        match self.options.get(name) {
            Some(value) => value,
            None => &self.declaration(name).default,
        }
    }

    /// Whether `name` was given at all (rather than left at its default).
    pub fn is_given(&self, name: &str) -> bool {
        self.declaration(name);
        self.options.get(name).is_some()
    }

    /// The value of `name` as a boolean: `true`/`false` (also `yes`/`no`, `on`/`off`, `1`/`0`,
    /// as git's configuration takes them).
    pub fn bool(&self, name: &str) -> Result<bool, OptionError> {
        match self.str(name) {
            "true" | "yes" | "on" | "1" => Ok(true),
            "false" | "no" | "off" | "0" => Ok(false),
            _ => Err(self.invalid(name, "`true` or `false`")),
        }
    }

    /// The value of `name` parsed as `T`; `expected` says in words what is accepted
    /// ("a number of bytes"), for the error.
    pub fn parse<T: FromStr>(&self, name: &str, expected: &str) -> Result<T, OptionError> {
        self.str(name)
            .parse()
            .map_err(|_| self.invalid(name, expected))
    }

    /// The error for a value of `name` that is not `expected`, for scanners with checks of
    /// their own.
    pub fn invalid(&self, name: &str, expected: &str) -> OptionError {
        OptionError::Invalid {
            scanner: self.scanner.to_owned(),
            option: name.to_owned(),
            value: self.str(name).to_owned(),
            expected: expected.to_owned(),
        }
    }

    fn declaration(&self, name: &str) -> &'a OptionInfo {
        self.declared
            .iter()
            .find(|d| d.name == name)
            .unwrap_or_else(|| {
                panic!(
                    "scanner `{}` reads undeclared option `{name}`",
                    self.scanner
                )
            })
    }
}

/// A mistake in the options given to a scanner. Each is the user's to fix, so a front end
/// treats it as a usage error; each names the scanner and the option.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionError {
    /// The text is not `NAME[,KEY[=VALUE]]...`.
    #[error("malformed scanner options in `{text}`: {reason}")]
    Malformed {
        /// The whole spec as given.
        text: String,
        /// What is wrong.
        reason: String,
    },
    /// A key was given twice.
    #[error("option `{option}` is given twice to scanner `{scanner}`")]
    Duplicate {
        /// The scanner.
        scanner: String,
        /// The key.
        option: String,
    },
    /// The scanner does not take this option (or takes none).
    #[error(
        "scanner `{scanner}` has no option `{option}`; {}",
        accepted_text(accepted)
    )]
    Unknown {
        /// The scanner.
        scanner: String,
        /// The key given.
        option: String,
        /// What the scanner does take.
        accepted: Vec<OptionInfo>,
    },
    /// The value is not one the option takes.
    #[error("option `{option}` of scanner `{scanner}` must be {expected}, not `{value}`")]
    Invalid {
        /// The scanner.
        scanner: String,
        /// The key.
        option: String,
        /// The value given.
        value: String,
        /// What is accepted, in words.
        expected: String,
    },
    /// A plugin refused its options with a message of its own.
    #[error(
        "scanner `{scanner}` refused its options: {message}; {}",
        accepted_text(accepted)
    )]
    Refused {
        /// The scanner.
        scanner: String,
        /// What the plugin said.
        message: String,
        /// What the scanner declares it takes.
        accepted: Vec<OptionInfo>,
    },
}

fn accepted_text(accepted: &[OptionInfo]) -> String {
    if accepted.is_empty() {
        return "it takes no options".to_owned();
    }
    let list: Vec<String> = accepted.iter().map(ToString::to_string).collect();
    format!("it takes: {}", list.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIT: &[OptionInfo] = &[
        OptionInfo::new("submodules", "recurse into submodules", "false"),
        OptionInfo::new("depth", "how deep", "3"),
    ];

    fn spec(text: &str) -> Result<ScannerSpec, OptionError> {
        text.parse()
    }

    #[test]
    fn parses_names_keys_and_bare_keys() {
        let s = spec("git,submodules,depth=7").unwrap();
        assert_eq!(s.name(), "git");
        let pairs: Vec<_> = s.options().iter().collect();
        assert_eq!(pairs, [("submodules", "true"), ("depth", "7")]);
        assert_eq!(s.to_string(), "git,submodules=true,depth=7");
        assert!(spec("fs").unwrap().options().is_empty());
        assert_eq!(spec("").unwrap().name(), "");
        assert_eq!(spec(",lfs").unwrap().options().get("lfs"), Some("true"));
        // A value runs to the next comma and may hold `=`.
        assert_eq!(spec("x,k=a=b").unwrap().options().get("k"), Some("a=b"));
        assert_eq!(spec("x,k=").unwrap().options().get("k"), Some(""));
    }

    #[test]
    fn refuses_malformed_text() {
        for text in ["git,", "git,,lfs", "git,=x", "git,a b", "git,l\u{e9}"] {
            let error = spec(text).unwrap_err();
            assert!(
                matches!(&error, OptionError::Malformed { text: t, .. } if t == text),
                "{text}: {error}"
            );
        }
        assert_eq!(
            spec("git,lfs,lfs=false").unwrap_err().to_string(),
            "option `lfs` is given twice to scanner `git`"
        );
    }

    #[test]
    fn reader_refuses_undeclared_keys_naming_what_is_taken() {
        let s = spec("git,submodule").unwrap();
        let error = s.options().reader("git", GIT).unwrap_err();
        assert_eq!(
            error.to_string(),
            "scanner `git` has no option `submodule`; it takes: `submodules` (recurse into \
             submodules; default: false), `depth` (how deep; default: 3)"
        );
        let s = spec("fs,x=1").unwrap();
        assert_eq!(
            s.options().reader("fs", &[]).unwrap_err().to_string(),
            "scanner `fs` has no option `x`; it takes no options"
        );
    }

    #[test]
    fn typed_values_and_defaults() {
        let none = ScannerOptions::new();
        let r = none.reader("git", GIT).unwrap();
        assert!(!r.bool("submodules").unwrap());
        assert!(!r.is_given("submodules"));
        assert_eq!(r.parse::<u32>("depth", "a number").unwrap(), 3);

        for (value, expected) in [("yes", true), ("0", false), ("on", true), ("false", false)] {
            let given = ScannerOptions::new().set("submodules", value);
            assert_eq!(
                given.reader("git", GIT).unwrap().bool("submodules"),
                Ok(expected)
            );
        }
        let bad = ScannerOptions::new().set("submodules", "maybe");
        assert_eq!(
            bad.reader("git", GIT)
                .unwrap()
                .bool("submodules")
                .unwrap_err()
                .to_string(),
            "option `submodules` of scanner `git` must be `true` or `false`, not `maybe`"
        );
        let bad = ScannerOptions::new().set("depth", "deep");
        assert!(matches!(
            bad.reader("git", GIT)
                .unwrap()
                .parse::<u32>("depth", "a number"),
            Err(OptionError::Invalid { .. })
        ));
    }
}
