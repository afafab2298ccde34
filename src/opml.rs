//! OPML subscription lists: reading the files people export from their feed
//! readers — valid or not — into feed outlines that know their line, and
//! writing OPML 2.0.
//!
//! Reading is layered because real exports are often not well-formed (a bare
//! `&` in a URL is the classic) and the person importing needs every lost feed
//! named by line:
//! 1. decode to UTF-8 with the sniffer feeds use ([`crate::xmltext::charset`]:
//!    BOM, XML declaration, else UTF-8, else the legacy encoding the bytes
//!    look like, typically Windows-1252);
//! 2. repair entity references ([`crate::xmltext::entities`]): a bare `&`
//!    becomes `&amp;`, an HTML entity such as `&nbsp;` becomes its character
//!    (line numbers are kept);
//! 3. walk the repaired text with quick-xml, leniently, recording every
//!    outline with its line and folder path, and the byte spans it understood;
//! 4. parse the repaired text with the `opml` crate; when it accepts the
//!    document and finds the same outlines, its reading is used (with the
//!    walk's line numbers), otherwise the walk's reading is used and a note
//!    says the file is not valid OPML;
//! 5. any `xmlUrl=` left in text neither reader understood (a damaged tag,
//!    text after a fatal error) is salvaged from the raw line when its value
//!    can be read, or reported as a problem with its line.
//!
//! So an outline with an `xmlUrl` is always either returned as a feed or
//! reported — never dropped silently. This module knows nothing about the
//! config: URL validation and duplicates are the caller's job.

use std::borrow::Cow;
use std::ops::Range;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::xmltext::charset;
use crate::xmltext::entities::{self, FixKind};

/// One feed outline of an OPML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpmlFeed {
    /// 1-based line of the outline's `xmlUrl` (of the tag, when it spans lines).
    pub line: usize,
    /// The `xmlUrl` value, entities decoded and trimmed; not validated.
    pub url: String,
    /// `title`, else `text`, when not empty.
    pub title: Option<String>,
    /// Folder path (outermost first), then `category` entries; deduplicated
    /// case-insensitively, see [`split_tags`].
    pub tags: Vec<String>,
}

/// Something said about one line of an OPML file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// 1-based line (0 when the note is about the whole file).
    pub line: usize,
    /// What happened there.
    pub message: String,
}

/// What [`read`] found in an OPML file.
#[derive(Debug, Clone, Default)]
pub struct OpmlDocument {
    /// Feed outlines, in document order.
    pub feeds: Vec<OpmlFeed>,
    /// Outlines with a feed URL that could not be read: lost, one per line.
    pub problems: Vec<Note>,
    /// Feeds read from damaged markup by salvaging the raw text (they are in
    /// `feeds`, but their title or folder may be wrong).
    pub recovered: Vec<Note>,
    /// Repairs made so the file could be read (nothing was lost by them).
    pub repairs: Vec<Note>,
    /// Whether the `opml` crate accepted the (repaired) file as valid OPML.
    pub valid: bool,
}

/// Why an OPML document could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OpmlError {
    /// The `opml` crate failed to serialise the document.
    #[error("cannot write OPML: {0}")]
    Write(#[from] opml::Error),
}

/// Reads an OPML file's bytes. Never fails: what cannot be read is reported
/// in [`OpmlDocument::problems`].
pub fn read(bytes: &[u8]) -> OpmlDocument {
    let mut doc = OpmlDocument::default();
    let (text, decode_note) = decode(bytes);
    doc.repairs.extend(decode_note);
    let text = blank_late_declaration(&text);
    let text = repair_references(&text, &mut doc.repairs);
    let lines = LineIndex::new(&text);

    let walk = walk(&text, &lines);
    doc.problems = walk.problems;
    doc.recovered = walk.recovered;
    doc.repairs.extend(walk.repairs);
    let mut feeds = walk.feeds;
    match opml::OPML::from_str(&text) {
        Ok(strict) => {
            let mut strict_feeds = Vec::new();
            flatten(&strict.body.outlines, &[], &mut strict_feeds);
            let same = strict_feeds.len() == feeds.len()
                && strict_feeds.iter().zip(&feeds).all(|(s, w)| s.url == w.url);
            if same {
                for (s, w) in strict_feeds.iter_mut().zip(&feeds) {
                    s.line = w.line;
                }
                feeds = strict_feeds;
            }
            doc.valid = true;
        }
        Err(e) => doc.repairs.push(Note {
            line: 0,
            message: format!("not valid OPML ({}); read leniently", describe(&e)),
        }),
    }
    let mut salvage = Salvage {
        feeds: &mut feeds,
        problems: &mut doc.problems,
        recovered: &mut doc.recovered,
    };
    salvage.uncovered(&text, &lines, &walk.covered);
    feeds.sort_by_key(|f| f.line);
    doc.problems.sort_by_key(|n| n.line);
    doc.recovered.sort_by_key(|n| n.line);
    doc.feeds = feeds;
    doc
}

