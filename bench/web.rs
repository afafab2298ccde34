//! Web surface benchmark: latency and throughput of `/feeds/all.atom` (the
//! default 50 stories, each with its lineage and canonical HTML) with
//! 100,000 stories stored.
//!
//! The database is bulk-loaded straight into the tables (1–3 copies per
//! story from 200 feeds, one canonical each, an index row per entry), as
//! `benches/store.rs` does for its scale part and for the same reason: the
//! real ingest path would take most of an hour to fold this many. The
//! server is the real router (`feedfold::web::router`) on 127.0.0.1; the
//! client is reqwest in the same process, without compression.
//!
//! Usage: `cargo run --release --example bench-web -- [--stories 100000]
//! [--requests 1000] [--db PATH]` (an existing `--db` is reused as is).
//! Results go to BENCHMARKS.md ("Web surface").

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use feedfold::config::FeedConfig;
use feedfold::store::{format_time, RiverFilter, Store};

#[path = "../benches/common/mod.rs"]
#[allow(dead_code)]
mod common;

const FEEDS: usize = 200;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let stories: u64 = arg("--stories").map_or(100_000, |s| s.parse().expect("--stories N"));
    let requests: usize = arg("--requests").map_or(1_000, |s| s.parse().expect("--requests N"));
    let dir = tempfile::tempdir().expect("tempdir");
    let db = arg("--db").map_or_else(|| dir.path().join("web.db"), PathBuf::from);
    if !db.exists() {
        let t = Instant::now();
        let entries = load(&db, stories);
        println!(
            "loaded {stories} stories ({entries} entries) in {:.0} s",
            t.elapsed().as_secs_f64()
        );
    }
    let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    println!("database: {} MB", size >> 20);

    // The store's share: the river query alone (50 stories, their lineage
    // and canonical HTML), on one reader connection.
    let reader = Store::open_live_reader(&db).expect("reader");
    let filter = RiverFilter {
        min_sources: 1,
        limit: 50,
        ..RiverFilter::default()
    };
    let mut lat = Vec::new();
    let t = Instant::now();
    for _ in 0..requests {
        let q = Instant::now();
        assert_eq!(reader.river(&filter).expect("river").len(), 50);
        lat.push(q.elapsed());
    }
    report(
        "river query alone (no HTTP, no rendering)",
        &lat,
        t.elapsed(),
    );
    drop(reader);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        // A writer stays open, as under `feedfold run` (the web surface
        // reads beside it, through the WAL).
        let _writer = Store::open(&db).expect("open writer");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = feedfold::web::router(feedfold::web::Source::Sqlite(db.clone()), None);
        tokio::spawn(async move { axum::serve(listener, app).await });
        let url = format!("http://{addr}/feeds/all.atom");
        let client = reqwest::Client::builder()
            .no_gzip()
            .no_brotli()
            .build()
            .expect("client");
        let first = client.get(&url).send().await.expect("GET");
        let etag = first.headers()["etag"].to_str().expect("etag").to_string();
        let body = first.bytes().await.expect("body");
        println!(
            "/feeds/all.atom: {} KB, {} entries",
            body.len() >> 10,
            String::from_utf8_lossy(&body).matches("<entry>").count()
        );
        for concurrency in [1, 8] {
            let (lat, wall) = hammer(&client, &url, None, requests, concurrency).await;
            report(&format!("200, {concurrency} at a time"), &lat, wall);
        }
        let (lat, wall) = hammer(&client, &url, Some(&etag), requests, 8).await;
        report("304 (If-None-Match), 8 at a time", &lat, wall);
    });
}

