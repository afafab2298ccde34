//! Fetch: HTTP GET of a feed, politely and defensively. This is the only
//! module that speaks HTTP.
//!
//! - Conditional GET: validators are sent back exactly as received; a 304
//!   that carries none keeps the old ones; no date is ever made up.
//! - Redirects are followed here, one hop at a time, rather than by reqwest,
//!   so that each hop's status is known (a 301/308 chain can move a feed, a
//!   302/307 never does), loops are named, and the chain length is capped.
//! - Limits: one deadline for the whole fetch (all hops and the body), a
//!   connect timeout, and a body cap counted after decompression, so a slow,
//!   endless or gzip-bomb response costs at most `timeout` and `max_body`.
//! - What the response asks of us (`Retry-After`, `Cache-Control`,
//!   `Expires`) is read in [`headers`]; the scheduler decides what to do.
//! - [`discovery`] finds the feeds an HTML page links to.
//!
//! One [`Fetcher`] (one `reqwest::Client`) is shared by every poll so that
//! connections to a host are reused. Proxies come from the standard
//! environment variables (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`,
//! `NO_PROXY`), which reqwest reads.

pub mod discovery;
pub mod guard;
pub mod headers;

use std::collections::HashSet;
use std::error::Error as _;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::StatusCode;
use url::Url;

pub use headers::{Freshness, FreshnessSource};

/// User-Agent sent with every request: names the project and where to read about it.
pub const USER_AGENT: &str = concat!(
    "feedfold/",
    env!("CARGO_PKG_VERSION"),
    " (+https://github.com/feedfold/feedfold)"
);

/// Feed formats we understand, most preferred first; `*/*` last because many
/// servers label feeds `text/xml` or worse. `Accept-Encoding` (gzip, br,
/// deflate) is added by reqwest, which also decodes the body.
const ACCEPT: &str = "application/atom+xml, application/rss+xml, application/feed+json, \
     application/json;q=0.9, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.5";

/// Fetch limits.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed for the whole fetch: every redirect hop and the body.
    pub timeout: Duration,
    /// Largest body accepted, counted after decompression.
    pub max_body: usize,
    /// Most redirects followed.
    pub max_redirects: usize,
    /// Whether a feed may itself be on a loopback, private or link-local
    /// address (`[fetch] allow_private_networks`). Redirects from a public
    /// address to such an address are refused either way.
    pub allow_private_networks: bool,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            max_body: 10 * 1024 * 1024,
            allow_private_networks: true,
            max_redirects: 5,
        }
    }
}

/// Largest body buffer allocated up front from `Content-Length`.
const PRESIZE_LIMIT: u64 = 1024 * 1024;

/// Conditional-GET validators, stored exactly as the server sent them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    /// The `ETag` header.
    pub etag: Option<String>,
    /// The `Last-Modified` header.
    pub last_modified: Option<String>,
}

/// A successful exchange with the server.
#[derive(Debug)]
pub enum Fetched {
    /// 304: nothing changed since the validators we sent.
    NotModified {
        /// Validators to keep (new ones if the 304 carried them).
        validators: Validators,
    },
    /// 2xx with a body.
    Body(Body),
}

/// A 2xx response body and what we need to know about it.
#[derive(Debug)]
pub struct Body {
    /// HTTP status.
    pub status: u16,
    /// The URL after redirects.
    pub final_url: String,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// Validators for the next conditional GET.
    pub validators: Validators,
    /// The (decompressed) body.
    pub bytes: Vec<u8>,
}

/// What happened on the wire, kept whatever the outcome: for the fetch log
/// and for the scheduler's politeness decisions.
#[derive(Debug, Clone, Default)]
pub struct Exchange {
    /// HTTP status of the last response, if one arrived.
    pub status: Option<u16>,
    /// Body bytes read (after decompression).
    pub bytes: usize,
    /// Wall time of the fetch, all hops included.
    pub duration: Duration,
    /// Redirect hops followed, in order: (status, target URL).
    pub redirects: Vec<(u16, String)>,
    /// `Retry-After` of the last response, as a delay.
    pub retry_after: Option<Duration>,
    /// Freshness lifetime of the last response (`max-age` or `Expires`).
    pub freshness: Option<Freshness>,
}

