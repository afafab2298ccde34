//! The web surface (`[web] listen`): the folded stream as outgoing feeds
//! (Atom and JSON Feed, one entry per story with its lineage) and a few
//! server-rendered pages (the story river, one story with what each copy
//! changed, search, feed health).
//!
//! It only reads: every route is a GET, and it reads through its own
//! read-only connections (never the writer's) or, on PostgreSQL, the
//! worker's pool, with the store's query API (`crate::store::river` and the
//! CLI's queries), so a slow page never holds up a poll. Feed HTML is untrusted; it is sanitised
//! (`sanitize`) before it reaches a page or a feed, and every response
//! carries a Content-Security-Policy that allows no script at all.

mod auth;

mod diff;
mod feeds;
mod pages;
mod reader;
mod sanitize;

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tower_http::compression::CompressionLayer;

pub use crate::config::WebConfig;

pub use reader::Source;

use crate::store::pg::PgError;
use crate::store::{RiverFilter, SearchQuery, StoreError, StoryId};
use reader::{ReadError, Reader};

/// Stories in an outgoing feed unless `limit` says otherwise.
pub const DEFAULT_FEED_LIMIT: usize = 50;
/// The most stories one feed request may ask for.
pub const MAX_FEED_LIMIT: usize = 500;
/// Stories per page of the river, and results of a search.
const PAGE_SIZE: usize = 30;

const ATOM_TYPE: &str = "application/atom+xml; charset=utf-8";
const JSON_FEED_TYPE: &str = "application/feed+json; charset=utf-8";
const HTML_TYPE: &str = "text/html; charset=utf-8";

/// No script of any kind, styles and images only from feedfold itself
/// (and images from https sites, which feed HTML links to); forms only to
/// feedfold; never framed.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' https: data:; \
                   form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Why the web surface could not start.
#[derive(Debug, thiserror::Error)]
#[error("web.listen {addr}: cannot listen: {source}")]
pub struct ListenError {
    /// The configured address.
    pub addr: SocketAddr,
    /// Why.
    pub source: std::io::Error,
}

/// Binds `[web] listen` (when set) and serves the pages and feeds on a
/// task until it is aborted. Says at start-up where it listens and whether
/// readers must authenticate.
pub async fn start(
    config: &WebConfig,
    database: Source,
) -> Result<Option<tokio::task::JoinHandle<()>>, ListenError> {
    let Some(addr) = config.listen else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ListenError { addr, source })?;
    let local = listener.local_addr().unwrap_or(addr);
    match (&config.token, addr.ip().is_loopback()) {
        (Some(_), true) => {
            tracing::info!(addr = %local, "serving the web pages and feeds; readers must authenticate with the [web] token")
        }
        (Some(_), false) => {
            tracing::info!(addr = %local, "serving the web pages and feeds to the network; readers must authenticate with the [web] token (bearer, or as the password of basic auth)")
        }
        (None, _) => tracing::info!(addr = %local, "serving the web pages and feeds"),
    }
    let app = router(database, config.token.clone());
    Ok(Some(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("web server stopped: {e}");
        }
    })))
}

/// The whole surface: routes, authentication, security headers, compression.
pub fn router(database: Source, token: Option<String>) -> Router {
    let site = Site {
        reader: Reader::new(database),
    };
    Router::new()
        .route("/", get(river))
        .route("/story/{id}", get(story))
        .route("/search", get(search))
        .route("/feeds", get(feed_health))
        .route("/feeds/{file}", get(feed_all))
        .route("/feeds/tag/{file}", get(feed_tag))
        .route("/style.css", get(style))
        .fallback(not_found)
        .with_state(site)
        .layer(axum::middleware::from_fn_with_state(
            auth::Token::new(token),
            auth::require,
        ))
        .layer(axum::middleware::map_response(security_headers))
        .layer(CompressionLayer::new())
}

#[derive(Clone)]
struct Site {
    reader: Reader,
}

/// Why a request failed, as the reader sees it.
#[derive(Debug)]
enum Failure {
    BadRequest(String),
    NotFound(String),
    Store(StoreError),
    Internal(String),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        if is_bad_query(&e) {
            return Failure::BadRequest(e.to_string());
        }
        Failure::Store(e)
    }
}

