//! Where credentials may come from, and where they may not: a token file, but no user info
//! in `--server`.

use std::io::Read;
use std::path::Path;

use spiro_client::Token;

use crate::error::{CliError, Exit};

/// Tokens are a few hundred bytes; a larger file is not a token file.
const TOKEN_FILE_LIMIT: u64 = 64 * 1024;

/// Reads the token from `path` (named by `setting`, `--token-file` or `SPIRO_TOKEN_FILE`),
/// without one trailing newline (`\n` or `\r\n`), as `echo` or an editor leave it. Any
/// failure is a usage error that names the file and never shows its content.
pub fn read_token_file(path: &Path, setting: &str) -> Result<Token, CliError> {
    let usage = |what: String| {
        CliError::msg(
            Exit::Usage,
            format!(
                "cannot read the token file `{}` ({setting}): {what}",
                path.display()
            ),
        )
        .hint(format!(
            "give {setting} a readable file holding the token from `salt-run spiro.issue_token`"
        ))
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(TOKEN_FILE_LIMIT + 1).read_to_end(&mut bytes))
        .map_err(|e| usage(e.to_string()))?;
    if bytes.len() as u64 > TOKEN_FILE_LIMIT {
        return Err(usage("it is larger than any token (64 KiB)".into()));
    }
    let text = String::from_utf8(bytes).map_err(|_| usage("it is not UTF-8 text".into()))?;
    let token = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if token.is_empty() {
        return Err(usage("it is empty".into()));
    }
    Ok(Token::new(token))
}

/// Refuses a server URL that carries user info (`https://user:password@host/`).
///
/// Such a URL would send a Basic header beside the token, and a `/`, `#` or `?` in the
/// password moves the point where parsers look for the `@` (`https://user:p/w@salt/` parses
/// as the host `user`, port `p`, path `/w@salt/`), so that an error would print part of the
/// password. The check is lexical and errs on the side of refusing: an `@` anywhere after
/// `://` is taken for user info (SpiroFS serves `/`, so a real URL has none; a path that needs
/// one can write it `%40`). The error shows no part of the URL.
pub fn check_server_url(url: &str) -> Result<(), CliError> {
    let after_scheme = url.find("://").map_or(url, |i| &url[i + 3..]);
    if !after_scheme.contains('@') {
        return Ok(());
    }
    Err(CliError::msg(
        Exit::Usage,
        "invalid server URL (--server or SPIRO_URL): it holds user info, a name or password \
         before `@` (not shown here)",
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
            "https://user:p/w@salt/",
            "https://user:12/secret@salt/",
        ] {
            let error = check_server_url(url).unwrap_err();
            assert_eq!(error.exit, Exit::Usage);
            let text = error.render();
            assert!(!text.contains("user") || !text.contains("pw"), "{text}");
            assert!(!text.contains("p#w") && !text.contains("p?w"), "{text}");
            assert!(!text.contains("secret") && !text.contains("p/w"), "{text}");
        }
    }

    #[test]
    fn plain_urls_pass() {
        for url in [
            "https://salt:4510/",
            "http://127.0.0.1:8080/spiro/%40latest",
            "https://[::1]:4510/",
        ] {
            assert!(check_server_url(url).is_ok(), "{url}");
        }
    }
}