impl Exchange {
    /// Where the leading run of permanent redirects (301/308) led, if the
    /// chain began with one: the URL the feed has moved to. A temporary hop
    /// ends the run, so `A -301-> B -302-> C` means "moved to B".
    pub fn permanent_redirect(&self) -> Option<&str> {
        self.redirects
            .iter()
            .take_while(|(status, _)| matches!(status, 301 | 308))
            .last()
            .map(|(_, url)| url.as_str())
    }
}

/// Why a fetch failed. Each message says what happened in words a person
/// reading `feedfold feeds` understands.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The SSRF guard refused to connect (see [`guard`]).
    #[error("refused: {0}")]
    Refused(String),
    /// The server answered with a non-success status.
    #[error("HTTP {status}{}", reason(*status))]
    Status {
        /// The status code.
        status: u16,
    },
    /// The body exceeded the size limit.
    #[error("response body larger than the {limit}-byte limit (counted after decompression)")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// 2xx with nothing in it.
    #[error("HTTP {status} with an empty body")]
    EmptyBody {
        /// The status code.
        status: u16,
    },
    /// The whole fetch did not finish in time.
    #[error("timed out: no complete response within {}", humantime::format_duration(*after))]
    Timeout {
        /// The deadline.
        after: Duration,
    },
    /// A redirect led back to a URL already visited in this fetch.
    #[error("redirect loop: {}", chain.join(" -> "))]
    RedirectLoop {
        /// The URLs visited, ending with the repeated one.
        chain: Vec<String>,
    },
    /// More redirects than allowed.
    #[error("too many redirects: gave up after {limit} (last: {last})")]
    TooManyRedirects {
        /// The limit.
        limit: usize,
        /// The last URL redirected to.
        last: String,
    },
    /// A redirect without a usable `Location`.
    #[error("HTTP {status} redirect with {problem}")]
    BadRedirect {
        /// The status code.
        status: u16,
        /// What is wrong with the Location header.
        problem: String,
    },
    /// Connecting failed (DNS, refused, unreachable).
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The TLS handshake failed (certificate, protocol, not a TLS server).
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    /// The connection broke while the body was arriving.
    #[error("reading the response failed: {0}")]
    Body(String),
    /// Anything else reqwest reports.
    #[error("{0}")]
    Transport(String),
}

fn reason(status: u16) -> String {
    StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| format!(" {r}"))
        .unwrap_or_default()
}

/// The result of one fetch: the outcome plus what was seen on the wire.
#[derive(Debug)]
pub struct FetchResult {
    /// Success or failure.
    pub outcome: Result<Fetched, FetchError>,
    /// Status, size, duration, redirects and server hints.
    pub exchange: Exchange,
}

/// A shared HTTP client for polling feeds.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    opts: FetchOptions,
    /// What the SSRF guard checked, for the client's resolver.
    vetted: Arc<guard::Vetted>,
}

