//! Size limits on what one entry may store. A hostile or broken feed (a
//! megabyte title, a 5 MB body, thousands of authors) is stored truncated
//! with a visible marker rather than refused, so the rest of its items and
//! every other feed are unaffected and the database cannot be bloated by one
//! document.
//!
//! The limits apply before normalisation and fingerprinting, which bounds the
//! dedup work per entry too. Together with the fetch body limit (10 MiB) and
//! [`crate::parse::MAX_ENTRIES`] they bound what one poll can write.

use std::borrow::Cow;

use crate::parse::ParsedEntry;

/// Longest title stored, in bytes.
pub const MAX_TITLE_BYTES: usize = 4 * 1024;
/// Longest summary or content stored, each, in bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Longest guid or URL stored, in bytes.
pub const MAX_URL_BYTES: usize = 8 * 1024;
/// Longest author name stored, in bytes.
pub const MAX_AUTHOR_BYTES: usize = 256;
/// Most author names stored per entry.
pub const MAX_AUTHORS: usize = 32;

/// Appended to every truncated field, so that a reader sees the cut.
pub const TRUNCATION_MARKER: &str = " [… truncated by feedfold]";

/// The entry as it will be stored: every field within its limit. Borrows
/// when nothing had to be cut (the usual case); the `bool` says whether
/// anything was. The store drops a precomputed dedup analysis of a cut
/// entry, which described the uncut text. (The poller bounds entries before
/// it analyses them, so this is a safety net.)
pub fn bound(entry: &ParsedEntry) -> (Cow<'_, ParsedEntry>, bool) {
    let fits = |s: &Option<String>, max: usize| s.as_ref().is_none_or(|s| s.len() <= max);
    let ok = fits(&entry.title, MAX_TITLE_BYTES)
        && fits(&entry.summary, MAX_BODY_BYTES)
        && fits(&entry.content, MAX_BODY_BYTES)
        && fits(&entry.guid, MAX_URL_BYTES)
        && fits(&entry.url, MAX_URL_BYTES)
        && entry.authors.len() <= MAX_AUTHORS
        && entry.authors.iter().all(|a| a.len() <= MAX_AUTHOR_BYTES);
    if ok {
        return (Cow::Borrowed(entry), false);
    }
    let cut = |s: &Option<String>, max: usize| s.as_deref().map(|s| truncate(s, max));
    let bounded = ParsedEntry {
        identity: entry.identity.clone(),
        guid: cut(&entry.guid, MAX_URL_BYTES),
        url: cut(&entry.url, MAX_URL_BYTES),
        title: cut(&entry.title, MAX_TITLE_BYTES),
        summary: cut(&entry.summary, MAX_BODY_BYTES),
        content: cut(&entry.content, MAX_BODY_BYTES),
        authors: entry
            .authors
            .iter()
            .take(MAX_AUTHORS)
            .map(|a| truncate(a, MAX_AUTHOR_BYTES))
            .collect(),
        published: entry.published,
        updated: entry.updated,
    };
    (Cow::Owned(bounded), true)
}

/// `s` if it fits in `max` bytes, else its longest prefix (on a character
/// boundary) that fits together with [`TRUNCATION_MARKER`].
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let keep = max.saturating_sub(TRUNCATION_MARKER.len());
    let end = (0..=keep)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}{TRUNCATION_MARKER}", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_the_limit_and_char_boundaries() {
        let s = "é".repeat(100);
        let t = truncate(&s, 51);
        assert!(t.len() <= 51, "{}", t.len());
        assert!(t.ends_with(TRUNCATION_MARKER));
        assert_eq!(truncate("short", 51), "short");
    }

    #[test]
    fn oversized_entries_are_cut_and_small_ones_borrowed() {
        let small = ParsedEntry {
            title: Some("t".into()),
            ..Default::default()
        };
        assert!(matches!(bound(&small), (Cow::Borrowed(_), false)));
        let big = ParsedEntry {
            identity: "guid:x".into(),
            title: Some("t".repeat(1024 * 1024)),
            content: Some("c".repeat(5 * 1024 * 1024)),
            authors: vec!["a".into(); 10_000],
            ..Default::default()
        };
        let (b, cut) = bound(&big);
        assert!(cut);
        assert!(b.title.as_ref().is_some_and(|t| t.len() <= MAX_TITLE_BYTES));
        assert!(b
            .content
            .as_ref()
            .is_some_and(|t| t.len() <= MAX_BODY_BYTES && t.ends_with(TRUNCATION_MARKER)));
        assert_eq!(b.authors.len(), MAX_AUTHORS);
        assert_eq!(b.identity, "guid:x");
    }
}