impl From<ReadError> for Failure {
    fn from(e: ReadError) -> Failure {
        match e {
            ReadError::Store(e) => e.into(),
            ReadError::Task(m) => Failure::Internal(m),
        }
    }
}

/// A search query the database cannot read (on either store).
fn is_bad_query(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::BadQuery { .. } | StoreError::Postgres(PgError::BadQuery { .. })
    )
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            Failure::BadRequest(m) => (StatusCode::BAD_REQUEST, "Bad request", m),
            Failure::NotFound(m) => (StatusCode::NOT_FOUND, "Not found", m),
            Failure::Store(e) => {
                tracing::error!("web: {e}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Database error",
                    "feedfold could not read its database; the log says why.".to_string(),
                )
            }
            Failure::Internal(m) => {
                tracing::error!("web: {m}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal error",
                    "Something went wrong; the log says what.".to_string(),
                )
            }
        };
        (
            status,
            [(header::CONTENT_TYPE, HTML_TYPE)],
            pages::error(title, &message).into_string(),
        )
            .into_response()
    }
}

async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// The query string as name → value (the last of a repeated name wins).
fn params(query: Option<String>) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// A whole-number parameter within `range`; absent or empty: `default`.
fn number<T>(
    p: &HashMap<String, String>,
    name: &str,
    range: std::ops::RangeInclusive<T>,
    default: T,
) -> Result<T, Failure>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    match p.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v
            .parse::<T>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                Failure::BadRequest(format!(
                    "{name} must be a whole number from {} to {}, not {v:?}",
                    range.start(),
                    range.end()
                ))
            }),
    }
}

/// `since`: a duration back from now (`24h`, `7d`), a date (`2025-02-27`,
/// midnight UTC) or an RFC 3339 time — what the CLI's `--since` takes.
fn since(p: &HashMap<String, String>) -> Result<Option<DateTime<Utc>>, Failure> {
    let Some(s) = p.get("since").map(|v| v.trim()).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    crate::when::parse_since(s)
        .map(Some)
        .map_err(|why| Failure::BadRequest(format!("since {s:?}: {why}")))
}

/// `http://host:port` as the client addressed this server, for the
/// absolute links feeds need (`https` when a reverse proxy says so with
/// `X-Forwarded-Proto`); a Host header that is not a plain host name or
/// address is not echoed.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    format!("{}://{host}", if https { "https" } else { "http" })
}

fn html_page(markup: maud::Markup) -> Response {
    (
        [
            (header::CONTENT_TYPE, HTML_TYPE),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        markup.into_string(),
    )
        .into_response()
}

async fn river(State(site): State<Site>, RawQuery(query): RawQuery) -> Result<Response, Failure> {
    let p = params(query);
    let form = pages::RiverForm {
        tag: p.get("tag").filter(|t| !t.trim().is_empty()).cloned(),
        since: p.get("since").filter(|t| !t.trim().is_empty()).cloned(),
        min_sources: number(&p, "min_sources", 1..=i64::from(u16::MAX), 1)?,
        page: number(&p, "page", 0..=100_000, 0)?,
    };
    let filter = RiverFilter {
        tag: form.tag.clone(),
        since: since(&p)?,
        min_sources: form.min_sources,
        // One more than shown tells whether there is an older page.
        limit: PAGE_SIZE + 1,
        offset: form.page * PAGE_SIZE,
    };
    let mut stories = site.reader.river(filter).await?;
    let tags = site.reader.tags().await?;
    let more = stories.len() > PAGE_SIZE;
    stories.truncate(PAGE_SIZE);
    Ok(html_page(pages::river(&stories, &form, &tags, more)))
}

async fn story(
    State(site): State<Site>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, Failure> {
    let id: i64 = id
        .parse()
        .map_err(|_| Failure::NotFound(format!("There is no story {id:?}.")))?;
    let story = site.reader.river_story(StoryId(id)).await?.ok_or_else(|| {
        Failure::NotFound(format!(
            "There is no story {id}: retention may have pruned it."
        ))
    })?;
    Ok(html_page(pages::story(&story)))
}

async fn search(State(site): State<Site>, RawQuery(query): RawQuery) -> Result<Response, Failure> {
    let p = params(query);
    let q = p.get("q").map(|q| q.trim().to_string()).unwrap_or_default();
    if q.is_empty() {
        return Ok(html_page(pages::search("", Ok(&[]))));
    }
    let words = SearchQuery::Words(q.clone());
    let hits = site.reader.search(words, PAGE_SIZE).await?;
    // A query the database cannot read is the user's to fix: say why on the page.
    let page = match hits {
        Ok(hits) => pages::search(&q, Ok(&hits)),
        Err(e) if is_bad_query(&e) => pages::search(&q, Err(&e.to_string())),
        Err(e) => return Err(e.into()),
    };
    Ok(html_page(page))
}

async fn feed_health(State(site): State<Site>) -> Result<Response, Failure> {
    let mut rows = site.reader.feeds().await?;
    // Stable: within a status, the store's order (active first, by URL).
    rows.sort_by_key(|r| pages::status_rank(&r.status));
    Ok(html_page(pages::feeds(&rows)))
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        pages::STYLE,
    )
        .into_response()
}

async fn not_found() -> Failure {
    Failure::NotFound("feedfold has no such page.".to_string())
}

/// Which outgoing feed a file name asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Atom,
    Json,
}

