//! Step 5: verification of a candidate pair on the real texts.
//!
//! LSH only proposes candidates. Here two texts are compared on their exact
//! shingle sets: Jaccard for edited copies, containment for cuts (a summary
//! that is the lede of the full text), and the numbers and names of their
//! leads must agree, which is what separates two templated reports ("the
//! KSE-100 closed at 112,000" on two days) and two outlets' rewrites.

use super::config::DedupConfig;
use super::fingerprint::{self, Fact, FactKind, Signature};
use super::normalize;

/// A text ready for comparison: its sorted shingle set and lead facts.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    /// Sorted, de-duplicated shingle hashes.
    pub shingles: Vec<u64>,
    /// Token count.
    pub tokens: usize,
    /// Numbers and names of the lead.
    pub facts: Vec<Fact>,
    /// Sorted 32-bit hashes of every token, to look lead facts up in.
    pub vocabulary: Vec<u32>,
    /// Sorted shingles of the first [`PREFIX_TOKENS`] tokens: a lede cut
    /// of this text is contained in them.
    pub prefix: Vec<u64>,
}

/// Tokens at the start of a text in which a short lede cut is looked for.
pub const PREFIX_TOKENS: usize = 64;

impl Prepared {
    /// Prepares a normalised text (as stored) with its signature.
    pub fn new(text: &str, signature: &Signature) -> Self {
        Self::from_hashes(&token_hashes(text), signature.facts.clone())
    }

    /// Prepares a text from its token hashes and lead facts.
    pub fn from_hashes(hashes: &[u64], facts: Vec<Fact>) -> Self {
        let mut vocabulary: Vec<u32> = hashes.iter().map(|&h| h as u32).collect();
        vocabulary.sort_unstable();
        vocabulary.dedup();
        Prepared {
            tokens: hashes.len(),
            shingles: fingerprint::shingles(hashes),
            facts,
            vocabulary,
            prefix: fingerprint::shingles(&hashes[..hashes.len().min(PREFIX_TOKENS)]),
        }
    }
}

/// Hashes of the tokens of a normalised (lower-case) text.
pub fn token_hashes(text: &str) -> Vec<u64> {
    // Built from the token iterator: no list of tokens in between.
    let mut hashes = Vec::with_capacity(text.len() / 5);
    hashes.extend(normalize::tokens_of(text).map(|t| fingerprint::token_hash(t.text)));
    hashes
}

/// Similarity of two shingle sets.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Scores {
    /// |A ∩ B| / |A ∪ B|.
    pub jaccard: f64,
    /// |A ∩ B| / min(|A|, |B|): how much of the smaller text the larger holds.
    pub containment: f64,
    /// Shingles of the smaller text.
    pub smaller: usize,
}

/// Size of the intersection of two sorted, de-duplicated slices (one merge pass).
pub fn intersection<T: Ord>(a: &[T], b: &[T]) -> usize {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                n += 1;
                i += 1;
                j += 1;
            }
        }
    }
    n
}

/// Jaccard and containment of two sorted shingle sets.
pub fn scores(a: &[u64], b: &[u64]) -> Scores {
    let inter = intersection(a, b);
    let union = a.len() + b.len() - inter;
    let smaller = a.len().min(b.len());
    Scores {
        jaccard: if union == 0 {
            0.0
        } else {
            inter as f64 / union as f64
        },
        containment: if smaller == 0 {
            0.0
        } else {
            inter as f64 / smaller as f64
        },
        smaller,
    }
}

/// Counts the facts of `kind` in `a`'s first `lead` tokens that `b` does
/// not contain anywhere, and the facts looked up.
///
/// Anywhere, not at the same place: outlets move paragraphs and prepend
/// kickers, but a copy does not lose its lead's numbers and names, while two
/// templated reports put *different* numbers in the same place.
fn missing(a: &Prepared, b: &Prepared, kind: FactKind, lead: usize) -> (usize, usize) {
    let mut total = 0;
    let mut miss = 0;
    for f in a
        .facts
        .iter()
        .filter(|f| f.kind == kind && (f.pos as usize) < lead)
    {
        total += 1;
        if b.vocabulary.binary_search(&f.hash).is_err() {
            miss += 1;
        }
    }
    (miss, total)
}

/// Do the numbers and names of the two leads agree? The lead is the first
/// `cfg.lead_tokens` tokens, cut to the shorter text; each lead's facts
/// must occur in the other text.
pub fn leads_agree(a: &Prepared, b: &Prepared, cfg: &DedupConfig) -> bool {
    let lead = cfg.lead_tokens.min(a.tokens).min(b.tokens);
    let (na, _) = missing(a, b, FactKind::Number, lead);
    let (nb, _) = missing(b, a, FactKind::Number, lead);
    if na.max(nb) > cfg.max_number_mismatch {
        return false;
    }
    let (ma, ta) = missing(a, b, FactKind::Name, lead);
    let (mb, tb) = missing(b, a, FactKind::Name, lead);
    // Text in capitals (or headline case) marks every word a "name": the
    // check means nothing there.
    if 2 * ta.max(tb) > lead {
        return true;
    }
    ma.max(mb) <= cfg.max_name_mismatch
}

