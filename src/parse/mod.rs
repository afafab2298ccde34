//! Parse: feed bytes → [`ParsedFeed`], via feed-rs (RSS 0.9x/1.0/2.0, Atom,
//! JSON Feed).
//!
//! Three things feed-rs does not do for us, done here:
//! - decode to UTF-8 first (HTTP charset, BOM, XML declaration, else UTF-8,
//!   else windows-1252), because feed-rs panics on some UTF-16 documents and
//!   rejects undeclared Latin-1;
//! - when the strict parse fails, [`recover`] the document (junk before the
//!   first tag, bare `&`, HTML entities, truncation, bad `xml:base`, JSON Feed
//!   version spellings) and parse it again, recording a [`Warning`] for every
//!   repair;
//! - give every entry a *stable* identity (guid, else URL, else a hash of its
//!   text), because feed-rs invents a random id for an item without guid,
//!   link or title, which would store the item again on every poll.
//!
//! feed-rs always runs under `catch_unwind`: one document can never take the
//! daemon down.

pub mod hints;
pub mod recover;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// Charset sniffing lives in [`crate::xmltext`], shared with OPML; it is
/// re-exported here because feed decoding is where it began.
pub use crate::xmltext::charset;
pub use recover::Warning;

/// Prefix our id generator gives ids that feed-rs had to invent, so that we
/// can tell them apart from real guids.
const GENERATED_ID: &str = "\u{1}feedfold-generated";

/// Most items read from one document; the rest are dropped with a
/// [`Warning::TooManyEntries`]. Real feeds stay far below (large podcast
/// archives carry a few thousand); the fetch body limit bounds the document.
pub const MAX_ENTRIES: usize = 10_000;

/// Longest guid or URL used verbatim in an identity; longer ones are hashed,
/// so that the identity index never holds megabyte keys.
pub const MAX_IDENTITY_BYTES: usize = 1024;

/// A parsed feed document.
#[derive(Debug, Clone, Default)]
pub struct ParsedFeed {
    /// The feed's own title.
    pub title: Option<String>,
    /// The site the feed belongs to.
    pub site_url: Option<String>,
    /// Items in document order (at most [`MAX_ENTRIES`]).
    pub entries: Vec<ParsedEntry>,
    /// RSS `<ttl>`: how long the feed may be cached.
    pub ttl: Option<Duration>,
    /// `sy:updatePeriod` / `sy:updateFrequency`: how often it says it changes.
    pub update_period: Option<Duration>,
    /// What had to be repaired or capped to read the document; empty for a
    /// valid feed.
    pub warnings: Vec<Warning>,
}

impl ParsedFeed {
    /// Whether the document was invalid and had to be repaired to be read.
    pub fn recovered(&self) -> bool {
        self.warnings.iter().any(Warning::is_recovery)
    }
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
    /// Headline as plain text: markup stripped and character references
    /// decoded ([`plain_title`]), whatever the feed sent.
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
}

impl ParsedEntry {
    /// The richest body text the item has: full content, else summary.
    pub fn body(&self) -> Option<&str> {
        self.content.as_deref().or(self.summary.as_deref())
    }