fn describe(e: &opml::Error) -> String {
    match e {
        // The wrapper's own message is only "Failed to process XML file".
        opml::Error::XmlError(x) => x.to_string(),
        other => other.to_string(),
    }
}

/// A feed to write with [`write()`].
#[derive(Debug, Clone, Copy)]
pub struct ExportFeed<'a> {
    /// Feed URL.
    pub url: &'a str,
    /// Display title.
    pub title: Option<&'a str>,
    /// Tags; the first becomes the folder.
    pub tags: &'a [String],
}

/// Writes an OPML 2.0 document: feeds with tags go into a folder named by
/// their first tag, and every tag is also listed in the outline's `category`
/// attribute, so [`read`] gives back exactly the same tags.
pub fn write(title: &str, created: &str, feeds: &[ExportFeed<'_>]) -> Result<String, OpmlError> {
    let mut body: Vec<opml::Outline> = Vec::new();
    for f in feeds {
        let text = f.title.unwrap_or(f.url).to_string();
        let outline = opml::Outline {
            text: text.clone(),
            title: Some(text),
            r#type: Some("rss".to_string()),
            xml_url: Some(f.url.to_string()),
            category: (!f.tags.is_empty()).then(|| f.tags.join(",")),
            ..opml::Outline::default()
        };
        let Some(folder) = f.tags.first() else {
            body.push(outline);
            continue;
        };
        let existing = body
            .iter_mut()
            .find(|o| o.xml_url.is_none() && o.text == *folder);
        match existing {
            Some(group) => group.outlines.push(outline),
            None => body.push(opml::Outline {
                text: folder.clone(),
                title: Some(folder.clone()),
                outlines: vec![outline],
                ..opml::Outline::default()
            }),
        }
    }
    let doc = opml::OPML {
        version: "2.0".to_string(),
        head: Some(opml::Head {
            title: Some(title.to_string()),
            date_created: Some(created.to_string()),
            ..opml::Head::default()
        }),
        body: opml::Body { outlines: body },
    };
    let xml = doc.to_string()?;
    // The crate writes one line; a line per element keeps diffs readable.
    let xml = xml.replace("><", ">\n<");
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{xml}\n"
    ))
}

/// Splits a folder name or `category` value into tags: `,` separates
/// categories and `/` separates the levels of a category path, and every
/// level is a tag. Whitespace is collapsed; empty parts are dropped.
pub fn split_tags(value: &str) -> impl Iterator<Item = String> + '_ {
    value
        .split([',', '/'])
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|t| !t.is_empty())
}

/// Appends `tag` unless an equal tag (ignoring case) is already there.
pub fn push_tag(tags: &mut Vec<String>, tag: String) {
    let lower = tag.to_lowercase();
    if !tags.iter().any(|t| t.to_lowercase() == lower) {
        tags.push(tag);
    }
}

