//! Deduplication: turns an entry's text into a fingerprint and decides whether
//! it is a copy of a story already stored.
//!
//! This module is pure: it never touches the network or the database. The
//! store asks it for an [`Analysis`] of each new entry, looks up
//! [`Candidate`]s with the same fingerprint inside the time window, and asks
//! [`decide`] which story (if any) the entry joins.

use unicode_normalization::UnicodeNormalization;

/// Version of the normalisation + fingerprint algorithm. Stored with every
/// fingerprint so that `refold` can tell stale rows after an algorithm change.
pub const ALGORITHM_VERSION: i64 = 1;

/// Seed for the stable xxh3 hashes stored in the database. Changing it
/// invalidates every stored fingerprint: bump [`ALGORITHM_VERSION`] too.
const HASH_SEED: u64 = 0x6665_6564_666f_6c64; // "feedfold"

/// Exact hash of an entry's normalised text (seeded xxh3, stable across
/// platforms and releases).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub u64);

impl Fingerprint {
    /// The fingerprint as SQLite stores it (INTEGER is a signed 64-bit value).
    pub fn to_sql(self) -> i64 {
        self.0 as i64
    }

    /// Reads a fingerprint back from its SQLite form.
    pub fn from_sql(v: i64) -> Self {
        Fingerprint(v as u64)
    }
}

/// How an entry relates to the story it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// The copy that represents the story.
    Canonical,
    /// Same normalised text as the canonical copy.
    Exact,
    /// A near-duplicate: same story, edited text.
    Near,
}

impl Relation {
    /// The name stored in the database and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Canonical => "canonical",
            Relation::Exact => "exact",
            Relation::Near => "near",
        }
    }
}

/// Everything the matcher needs to know about one entry's text.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// Normalised text (title + body): lower case, NFKC, plain text, single spaces.
    pub text: String,
    /// Exact hash of `text`.
    pub exact: Fingerprint,
    /// News agencies the text credits, in the order they appear (e.g. `["AFP", "APP"]`).
    pub credits: Vec<String>,
}

/// A stored entry that might be a copy of the newcomer, as the store returns it.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The story the candidate belongs to.
    pub story_id: i64,
    /// The candidate entry itself.
    pub entry_id: i64,
    /// Its exact fingerprint.
    pub exact: Fingerprint,
}

/// The decision to fold an entry into an existing story.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// Story the entry joins.
    pub story_id: i64,
    /// Relation of the entry to that story.
    pub relation: Relation,
    /// Similarity to the story's closest copy, 0..=1.
    pub similarity: f64,
}

/// Normalises an entry's title and HTML body and fingerprints the result.
pub fn analyze(title: Option<&str>, body_html: Option<&str>) -> Analysis {
    let mut raw = String::new();
    if let Some(t) = title {
        raw.push_str(&html_to_text(t));
        raw.push('\n');
    }
    if let Some(b) = body_html {
        raw.push_str(&html_to_text(b));
    }
    let text = normalize_text(&raw);
    let exact = Fingerprint(xxhash_rust::xxh3::xxh3_64_with_seed(
        text.as_bytes(),
        HASH_SEED,
    ));
    Analysis {
        text,
        exact,
        credits: Vec::new(),
    }
}

/// Picks the story a newcomer joins among the candidates, or `None` for a new story.
pub fn decide(analysis: &Analysis, candidates: &[Candidate]) -> Option<Verdict> {
    candidates
        .iter()
        .find(|c| c.exact == analysis.exact)
        .map(|c| Verdict {
            story_id: c.story_id,
            relation: Relation::Exact,
            similarity: 1.0,
        })
}

/// Converts HTML (or plain text) to plain text.
pub fn html_to_text(input: &str) -> String {
    // Plain text with no markup or entities needs no HTML parser: most titles.
    if !input.contains(['<', '&']) {
        return input.to_string();
    }
    html2text::config::plain_no_decorate()
        .string_from_read(input.as_bytes(), usize::MAX / 2)
        .unwrap_or_else(|_| input.to_string())
}

/// NFKC, lower case, and whitespace collapsed to single spaces.
pub fn normalize_text(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut pending_space = false;
    for c in input.nfkc().flat_map(char::to_lowercase) {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_text_in_different_markup_has_one_fingerprint() {
        let a = analyze(
            Some("Talks in Istanbul"),
            Some("<p>Russian and US officials&nbsp;met.</p>"),
        );
        let b = analyze(
            Some("TALKS IN ISTANBUL"),
            Some("Russian and US officials met."),
        );
        assert_eq!(a.text, b.text);
        assert_eq!(a.exact, b.exact);
    }

    #[test]
    fn different_text_differs() {
        let a = analyze(Some("a"), Some("one"));
        let b = analyze(Some("a"), Some("two"));
        assert_ne!(a.exact, b.exact);
    }
}
