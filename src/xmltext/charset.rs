//! Character encoding of a feed document, decided in the order the
//! standards give (RFC 7303 §3 and XML 1.0 Appendix F), then repaired where
//! the bytes prove the label wrong:
//!
//! 1. a byte order mark (UTF-8, UTF-16, UTF-32);
//! 2. the `charset` parameter of the HTTP `Content-Type`;
//! 3. UTF-16/UTF-32 recognised from the first bytes (`<?` without a BOM);
//! 4. the `encoding` of the XML declaration;
//! 5. UTF-8.
//!
//! Repairs (never applied to a BOM): a document labelled (or defaulting to)
//! UTF-8 that is not valid UTF-8 is decoded with the legacy encoding
//! chardetng (Firefox's detector) guesses, typically windows-1252; a
//! document labelled with a single-byte legacy encoding whose bytes are
//! valid UTF-8 with non-ASCII characters is UTF-8, because legacy text
//! almost never forms valid multi-byte UTF-8 by chance.
//!
//! `text/xml` without a charset is no longer US-ASCII: RFC 7303 (2014)
//! dropped RFC 3023's default, so the declaration decides.
//!
//! Decoding uses encoding_rs (the WHATWG Encoding Standard, so `us-ascii`
//! and `iso-8859-1` mean windows-1252). UTF-32, which the Encoding Standard
//! leaves out, is decoded here: it is a fixed-width array of code points.

use std::borrow::Cow;
use std::ops::Range;

use encoding_rs::Encoding;

/// Where the encoding came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A byte order mark.
    Bom,
    /// The HTTP `charset` parameter.
    Http,
    /// The first bytes of a UTF-16/UTF-32 document without BOM.
    Autodetected,
    /// The XML declaration.
    Declaration,
    /// Nothing said: UTF-8.
    Default,
    /// The label was wrong; the bytes decided.
    Repaired,
}

/// A decoded document.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The text, with an XML declaration (if any) saying UTF-8.
    pub text: String,
    /// The encoding's name (`UTF-8`, `windows-1252`, `UTF-32LE`…).
    pub encoding: &'static str,
    /// How it was chosen.
    pub source: Source,
    /// Whether some bytes could not be decoded (replaced by U+FFFD).
    pub had_errors: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    Standard(&'static Encoding),
    Utf32 { big_endian: bool },
}

impl Choice {
    fn name(self) -> &'static str {
        match self {
            Choice::Standard(e) => e.name(),
            Choice::Utf32 { big_endian: true } => "UTF-32BE",
            Choice::Utf32 { big_endian: false } => "UTF-32LE",
        }
    }
}

/// Decodes a feed document fetched with the given `Content-Type`; an XML
/// declaration at the start that names another encoding is rewritten to
/// say UTF-8 (see [`decode_keeping_declaration`] for the text as it was).
pub fn decode(bytes: &[u8], content_type: Option<&str>) -> Decoded {
    let decoded = decode_keeping_declaration(bytes, content_type);
    Decoded {
        text: with_utf8_declaration(decoded.text),
        ..decoded
    }
}

/// [`decode`] without rewriting the XML declaration, so that every line
/// stays where it was: OPML import reports problems by line.
pub fn decode_keeping_declaration(bytes: &[u8], content_type: Option<&str>) -> Decoded {
    let (choice, source, skip) = choose(bytes, content_type);
    let body = &bytes[skip..];
    let (choice, source) = repair(body, choice, source);
    let (text, had_errors) = match choice {
        Choice::Standard(enc) => {
            let (text, errors) = enc.decode_without_bom_handling(body);
            (text.into_owned(), errors)
        }
        Choice::Utf32 { big_endian } => utf32(body, big_endian),
    };
    Decoded {
        text,
        encoding: choice.name(),
        source,
        had_errors,
    }
}

