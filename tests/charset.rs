//! Character encodings against feedparser's encoding corpus
//! (`../shared/corpora/feedparser/tests/encoding`): each file names the HTTP
//! `Content-Type` it is served with and the encoding feedparser expects. We
//! check every encoding expectation, a few decoded texts, and that no file
//! makes the parser panic.
//!
//! One documented difference: feedparser follows RFC 3023, under which
//! `text/*` without a charset meant US-ASCII; RFC 7303 (2014) replaced it
//! and lets the XML declaration (else UTF-8) decide. We follow RFC 7303.

mod common;

use feedfold::parse::{self, charset};

fn corpus() -> Option<std::path::PathBuf> {
    common::require_shared("corpora/feedparser/tests/encoding")
}

/// The value after `key:` in the file's leading comment.
fn field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let l = l.trim();
        l.strip_prefix(key)
            .and_then(|r| r.strip_prefix(':'))
            .map(|v| v.trim().to_string())
    })
}

fn content_type(text: &str) -> Option<String> {
    let header = field(text, "Header")?;
    let (name, value) = header.split_once(':')?;
    name.trim()
        .eq_ignore_ascii_case("content-type")
        .then(|| value.trim().to_string())
}

/// The encoding feedparser expects, in encoding_rs's terms, adjusted for
/// RFC 7303 where feedparser applies RFC 3023's text/* default.
fn expected(expect: &str, content_type: Option<&str>, text: &str) -> Option<&'static str> {
    let label = expect.split("encoding == '").nth(1)?.split('\'').next()?;
    let text_default = content_type.is_some_and(|ct| {
        ct.to_ascii_lowercase().starts_with("text/")
            && charset::charset_param(ct)
                .is_none_or(|c| encoding_rs::Encoding::for_label(c.as_bytes()).is_none())
    });
    let label = if label == "us-ascii" && text_default {
        declared(text).unwrap_or_else(|| "utf-8".to_string())
    } else {
        label.to_string()
    };
    encoding_rs::Encoding::for_label(label.as_bytes()).map(|e| e.name())
}

fn declared(text: &str) -> Option<String> {
    let decl = text.trim_start().strip_prefix("<?xml")?;
    let decl = &decl[..decl.find("?>")?];
    let rest = &decl[decl.find("encoding")? + 8..];
    let rest = rest.trim_start().strip_prefix('=')?.trim_start();
    let q = rest.chars().next()?;
    Some(rest[1..].split(q).next()?.to_string())
}

#[test]
fn feedparser_encoding_corpus() {
    let Some(dir) = corpus() else {
        return;
    };
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("read corpus")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    let (mut checked, mut mismatches) = (0, Vec::new());
    for path in &files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let bytes = std::fs::read(path).expect("read");
        // The metadata is in a comment, itself in the file's encoding.
        let plain = charset::decode(&bytes, None).text;
        let ct = content_type(&plain);
        let decoded = charset::decode(&bytes, ct.as_deref());
        // No file may crash the parser (feed-rs panics on some UTF-16 input
        // unless it is decoded first).
        let parsed = parse::parse(&bytes, ct.as_deref(), "https://example.org/");
        assert!(
            !matches!(parsed, Err(parse::ParseError::Panicked)),
            "{name}: parser panicked"
        );
        let Some(expect) = field(&plain, "Expect") else {
            continue;
        };
        let raw = String::from_utf8_lossy(&bytes);
        let Some(want) = expected(&expect, ct.as_deref(), &raw) else {
            continue;
        };
        checked += 1;
        // encoding_rs decodes GB2312/GBK labels with its gb18030-compatible
        // GBK decoder; feedparser reports gb18030.
        let same = decoded.encoding == want || (want == "gb18030" && decoded.encoding == "GBK");
        if !same {
            mismatches.push(format!(
                "{name}: got {} ({:?}), want {want}",
                decoded.encoding, decoded.source
            ));
        }
    }
    eprintln!(
        "{checked} encoding expectations checked over {} files",
        files.len()
    );
    assert!(checked >= 45, "only {checked} expectations found");
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn feedparser_encoding_corpus_texts() {
    let Some(dir) = corpus() else {
        return;
    };
    let cases = [
        ("euc-kr.xml", None, "\u{b144}"),
        ("euc-kr-item.xml", None, "\u{b144}"),
        (
            "http_text_xml_charset_2.xml",
            Some("text/xml; charset=windows-1252"),
            "This is a \u{a3}\u{201c}test.\u{201d}",
        ),
        (
            "http_text_xml_charset_overrides_encoding_2.xml",
            Some("text/xml; charset=windows-1252"),
            "This is a \u{a3}\u{201c}test.\u{201d}",
        ),
    ];
    for (name, ct, want) in cases {
        let bytes = std::fs::read(dir.join(name)).expect("read");
        let feed = parse::parse(&bytes, ct, "https://example.org/")
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = feed
            .entries
            .first()
            .and_then(|e| e.summary.clone().or(e.title.clone()))
            .or(feed.title.clone())
            .unwrap_or_default();
        assert_eq!(got, want, "{name}");
    }
    // Atom 0.3, which feed-rs does not read: check the decoded text.
    // RFC 7303: text/xml without charset follows the UTF-8 declaration.
    for (name, ct) in [
        ("http_i18n.xml", "application/xml"),
        ("bozo_http_i18n.xml", "text/xml"),
    ] {
        let bytes = std::fs::read(dir.join(name)).expect("read");
        let text = charset::decode(&bytes, Some(ct)).text;
        assert!(
            text.contains("<title>Iñtërnâtiônàlizætiøn</title>"),
            "{name}"
        );
    }
}

/// `common::require_shared` skips a test here but fails it under CI, where
/// a missing `../shared` would otherwise pass every test that needs it.
#[test]
fn missing_shared_data_skips_here_but_fails_under_ci() {
    const NAME: &str = "missing_shared_data_skips_here_but_fails_under_ci";
    if std::env::var_os("FEEDFOLD_TEST_PROBE").is_some() {
        assert!(common::require_shared("no-such-folder").is_none());
        return;
    }
    let probe = |ci: &str| {
        std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", NAME, "--test-threads=1"])
            .env("FEEDFOLD_TEST_PROBE", "1")
            .env("CI", ci)
            .output()
            .expect("run the test binary")
    };
    let here = probe("");
    assert!(here.status.success(), "{here:?}");
    let ci = probe("true");
    assert!(!ci.status.success(), "{ci:?}");
    assert!(
        String::from_utf8_lossy(&ci.stdout).contains("../shared/no-such-folder is not beside"),
        "{ci:?}"
    );
}
