//! Store benchmark: fills a database through the real ingest path
//! (`Store::record`, with dedup and the full-text index), then measures the
//! CLI's listings on it, the search index's size and build time, and a prune.
//!
//! Run: `cargo bench --bench store` (1,000,000 entries; set
//! `FEEDFOLD_BENCH_ENTRIES` for another size). Results go to BENCHMARKS.md.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use feedfold::config::FeedConfig;
use feedfold::fetch::{Exchange, Validators};
use feedfold::parse::{ParsedEntry, ParsedFeed};
use feedfold::store::{
    FeedId, FeedOutcome, FeedUpdate, RetentionPolicy, SearchQuery, Store, StoryId,
};

const FEEDS: usize = 200;
const PER_UPDATE: usize = 500;
const WORDS: &[&str] = &[
    "minister", "talks", "embassy", "border", "trade", "flood", "budget", "election", "court",
    "market", "energy", "port", "army", "rain", "cricket", "exports", "bank", "oil", "grain",
    "summit", "police", "hospital", "school", "strike", "weather", "rupee", "dollar", "china",
    "india", "iran", "gulf", "kabul", "geneva", "reform", "tariff", "vote", "senate", "protest",
];

/// A small deterministic generator (splitmix64), enough for synthetic text.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Synthetic words with a skewed (roughly Zipfian) frequency, like news
/// text: a few very common words, a long tail of rare ones. One word in ten
/// comes from the short list of news words above.
fn word(rng: &mut Rng) -> String {
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

fn story_text(story: u64) -> (String, String) {
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

fn main() {
    let entries: usize = std::env::var("FEEDFOLD_BENCH_ENTRIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bench.db");
    let mut store = Store::open(&path).expect("open");
    let feeds: Vec<FeedConfig> = (0..FEEDS)
        .map(|i| FeedConfig {
            url: format!("https://outlet{i}.example/rss"),
            title: None,
            interval: None,
        })
        .collect();
    store.sync_feeds(&feeds, Utc::now()).expect("feeds");

    // Ingest: wire story s has 1–4 copies in different feeds, published
    // over the last 170 days, oldest first.
    let start = Utc::now() - TimeDelta::days(170);
    let span = TimeDelta::days(170).num_seconds();
    let mut buffers: Vec<Vec<ParsedEntry>> = vec![Vec::new(); FEEDS];
    let stories_needed = (entries as f64 / 2.5) as u64 + 1;
    let started = Instant::now();
    let mut stored = 0usize;
    let mut generated = 0usize;
    let mut story = 0u64;
    while generated < entries {
        let (title, body) = story_text(story);
        let copies = 1 + (story % 4) as usize;
        let published = start + TimeDelta::seconds(span * story as i64 / stories_needed as i64);
        for k in 0..copies {
            generated += 1;
            let feed = (story as usize * 7 + k * 37) % FEEDS;
            buffers[feed].push(ParsedEntry {
                identity: format!("guid:{story}-{k}"),
                guid: Some(format!("{story}-{k}")),
                url: Some(format!("https://outlet{feed}.example/{story}")),
                title: Some(title.clone()),
                summary: Some(body.clone()),
                published: Some(published + TimeDelta::minutes(5 * k as i64)),
                ..Default::default()
            });
            if buffers[feed].len() == PER_UPDATE {
                stored += flush(&mut store, feed, &mut buffers[feed]);
            }
        }
        story += 1;
    }
    for (feed, buffer) in buffers.iter_mut().enumerate() {
        stored += flush(&mut store, feed, buffer);
    }
    let ingest = started.elapsed();
    store.checkpoint().expect("checkpoint");
    println!(
        "ingest: {stored} entries ({story} wire stories) in {:.1} s = {:.0} entries/s (dedup + FTS, {PER_UPDATE} per transaction)",
        ingest.as_secs_f64(),
        stored as f64 / ingest.as_secs_f64()
    );
    report_sizes(&path);

    // The listings.
    let newest = time_many(2_000, |_| {
        let rows = store.stories(None, 50).expect("stories");
        assert_eq!(rows.len(), 50);
    });
    println!(
        "newest 50 stories (`feedfold stories`): {}",
        summary(&newest)
    );
    let max_story: i64 = store.stories(None, 1).expect("stories")[0].story_id;
    let mut rng = Rng(7);
    let lineage = time_many(2_000, |_| {
        let id = 1 + rng.below(max_story as usize) as i64;
        let _ = store.story(StoryId(id)).expect("story");
    });
    println!(
        "one story + lineage (`feedfold story ID`): {}",
        summary(&lineage)
    );
    let since = time_many(200, |_| {
        let _ = store
            .stories(Some(Utc::now() - TimeDelta::days(1)), 50)
            .expect("stories");
    });
    println!("stories --since 24h --limit 50: {}", summary(&since));
    for q in [
        "embassy talks",
        "cricket exports budget",
        "\"grain summit\"",
    ] {
        let query = SearchQuery::Words(q.to_string());
        let mut hits = 0;
        let search = time_many(20, |_| {
            hits = store.search(&query, None, 20).expect("search").len();
        });
        println!(
            "search {q:?} (top 20 of all matches, {hits} shown): {}",
            summary(&search)
        );
    }

    // Full-text index build time.
    let t = Instant::now();
    let n = store.rebuild_search_index().expect("rebuild");
    let rebuild = t.elapsed();
    println!(
        "FTS rebuild: {n} entries in {:.1} s = {:.0} entries/s (HTML to text + FTS5 insert)",
        rebuild.as_secs_f64(),
        n as f64 / rebuild.as_secs_f64()
    );

    // Prune a quarter of every feed's entries (cap), then free the pages.
    let cap = (stored / FEEDS) as u64 * 3 / 4;
    let policy = RetentionPolicy::new(180, Some(cap));
    let t = Instant::now();
    let mut pruned = 0;
    let mut batches = 0;
    let mut slowest = Duration::ZERO;
    loop {
        let b = Instant::now();
        let r = store.prune_step(&policy, Utc::now()).expect("prune");
        slowest = slowest.max(b.elapsed());
        batches += 1;
        pruned += r.entries;
        if r.entries == 0 {
            break;
        }
    }
    let prune = t.elapsed();
    println!(
        "prune (max_entries_per_feed = {cap}): {pruned} entries in {:.1} s = {:.0} entries/s; {batches} batches, slowest {:.0} ms",
        prune.as_secs_f64(),
        pruned as f64 / prune.as_secs_f64(),
        slowest.as_secs_f64() * 1e3
    );
    let t = Instant::now();
    let mut freed = 0;
    loop {
        let f = store.vacuum_step(1024).expect("vacuum");
        freed += f;
        if f == 0 {
            break;
        }
    }
    println!(
        "incremental vacuum: {freed} pages ({:.0} MB) in {:.1} s",
        freed as f64 * 4096.0 / 1e6,
        t.elapsed().as_secs_f64()
    );
    store.checkpoint().expect("checkpoint");
    report_sizes(&path);
}

fn flush(store: &mut Store, feed: usize, buffer: &mut Vec<ParsedEntry>) -> usize {
    if buffer.is_empty() {
        return 0;
    }
    let entries = std::mem::take(buffer);
    let n = entries.len();
    let now = Utc::now();
    store
        .record(FeedUpdate {
            feed: FeedId(feed as i64 + 1),
            fetched_at: now,
            exchange: Exchange::default(),
            next_due: now,
            outcome: FeedOutcome::Parsed {
                feed: ParsedFeed {
                    title: Some(format!("Outlet {feed}")),
                    site_url: None,
                    entries,
                },
                validators: Validators::default(),
            },
        })
        .expect("record");
    n
}

fn report_sizes(path: &Path) {
    let conn = rusqlite::Connection::open(path).expect("open");
    let total: i64 = conn
        .query_row("SELECT SUM(pgsize) FROM dbstat", [], |r| r.get(0))
        .expect("dbstat");
    let fts: i64 = conn
        .query_row(
            "SELECT SUM(pgsize) FROM dbstat WHERE name LIKE 'entry_search%'",
            [],
            |r| r.get(0),
        )
        .expect("dbstat");
    let file = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    println!(
        "size: file {:.0} MB, pages in use {:.0} MB, of which the FTS index {:.0} MB ({:.0} %)",
        file as f64 / 1e6,
        total as f64 / 1e6,
        fts as f64 / 1e6,
        100.0 * fts as f64 / total as f64
    );
}

fn time_many(n: usize, mut f: impl FnMut(usize)) -> Vec<Duration> {
    let mut times: Vec<Duration> = (0..n)
        .map(|i| {
            let t = Instant::now();
            f(i);
            t.elapsed()
        })
        .collect();
    times.sort();
    times
}

fn summary(sorted: &[Duration]) -> String {
    let pct = |p: f64| sorted[((sorted.len() - 1) as f64 * p) as usize];
    format!(
        "median {:.0} µs, p99 {:.0} µs ({} runs)",
        pct(0.5).as_secs_f64() * 1e6,
        pct(0.99).as_secs_f64() * 1e6,
        sorted.len()
    )
}
