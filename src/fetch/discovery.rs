//! Feed autodiscovery: when a configured URL answers with an HTML page, the
//! page's `<link rel="alternate" type="application/rss+xml" href="…">`
//! elements name its feeds. The page is parsed with `scraper` (html5ever, the
//! HTML5 parsing algorithm browsers use), so comments, scripts and broken
//! markup are handled the way a browser would handle them.

use std::sync::LazyLock;

use scraper::{Html, Selector};
use url::Url;

/// MIME types of feed documents, as pages announce them.
const FEED_TYPES: &[&str] = &[
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/json",
    "application/rdf+xml",
];

static LINK: LazyLock<Option<Selector>> = LazyLock::new(|| Selector::parse("link[href]").ok());
static BASE: LazyLock<Option<Selector>> = LazyLock::new(|| Selector::parse("base[href]").ok());

/// One feed a page announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alternate {
    /// Absolute URL of the feed.
    pub url: String,
    /// The `type` attribute, lower-cased.
    pub kind: String,
    /// The `title` attribute, if any.
    pub title: Option<String>,
}

/// The feeds an HTML page announces, in document order, without duplicates.
/// Relative `href`s resolve against the page's `<base href>`, else its URL;
/// only `http`/`https` URLs are kept.
pub fn alternates(html: &str, page_url: &str) -> Vec<Alternate> {
    let (Some(link), Some(base_sel)) = (LINK.as_ref(), BASE.as_ref()) else {
        return Vec::new();
    };
    let Ok(page) = Url::parse(page_url) else {
        return Vec::new();
    };
    let doc = Html::parse_document(html);
    let base = doc
        .select(base_sel)
        .next()
        .and_then(|b| b.attr("href"))
        .and_then(|href| page.join(href.trim()).ok())
        .unwrap_or(page);
    let mut found: Vec<Alternate> = Vec::new();
    for el in doc.select(link) {
        let is_alternate = el.attr("rel").is_some_and(|rel| {
            rel.split_ascii_whitespace()
                .any(|t| t.eq_ignore_ascii_case("alternate"))
        });
        let kind = el
            .attr("type")
            .map(|t| {
                t.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        if !is_alternate || !FEED_TYPES.contains(&kind.as_str()) {
            continue;
        }
        let Some(url) = el
            .attr("href")
            .and_then(|h| base.join(h.trim()).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https"))
        else {
            continue;
        };
        let url = url.to_string();
        if found.iter().any(|a| a.url == url) {
            continue;
        }
        found.push(Alternate {
            url,
            kind,
            title: el
                .attr("title")
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty()),
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_feeds_in_order_and_resolves_relative_links() {
        let page = r#"<!DOCTYPE html><html><head>
            <link rel="stylesheet" href="/style.css">
            <link rel="alternate stylesheet" type="text/css" href="/alt.css">
            <!-- <link rel="alternate" type="application/rss+xml" href="/commented-out.xml"> -->
            <link rel="Alternate" type="application/rss+xml; charset=utf-8" title="Main" href="/feed.xml">
            <link rel="alternate" type="application/atom+xml" href="https://other.example/atom">
            <link rel="alternate" type="application/rss+xml" href="/feed.xml">
            <link rel="alternate" hreflang="fr" href="/fr/">
            <link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
            </head><body><script>document.write('<link rel="alternate" type="application/rss+xml" href="/script.xml">')</script></body></html>"#;
        let found = alternates(page, "https://site.example/blog/index.html");
        let urls: Vec<_> = found.iter().map(|a| a.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://site.example/feed.xml",
                "https://other.example/atom"
            ]
        );
        assert_eq!(found[0].title.as_deref(), Some("Main"));
        assert_eq!(found[0].kind, "application/rss+xml");
    }

    #[test]
    fn honours_base_href_and_tolerates_broken_markup() {
        let page = r#"<html><head><base href="https://cdn.example/feeds/"><p>unclosed
            <link rel=alternate type=application/feed+json href=site.json>"#;
        let found = alternates(page, "https://site.example/");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].url, "https://cdn.example/feeds/site.json");
    }

    #[test]
    fn a_page_without_feeds_finds_none() {
        assert!(alternates("<html><body>hello</body></html>", "https://x.example/").is_empty());
        assert!(alternates("", "https://x.example/").is_empty());
    }
}