/// The encoding the labels give, and how many BOM bytes to skip.
fn choose(bytes: &[u8], content_type: Option<&str>) -> (Choice, Source, usize) {
    // UTF-32 BOMs first: the UTF-32LE BOM begins with the UTF-16LE one.
    match bytes {
        [0x00, 0x00, 0xFE, 0xFF, ..] => {
            return (Choice::Utf32 { big_endian: true }, Source::Bom, 4)
        }
        [0xFF, 0xFE, 0x00, 0x00, ..] => {
            return (Choice::Utf32 { big_endian: false }, Source::Bom, 4)
        }
        _ => {}
    }
    if let Some((enc, len)) = Encoding::for_bom(bytes) {
        return (Choice::Standard(enc), Source::Bom, len);
    }
    if let Some(enc) = content_type
        .and_then(charset_param)
        .and_then(|label| label_encoding(&label))
    {
        return (enc, Source::Http, 0);
    }
    match bytes {
        [0x00, 0x00, 0x00, 0x3C, ..] => {
            return (Choice::Utf32 { big_endian: true }, Source::Autodetected, 0)
        }
        [0x3C, 0x00, 0x00, 0x00, ..] => {
            return (Choice::Utf32 { big_endian: false }, Source::Autodetected, 0)
        }
        [0x00, 0x3C, 0x00, 0x3F, ..] => {
            return (
                Choice::Standard(encoding_rs::UTF_16BE),
                Source::Autodetected,
                0,
            )
        }
        [0x3C, 0x00, 0x3F, 0x00, ..] => {
            return (
                Choice::Standard(encoding_rs::UTF_16LE),
                Source::Autodetected,
                0,
            )
        }
        _ => {}
    }
    if let Some(enc) = xml_declared_encoding(bytes).and_then(|label| label_encoding(&label)) {
        // A declaration read from ASCII-compatible bytes cannot truthfully say
        // UTF-16: such a document would have been recognised above.
        if !matches!(enc, Choice::Standard(e) if e == encoding_rs::UTF_16LE || e == encoding_rs::UTF_16BE)
        {
            return (enc, Source::Declaration, 0);
        }
    }
    (Choice::Standard(encoding_rs::UTF_8), Source::Default, 0)
}

fn label_encoding(label: &str) -> Option<Choice> {
    let l = label.trim().to_ascii_lowercase();
    match l.as_str() {
        "utf-32" | "utf-32be" | "ucs-4" => return Some(Choice::Utf32 { big_endian: true }),
        "utf-32le" => return Some(Choice::Utf32 { big_endian: false }),
        // The Encoding Standard maps "utf-16" to LE; a BOM-less document
        // labelled so is big-endian by RFC 2781 unless its bytes say otherwise.
        "utf-16" => return Some(Choice::Standard(encoding_rs::UTF_16BE)),
        _ => {}
    }
    Encoding::for_label(l.as_bytes()).map(Choice::Standard)
}

/// Overrides a label the bytes contradict (see the module docs).
fn repair(body: &[u8], choice: Choice, source: Source) -> (Choice, Source) {
    let Choice::Standard(enc) = choice else {
        return (choice, source);
    };
    if source == Source::Bom || source == Source::Autodetected {
        return (choice, source);
    }
    if enc == encoding_rs::UTF_8 {
        if std::str::from_utf8(body).is_ok() {
            return (choice, source);
        }
        let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
        detector.feed(body, true);
        let guess = detector.guess(None, chardetng::Utf8Detection::Deny);
        return (Choice::Standard(guess), Source::Repaired);
    }
    let single_byte = enc.is_single_byte() && enc.is_ascii_compatible();
    if single_byte && !body.is_ascii() && std::str::from_utf8(body).is_ok() {
        return (Choice::Standard(encoding_rs::UTF_8), Source::Repaired);
    }
    (choice, source)
}

fn utf32(body: &[u8], big_endian: bool) -> (String, bool) {
    let mut errors = body.len() % 4 != 0;
    let text = body
        .chunks_exact(4)
        .map(|c| {
            let quad = [c[0], c[1], c[2], c[3]];
            let n = if big_endian {
                u32::from_be_bytes(quad)
            } else {
                u32::from_le_bytes(quad)
            };
            char::from_u32(n).unwrap_or_else(|| {
                errors = true;
                char::REPLACEMENT_CHARACTER
            })
        })
        .collect();
    (text, errors)
}

/// The `charset` parameter of a `Content-Type` value, unquoted.
pub fn charset_param(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("charset"))
            .then(|| v.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
            .filter(|v| !v.is_empty())
    })
}

