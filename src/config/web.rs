//! The `[web]` table: where the web surface (`crate::web`) listens and the token it asks
//! for. Validated here so that the config loader only maps the error onto
//! its file and line.

use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

/// The `[web]` table as written, with the byte spans of its values.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawWeb {
    listen: Option<Spanned<String>>,
    token: Option<Spanned<String>>,
}

/// The `[web]` table, validated. Off unless `listen` is set.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct WebConfig {
    /// Address of the web surface (pages and outgoing feeds).
    pub listen: Option<SocketAddr>,
    /// Secret a reader must present (bearer token, or the password of basic
    /// auth) when set; required when `listen` is not a loopback address.
    pub token: Option<String>,
}

// The token is a secret: a config dumped with `{:?}` must not show it.
impl fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebConfig")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "(set)"))
            .finish()
    }
}

/// A wrong value in `[web]`: where it is written, its key, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebConfigError {
    /// Byte span of the value in the config text.
    pub span: Range<usize>,
    /// Dotted key (`web.listen`, `web.token`).
    pub key: &'static str,
    /// What is wrong.
    pub message: String,
}

impl WebConfig {
    /// Validates the table: `listen` must be `IP:PORT`; `token` must be
    /// non-empty visible ASCII (it travels in a header); a `listen` that is
    /// not loopback needs a token, because the pages would otherwise be
    /// open to the network.
    pub fn from_raw(raw: RawWeb) -> Result<WebConfig, WebConfigError> {
        let token = match raw.token {
            Some(t)
                if t.get_ref().is_empty() || !t.get_ref().bytes().all(|b| b.is_ascii_graphic()) =>
            {
                return Err(WebConfigError {
                    span: t.span(),
                    key: "web.token",
                    message: "must be non-empty and made of visible ASCII characters (no spaces)"
                        .to_string(),
                })
            }
            Some(t) => Some(t.into_inner()),
            None => None,
        };
        let Some(listen) = raw.listen else {
            return Ok(WebConfig {
                listen: None,
                token,
            });
        };
        let addr = listen
            .get_ref()
            .trim()
            .parse::<SocketAddr>()
            .map_err(|e| WebConfigError {
                span: listen.span(),
                key: "web.listen",
                message: format!(
                    "invalid listen address {:?}: {e} (expected IP:PORT, e.g. \"127.0.0.1:8080\" or \"[::1]:8080\")",
                    listen.get_ref()
                ),
            })?;
        if !addr.ip().is_loopback() && token.is_none() {
            return Err(WebConfigError {
                span: listen.span(),
                key: "web.listen",
                message: format!(
                    "{addr} is reachable from other machines: set [web] token so that readers must authenticate, or listen on 127.0.0.1"
                ),
            });
        }
        Ok(WebConfig {
            listen: Some(addr),
            token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<WebConfig, WebConfigError> {
        WebConfig::from_raw(toml::from_str(text).expect("toml"))
    }

    #[test]
    fn loopback_needs_no_token_other_addresses_do() {
        let c = parse("listen = \"127.0.0.1:8080\"").expect("valid");
        assert_eq!(c.listen, Some("127.0.0.1:8080".parse().expect("addr")));
        assert!(parse("listen = \"[::1]:8080\"").is_ok());
        let e = parse("listen = \"0.0.0.0:8080\"").expect_err("needs a token");
        assert_eq!(e.key, "web.listen");
        assert!(e.message.contains("token"), "{}", e.message);
        let c = parse("listen = \"0.0.0.0:8080\"\ntoken = \"s3cret-token\"").expect("valid");
        assert_eq!(c.token.as_deref(), Some("s3cret-token"));
    }

    #[test]
    fn bad_values_are_refused_with_their_key() {
        assert_eq!(
            parse("listen = \"localhost\"").expect_err("bad").key,
            "web.listen"
        );
        assert_eq!(parse("token = \"a b\"").expect_err("bad").key, "web.token");
        assert_eq!(parse("token = \"\"").expect_err("bad").key, "web.token");
        assert!(toml::from_str::<RawWeb>("port = 1").is_err());
    }

    #[test]
    fn debug_output_hides_the_token() {
        let c = parse("token = \"hunter2hunter2\"").expect("valid");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
