//! Step 1c: feed boilerplate, known (a fixed table of patterns) and learned
//! (per feed, from sentences that recur across its items).
//!
//! Boilerplate differs between outlets carrying one story ("The post …
//! appeared first on …", share links, newsletter and paywall lines) and is
//! shared between unrelated items of one outlet: left in, it both hides
//! copies and merges different stories.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// Paragraphs that are boilerplate as a whole. Only paragraphs shorter than
/// [`MAX_BOILERPLATE_PARAGRAPH`] are tested, so that an article that merely
/// starts with "Subscribe…" is not dropped.
static WHOLE_PARAGRAPH: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?ix)^\s*(?:
        the\s+post(?-u:\b).*(?-u:\b)appeared\s+first\s+on(?-u:\b).*
        | (?:read\s+more|continue\s+reading|read\s+the\s+full\s+(?:story|article)|full\s+story)(?-u:\b).{0,60}
        | click\s+here(?-u:\b).*
        | (?:share|tweet|email|e-mail|print|whatsapp|facebook|twitter|x|linkedin|pinterest|reddit|telegram|copy\s+link|comments?)
          (?:\s*[|/·•,:]?\s*(?:share|tweet|email|e-mail|print|whatsapp|facebook|twitter|x|linkedin|pinterest|reddit|telegram|copy\s+link|this|on|via|article|story|comments?))*\s*[.:]?
        | share\s+(?:this|on|via)(?-u:\b).*
        | (?:subscribe|sign\s+up|register)(?-u:\b).*
        | .*(?-u:\b)newsletters?(?-u:\b).*(?-u:\b)(?:sign\s+up|subscribe|inbox|delivered)(?-u:\b).*
        | .*(?-u:\b)(?:sign\s+up|subscribe)(?-u:\b).*(?-u:\b)newsletters?(?-u:\b).*
        | follow\s+.{1,60}?\s+on\s+(?:twitter|facebook|x|instagram|telegram|whatsapp|google\s+news|linkedin|threads|youtube)(?-u:\b).*
        | (?:copyright|©|\(c\)).{0,80}(?-u:\b)all\s+rights\s+reserved(?-u:\b).*
        | (?:copyright|©|\(c\))\s+.{0,60}\d{4}\s*\.?
        | download\s+(?:our|the)(?-u:\b).*(?-u:\b)app(?-u:\b).*
        | all\s+rights\s+reserved(?-u:\b).*
        | (?:advertisement|sponsored(?:\s+content)?|related(?:\s+(?:articles|stories|news))?)
        | (?:related(?:\s+(?:articles|stories|news))?|also\s+read|see\s+also)\s*:.{0,120}
        | .*(?-u:\b)(?:already\s+a\s+subscriber|to\s+continue\s+reading|subscribe\s+to\s+(?:read|continue)|subscribers?\s+only|for\s+subscribers|premium\s+content|log\s*in\s+to\s+(?:read|continue)|unlimited\s+(?:digital\s+)?access|paywall)(?-u:\b).*
        )\s*$",
    )
});

/// Boilerplate at the end of a paragraph that also holds text: "Read
/// more »", "Continue reading →" and truncation markers such as "[…]".
/// Every alternative ends the paragraph, so [`trailing_start`] runs it only on
/// paragraphs whose last character could end one.
static TRAILING_MARKER: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)(?:\s*\[?\s*(?:read\s+more|continue\s+reading|read\s+full\s+(?:story|article))\s*(?:»|›|→|>>|\.\.\.|…)?\s*\]?\s*$|\s*\[?\s*more\s*(?:»|›|→|>>|\.\.\.|…)\s*\]?\s*$|\s*\[\s*(?:…|\.\.\.)\s*\]\s*$|\s*(?:…|\.\.\.)\s*$)",
    )
});

/// WordPress' "The post … appeared first on …" ending a paragraph. Kept
/// apart from [`TRAILING_MARKER`]: its bounded `.{1,300}` makes a large
/// automaton, and running it on every paragraph was a tenth of analysis
/// time and megabytes of lazy-DFA cache per thread. [`APPEARED`] gates it.
static APPEARED_FIRST_ON: LazyLock<Regex> =
    LazyLock::new(|| compile(r"(?i)\s*the\s+post\s+.{1,300}?\s+appeared\s+first\s+on\s+.{1,200}$"));

/// Cheap test for [`APPEARED_FIRST_ON`]: a small automaton, no counted repetition.
static APPEARED: LazyLock<Regex> = LazyLock::new(|| compile(r"(?i)appeared\s+first\s+on"));

/// Where trailing boilerplate starts in `p`, if it ends with some: the
/// leftmost start over both patterns, as one alternation would give.
fn trailing_start(p: &str) -> Option<usize> {
    let last = p.trim_end().chars().next_back()?;
    let marker = matches!(
        last,
        '.' | '…' | ']' | '»' | '›' | '→' | '>' | 'e' | 'E' | 'g' | 'G' | 'y' | 'Y'
    )
    .then(|| TRAILING_MARKER.find(p).map(|m| m.start()))
    .flatten();
    let post = APPEARED
        .is_match(p)
        .then(|| APPEARED_FIRST_ON.find(p).map(|m| m.start()))
        .flatten();
    marker.into_iter().chain(post).min()
}