/// The `encoding="…"` of an XML declaration, read from the raw bytes
/// (ASCII-compatible encodings only).
fn xml_declared_encoding(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(256)];
    let head = std::str::from_utf8(head).unwrap_or_else(|e| {
        // Cut at the first invalid byte: the declaration is ASCII.
        std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or("")
    });
    declared_encoding(head)
}

fn declared_encoding(head: &str) -> Option<String> {
    let head = head.trim_start();
    let decl_end = head.strip_prefix("<?xml")?.find("?>")?;
    let decl = &head[5..5 + decl_end];
    Some(decl[encoding_value(decl)?].to_string())
}

/// Where the value of the `encoding` pseudo-attribute is in `decl` (the
/// text of an XML declaration), quotes excluded.
fn encoding_value(decl: &str) -> Option<Range<usize>> {
    let pos = decl.find("encoding")?;
    let rest = decl[pos + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let start = decl.len() - rest.len() + 1;
    let len = rest[1..].find(quote)?;
    Some(start..start + len)
}

/// After decoding, the text is UTF-8: a declaration that names another
/// encoding would make the XML parser decode it a second time.
fn with_utf8_declaration(text: String) -> String {
    let trimmed = text.trim_start();
    let declared = declared_encoding(trimmed);
    if declared.is_none_or(|d| d.eq_ignore_ascii_case("utf-8")) {
        return text;
    }
    match trimmed.strip_prefix("<?xml").and_then(|r| r.find("?>")) {
        Some(end) => {
            let rest = &trimmed[5 + end + 2..];
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>{rest}")
        }
        None => text,
    }
}

/// `text` with every XML declaration's encoding rewritten to UTF-8.
///
/// The text handed to feed-rs is always UTF-8, but quick-xml switches its
/// decoder on every XML declaration that names another encoding: at the
/// start of the document it would decode the text a second time (mojibake
/// when the HTTP charset and the declaration disagree), and later in the
/// document it panics (found by the `feed_to_store` fuzz target). Every
/// declaration's encoding is therefore rewritten to UTF-8.
pub fn utf8_declarations(text: &str) -> Cow<'_, str> {
    /// A declaration longer than this is not one (a `<?xml` with no `?>`).
    const MAX_DECL: usize = 1024;
    // memmem (SIMD): the loop below looks through the whole document for
    // later declarations, which `str::find` did a tenth as fast.
    let find_decl = |s: &str| memchr::memmem::find(s.as_bytes(), b"<?xml");
    if find_decl(text).is_none() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(i) = find_decl(rest) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end = tail
            .find("?>")
            .filter(|e| *e < MAX_DECL)
            .map_or("<?xml".len(), |e| e + 2);
        let decl = &tail[..end];
        match utf8_declaration(decl) {
            Some(fixed) => {
                out.push_str(&fixed);
                changed = true;
            }
            None => out.push_str(decl),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    }
}

