//! Step 5: verification of a candidate pair on the real texts.
//!
//! LSH only proposes candidates. Here two texts are compared on their exact
//! shingle sets: Jaccard for edited copies, containment for cuts (a summary
//! that is the lede of the full text), and the numbers and names of their
//! leads must agree, which is what separates two templated reports ("the
//! KSE-100 closed at 112,000" on two days) and two outlets' rewrites.

use std::sync::LazyLock;

use super::canon::canonical_tokens;
use super::config::DedupConfig;
use super::fingerprint::{self, Fact, FactKind, Signature};

/// A text ready for comparison: its tokens in order, its sorted shingle
/// set and lead facts.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    /// Canonical token hashes in text order ([`canonical_tokens`]): what
    /// two texts are aligned on.
    pub hashes: Vec<u64>,
    /// Per token: [`NUMBER`] and [`NAME`] flags (names only among the lead
    /// facts, the only place a stored text keeps them).
    pub kinds: Vec<u8>,
    /// Sorted, de-duplicated shingle hashes.
    pub shingles: Vec<u64>,
    /// Token count.
    pub tokens: usize,
    /// Numbers and names of the lead.
    pub facts: Vec<Fact>,
    /// Sorted shingles of the first [`PREFIX_TOKENS`] tokens: a lede cut
    /// of this text is contained in them.
    pub prefix: Vec<u64>,
    /// Byte offset of each token in the text (only for a newcomer's text,
    /// [`Prepared::with_offsets`]; empty for a stored candidate's).
    pub offsets: Vec<u32>,
    /// The text's start keys ([`Signature::starts`]; the first is the
    /// key of its own opening): where a wrapped lede may begin.
    pub starts: Vec<u64>,
}

/// [`Prepared::kinds`] flag: the token is a number.
pub const NUMBER: u8 = 1;
/// [`Prepared::kinds`] flag: the token is a name.
pub const NAME: u8 = 2;

/// Tokens at the start of a text in which a short lede cut is looked for.
pub const PREFIX_TOKENS: usize = 64;

impl Prepared {
    /// Prepares a normalised text (as stored) with its signature.
    pub fn new(text: &str, signature: &Signature) -> Self {
        let mut prepared = Self::from_text(text, signature.facts.clone());
        prepared.starts.clone_from(&signature.starts);
        prepared
    }

    /// Prepares a normalised text with its lead facts.
    pub fn from_text(text: &str, facts: Vec<Fact>) -> Self {
        Self::build(text, facts, false)
    }

    /// [`Prepared::from_text`], keeping each token's byte offset (what the
    /// start keys of a newcomer are read at).
    pub fn with_offsets(text: &str, facts: Vec<Fact>) -> Self {
        Self::build(text, facts, true)
    }

    fn build(text: &str, facts: Vec<Fact>, with_offsets: bool) -> Self {
        let mut hashes = Vec::with_capacity(text.len() / 5);
        let mut kinds = Vec::with_capacity(text.len() / 5);
        let mut offsets = Vec::with_capacity(if with_offsets { text.len() / 5 } else { 0 });
        for t in canonical_tokens(text) {
            hashes.push(t.hash);
            kinds.push(if t.number { NUMBER } else { 0 });
            if with_offsets {
                offsets.push(t.start.min(u32::MAX as usize) as u32);
            }
        }
        for f in facts.iter().filter(|f| f.kind == FactKind::Name) {
            if let Some(k) = kinds.get_mut(f.pos as usize) {
                *k |= NAME;
            }
        }
        Prepared {
            tokens: hashes.len(),
            shingles: fingerprint::shingles(&hashes),
            prefix: fingerprint::shingles(&hashes[..hashes.len().min(PREFIX_TOKENS)]),
            facts,
            kinds,
            hashes,
            offsets,
            starts: Vec::new(),
        }
    }

    /// Does this text hold, at one of the places a lede may begin, the
    /// opening of `plain` (its first start key)?
    fn opens_inside(&self, plain: &Prepared) -> bool {
        plain
            .starts
            .first()
            .is_some_and(|k| self.starts.contains(k))
    }
}

/// Hashes of the canonical tokens of a normalised (lower-case) text.
pub fn token_hashes(text: &str) -> Vec<u64> {
    canonical_tokens(text).map(|t| t.hash).collect()
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

/// Equal runs shorter than this do not anchor an alignment: a shared "of
/// the" says nothing about where two texts correspond.
const ANCHOR_TOKENS: usize = 3;

/// A gap longer than this on either side is an insertion or a cut (a
/// caption, a cross-link, a dropped paragraph), not an edit of one fact.
const MAX_EDIT_TOKENS: usize = 8;

/// Facts that two aligned texts carry differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Disagreement {
    /// Places where the two texts put different numbers.
    pub numbers: usize,
    /// Places where the two texts put different names.
    pub names: usize,
}

/// Where two token sequences correspond: the edit script of a diff
/// (similar's Myers), computed once per pair and read by both the copy test
/// ([`Alignment::cut_core`]) and the facts test ([`Alignment::disagreement`]).
pub struct Alignment {
    ops: Vec<similar::DiffOp>,
}

/// The aligned region of a pair: from the first anchor to the end of the
/// last one, on each side, and the tokens the anchors cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Core {
    /// The region in the first text.
    pub a: std::ops::Range<usize>,
    /// The region in the second text.
    pub b: std::ops::Range<usize>,
    /// Tokens inside equal runs of at least `ANCHOR_TOKENS`.
    pub matched: usize,
}

