//! Recovery for documents the strict parser refused.
//!
//! Real feeds break in a handful of ways that lose no information: junk
//! before the first tag, a bare `&`, an HTML entity such as `&nbsp;` that XML
//! does not define, an `xml:base` that is not a URL, a JSON Feed that says
//! `http://jsonfeed.org`, a document cut off in transit. [`repair`] fixes
//! exactly those and reports each fix as a [`Warning`]; the caller parses
//! the repaired text again.
//!
//! Invariants:
//! - a repair only touches what made the document invalid: text inside
//!   CDATA sections, comments and processing instructions is never changed,
//!   and valid references (`&amp;`, `&#233;`) are kept as they are;
//! - a truncated document keeps only complete items: the cut is made before
//!   the first `item`/`entry` that is still open, never inside one, so a
//!   half-received item is never stored (it arrives whole on a later poll);
//! - [`repair`] is total: it never panics and runs in time linear in the
//!   input, whatever the bytes.

use std::borrow::Cow;
use std::fmt;

use quick_xml::events::Event;

use crate::xmltext::entities::{self, FixKind};

/// Something feedfold had to do to read a feed, recorded with the fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// The bytes contradict the charset declared or defaulted to (typically:
    /// not UTF-8, and no charset declared): decoded as this encoding, which
    /// `parse::charset` read from the bytes.
    CharsetRepaired(&'static str),
    /// Whitespace, a stray byte-order mark or other junk stood before the
    /// first tag, and was removed.
    LeadingJunk,
    /// Text after the end of the root element was removed.
    TrailingJunk,
    /// This many `&` that did not start an entity reference were escaped.
    BareAmpersands(usize),
    /// This many HTML named entities that XML does not define (`&nbsp;`,
    /// `&eacute;`…) were replaced by their characters.
    HtmlEntities(usize),
    /// This many numeric character references to characters XML forbids
    /// (such as `&#0;`) were replaced by U+FFFD.
    BadCharacterReferences(usize),
    /// An `<rss>` root had no `version` attribute: read as RSS 2.0.
    RssVersion,
    /// This many `xml:base` attributes that are not URLs were dropped.
    BadXmlBase(usize),
    /// A JSON Feed declared this nonstandard version; read as JSON Feed 1.x.
    JsonFeedVersion(String),
    /// The document ended early or broke off: it was cut after the last
    /// complete item and its open elements were closed.
    Truncated,
    /// The feed had more items than feedfold reads from one document; the
    /// first ones (in document order) were kept.
    TooManyEntries {
        /// Items in the document.
        total: usize,
        /// Items kept.
        kept: usize,
    },
}

impl Warning {
    /// Whether the document was invalid and had to be repaired to be read
    /// (as opposed to being read whole but capped).
    pub fn is_recovery(&self) -> bool {
        !matches!(self, Warning::TooManyEntries { .. })
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::CharsetRepaired(encoding) => write!(
                f,
                "bytes contradict the declared or default charset: decoded as {encoding}"
            ),
            Warning::LeadingJunk => f.write_str("removed junk before the first tag"),
            Warning::TrailingJunk => f.write_str("removed junk after the root element"),
            Warning::BareAmpersands(n) => write!(f, "escaped {n} bare '&'"),
            Warning::HtmlEntities(n) => write!(f, "replaced {n} HTML entities undefined in XML"),
            Warning::BadCharacterReferences(n) => {
                write!(f, "replaced {n} references to characters XML forbids")
            }
            Warning::RssVersion => f.write_str("<rss> without a version: read as RSS 2.0"),
            Warning::BadXmlBase(n) => write!(f, "dropped {n} xml:base values that are not URLs"),
            Warning::JsonFeedVersion(v) => write!(f, "read JSON Feed version {v:?} as 1.x"),
            Warning::Truncated => {
                f.write_str("document truncated: kept the complete items and closed it")
            }
            Warning::TooManyEntries { total, kept } => {
                write!(f, "{total} items: kept the first {kept}")
            }
        }
    }
}