fn split_format(file: &str) -> Option<(&str, Format)> {
    if let Some(name) = file.strip_suffix(".atom") {
        Some((name, Format::Atom))
    } else {
        file.strip_suffix(".json").map(|name| (name, Format::Json))
    }
}

async fn feed_all(
    State(site): State<Site>,
    UrlPath(file): UrlPath<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    match split_format(&file) {
        Some(("all", format)) => outgoing(site, None, format, query, &headers).await,
        _ => Err(Failure::NotFound(
            "Feeds are /feeds/all.atom, /feeds/all.json and /feeds/tag/TAG.atom|json.".into(),
        )),
    }
}

async fn feed_tag(
    State(site): State<Site>,
    UrlPath(file): UrlPath<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    let Some((tag, format)) = split_format(&file).filter(|(t, _)| !t.is_empty()) else {
        return Err(Failure::NotFound(
            "Tag feeds are /feeds/tag/TAG.atom and /feeds/tag/TAG.json.".into(),
        ));
    };
    outgoing(site, Some(tag.to_string()), format, query, &headers).await
}

/// One outgoing feed, answered conditionally.
async fn outgoing(
    site: Site,
    tag: Option<String>,
    format: Format,
    query: Option<String>,
    headers: &HeaderMap,
) -> Result<Response, Failure> {
    let p = params(query.clone());
    let filter = RiverFilter {
        tag: tag.clone(),
        since: None,
        min_sources: number(&p, "min_sources", 1..=i64::from(u16::MAX), 1)?,
        limit: number(&p, "limit", 1..=MAX_FEED_LIMIT, DEFAULT_FEED_LIMIT)?,
        offset: 0,
    };
    let known = match &tag {
        Some(t) => site
            .reader
            .tags()
            .await?
            .iter()
            .any(|k| k.eq_ignore_ascii_case(t)),
        None => true,
    };
    if !known {
        return Err(Failure::NotFound(format!(
            "No listed feed has the tag {:?}.",
            tag.unwrap_or_default()
        )));
    }
    let stories = site.reader.river(filter).await?;
    let base = base_url(headers);
    let ext = if format == Format::Atom {
        "atom"
    } else {
        "json"
    };
    let path = match &tag {
        Some(t) => format!("/feeds/tag/{}.{ext}", url_segment(t)),
        None => format!("/feeds/all.{ext}"),
    };
    let query = query.filter(|q| !q.is_empty());
    let head = feeds::FeedHead {
        id: match &tag {
            Some(t) => format!("urn:feedfold:feed:tag:{}", url_segment(&t.to_lowercase())),
            None => "urn:feedfold:feed:all".to_string(),
        },
        title: match &tag {
            Some(t) => format!("feedfold: {t}"),
            None => "feedfold: all stories".to_string(),
        },
        self_url: match &query {
            Some(q) => format!("{base}{path}?{q}"),
            None => format!("{base}{path}"),
        },
        page_url: match &tag {
            Some(t) => format!("{base}/?tag={}", url_segment(t)),
            None => format!("{base}/"),
        },
        base,
    };
    let etag = feeds::etag(&head, ext, &stories);
    let content_type = match format {
        Format::Atom => ATOM_TYPE,
        Format::Json => JSON_FEED_TYPE,
    };
    conditional(
        headers,
        content_type,
        &etag,
        feeds::newest(&stories),
        || {
            match format {
                Format::Atom => feeds::atom(&head, &stories).map_err(|e| e.to_string()),
                Format::Json => feeds::json(&head, &stories).map_err(|e| e.to_string()),
            }
            .map_err(Failure::Internal)
        },
    )
}

