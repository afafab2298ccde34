//! The normaliser: HTML to text, NFKC, case and whitespace folding, on any
//! string. Must never panic, must be deterministic, and must produce text
//! with single spaces and no leading or trailing whitespace.
#![no_main]

use feedfold::dedup;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    let (title, body) = input.split_once('\0').unwrap_or((input, ""));
    let text = dedup::html_to_text(body);
    let norm = dedup::normalize_text(&text);
    assert_eq!(norm, dedup::normalize_text(&text), "normalisation is deterministic");
    assert_eq!(norm.trim(), norm, "no leading or trailing whitespace");
    assert!(!norm.contains("  "), "single spaces only: {norm:?}");
    assert!(!norm.chars().any(|c| c.is_whitespace() && c != ' '), "only plain spaces: {norm:?}");
    let a = dedup::analyze(Some(title), Some(body));
    let b = dedup::analyze(Some(title), Some(body));
    assert_eq!(a.text, b.text);
    assert_eq!(a.exact, b.exact);
});