/// Longest paragraph tested as whole-paragraph boilerplate, in bytes.
const MAX_BOILERPLATE_PARAGRAPH: usize = 300;

fn compile(pattern: &str) -> Regex {
    // Constant patterns checked by the unit tests: failure is a programming error.
    Regex::new(pattern).unwrap_or_else(|e| panic!("boilerplate pattern does not compile: {e}"))
}

/// Removes known boilerplate from folded paragraphs: whole boilerplate
/// paragraphs are dropped, trailing markers cut off.
pub fn strip_known(paragraphs: &mut Vec<String>) {
    paragraphs.retain_mut(|p| {
        if p.len() <= MAX_BOILERPLATE_PARAGRAPH && WHOLE_PARAGRAPH.is_match(p) {
            return false;
        }
        // Loop: "Text… Read more »" carries two markers.
        while let Some(start) = trailing_start(p) {
            if start == 0 {
                return false;
            }
            p.truncate(start);
        }
        !p.trim().is_empty()
    });
}

/// Default number of items of one feed a sentence must appear in before it
/// is treated as that feed's boilerplate.
pub const DEFAULT_MIN_ITEMS: u32 = 4;

/// Most sentences a model remembers: bounds memory and the persisted size.
/// The store rewrites a feed's model with every poll that brings new items,
/// so its size is a per-poll cost: at 4,096 sentences (~100 KB of JSON) it
/// was most of the cost of writing a single new item. Boilerplate recurs in
/// most items, reaching `min_items` long before a prune (every ~64 items)
/// can drop it.
const MAX_ENTRIES: usize = 1024;

/// How many sentences at each end of an item are boilerplate candidates:
/// outlets put their boilerplate in headers and footers, and restricting
/// learning to those positions keeps updates of one story (which repeat
/// whole paragraphs in the middle) from being learned as boilerplate.
pub const HEAD_SENTENCES: usize = 1;
/// See [`HEAD_SENTENCES`].
pub const TAIL_SENTENCES: usize = 3;

/// Per-feed boilerplate learned from the items of one feed: sentences
/// (normalised, hashed) seen at the head or tail of at least `min_items`
/// items. The store keeps one per feed, feeds it every new item with
/// [`BoilerplateModel::observe`] and persists it with
/// [`BoilerplateModel::to_json`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoilerplateModel {
    /// Items a sentence must appear in to count as boilerplate.
    #[serde(default = "default_min_items")]
    min_items: u32,
    /// Items observed so far.
    #[serde(default)]
    items: u64,
    /// Sentence hash → number of items it appeared in (sorted by hash when
    /// serialised, so equal models serialise identically).
    #[serde(default, with = "sorted_map")]
    counts: HashMap<u64, u32>,
}

fn default_min_items() -> u32 {
    DEFAULT_MIN_ITEMS
}

impl Default for BoilerplateModel {
    fn default() -> Self {
        Self::new(DEFAULT_MIN_ITEMS)
    }
}

impl BoilerplateModel {
    /// An empty model that treats sentences seen in `min_items` items as boilerplate.
    pub fn new(min_items: u32) -> Self {
        BoilerplateModel {
            min_items: min_items.max(2),
            items: 0,
            counts: HashMap::new(),
        }
    }

    /// Learns from one item: `keys` are its [`crate::Analysis::boilerplate_keys`].
    /// Call once per new entry (not per poll), or repeats inflate the counts.
    pub fn observe(&mut self, keys: &[u64]) {
        self.items += 1;
        let mut seen: Vec<u64> = keys.to_vec();
        seen.sort_unstable();
        seen.dedup();
        for k in seen {
            *self.counts.entry(k).or_insert(0) += 1;
        }
        if self.counts.len() > MAX_ENTRIES {
            self.prune();
        }
    }

    /// Drops the rarest sentences until the model fits [`MAX_ENTRIES`] again
    /// (with room to spare, so pruning is rare). Learned boilerplate (the
    /// most frequent) survives.
    fn prune(&mut self) {
        let mut floor = 1;
        while self.counts.len() > MAX_ENTRIES * 3 / 4 {
            self.counts.retain(|_, c| *c > floor);
            floor += 1;
        }
    }

    /// True if the sentence with this key is this feed's boilerplate.
    pub fn is_boilerplate(&self, key: u64) -> bool {
        // max(2): a hand-edited or corrupt model with min_items 0 or 1 must
        // not strip every sentence it has seen once.
        self.counts
            .get(&key)
            .is_some_and(|&c| c >= self.min_items.max(2))
    }

    /// Number of sentences currently recognised as boilerplate.
    pub fn learned(&self) -> usize {
        self.counts
            .values()
            .filter(|&&c| c >= self.min_items)
            .count()
    }

