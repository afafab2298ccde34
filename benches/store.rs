//! Store benchmark, in two parts.
//!
//! 1. Ingest: fills a database through the real ingest path
//!    (`Store::record`: dedup, lineage, full-text index) with
//!    `FEEDFOLD_BENCH_INGEST` entries (default 100,000) and reports the rate,
//!    the search index's size and the time to rebuild it.
//! 2. Scale: bulk-loads `FEEDFOLD_BENCH_ENTRIES` entries (default 1,000,000)
//!    straight into the tables (same shapes: 1–4 copies per story, one
//!    canonical each, an index row each), because the real ingest path runs
//!    at a few hundred entries per second on this machine once dedup has a
//!    big window to search, which would take most of an hour; then measures
//!    the CLI's listings, search and a prune at that size.
//!
//! 3. Writer start (between the two): opens the ingest database again and
//!    times the first write, which loads the saved band key filter or, with
//!    the saved copy deleted, rebuilds it from the band index;
//!    `FEEDFOLD_BENCH_START_RUNS` alternations (default 5).
//!
//! `FEEDFOLD_BENCH_ENTRIES=0` skips the scale part.
//!
//! Run: `cargo bench --bench store`. Results go to BENCHMARKS.md.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use feedfold::config::FeedConfig;
use feedfold::parse::ParsedEntry;
use feedfold::store::{RetentionPolicy, SearchQuery, Store, StoryId};

mod common;
use common::{outlet_update, story_text, Rng};

