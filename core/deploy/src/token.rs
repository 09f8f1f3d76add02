use std::fmt;

/// A SpiroFS bearer token. It never appears in `Debug` or `Display` output, so it cannot leak
/// into a log or an error message by accident; [`Token::expose`] is the one way to read it.
///
/// ```
/// let token = spiro_client::Token::new("MDAxY2xvY2F0aW9u");
/// assert_eq!(format!("{token:?}"), "Token(<redacted>)");
/// assert_eq!(token.expose(), "MDAxY2xvY2F0aW9u");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a token string; surrounding whitespace (a newline from a secrets file) is trimmed.
    pub fn new(token: impl Into<String>) -> Token {
        let token = token.into();
        Token(token.trim().to_owned())
    }

    /// The token itself, for the `Authorization` header and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::str::FromStr for Token {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Token, Self::Err> {
        Ok(Token::new(s))
    }
}