/// The verdict on one pair: `Some(similarity)` when `b` is a copy of `a`
/// (or the other way round), `None` otherwise. Similarity is the Jaccard
/// when the pair passes on Jaccard, else the containment.
pub fn verify(a: &Prepared, b: &Prepared, cfg: &DedupConfig) -> Option<f64> {
    if a.tokens.min(b.tokens) < cfg.min_tokens {
        return None;
    }
    let s = scores(&a.shingles, &b.shingles);
    let similarity = if s.jaccard >= cfg.jaccard_min {
        s.jaccard
    } else if s.containment >= cfg.containment_min && s.smaller >= cfg.containment_min_shingles {
        s.containment
    } else if is_lede_of(a, b, cfg) || is_lede_of(b, a, cfg) {
        // Too short for bag containment, but it is the other's opening.
        s.containment
    } else {
        return None;
    };
    leads_agree(a, b, cfg).then_some(similarity)
}

/// Is `a` (short) a cut of `b`'s opening? Its shingles must lie in `b`'s
/// first [`PREFIX_TOKENS`] tokens: the order constraint that makes a
/// ten-word lede safe to fold where bag containment of ten words is not.
fn is_lede_of(a: &Prepared, b: &Prepared, cfg: &DedupConfig) -> bool {
    a.tokens < b.tokens
        && a.tokens <= PREFIX_TOKENS
        && !a.shingles.is_empty()
        && scores(&a.shingles, &b.prefix).containment >= cfg.containment_min
}

/// Word-set Jaccard of two normalised headlines: only used to break ties.
pub fn title_similarity(a: &str, b: &str) -> f64 {
    let mut x = token_hashes(a);
    let mut y = token_hashes(b);
    x.sort_unstable();
    x.dedup();
    y.sort_unstable();
    y.dedup();
    scores(&x, &y).jaccard
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedup::analyze;

    fn prep(body: &str) -> Prepared {
        let a = analyze(None, Some(body));
        Prepared::new(&a.text, &a.signature)
    }

    const FULL: &str = "Russian and US officials met in Istanbul on Thursday for talks on resolving embassy issues as the two countries aimed to restore ties.\n\
        The talks at the US consul general's residence came after this month's first high-level meeting between the two nuclear powers since the start of Russia's Ukraine offensive.\n\
        The talks ended after almost six and a half hours with the departure of the Russian delegates, who did not speak to media outside.\n\
        Kremlin spokesman Dmitry Peskov told reporters that restoring ruptured ties with the United States was a process.";

    #[test]
    fn containment_accepts_the_lede_of_the_full_text() {
        let cfg = DedupConfig::default();
        let lede = prep("Russian and US officials met in Istanbul on Thursday for talks on resolving embassy issues as the two countries aimed to restore ties.");
        let full = prep(FULL);
        let s = scores(&lede.shingles, &full.shingles);
        assert!(
            s.jaccard < cfg.jaccard_min,
            "Jaccard alone would miss it: {s:?}"
        );
        assert_eq!(verify(&lede, &full, &cfg), Some(1.0));
        assert_eq!(verify(&full, &lede, &cfg), Some(1.0));
    }

    #[test]
    fn numbers_disagree_means_different_stories() {
        let cfg = DedupConfig::default();
        let a = prep("The KSE-100 index of the Pakistan Stock Exchange closed at 112,415.20 points on Thursday, up 1,204.55 points or 1.08 percent, with 412 million shares traded.");
        let b = prep("The KSE-100 index of the Pakistan Stock Exchange closed at 113,020.75 points on Thursday, up 605.55 points or 0.54 percent, with 412 million shares traded.");
        let s = scores(&a.shingles, &b.shingles);
        assert!(s.containment > 0.5, "texts overlap a lot: {s:?}");
        assert_eq!(verify(&a, &b, &cfg), None);
        assert!(verify(&a, &a.clone(), &cfg).is_some());
    }

    #[test]
    fn names_disagree_means_different_stories() {
        let cfg = DedupConfig::default();
        let a = prep("The Lakers beat the Celtics 102-99 on Sunday night as LeBron James scored 31 points and grabbed ten rebounds in front of a sold-out crowd.");
        let b = prep("The Knicks beat the Bulls 102-99 on Sunday night as Jalen Brunson scored 31 points and grabbed ten rebounds in front of a sold-out crowd.");
        assert_eq!(verify(&a, &b, &cfg), None);
    }

    #[test]
    fn short_texts_never_match() {
        let cfg = DedupConfig::default();
        assert_eq!(
            verify(
                &prep("Business Highlights"),
                &prep("Business Highlights"),
                &cfg
            ),
            None
        );
    }

    #[test]
    fn unrelated_reports_of_one_event_stay_apart() {
        let cfg = DedupConfig::default();
        let other = prep("Moscow and Washington held a second round of embassy talks in Istanbul, Russia's foreign ministry said, describing the six-hour meeting as constructive and businesslike. Diplomats discussed staffing, visas and bank accounts.");
        assert_eq!(verify(&prep(FULL), &other, &cfg), None);
    }

    #[test]
    fn titles_break_ties() {
        assert!(
            title_similarity(
                "russia, us hold talks",
                "russia and us hold talks in istanbul"
            ) > title_similarity("russia, us hold talks", "stocks fall")
        );
    }
}
