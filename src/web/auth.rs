//! The `[web] token`: when set, every request must carry it, as a bearer
//! token (`Authorization: Bearer TOKEN`, for scripts) or as the password of
//! basic auth with any user name (what feed readers and browsers offer).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

/// The token a request must present, if any.
#[derive(Clone)]
pub struct Token(Option<Arc<str>>);

impl Token {
    /// `None`: every request is let in (loopback without a token).
    pub fn new(token: Option<String>) -> Token {
        Token(token.map(Into::into))
    }

    /// Whether an `Authorization` header value carries the token.
    fn admits(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some(token) = &self.0 else {
            return true;
        };
        let Some(value) = authorization.and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            same(rest.as_bytes(), token.as_bytes())
        } else if scheme.eq_ignore_ascii_case("basic") {
            base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()
                .and_then(|pair| {
                    let colon = pair.iter().position(|&b| b == b':')?;
                    Some(same(&pair[colon + 1..], token.as_bytes()))
                })
                .unwrap_or(false)
        } else {
            false
        }
    }
}

/// Compares in time that depends on the length only, so that the answer's
/// timing does not tell how much of a guess was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Lets a request through when it carries the token; else 401 with a basic
/// auth challenge, so that a browser asks for it.
pub async fn require(State(token): State<Token>, request: Request, next: Next) -> Response {
    if token.admits(request.headers().get(header::AUTHORIZATION)) {
        return next.run(request).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        [
            (header::WWW_AUTHENTICATE, "Basic realm=\"feedfold\", charset=\"UTF-8\""),
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        ],
        "feedfold: this server needs the [web] token (bearer token, or the password of basic auth)\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(v: &str) -> HeaderValue {
        HeaderValue::from_str(v).expect("header")
    }

    #[test]
    fn bearer_and_basic_carry_the_token() {
        let t = Token::new(Some("s3cret".into()));
        assert!(t.admits(Some(&header("Bearer s3cret"))));
        // "reader:s3cret"
        assert!(t.admits(Some(&header("Basic cmVhZGVyOnMzY3JldA=="))));
        assert!(!t.admits(Some(&header("Bearer s3cre"))));
        assert!(!t.admits(Some(&header("Basic cmVhZGVyOndyb25n"))));
        assert!(!t.admits(None));
        assert!(Token::new(None).admits(None));
    }
}