/// Repairs a decoded document that the strict parser refused. Returns the
/// repaired text and what was done, or `None` if nothing could be repaired.
pub fn repair(text: &str) -> Option<(String, Vec<Warning>)> {
    let mut warnings = Vec::new();
    let start = leading_junk(text);
    if start > 0 {
        warnings.push(Warning::LeadingJunk);
    }
    let text = &text[start..];
    if text.starts_with('{') {
        if let Some((fixed, version)) = json_feed_version(text) {
            warnings.push(Warning::JsonFeedVersion(version));
            return Some((fixed, warnings));
        }
        return (!warnings.is_empty()).then(|| (text.to_string(), warnings));
    }
    let refs = fix_references(text);
    for (n, w) in [
        (refs.bare, Warning::BareAmpersands as fn(usize) -> Warning),
        (refs.html, Warning::HtmlEntities),
        (refs.bad_char, Warning::BadCharacterReferences),
    ] {
        if n > 0 {
            warnings.push(w(n));
        }
    }
    let (doc, bad_bases) = drop_bad_xml_base(&refs.text);
    if bad_bases > 0 {
        warnings.push(Warning::BadXmlBase(bad_bases));
    }
    let doc = match rss_version(&doc) {
        Some(versioned) => {
            warnings.push(Warning::RssVersion);
            versioned
        }
        None => doc,
    };
    let doc = match close_document(&doc) {
        Some((closed, w)) => {
            warnings.push(w);
            closed
        }
        None => doc,
    };
    (!warnings.is_empty()).then_some((doc, warnings))
}

/// Bytes to drop before the document starts: whitespace, BOMs and control
/// characters before the first `<` or `{`, or any text before an XML
/// declaration near the start.
fn leading_junk(text: &str) -> usize {
    let is_junk =
        |c: char| c.is_whitespace() || c.is_control() || c == '\u{feff}' || c == '\u{200b}';
    let trimmed = text.trim_start_matches(is_junk);
    if trimmed.starts_with(['<', '{']) {
        return text.len() - trimmed.len();
    }
    // "garbage<?xml …": a declaration within the first kilobyte starts the document.
    let head_end = (0..=text.len().min(1024))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    text[..head_end].find("<?xml").unwrap_or(0)
}

/// Reads `version` of a JSON Feed and, if it is a known nonstandard
/// spelling, rewrites it to the official `https://jsonfeed.org/version/…`.
fn json_feed_version(text: &str) -> Option<(String, String)> {
    let mut doc: serde_json::Value = serde_json::from_str(text).ok()?;
    let version = doc.get("version")?.as_str()?.trim().to_string();
    let fixed = if let Some(rest) = version
        .strip_prefix("http://jsonfeed.org/version/")
        .or_else(|| version.strip_prefix("http://www.jsonfeed.org/version/"))
        .or_else(|| version.strip_prefix("https://www.jsonfeed.org/version/"))
    {
        format!("https://jsonfeed.org/version/{rest}")
    } else if matches!(version.as_str(), "1" | "1.0" | "1.1") {
        format!("https://jsonfeed.org/version/{version}")
    } else {
        return None;
    };
    doc["version"] = serde_json::Value::String(fixed);
    Some((serde_json::to_string(&doc).ok()?, version))
}

/// Whether the document uses HTML named entities that XML does not define
/// (outside CDATA and comments): such a document is not well-formed XML.
pub fn has_html_entities(text: &str) -> bool {
    // Most documents use only XML's own entities and numeric references:
    // when every `&` starts one, no reference can be an HTML one, and the
    // copy of the whole document that `fix_references` makes is skipped.
    !entities::only_xml_references(text) && fix_references(text).html > 0
}

/// Whether an XML document ends before its root element is closed. feed-rs
/// accepts such a document and would return a half-received last item; it
/// goes through recovery instead, which keeps the complete items only.
/// Comments after the root element (page-cache footers) are allowed.
pub fn is_incomplete(text: &str) -> bool {
    let Some(root) = root_name(text) else {
        return false;
    };
    let mut tail = text.trim_end();
    while tail.ends_with("-->") {
        match tail.rfind("<!--") {
            Some(i) => tail = tail[..i].trim_end(),
            None => break,
        }
    }
    let Some(last) = tail
        .strip_suffix('>')
        .and_then(|t| t.rfind("</").map(|i| &t[i + 2..]))
    else {
        return true;
    };
    last.trim_end() != root
}