/// A cut may carry this many tokens of its own before and after the text
/// it shares (a byline, a dateline, an editor's note, a trailer); more, and
/// the shared text is a passage of another story, not its lede.
const EDGE_TOKENS: usize = 40;

/// A wrapped lede ([`Alignment::wrapped_lede`]) may carry this many tokens
/// of its own before it: a byline, an editor's note, a caption and a
/// dateline together (start keys reach no further, 640 bytes).
const WRAPPED_EDGE_TOKENS: usize = 96;

/// The shortest lede [`Alignment::wrapped_lede`] accepts: a sentence.
const WRAPPED_LEDE_TOKENS: usize = 8;

/// Where a plain text's opening may begin its alignment with a wrapped
/// lede: at its start, give or take a stray word.
const OPENING_TOKENS: usize = 2;

/// Tokens of a text's opening looked for in the other text when their
/// alignment begins at neither's start (as many as a start key hashes).
const OPENING_KEY_TOKENS: usize = 8;

/// Where `wrapped` holds the opening of `plain` (its first
/// `OPENING_KEY_TOKENS` tokens, all of them when it is shorter), after a
/// wrapping of at most `WRAPPED_EDGE_TOKENS`: the first such place.
fn opening_in(wrapped: &[u64], plain: &[u64]) -> Option<usize> {
    openings_in(wrapped, plain).next()
}

/// Every place where `wrapped` holds the opening of `plain` after a
/// wrapping of at most `WRAPPED_EDGE_TOKENS` ([`opening_in`] is the first).
fn openings_in<'t>(wrapped: &'t [u64], plain: &'t [u64]) -> impl Iterator<Item = usize> + 't {
    let opening = &plain[..plain.len().min(OPENING_KEY_TOKENS)];
    let n = if opening.len() < ANCHOR_TOKENS {
        0
    } else {
        WRAPPED_EDGE_TOKENS
    };
    (1..=n)
        .take_while(move |&p| p + opening.len() <= wrapped.len())
        .filter(move |&p| wrapped[p..p + opening.len()] == *opening)
}

/// At most this many other alignments ([`Alignment::alternatives`]) are
/// judged per pair: each is a diff.
const MAX_ALTERNATIVES: usize = 2;

/// The edit script of `a[da..]` against `b[db..]`, its indexes moved back
/// to the whole sequences.
fn diff_from(a: &[u64], b: &[u64], da: usize, db: usize) -> Vec<similar::DiffOp> {
    use similar::DiffOp::{Delete, Equal, Insert, Replace};
    similar::capture_diff_slices(similar::Algorithm::Myers, &a[da..], &b[db..])
        .into_iter()
        .map(|op| match op {
            Equal {
                old_index,
                new_index,
                len,
            } => Equal {
                old_index: old_index + da,
                new_index: new_index + db,
                len,
            },
            Delete {
                old_index,
                old_len,
                new_index,
            } => Delete {
                old_index: old_index + da,
                old_len,
                new_index: new_index + db,
            },
            Insert {
                old_index,
                new_index,
                new_len,
            } => Insert {
                old_index: old_index + da,
                new_index: new_index + db,
                new_len,
            },
            Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => Replace {
                old_index: old_index + da,
                old_len,
                new_index: new_index + db,
                new_len,
            },
        })
        .collect()
}

impl Alignment {
    /// Aligns `a` with `b`.
    ///
    /// A diff finds the longest common subsequence, which is not always
    /// where two texts correspond: when a wrapped copy holds the other's
    /// opening after text of its own (a highlights box of later sentences,
    /// a caption naming what the story repeats) and the story repeats its
    /// lede further down, the longest match may pair the lede with the
    /// repetition and the wrapping with scattered words, so that the
    /// region begins at neither text's start. Then, when one text holds the
    /// other's opening near its start, the alignment is anchored there:
    /// what comes before is the wrapping only that text has.
    pub fn new(a: &Prepared, b: &Prepared) -> Self {
        let mut alignment = Alignment {
            ops: diff_from(&a.hashes, &b.hashes, 0, 0),
        };
        let misplaced = alignment
            .core()
            .is_some_and(|c| c.a.start > OPENING_TOKENS && c.b.start > OPENING_TOKENS);
        if !misplaced {
            return alignment;
        }
        if let Some(p) = opening_in(&a.hashes, &b.hashes) {
            alignment = Self::anchored(a, b, p, 0);
        } else if let Some(p) = opening_in(&b.hashes, &a.hashes) {
            alignment = Self::anchored(a, b, 0, p);
        }
        alignment
    }

    /// `a` aligned with `b` from `a[pa]` and `b[pb]` on (one of them 0):
    /// what comes before is that text's own.
    fn anchored(a: &Prepared, b: &Prepared, pa: usize, pb: usize) -> Self {
        let wrapping = if pa > 0 {
            similar::DiffOp::Delete {
                old_index: 0,
                old_len: pa,
                new_index: 0,
            }
        } else {
            similar::DiffOp::Insert {
                old_index: 0,
                new_index: 0,
                new_len: pb,
            }
        };
        Alignment {
            ops: std::iter::once(wrapping)
                .chain(diff_from(&a.hashes, &b.hashes, pa, pb))
                .collect(),
        }
    }

