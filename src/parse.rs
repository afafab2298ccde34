//! Parse: feed bytes → [`ParsedFeed`], via feed-rs (RSS 0.9x/1.0/2.0, Atom,
//! JSON Feed).
//!
//! Two things feed-rs does not do for us, done here:
//! - decode to UTF-8 first (HTTP charset, BOM, XML declaration), because
//!   feed-rs panics on some UTF-16 documents and rejects undeclared Latin-1;
//! - give every entry a *stable* identity (guid, else URL, else a hash of its
//!   text), because feed-rs invents a random id for an item without guid,
//!   link or title, which would store the item again on every poll.

pub mod charset;
pub mod hints;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// Prefix our id generator gives ids that feed-rs had to invent, so that we
/// can tell them apart from real guids.
const GENERATED_ID: &str = "\u{1}feedfold-generated";

/// A parsed feed document.
#[derive(Debug, Clone, Default)]
pub struct ParsedFeed {
    /// The feed's own title.
    pub title: Option<String>,
    /// The site the feed belongs to.
    pub site_url: Option<String>,
    /// Items in document order.
    pub entries: Vec<ParsedEntry>,
    /// RSS `<ttl>`: how long the feed may be cached.
    pub ttl: Option<Duration>,
    /// `sy:updatePeriod` / `sy:updateFrequency`: how often it says it changes.
    pub update_period: Option<Duration>,
}

/// One item of a feed.
#[derive(Debug, Clone, Default)]
pub struct ParsedEntry {
    /// Stable identity within the feed: `guid:…`, `url:…` or `hash:…`.
    pub identity: String,
    /// The guid / Atom id, when the feed gave one.
    pub guid: Option<String>,
    /// Link to the article.
    pub url: Option<String>,
    /// Headline (may contain HTML in some feeds).
    pub title: Option<String>,
    /// Summary / description (HTML).
    pub summary: Option<String>,
    /// Full content (HTML), when the feed carries it.
    pub content: Option<String>,
    /// Author names.
    pub authors: Vec<String>,
    /// When the item was published.
    pub published: Option<DateTime<Utc>>,
    /// When the item was last updated.
    pub updated: Option<DateTime<Utc>>,
    /// Its dedup analysis, when the poller computed it off the writer thread
    /// (`None`: the store computes it).
    pub analysis: Option<crate::dedup::Analysis>,
}

impl ParsedEntry {
    /// The richest body text the item has: full content, else summary.
    pub fn body(&self) -> Option<&str> {
        self.content.as_deref().or(self.summary.as_deref())
    }
}

/// Why a document is not a usable feed.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// An HTML page where a feed was expected.
    #[error("not a feed: the server returned an HTML page")]
    Html,
    /// Neither XML nor JSON, or XML without a feed root element.
    #[error("not a feed: no RSS, Atom or JSON Feed root element")]
    NoFeed,
    /// The document is a feed but is malformed.
    #[error("malformed feed: {0}")]
    Malformed(String),
    /// The parser panicked on this input (a bug in a dependency, contained).
    #[error("feed parser crashed on this document")]
    Panicked,
}

/// Parses feed bytes fetched from `base_url` with the given `Content-Type`.
pub fn parse(
    bytes: &[u8],
    content_type: Option<&str>,
    base_url: &str,
) -> Result<ParsedFeed, ParseError> {
    let text = charset::decode(bytes, content_type).text;
    let parser = feed_rs::parser::Builder::new()
        .base_uri(Some(base_url))
        .id_generator(|_, _, _| GENERATED_ID.to_string())
        .build();
    // feed-rs (through quick-xml) has panicked on hostile input; one feed must
    // never take the daemon down.
    let parsed = catch_unwind(AssertUnwindSafe(|| parser.parse(text.as_bytes())))
        .map_err(|_| ParseError::Panicked)?;
    match parsed {
        Ok(feed) => {
            let mut feed = convert(feed);
            feed.update_period = hints::update_period(&text);
            Ok(feed)
        }
        Err(feed_rs::parser::ParseFeedError::ParseError(_)) if looks_like_html(&text) => {
            Err(ParseError::Html)
        }
        Err(feed_rs::parser::ParseFeedError::ParseError(
            feed_rs::parser::ParseErrorKind::NoFeedRoot,
        )) => Err(ParseError::NoFeed),
        Err(e) => Err(ParseError::Malformed(e.to_string())),
    }
}

fn looks_like_html(text: &str) -> bool {
    let head: String = text
        .chars()
        .take(1024)
        .collect::<String>()
        .to_ascii_lowercase();
    head.contains("<!doctype html") || head.contains("<html")
}

fn convert(feed: feed_rs::model::Feed) -> ParsedFeed {
    ParsedFeed {
        title: feed
            .title
            .map(|t| t.content.trim().to_string())
            .filter(|t| !t.is_empty()),
        site_url: feed
            .links
            .iter()
            .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
            .map(|l| l.href.clone()),
        ttl: feed
            .ttl
            .map(|minutes| Duration::from_secs(u64::from(minutes) * 60)),
        update_period: None,
        entries: feed.entries.into_iter().map(convert_entry).collect(),
    }
}