/// The name of the root element, if it has a start tag (not self-closing).
fn root_name(text: &str) -> Option<String> {
    if !text.trim_start().starts_with('<') {
        return None;
    }
    let mut reader = quick_xml::Reader::from_str(text);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => return Some(e.name().into_inner().to_string()),
            Ok(Event::Empty(_) | Event::Eof) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// What [`entities::repair`] did to a document's references, counted.
struct FixedReferences<'a> {
    text: Cow<'a, str>,
    bare: usize,
    html: usize,
    bad_char: usize,
}

fn fix_references(text: &str) -> FixedReferences<'_> {
    let (mut bare, mut html, mut bad_char) = (0, 0, 0);
    let text = entities::repair(text, |fix| match fix.kind {
        FixKind::BareAmpersand => bare += 1,
        FixKind::HtmlEntity => html += 1,
        FixKind::BadCharacterReference => bad_char += 1,
    });
    FixedReferences {
        text,
        bare,
        html,
        bad_char,
    }
}

/// Drops `xml:base="…"` attributes whose value is neither an absolute URL
/// nor a relative reference: feed-rs fails the whole document on them.
fn drop_bad_xml_base(doc: &str) -> (String, usize) {
    const ATTR: &str = "xml:base";
    if !doc.contains(ATTR) {
        return (doc.to_string(), 0);
    }
    let mut out = String::with_capacity(doc.len());
    let mut dropped = 0;
    let mut rest = doc;
    while let Some(i) = rest.find(ATTR) {
        let after = &rest[i + ATTR.len()..];
        let value = after
            .trim_start()
            .strip_prefix('=')
            .map(str::trim_start)
            .and_then(|v| {
                let quote = v.chars().next().filter(|q| *q == '"' || *q == '\'')?;
                let end = v[1..].find(quote)?;
                Some((&v[1..1 + end], after.len() - v.len() + end + 2))
            });
        match value {
            Some((value, len)) if !is_url_or_reference(value) => {
                out.push_str(rest[..i].trim_end());
                rest = &after[len..];
                dropped += 1;
            }
            _ => {
                out.push_str(&rest[..i + ATTR.len()]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    (out, dropped)
}

fn is_url_or_reference(value: &str) -> bool {
    matches!(
        url::Url::parse(value),
        Ok(_) | Err(url::ParseError::RelativeUrlWithoutBase)
    )
}

/// Adds `version="2.0"` to an `<rss>` root element that has no version:
/// feed-rs recognises RSS only by that attribute.
fn rss_version(doc: &str) -> Option<String> {
    let mut reader = quick_xml::Reader::from_str(doc);
    loop {
        let before = usize::try_from(reader.buffer_position()).ok()?;
        match reader.read_event() {
            Ok(Event::Start(e) | Event::Empty(e)) => {
                let has_version = e
                    .attributes()
                    .flatten()
                    .any(|a| a.key.into_inner() == "version");
                if e.name().into_inner() != "rss" || has_version {
                    return None;
                }
                let at = before + "<rss".len();
                return doc
                    .get(..at)
                    .map(|head| format!("{head} version=\"2.0\"{}", &doc[at..]));
            }
            Ok(Event::Eof) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Closes a document that ends early or breaks off, keeping only complete
/// items, or cuts junk after the root element. `None` when the document's
/// element structure is already complete.
fn close_document(doc: &str) -> Option<(String, Warning)> {
    let mut reader = quick_xml::Reader::from_str(doc);
    let config = reader.config_mut();
    config.check_end_names = false;
    config.allow_unmatched_ends = true;
    // Open elements: qualified name and the offset of their start tag.
    let mut open: Vec<(String, usize)> = Vec::new();
    let mut good_end = 0;
    let mut saw_root = false;
    // Reader positions need not fall on a character boundary (a second
    // byte-order mark after the first, which quick-xml skips, shifts them:
    // found by fuzzing), so every offset is rounded down to one before the
    // text is cut there.
    let offset = |p: u64| {
        let mut at = usize::try_from(p).unwrap_or(usize::MAX).min(doc.len());
        while !doc.is_char_boundary(at) {
            at -= 1;
        }
        at
    };
    loop {
        let before = offset(reader.buffer_position());
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                saw_root = true;
                open.push((e.name().into_inner().to_string(), before));
            }
            Ok(Event::End(e)) => {
                if let Some(i) = open.iter().rposition(|(n, _)| n == e.name().into_inner()) {
                    open.truncate(i);
                }
            }
            Ok(Event::Empty(_)) => saw_root = true,
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
        good_end = offset(reader.buffer_position());
        if saw_root && open.is_empty() {
            // The root element is complete: anything but whitespace after it is junk.
            if doc[good_end..].trim().is_empty() {
                return None;
            }
            return Some((doc[..good_end].to_string(), Warning::TrailingJunk));
        }
    }
    if open.is_empty() {
        return None;
    }
    // Never keep half an item: cut before the outermost item still open.
    let cut = match open.iter().position(|(n, _)| is_item(n)) {
        Some(i) => {
            let at = open[i].1;
            open.truncate(i);
            at
        }
        None => good_end,
    };
    if open.is_empty() {
        return None;
    }
    let mut closed = doc[..cut].to_string();
    for (name, _) in open.iter().rev() {
        closed.push_str("</");
        closed.push_str(name);
        closed.push('>');
    }
    Some((closed, Warning::Truncated))
}

/// Cuts an XML document with more than `max` items after its `max`-th
/// complete item and closes it, so the parser never builds a model of more
/// (a 10 MiB document of empty items would otherwise be millions of
/// entries). Returns the capped document and how many items the whole
/// document has, or `None` when it has at most `max`.
pub fn cap_items(doc: &str, max: usize) -> Option<(String, usize)> {
    // Cheap upper bound first: most documents are far below the cap.
    // (memchr's SIMD substring search: `str::matches` was 3 % of parsing
    // plus analysis, for a test that almost never fires.)
    let count = |word: &str| memchr::memmem::find_iter(doc.as_bytes(), word).count();
    if count("item") + count("entry") <= max {
        return None;
    }
    let mut reader = quick_xml::Reader::from_str(doc);
    let config = reader.config_mut();
    config.check_end_names = false;
    config.allow_unmatched_ends = true;
    let mut open: Vec<String> = Vec::new();
    let mut items = 0;
    let mut cut: Option<(usize, Vec<String>)> = None;
    loop {
        let complete_item = match reader.read_event() {
            Ok(Event::Start(e)) => {
                open.push(e.name().into_inner().to_string());
                false
            }
            Ok(Event::End(e)) => {
                let name = e.name().into_inner();
                if let Some(i) = open.iter().rposition(|n| n == name) {
                    open.truncate(i);
                }
                is_item(name)
            }
            Ok(Event::Empty(e)) => is_item(e.name().into_inner()),
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => false,
        };
        if complete_item {
            items += 1;
            if items == max {
                let at = usize::try_from(reader.buffer_position())
                    .ok()?
                    .min(doc.len());
                cut = Some((at, open.clone()));
            }
        }
    }
    let (at, open) = cut.filter(|_| items > max)?;
    let mut capped = doc.get(..at)?.to_string();
    for name in open.iter().rev() {
        capped.push_str("</");
        capped.push_str(name);
        capped.push('>');
    }
    Some((capped, items))
}

/// [`cap_items`] for JSON Feed: keeps the first `max` of `items` (as raw
/// JSON, never building a model of the others).
pub fn cap_json_items(text: &str, max: usize) -> Option<(String, usize)> {
    use serde::de::DeserializeSeed;
    use serde_json::value::RawValue;
    if !text.trim_start().starts_with('{') || text.matches('{').count() <= max + 1 {
        return None;
    }
    let mut top: std::collections::BTreeMap<String, Box<RawValue>> =
        serde_json::from_str(text).ok()?;
    let items = top.get("items")?;
    let mut de = serde_json::Deserializer::from_str(items.get());
    let (kept, total) = CappedSeq(max).deserialize(&mut de).ok()?;
    if total <= max {
        return None;
    }
    let kept = RawValue::from_string(serde_json::to_string(&kept).ok()?).ok()?;
    top.insert("items".into(), kept);
    Some((serde_json::to_string(&top).ok()?, total))
}

/// Reads a JSON array keeping its first `.0` elements raw and only counting
/// the rest.
struct CappedSeq(usize);

impl<'de> serde::de::DeserializeSeed<'de> for CappedSeq {
    type Value = (Vec<Box<serde_json::value::RawValue>>, usize);

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for CappedSeq {
    type Value = (Vec<Box<serde_json::value::RawValue>>, usize);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of items")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut kept = Vec::new();
        while kept.len() < self.0 {
            match seq.next_element()? {
                Some(item) => kept.push(item),
                None => {
                    let n = kept.len();
                    return Ok((kept, n));
                }
            }
        }
        let mut total = kept.len();
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
            total += 1;
        }
        Ok((kept, total))
    }
}

/// `item` (RSS) or `entry` (Atom), whatever the namespace prefix.
fn is_item(qualified: &str) -> bool {
    let local = qualified.rsplit(':').next().unwrap_or(qualified);
    local == "item" || local == "entry"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(text: &str) -> (String, Vec<Warning>) {
        repair(text).expect("something to repair")
    }

    #[test]
    fn html_entities_are_told_from_xml_references() {
        for (text, html) in [
            ("<a>x &amp; &lt;b&gt; &quot;&apos; &#233; &#x41;</a>", false),
            ("<a>AT&T, R&amp;D &amp</a>", false),
            ("<a>one&nbsp;two</a>", true),
            ("<a>&amp;&eacute;</a>", true),
            ("<a><![CDATA[one&nbsp;two]]></a>", false),
            ("<a>&ampx; &ltgt;</a>", false),
            ("", false),
        ] {
            assert_eq!(has_html_entities(text), html, "{text}");
        }
    }

    #[test]
    fn leading_whitespace_and_bom_are_removed() {
        let (doc, w) = fixed("\n\u{feff}  <?xml version=\"1.0\"?><feed/>");
        assert_eq!(doc, "<?xml version=\"1.0\"?><feed/>");
        assert_eq!(w, [Warning::LeadingJunk]);
        let (doc, _) = fixed("junk\n<?xml version=\"1.0\"?><feed/>");
        assert!(doc.starts_with("<?xml"), "{doc}");
    }

    #[test]
    fn bare_ampersands_are_escaped_and_valid_references_kept() {
        let (doc, w) =
            fixed("<a href=\"x?a=1&b=2\">Tom & Jerry &amp; &#233; &#xE9; &unknownthing; &#;</a>");
        assert_eq!(
            doc,
            "<a href=\"x?a=1&amp;b=2\">Tom &amp; Jerry &amp; &#233; &#xE9; &amp;unknownthing; &amp;#;</a>"
        );
        assert_eq!(w, [Warning::BareAmpersands(4)]);
    }

    #[test]
    fn html_entities_become_characters_outside_cdata() {
        let (doc, w) = fixed("<t>a&nbsp;b &eacute; &LT; &gtgt;<![CDATA[&nbsp; & ]]><!-- & --></t>");
        assert_eq!(
            doc,
            "<t>a\u{a0}b é &lt; &amp;gtgt;<![CDATA[&nbsp; & ]]><!-- & --></t>"
        );
        assert_eq!(w, [Warning::BareAmpersands(1), Warning::HtmlEntities(3)]);
    }

    #[test]
    fn forbidden_character_references_are_replaced() {
        let (doc, w) = fixed("<t>&#0;&#x1;&#xD800;&#99999999999;ok</t>");
        assert_eq!(doc, "<t>&#xFFFD;&#xFFFD;&#xFFFD;&amp;#99999999999;ok</t>");
        assert_eq!(
            w,
            [
                Warning::BareAmpersands(1),
                Warning::BadCharacterReferences(3)
            ]
        );
    }

    #[test]
    fn truncated_document_keeps_complete_items_only() {
        let doc = "<rss version=\"2.0\"><channel><title>T</title><item><title>one</title></item>\n<item><title>tw";
        let (closed, w) = fixed(doc);
        assert_eq!(
            closed,
            "<rss version=\"2.0\"><channel><title>T</title><item><title>one</title></item>\n</channel></rss>"
        );
        assert_eq!(w, [Warning::Truncated]);
        // Cut inside a tag, inside CDATA, with a namespace prefix.
        for doc in [
            "<feed><entry><id>1</id></entry><entry><id>2</id><title type=\"ht",
            "<feed><entry><id>1</id></entry><entry><id>2</id><content><![CDATA[abc",
        ] {
            let (closed, _) = fixed(doc);
            assert_eq!(closed, "<feed><entry><id>1</id></entry></feed>");
        }
        let (closed, _) =
            fixed("<rdf:RDF><channel/><rss:item><title>x</title></rss:item><rss:item>");
        assert_eq!(
            closed,
            "<rdf:RDF><channel/><rss:item><title>x</title></rss:item></rdf:RDF>"
        );
    }

    #[test]
    fn incomplete_documents_are_recognised() {
        assert!(!is_incomplete(
            "<?xml version=\"1.0\"?>\n<rss><channel/></rss>\n<!-- cached -->\n"
        ));
        assert!(!is_incomplete("<rdf:RDF><item/></rdf:RDF >"));
        assert!(!is_incomplete("{\"items\":[]}"));
        assert!(is_incomplete(
            "<rss><channel><item><title>x</title></item></channel>"
        ));
        assert!(is_incomplete("<rss><channel><item><title>partial"));
        assert!(is_incomplete("<feed><entry>"));
    }

    #[test]
    fn documents_over_the_item_cap_are_cut_after_the_last_kept_item() {
        let doc = "<rss><channel><title>T</title><item><title>1</title></item><item/><item>3</item></channel></rss>";
        let (capped, total) = cap_items(doc, 2).expect("capped");
        assert_eq!(total, 3);
        assert_eq!(
            capped,
            "<rss><channel><title>T</title><item><title>1</title></item><item/></channel></rss>"
        );
        assert!(cap_items(doc, 3).is_none());
    }

    #[test]
    fn json_feeds_over_the_item_cap_keep_their_first_items() {
        let doc = r#"{"version":"https://jsonfeed.org/version/1.1","title":"J","items":[{"id":"1"},{"id":"2"},{"id":"3"}]}"#;
        let (capped, total) = cap_json_items(doc, 2).expect("capped");
        assert_eq!(total, 3);
        let v: serde_json::Value = serde_json::from_str(&capped).expect("json");
        assert_eq!(v["items"], serde_json::json!([{"id":"1"},{"id":"2"}]));
        assert_eq!(v["title"], "J");
        assert!(cap_json_items(doc, 3).is_none());
    }

    #[test]
    fn complete_documents_are_left_alone() {
        assert!(repair("<rss version=\"2.0\"><channel><item/></channel></rss>\n").is_none());
        assert!(repair("{\"version\":\"https://jsonfeed.org/version/1\"}").is_none());
        assert!(repair("").is_none());
    }

    #[test]
    fn junk_after_the_root_is_cut() {
        let (doc, w) = fixed("<feed><id/></feed><p>oops</p>");
        assert_eq!(doc, "<feed><id/></feed>");
        assert_eq!(w, [Warning::TrailingJunk]);
    }

    #[test]
    fn unparseable_xml_base_is_dropped() {
        let (doc, w) = fixed(
            "<feed xml:base=\"http://[bad\"><entry xml:base='/ok/'><id>1</id></entry></feed>",
        );
        assert_eq!(
            doc,
            "<feed><entry xml:base='/ok/'><id>1</id></entry></feed>"
        );
        assert_eq!(w, [Warning::BadXmlBase(1)]);
    }

    #[test]
    fn rss_without_version_is_read_as_rss2() {
        let (doc, w) = fixed("<?xml version=\"1.0\"?>\n<rss xmlns:dc=\"x\"><channel/></rss>");
        assert_eq!(
            doc,
            "<?xml version=\"1.0\"?>\n<rss version=\"2.0\" xmlns:dc=\"x\"><channel/></rss>"
        );
        assert_eq!(w, [Warning::RssVersion]);
        assert!(repair("<rss version=\"0.91\"><channel/></rss>").is_none());
    }

    #[test]
    fn json_feed_http_version_is_normalised() {
        let (doc, w) = fixed(r#"{"version":"http://jsonfeed.org/version/1","items":[]}"#);
        assert!(doc.contains("\"https://jsonfeed.org/version/1\""), "{doc}");
        assert_eq!(
            w,
            [Warning::JsonFeedVersion(
                "http://jsonfeed.org/version/1".into()
            )]
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        for doc in [
            "&",
            "<",
            "<![CDATA[",
            "<!--",
            "<?",
            "&#x",
            "&#",
            "xml:base=",
            "xml:base='",
            "<a xml:base=\"%\">",
            "\u{feff}",
            "é&é;",
            "<a><b></a>",
        ] {
            let _ = repair(doc);
        }
    }
}