    /// Hash of everything the store keeps about the item: tells an edit
    /// from a repeat (the store's `entry.content_hash`).
    pub fn content_hash(&self) -> i64 {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for part in [&self.url, &self.title, &self.summary, &self.content] {
            h.update(part.as_deref().unwrap_or("").as_bytes());
            h.update(b"\0");
        }
        h.update(self.authors.join("\u{1f}").as_bytes());
        h.update(b"\0");
        for t in [self.published, self.updated] {
            h.update(&t.map_or(0, |t| t.timestamp()).to_le_bytes());
        }
        h.digest() as i64
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

/// Parses feed bytes fetched from `base_url` (an absolute URL) with the
/// given `Content-Type`. A document the strict parser refuses is repaired
/// and parsed again; what was repaired is in [`ParsedFeed::warnings`].
pub fn parse(
    bytes: &[u8],
    content_type: Option<&str>,
    base_url: &str,
) -> Result<ParsedFeed, ParseError> {
    let decoded = charset::decode(bytes, content_type);
    let mut warnings = Vec::new();
    if decoded.source == charset::Source::Repaired {
        warnings.push(Warning::CharsetRepaired(decoded.encoding));
    }
    let mut text = decoded.text;
    // Cap before parsing, so memory is bounded by the cap, not by how many
    // empty items fit in the fetch limit.
    let capped = recover::cap_items(&text, MAX_ENTRIES)
        .or_else(|| recover::cap_json_items(&text, MAX_ENTRIES));
    if let Some((capped, total)) = capped {
        text = capped;
        warnings.push(Warning::TooManyEntries {
            total,
            kept: MAX_ENTRIES,
        });
    }
    let strict_result = strict(&text, base_url)?;
    // feed-rs accepts undefined entities (keeping `&nbsp;` verbatim) and
    // documents that end before their root element closes (returning a
    // half-received last item): neither is well-formed XML, so both go
    // through recovery too, keeping the strict result if recovery fails.
    let needs_recovery = match &strict_result {
        Ok(_) => recover::has_html_entities(&text) || recover::is_incomplete(&text),
        Err(_) if looks_like_html(&text) => return Err(ParseError::Html),
        Err(_) => true,
    };
    let recovered = needs_recovery
        .then(|| recover::repair(&text))
        .flatten()
        .and_then(|(doc, fixes)| Some((strict(&doc, base_url).ok()?.ok()?, fixes)));
    let feed = match (recovered, strict_result) {
        (Some((feed, fixes)), _) => {
            warnings.extend(fixes);
            feed
        }
        (None, Ok(feed)) => feed,
        (None, Err(e)) => return Err(classify(e)),
    };
    let total = feed.entries.len();
    if total == 0 && warnings.contains(&Warning::Truncated) {
        // A cut document with no complete item is a failed fetch, not an
        // empty feed.
        return Err(ParseError::Malformed(
            "document truncated before its first complete item".into(),
        ));
    }
    let mut parsed = convert(feed);
    if total > MAX_ENTRIES {
        warnings.push(Warning::TooManyEntries {
            total,
            kept: MAX_ENTRIES,
        });
    }
    parsed.warnings = warnings;
    parsed.update_period = hints::update_period(&text);
    Ok(parsed)
}

/// One strict feed-rs parse, contained: a panic in the parser becomes
/// [`ParseError::Panicked`].
fn strict(
    text: &str,
    base_url: &str,
) -> Result<Result<feed_rs::model::Feed, feed_rs::parser::ParseFeedError>, ParseError> {
    // quick-xml switches its decoder on every declaration that names
    // another encoding: see `charset::utf8_declarations`.
    let text = charset::utf8_declarations(text);
    let parser = feed_rs::parser::Builder::new()
        .base_uri(Some(base_url))
        .id_generator(|_, _, _| GENERATED_ID.to_string())
        .build();
    // feed-rs (through quick-xml) has panicked on hostile input; one feed must
    // never take the daemon down.
    let parse = |doc: &str| catch_unwind(AssertUnwindSafe(|| parser.parse(doc.as_bytes())));
    match parse(&text) {
        Ok(parsed) => Ok(parsed),
        // feed-rs 3.0 cuts a contact (`managingEditor`, `webMaster`, an
        // item's `author`) one byte before or after its e-mail address and
        // panics when a non-ASCII character stands there: the document is
        // read without its contacts rather than not at all.
        Err(_) => {
            let bare = CONTACTS.replace_all(&text, "");
            if bare.len() == text.len() {
                return Err(ParseError::Panicked);
            }
            parse(&bare).map_err(|_| ParseError::Panicked)
        }
    }
}

/// The RSS elements feed-rs reads as "name <e-mail>" contacts.
static CONTACTS: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(
        r"(?is)<managingEditor\b[^>]*>.*?</managingEditor\s*>|<webMaster\b[^>]*>.*?</webMaster\s*>|<author\b[^>]*>.*?</author\s*>",
    )
    .expect("a constant pattern")
});

