//! What a copy changed against the canonical text, word by word: the
//! evidence a reader wants to see next to "folded as near-duplicate".

use std::time::Duration;

use similar::{ChangeTag, TextDiff};

/// Words of context kept around each change (whitespace counts as a token).
const CONTEXT_TOKENS: usize = 12;
/// Changes shown per copy; the rest are counted, not shown.
const MAX_HUNKS: usize = 12;
/// A hostile 1 MiB item must not hold a page for long: past this the diff
/// settles for a coarser answer.
const DIFF_TIMEOUT: Duration = Duration::from_millis(100);

/// One run of text in a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Text both have.
    Same(String),
    /// Text of the canonical copy this copy does not have.
    Removed(String),
    /// Text this copy has that the canonical copy does not.
    Added(String),
}

/// How one copy's text differs from the canonical copy's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyDiff {
    /// Words of the canonical text the copy lacks.
    pub words_removed: usize,
    /// Words the copy has that the canonical text lacks.
    pub words_added: usize,
    /// Paragraphs of the canonical text and of the copy.
    pub paragraphs: (usize, usize),
    /// The changes, each with a little context, at most [`MAX_HUNKS`].
    pub hunks: Vec<Vec<Piece>>,
    /// Changes not shown.
    pub more_hunks: usize,
}

impl CopyDiff {
    /// Whether the texts are the same word for word.
    pub fn is_same(&self) -> bool {
        self.words_removed == 0 && self.words_added == 0
    }
}

fn words(s: &str) -> usize {
    s.split_whitespace().count()
}

/// The word diff of `copy` against `canonical` (plain text, one paragraph
/// per line, as `story_sources.text` holds it).
pub fn diff(canonical: &str, copy: &str) -> CopyDiff {
    let d = TextDiff::configure()
        .timeout(DIFF_TIMEOUT)
        .diff_words(canonical, copy);
    let mut out = CopyDiff {
        paragraphs: (
            canonical.lines().filter(|l| !l.trim().is_empty()).count(),
            copy.lines().filter(|l| !l.trim().is_empty()).count(),
        ),
        ..CopyDiff::default()
    };
    let groups = d.grouped_ops(CONTEXT_TOKENS);
    out.more_hunks = groups.len().saturating_sub(MAX_HUNKS);
    for (i, group) in groups.iter().enumerate() {
        let mut hunk: Vec<Piece> = Vec::new();
        for op in group {
            for change in d.iter_changes(op) {
                let text = change.value();
                match change.tag() {
                    ChangeTag::Delete => out.words_removed += words(text),
                    ChangeTag::Insert => out.words_added += words(text),
                    ChangeTag::Equal => {}
                }
                if i >= MAX_HUNKS {
                    continue;
                }
                match (hunk.last_mut(), change.tag()) {
                    (Some(Piece::Same(s)), ChangeTag::Equal)
                    | (Some(Piece::Removed(s)), ChangeTag::Delete)
                    | (Some(Piece::Added(s)), ChangeTag::Insert) => s.push_str(text),
                    (_, ChangeTag::Equal) => hunk.push(Piece::Same(text.to_string())),
                    (_, ChangeTag::Delete) => hunk.push(Piece::Removed(text.to_string())),
                    (_, ChangeTag::Insert) => hunk.push(Piece::Added(text.to_string())),
                }
            }
        }
        if i < MAX_HUNKS {
            out.hunks.push(hunk);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_swapped_dateline_and_a_dropped_paragraph_show() {
        let canonical =
            "ISLAMABAD (AFP) - Talks resumed on Monday.\nThe envoy said more.\nA last line.";
        let copy = "KARACHI (APP) - Talks resumed on Monday.\nThe envoy said more.";
        let d = diff(canonical, copy);
        assert!(!d.is_same());
        assert_eq!(d.paragraphs, (3, 2));
        assert_eq!(d.words_removed, 2 + 3, "{d:?}");
        assert_eq!(d.words_added, 2, "{d:?}");
        let removed: Vec<&str> = d
            .hunks
            .iter()
            .flatten()
            .filter_map(|p| match p {
                Piece::Removed(s) => Some(s.as_str()),
                _ => None,
            })
            .collect();
        assert!(removed.concat().contains("ISLAMABAD"), "{removed:?}");
        assert!(removed.concat().contains("last line"), "{removed:?}");
        assert!(diff("same words", "same words").is_same());
    }
}