/// `decl` with its `encoding` pseudo-attribute set to UTF-8, or `None` when
/// it names none or UTF-8 already.
fn utf8_declaration(decl: &str) -> Option<String> {
    let pos = decl.find("encoding")?;
    let value = encoding_value(decl)?;
    let name = decl[value.clone()].trim();
    if name.eq_ignore_ascii_case("utf-8") || name.eq_ignore_ascii_case("utf8") {
        return None;
    }
    Some(format!(
        "{}encoding=\"UTF-8\"{}",
        &decl[..pos],
        &decl[value.end + 1..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rss(decl: &str, title: &[u8]) -> Vec<u8> {
        let mut doc = format!("{decl}<rss version=\"2.0\"><channel><title>").into_bytes();
        doc.extend_from_slice(title);
        doc.extend_from_slice(b"</title></channel></rss>");
        doc
    }

    #[test]
    fn bom_beats_http_charset_beats_declaration() {
        let mut doc = vec![0xEF, 0xBB, 0xBF];
        doc.extend(rss(
            "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>",
            "é".as_bytes(),
        ));
        let d = decode(&doc, Some("text/xml; charset=windows-1251"));
        assert_eq!((d.encoding, d.source), ("UTF-8", Source::Bom));
        assert!(d.text.contains("<title>é</title>"));
        assert!(d
            .text
            .starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));

        let doc = rss("<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>", &[0xE9]);
        let d = decode(&doc, Some("application/rss+xml; charset=\"windows-1251\""));
        assert_eq!((d.encoding, d.source), ("windows-1251", Source::Http));
        assert!(d.text.contains("<title>й</title>"), "{}", d.text);

        let d = decode(&doc, Some("application/rss+xml"));
        assert_eq!(
            (d.encoding, d.source),
            ("windows-1252", Source::Declaration)
        );
        assert!(d.text.contains("<title>é</title>"));
    }

    #[test]
    fn windows_1252_declared_in_the_prolog_is_decoded() {
        let doc = rss(
            "<?xml version=\"1.0\" encoding=\"windows-1252\"?>",
            b"don\x92t \x80 caf\xe9",
        );
        let d = decode(&doc, Some("text/xml"));
        assert!(d.text.contains("don\u{2019}t \u{20ac} café"), "{}", d.text);
        assert!(!d.had_errors);
    }

    #[test]
    fn invalid_utf8_is_repaired_by_detection() {
        // Declared UTF-8 (by default), bytes are windows-1252.
        let doc = rss(
            "<?xml version=\"1.0\"?>",
            b"Caf\xe9 cr\xe8me br\xfbl\xe9e, don\x92t",
        );
        let d = decode(&doc, None);
        assert_eq!(d.source, Source::Repaired);
        assert!(
            d.text.contains("Café crème brûlée, don\u{2019}t"),
            "{}",
            d.text
        );
        // Declared UTF-8 explicitly: the same.
        let doc = rss(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>",
            b"L'\xe9l\xe8ve na\xefve pr\xe9f\xe8re le caf\xe9 \xe0 la cr\xe8me",
        );
        let d = decode(&doc, None);
        assert!(
            d.text.contains("L'élève naïve préfère le café à la crème"),
            "{}",
            d.text
        );
    }

    #[test]
    fn utf8_labelled_latin1_is_utf8() {
        let doc = rss(
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>",
            "Iñtërnâtiônàl".as_bytes(),
        );
        let d = decode(&doc, None);
        assert_eq!((d.encoding, d.source), ("UTF-8", Source::Repaired));
        assert!(d.text.contains("Iñtërnâtiônàl"));
    }

    #[test]
    fn utf16_and_utf32_with_and_without_bom() {
        let text = "<?xml version=\"1.0\" encoding=\"utf-16\"?><rss><channel><title>ü€</title></channel></rss>";
        let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        for (bytes, name, source) in [
            (le.clone(), "UTF-16LE", Source::Autodetected),
            (be.clone(), "UTF-16BE", Source::Autodetected),
            ([&[0xFF, 0xFE][..], &le].concat(), "UTF-16LE", Source::Bom),
            ([&[0xFE, 0xFF][..], &be].concat(), "UTF-16BE", Source::Bom),
        ] {
            let d = decode(&bytes, None);
            assert_eq!((d.encoding, d.source), (name, source));
            assert!(d.text.contains("<title>ü€</title>"), "{}", d.text);
            assert!(d
                .text
                .starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
        }
        let be32: Vec<u8> = text
            .chars()
            .flat_map(|c| (c as u32).to_be_bytes())
            .collect();
        let le32: Vec<u8> = text
            .chars()
            .flat_map(|c| (c as u32).to_le_bytes())
            .collect();
        for (bytes, name) in [
            (be32.clone(), "UTF-32BE"),
            (le32.clone(), "UTF-32LE"),
            ([&[0, 0, 0xFE, 0xFF][..], &be32].concat(), "UTF-32BE"),
            ([&[0xFF, 0xFE, 0, 0][..], &le32].concat(), "UTF-32LE"),
        ] {
            let d = decode(&bytes, None);
            assert_eq!(d.encoding, name);
            assert!(d.text.contains("<title>ü€</title>"), "{}", d.text);
        }
    }

    #[test]
    fn bogus_labels_fall_through() {
        let doc = rss(
            "<?xml version=\"1.0\" encoding=\"no-such-charset\"?>",
            "ok".as_bytes(),
        );
        let d = decode(&doc, Some("text/xml; charset=bogus"));
        assert_eq!((d.encoding, d.source), ("UTF-8", Source::Default));
        assert_eq!(charset_param("text/xml; charset:iso-8859-1"), None);
        assert_eq!(
            charset_param("text/xml;charset= 'us-ascii'").as_deref(),
            Some("us-ascii")
        );
    }
}
