//! Folding cost against the size of the dedup window (issue 3).
//!
//! Fills a database through the real write path (`Store::record`) until the
//! 3-day window holds 10k, 100k and 1M stories, and at each size times
//! `PROBES` new items one by one, each through the whole path a polled item
//! takes: normalise + fingerprint (`dedup::analyze`), then candidate lookup
//! (exact fingerprint and LSH band index), verification and the write, as a
//! one-entry feed update in its own transaction. Half the probes are wire
//! copies of a random stored story (new headline, another agency's
//! dateline, a boilerplate footer); half are new stories.
//!
//! The fill computes analyses on every core and writes 500 entries per
//! transaction; only the probes are timed.
//!
//! Run: `cargo bench --bench fold` (about 25 minutes here for 1M).
//! `FEEDFOLD_BENCH_WINDOWS=10000,100000` picks other sizes.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use feedfold::config::FeedConfig;
use feedfold::dedup;
use feedfold::parse::ParsedEntry;
use feedfold::store::{IngestReport, Store};

mod common;
use common::{outlet_update, story_text, Rng};

const FEEDS: usize = 200;
const PER_UPDATE: usize = 500;
const PROBES: usize = 2_000;
/// Every fourth filled story is also carried by a second outlet.
const COPY_EVERY: u64 = 4;

fn main() {
    let sizes: Vec<u64> = std::env::var("FEEDFOLD_BENCH_WINDOWS")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000, 1_000_000]);
    let Some(&largest) = sizes.iter().max() else {
        eprintln!("FEEDFOLD_BENCH_WINDOWS names no size");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fold.db");
    let mut store = open_with_feeds(&path);
    // Every filled story is published inside the last 60 hours, the probes
    // now: all of them are inside one 3-day window.
    let now = Utc::now();
    let clock = Clock {
        start: now - TimeDelta::hours(60),
        span: TimeDelta::hours(60),
        largest,
    };
    println!("fold bench: {PROBES} probes per size, half copies, window 3 days, {FEEDS} feeds");
    println!(
        "{:>9} {:>10} | {:>21} | {:>21} | {:>21} | folded copies / merged new",
        "stories", "entries", "whole item µs", "analyze µs", "lookup+verify+write µs"
    );
    println!(
        "{:>9} {:>10} | {:>10} {:>10} | {:>10} {:>10} | {:>10} {:>10} |",
        "", "", "median", "p99", "median", "p99", "median", "p99"
    );
    let mut filled = 0u64;
    let mut entries = 0u64;
    let mut probe_seq = 0u64;
    for size in sizes {
        let t = Instant::now();
        entries += fill(&mut store, &clock, filled, size);
        filled = filled.max(size);
        eprintln!(
            "filled to {filled} stories in {:.0} s",
            t.elapsed().as_secs_f64()
        );
        settle(&mut store, &path);
        let r = probe(&mut store, filled, now, &mut probe_seq);
        println!(
            "{:>9} {:>10} | {:>10.0} {:>10.0} | {:>10.0} {:>10.0} | {:>10.0} {:>10.0} | {}/{} / {}/{}",
            filled,
            entries,
            pct(&r.whole, 0.5),
            pct(&r.whole, 0.99),
            pct(&r.analyze, 0.5),
            pct(&r.analyze, 0.99),
            pct(&r.store, 0.5),
            pct(&r.store, 0.99),
            r.copies_folded,
            PROBES / 2,
            r.fresh_merged,
            PROBES / 2
        );
        entries += PROBES as u64;
    }
}

/// Lets the disk catch up with the fill before timing: checkpoints the WAL
/// and waits for the kernel to write the fill's pages. Without this the
/// first probes after a fill of a million entries queue behind gigabytes of
/// write-back, which measures the bulk load rather than the per-item cost
/// in a steady state.
fn settle(store: &mut Store, path: &Path) {
    store.checkpoint().expect("checkpoint");
    if let Ok(file) = std::fs::File::open(path) {
        let _ = file.sync_all();
    }
}

/// When filled story `s` was published.
struct Clock {
    start: DateTime<Utc>,
    span: TimeDelta,
    largest: u64,
}

impl Clock {
    fn published(&self, story: u64) -> DateTime<Utc> {
        let offset = self.span.num_seconds() * story as i64 / self.largest.max(1) as i64;
        self.start + TimeDelta::seconds(offset)
    }
}

fn open_with_feeds(path: &Path) -> Store {
    let mut store = Store::open(path).expect("open");
    let feeds: Vec<FeedConfig> = (0..FEEDS)
        .map(|i| FeedConfig {
            url: format!("https://outlet{i}.example/rss"),
            ..Default::default()
        })
        .collect();
    store.sync_feeds(&feeds, Utc::now()).expect("feeds");
    store
}

/// The original of wire story `story`, as its first outlet carries it.
fn original(story: u64, published: DateTime<Utc>, outlet: usize) -> ParsedEntry {
    let (title, body) = story_text(story);
    ParsedEntry {
        identity: format!("guid:{story}-{outlet}"),
        guid: Some(format!("{story}-{outlet}")),
        url: Some(format!("https://outlet{outlet}.example/{story}")),
        title: Some(title),
        summary: Some(body),
        published: Some(published),
        ..Default::default()
    }
}

