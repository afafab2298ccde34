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
/// Characters of each text compared; news copies differ at their edges
/// (datelines, credits, boilerplate), well within this.
const MAX_DIFF_CHARS: usize = 20_000;

/// `s` cut after [`MAX_DIFF_CHARS`] characters.
fn head(s: &str) -> &str {
    s.char_indices()
        .nth(MAX_DIFF_CHARS)
        .map_or(s, |(cut, _)| &s[..cut])
}

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
    let (canonical, copy) = (head(canonical), head(copy));
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
            out.hunks.push(coalesce(hunk));
        }
    }
    out
}

/// Whether an unchanged run between two changes is too slight to read as
/// common text (spaces, or one short word the two sides happen to share).
fn slight(s: &str) -> bool {
    let mut words = s.split_whitespace();
    match (words.next(), words.next()) {
        (None, _) => true,
        (Some(w), None) => w.chars().count() <= 3,
        _ => false,
    }
}

/// Joins the changes a word diff interleaves (`-nine +more -days +port`)
/// into one removal followed by one addition, across the slight runs
/// between them, so that a replaced sentence reads as a whole.
fn coalesce(pieces: Vec<Piece>) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::new();
    let (mut removed, mut added) = (String::new(), String::new());
    let flush = |out: &mut Vec<Piece>, removed: &mut String, added: &mut String| {
        if !removed.is_empty() {
            out.push(Piece::Removed(std::mem::take(removed)));
        }
        if !added.is_empty() {
            out.push(Piece::Added(std::mem::take(added)));
        }
    };
    let n = pieces.len();
    for (i, piece) in pieces.into_iter().enumerate() {
        match piece {
            Piece::Removed(t) => removed.push_str(&t),
            Piece::Added(t) => added.push_str(&t),
            Piece::Same(t) => {
                let inside = i + 1 < n && !(removed.is_empty() && added.is_empty());
                if inside && slight(&t) {
                    removed.push_str(&t);
                    added.push_str(&t);
                } else {
                    flush(&mut out, &mut removed, &mut added);
                    out.push(Piece::Same(t));
                }
            }
        }
    }
    flush(&mut out, &mut removed, &mut added);
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

    #[test]
    fn huge_texts_are_compared_by_their_beginning() {
        let long = "word ".repeat(100_000);
        let d = diff(&long, &format!("{long} tail"));
        assert!(d.is_same(), "the tail is past the cut");
        assert_eq!(head(&long).chars().count(), MAX_DIFF_CHARS);
    }

    #[test]
    fn a_replaced_sentence_reads_as_one_change() {
        let d = diff(
            "It halted cargo handling for nine days.",
            "It Harbour Daily for more port news.",
        );
        assert_eq!(
            d.hunks[0][1..],
            [
                Piece::Removed("halted cargo handling for nine days.".into()),
                Piece::Added("Harbour Daily for more port news.".into()),
            ],
            "{:?}",
            d.hunks
        );
    }
}