/// `n` GETs of `url`, `concurrency` in flight; each latency, and the wall time.
async fn hammer(
    client: &reqwest::Client,
    url: &str,
    etag: Option<&str>,
    n: usize,
    concurrency: usize,
) -> (Vec<Duration>, Duration) {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (client, url) = (client.clone(), url.to_string());
        let etag = etag.map(str::to_string);
        let share = n / concurrency + usize::from(worker < n % concurrency);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(share);
            for _ in 0..share {
                let t = Instant::now();
                let mut req = client.get(&url);
                if let Some(e) = &etag {
                    req = req.header("if-none-match", e);
                }
                let r = req.send().await.expect("GET");
                let status = r.status().as_u16();
                let _ = r.bytes().await.expect("body");
                assert!(status == 200 || status == 304, "status {status}");
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await.expect("worker"));
    }
    (all, started.elapsed())
}

fn report(what: &str, lat: &[Duration], wall: Duration) {
    let mut sorted = lat.to_vec();
    sorted.sort();
    let at = |q: f64| sorted[((sorted.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{what}: {} requests, {:.0} req/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        sorted.len(),
        sorted.len() as f64 / wall.as_secs_f64(),
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3,
    );
}

/// Creates the database with its feeds, then `stories` stories of 1–3
/// copies each, published over the last 170 days. Returns the entries.
fn load(path: &Path, stories: u64) -> usize {
    let feeds: Vec<FeedConfig> = (0..FEEDS)
        .map(|i| FeedConfig {
            url: format!("https://outlet{i}.example/rss"),
            title: Some(format!("Outlet {i}")),
            ..Default::default()
        })
        .collect();
    let mut store = Store::open(path).expect("open");
    store.sync_feeds(&feeds, Utc::now()).expect("feeds");
    drop(store);
    let mut conn = rusqlite::Connection::open(path).expect("open");
    let now = format_time(Utc::now());
    let start = Utc::now() - TimeDelta::days(170);
    let span = TimeDelta::days(170).num_seconds();
    let mut entries = 0;
    for chunk in (0..stories).collect::<Vec<_>>().chunks(2_000) {
        let tx = conn.transaction().expect("tx");
        for &story in chunk {
            let (title, html) = common::story_text(story);
            let text = feedfold::dedup::html_to_text(&html);
            let published = start + TimeDelta::seconds(span * story as i64 / stories as i64);
            let mut ids = Vec::new();
            for k in 0..1 + (story % 3) as usize {
                let feed = (story as usize * 7 + k * 37) % FEEDS;
                tx.execute(
                    "INSERT INTO entry (feed_id, identity, url, title, content, published_at,
                         first_seen_at, last_seen_at, content_hash, fingerprint, fingerprint_version,
                         credited_agency)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?8, 2, 'AFP')",
                    rusqlite::params![
                        feed as i64 + 1,
                        format!("guid:{story}-{k}"),
                        format!("https://outlet{feed}.example/{story}"),
                        title,
                        html,
                        format_time(published + TimeDelta::minutes(7 * k as i64)),
                        now,
                        story as i64,
                    ],
                )
                .expect("entry");
                let id = tx.last_insert_rowid();
                tx.execute(
                    "INSERT INTO entry_search (rowid, title, body) VALUES (?1, ?2, ?3)",
                    rusqlite::params![id, title, text],
                )
                .expect("index");
                ids.push(id);
            }
            tx.execute(
                "INSERT INTO story (canonical_entry_id, published_at, first_seen_at, last_seen_at,
                     source_count, origin_agency) VALUES (?1, ?2, ?3, ?3, ?4, 'AFP')",
                rusqlite::params![ids[0], format_time(published), now, ids.len() as i64],
            )
            .expect("story");
            let story_id = tx.last_insert_rowid();
            for (k, id) in ids.iter().enumerate() {
                tx.execute(
                    "INSERT INTO story_entry (entry_id, story_id, relation, similarity, linked_at)
                     VALUES (?1, ?2, ?3, 1.0, ?4)",
                    rusqlite::params![
                        id,
                        story_id,
                        if k == 0 { "canonical" } else { "exact" },
                        now
                    ],
                )
                .expect("link");
            }
            entries += ids.len();
        }
        tx.commit().expect("commit");
    }
    conn.execute_batch("PRAGMA optimize; PRAGMA wal_checkpoint(TRUNCATE);")
        .expect("optimize");
    entries
}