    /// The model as JSON, for the store's per-feed column.
    pub fn to_json(&self) -> String {
        // Serialising plain maps and integers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a model persisted with [`BoilerplateModel::to_json`].
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }
}

/// (De)serialises the count map as a list of `[hash, count]` pairs sorted
/// by hash: JSON object keys would have to be strings.
mod sorted_map {
    use std::collections::HashMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(map: &HashMap<u64, u32>, s: S) -> Result<S::Ok, S::Error> {
        let mut pairs: Vec<(u64, u32)> = map.iter().map(|(&k, &v)| (k, v)).collect();
        pairs.sort_unstable();
        pairs.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<HashMap<u64, u32>, D::Error> {
        Ok(Vec::<(u64, u32)>::deserialize(d)?.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip(paragraphs: &[&str]) -> Vec<String> {
        let mut p: Vec<String> = paragraphs.iter().map(|s| s.to_string()).collect();
        strip_known(&mut p);
        p
    }

    #[test]
    fn known_boilerplate_goes() {
        assert_eq!(
            strip(&[
                "Officials met on Thursday.",
                "The post Russia, US hold talks appeared first on Daily Times.",
                "Read more",
                "Share on Facebook | Twitter | WhatsApp",
                "Sign up for our morning newsletter to get the news in your inbox.",
                "Subscribe to continue reading. Already a subscriber? Log in.",
                "Follow us on Twitter for the latest updates.",
                "Follow Khaleej Times on Twitter and Facebook for the latest updates.",
                "Copyright Yahoo News 2025. All rights reserved.",
            ]),
            ["Officials met on Thursday."]
        );
        assert_eq!(
            strip(&["Officials met on Thursday. Continue reading \u{2192}"]),
            ["Officials met on Thursday."]
        );
        assert_eq!(
            strip(&["Officials met on Thursday [\u{2026}] The post X appeared first on Y."]),
            ["Officials met on Thursday"]
        );
    }

    /// The two gated patterns find what the single alternation they
    /// replaced found, on every concatenation of pieces that start, end or
    /// imitate a trailing marker.
    #[test]
    fn split_trailing_patterns_match_the_alternation() {
        let old = compile(
            r"(?i)(?:\s*the\s+post\s+.{1,300}?\s+appeared\s+first\s+on\s+.{1,200}$|\s*\[?\s*(?:read\s+more|continue\s+reading|read\s+full\s+(?:story|article))\s*(?:»|›|→|>>|\.\.\.|…)?\s*\]?\s*$|\s*\[?\s*more\s*(?:»|›|→|>>|\.\.\.|…)\s*\]?\s*$|\s*\[\s*(?:…|\.\.\.)\s*\]\s*$|\s*(?:…|\.\.\.)\s*$)",
        );
        let pieces = [
            "Officials met on Thursday.",
            " The post Talks resume appeared first on Daily Times.",
            " the POST x APPEARED FIRST ON y",
            " appeared first on",
            " Read more",
            " READ FULL STORY »",
            " continue reading →",
            " [Read more...]",
            " more >>",
            " […]",
            " [...] ",
            "…",
            " ... ",
            " More",
            " story",
            " Ölüm\u{a0}",
            "]",
        ];
        for a in &pieces {
            for b in &pieces {
                for c in &pieces {
                    let p = format!("{a}{b}{c}");
                    assert_eq!(trailing_start(&p), old.find(&p).map(|m| m.start()), "{p:?}");
                }
            }
        }
    }

    #[test]
    fn articles_about_subscriptions_stay() {
        let long = "Subscribers to the streaming service rose 5% in the quarter, the company said on Tuesday, as price rises failed to deter viewers; analysts had expected a smaller gain after a year in which rivals cut prices, added cheaper tiers with advertising, and bundled sport, while the company spent heavily on new series and films for its global audience.";
        assert_eq!(strip(&[long]), [long]);
        assert_eq!(
            strip(&["More than 40 people died."]),
            ["More than 40 people died."]
        );
    }

    #[test]
    fn model_learns_after_min_items_and_round_trips() {
        let mut m = BoilerplateModel::new(3);
        m.observe(&[1, 2]);
        m.observe(&[1, 3, 3]);
        assert!(!m.is_boilerplate(1));
        m.observe(&[1, 4]);
        assert!(m.is_boilerplate(1) && !m.is_boilerplate(3));
        assert_eq!(m.learned(), 1);
        let json = m.to_json();
        assert_eq!(BoilerplateModel::from_json(&json).ok(), Some(m));
        assert!(BoilerplateModel::from_json("{\"bogus\":1}").is_err());
    }

    #[test]
    fn model_stays_bounded() {
        let mut m = BoilerplateModel::new(2);
        for i in 0..(MAX_ENTRIES as u64 * 2) {
            m.observe(&[i, u64::MAX]);
        }
        assert!(m.counts.len() <= MAX_ENTRIES);
        assert!(m.is_boilerplate(u64::MAX));
    }
}