fn tags_of(path: &[String], category: Option<&str>) -> Vec<String> {
    let mut tags = Vec::new();
    for part in path.iter().map(String::as_str).chain(category) {
        for tag in split_tags(part) {
            push_tag(&mut tags, tag);
        }
    }
    tags
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The `opml` crate's outlines, in document order (lines are filled in later).
fn flatten(outlines: &[opml::Outline], path: &[String], out: &mut Vec<OpmlFeed>) {
    for o in outlines {
        if let Some(url) = &o.xml_url {
            out.push(OpmlFeed {
                line: 0,
                url: url.trim().to_string(),
                title: non_empty(o.title.as_deref()).or_else(|| non_empty(Some(&o.text))),
                tags: tags_of(path, o.category.as_deref()),
            });
            flatten(&o.outlines, path, out);
            continue;
        }
        let mut inner = path.to_vec();
        inner.extend(non_empty(Some(&o.text)).or_else(|| non_empty(o.title.as_deref())));
        flatten(&o.outlines, &inner, out);
    }
}

/// Decodes to UTF-8, keeping the declaration (and so every line) where it
/// was; a note says when the bytes were not the UTF-8 they claimed to be.
fn decode(bytes: &[u8]) -> (String, Option<Note>) {
    let decoded = charset::decode_keeping_declaration(bytes, None);
    let guessed = decoded.source == charset::Source::Repaired && decoded.encoding != "UTF-8";
    let note = guessed.then(|| Note {
        line: 0,
        message: format!("not valid UTF-8; read as {}", decoded.encoding),
    });
    (decoded.text, note)
}

/// An XML declaration after leading whitespace makes strict parsers reject
/// the file; blank it out (same length, so offsets and lines stay put).
fn blank_late_declaration(text: &str) -> Cow<'_, str> {
    let trimmed = text.trim_start();
    if trimmed.len() == text.len() || !trimmed.starts_with("<?xml") {
        return Cow::Borrowed(text);
    }
    let start = text.len() - trimmed.len();
    let Some(end) = trimmed.find("?>").map(|i| start + i + 2) else {
        return Cow::Borrowed(text);
    };
    let blank: String = text[start..end]
        .chars()
        .map(|c| if c == '\n' { '\n' } else { ' ' })
        .collect();
    Cow::Owned(format!("{}{}{}", &text[..start], blank, &text[end..]))
}

/// Repairs entity references (see [`entities::repair`]), noting each
/// repaired line once.
fn repair_references<'a>(text: &'a str, repairs: &mut Vec<Note>) -> Cow<'a, str> {
    let mut line = 1;
    let mut scanned = 0;
    let mut last_noted = 0;
    entities::repair(text, |fix| {
        line += memchr::memchr_iter(b'\n', &text.as_bytes()[scanned..fix.at]).count();
        scanned = fix.at;
        if last_noted == line {
            return;
        }
        last_noted = line;
        let message = match fix.kind {
            FixKind::BareAmpersand => "bare '&' read as a literal ampersand".to_string(),
            FixKind::HtmlEntity => {
                format!("HTML entity {} replaced by its character", fix.original)
            }
            FixKind::BadCharacterReference => format!(
                "reference {} to a character XML forbids replaced by U+FFFD",
                fix.original
            ),
        };
        repairs.push(Note { line, message });
    })
}

/// Byte offset → 1-based line.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset)
    }

    /// Start of the line after the one holding `offset`.
    fn next_line_start(&self, offset: usize) -> Option<usize> {
        self.starts.get(self.line(offset)).copied()
    }
}

/// What the lenient quick-xml walk found.
#[derive(Default)]
struct Walk {
    feeds: Vec<OpmlFeed>,
    problems: Vec<Note>,
    recovered: Vec<Note>,
    repairs: Vec<Note>,
    /// Byte ranges of markup the walk understood (tags read in full,
    /// comments, CDATA…): an `xmlUrl=` outside them was not read.
    covered: Vec<Range<usize>>,
}

/// Stops a walk over a badly broken file from reporting every byte.
const MAX_XML_ERRORS: usize = 100;

fn walk(text: &str, lines: &LineIndex) -> Walk {
    let mut w = Walk::default();
    // One entry per open element: the folder label it adds to the path, if any.
    let mut open: Vec<Option<String>> = Vec::new();
    let mut base = 0;
    for _ in 0..MAX_XML_ERRORS {
        match walk_from(text, base, lines, &mut open, &mut w) {
            None => return w,
            // A syntax error stops quick-xml for good: the damaged region is
            // the rest of the line where the failing markup began; salvage
            // it and carry on reading from the next line.
            Some(failed_at) => {
                let resume = lines.next_line_start(failed_at).unwrap_or(text.len());
                let path: Vec<String> = open.iter().flatten().cloned().collect();
                w.salvage_region(text, failed_at..resume, &path, lines);
                base = resume;
            }
        }
    }
    w
}