fn classify(e: feed_rs::parser::ParseFeedError) -> ParseError {
    match e {
        feed_rs::parser::ParseFeedError::ParseError(
            feed_rs::parser::ParseErrorKind::NoFeedRoot,
        ) => ParseError::NoFeed,
        e => ParseError::Malformed(e.to_string()),
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
            .and_then(|t| plain_title(t.content.trim()))
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
        entries: feed
            .entries
            .into_iter()
            .take(MAX_ENTRIES)
            .map(convert_entry)
            .collect(),
        warnings: Vec::new(),
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
    let raw_title = e.title.map(|t| t.content).filter(|t| !t.trim().is_empty());
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
        title: raw_title,
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
    };
    // The identity hashes the title as the feed sent it, as it did before
    // titles were made plain: an item known by that hash keeps its row.
    entry.identity = identity(&entry);
    entry.title = entry.title.as_deref().and_then(plain_title);
    entry
}

/// A headline as plain text, the form every title is stored and shown in.
///
/// Feeds send headlines as HTML more often than the formats allow: Atom
/// `type="html"` titles, CDATA with `<span>`s, and references escaped twice
/// (`Principal&amp;#8217;s` arrives as `Principal&#8217;s`). A title with a
/// `<` or `&` goes through the HTML-to-text converter the dedup and search
/// steps use (tags dropped, references decoded) and its HTML whitespace,
/// paragraph breaks included, becomes single spaces; any other title is
/// kept as it is. `None` when nothing but markup was there.
pub fn plain_title(raw: &str) -> Option<String> {
    if !raw.contains(['<', '&']) {
        return (!raw.trim().is_empty()).then(|| raw.to_string());
    }
    let text = crate::dedup::html_to_text(raw);
    // HTML whitespace only: a no-break space the feed chose stays.
    let words: Vec<&str> = text
        .split(|c: char| c.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// guid, else URL, else a hash of title and body: the same item gets the same
/// identity on every poll, whatever the parser invents. A guid or URL longer
/// than [`MAX_IDENTITY_BYTES`] is hashed.
fn identity(e: &ParsedEntry) -> String {
    let bounded = |kind: &str, value: &str| {
        if value.len() <= MAX_IDENTITY_BYTES {
            format!("{kind}:{value}")
        } else {
            format!(
                "{kind}-xxh3:{:016x}",
                xxhash_rust::xxh3::xxh3_64(value.as_bytes())
            )
        }
    };
    if let Some(guid) = &e.guid {
        return bounded("guid", guid);
    }
    if let Some(url) = &e.url {
        return bounded("url", url);
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

    /// Issue 22 item 2: titles are plain text whatever markup or escaping
    /// the feed used; identities stay what they were.
    #[test]
    fn titles_are_plain_text() {
        let doc = r#"<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title type="html">Site &amp;amp; &lt;b&gt;News&lt;/b&gt;</title>
<entry><id>a</id><title type="html">Principal&amp;#8217;s &lt;em&gt;Office&lt;/em&gt;</title></entry>
<entry><id>b</id><title type="text">AT&amp;T &lt; Verizon</title></entry>
</feed>"#;
        let feed = parse(doc.as_bytes(), None, "https://x.example/").expect("atom");
        assert_eq!(feed.title.as_deref(), Some("Site & News"));
        let titles: Vec<_> = feed.entries.iter().map(|e| e.title.as_deref()).collect();
        assert_eq!(
            titles,
            [Some("Principal\u{2019}s Office"), Some("AT&T < Verizon")]
        );
        let rss = "<rss version=\"2.0\"><channel><title>T</title><item><title><![CDATA[Price <span class='webrupee'>\u{20b9}</span>100\n  <br/> cut]]></title><description>no guid, no link</description></item><item><title><![CDATA[<img src=x>]]></title><guid>c</guid></item></channel></rss>";
        let feed = parse(rss.as_bytes(), None, "https://x.example/").expect("rss");
        assert_eq!(
            feed.entries[0].title.as_deref(),
            Some("Price \u{20b9}100 cut")
        );
        assert_eq!(feed.entries[1].title, None);
        // The hash identity of an item without guid or link is the raw title's.
        let mut raw = feed.entries[0].clone();
        raw.title = Some("Price <span class='webrupee'>\u{20b9}</span>100\n  <br/> cut".into());
        assert_eq!(feed.entries[0].identity, identity(&raw));
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

    #[test]
    fn recovers_the_usual_real_world_breakage() {
        let cases: [(&[u8], Warning); 6] = [
            (
                b"<rss><channel><title>T</title><item><guid>1</guid></item></channel></rss>",
                Warning::RssVersion,
            ),
            (
                b"<rss version=\"2.0\"><channel><title>Tom & Jerry</title><item><guid>1</guid></item></channel></rss>",
                Warning::BareAmpersands(1),
            ),
            (
                b"<rss version=\"2.0\"><channel><title>T&nbsp;T</title><item><guid>1</guid></item></channel></rss>",
                Warning::HtmlEntities(1),
            ),
            (
                b"<rss version=\"2.0\"><channel><title>T</title><item><guid>1</guid></item><item><guid>2</gu",
                Warning::Truncated,
            ),
            (
                // feed-rs alone would return item 2 with half its title.
                b"<rss version=\"2.0\"><channel><title>T</title><item><guid>1</guid></item><item><guid>2</guid><title>Half a ti",
                Warning::Truncated,
            ),
            (
                br#"{"version":"http://jsonfeed.org/version/1","title":"T","items":[{"id":"1"}]}"#,
                Warning::JsonFeedVersion("http://jsonfeed.org/version/1".into()),
            ),
        ];
        for (doc, expected) in cases {
            let feed = parse(doc, None, "https://x.example/feed").unwrap_or_else(|e| {
                panic!("{e}: {}", String::from_utf8_lossy(doc));
            });
            assert_eq!(feed.warnings, [expected]);
            assert!(feed.recovered());
            assert_eq!(feed.entries.len(), 1, "{}", String::from_utf8_lossy(doc));
            assert_eq!(feed.entries[0].identity, "guid:1");
        }
        let feed = parse(
            b"<rss version=\"2.0\"><channel><title>Tom &amp; T&nbsp;T</title></channel></rss>",
            None,
            "https://x/",
        )
        .expect("parses");
        assert_eq!(feed.title.as_deref(), Some("Tom & T\u{a0}T"));
    }

    #[test]
    fn undeclared_latin1_is_read_as_windows_1252() {
        let mut doc = b"<rss version=\"2.0\"><channel><title>Caf".to_vec();
        doc.extend_from_slice(&[0xE9, 0x20, 0x93, b'q', 0x94]);
        doc.extend_from_slice(b"</title></channel></rss>");
        let feed = parse(&doc, Some("application/rss+xml"), "https://x/").expect("parses");
        assert_eq!(feed.title.as_deref(), Some("Café \u{201c}q\u{201d}"));
        assert_eq!(feed.warnings, [Warning::CharsetRepaired("windows-1252")]);
        // Valid UTF-8 needs no fallback.
        let feed = parse(
            "<rss version=\"2.0\"><channel><title>Café</title></channel></rss>".as_bytes(),
            None,
            "https://x/",
        )
        .expect("parses");
        assert!(feed.warnings.is_empty());
    }

    #[test]
    fn valid_feeds_carry_no_warnings_and_broken_ones_keep_their_error() {
        let feed = parse(RSS.as_bytes(), None, "https://site.example/rss").expect("parses");
        assert!(feed.warnings.is_empty() && !feed.recovered());
        // feed-rs itself skips whitespace before the declaration.
        let feed = parse(
            b"\n\n<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>T</title></channel></rss>",
            None,
            "https://x/",
        )
        .expect("parses");
        assert!(feed.warnings.is_empty());
        // Nothing to recover in a document with no feed root.
        assert!(matches!(
            parse(b"<page><p>x</p></page>", None, "https://x/"),
            Err(ParseError::NoFeed)
        ));
    }

    #[test]
    fn huge_documents_are_capped_and_long_guids_hashed() {
        let mut doc = String::from("<rss version=\"2.0\"><channel><title>T</title>");
        for i in 0..MAX_ENTRIES + 5 {
            doc.push_str(&format!("<item><guid>{i}</guid></item>"));
        }
        let long = "g".repeat(MAX_IDENTITY_BYTES + 1);
        doc.push_str("</channel></rss>");
        let feed = parse(doc.as_bytes(), None, "https://x/").expect("parses");
        assert_eq!(feed.entries.len(), MAX_ENTRIES);
        assert_eq!(
            feed.warnings,
            [Warning::TooManyEntries {
                total: MAX_ENTRIES + 5,
                kept: MAX_ENTRIES
            }]
        );
        assert!(!feed.recovered());
        let doc = format!(
            "<rss version=\"2.0\"><channel><item><guid>{long}</guid></item></channel></rss>"
        );
        let feed = parse(doc.as_bytes(), None, "https://x/").expect("parses");
        assert!(feed.entries[0].identity.starts_with("guid-xxh3:"));
        assert_eq!(feed.entries[0].guid.as_deref(), Some(long.as_str()));
    }

    #[test]
    fn utf16_without_bom_is_decoded_not_panicked_on() {
        let doc = "<?xml version=\"1.0\" encoding=\"utf-16\"?><rss version=\"2.0\"><channel><title>Ünï</title></channel></rss>";
        let be: Vec<u8> = doc.encode_utf16().flat_map(u16::to_be_bytes).collect();
        let le: Vec<u8> = doc.encode_utf16().flat_map(u16::to_le_bytes).collect();
        for bytes in [be, le] {
            let feed = parse(&bytes, None, "https://x/").expect("parses");
            assert_eq!(feed.title.as_deref(), Some("Ünï"));
        }
    }

    #[test]
    fn declarations_never_make_feed_rs_decode_twice_or_panic() {
        // HTTP says UTF-8, the declaration says Latin-1: the HTTP charset
        // wins, and feed-rs must not re-decode the UTF-8 text as Latin-1.
        let doc = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss version=\"2.0\"><channel><title>Café</title></channel></rss>";
        let feed = parse(
            doc.as_bytes(),
            Some("text/xml; charset=utf-8"),
            "https://x/",
        )
        .expect("parses");
        assert_eq!(feed.title.as_deref(), Some("Café"));
        // A declaration after other text made quick-xml panic (fuzz crash).
        let doc = "!--\nDescription: x<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n--><feed xmlns=\"http://www.w3.org/2005/Atom\"><title>t</title></feed>";
        assert!(!matches!(
            parse(doc.as_bytes(), None, "https://x/"),
            Err(ParseError::Panicked)
        ));
        assert_eq!(
            charset::utf8_declarations("<?xml version='1.0' encoding='koi8-r' ?><a/>"),
            "<?xml version='1.0' encoding=\"UTF-8\" ?><a/>"
        );
        assert!(matches!(
            charset::utf8_declarations("<?xml version=\"1.0\" encoding=\"utf-8\"?><a/>"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn a_contact_feed_rs_cannot_cut_loses_the_contact_not_the_feed() {
        // A non-ASCII character right before the e-mail address: feed-rs
        // 3.0 slices inside it and panics.
        let doc = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>T</title>\
                   <webMaster>webmas\u{2026}er@example.com</webMaster>\
                   <item><title>One</title><link>https://example.com/1</link></item>\
                   </channel></rss>";
        let parsed = parse(doc.as_bytes(), None, "https://example.com/rss").expect("parses");
        assert_eq!(parsed.entries.len(), 1);
        assert_eq!(parsed.entries[0].title.as_deref(), Some("One"));
    }
}
