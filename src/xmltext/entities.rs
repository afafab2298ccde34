//! Entity and character references in XML text.
//!
//! [`repair`] makes the references of a not-quite-XML document valid: a
//! bare `&` is escaped, an HTML named entity XML does not define (`&nbsp;`)
//! becomes its character, and a character reference to a character XML
//! forbids (`&#0;`) becomes U+FFFD. Valid references (`&amp;`, `&#233;`) and
//! the text of CDATA sections, comments and processing instructions are
//! kept as they are. Named entities are looked up in html5ever's table (the
//! WHATWG list), the one the HTML tokenizer of feed discovery uses too.
//!
//! A replacement never adds a line break or an unescaped markup character,
//! so offsets move but line numbers stay put and the markup is unchanged:
//! `&NewLine;` becomes `&#10;` and `&QUOT;` becomes `&quot;`.

use std::borrow::Cow;

/// The entities XML predefines: always valid, never touched.
pub const XML_ENTITIES: [&str; 5] = ["amp", "lt", "gt", "quot", "apos"];

/// Longest entity name looked up (the longest HTML name has 31 characters).
const MAX_ENTITY_NAME: usize = 32;

/// What [`repair`] did to one reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixKind {
    /// An `&` that starts no reference was escaped as `&amp;`.
    BareAmpersand,
    /// An HTML named entity was replaced by its character(s).
    HtmlEntity,
    /// A reference to a character XML forbids was replaced by U+FFFD.
    BadCharacterReference,
}

/// One reference [`repair`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fix<'a> {
    /// Byte offset of its `&` in the input.
    pub at: usize,
    /// What was done.
    pub kind: FixKind,
    /// The input it replaced: `&` alone for a bare ampersand, else the whole
    /// reference (`&nbsp;`).
    pub original: &'a str,
}

/// Repairs the references of `text` (see the module docs), calling `on_fix`
/// for every change in document order. Total and linear in the input.
pub fn repair<'a>(text: &'a str, mut on_fix: impl FnMut(Fix<'a>)) -> Cow<'a, str> {
    let mut out = String::with_capacity(text.len() + 64);
    let mut changed = false;
    let mut pos = 0;
    // memchr2: a SIMD scan; `str::find` with a char pattern decodes every character.
    while let Some(i) = memchr::memchr2(b'&', b'<', &text.as_bytes()[pos..]) {
        out.push_str(&text[pos..pos + i]);
        pos += i;
        let rest = &text[pos..];
        if rest.starts_with('<') {
            let verbatim = [("<![CDATA[", "]]>"), ("<!--", "-->"), ("<?", "?>")]
                .into_iter()
                .find(|(open, _)| rest.starts_with(open));
            let end = match verbatim {
                Some((open, close)) => {
                    let after_open = &rest.as_bytes()[open.len()..];
                    memchr::memmem::find(after_open, close.as_bytes())
                        .map_or(rest.len(), |j| open.len() + j + close.len())
                }
                None => 1,
            };
            out.push_str(&rest[..end]);
            pos += end;
            continue;
        }
        let (consumed, kind) = repair_one(rest, &mut out);
        if let Some(kind) = kind {
            changed = true;
            on_fix(Fix {
                at: pos,
                kind,
                original: &rest[..consumed],
            });
        }
        pos += consumed;
    }
    if !changed {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[pos..]);
    Cow::Owned(out)
}

/// Handles the `&` at the start of `rest`, writing its replacement to `out`;
/// returns how many bytes it used and what it changed.
fn repair_one(rest: &str, out: &mut String) -> (usize, Option<FixKind>) {
    let bare = |out: &mut String| {
        out.push_str("&amp;");
        (1, Some(FixKind::BareAmpersand))
    };
    let body = &rest[1..];
    let Some(semi) = body
        .char_indices()
        .take(MAX_ENTITY_NAME + 2)
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '#'))
        .filter(|(_, c)| *c == ';')
        .map(|(i, _)| i)
    else {
        return bare(out);
    };
    let name = &body[..semi];
    let whole = &rest[..semi + 2];
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => num.parse::<u32>().ok(),
        };
        return match code {
            Some(c) if is_xml_char(c) => {
                out.push_str(whole);
                (whole.len(), None)
            }
            Some(_) => {
                out.push_str("&#xFFFD;");
                (whole.len(), Some(FixKind::BadCharacterReference))
            }
            // `&#;`, `&#xyz;`: not a reference at all.
            None => bare(out),
        };
    }
    if XML_ENTITIES.contains(&name) {
        out.push_str(whole);
        return (whole.len(), None);
    }
    let Some(chars) = (!name.is_empty()).then(|| html_entity(name)).flatten() else {
        return bare(out);
    };
    for c in chars {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push_str(&format!("&#{};", u32::from(c))),
            c => out.push(c),
        }
    }
    (whole.len(), Some(FixKind::HtmlEntity))
}