    /// Other places the two texts may correspond, to judge when this
    /// alignment shows no copy: one text holds the other's opening (its
    /// first `OPENING_KEY_TOKENS` tokens) within `WRAPPED_EDGE_TOKENS` of
    /// its start, somewhere this alignment does not pair with that opening.
    ///
    /// A highlights box of shortened sentences before a lede (or a story
    /// that repeats its lede further down) gives a diff two ways to pair
    /// the same words; the longest common subsequence may take the box,
    /// and then the lede after it lies outside the aligned region, as the
    /// outlet's own text. Anchored at the opening, the lede is aligned and
    /// the box is the wrapping. Whatever alignment is judged, the copy
    /// tests and the facts test are the same.
    pub fn alternatives(&self, a: &Prepared, b: &Prepared) -> Vec<Alignment> {
        let start = self.core().map(|c| (c.a.start, c.b.start));
        openings_in(&a.hashes, &b.hashes)
            .map(|p| (p, 0))
            .chain(openings_in(&b.hashes, &a.hashes).map(|p| (0, p)))
            .filter(|&at| Some(at) != start)
            .take(MAX_ALTERNATIVES)
            .map(|(pa, pb)| Self::anchored(a, b, pa, pb))
            .collect()
    }

    fn anchors(&self, anchor: usize) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        self.ops.iter().filter_map(move |op| match *op {
            similar::DiffOp::Equal {
                old_index,
                new_index,
                len,
            } if len >= anchor => Some((old_index, new_index, len)),
            _ => None,
        })
    }

    /// The aligned region (`None` when no run of `ANCHOR_TOKENS` is shared).
    pub fn core(&self) -> Option<Core> {
        let mut anchors = self.anchors(ANCHOR_TOKENS);
        let (a0, b0, len0) = anchors.next()?;
        let mut core = Core {
            a: a0..a0 + len0,
            b: b0..b0 + len0,
            matched: len0,
        };
        for (a, b, len) in anchors {
            core.a.end = a + len;
            core.b.end = b + len;
            core.matched += len;
        }
        Some(core)
    }

    /// Is the shorter text a cut of the other's opening, wrapped in text of
    /// its own? Its aligned region must start and end within
    /// `EDGE_TOKENS` of its edges, begin within `EDGE_TOKENS` of the
    /// other's start, be mostly shared (60 %: a caption may sit inside) and
    /// hold at least `min_shared` shared tokens and 40 % of the shorter
    /// text; and the shorter text must be a cut (at most 80 % of the
    /// other's length) or the region must cover 80 % of the longer text
    /// too. Returns the share of the region that is shared.
    ///
    /// Lengths and shares leave out the long stretches only one text has
    /// inside the region ([`Alignment::own_stretches`]): a cut of three
    /// paragraphs with two cross-links between them is as much a cut as
    /// one without, however long the linked headlines.
    pub fn cut_core(&self, a: &Prepared, b: &Prepared, min_shared: usize) -> Option<f64> {
        let core = self.core()?;
        let (own_a, own_b) = self.own_stretches();
        let (short, short_len, short_own, long, long_len, long_own) =
            if a.tokens - own_a <= b.tokens - own_b {
                (&core.a, a.tokens, own_a, &core.b, b.tokens, own_b)
            } else {
                (&core.b, b.tokens, own_b, &core.a, a.tokens, own_a)
            };
        let (short_text, long_text) = (short_len - short_own, long_len - long_own);
        // What comes before the shared text is a byline or a dateline:
        // shorter than the text it introduces.
        let fits = short.start <= EDGE_TOKENS
            && short_len - short.end <= EDGE_TOKENS
            && long.start <= EDGE_TOKENS
            && core.matched >= min_shared
            && 10 * core.matched >= 4 * short_text;
        let share = core.matched as f64 / (short.len() - short_own).max(1) as f64;
        // Either a cut (markedly shorter than the text it cuts) or a whole
        // copy (aligned over most of the longer text too); two texts of one
        // length sharing a passage in their middles are neither: one outlet
        // quoting another's report.
        let is_cut =
            5 * short_text <= 4 * long_text || 5 * (long.len() - long_own) >= 4 * long_text;
        (fits && is_cut && share >= 0.6).then_some(share)
    }

    /// Tokens of the long stretches (more than `MAX_EDIT_TOKENS`) that only
    /// one text has inside the aligned region, where the other goes on with
    /// at most an edit: `(in a, in b)`. What an outlet inserts between
    /// paragraphs (a cross-link, a caption, a highlights box) or a
    /// paragraph the other dropped; never a stretch both texts replace
    /// with text of their own, which is where two different texts differ.
    pub fn own_stretches(&self) -> (usize, usize) {
        let mut own = (0, 0);
        for (ga, gb) in self.gaps(ANCHOR_TOKENS) {
            if ga.len() > MAX_EDIT_TOKENS && gb.len() <= MAX_EDIT_TOKENS {
                own.0 += ga.len();
            } else if gb.len() > MAX_EDIT_TOKENS && ga.len() <= MAX_EDIT_TOKENS {
                own.1 += gb.len();
            }
        }
        own
    }

    /// Is one text a short lede inside wrapping of its own that is longer
    /// than the lede (a byline, an editor's note, a caption and a dateline
    /// before it, a trailer after it), and the other text the story that
    /// opens with that lede? With `at_start`, the wrapped text must hold
    /// the plain text's opening where a lede may begin (a start key: a
    /// sentence start, or after the separator that ends a byline, dateline
    /// or caption, not a stretch of running text). The aligned region must
    /// begin within `OPENING_TOKENS` of the plain text's start, hold at least
    /// `WRAPPED_LEDE_TOKENS` shared tokens, 60 % of it shared, begin within
    /// `WRAPPED_EDGE_TOKENS` of the wrapped text's start and end within
    /// `EDGE_TOKENS` of its end. Tried with either text as the wrapped one;
    /// returns the share of the wrapped region that is shared.
    ///
    /// On its own this would fold two stories that open with one shared
    /// sentence (an editor's note several outlets use): [`verify_pair`]
    /// asks the headlines for a second witness before using it.
    pub fn wrapped_lede(&self, a: &Prepared, b: &Prepared, at_start: bool) -> Option<f64> {
        let core = self.core()?;
        let fits =
            |wrapped: &std::ops::Range<usize>, len: usize, plain: &std::ops::Range<usize>| {
                plain.start <= OPENING_TOKENS
                    && wrapped.start <= WRAPPED_EDGE_TOKENS
                    && len - wrapped.end <= EDGE_TOKENS
            };
        let (own_a, own_b) = self.own_stretches();
        let share =
            core.matched as f64 / (core.a.len() - own_a).max(core.b.len() - own_b).max(1) as f64;
        let wrapped = fits(&core.a, a.tokens, &core.b) && (!at_start || a.opens_inside(b))
            || fits(&core.b, b.tokens, &core.a) && (!at_start || b.opens_inside(a));
        (wrapped && core.matched >= WRAPPED_LEDE_TOKENS && share >= 0.6).then_some(share)
    }

    /// The gaps of the aligned region, merged across short equal runs (as
    /// [`Alignment::disagreement`] reads them): `(range in a, range in b)`.
    fn gaps(&self, anchor: usize) -> Vec<(std::ops::Range<usize>, std::ops::Range<usize>)> {
        let is_anchor = |op: &similar::DiffOp| matches!(op, similar::DiffOp::Equal { len, .. } if *len >= anchor);
        let ops = &self.ops;
        let (Some(first), Some(last)) = (
            ops.iter().position(is_anchor),
            ops.iter().rposition(is_anchor),
        ) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut gap: Option<(std::ops::Range<usize>, std::ops::Range<usize>)> = None;
        for op in &ops[first..=last] {
            if is_anchor(op) {
                out.extend(gap.take());
                continue;
            }
            // A short equal run ("in", "of the") inside a replaced stretch
            // is chance: the gap goes on through it.
            let (_, old, new) = op.as_tag_tuple();
            gap = Some(match gap.take() {
                Some((ga, gb)) => (
                    ga.start.min(old.start)..ga.end.max(old.end),
                    gb.start.min(new.start)..gb.end.max(new.end),
                ),
                None => (old, new),
            });
        }
        out
    }

    /// Counts the places where, between stretches both texts share, each
    /// puts a *different* number (or name).
    ///
    /// Only the aligned region counts: what lies before the first anchor or
    /// after the last one (a byline, a dateline of any shape, a trailer)
    /// and long one-sided stretches inside it (captions, cross-links,
    /// highlight boxes, dropped paragraphs) are additions or cuts, never
    /// disagreements. A short gap present on both sides is an edit; when
    /// both sides of it carry a number, the texts disagree there (a changed
    /// toll, another day's price) — which is what keeps templated reports
    /// apart.
    pub fn disagreement(&self, a: &Prepared, b: &Prepared, anchor: usize) -> Disagreement {
        let mut out = Disagreement::default();
        for (ga, gb) in self.gaps(anchor) {
            out.add(edit(a, b, ga, gb));
        }
        out
    }
}

