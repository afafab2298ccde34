//! The checks of the `opml` fuzz target, shared with
//! `tests/fuzz_regressions.rs` (which includes this file) so that a crash
//! input replays through exactly what found it.
//!
//! Import must take any bytes without panicking, and must account for every
//! feed: from the input, [`check`] also builds an OPML document whose
//! outlines with an `xmlUrl` stand among junk (text lines, titles, folder
//! names and paths made of the input) in one of several encodings, and
//! requires each of them to come back as a feed or as a problem on its line.

use encoding_rs::{SHIFT_JIS, WINDOWS_1252};

/// Runs both checks on one fuzz input.
pub fn check(data: &[u8]) {
    // Arbitrary bytes: any result but a panic is fine.
    let _ = feedfold::opml::read(data);

    let built = build(data);
    let doc = feedfold::opml::read(&built.bytes);
    for (i, &line) in built.lines.iter().enumerate() {
        let prefix = format!("https://f{i}.example/");
        let read = doc.feeds.iter().any(|f| f.url.starts_with(&prefix));
        let reported = doc.problems.iter().any(|p| p.line == line);
        assert!(
            read || reported,
            "outline {i} (line {line}) neither read nor reported\n{doc:#?}\n{}",
            String::from_utf8_lossy(&built.bytes)
        );
    }
}

/// A generated document and the line of each feed outline in it.
struct Built {
    bytes: Vec<u8>,
    lines: Vec<usize>,
}

/// Byte 0 picks how many feeds (1–8), byte 1 the encoding, byte 2 which
/// feeds sit in a folder and whether junk lines stand between outlines; the
/// rest, split at 0xFF, is the junk.
fn build(data: &[u8]) -> Built {
    let (params, rest) = data.split_at(data.len().min(3));
    let param = |i: usize| params.get(i).copied().unwrap_or(0);
    let feeds = 1 + usize::from(param(0) % 8);
    let encoding = param(1) % 7;
    let layout = param(2);
    let mut pieces = rest.split(|&b| b == 0xFF).map(junk);
    let mut next = || pieces.next().unwrap_or_default();

    let declaration = match encoding {
        1 => "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        4 => "<?xml version=\"1.0\" encoding=\"windows-1252\"?>\n",
        6 => "<?xml version=\"1.0\" encoding=\"Shift_JIS\"?>\n",
        _ => "",
    };
    let mut text = declaration.to_string();
    text.push_str("<opml version=\"2.0\">\n");
    text.push_str(&format!("<head><title>{}</title></head>\n<body>\n", next()));
    let mut lines = Vec::new();
    for i in 0..feeds {
        if layout & 0x80 != 0 {
            text.push_str(&next());
            text.push('\n');
        }
        let in_folder = layout & (1 << (i % 7)) != 0;
        if in_folder {
            text.push_str(&format!("<outline text=\"{}\">\n", next()));
        }
        lines.push(text.matches('\n').count() + 1);
        let path: String = next()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "&;=?/._-#%".contains(*c))
            .collect();
        text.push_str(&format!(
            "<outline text=\"{}\" type=\"rss\" xmlUrl=\"https://f{i}.example/{path}\"/>\n",
            next()
        ));
        if in_folder {
            text.push_str("</outline>\n");
        }
    }
    text.push_str("</body>\n</opml>\n");

    let bytes = match encoding {
        1 => [&[0xEF, 0xBB, 0xBF][..], text.as_bytes()].concat(),
        2 => [0xFF, 0xFE]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
            .collect(),
        3 => [0xFE, 0xFF]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_be_bytes))
            .collect(),
        // Declared, and undeclared (the sniffer must guess).
        4 | 5 => WINDOWS_1252.encode(&text).0.into_owned(),
        6 => SHIFT_JIS.encode(&text).0.into_owned(),
        _ => text.into_bytes(),
    };
    Built { bytes, lines }
}

/// Input bytes as text that cannot end a tag, an attribute or a line: the
/// junk may be anything else (bare `&`, entities, control characters).
fn junk(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .filter(|c| !matches!(c, '<' | '>' | '"' | '\'' | '\n'))
        .collect()
}
