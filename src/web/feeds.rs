//! The outgoing feeds: one entry per story, in Atom (written with
//! quick-xml) and JSON Feed 1.1 (serde_json), each carrying the canonical
//! copy's sanitised HTML and the list of copies ("Carried by").

use maud::html;
use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;
use serde::Serialize;

use super::sanitize::{clean, safe_url, xml_chars};
use crate::store::{RiverStory, SourceRow};

/// What a feed is about, for its head.
pub struct FeedHead {
    /// Stable id of the feed (`urn:feedfold:feed:all`, `…:tag:pakistan`).
    pub id: String,
    /// Its title.
    pub title: String,
    /// The absolute URL it was requested at.
    pub self_url: String,
    /// The absolute URL of the web page listing the same stories.
    pub page_url: String,
    /// `base` of every absolute link feedfold makes (`http://host:port`).
    pub base: String,
}

/// The stable id of a story, the same in both formats and across polls
/// and refolds (a story keeps its id through `feedfold refold`).
pub fn story_urn(story_id: i64) -> String {
    format!("urn:feedfold:story:{story_id}")
}

/// When a story's lineage last changed: when its latest copy joined.
fn updated(s: &RiverStory) -> &str {
    &s.story.last_seen_at
}

/// The newest [`updated`] of `stories`: the feed's own `updated` and the
/// response's `Last-Modified`.
pub fn newest(stories: &[RiverStory]) -> Option<&str> {
    stories.iter().map(updated).max()
}

/// A validator for the document `head` and `stories` make in `format`,
/// computed from what goes into it rather than from the rendered bytes, so
/// that a repeat is answered without sanitising and rendering. The version
/// is part of it: another feedfold may render the same stories otherwise.
pub fn etag(head: &FeedHead, format: &str, stories: &[RiverStory]) -> String {
    struct Sink(xxhash_rust::xxh3::Xxh3);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut sink = Sink(xxhash_rust::xxh3::Xxh3::new());
    for part in [
        env!("CARGO_PKG_VERSION"),
        format,
        &head.self_url,
        &head.title,
    ] {
        sink.0.update(part.as_bytes());
        sink.0.update(b"\0");
    }
    for s in stories {
        // Every field of the story, its copies and its HTML; writing to a
        // hasher cannot fail, and serde_json writes any f64 (NaN as null).
        let _ = serde_json::to_writer(&mut sink, &(&s.story, &s.copies, &s.html));
    }
    format!("W/\"{:016x}\"", sink.0.digest())
}

/// Where an entry links: the canonical copy's own page when it is a web
/// link, else the story's page on feedfold.
fn link(s: &RiverStory, base: &str) -> String {
    s.story
        .url
        .as_deref()
        .and_then(safe_url)
        .map_or_else(|| story_page(s, base), str::to_string)
}

fn story_page(s: &RiverStory, base: &str) -> String {
    format!("{base}/story/{}", s.story.story_id)
}

fn title(s: &RiverStory) -> String {
    s.story
        .title
        .clone()
        .unwrap_or_else(|| format!("Story {}", s.story.story_id))
}

/// The canonical text as sanitised HTML: the feed's HTML when it sent
/// some, else the plain text one paragraph per line.
pub fn body_html(s: &RiverStory) -> String {
    let base = s.canonical().and_then(|c| c.entry_url.as_deref());
    match &s.html {
        Some(h) if !h.trim().is_empty() => clean(h, base),
        _ => {
            let text = s.canonical().and_then(|c| c.text.as_deref()).unwrap_or("");
            html! { @for p in text.lines().filter(|l| !l.trim().is_empty()) { p { (p) } } }
                .into_string()
        }
    }
}

/// "Carried by": every copy with its feed, link, time, relation and
/// credited agency. Built by feedfold (maud escapes every value), so it
/// needs no sanitising.
fn carried_by(s: &RiverStory, base: &str) -> String {
    html! {
        h3 { "Carried by " (s.story.source_count) (if s.story.source_count == 1 { " feed" } else { " feeds" }) }
        ul {
            @for c in &s.copies {
                li {
                    @let feed = c.feed_title.as_deref().unwrap_or(&c.feed_url);
                    @match c.entry_url.as_deref().and_then(safe_url) {
                        Some(u) => a href=(u) { (feed) },
                        None => (feed),
                    }
                    " — " (c.published_at.as_deref().unwrap_or(&c.fetched_at))
                    " — " (relation(c))
                    @if let Some(a) = &c.credited_agency { " — credits " (a) }
                }
            }
        }
        p { a href=(story_page(s, base)) { "Lineage on feedfold" } }
    }
    .into_string()
}

