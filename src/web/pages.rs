//! The HTML pages, rendered on the server with maud (which escapes every
//! value it is given). No script: every page works as plain HTML.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::diff::{diff, Piece};
use super::feeds::{body_html, relation};
use super::sanitize::safe_url;
use crate::store::{FeedRow, RiverStory, SearchHit, SourceRow};

/// The one stylesheet, served at `/style.css`.
pub const STYLE: &str = include_str!("style.css");

/// Characters of the canonical text shown under a headline in the river.
const LEAD_CHARS: usize = 280;

fn layout(title: &str, head_links: Markup, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · feedfold" }
                link rel="stylesheet" href="/style.css";
                (head_links)
            }
            body {
                header {
                    nav {
                        a.brand href="/" { "feedfold" }
                        a href="/" { "Stories" }
                        a href="/search" { "Search" }
                        a href="/feeds" { "Feeds" }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// The river's filters as the user set them, echoed into the form and the
/// paging links.
#[derive(Debug, Clone, Default)]
pub struct RiverForm {
    /// Tag filter.
    pub tag: Option<String>,
    /// `since` as typed (`24h`, `2025-02-27`).
    pub since: Option<String>,
    /// Minimum sources (1 = all).
    pub min_sources: i64,
    /// Page number, from 0.
    pub page: usize,
}

impl RiverForm {
    /// The query string of this form on `page`.
    fn query(&self, page: usize) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if let Some(t) = &self.tag {
            q.append_pair("tag", t);
        }
        if let Some(s) = &self.since {
            q.append_pair("since", s);
        }
        if self.min_sources > 1 {
            q.append_pair("min_sources", &self.min_sources.to_string());
        }
        if page > 0 {
            q.append_pair("page", &page.to_string());
        }
        q.finish()
    }

    /// The outgoing feed with the same tag and minimum sources.
    fn feed_path(&self, ext: &str) -> String {
        let path = match &self.tag {
            Some(t) => format!("/feeds/tag/{}.{ext}", super::url_segment(t)),
            None => format!("/feeds/all.{ext}"),
        };
        if self.min_sources > 1 {
            format!("{path}?min_sources={}", self.min_sources)
        } else {
            path
        }
    }
}

fn when(c: &SourceRow) -> &str {
    c.published_at.as_deref().unwrap_or(&c.fetched_at)
}

/// Readable form of a stored UTC time (`2025-02-27 10:00 UTC`).
fn time(t: &str) -> String {
    match crate::store::parse_time(t) {
        Some(t) => t.format("%Y-%m-%d %H:%M UTC").to_string(),
        None => t.to_string(),
    }
}

fn headline(s: &RiverStory) -> String {
    s.story
        .title
        .clone()
        .unwrap_or_else(|| format!("Story {}", s.story.story_id))
}

/// The first paragraph of the canonical text, cut at [`LEAD_CHARS`].
fn lead(s: &RiverStory) -> String {
    let text = s.canonical().and_then(|c| c.text.as_deref()).unwrap_or("");
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    match first.char_indices().nth(LEAD_CHARS) {
        Some((cut, _)) => format!("{}…", &first[..cut]),
        None => first.to_string(),
    }
}

fn badge(count: i64) -> Markup {
    html! {
        span.badge title="feeds that carried it" {
            (count) (if count == 1 { " source" } else { " sources" })
        }
    }
}

/// `/`: the story river, newest first.
pub fn river(stories: &[RiverStory], form: &RiverForm, tags: &[String], more: bool) -> Markup {
    let feeds = html! {
        link rel="alternate" type="application/atom+xml" title="feedfold (Atom)" href=(form.feed_path("atom"));
        link rel="alternate" type="application/feed+json" title="feedfold (JSON Feed)" href=(form.feed_path("json"));
    };
    layout(
        "Stories",
        feeds,
        html! {
            form.filters method="get" action="/" {
                label { "Tag "
                    select name="tag" {
                        option value="" { "all" }
                        @for t in tags {
                            option value=(t) selected[form.tag.as_deref().is_some_and(|f| f.eq_ignore_ascii_case(t))] { (t) }
                        }
                    }
                }
                label { "Since "
                    input type="text" name="since" placeholder="24h, 7d, 2025-02-27" size="12" value=[form.since.as_deref()];
                }
                label { "Sources ≥ "
                    input type="number" name="min_sources" min="1" max="1000" value=(form.min_sources.max(1));
                }
                button type="submit" { "Filter" }
            }
            p.subscribe {
                "Subscribe: " a href=(form.feed_path("atom")) { "Atom" } " · " a href=(form.feed_path("json")) { "JSON Feed" }
            }
            @if stories.is_empty() {
                p.empty { "No stories match." }
            }
            ol.river {
                @for s in stories {
                    li.story {
                        h2 { a href={ "/story/" (s.story.story_id) } { (headline(s)) } }
                        p.meta {
                            time datetime=(s.story.published_at) { (time(&s.story.published_at)) }
                            " " (badge(s.story.source_count))
                            @if let Some(a) = &s.story.origin_agency { " " span.agency { (a) } }
                        }
                        p.lead { (lead(s)) }
                        ul.chips {
                            @for c in outlets(s) { li { (c) } }
                        }
                    }
                }
            }
            nav.paging {
                @if form.page > 0 {
                    a rel="prev" href={ "/?" (form.query(form.page - 1)) } { "← Newer" }
                }
                @if more {
                    a rel="next" href={ "/?" (form.query(form.page + 1)) } { "Older →" }
                }
            }
        },
    )
}

/// The outlets of a story, each once, in the order they carried it.
fn outlets(s: &RiverStory) -> Vec<&str> {
    let mut seen: Vec<&str> = Vec::new();
    for c in &s.copies {
        let name = c.feed_title.as_deref().unwrap_or(&c.feed_url);
        if !seen.contains(&name) {
            seen.push(name);
        }
    }
    seen
}

/// `/story/{id}`: the canonical text, then every copy and what it changed.
pub fn story(s: &RiverStory) -> Markup {
    let canonical_text = s.canonical().and_then(|c| c.text.as_deref()).unwrap_or("");
    layout(
        &headline(s),
        html! {},
        html! {
            article.canonical {
                h1 { (headline(s)) }
                p.meta {
                    time datetime=(s.story.published_at) { (time(&s.story.published_at)) }
                    " " (badge(s.story.source_count))
                    @if let Some(a) = &s.story.origin_agency { " " span.agency { "from " (a) } }
                    @if let Some(u) = s.story.url.as_deref().and_then(safe_url) {
                        " · " a href=(u) rel="noopener noreferrer" { "original" }
                    }
                }
                div.text { (PreEscaped(body_html(s))) }
            }
            section.lineage {
                h2 { "Lineage" }
                p.hint { "Every copy feedfold folded into this story, oldest first, and what each changed against the canonical text." }
                ol {
                    @for c in &s.copies {
                        li.copy.(c.relation) {
                            h3 {
                                @let feed = c.feed_title.as_deref().unwrap_or(&c.feed_url);
                                @match c.entry_url.as_deref().and_then(safe_url) {
                                    Some(u) => a href=(u) rel="noopener noreferrer" { (feed) },
                                    None => (feed),
                                }
                            }
                            dl {
                                dt { "Published" } dd { time datetime=(when(c)) { (time(when(c))) } }
                                dt { "Relation" } dd { (relation(c)) }
                                dt { "Similarity" } dd { (format!("{:.2}", c.similarity)) }
                                dt { "Credits" } dd { (c.credited_agency.as_deref().unwrap_or("—")) }
                                @if let Some(t) = &c.entry_title {
                                    @if Some(t) != s.story.title.as_ref() { dt { "Headline" } dd { (t) } }
                                }
                            }
                            @if c.relation != "canonical" {
                                (changes(canonical_text, c.text.as_deref().unwrap_or("")))
                            }
                        }
                    }
                }
            }
        },
    )
}

/// What one copy changed, as a word diff with a little context.
fn changes(canonical: &str, copy: &str) -> Markup {
    let d = diff(canonical, copy);
    html! {
        div.diff {
            @if d.is_same() {
                p.same { "Word for word the canonical text." }
            } @else {
                p.summary {
                    (d.words_removed) " words dropped, " (d.words_added) " words added; "
                    (d.paragraphs.0) " → " (d.paragraphs.1) " paragraphs"
                }
                @for hunk in &d.hunks {
                    p.hunk {
                        @for piece in hunk {
                            @match piece {
                                Piece::Same(t) => span { (t) },
                                Piece::Removed(t) => del { (t) },
                                Piece::Added(t) => ins { (t) },
                            }
                        }
                    }
                }
                @if d.more_hunks > 0 { p.hint { "… and " (d.more_hunks) " more changes." } }
            }
        }
    }
}

/// `/search?q=`: the CLI's search, same ranking.
pub fn search(q: &str, hits: Result<&[SearchHit], &str>) -> Markup {
    layout(
        if q.is_empty() { "Search" } else { q },
        html! {},
        html! {
            form.filters method="get" action="/search" {
                input type="search" name="q" value=(q) placeholder="words, \"a phrase\", prefix*" autofocus;
                button type="submit" { "Search" }
            }
            @match hits {
                Err(message) => p.error { (message) },
                Ok([]) => @if !q.is_empty() { p.empty { "Nothing matches." } },
                Ok(hits) => ol.river {
                    @for h in hits {
                        li.story {
                            h2 { a href={ "/story/" (h.story_id) } { (h.title.as_deref().unwrap_or("(no title)")) } }
                            p.meta { time datetime=(h.published_at) { (time(&h.published_at)) } " " (badge(h.source_count)) }
                            p.lead { (snippet(&h.snippet)) }
                        }
                    }
                },
            }
        },
    )
}

/// A search snippet, its `[matched]` words marked.
fn snippet(s: &str) -> Markup {
    let mut parts = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find(']') else {
            break;
        };
        parts.push((false, &rest[..open]));
        parts.push((true, &rest[open + 1..open + close]));
        rest = &rest[open + close + 1..];
    }
    parts.push((false, rest));
    html! { @for (hit, t) in parts { @if hit { mark { (t) } } @else { (t) } } }
}

/// `/feeds`: feed health, failing first.
pub fn feeds(rows: &[FeedRow]) -> Markup {
    layout(
        "Feeds",
        html! {},
        html! {
            h1 { "Feeds" }
            table.feeds {
                thead { tr { th { "Status" } th { "Feed" } th { "Last fetch" } th { "Next due" } th { "Entries" } th { "Last error" } } }
                tbody {
                    @for f in rows {
                        tr.(f.status) {
                            td { span.status { (f.status) } @if f.error_count > 0 { " ×" (f.error_count) } }
                            td.feed {
                                (f.title.as_deref().unwrap_or(&f.url))
                                br; small { (f.url) }
                            }
                            td { (f.last_fetch_at.as_deref().map(time).unwrap_or_else(|| "never".into())) }
                            td { (f.next_due_at.as_deref().map(time).unwrap_or_else(|| "now".into())) }
                            td.num { (f.entries) }
                            td.error { (f.last_error.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        },
    )
}

/// Order of a status on `/feeds`: what needs attention first.
pub fn status_rank(status: &str) -> u8 {
    match status {
        "failing" => 0,
        "disabled" => 1,
        "new" => 2,
        "ok" => 3,
        _ => 4,
    }
}

/// A short page for 400, 404 and 500.
pub fn error(title: &str, message: &str) -> Markup {
    layout(title, html! {}, html! { h1 { (title) } p { (message) } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_mark_their_matches_and_escape_the_rest() {
        let m = snippet("a [b] <c> [d").into_string();
        assert_eq!(m, "a <mark>b</mark> &lt;c&gt; [d");
    }
}
