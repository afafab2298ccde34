//! Synthetic news text shared by the store benchmarks: deterministic, with
//! a skewed vocabulary like real news, and no shared data needed; and the
//! feed update both benchmarks write through `Store::record`.

use chrono::Utc;
use feedfold::fetch::Exchange;
use feedfold::parse::{ParsedEntry, ParsedFeed};
use feedfold::store::{FeedId, FeedOutcome, FeedUpdate, Prepared};

/// A successful poll of synthetic outlet `feed` (0-based) carrying `entries`,
/// with the analyses a poller computed for them (by position; empty: the
/// writer analyses them).
pub fn outlet_update(
    feed: usize,
    entries: Vec<ParsedEntry>,
    analyses: Vec<Option<feedfold::dedup::Analysis>>,
) -> FeedUpdate {
    let now = Utc::now();
    let analyses = entries
        .iter()
        .zip(analyses.into_iter().chain(std::iter::repeat_with(|| None)))
        .map(|(e, a)| a.map(|a| Prepared::new(e, a)))
        .collect();
    FeedUpdate {
        feed: FeedId(feed as i64 + 1),
        fetched_at: now,
        exchange: Exchange::default(),
        next_due: now,
        fetch: Default::default(),
        outcome: FeedOutcome::Parsed {
            feed: ParsedFeed {
                title: Some(format!("Outlet {feed}")),
                entries,
                ..Default::default()
            },
            validators: Default::default(),
            analyses,
        },
    }
}

pub const WORDS: &[&str] = &[
    "minister", "talks", "embassy", "border", "trade", "flood", "budget", "election", "court",
    "market", "energy", "port", "army", "rain", "cricket", "exports", "bank", "oil", "grain",
    "summit", "police", "hospital", "school", "strike", "weather", "rupee", "dollar", "china",
    "india", "iran", "gulf", "kabul", "geneva", "reform", "tariff", "vote", "senate", "protest",
];

/// A small deterministic generator (splitmix64), enough for synthetic text.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Synthetic words with a skewed (roughly Zipfian) frequency, like news
/// text: a few very common words, a long tail of rare ones. One word in ten
/// comes from the short list of news words above.
pub fn word(rng: &mut Rng) -> String {
    if rng.below(10) == 0 {
        return WORDS[rng.below(WORDS.len())].to_string();
    }
    const SYLLABLES: &[&str] = &[
        "ka", "ri", "to", "ma", "ne", "su", "lo", "pa", "di", "ve", "ko", "ra", "mi", "te", "zu",
        "ba", "lu", "se", "no", "gi",
    ];
    let spread = rng.below(30_000) + 1;
    let rank = rng.below(spread);
    let mut n = rank + 20;
    let mut w = String::new();
    while n > 0 {
        w.push_str(SYLLABLES[n % SYLLABLES.len()]);
        n /= SYLLABLES.len();
    }
    w
}

pub fn story_text(story: u64) -> (String, String) {
    let mut rng = Rng(story);
    let mut words =
        |n: usize| -> String { (0..n).map(|_| word(&mut rng)).collect::<Vec<_>>().join(" ") };
    let title = format!("{} {story}", words(7));
    let body = format!(
        "<p>ISLAMABAD (AFP) - {} {story}.</p><p>{}.</p><p>{}.</p>",
        words(30),
        words(25),
        words(20)
    );
    (title, body)
}