/// `canonical`, `exact`, or `near (87%)`.
pub fn relation(c: &SourceRow) -> String {
    if c.relation == "near" {
        format!("near ({:.0}%)", c.similarity * 100.0)
    } else {
        c.relation.clone()
    }
}

/// The feed in Atom (RFC 4287).
pub fn atom(head: &FeedHead, stories: &[RiverStory]) -> Result<String, std::io::Error> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 1);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))?;
    let text = |s: &str| BytesText::new(&xml_chars(s)).into_owned();
    let feed_updated = newest(stories)
        .unwrap_or("1970-01-01T00:00:00Z")
        .to_string();
    w.create_element("feed")
        .with_attribute(("xmlns", "http://www.w3.org/2005/Atom"))
        .write_inner_content(|w| {
            w.create_element("id").write_text_content(text(&head.id))?;
            w.create_element("title")
                .write_text_content(text(&head.title))?;
            w.create_element("updated")
                .write_text_content(text(&feed_updated))?;
            w.create_element("link")
                .with_attributes([("rel", "self"), ("href", head.self_url.as_str())])
                .write_empty()?;
            w.create_element("link")
                .with_attributes([("rel", "alternate"), ("type", "text/html")])
                .with_attribute(("href", head.page_url.as_str()))
                .write_empty()?;
            w.create_element("author").write_inner_content(|w| {
                w.create_element("name")
                    .write_text_content(text("feedfold"))?;
                Ok(())
            })?;
            w.create_element("generator")
                .with_attribute(("version", env!("CARGO_PKG_VERSION")))
                .write_text_content(text("feedfold"))?;
            for s in stories {
                let content = format!("{}{}", body_html(s), carried_by(s, &head.base));
                w.create_element("entry").write_inner_content(|w| {
                    w.create_element("id")
                        .write_text_content(text(&story_urn(s.story.story_id)))?;
                    w.create_element("title")
                        .with_attribute(("type", "text"))
                        .write_text_content(text(&title(s)))?;
                    w.create_element("link")
                        .with_attributes([
                            ("rel", "alternate"),
                            ("href", link(s, &head.base).as_str()),
                        ])
                        .write_empty()?;
                    w.create_element("link")
                        .with_attributes([("rel", "related"), ("type", "text/html")])
                        .with_attribute(("href", story_page(s, &head.base).as_str()))
                        .write_empty()?;
                    w.create_element("published")
                        .write_text_content(text(&s.story.published_at))?;
                    w.create_element("updated")
                        .write_text_content(text(updated(s)))?;
                    if let Some(feed) = s.canonical().and_then(|c| c.feed_title.as_deref()) {
                        w.create_element("author").write_inner_content(|w| {
                            w.create_element("name").write_text_content(text(feed))?;
                            Ok(())
                        })?;
                    }
                    if let Some(agency) = &s.story.origin_agency {
                        w.create_element("category")
                            .with_attribute(("term", xml_chars(agency).as_ref()))
                            .write_empty()?;
                    }
                    w.create_element("content")
                        .with_attribute(("type", "html"))
                        .write_text_content(text(&content))?;
                    Ok(())
                })?;
            }
            Ok(())
        })?;
    let mut out = w.into_inner();
    out.push(b'\n');
    // quick-xml writes the `str`s it was given, so this cannot fail.
    String::from_utf8(out).map_err(std::io::Error::other)
}

#[derive(Serialize)]
struct JsonFeed<'a> {
    version: &'static str,
    title: &'a str,
    home_page_url: &'a str,
    feed_url: &'a str,
    authors: [Author<'a>; 1],
    items: Vec<JsonItem<'a>>,
}

#[derive(Serialize)]
struct Author<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct JsonItem<'a> {
    id: String,
    url: String,
    title: String,
    content_html: String,
    date_published: &'a str,
    date_modified: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    authors: Option<[Author<'a>; 1]>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<&'a str>,
    /// JSON Feed's extension object (a key starting with `_`): the lineage
    /// as data, for readers and scripts that want more than the HTML.
    _feedfold: Lineage<'a>,
}

#[derive(Serialize)]
struct Lineage<'a> {
    story_id: i64,
    story_page: String,
    source_count: i64,
    origin_agency: Option<&'a str>,
    first_seen_at: &'a str,
    copies: Vec<JsonCopy<'a>>,
}

