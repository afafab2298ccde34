//! Fetch: HTTP GET of a feed with conditional-GET validators, timeouts, a
//! redirect limit and a body size limit. This is the only module that speaks
//! HTTP.
//!
//! One [`Fetcher`] (one `reqwest::Client`) is shared by every poll so that
//! connections to a host are reused.

use std::time::{Duration, Instant};

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::StatusCode;

/// User-Agent sent with every request: names the project and where to read about it.
pub const USER_AGENT: &str = concat!(
    "feedfold/",
    env!("CARGO_PKG_VERSION"),
    " (+https://github.com/feedfold/feedfold)"
);

/// Feed formats we understand, most preferred first; `*/*` last because many
/// servers label feeds `text/xml` or worse.
const ACCEPT: &str = "application/atom+xml, application/rss+xml, application/feed+json, \
     application/json;q=0.9, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.5";

/// Fetch limits.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed for the whole request, body included.
    pub timeout: Duration,
    /// Largest body accepted, counted after decompression.
    pub max_body: usize,
    /// Most redirects followed.
    pub max_redirects: usize,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            max_body: 10 * 1024 * 1024,
            max_redirects: 5,
        }
    }
}

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

/// What happened on the wire, kept for the fetch log whatever the outcome.
#[derive(Debug, Clone, Default)]
pub struct Exchange {
    /// HTTP status, if a response arrived.
    pub status: Option<u16>,
    /// Body bytes read (after decompression).
    pub bytes: usize,
    /// Wall time of the request.
    pub duration: Duration,
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The server answered with a non-success status.
    #[error("HTTP {status}{}", reason(*status))]
    Status {
        /// The status code.
        status: u16,
    },
    /// The body exceeded the size limit.
    #[error("response body larger than the {limit}-byte limit")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Connection, TLS, timeout, redirect or decoding trouble.
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
    /// Status, size and duration, for the fetch log.
    pub exchange: Exchange,
}

/// A shared HTTP client for polling feeds.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    max_body: usize,
}

impl Fetcher {
    /// Builds the shared client. Fails only if the TLS backend cannot start.
    pub fn new(opts: &FetchOptions) -> Result<Fetcher, FetchError> {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static(ACCEPT));
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .default_headers(headers)
            .connect_timeout(opts.connect_timeout)
            .timeout(opts.timeout)
            .redirect(reqwest::redirect::Policy::limited(opts.max_redirects))
            .build()
            .map_err(|e| FetchError::Transport(error_chain(&e)))?;
        Ok(Fetcher {
            client,
            max_body: opts.max_body,
        })
    }

    /// GETs `url`, sending back the validators exactly as stored.
    pub async fn fetch(&self, url: &str, validators: &Validators) -> FetchResult {
        let started = Instant::now();
        let mut exchange = Exchange::default();
        let outcome = self.exchange(url, validators, &mut exchange).await;
        exchange.duration = started.elapsed();
        FetchResult { outcome, exchange }
    }

    async fn exchange(
        &self,
        url: &str,
        validators: &Validators,
        exchange: &mut Exchange,
    ) -> Result<Fetched, FetchError> {
        let mut request = self.client.get(url);
        if let Some(etag) = &validators.etag {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &validators.last_modified {
            request = request.header(header::IF_MODIFIED_SINCE, lm);
        }
        let mut response = request.send().await.map_err(transport)?;
        let status = response.status();
        exchange.status = Some(status.as_u16());

        let mut received = validators_of(response.headers());
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
        if response
            .content_length()
            .is_some_and(|n| n > self.max_body as u64)
        {
            return Err(FetchError::TooLarge {
                limit: self.max_body,
            });
        }
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let final_url = response.url().to_string();

        // Count while reading: Content-Length is absent or describes the
        // compressed size, and a hostile server can send a gzip bomb.
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if bytes.len() + chunk.len() > self.max_body {
                exchange.bytes = bytes.len() + chunk.len();
                return Err(FetchError::TooLarge {
                    limit: self.max_body,
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        exchange.bytes = bytes.len();
        Ok(Fetched::Body(Body {
            status: status.as_u16(),
            final_url,
            content_type,
            validators: received,
            bytes,
        }))
    }
}

fn validators_of(headers: &HeaderMap) -> Validators {
    let get = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    Validators {
        etag: get(header::ETAG),
        last_modified: get(header::LAST_MODIFIED),
    }
}

fn transport(e: reqwest::Error) -> FetchError {
    FetchError::Transport(error_chain(&e))
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
