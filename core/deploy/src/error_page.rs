//! What an error answer says: SpiroFS (Tornado) answers errors with a small HTML page, whose
//! text goes into [`Error::Status`].

use std::time::Duration;

use crate::error::Error;

/// How much of an error response's body is read.
const ERROR_BODY_LIMIT: usize = 64 * 1024;
/// How long to wait for each piece of an error response's body.
const ERROR_BODY_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads a little of an error response and turns it into [`Error::Status`].
pub(crate) async fn status_error(mut response: reqwest::Response) -> Error {
    let status = response.status();
    let mut body = Vec::new();
    while body.len() < ERROR_BODY_LIMIT {
        match tokio::time::timeout(ERROR_BODY_TIMEOUT, response.chunk()).await {
            Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(ERROR_BODY_LIMIT);
    Error::Status {
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or("").to_owned(),
        message: html_text(&String::from_utf8_lossy(&body)),
    }
}

/// The readable text of a small HTML error page: the `<body>` (or the `<title>`, or all of it)
/// without tags, whitespace collapsed, at most 500 characters.
fn html_text(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let section = |tag: &str| -> Option<&str> {
        let open = lower.find(&format!("<{tag}"))?;
        let start = open + lower[open..].find('>')? + 1;
        let end = start
            + lower[start..]
                .find(&format!("</{tag}"))
                .unwrap_or(lower.len() - start);
        Some(&html[start..end])
    };
    let chosen = section("body")
        .filter(|s| !strip_tags(s).trim().is_empty())
        .or_else(|| section("title"))
        .unwrap_or(html);
    let text = strip_tags(chosen);
    let mut collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() > 500 {
        collapsed = collapsed.chars().take(500).collect::<String>() + "…";
    }
    collapsed
}

/// The text of `html` with its tags replaced by spaces and the common entities decoded.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_text_prefers_the_body() {
        assert_eq!(
            html_text(
                "<html><title>401: Unauthorized</title><body>401: Unauthorized</body></html>"
            ),
            "401: Unauthorized"
        );
        assert_eq!(
            html_text("<html><title>T</title><body> </body></html>"),
            "T"
        );
        assert_eq!(html_text("plain &amp; simple\n"), "plain & simple");
    }
}