/// The characters of the HTML named entity `name` (without `&` and `;`).
fn html_entity(name: &str) -> Option<impl Iterator<Item = char>> {
    let &(c1, c2) = html5ever::data::NAMED_ENTITIES.get(format!("{name};").as_str())?;
    Some(
        [c1, c2]
            .into_iter()
            .filter(|&c| c != 0)
            .filter_map(char::from_u32),
    )
}

/// True when every `&` in `text` starts `&#`, `&amp;`, `&lt;`, `&gt;`,
/// `&quot;` or `&apos;`, so that no reference can be an HTML named entity
/// (a cheap test before a [`repair`] that copies the whole text).
pub fn only_xml_references(text: &str) -> bool {
    let bytes = text.as_bytes();
    memchr::memchr_iter(b'&', bytes).all(|i| {
        let after = &bytes[i + 1..];
        after.starts_with(b"#")
            || XML_ENTITIES.iter().any(|name| {
                after
                    .strip_prefix(name.as_bytes())
                    .is_some_and(|r| r.starts_with(b";"))
            })
    })
}

/// `raw` (an attribute value or text, references already [`repair`]ed) with
/// its references decoded; as it is when it has a malformed one.
pub fn decode(raw: &str) -> Cow<'_, str> {
    quick_xml::escape::unescape_with(raw, quick_xml::escape::resolve_xml_entity)
        .unwrap_or(Cow::Borrowed(raw))
}

/// The XML 1.0 `Char` production.
fn is_xml_char(c: u32) -> bool {
    matches!(c, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repaired(text: &str) -> (String, Vec<(usize, FixKind, String)>) {
        let mut fixes = Vec::new();
        let out = repair(text, |f| fixes.push((f.at, f.kind, f.original.to_string())));
        (out.into_owned(), fixes)
    }

    #[test]
    fn each_fix_is_reported_where_it_was() {
        let (out, fixes) = repaired("a & b&nbsp;c&#0;<![CDATA[&]]>&amp;");
        assert_eq!(out, "a &amp; b\u{a0}c&#xFFFD;<![CDATA[&]]>&amp;");
        assert_eq!(
            fixes,
            [
                (2, FixKind::BareAmpersand, "&".to_string()),
                (5, FixKind::HtmlEntity, "&nbsp;".to_string()),
                (12, FixKind::BadCharacterReference, "&#0;".to_string()),
            ]
        );
        assert!(matches!(repair("<a>&#233;</a>", |_| {}), Cow::Borrowed(_)));
    }

    #[test]
    fn replacements_keep_lines_and_markup() {
        let (out, _) = repaired("<a t=\"&QUOT;x&QUOT;\">&NewLine;&Tab;&LT;</a>");
        assert_eq!(out, "<a t=\"&quot;x&quot;\">&#10;&#9;&lt;</a>");
    }

    #[test]
    fn decoding_reads_xml_references_and_keeps_malformed_text() {
        assert_eq!(decode("a&amp;b&#233;&#x41;"), "a&béA");
        assert_eq!(decode("a & b"), "a & b");
    }
}