/// Another outlet's copy: its own headline and dateline, a footer.
fn copy(story: u64, published: DateTime<Utc>, outlet: usize, tag: u64) -> ParsedEntry {
    let (title, body) = story_text(story);
    let body = body.replacen(
        "ISLAMABAD (AFP) - ",
        "Islamabad, (APP - UrduPoint / Pakistan Point News - 27th Feb, 2025) : ",
        1,
    );
    ParsedEntry {
        identity: format!("guid:copy-{story}-{outlet}-{tag}"),
        url: Some(format!("https://outlet{outlet}.example/copy/{story}/{tag}")),
        title: Some(format!("{} - report", title.to_uppercase())),
        summary: Some(format!(
            "{body}<p>The post {title} appeared first on Outlet {outlet}.</p>"
        )),
        published: Some(published + TimeDelta::minutes(20)),
        ..Default::default()
    }
}

/// Writes stories `from..to` (and every fourth one's copy) through
/// `Store::record`, analyses computed in parallel beforehand.
fn fill(store: &mut Store, clock: &Clock, from: u64, to: u64) -> u64 {
    const CHUNK: u64 = 20_000;
    let mut written = 0;
    let mut start = from;
    while start < to {
        let end = (start + CHUNK).min(to);
        let mut per_feed: Vec<Vec<ParsedEntry>> = vec![Vec::new(); FEEDS];
        for s in start..end {
            let published = clock.published(s);
            let outlet = s as usize % FEEDS;
            per_feed[outlet].push(original(s, published, outlet));
            if s % COPY_EVERY == 0 {
                let other = (outlet + 37) % FEEDS;
                per_feed[other].push(copy(s, published, other, 0));
            }
        }
        let analyses = analyse_all(&per_feed);
        for (feed, (entries, analyses)) in per_feed.into_iter().zip(analyses).enumerate() {
            for (batch, done) in entries.chunks(PER_UPDATE).zip(analyses.chunks(PER_UPDATE)) {
                written += batch.len() as u64;
                record(store, feed, batch.to_vec(), done.to_vec());
            }
        }
        start = end;
    }
    written
}

/// What the poller does before handing entries to the writer: analyse them
/// off the writer thread, here on every core.
/// Each feed's analyses, by position.
fn analyse_all(per_feed: &[Vec<ParsedEntry>]) -> Vec<Vec<Option<dedup::Analysis>>> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let all: Vec<&ParsedEntry> = per_feed.iter().flatten().collect();
    let size = all.len().div_ceil(threads).max(1);
    let mut done: Vec<Option<dedup::Analysis>> = Vec::with_capacity(all.len());
    std::thread::scope(|scope| {
        let parts: Vec<_> = all
            .chunks(size)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|e| Some(dedup::analyze(e.title.as_deref(), e.body())))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for part in parts {
            done.extend(part.join().expect("analysis thread"));
        }
    });
    let mut rest = done.into_iter();
    per_feed
        .iter()
        .map(|entries| rest.by_ref().take(entries.len()).collect())
        .collect()
}

fn record(
    store: &mut Store,
    feed: usize,
    entries: Vec<ParsedEntry>,
    analyses: Vec<Option<dedup::Analysis>>,
) -> IngestReport {
    store
        .record(outlet_update(feed, entries, analyses))
        .expect("record")
}

struct ProbeTimes {
    whole: Vec<Duration>,
    analyze: Vec<Duration>,
    store: Vec<Duration>,
    copies_folded: usize,
    fresh_merged: usize,
}

/// Times `PROBES` items one at a time through analyse + record.
fn probe(store: &mut Store, filled: u64, now: DateTime<Utc>, seq: &mut u64) -> ProbeTimes {
    let mut rng = Rng(filled ^ 0x5eed);
    let mut t = ProbeTimes {
        whole: Vec::with_capacity(PROBES),
        analyze: Vec::with_capacity(PROBES),
        store: Vec::with_capacity(PROBES),
        copies_folded: 0,
        fresh_merged: 0,
    };
    for i in 0..PROBES {
        *seq += 1;
        let outlet = rng.below(FEEDS);
        let is_copy = i % 2 == 0;
        let entry = if is_copy {
            copy(rng.below(filled as usize) as u64, now, outlet, *seq)
        } else {
            // Story numbers past every filled one: text nobody carried.
            original(u64::MAX / 2 + *seq, now, outlet)
        };
        let started = Instant::now();
        let analysis = dedup::analyze(entry.title.as_deref(), entry.body());
        let analysed = Instant::now();
        let report = record(store, outlet, vec![entry], vec![Some(analysis)]);
        let done = Instant::now();
        t.analyze.push(analysed - started);
        t.store.push(done - analysed);
        t.whole.push(done - started);
        match (is_copy, report.folded) {
            (true, 1) => t.copies_folded += 1,
            (false, 1) => t.fresh_merged += 1,
            _ => {}
        }
    }
    // Where the slowest 1 % fell: clustered at the start means the disk was
    // still busy with the fill; spread out means per-item work.
    let mut order: Vec<usize> = (0..PROBES).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(t.whole[i]));
    let slow = &order[..PROBES / 100];
    let early = slow.iter().filter(|&&i| i < PROBES / 10).count();
    eprintln!(
        "slowest {} probes: {early} in the first tenth of the run",
        slow.len()
    );
    for v in [&mut t.whole, &mut t.analyze, &mut t.store] {
        v.sort();
    }
    t
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}