/// [`Alignment::disagreement`] of a fresh alignment of `a` and `b`.
pub fn disagreement(a: &Prepared, b: &Prepared, anchor: usize) -> Disagreement {
    Alignment::new(a, b).disagreement(a, b, anchor)
}

impl Disagreement {
    fn add(&mut self, other: Disagreement) {
        self.numbers += other.numbers;
        self.names += other.names;
    }
}

/// What one gap of an alignment (`ga` in `a`, `gb` in `b`) changes: a
/// disagreement when both sides carry numbers (names) and neither side's
/// are all among the other's ("$1 million" against "1 million dollars"
/// moves a word, not the number).
fn edit(
    a: &Prepared,
    b: &Prepared,
    ga: std::ops::Range<usize>,
    gb: std::ops::Range<usize>,
) -> Disagreement {
    if ga.is_empty() || gb.is_empty() || ga.len() > MAX_EDIT_TOKENS || gb.len() > MAX_EDIT_TOKENS {
        return Disagreement::default();
    }
    let carried = |p: &Prepared, r: &std::ops::Range<usize>, flag: u8| {
        let mut v: Vec<u64> = r
            .clone()
            .filter(|&i| p.kinds.get(i).is_some_and(|&k| k & flag != 0))
            .filter_map(|i| p.hashes.get(i).copied())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    // Disagreeing means neither side's set holds the other's: "Feb 27"
    // against "27 Feb 2025" adds a year, "President Trump" against "US
    // President Donald Trump" adds words; "112,415" against "113,020"
    // replaces the number.
    let differ = |flag| {
        let (x, y) = (carried(a, &ga, flag), carried(b, &gb, flag));
        let within = |p: &[u64], q: &[u64]| p.iter().all(|h| q.binary_search(h).is_ok());
        usize::from(!x.is_empty() && !y.is_empty() && !within(&x, &y) && !within(&y, &x))
    };
    Disagreement {
        numbers: differ(NUMBER),
        names: differ(NAME),
    }
}

/// Do the numbers and names of the two texts agree where they align?
/// Names are not judged when more than half of either lead is capitalised
/// (text in capitals or headline case marks every word a name).
pub fn facts_agree(alignment: &Alignment, a: &Prepared, b: &Prepared, cfg: &DedupConfig) -> bool {
    let d = alignment.disagreement(a, b, ANCHOR_TOKENS);
    if d.numbers > cfg.max_number_mismatch {
        return false;
    }
    let lead = cfg.lead_tokens.min(a.tokens).min(b.tokens);
    let names = |p: &Prepared| {
        p.facts
            .iter()
            .filter(|f| f.kind == FactKind::Name && (f.pos as usize) < lead)
            .count()
    };
    if 2 * names(a).max(names(b)) > lead {
        return true;
    }
    d.names <= cfg.max_name_mismatch
}

/// The verdict on one pair: `Some(similarity)` when `b` is a copy of `a`
/// (or the other way round), `None` otherwise. Similarity is the Jaccard
/// when the pair passes on Jaccard, else the containment.
pub fn verify(a: &Prepared, b: &Prepared, cfg: &DedupConfig) -> Option<f64> {
    verify_shared(a, b, cfg).map(|(similarity, _)| similarity)
}

/// [`verify`], with the number of shingles the two texts share: the
/// evidence behind the verdict, which [`super::decide`] weighs between
/// stories (a one-sentence cut is contained whole in a story it shares
/// twenty shingles with; a full copy shares hundreds with its own).
pub fn verify_shared(a: &Prepared, b: &Prepared, cfg: &DedupConfig) -> Option<(f64, usize)> {
    verify_pair(a, b, cfg, || false)
}

/// [`verify_shared`], with the headlines as a second witness when the text
/// alone is too little: `headlines_agree` is asked (only then) whether the
/// two items' headlines are alike, and when they are, a short lede inside
/// wrapping longer than itself ([`Alignment::wrapped_lede`]) is a copy of
/// the story that opens with it. Twenty shared tokens inside forty of an
/// outlet's own are as likely a sentence many stories open with (an
/// editor's note) as a lede; under one headline, they are the lede.
pub fn verify_pair(
    a: &Prepared,
    b: &Prepared,
    cfg: &DedupConfig,
    headlines_agree: impl FnOnce() -> bool,
) -> Option<(f64, usize)> {
    if a.tokens.min(b.tokens) < cfg.min_tokens {
        return None;
    }
    let s = scores(&a.shingles, &b.shingles);
    let shared = (s.containment * s.smaller as f64).round() as usize;
    let on_shingles = if s.jaccard >= cfg.jaccard_min {
        Some(s.jaccard)
    } else if s.containment >= cfg.containment_min && s.smaller >= cfg.containment_min_shingles {
        Some(s.containment)
    } else if is_lede_of(a, b, cfg) || is_lede_of(b, a, cfg) {
        // Too short for bag containment, but it is the other's opening.
        Some(s.containment)
    } else {
        None
    };
    // Below this share of shared shingles, no cut is worth aligning for;
    // nor is a pair of one length (no cut) that shares less than a whole
    // copy would (the region over 80 % of the longer text, 60 % of it
    // shared: a Jaccard near 0.3). A diff of two different texts is the
    // costliest step of verification.
    let is_cut = 5 * a.tokens.min(b.tokens) <= 4 * a.tokens.max(b.tokens);
    let aligns = on_shingles.is_some() || (s.containment >= 0.25 && (is_cut || s.jaccard >= 0.25));
    // A wrapped lede shares little of its text, but it holds the other's
    // opening where a lede begins; only then are the headlines asked.
    let wrapped = !aligns && (a.opens_inside(b) || b.opens_inside(a));
    let mut headlines_agree = Some(headlines_agree);
    let mut answer = None;
    let mut witnessed =
        || *answer.get_or_insert_with(|| headlines_agree.take().is_some_and(|f| f()));
    if !(aligns || wrapped && witnessed()) {
        return None;
    }
    let judge = |alignment: &Alignment, witnessed: &mut dyn FnMut() -> bool| {
        let similarity = match on_shingles {
            Some(sim) => sim,
            // A cut of the other's opening inside text of its own (a byline
            // and dateline before it, an editor's note and trailer after it).
            None if aligns => match alignment.cut_core(a, b, cfg.containment_min_shingles) {
                Some(share) => share,
                None if witnessed() => alignment.wrapped_lede(a, b, false)?,
                None => return None,
            },
            // Too little shared text to align on its own: the lede must
            // begin where a lede may (not in the middle of running text, as
            // the tail of one text that is the other's head does).
            None => alignment.wrapped_lede(a, b, true)?,
        };
        facts_agree(alignment, a, b, cfg).then_some(similarity)
    };
    let alignment = Alignment::new(a, b);
    let similarity = judge(&alignment, &mut witnessed).or_else(|| {
        alignment
            .alternatives(a, b)
            .iter()
            .find_map(|other| judge(other, &mut witnessed))
    })?;
    Some((similarity, shared))
}

/// The verdict on a pair of which one text is only a headline (an item
/// without a body, or whose body is its headline sentence): a copy when
/// the other text opens with that headline (the lede test of
/// [`verify_pair`], the aligned region beginning within `OPENING_TOKENS`
/// of the other's start, at least `WRAPPED_LEDE_TOKENS` tokens: a
/// sentence, not a two-word title) and the facts agree where they align.
/// A headline the other text merely mentions further on, or shares a few
/// words with, is not its lede.
pub fn verify_title_lede(a: &Prepared, b: &Prepared, cfg: &DedupConfig) -> Option<(f64, usize)> {
    let a_is_short = a.tokens <= b.tokens;
    let (short, long) = if a_is_short { (a, b) } else { (b, a) };
    if short.tokens < WRAPPED_LEDE_TOKENS.max(cfg.min_tokens) || !is_lede_of(short, long, cfg) {
        return None;
    }
    let alignment = Alignment::new(a, b);
    let core = alignment.core()?;
    let long_start = if a_is_short {
        core.b.start
    } else {
        core.a.start
    };
    if long_start > OPENING_TOKENS || !facts_agree(&alignment, a, b, cfg) {
        return None;
    }
    let s = scores(&a.shingles, &b.shingles);
    Some((
        s.containment,
        (s.containment * s.smaller as f64).round() as usize,
    ))
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

/// Words an agency or outlet puts before a headline it re-issues.
const REISSUE_WORDS: &[&str] = &[
    "update",
    "updated",
    "updates",
    "refile",
    "refiled",
    "corrected",
    "correction",
    "corrects",
    "breaking",
    "exclusive",
    "urgent",
    "flash",
    "wrapup",
];

/// The canonical tokens of a headline without the marks of a re-issue
/// ("UPDATE 1-", "REFILE-", "CORRECTED-").
fn headline_tokens(title: &str) -> Vec<u64> {
    // "… | The Star": the outlet's name after the headline.
    let title = title.rsplit_once(" | ").map_or(title, |(head, _)| head);
    static REISSUE: LazyLock<Vec<u64>> = LazyLock::new(|| {
        REISSUE_WORDS
            .iter()
            .map(|w| fingerprint::token_hash(w))
            .collect()
    });
    let tokens: Vec<_> = canonical_tokens(title).collect();
    let mut start = 0;
    while let Some(t) = tokens.get(start) {
        if !REISSUE.contains(&t.hash) {
            break;
        }
        start += 1;
        // "UPDATE 1": the word, then perhaps its number; only one, for a
        // headline may begin with a number of its own ("UPDATE 1-2
        // officers injured …").
        if tokens.get(start).is_some_and(|t| t.number) {
            start += 1;
        }
    }
    tokens[start..].iter().map(|t| t.hash).collect()
}

/// The same headline, but for the marks of a re-issue (what an agency's
/// own "UPDATE 1" of a story keeps) and an outlet's name after a `|`.
pub fn same_headline(a: &str, b: &str) -> bool {
    headline_tokens(a) == headline_tokens(b)
}

/// Words an outlet's name may have when it signs a headline ("… - The
/// Daily Tribune", "… - EasternMonitor.com").
const OUTLET_NAME_TOKENS: usize = 5;

/// Words an outlet's kicker before a headline may have ("Explained:",
/// "WATCH:", "World News:").
const KICKER_TOKENS: usize = 2;

/// One headline is the other signed with an outlet's name after a dash
/// ("Vaisselle en bambou : attention danger ! - EasternMonitor.com") or
/// under an outlet's kicker before a colon ("Explained: …", "WATCH: …"):
/// the same headline, as another outlet prints it.
pub fn same_headline_signed(a: &str, b: &str) -> bool {
    let same = |head: &str, short: &str| {
        let head = headline_tokens(head);
        !head.is_empty() && head == headline_tokens(short)
    };
    let signed = |long: &str, short: &str| {
        long.rsplit_once(" - ").is_some_and(|(head, name)| {
            canonical_tokens(name).count() <= OUTLET_NAME_TOKENS && same(head, short)
        }) || long.split_once(": ").is_some_and(|(kicker, head)| {
            canonical_tokens(kicker).count() <= KICKER_TOKENS && same(head, short)
        })
    };
    signed(a, b) || signed(b, a)
}

/// Two headlines that are the same words with different numbers or dates
/// ("Microcast 06-01-2009 AM" and "Microcast 06-02-2009 AM", two days'
/// market reports): the marks of a series, whose items are different
/// stories even when their bodies are the series' repeated text.
pub fn headlines_differ_in_numbers(a: &str, b: &str) -> bool {
    let has_digit = |t: &str| t.bytes().any(|c| c.is_ascii_digit());
    if !has_digit(a) || !has_digit(b) {
        return false;
    }
    let prep = |t: &str| Prepared::from_text(t, Vec::new());
    let (pa, pb) = (prep(a), prep(b));
    if pa.hashes == pb.hashes || pa.tokens.min(pb.tokens) == 0 {
        return false;
    }
    let shared = intersection(&sorted(&pa.hashes), &sorted(&pb.hashes));
    2 * shared >= pa.tokens.min(pb.tokens) && disagreement(&pa, &pb, 1).numbers > 0
}

fn sorted(hashes: &[u64]) -> Vec<u64> {
    let mut v = hashes.to_vec();
    v.sort_unstable();
    v.dedup();
    v
}

/// The fewest words of a headline [`headline_opens`] reads as a text's
/// opening.
const HEADLINE_OPENING_TOKENS: usize = 6;

/// Is `title` the opening words of `text` (a headline an outlet made of
/// its lede's first words)? Then the headline says which sentence the item
/// is about, as a headline like the other item's would.
pub fn headline_opens(title: &str, text: &Prepared) -> bool {
    let mut n = 0;
    for (word, &token) in
        canonical_tokens(title).zip(text.hashes.iter().chain(std::iter::repeat(&0)))
    {
        if word.hash != token {
            return false;
        }
        n += 1;
    }
    n >= HEADLINE_OPENING_TOKENS
}

/// Bodies longer than this are taken to be about their headline: a
/// registration wall or a show's standing blurb is short.
const SHORT_BODY_TOKENS: usize = 150;

/// Is a short body about its headline? Not when the headline has at least
/// three words of four letters or more and the body holds none of them
/// (nor a word sharing their first five letters, for inflection): then the
/// body is a wall, a consent notice or a blurb that the outlet repeats
/// under every headline, and the item is compared on its headline alone.
pub fn body_is_about_headline(title: &str, text: &str, tokens: usize) -> bool {
    if tokens > SHORT_BODY_TOKENS || text == title {
        return true;
    }
    let words: Vec<&str> = super::normalize::tokens_of(title)
        .filter(|t| !t.number && t.text.chars().count() >= 4)
        .map(|t| t.text)
        .collect();
    if words.len() < 3 {
        return true;
    }
    words.iter().any(|w| {
        let stem_end = w.char_indices().nth(5).map_or(w.len(), |(i, _)| i);
        text.contains(&w[..stem_end])
    })
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
    use crate::analyze;

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

    const TALKS: &str = "Russian and US officials met in Istanbul on Thursday for six hours of talks on the work of their embassies. \
        The delegations discussed visas, property and the staffing of missions, the Russian foreign ministry said on Friday. \
        Washington expelled dozens of Russian diplomats in 2016 and 2018. \
        Both sides agreed to meet again in Moscow within weeks, a diplomat told reporters.";

    #[test]
    fn text_only_one_side_has_does_not_veto() {
        let cfg = DedupConfig::default();
        let original = prep(TALKS);
        // A house style nobody described: place, region, desk, date, then
        // a byline; a middle sentence dropped; a caption and a trailer added.
        let sentences: Vec<&str> = TALKS.split(". ").collect();
        let copy = prep(&format!(
            "Lahore [Punjab] (Newsdesk Wire): Published 28.02.2025 09:14 PKT\nBy Staff Reporter Ahmed Khan\n{}. {}.\nIn pictures: Sergei Lavrov in Riyadh on February 18. (File photo)\n{}\n(With inputs from agencies)",
            sentences[0], sentences[1], sentences[3]
        ));
        assert!(verify(&original, &copy, &cfg).is_some());
        assert!(verify(&copy, &original, &cfg).is_some());
    }

    #[test]
    fn a_passage_two_reports_share_is_not_a_cut() {
        let cfg = DedupConfig::default();
        // One outlet quotes three sentences of another's report, each with
        // an opening and an ending of its own: two texts of one length,
        // aligned only in their middles.
        let shared = "The central bank raised its main rate by half a point to a level not seen since the crisis. \
            Officials said inflation had stayed above target for two years and that wages were rising fast. \
            Markets had expected a smaller move, and the currency gained against the dollar after the announcement.";
        let a = prep(&format!(
            "Households in the capital were already struggling with rent before the decision, \
            according to a survey published by a housing charity last week. {shared} \
            Builders warned that new projects would be delayed, and estate agents expect fewer sales over the summer months."
        ));
        let b = prep(&format!(
            "Exporters have welcomed a stronger currency less than importers of fuel and grain, \
            whose costs fell sharply during the winter, trade groups said on Monday. {shared} \
            Farmers said loans for seed and fertiliser would cost more this spring, and several cooperatives asked for help."
        ));
        let s = scores(&a.shingles, &b.shingles);
        assert!(
            s.jaccard < cfg.jaccard_min && s.containment < cfg.containment_min,
            "{s:?}"
        );
        let core = Alignment::new(&a, &b).core().expect("aligned");
        assert!(
            core.a.start <= EDGE_TOKENS && core.b.start <= EDGE_TOKENS,
            "{core:?}"
        );
        assert_eq!(verify(&a, &b, &cfg), None);
        assert_eq!(verify(&b, &a, &cfg), None);
    }

    #[test]
    fn a_wrapped_lede_aligns_at_the_other_text_s_opening() {
        let cfg = DedupConfig::default();
        // The story's later sentences, shortened into a highlights box
        // before the lede, outweigh the lede in a longest-common-subsequence
        // diff: aligned on them, the region begins at neither text's start.
        let story = prep(TALKS);
        let wrapped = prep(
            "At a glance: the delegations discussed visas, property and the staffing of missions.              Both sides agreed to meet again in Moscow within weeks.
             Istanbul, 27.02.2025 (Newsdesk): Russian and US officials met in Istanbul on Thursday.",
        );
        let core = Alignment::new(&wrapped, &story).core().expect("aligned");
        assert_eq!(core.b.start, 0, "{core:?}");
        assert_eq!(
            &wrapped.hashes[core.a.start..core.a.start + 3],
            &story.hashes[..3]
        );
        let core = Alignment::new(&story, &wrapped).core().expect("aligned");
        assert_eq!(core.a.start, 0, "{core:?}");
        // Under headlines that agree, it is the story's lede.
        assert!(verify_pair(&wrapped, &story, &cfg, || true).is_some());
        assert!(verify_pair(&story, &wrapped, &cfg, || true).is_some());
    }

    #[test]
    fn a_lede_after_a_box_of_the_story_s_later_sentences_is_aligned() {
        let cfg = DedupConfig::default();
        // A highlights box of the story's second and third sentences, then
        // a byline, a caption and a dateline before the lede. The box
        // outweighs the lede in the diff, which pairs it with the story's
        // middle: the region begins at the copy's start but not at the
        // story's, and the lede after the box lies outside it.
        let story = prep(&format!(
            "{TALKS} The Russian side proposed a third round in the spring. \
             The State Department declined to comment on the talks on Friday. \
             Relations between the two countries have been at their lowest since the Cold War."
        ));
        let wrapped = prep(
            "Highlights\n\
             • The delegations discussed visas, property and the staffing of missions\n\
             • Washington expelled dozens of Russian diplomats in 2016 and 2018\n\
             BY JOHN WANG\n\
             File photo: Sergei Lavrov speaks in Riyadh on Tuesday. (Reuters)\n\
             ISTANBUL (Newsdesk) - Russian and US officials met in Istanbul on Thursday for six hours of talks on the work of their embassies.",
        );
        let primary = Alignment::new(&wrapped, &story);
        assert!(
            primary.wrapped_lede(&wrapped, &story, false).is_none()
                && primary
                    .cut_core(&wrapped, &story, cfg.containment_min_shingles)
                    .is_none(),
            "the diff pairs the box: {:?}",
            primary.core()
        );
        // Anchored at the story's opening, it is the story's lede (under
        // headlines that agree, as any wrapped lede).
        assert!(verify_pair(&wrapped, &story, &cfg, || true).is_some());
        assert!(verify_pair(&story, &wrapped, &cfg, || true).is_some());
        assert_eq!(verify_pair(&wrapped, &story, &cfg, || false), None);
    }

    #[test]
    fn what_a_cut_inserts_between_its_paragraphs_is_its_own() {
        let cfg = DedupConfig::default();
        const P2: &str = "Russia's ambassador said the talks had been useful but that much remained to be done before the embassies could work normally again.";
        const P3: &str = "The United States has cut its staff in Moscow to a minimum since 2021, when Russia barred the embassy from hiring local employees.";
        let story = prep(&format!(
            "{TALKS}\n{P2}\n{P3}\n\
             Analysts said a deal on embassy property could come before the summer, though neither side has set a date for the next round.\n\
             The European Union said it was following the talks closely and would not change its own sanctions before a peace agreement.\n\
             Ukraine's foreign minister warned Washington against any step that would ease pressure on Moscow while the fighting continued."
        ));
        // A summary feed's cut of the first three paragraphs with a
        // cross-link between each two, the linked headlines long: as long
        // as a cut may be, and sharing less than a copy would.
        let cut = prep(&format!(
            "By Jane Doe\n{TALKS}\n\
             ALSO READ | Farmers across the region say the spring floods destroyed most of the early harvest and ask for emergency loans\n\
             {P2}\n\
             ALSO READ | Central bank keeps its main rate unchanged for a third month as inflation slows less than economists had expected\n\
             {P3}"
        ));
        let s = scores(&cut.shingles, &story.shingles);
        assert!(
            s.jaccard < cfg.jaccard_min
                && s.containment < cfg.containment_min
                && 5 * cut.tokens > 4 * story.tokens,
            "neither a copy by its shingles nor a cut by its length: {s:?}, {} / {}",
            cut.tokens,
            story.tokens
        );
        assert!(verify(&cut, &story, &cfg).is_some());
        assert!(verify(&story, &cut, &cfg).is_some());
        let alignment = Alignment::new(&cut, &story);
        let (own_cut, own_story) = alignment.own_stretches();
        assert!(own_cut > 2 * MAX_EDIT_TOKENS && own_story == 0);
    }

    #[test]
    fn restyled_numbers_are_the_same_numbers() {
        let cfg = DedupConfig::default();
        let a = prep("The government approved a Rs1.5bn package on Feb. 27 for 12,500 flood-hit families, a 5% rise on last year, the finance ministry said in a statement.");
        let b = prep("The government approved a Rs 1.5 billion package on February 27 for 12500 flood-hit families, a 5 per cent rise on last year, the finance ministry said in a statement.");
        assert!(verify(&a, &b, &cfg).is_some());
        let c = prep("The government approved a Rs 1.5 billion package on February 27 for 12800 flood-hit families, a 5 per cent rise on last year, the finance ministry said in a statement.");
        assert_eq!(
            verify(&a, &c, &cfg),
            None,
            "a different count is another report"
        );
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
    fn a_reissue_mark_takes_one_number_with_it() {
        // Headlines as analysed (normalised, lower case): the agency's
        // update of a headline that begins with a number.
        assert!(same_headline(
            "update 1-2 officers injured when police suv rolls over",
            "2 officers injured when police suv rolls over"
        ));
        assert!(same_headline(
            "update 2-187 titel im rennen",
            "update 1-187 titel im rennen"
        ));
        // Two updates of two days' reports are two headlines.
        assert!(!same_headline(
            "update 1-3 killed in blast",
            "update 1-5 killed in blast"
        ));
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