/// A tag as one path segment (or one query value).
fn url_segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// The document `render` makes, with its `ETag` (weak: compression
/// changes the bytes, not the meaning) and `Last-Modified` (the newest
/// change of the stories in it); or 304, without rendering, when the client
/// has it already. `If-None-Match` decides when present, as RFC 9110 says;
/// else `If-Modified-Since`.
fn conditional(
    headers: &HeaderMap,
    content_type: &'static str,
    etag: &str,
    last_modified: Option<&str>,
    render: impl FnOnce() -> Result<String, Failure>,
) -> Result<Response, Failure> {
    let modified = last_modified
        .and_then(crate::store::parse_time)
        .map(std::time::SystemTime::from);
    let fresh = match headers.get(header::IF_NONE_MATCH) {
        Some(v) => v.to_str().is_ok_and(|v| {
            v.split(',')
                .map(str::trim)
                .any(|t| t == "*" || t.trim_start_matches("W/") == etag.trim_start_matches("W/"))
        }),
        None => match (
            headers
                .get(header::IF_MODIFIED_SINCE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| httpdate::parse_http_date(v).ok()),
            modified,
        ) {
            (Some(since), Some(modified)) => modified <= since,
            _ => false,
        },
    };
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type)], render()?).into_response()
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    if let Some(Ok(v)) = modified.map(|m| HeaderValue::from_str(&httpdate::fmt_http_date(m))) {
        h.insert(header::LAST_MODIFIED, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).expect("header"));
        h
    }

    #[test]
    fn a_repeat_with_either_validator_gets_304_without_rendering() {
        let at = Some("2025-02-27T10:00:00Z");
        let ask = |h: HeaderMap, etag: &str| {
            let mut rendered = false;
            let r = conditional(&h, ATOM_TYPE, etag, at, || {
                rendered = true;
                Ok("<feed/>".to_string())
            })
            .expect("response");
            (r, rendered)
        };
        let (first, rendered) = ask(HeaderMap::new(), "W/\"1\"");
        assert_eq!(first.status(), StatusCode::OK);
        assert!(rendered);
        assert_eq!(first.headers()[header::ETAG], "W/\"1\"");
        let lm = first.headers()[header::LAST_MODIFIED]
            .to_str()
            .expect("date")
            .to_string();
        assert_eq!(lm, "Thu, 27 Feb 2025 10:00:00 GMT");
        let (again, rendered) = ask(with(header::IF_NONE_MATCH, "W/\"1\""), "W/\"1\"");
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert!(!rendered);
        let (changed, _) = ask(with(header::IF_NONE_MATCH, "W/\"1\""), "W/\"2\"");
        assert_eq!(changed.status(), StatusCode::OK);
        assert_eq!(
            ask(with(header::IF_MODIFIED_SINCE, &lm), "W/\"1\"")
                .0
                .status(),
            StatusCode::NOT_MODIFIED
        );
        let earlier = with(header::IF_MODIFIED_SINCE, "Thu, 27 Feb 2025 09:59:59 GMT");
        assert_eq!(ask(earlier, "W/\"1\"").0.status(), StatusCode::OK);
    }

    #[test]
    fn hostile_host_headers_are_not_echoed() {
        assert_eq!(
            base_url(&with(header::HOST, "127.0.0.1:8080")),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            base_url(&with(header::HOST, "a\"><script>")),
            "http://localhost"
        );
        let mut proxied = with(header::HOST, "news.example");
        proxied.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert_eq!(base_url(&proxied), "https://news.example");
    }

    #[test]
    fn tags_are_one_path_segment() {
        assert_eq!(url_segment("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn parameters_out_of_range_are_refused() {
        let p = params(Some("limit=501&min_sources=2".into()));
        assert!(number(&p, "limit", 1..=MAX_FEED_LIMIT, DEFAULT_FEED_LIMIT).is_err());
        assert_eq!(number(&p, "min_sources", 1..=10i64, 1).ok(), Some(2));
        assert_eq!(number(&p, "page", 0..=10usize, 0).ok(), Some(0));
    }
}