/// Reads `text[base..]` until the end (`None`) or a syntax error (`Some`
/// offset where the failing markup began).
fn walk_from(
    text: &str,
    base: usize,
    lines: &LineIndex,
    open: &mut Vec<Option<String>>,
    w: &mut Walk,
) -> Option<usize> {
    let mut reader = Reader::from_str(&text[base..]);
    {
        let cfg = reader.config_mut();
        cfg.check_end_names = false;
        cfg.allow_unmatched_ends = true;
        cfg.allow_dangling_amp = true;
        cfg.check_comments = false;
    }
    let offset = |p: u64| base + usize::try_from(p).unwrap_or(usize::MAX - base);
    loop {
        let start = offset(reader.buffer_position());
        let event = reader.read_event();
        let end = offset(reader.buffer_position());
        match event {
            Ok(Event::Start(e)) => {
                let label = if is_outline(&e) {
                    w.outline(&e, start..end, open, text, lines)
                } else {
                    w.covered.push(start..end);
                    None
                };
                open.push(label);
            }
            Ok(Event::Empty(e)) => {
                if is_outline(&e) {
                    w.outline(&e, start..end, open, text, lines);
                } else {
                    w.covered.push(start..end);
                }
            }
            Ok(Event::End(_)) => {
                open.pop();
                w.covered.push(start..end);
            }
            Ok(Event::Eof) => return None,
            Ok(Event::Text(_)) | Ok(Event::GeneralRef(_)) => {}
            Ok(_) => w.covered.push(start..end),
            Err(e) => {
                w.repairs.push(Note {
                    line: lines.line(offset(reader.error_position())),
                    message: format!("XML error: {e}"),
                });
                return Some(start);
            }
        }
    }
}

fn is_outline(e: &BytesStart<'_>) -> bool {
    e.local_name().as_ref().eq_ignore_ascii_case("outline")
}

/// The attributes of an outline that matter here.
#[derive(Default)]
struct Attrs {
    xml_url: Option<String>,
    text: Option<String>,
    title: Option<String>,
    category: Option<String>,
}

impl Walk {
    /// Records one `<outline>` tag; returns the folder label it opens.
    fn outline(
        &mut self,
        e: &BytesStart<'_>,
        span: Range<usize>,
        open: &[Option<String>],
        text: &str,
        lines: &LineIndex,
    ) -> Option<String> {
        let path: Vec<String> = open.iter().flatten().cloned().collect();
        let mut attrs = Attrs::default();
        for attr in e.attributes().with_checks(false) {
            let attr = match attr {
                Ok(a) => a,
                Err(err) => {
                    // A damaged tag: salvage what its raw text still holds.
                    self.salvage_tag(text, span, &path, lines, &err.to_string());
                    return None;
                }
            };
            let value = match attr.normalized_value(quick_xml::XmlVersion::Implicit1_0) {
                Ok(v) => v.into_owned(),
                Err(_) => attr.value.clone().into_owned(),
            };
            let key = attr.key.local_name();
            let key = key.as_ref();
            let slot = if key.eq_ignore_ascii_case("xmlurl") {
                &mut attrs.xml_url
            } else if key.eq_ignore_ascii_case("text") {
                &mut attrs.text
            } else if key.eq_ignore_ascii_case("title") {
                &mut attrs.title
            } else if key.eq_ignore_ascii_case("category") {
                &mut attrs.category
            } else {
                continue;
            };
            slot.get_or_insert(value);
        }
        self.covered.push(span.clone());
        let Some(url) = attrs.xml_url else {
            return non_empty(attrs.text.as_deref()).or_else(|| non_empty(attrs.title.as_deref()));
        };
        let line = url_line(text, &span, lines);
        self.feeds.push(OpmlFeed {
            line,
            url: url.trim().to_string(),
            title: non_empty(attrs.title.as_deref()).or_else(|| non_empty(attrs.text.as_deref())),
            tags: tags_of(&path, attrs.category.as_deref()),
        });
        None
    }