impl Fetcher {
    /// Builds the shared client. Fails only if the TLS backend cannot start.
    pub fn new(opts: &FetchOptions) -> Result<Fetcher, FetchError> {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static(ACCEPT));
        let vetted = Arc::new(guard::Vetted::default());
        let client = reqwest::Client::builder()
            .dns_resolver(guard::VettedResolver::new(vetted.clone()))
            .user_agent(USER_AGENT)
            .default_headers(headers)
            .connect_timeout(opts.connect_timeout)
            // A backstop only: `fetch` enforces `opts.timeout` over all hops
            // and the body, and says so in its error.
            .timeout(opts.timeout + Duration::from_secs(1))
            // We follow redirects ourselves: see the module docs.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| FetchError::Transport(error_chain(&e)))?;
        Ok(Fetcher {
            client,
            opts: opts.clone(),
            vetted,
        })
    }

    /// GETs `url`, sending back the validators exactly as stored.
    pub async fn fetch(&self, url: &str, validators: &Validators) -> FetchResult {
        let started = Instant::now();
        let mut exchange = Exchange::default();
        let outcome = match tokio::time::timeout(
            self.opts.timeout,
            self.exchange(url, validators, &mut exchange),
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(_) => Err(FetchError::Timeout {
                after: self.opts.timeout,
            }),
        };
        exchange.duration = started.elapsed();
        FetchResult { outcome, exchange }
    }

    async fn exchange(
        &self,
        url: &str,
        validators: &Validators,
        exchange: &mut Exchange,
    ) -> Result<Fetched, FetchError> {
        let mut response = self.follow(url, validators, exchange).await?;
        let status = response.status();
        let now = SystemTime::now();
        exchange.retry_after = headers::retry_after(response.headers(), now);
        exchange.freshness = headers::freshness(response.headers(), now);

        let mut received = headers::validators(response.headers());
        if status == StatusCode::NOT_MODIFIED {
            // A 304 may omit validators; keep the ones we sent in that case.
            received.etag = received.etag.or_else(|| validators.etag.clone());
            received.last_modified = received
                .last_modified
                .or_else(|| validators.last_modified.clone());
            return Ok(Fetched::NotModified {
                validators: received,
            });
        }
        if !status.is_success() {
            return Err(FetchError::Status {
                status: status.as_u16(),
            });
        }
        let limit = self.opts.max_body;
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(FetchError::TooLarge { limit });
        }
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let final_url = response.url().to_string();

        // Count while reading: Content-Length is absent or describes the
        // compressed size, and a hostile server can send a gzip bomb.
        // Sized from Content-Length when it is known and modest: grown by
        // doubling, a body waiting for the writer held ~40 % more than its
        // size, on average. A larger claim is not trusted.
        let expected = response.content_length().unwrap_or(0).min(PRESIZE_LIMIT);
        let mut bytes = Vec::with_capacity(expected as usize);
        while let Some(chunk) = response.chunk().await.map_err(|e| self.body_error(e))? {
            exchange.bytes = bytes.len() + chunk.len();
            if exchange.bytes > limit {
                return Err(FetchError::TooLarge { limit });
            }
            bytes.extend_from_slice(&chunk);
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(FetchError::EmptyBody {
                status: status.as_u16(),
            });
        }
        Ok(Fetched::Body(Body {
            status: status.as_u16(),
            final_url,
            content_type,
            validators: received,
            bytes,
        }))
    }

    /// Sends the request and follows redirects (301, 302, 303, 307, 308) up
    /// to the limit; returns the first response that is not a redirect.
    async fn follow(
        &self,
        start: &str,
        validators: &Validators,
        exchange: &mut Exchange,
    ) -> Result<reqwest::Response, FetchError> {
        let mut url = Url::parse(start)
            .map_err(|e| FetchError::Transport(format!("invalid URL {start:?}: {e}")))?;
        let mut visited = HashSet::from([url.to_string()]);
        let mut chain = vec![url.to_string()];
        // Whether the feed's own address is public: then none of its
        // redirects may lead to a non-public one.
        let mut origin_public: Option<bool> = None;
        loop {
            self.guard(&url, &mut origin_public).await?;
            let mut request = self.client.get(url.clone());
            if let Some(etag) = &validators.etag {
                request = request.header(header::IF_NONE_MATCH, etag);
            }
            if let Some(lm) = &validators.last_modified {
                request = request.header(header::IF_MODIFIED_SINCE, lm);
            }
            let response = request.send().await.map_err(|e| self.send_error(e))?;
            let status = response.status().as_u16();
            exchange.status = Some(status);
            if !matches!(status, 301 | 302 | 303 | 307 | 308) {
                return Ok(response);
            }
            let bad = |problem: &str| FetchError::BadRedirect {
                status,
                problem: problem.to_string(),
            };
            let location = response
                .headers()
                .get(header::LOCATION)
                .ok_or_else(|| bad("no Location header"))?
                .to_str()
                .map_err(|_| bad("a Location header that is not text"))?;
            let next = url
                .join(location.trim())
                .map_err(|e| bad(&format!("an invalid Location {location:?} ({e})")))?;
            if !matches!(next.scheme(), "http" | "https") {
                return Err(bad(&format!("a Location that is not http(s): {next}")));
            }
            chain.push(next.to_string());
            if !visited.insert(next.to_string()) {
                return Err(FetchError::RedirectLoop { chain });
            }
            if exchange.redirects.len() >= self.opts.max_redirects {
                return Err(FetchError::TooManyRedirects {
                    limit: self.opts.max_redirects,
                    last: next.to_string(),
                });
            }
            exchange.redirects.push((status, next.to_string()));
            url = next;
        }
    }
}

