//! Inputs that once crashed or broke an invariant, found by the fuzz
//! targets in `fuzz/` or the corpus walk, replayed with the same checks the
//! targets make. Each case says where it came from and what was wrong.

use std::path::Path;

use chrono::Utc;
use feedfold::config::FeedConfig;
use feedfold::dedup;
use feedfold::fetch::{Exchange, Validators};
use feedfold::parse;
use feedfold::store::{FeedOutcome, FeedUpdate, Store};

/// The checks of `fuzz/fuzz_targets/opml.rs`.
#[path = "../fuzz/opml_input.rs"]
mod opml_input;

/// The checks of `fuzz/fuzz_targets/feed_to_store.rs`.
fn feed_to_store(bytes: &[u8], content_type: Option<&str>) {
    let Ok(feed) = parse::parse(bytes, content_type, "https://fuzz.example/feed") else {
        return;
    };
    let again = parse::parse(bytes, content_type, "https://fuzz.example/feed")
        .expect("a document that parsed once parses again");
    let ids: Vec<_> = feed.entries.iter().map(|e| &e.identity).collect();
    let ids_again: Vec<_> = again.entries.iter().map(|e| &e.identity).collect();
    assert_eq!(ids, ids_again, "identities are stable across parses");
    let mut store = Store::open(Path::new(":memory:")).expect("in-memory database");
    let cfg = FeedConfig {
        url: "https://fuzz.example/feed".into(),
        title: None,
        interval: None,
        tags: Vec::new(),
        origin: Default::default(),
    };
    store.sync_feeds(&[cfg], Utc::now()).expect("sync");
    let id = store.due_feeds(Utc::now(), true).expect("due")[0].id;
    for _ in 0..2 {
        store
            .record(FeedUpdate {
                feed: id,
                fetched_at: Utc::now(),
                exchange: Exchange::default(),
                next_due: Utc::now(),
                fetch: Default::default(),
                outcome: FeedOutcome::Parsed {
                    feed: feed.clone(),
                    validators: Validators::default(),
                    analyses: Vec::new(),
                },
            })
            .expect("recording a parsed feed succeeds");
    }
    let problems = store.check_consistency().expect("check");
    assert!(problems.is_empty(), "{problems:?}");
}

/// The checks of `fuzz/fuzz_targets/normalize.rs`.
fn normalize(input: &str) {
    let (title, body) = input.split_once('\0').unwrap_or((input, ""));
    let norm = dedup::normalize_text(&dedup::html_to_text(body));
    assert_eq!(norm.trim(), norm);
    assert!(!norm.contains("  "), "{norm:?}");
    let a = dedup::analyze(Some(title), Some(body));
    let b = dedup::analyze(Some(title), Some(body));
    assert_eq!((a.text, a.exact), (b.text, b.exact));
}

/// Every crash input the fuzz targets found, kept as found in
/// `tests/fuzz_inputs/TARGET-HASH`, replayed through the target's checks.
/// feed_to_store-de9f8f89: an XML declaration naming ISO-8859-1 after other
/// text made quick-xml panic inside feed-rs (`set_encoding() called after
/// prefix buffer was drained`); fixed by rewriting every declaration's
/// encoding to UTF-8 before feed-rs reads the (already decoded) text.
#[test]
fn crash_inputs_found_by_fuzzing() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_inputs");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/fuzz_inputs") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let data = std::fs::read(&path).expect("read input");
        match name.split('-').next() {
            Some("feed_to_store") => {
                // The target's first byte picks the Content-Type.
                let Some((&selector, bytes)) = data.split_first() else {
                    continue;
                };
                let types = [
                    None,
                    Some("application/rss+xml; charset=utf-8"),
                    Some("text/xml; charset=iso-8859-1"),
                    Some("application/feed+json"),
                ];
                let ct = types[usize::from(selector) % types.len()];
                let result = parse::parse(bytes, ct, "https://fuzz.example/feed");
                assert!(
                    !matches!(result, Err(parse::ParseError::Panicked)),
                    "{name}: the parser panicked"
                );
                feed_to_store(bytes, ct);
            }
            Some("opml") => opml_input::check(&data),
            Some("normalize") => normalize(&String::from_utf8_lossy(&data)),
            Some("dateline") => {
                let text = String::from_utf8_lossy(&data);
                let paragraphs: Vec<String> = text
                    .split('\n')
                    .map(dedup::normalize::fold_keep_case)
                    .collect();
                let a = dedup::credit::strip_and_credit(paragraphs.clone());
                assert!(a.paragraphs.len() <= paragraphs.len(), "{name}");
            }
            Some("fingerprint") => {
                let text = String::from_utf8_lossy(&data);
                let a = dedup::analyze(Some(&text), None);
                let b = dedup::analyze(Some(&text), None);
                assert_eq!(a.exact, b.exact, "{name}");
            }
            _ => panic!("{name}: unknown target prefix"),
        }
        replayed += 1;
    }
    assert!(replayed > 0, "no crash inputs in {}", dir.display());
}

#[test]
fn utf16be_without_bom_from_the_feedparser_corpus() {
    // Corpus walk: feed-rs panicked inside quick-xml's decoder on UTF-16BE
    // without a byte-order mark (feedparser encoding/utf-16be-autodetect.xml).
    let doc = "<?xml version=\"1.0\" encoding=\"utf-16be\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>\u{2022}</title><entry><id>1</id></entry></feed>";
    let bytes: Vec<u8> = doc.encode_utf16().flat_map(u16::to_be_bytes).collect();
    let feed = parse::parse(&bytes, None, "https://x.example/").expect("parses");
    assert_eq!(feed.title.as_deref(), Some("\u{2022}"));
    feed_to_store(&bytes, None);
}

#[test]
fn recovery_edge_cases_keep_every_invariant() {
    for (doc, ct) in [
        (
            &b"<rss version=\"2.0\"><channel><item><guid>1</guid></item><item>"[..],
            None,
        ),
        (
            b"<rss><channel><item><title>&nbsp;&#0;&</title></item></channel>",
            None,
        ),
        (b"\xff\xfe<\0r\0", None),
        (
            b"{\"version\":\"http://jsonfeed.org/version/1\",\"items\":[{}]}",
            Some("application/feed+json"),
        ),
        (
            b"<feed xml:base=\"http://[::1\"><entry><id>&#xD800;</id></entry>",
            None,
        ),
    ] {
        feed_to_store(doc, ct);
    }
    for s in ["", "\0", "<p>&nbsp;</p>\0<br>", "\u{1f}\u{85}\u{2028}x"] {
        normalize(s);
    }
}

#[test]
fn opml_import_accounts_for_every_feed_in_every_encoding() {
    // The fuzz target's parameters: feeds, encoding, layout; then junk.
    for encoding in 0..7u8 {
        let mut input = vec![7, encoding, 0xD5];
        input.extend_from_slice("Caf\u{e9} &amp; AT&T &nbsp;\u{3042}&#0;\r\t".as_bytes());
        for piece in ["a&b=1", "&eacute;x", "", "\u{feff}&", "zz;&#x41;", "\u{1}x"] {
            input.push(0xFF);
            input.extend_from_slice(piece.as_bytes());
        }
        opml_input::check(&input);
    }
    opml_input::check(b"");
}