#[derive(Serialize)]
struct JsonCopy<'a> {
    feed_title: Option<&'a str>,
    feed_url: &'a str,
    url: Option<&'a str>,
    title: Option<&'a str>,
    published_at: Option<&'a str>,
    fetched_at: &'a str,
    relation: &'a str,
    similarity: f64,
    credited_agency: Option<&'a str>,
}

/// The feed in JSON Feed 1.1, the lineage also in each item's `_feedfold`.
pub fn json(head: &FeedHead, stories: &[RiverStory]) -> Result<String, serde_json::Error> {
    let items = stories
        .iter()
        .map(|s| JsonItem {
            id: story_urn(s.story.story_id),
            url: link(s, &head.base),
            title: title(s),
            content_html: format!("{}{}", body_html(s), carried_by(s, &head.base)),
            date_published: &s.story.published_at,
            date_modified: updated(s),
            authors: s
                .canonical()
                .and_then(|c| c.feed_title.as_deref())
                .map(|name| [Author { name }]),
            tags: s.story.origin_agency.as_deref().into_iter().collect(),
            _feedfold: Lineage {
                story_id: s.story.story_id,
                story_page: story_page(s, &head.base),
                source_count: s.story.source_count,
                origin_agency: s.story.origin_agency.as_deref(),
                first_seen_at: &s.story.first_seen_at,
                copies: s
                    .copies
                    .iter()
                    .map(|c| JsonCopy {
                        feed_title: c.feed_title.as_deref(),
                        feed_url: &c.feed_url,
                        url: c.entry_url.as_deref(),
                        title: c.entry_title.as_deref(),
                        published_at: c.published_at.as_deref(),
                        fetched_at: &c.fetched_at,
                        relation: &c.relation,
                        similarity: c.similarity,
                        credited_agency: c.credited_agency.as_deref(),
                    })
                    .collect(),
            },
        })
        .collect();
    let mut out = serde_json::to_string_pretty(&JsonFeed {
        version: "https://jsonfeed.org/version/1.1",
        title: &head.title,
        home_page_url: &head.page_url,
        feed_url: &head.self_url,
        authors: [Author { name: "feedfold" }],
        items,
    })?;
    out.push('\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoryRow;

    fn story(title: &str, relation: &str) -> RiverStory {
        RiverStory {
            story: StoryRow {
                story_id: 7,
                title: Some(title.to_string()),
                url: Some("javascript:alert(1)".to_string()),
                published_at: "2025-02-27T10:00:00Z".to_string(),
                first_seen_at: "2025-02-27T10:01:00Z".to_string(),
                last_seen_at: "2025-02-27T11:00:00Z".to_string(),
                source_count: 1,
                origin_agency: None,
            },
            copies: vec![SourceRow {
                entry_id: 1,
                feed_url: "https://a.example/rss".to_string(),
                feed_title: Some("A".to_string()),
                entry_url: None,
                entry_title: Some(title.to_string()),
                published_at: None,
                fetched_at: "2025-02-27T10:01:00Z".to_string(),
                relation: relation.to_string(),
                similarity: 1.0,
                credited_agency: None,
                text: Some("Body".to_string()),
            }],
            html: Some("<p>Body</p>".to_string()),
        }
    }

    fn head() -> FeedHead {
        FeedHead {
            id: "urn:feedfold:feed:all".into(),
            title: "feedfold: all stories".into(),
            self_url: "http://h/feeds/all.atom".into(),
            page_url: "http://h/".into(),
            base: "http://h".into(),
        }
    }

    #[test]
    fn the_etag_follows_every_input_of_the_document() {
        let a = etag(&head(), "atom", &[story("T", "canonical")]);
        assert_eq!(a, etag(&head(), "atom", &[story("T", "canonical")]));
        assert_ne!(a, etag(&head(), "atom", &[story("U", "canonical")]));
        assert_ne!(a, etag(&head(), "atom", &[story("T", "near")]));
        assert_ne!(a, etag(&head(), "json", &[story("T", "canonical")]));
    }

    #[test]
    fn a_feed_link_that_is_not_web_points_at_the_story_page() {
        let xml = atom(&head(), &[story("T", "canonical")]).expect("atom");
        assert!(!xml.contains("javascript:"), "{xml}");
        assert!(xml.contains("href=\"http://h/story/7\""), "{xml}");
    }
}