const FEEDS: usize = 200;
const PER_UPDATE: usize = 500;
fn main() {
    let env = |name: &str, default: usize| -> usize {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let ingest = dir.path().join("ingest.db");
    ingest_part(&ingest, env("FEEDFOLD_BENCH_INGEST", 100_000));
    start_part(&ingest, env("FEEDFOLD_BENCH_START_RUNS", 5));
    let scale = env("FEEDFOLD_BENCH_ENTRIES", 1_000_000);
    if scale > 0 {
        scale_part(&dir.path().join("scale.db"), scale);
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

/// Wire story `s`: its copies as (feed, published) pairs, 1–4 of them,
/// stories spread evenly over the last 170 days.
fn copies(story: u64, stories: u64) -> Vec<(usize, chrono::DateTime<Utc>)> {
    let start = Utc::now() - TimeDelta::days(170);
    let span = TimeDelta::days(170).num_seconds();
    let published = start + TimeDelta::seconds(span * story as i64 / stories.max(1) as i64);
    (0..1 + (story % 4) as usize)
        .map(|k| {
            (
                (story as usize * 7 + k * 37) % FEEDS,
                published + TimeDelta::minutes(5 * k as i64),
            )
        })
        .collect()
}

fn ingest_part(path: &Path, entries: usize) {
    let mut store = open_with_feeds(path);
    let mut buffers: Vec<Vec<ParsedEntry>> = vec![Vec::new(); FEEDS];
    let stories = (entries as f64 / 2.5) as u64 + 1;
    let started = Instant::now();
    let (mut stored, mut generated, mut story) = (0usize, 0usize, 0u64);
    while generated < entries {
        let (title, body) = story_text(story);
        for (k, (feed, published)) in copies(story, stories).into_iter().enumerate() {
            generated += 1;
            buffers[feed].push(ParsedEntry {
                identity: format!("guid:{story}-{k}"),
                guid: Some(format!("{story}-{k}")),
                url: Some(format!("https://outlet{feed}.example/{story}")),
                title: Some(title.clone()),
                summary: Some(body.clone()),
                published: Some(published),
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
    println!("== ingest through Store::record");
    println!(
        "ingest: {stored} entries ({story} wire stories) in {:.1} s = {:.0} entries/s (dedup + lineage + FTS, {PER_UPDATE} per transaction)",
        ingest.as_secs_f64(),
        stored as f64 / ingest.as_secs_f64()
    );
    report_sizes(path);
    let t = Instant::now();
    let n = store.rebuild_search_index().expect("rebuild");
    let rebuild = t.elapsed();
    println!(
        "FTS rebuild: {n} entries in {:.1} s = {:.0} entries/s (HTML to text + FTS5 insert)",
        rebuild.as_secs_f64(),
        n as f64 / rebuild.as_secs_f64()
    );
}

/// The writer's start on a filled database: open, then the first write,
/// which brings the band key filter up (loading the saved copy, or reading
/// every key of the index when there is none), then the close, which saves
/// the filter when the database lacks a valid copy. The two ways alternate
/// on one file, page cache warm. Memory is the rise of the peak resident set
/// over the resident set before the open (`/proc/self/clear_refs` resets
/// the peak).
fn start_part(path: &Path, runs: usize) {
    if runs == 0 {
        return;
    }
    let conn = rusqlite::Connection::open(path).expect("open");
    let keys: i64 = conn
        .query_row(
            "SELECT (SELECT COUNT(*) FROM entry_band) + (SELECT COUNT(*) FROM entry_band_recent)",
            [],
            |r| r.get(0),
        )
        .expect("keys");
    let saved_bytes: i64 = conn
        .query_row(
            "SELECT COALESCE(SUM(length(bits)), 0) FROM band_filter",
            [],
            |r| r.get(0),
        )
        .expect("filter");
    println!("\n== writer start: saved band key filter or a rebuild ({keys} keys in the index, saved copy {saved_bytes} bytes)");
    let mut times: [Vec<(Duration, Duration, i64)>; 2] = [Vec::new(), Vec::new()];
    for run in 0..runs {
        for (way, saved) in [true, false].into_iter().enumerate() {
            if !saved {
                conn.execute("DELETE FROM band_filter", []).expect("delete");
            }
            let _ = std::fs::write("/proc/self/clear_refs", "5");
            let before = proc_status_kib("VmRSS");
            let t = Instant::now();
            let mut store = Store::open(path).expect("open");
            let entry = ParsedEntry {
                identity: format!("start-{run}-{way}"),
                title: Some(format!("Start run {run}")),
                summary: Some("<p>One more item after a restart.</p>".into()),
                published: Some(Utc::now()),
                ..Default::default()
            };
            store
                .record(outlet_update(0, vec![entry], Vec::new()))
                .expect("record");
            let start = t.elapsed();
            let peak = proc_status_kib("VmHWM") - before;
            let t = Instant::now();
            drop(store);
            times[way].push((start, t.elapsed(), peak));
        }
    }
    for (way, name) in ["saved filter loaded", "filter rebuilt"].iter().enumerate() {
        let mut starts: Vec<Duration> = times[way].iter().map(|t| t.0).collect();
        let mut closes: Vec<Duration> = times[way].iter().map(|t| t.1).collect();
        let mut peaks: Vec<i64> = times[way].iter().map(|t| t.2).collect();
        starts.sort();
        closes.sort();
        peaks.sort();
        let mid = starts.len() / 2;
        println!(
            "{name}: open + first write median {:.1} ms (min {:.1}, max {:.1}); close median {:.1} ms; peak RSS rise median {} KiB ({runs} runs)",
            starts[mid].as_secs_f64() * 1e3,
            starts[0].as_secs_f64() * 1e3,
            starts[starts.len() - 1].as_secs_f64() * 1e3,
            closes[mid].as_secs_f64() * 1e3,
            peaks[mid],
        );
    }
}

/// A `/proc/self/status` field in KiB (0 where it cannot be read).
fn proc_status_kib(field: &str) -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Writes `entries` entries with their stories, lineage and index rows in
/// large transactions, bypassing dedup.
fn bulk_load(path: &Path, entries: usize) -> usize {
    let mut conn = rusqlite::Connection::open(path).expect("open");
    let stories = (entries as f64 / 2.5) as u64 + 1;
    let now = feedfold::store::format_time(Utc::now());
    let (mut written, mut story) = (0usize, 0u64);
    while written < entries {
        let tx = conn.transaction().expect("tx");
        {
            let mut entry = tx
                .prepare_cached(
                    "INSERT INTO entry (feed_id, identity, url, title, summary, published_at, first_seen_at,
                        last_seen_at, content_hash, fingerprint, fingerprint_version, window_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?8, 2, ?9)",
                )
                .expect("prepare");
            let mut new_story = tx
                .prepare_cached(
                    "INSERT INTO story (canonical_entry_id, published_at, first_seen_at, last_seen_at, source_count)
                     VALUES (?1, ?2, ?3, ?3, ?4)",
                )
                .expect("prepare");
            let mut link = tx
                .prepare_cached(
                    "INSERT INTO story_entry (entry_id, story_id, relation, similarity, linked_at)
                     VALUES (?1, ?2, ?3, 1.0, ?4)",
                )
                .expect("prepare");
            let mut index = tx
                .prepare_cached("INSERT INTO entry_search (rowid, title, body) VALUES (?1, ?2, ?3)")
                .expect("prepare");
            for _ in 0..2_000 {
                let (title, body) = story_text(story);
                let plain = feedfold::dedup::html_to_text(&body);
                let copies = copies(story, stories);
                let mut ids = Vec::new();
                for (k, (feed, published)) in copies.iter().enumerate() {
                    let p = feedfold::store::format_time(*published);
                    entry
                        .execute(rusqlite::params![
                            *feed as i64 + 1,
                            format!("guid:{story}-{k}"),
                            format!("https://outlet{feed}.example/{story}"),
                            title,
                            body,
                            p,
                            now,
                            story as i64,
                            published.timestamp()
                        ])
                        .expect("entry");
                    let id = tx.last_insert_rowid();
                    index
                        .execute(rusqlite::params![id, title, plain])
                        .expect("index");
                    ids.push(id);
                }
                let p = feedfold::store::format_time(copies[0].1);
                new_story
                    .execute(rusqlite::params![ids[0], p, now, ids.len() as i64])
                    .expect("story");
                let story_id = tx.last_insert_rowid();
                for (k, id) in ids.iter().enumerate() {
                    let relation = if k == 0 { "canonical" } else { "exact" };
                    link.execute(rusqlite::params![id, story_id, relation, now])
                        .expect("link");
                }
                written += ids.len();
                story += 1;
            }
        }
        tx.commit().expect("commit");
    }
    conn.execute_batch("PRAGMA optimize; PRAGMA wal_checkpoint(TRUNCATE);")
        .expect("optimize");
    written
}

fn scale_part(path: &Path, entries: usize) {
    drop(open_with_feeds(path));
    let t = Instant::now();
    let written = bulk_load(path, entries);
    println!(
        "\n== {written} entries bulk-loaded in {:.0} s",
        t.elapsed().as_secs_f64()
    );
    report_sizes(path);
    let mut store = Store::open(path).expect("open");
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
            hits = store
                .search(&query, &feedfold::store::TimeFilter::default(), 20)
                .expect("search")
                .len();
        });
        println!(
            "search {q:?} (top 20 of all matches, {hits} shown): {}",
            summary(&search)
        );
    }

    // Prune a quarter of every feed's entries (cap), then free the pages.
    let cap = (written / FEEDS) as u64 * 3 / 4;
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
    report_sizes(path);
}

fn flush(store: &mut Store, feed: usize, buffer: &mut Vec<ParsedEntry>) -> usize {
    if buffer.is_empty() {
        return 0;
    }
    let entries = std::mem::take(buffer);
    let n = entries.len();
    store
        .record(outlet_update(feed, entries, Vec::new()))
        .expect("record");
    n
}

fn report_sizes(path: &Path) {
    // dbstat counts pages in use; the WAL is checkpointed first.
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