fn convert_entry(e: feed_rs::model::Entry) -> ParsedEntry {
    let guid =
        Some(e.id.trim().to_string()).filter(|id| !id.is_empty() && !id.starts_with(GENERATED_ID));
    let url = e
        .links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .or(e.links.first())
        .map(|l| l.href.trim().to_string())
        .filter(|u| !u.is_empty());
    let title = e.title.map(|t| t.content).filter(|t| !t.trim().is_empty());
    let summary = e
        .summary
        .map(|t| t.content)
        .filter(|t| !t.trim().is_empty());
    let content = e
        .content
        .and_then(|c| c.body)
        .filter(|t| !t.trim().is_empty());
    let mut entry = ParsedEntry {
        identity: String::new(),
        guid,
        url,
        title,
        summary,
        content,
        authors: e
            .authors
            .into_iter()
            .filter_map(|p| p.name)
            .filter(|n| !n.trim().is_empty())
            .collect(),
        published: e.published,
        updated: e.updated,
        analysis: None,
    };
    entry.identity = identity(&entry);
    entry
}

/// guid, else URL, else a hash of title and body: the same item gets the same
/// identity on every poll, whatever the parser invents.
fn identity(e: &ParsedEntry) -> String {
    if let Some(guid) = &e.guid {
        return format!("guid:{guid}");
    }
    if let Some(url) = &e.url {
        return format!("url:{url}");
    }
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(e.title.as_deref().unwrap_or("").as_bytes());
    h.update(b"\0");
    h.update(e.body().unwrap_or("").as_bytes());
    format!("hash:{:016x}", h.digest())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSS: &str = r#"<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
<link>https://site.example/</link>
<item><title>With guid</title><guid>abc-1</guid><link>https://site.example/a</link><description>&lt;p&gt;Body&lt;/p&gt;</description><pubDate>Thu, 27 Feb 2025 10:00:00 GMT</pubDate></item>
<item><title>Only link</title><link>https://site.example/b</link></item>
<item><description>No title, no link</description></item>
</channel></rss>"#;

    #[test]
    fn identities_are_stable_across_parses() {
        let a = parse(RSS.as_bytes(), None, "https://site.example/rss").expect("parses");
        let b = parse(RSS.as_bytes(), None, "https://site.example/rss").expect("parses");
        let ids: Vec<_> = a.entries.iter().map(|e| e.identity.clone()).collect();
        assert_eq!(
            ids,
            b.entries
                .iter()
                .map(|e| e.identity.clone())
                .collect::<Vec<_>>()
        );
        assert_eq!(ids[0], "guid:abc-1");
        assert_eq!(ids[1], "url:https://site.example/b");
        assert!(ids[2].starts_with("hash:"), "{}", ids[2]);
        assert_eq!(a.entries[0].summary.as_deref(), Some("<p>Body</p>"));
        assert!(a.entries[0].published.is_some());
    }

    #[test]
    fn html_page_is_reported_as_html() {
        let html = "<!DOCTYPE html><html><head><title>x</title></head><body>hi</body></html>";
        assert!(matches!(
            parse(html.as_bytes(), Some("text/html"), "https://x/"),
            Err(ParseError::Html)
        ));
    }

    #[test]
    fn garbage_is_not_a_feed() {
        assert!(matches!(
            parse(b"hello", None, "https://x/"),
            Err(ParseError::NoFeed)
        ));
        assert!(parse(
            b"<rss version=\"2.0\"><channel><item><title>x</",
            None,
            "https://x/"
        )
        .is_err());
    }

    #[test]
    fn latin1_declared_by_http_charset_is_decoded() {
        let mut doc = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss version=\"2.0\"><channel><title>Caf".to_vec();
        doc.push(0xE9);
        doc.extend_from_slice(b"</title></channel></rss>");
        let feed = parse(
            &doc,
            Some("application/rss+xml; charset=ISO-8859-1"),
            "https://x/",
        )
        .expect("parses");
        assert_eq!(feed.title.as_deref(), Some("Café"));
        let feed = parse(&doc, None, "https://x/").expect("parses from the declaration");
        assert_eq!(feed.title.as_deref(), Some("Café"));
    }

    #[test]
    fn json_feed_parses() {
        let doc = r#"{"version":"https://jsonfeed.org/version/1.1","title":"J","items":[{"id":"1","url":"https://j.example/1","content_html":"<p>x</p>"}]}"#;
        let feed = parse(doc.as_bytes(), None, "https://j.example/feed.json").expect("parses");
        assert_eq!(feed.entries[0].identity, "guid:1");
        assert_eq!(feed.entries[0].body(), Some("<p>x</p>"));
    }
}
