//! Feed autodiscovery: when a configured URL answers with an HTML page, the
//! page's `<link rel="alternate" type="application/rss+xml" href="…">`
//! elements name its feeds. The page is read with html5ever's tokenizer (the
//! HTML5 algorithm browsers use), so comments, character references, case
//! and broken markup are handled the way a browser would handle them. No
//! tree is built: the one thing the tree builder would add, switching the
//! tokenizer to raw text inside `<script>`, `<style>`, `<title>`… (so that a
//! `<link>` written there is text, not a link), is done by `Scan`.

use std::cell::RefCell;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, Tag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};
use url::Url;

/// MIME types of feed documents, as pages announce them.
const FEED_TYPES: &[&str] = &[
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/json",
    "application/rdf+xml",
];

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
/// Relative `href`s resolve against the page's first `<base href>` (wherever
/// it stands), else its URL; only `http`/`https` URLs are kept.
pub fn alternates(html: &str, page_url: &str) -> Vec<Alternate> {
    let Ok(page) = Url::parse(page_url) else {
        return Vec::new();
    };
    let found = scan(html);
    let base = found
        .base
        .and_then(|href| page.join(href.trim()).ok())
        .unwrap_or(page);
    let mut alternates: Vec<Alternate> = Vec::new();
    for link in found.links {
        let is_alternate = link.rel.is_some_and(|rel| {
            rel.split_ascii_whitespace()
                .any(|t| t.eq_ignore_ascii_case("alternate"))
        });
        let kind = link
            .kind
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
        let Some(url) = base
            .join(link.href.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
        else {
            continue;
        };
        let url = url.to_string();
        if alternates.iter().any(|a| a.url == url) {
            continue;
        }
        alternates.push(Alternate {
            url,
            kind,
            title: link
                .title
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty()),
        });
    }
    alternates
}

/// The attributes of one `<link href>`, decoded, as the page wrote them.
struct Link {
    rel: Option<String>,
    kind: Option<String>,
    href: String,
    title: Option<String>,
}

/// What [`scan`] collects: the first `<base href>` and every `<link href>`.
#[derive(Default)]
struct Found {
    base: Option<String>,
    links: Vec<Link>,
}

fn scan(html: &str) -> Found {
    let input = BufferQueue::default();
    input.push_back(StrTendril::from(html));
    let tokenizer = Tokenizer::new(Scan::default(), TokenizerOpts::default());
    // `Scan` never asks the tokenizer to stop for a script, so one call
    // reads the whole input.
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    tokenizer.sink.0.into_inner()
}

/// The token sink: records `<base>` and `<link>` start tags and, like the
/// tree builder, switches the tokenizer to raw text where HTML says so.
#[derive(Default)]
struct Scan(RefCell<Found>);

impl TokenSink for Scan {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let Token::TagToken(tag) = token else {
            return TokenSinkResult::Continue;
        };
        if tag.kind != TagKind::StartTag {
            return TokenSinkResult::Continue;
        }
        match &*tag.name {
            "link" => {
                if let Some(href) = attr(&tag, "href") {
                    self.0.borrow_mut().links.push(Link {
                        rel: attr(&tag, "rel"),
                        kind: attr(&tag, "type"),
                        href,
                        title: attr(&tag, "title"),
                    });
                }
            }
            "base" => {
                let mut found = self.0.borrow_mut();
                if found.base.is_none() {
                    found.base = attr(&tag, "href");
                }
            }
            // As in a browser with scripting on (the tree builder's
            // default, which the page was read with before), `<noscript>`
            // holds raw text.
            "script" => return TokenSinkResult::RawData(RawKind::ScriptData),
            "style" | "xmp" | "iframe" | "noembed" | "noframes" | "noscript" => {
                return TokenSinkResult::RawData(RawKind::Rawtext)
            }
            "title" | "textarea" => return TokenSinkResult::RawData(RawKind::Rcdata),
            "plaintext" => return TokenSinkResult::Plaintext,
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

/// The value of attribute `name` (the tokenizer has lower-cased names and
/// kept only the first of duplicates).
fn attr(tag: &Tag, name: &str) -> Option<String> {
    tag.attrs
        .iter()
        .find(|a| &*a.name.local == name)
        .map(|a| a.value.to_string())
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
    fn uppercase_markup_body_links_and_a_late_base_are_read() {
        let page = r#"<HTML><HEAD><TITLE>T</TITLE>
            <LINK REL="ALTERNATE" TYPE="APPLICATION/RSS+XML" HREF="rss?a=1&amp;b=2" TITLE=" Up ">
            </HEAD><BODY><p>text
            <link rel="alternate" type="application/atom+xml" href="../atom.xml">
            <BASE HREF="https://cdn.example/x/y/"><base href="https://ignored.example/">
            </BODY></HTML>"#;
        let found = alternates(page, "https://site.example/a/b");
        let urls: Vec<_> = found.iter().map(|a| a.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://cdn.example/x/y/rss?a=1&b=2",
                "https://cdn.example/x/atom.xml"
            ]
        );
        assert_eq!(found[0].title.as_deref(), Some("Up"));
        assert_eq!(found[0].kind, "application/rss+xml");
    }

    #[test]
    fn links_inside_raw_text_elements_are_not_links() {
        let link = r#"<link rel="alternate" type="application/rss+xml" href="/KIND.xml">"#;
        let page: String = [
            "script", "style", "noscript", "textarea", "title", "xmp", "iframe",
        ]
        .iter()
        .map(|kind| format!("<{kind}>{}</{kind}>", link.replace("KIND", kind)))
        .chain([link.replace("KIND", "real"), format!("<plaintext>{link}")])
        .collect();
        let found = alternates(&format!("<html><body>{page}"), "https://x.example/");
        let urls: Vec<_> = found.iter().map(|a| a.url.as_str()).collect();
        assert_eq!(urls, ["https://x.example/real.xml"]);
    }

    #[test]
    fn a_page_without_feeds_finds_none() {
        assert!(alternates("<html><body>hello</body></html>", "https://x.example/").is_empty());
        assert!(alternates("", "https://x.example/").is_empty());
    }
}
