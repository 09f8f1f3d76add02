//! Project and deployment names that are safe to send.
//!
//! The SpiroFS server builds paths from `project` and `deployment` without checking them
//! (`project=..` lands outside the SpiroFS folder), so the client refuses such names before
//! anything is sent.

/// Why a project or deployment name was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the {what} name {name:?} is refused: {reason}")]
pub struct NameError {
    /// `project` or `deployment`.
    pub what: &'static str,
    /// The refused name.
    pub name: String,
    /// Why, in words.
    pub reason: &'static str,
}

fn check(what: &'static str, name: &str, allow_slash: bool) -> Result<(), NameError> {
    let refuse = |reason| {
        Err(NameError {
            what,
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return refuse("it is empty");
    }
    if name.chars().any(|c| c == '\0' || c.is_control()) {
        return refuse("it contains a control character");
    }
    if name.contains('\\') {
        return refuse("it contains `\\`");
    }
    if !allow_slash && name.contains('/') {
        return refuse("it contains `/`");
    }
    if name.starts_with('/') {
        return refuse("it is an absolute path");
    }
    for component in name.split('/') {
        match component {
            "" => return refuse("it has an empty path component (`//` or a trailing `/`)"),
            "." => return refuse("it has a `.` component"),
            ".." => return refuse("it has a `..` component, which would escape on the server"),
            _ => {}
        }
    }
    Ok(())
}

/// Checks a project name: not empty, not absolute, no `.`, `..` or empty components, no
/// control characters or backslashes. A `/` between components is allowed.
///
/// ```
/// use spiro_client::validate_project;
/// assert!(validate_project("web").is_ok());
/// assert!(validate_project("team/web").is_ok());
/// assert!(validate_project("..").is_err());
/// assert!(validate_project("a/../b").is_err());
/// ```
pub fn validate_project(name: &str) -> Result<(), NameError> {
    check("project", name, true)
}

/// Checks a deployment name: the project rules, and no `/` at all.
///
/// ```
/// use spiro_client::validate_deployment;
/// assert!(validate_deployment("production").is_ok());
/// assert!(validate_deployment("prod/eu").is_err());
/// assert!(validate_deployment(".").is_err());
/// ```
pub fn validate_deployment(name: &str) -> Result<(), NameError> {
    check("deployment", name, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_escaping_names() {
        for bad in [
            "", ".", "..", "../x", "x/..", "a/./b", "/etc", "a//b", "a/", "a\0", "a\\..", "a\nb",
        ] {
            assert!(validate_project(bad).is_err(), "{bad:?}");
            assert!(validate_deployment(bad).is_err(), "{bad:?}");
        }
        assert!(validate_deployment("a/b").is_err());
        for good in ["web", "web.v2", "..web", "a..b", "ünïcode"] {
            assert!(validate_project(good).is_ok(), "{good:?}");
            assert!(validate_deployment(good).is_ok(), "{good:?}");
        }
    }
}