    /// A damaged outline tag: salvage what its raw text still holds, and
    /// report it even when it holds no feed URL.
    fn salvage_tag(
        &mut self,
        text: &str,
        span: Range<usize>,
        path: &[String],
        lines: &LineIndex,
        why: &str,
    ) {
        // The tag's own URL, if any, is on its first line; an `xmlUrl` further
        // down belongs to an outline the damage swallowed.
        let first = xml_url_occurrences(&text[span.clone()]).first().copied();
        let own_url = first.is_some_and(|at| lines.line(span.start + at) == lines.line(span.start));
        if !own_url {
            self.problems.push(Note {
                line: lines.line(span.start),
                message: format!("damaged outline without a readable feed URL ({why})"),
            });
        }
        self.salvage_region(text, span, path, lines);
    }

    /// Salvages every `xmlUrl=` in `span` and marks the span as handled.
    fn salvage_region(
        &mut self,
        text: &str,
        span: Range<usize>,
        path: &[String],
        lines: &LineIndex,
    ) {
        let mut salvage = Salvage {
            feeds: &mut self.feeds,
            problems: &mut self.problems,
            recovered: &mut self.recovered,
        };
        for at in xml_url_occurrences(&text[span.clone()]) {
            salvage.one(text, span.start + at, Some(path), lines);
        }
        self.covered.push(span);
    }
}

/// The line of the `xmlUrl` attribute inside a tag (tags may span lines).
fn url_line(text: &str, span: &Range<usize>, lines: &LineIndex) -> usize {
    let at = xml_url_occurrences(&text[span.clone()])
        .first()
        .map_or(span.start, |i| span.start + i);
    lines.line(at)
}

/// Byte offsets of attributes named `xmlUrl` (any case): the name after
/// whitespace, then `=` and a quote.
fn xml_url_occurrences(s: &str) -> Vec<usize> {
    let lower = s.to_ascii_lowercase();
    lower
        .match_indices("xmlurl")
        .filter(|(i, m)| {
            let after_space = *i > 0 && lower.as_bytes()[i - 1].is_ascii_whitespace();
            let value = lower[i + m.len()..].trim_start().strip_prefix('=');
            after_space && value.is_some_and(|v| v.trim_start().starts_with(['"', '\'']))
        })
        .map(|(i, _)| i)
        .collect()
}

/// Reads `name="value"` starting at `at` (where `name` begins); the value is
/// returned with XML entities decoded when possible.
fn quoted_value_after(text: &str, at: usize) -> Option<String> {
    let rest = &text[at..];
    let rest = rest[rest.find('=')? + 1..].trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let body = &rest[1..];
    let end = body.find([quote, '\n', '<', '>'])?;
    if !body[end..].starts_with(quote) {
        return None;
    }
    Some(entities::decode(&body[..end]).into_owned())
}

/// Where salvaged feeds and lost outlines go.
struct Salvage<'a> {
    feeds: &'a mut Vec<OpmlFeed>,
    problems: &'a mut Vec<Note>,
    recovered: &'a mut Vec<Note>,
}

