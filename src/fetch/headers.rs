//! What response headers ask of a poller: conditional-GET validators,
//! `Retry-After` and the freshness lifetime (`Cache-Control: max-age`,
//! `Expires`). Pure functions of the header values, so they are unit-tested
//! without a server.

use std::time::{Duration, SystemTime};

use reqwest::header::{self, HeaderMap, HeaderValue};

use super::Validators;

/// How long a response says it stays fresh, and which header said so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// The lifetime.
    pub lifetime: Duration,
    /// Where it came from.
    pub source: FreshnessSource,
}

/// The header a [`Freshness`] was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreshnessSource {
    /// `Cache-Control: max-age=N`.
    MaxAge,
    /// `Expires`, measured from the response's `Date`.
    Expires,
}

fn text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers
        .get(name)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The validators of a response, byte for byte as the server sent them
/// (weak `W/` prefixes and quotes included): they are only ever echoed back.
pub fn validators(headers: &HeaderMap) -> Validators {
    Validators {
        etag: text(headers, header::ETAG).map(str::to_string),
        last_modified: text(headers, header::LAST_MODIFIED).map(str::to_string),
    }
}

/// The server's clock: its `Date` header, else ours. Relative times are
/// measured against it so that a skewed server clock does not shorten or
/// stretch what it asked for.
fn server_now(headers: &HeaderMap, now: SystemTime) -> SystemTime {
    text(headers, header::DATE)
        .and_then(|d| httpdate::parse_http_date(d).ok())
        .unwrap_or(now)
}

/// `Retry-After` as a delay from now: either delay-seconds or an HTTP-date
/// (RFC 9110 §10.2.3). A date in the past means "now" (zero); an unreadable
/// value is ignored.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = text(headers, header::RETRY_AFTER)?;
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(server_now(headers, now))
            .unwrap_or(Duration::ZERO),
    )
}

/// The response's freshness lifetime: `Cache-Control: max-age` wins over
/// `Expires` (RFC 9111 §5.3); `no-store`/`no-cache` mean none. An `Expires`
/// that cannot be read or lies in the past means none.
pub fn freshness(headers: &HeaderMap, now: SystemTime) -> Option<Freshness> {
    let mut max_age = None;
    for value in headers.get_all(header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',') {
            let directive = directive.trim();
            let (name, arg) = directive
                .split_once('=')
                .map_or((directive, None), |(n, a)| (n.trim(), Some(a.trim())));
            if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
                return None;
            }
            if name.eq_ignore_ascii_case("max-age") {
                max_age = arg
                    .map(|a| a.trim_matches('"'))
                    .and_then(|a| a.parse::<u64>().ok());
            }
        }
    }
    if let Some(secs) = max_age {
        return Some(Freshness {
            lifetime: Duration::from_secs(secs),
            source: FreshnessSource::MaxAge,
        });
    }
    let expires = httpdate::parse_http_date(text(headers, header::EXPIRES)?).ok()?;
    let lifetime = expires.duration_since(server_now(headers, now)).ok()?;
    Some(Freshness {
        lifetime,
        source: FreshnessSource::Expires,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    fn at(date: &str) -> SystemTime {
        httpdate::parse_http_date(date).expect("date")
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = at("Thu, 27 Feb 2025 10:00:00 GMT");
        assert_eq!(
            retry_after(&map(&[("retry-after", "120")]), now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            retry_after(
                &map(&[("retry-after", "Thu, 27 Feb 2025 10:05:00 GMT")]),
                now
            ),
            Some(Duration::from_secs(300))
        );
        // Measured against the server's Date, not our clock.
        assert_eq!(
            retry_after(
                &map(&[
                    ("retry-after", "Thu, 27 Feb 2025 12:05:00 GMT"),
                    ("date", "Thu, 27 Feb 2025 12:00:00 GMT")
                ]),
                now
            ),
            Some(Duration::from_secs(300))
        );
        // Obsolete RFC 850 form is still an HTTP-date.
        assert_eq!(
            retry_after(
                &map(&[("retry-after", "Thursday, 27-Feb-25 10:01:00 GMT")]),
                now
            ),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            retry_after(
                &map(&[("retry-after", "Thu, 27 Feb 2025 09:00:00 GMT")]),
                now
            ),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&map(&[("retry-after", "soon")]), now), None);
        assert_eq!(retry_after(&map(&[("retry-after", "-5")]), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn freshness_prefers_max_age_and_honours_no_store() {
        let now = at("Thu, 27 Feb 2025 10:00:00 GMT");
        let f = freshness(
            &map(&[
                ("cache-control", "public, max-age=3600"),
                ("expires", "Thu, 27 Feb 2025 12:00:00 GMT"),
            ]),
            now,
        )
        .expect("fresh");
        assert_eq!(f.lifetime, Duration::from_secs(3600));
        assert_eq!(f.source, FreshnessSource::MaxAge);

        let f = freshness(
            &map(&[
                ("expires", "Thu, 27 Feb 2025 12:00:00 GMT"),
                ("date", "Thu, 27 Feb 2025 11:00:00 GMT"),
            ]),
            now,
        )
        .expect("fresh");
        assert_eq!(f.lifetime, Duration::from_secs(3600));
        assert_eq!(f.source, FreshnessSource::Expires);

        assert_eq!(
            freshness(&map(&[("cache-control", "no-store, max-age=60")]), now),
            None
        );
        assert_eq!(freshness(&map(&[("expires", "0")]), now), None);
        assert_eq!(
            freshness(&map(&[("expires", "Thu, 27 Feb 2025 09:00:00 GMT")]), now),
            None
        );
        assert_eq!(
            freshness(&map(&[("cache-control", "max-age=\"90\"")]), now).map(|f| f.lifetime),
            Some(Duration::from_secs(90))
        );
    }

    #[test]
    fn validators_are_kept_verbatim() {
        let v = validators(&map(&[
            ("etag", "W/\"abc\""),
            ("last-modified", "Thu, 27 Feb 2025 10:00:00 GMT"),
        ]));
        assert_eq!(v.etag.as_deref(), Some("W/\"abc\""));
        assert_eq!(
            v.last_modified.as_deref(),
            Some("Thu, 27 Feb 2025 10:00:00 GMT")
        );
        assert_eq!(validators(&HeaderMap::new()), Validators::default());
    }
}