impl Fetcher {
    /// Applies the SSRF rules to one hop (see [`guard`]).
    async fn guard(&self, url: &Url, origin_public: &mut Option<bool>) -> Result<(), FetchError> {
        // An unresolvable host is left to the connection attempt, which
        // reports it as a DNS error.
        let Ok(addresses) = guard::addresses(url).await else {
            return Ok(());
        };
        let non_public = guard::any_non_public(&addresses);
        let host = url.host_str().unwrap_or("");
        match *origin_public {
            None => {
                if non_public && !self.opts.allow_private_networks {
                    return Err(FetchError::Refused(format!(
                        "{host} is a loopback, private or link-local address and [fetch] allow_private_networks is false"
                    )));
                }
                *origin_public = Some(!non_public);
            }
            Some(true) if non_public => {
                return Err(FetchError::Refused(format!(
                    "a redirect from a public address to {host}, a loopback, private or link-local address (SSRF guard)"
                )));
            }
            Some(_) => {}
        }
        // The connection goes to these addresses, not to a fresh answer.
        if let Some(url::Host::Domain(name)) = url.host() {
            self.vetted.remember(name, &addresses);
        }
        Ok(())
    }

    fn send_error(&self, e: reqwest::Error) -> FetchError {
        if e.is_timeout() {
            return FetchError::Timeout {
                after: self.opts.timeout,
            };
        }
        if e.is_connect() {
            // The cause, without reqwest's "error sending request for url".
            let cause = e.source().map_or_else(|| error_chain(&e), cause_chain);
            let tcp_level = ["tcp connect error", "dns error", "failed to lookup"]
                .iter()
                .any(|m| cause.contains(m));
            let https = e.url().is_some_and(|u| u.scheme() == "https");
            return if https && !tcp_level {
                FetchError::Tls(cause)
            } else {
                FetchError::Connect(cause)
            };
        }
        FetchError::Transport(error_chain(&e))
    }

    fn body_error(&self, e: reqwest::Error) -> FetchError {
        if e.is_timeout() {
            return FetchError::Timeout {
                after: self.opts.timeout,
            };
        }
        FetchError::Body(error_chain(&e))
    }
}

/// The chain of causes from `e` down, without hyper's "client error (…)"
/// wrappers.
fn cause_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let part = err.to_string();
        if !part.starts_with("client error (") && !parts.iter().any(|p| p.contains(&part)) {
            parts.push(part);
        }
        next = err.source();
    }
    parts.join(": ")
}

/// reqwest's top-level message ("error sending request") hides the cause;
/// users need the whole chain ("connection refused", "certificate expired").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !msg.contains(&part) {
            msg.push_str(": ");
            msg.push_str(&part);
        }
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permanent_redirect_is_the_end_of_the_leading_permanent_run() {
        let ex = |hops: &[(u16, &str)]| Exchange {
            redirects: hops.iter().map(|(s, u)| (*s, u.to_string())).collect(),
            ..Default::default()
        };
        assert_eq!(ex(&[]).permanent_redirect(), None);
        assert_eq!(ex(&[(302, "b")]).permanent_redirect(), None);
        assert_eq!(ex(&[(301, "b")]).permanent_redirect(), Some("b"));
        assert_eq!(
            ex(&[(301, "b"), (308, "c")]).permanent_redirect(),
            Some("c")
        );
        assert_eq!(
            ex(&[(301, "b"), (307, "c")]).permanent_redirect(),
            Some("b")
        );
        assert_eq!(ex(&[(307, "b"), (301, "c")]).permanent_redirect(), None);
    }

    #[test]
    fn errors_read_as_sentences() {
        assert_eq!(
            FetchError::Status { status: 429 }.to_string(),
            "HTTP 429 Too Many Requests"
        );
        assert_eq!(
            FetchError::Timeout {
                after: Duration::from_secs(2)
            }
            .to_string(),
            "timed out: no complete response within 2s"
        );
        assert_eq!(
            FetchError::RedirectLoop {
                chain: vec!["a".into(), "b".into(), "a".into()]
            }
            .to_string(),
            "redirect loop: a -> b -> a"
        );
    }
}