impl Salvage<'_> {
    /// Salvages one `xmlUrl=` at byte `at`: the URL from its value, the
    /// title from a `title=`/`text=` earlier on the same line; `path` is the
    /// folder path when the walk knew it.
    fn one(&mut self, text: &str, at: usize, path: Option<&[String]>, lines: &LineIndex) {
        let line = lines.line(at);
        let url = quoted_value_after(text, at).map(|u| u.trim().to_string());
        let Some(url) = url.filter(|u| !u.is_empty()) else {
            self.problems.push(Note {
                line,
                message: "damaged outline: its xmlUrl value cannot be read".to_string(),
            });
            return;
        };
        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let before = &text[line_start..at];
        let lower = before.to_ascii_lowercase();
        let title = ["title", "text"].iter().find_map(|name| {
            let i = lower
                .match_indices(name)
                .filter(|(i, m)| {
                    lower[i + m.len()..].trim_start().starts_with('=')
                        && (*i == 0 || lower.as_bytes()[i - 1].is_ascii_whitespace())
                })
                .last()?
                .0;
            quoted_value_after(before, i).and_then(|t| non_empty(Some(&t)))
        });
        let message = match path {
            Some(_) => "damaged outline: feed read from the raw text (check its title)",
            None => "damaged outline: feed read from the raw text (its folder is unknown)",
        };
        self.feeds.push(OpmlFeed {
            line,
            url,
            title,
            tags: tags_of(path.unwrap_or_default(), None),
        });
        self.recovered.push(Note {
            line,
            message: message.to_string(),
        });
    }

    /// The last safety net: an `xmlUrl=` in text that neither reader understood.
    fn uncovered(&mut self, text: &str, lines: &LineIndex, covered: &[Range<usize>]) {
        let mut covered = covered.to_vec();
        covered.sort_by_key(|r| r.start);
        for at in xml_url_occurrences(text) {
            let i = covered.partition_point(|r| r.start <= at);
            let inside = i > 0 && covered[i - 1].contains(&at);
            if !inside {
                self.one(text, at, None, lines);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_folders_and_categories_become_tags() {
        let doc = read(
            br#"<?xml version="1.0"?>
<opml version="2.0"><head><title>t</title></head><body>
  <outline text="News">
    <outline text="Pakistan">
      <outline type="rss" text="Dawn" xmlUrl="https://www.dawn.com/feeds/home" category="urdu,/wire/AFP"/>
    </outline>
  </outline>
  <outline type="rss" text="Top" title="Top level" xmlUrl="https://top.example/rss"/>
</body></opml>"#,
        );
        assert!(doc.valid);
        assert!(doc.problems.is_empty(), "{:?}", doc.problems);
        assert_eq!(doc.feeds.len(), 2);
        assert_eq!(doc.feeds[0].line, 5);
        assert_eq!(
            doc.feeds[0].tags,
            ["News", "Pakistan", "urdu", "wire", "AFP"]
        );
        assert_eq!(doc.feeds[0].title.as_deref(), Some("Dawn"));
        assert_eq!(doc.feeds[1].line, 8);
        assert_eq!(doc.feeds[1].title.as_deref(), Some("Top level"));
        assert!(doc.feeds[1].tags.is_empty());
    }

    #[test]
    fn bare_ampersands_and_html_entities_are_repaired() {
        let doc = read(
            b"<opml version=\"1.0\"><body>\n<outline text=\"A&nbsp;B\" xmlUrl=\"https://x.example/rss?a=1&b=2\"/>\n</body></opml>",
        );
        assert!(doc.valid, "repaired text is valid OPML: {:?}", doc.repairs);
        assert!(doc.problems.is_empty());
        assert_eq!(doc.feeds[0].url, "https://x.example/rss?a=1&b=2");
        assert_eq!(doc.feeds[0].title.as_deref(), Some("A\u{a0}B"));
        assert_eq!(doc.feeds[0].line, 2);
        assert!(doc.repairs.iter().all(|r| r.line == 2), "{:?}", doc.repairs);
    }

    #[test]
    fn damaged_tags_are_salvaged_or_reported_by_line() {
        let text = "<opml version=\"2.0\"><body>\n\
            <outline text=\"Good\" xmlUrl=\"https://good.example/\"/>\n\
            <outline text=\"Broken\" tit\n\
            <outline text=\"Swallowed\" xmlUrl=\"https://swallowed.example/\"/>\n\
            <outline text=\"After\" xmlUrl=\"https://after.example/\"/>\n\
            </body></opml>";
        let doc = read(text.as_bytes());
        assert!(!doc.valid);
        let urls: Vec<_> = doc.feeds.iter().map(|f| (f.line, f.url.as_str())).collect();
        assert_eq!(
            urls,
            [
                (2, "https://good.example/"),
                (4, "https://swallowed.example/"),
                (5, "https://after.example/")
            ]
        );
        assert!(
            doc.recovered.iter().any(|p| p.line == 4),
            "{:?}",
            doc.recovered
        );
        assert_eq!(doc.problems.len(), 1, "{:?}", doc.problems);
        assert_eq!(doc.problems[0].line, 3, "the outline whose URL is lost");
    }

    #[test]
    fn commented_out_outlines_are_not_feeds() {
        let doc = read(
            b"<opml version=\"2.0\"><body>\n<!-- <outline xmlUrl=\"https://off.example/\"/> -->\n<outline text=\"x\" xmlUrl=\"https://on.example/\"/></body></opml>",
        );
        assert_eq!(doc.feeds.len(), 1);
        assert_eq!(doc.feeds[0].url, "https://on.example/");
        assert!(doc.problems.is_empty());
    }

    #[test]
    fn latin1_declared_files_decode() {
        let mut bytes = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<opml version=\"1.0\"><body><outline text=\"Caf".to_vec();
        bytes.push(0xe9);
        bytes.extend_from_slice(b"\" xmlUrl=\"https://cafe.example/\"/></body></opml>");
        let doc = read(&bytes);
        assert_eq!(doc.feeds[0].title.as_deref(), Some("Caf\u{e9}"));
    }

    #[test]
    fn files_decode_with_the_feed_sniffer() {
        // Undeclared 8-bit text: decoded as the bytes look, with a note.
        let mut bytes = b"<opml version=\"1.0\"><body><outline text=\"Caf".to_vec();
        bytes.extend_from_slice(
            b"\xe9 cr\xe8me br\xfbl\xe9e\" xmlUrl=\"https://cafe.example/\"/></body></opml>",
        );
        let doc = read(&bytes);
        assert_eq!(doc.feeds[0].title.as_deref(), Some("Café crème brûlée"));
        assert!(
            doc.repairs
                .iter()
                .any(|n| n.message == "not valid UTF-8; read as windows-1252"),
            "{:?}",
            doc.repairs
        );
        // UTF-32 (its BOM begins with UTF-16LE's): read, not garbled.
        let text = "<opml version=\"1.0\"><body><outline text=\"Ü\" xmlUrl=\"https://u.example/\"/></body></opml>";
        let utf32: Vec<u8> = [0xFF, 0xFE, 0, 0]
            .into_iter()
            .chain(text.chars().flat_map(|c| (c as u32).to_le_bytes()))
            .collect();
        let doc = read(&utf32);
        assert_eq!(doc.feeds.len(), 1, "{:?}", doc.problems);
        assert_eq!(doc.feeds[0].url, "https://u.example/");
        assert_eq!(doc.feeds[0].title.as_deref(), Some("Ü"));
    }

    #[test]
    fn not_xml_at_all_gives_no_feeds_and_no_panic() {
        let doc = read(b"{not xml :)");
        assert!(doc.feeds.is_empty());
        assert!(!doc.valid);
    }

    #[test]
    fn written_documents_read_back_with_the_same_tags() {
        let tags_a = vec!["News".to_string(), "Pakistan".to_string()];
        let tags_b = vec!["News".to_string()];
        let feeds = [
            ExportFeed {
                url: "https://a.example/rss?x=1&y=2",
                title: Some("A & \"B\""),
                tags: &tags_a,
            },
            ExportFeed {
                url: "https://b.example/",
                title: None,
                tags: &tags_b,
            },
            ExportFeed {
                url: "https://c.example/",
                title: Some("C"),
                tags: &[],
            },
        ];
        let xml = write("feedfold", "Thu, 27 Feb 2025 10:00:00 GMT", &feeds).expect("write");
        opml::OPML::from_str(&xml).expect("the opml crate accepts what we write");
        let doc = read(xml.as_bytes());
        assert!(doc.valid && doc.problems.is_empty() && doc.repairs.is_empty());
        let back: Vec<_> = doc
            .feeds
            .iter()
            .map(|f| (f.url.as_str(), f.title.as_deref(), f.tags.clone()))
            .collect();
        assert_eq!(
            back,
            [
                (
                    "https://a.example/rss?x=1&y=2",
                    Some("A & \"B\""),
                    tags_a.clone()
                ),
                (
                    "https://b.example/",
                    Some("https://b.example/"),
                    tags_b.clone()
                ),
                ("https://c.example/", Some("C"), vec![]),
            ]
        );
    }
}
