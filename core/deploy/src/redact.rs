//! URLs as messages show them: without credentials, query or fragment, which may carry
//! secrets.

use reqwest::Url;

/// A URL without credentials, query or fragment, for messages.
pub(crate) fn redact_url(url: &Url) -> String {
    let mut shown = url.clone();
    // Neither fails on a URL that has a host, which every `http(s)://` URL has; a URL that
    // cannot hold credentials has none to drop.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// [`redact_url`] for a URL that does not parse (for the message saying so).
pub(crate) fn redact_str(url: &str) -> String {
    // Drop the query and fragment (they may carry secrets), then anything between `://` and
    // `@` (credentials), as `redact_url` does for a URL that parses.
    let url = &url[..url.find(['?', '#']).unwrap_or(url.len())];
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}{}", &url[..scheme + 3], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_query_and_fragment_are_dropped() {
        let url = Url::parse("https://user:pw@h:1/p?q=1#f").unwrap();
        assert_eq!(redact_url(&url), "https://h:1/p");
        assert_eq!(redact_str("https://u:p@@x"), "https://x");
        assert_eq!(redact_str("https://u:p@x/?token=1"), "https://x/");
        assert_eq!(redact_str("not a url"), "not a url");
    }
}
