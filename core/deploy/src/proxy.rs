//! The proxy a request goes through: the HTTP client takes it from `HTTPS_PROXY`,
//! `HTTP_PROXY`, `ALL_PROXY` (and `NO_PROXY`); the same rules, from the same crate, tell
//! which one applies to the server, so that its failures are blamed on it, not the server.

use hyper_util::client::proxy::matcher::Matcher;
use reqwest::Url;

/// The proxy that requests to a server go through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Proxy {
    /// `scheme://host:port`, never the user info.
    pub(crate) shown: String,
    /// The environment variable it comes from (`HTTPS_PROXY`, `all_proxy`…).
    pub(crate) variable: &'static str,
}

/// The proxy the environment sets for `url`, if any.
pub(crate) fn proxy_for(url: &Url) -> Option<Proxy> {
    let uri: http::Uri = url.as_str().parse().ok()?;
    let intercept = Matcher::from_env().intercept(&uri)?;
    let proxy = intercept.uri();
    let scheme = proxy.scheme_str().unwrap_or("http");
    let port = proxy.port_u16().unwrap_or(match scheme {
        "https" => 443,
        "http" => 80,
        _ => 1080,
    });
    Some(Proxy {
        shown: format!("{scheme}://{}:{port}", proxy.host().unwrap_or("")),
        variable: variable_for(url.scheme()),
    })
}

/// The variable the proxy for a `scheme` URL comes from, in the matcher's order: the
/// scheme's own variable (upper case first), then `ALL_PROXY`.
fn variable_for(scheme: &str) -> &'static str {
    let own: [&'static str; 2] = if scheme == "https" {
        ["HTTPS_PROXY", "https_proxy"]
    } else {
        ["HTTP_PROXY", "http_proxy"]
    };
    own.into_iter()
        .chain(["ALL_PROXY", "all_proxy"])
        .find(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
        .unwrap_or("ALL_PROXY")
}
