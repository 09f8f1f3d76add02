//! Where credentials may come from, and where they may not: no user info in `--server`.

use crate::error::{CliError, Exit};

/// Refuses a server URL that carries user info (`https://user:password@host/`).
///
/// Such a URL would send a Basic header beside the token, and a `#` or `?` in the password
/// cuts the URL short where parsers look for the `@`, so that an error would print part of the
/// password. The check is lexical and errs on the side of refusing: an `@` anywhere between
/// `://` and the first `/` is user info. The error shows no part of the URL.
pub fn check_server_url(url: &str) -> Result<(), CliError> {
    let after_scheme = url.find("://").map_or(url, |i| &url[i + 3..]);
    let authority = &after_scheme[..after_scheme.find('/').unwrap_or(after_scheme.len())];
    if !authority.contains('@') {
        return Ok(());
    }
    Err(CliError::msg(
        Exit::Usage,
        "the server URL (--server or SPIRO_URL) holds user info, a name or password before \
         `@`; it is not shown here",
    )
    .hint(
        "give the URL without `user:password@`, such as https://salt:4510/: the deploy token \
         is what the server checks",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_is_refused() {
        for url in [
            "https://user:pw@salt:4510/",
            "https://user@salt/",
            "https://user:p#w@salt/",
            "https://user:p?w@salt/",
            "user:pw@salt:4510/",
        ] {
            let error = check_server_url(url).unwrap_err();
            assert_eq!(error.exit, Exit::Usage);
            let text = error.render();
            assert!(!text.contains("user") || !text.contains("pw"), "{text}");
            assert!(!text.contains("p#w") && !text.contains("p?w"), "{text}");
        }
    }

    #[test]
    fn plain_urls_pass() {
        for url in [
            "https://salt:4510/",
            "http://127.0.0.1:8080/spiro/@latest",
            "https://[::1]:4510/",
        ] {
            assert!(check_server_url(url).is_ok(), "{url}");
        }
    }
}
