//! Crash consistency: the real binary polls a loopback server with a few
//! hundred feeds whose content changes over time, and is killed with SIGKILL
//! at seeded random moments, over and over. After every kill the database
//! must be consistent; at the end every item the server ever served must be
//! stored exactly once.
//!
//! Checked after every kill:
//! - `PRAGMA integrity_check` is ok, foreign keys hold;
//! - every entry belongs to exactly one story, every story has its
//!   canonical copy (see `Store::check_consistency`);
//! - the validators (ETag) stored for a feed never claim an item that is not
//!   stored: the ETag names the document version, and every item of that
//!   version must be in the database;
//! - the search index: every entry is either queued or indexed exactly once,
//!   never both, and nothing deleted is indexed (a kill often lands while the
//!   writer indexes a batch).
//!
//! At the end, with the content frozen and one clean `poll --all`: every
//! item served is stored exactly once, and the search queue is empty.
//!
//! `FEEDFOLD_CRASH_SEED` picks another seed; `FEEDFOLD_CRASH_KILLS` another
//! number of kills (default 60).

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, Response};
use common::Daemon;
use feedfold::store::Store;

const FEEDS: usize = 300;
/// Items every feed starts with.
const BASE_ITEMS: usize = 3;
/// Every fifth item is a wire story carried by every feed (folds across feeds).
const WIRE_EVERY: usize = 5;

/// Small deterministic generator (SplitMix64): the kill schedule is
/// reproducible from the seed printed at the start.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

/// What the server serves: feed `f` at version `v` has `BASE_ITEMS + v`
/// items; the version advances with time, at a pace that differs per feed,
/// until the content is frozen.
struct Content {
    start: Instant,
    frozen_at: Mutex<Option<Duration>>,
    /// Per feed: the most items served in one 200 response.
    served: Mutex<HashMap<usize, usize>>,
    requests: Mutex<usize>,
}

impl Content {
    fn period(f: usize) -> Duration {
        Duration::from_millis(2_000 + (f as u64 % 7) * 700)
    }

    fn version(&self, f: usize) -> usize {
        let elapsed = self
            .frozen_at
            .lock()
            .expect("lock")
            .unwrap_or_else(|| self.start.elapsed());
        (elapsed.as_millis() / Self::period(f).as_millis()) as usize
    }

    fn items(v: usize) -> usize {
        BASE_ITEMS + v
    }

    fn etag(f: usize, v: usize) -> String {
        format!("\"f{f}-v{v}\"")
    }

    fn document(f: usize, v: usize) -> String {
        let mut s = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>Feed {f}</title><link>https://feed{f}.example/</link>\n"
        );
        for i in (0..Self::items(v)).rev() {
            // An item is edited once, a few versions after it appeared.
            let edited = if v >= i + 4 { " (updated)" } else { "" };
            let (title, body) = if i % WIRE_EVERY == 0 {
                (
                    format!("Wire story {i}{edited}"),
                    format!("Officials met in the capital on Thursday to discuss item {i}."),
                )
            } else {
                (
                    format!("Story {i} of feed {f}{edited}"),
                    format!("Feed {f} local story {i}, reported by our own correspondent."),
                )
            };
            let minute = i % 60;
            let hour = 8 + i / 60;
            s.push_str(&format!(
                "<item><guid isPermaLink=\"false\">f{f}-i{i}</guid><title>{title}</title>\
                 <link>https://feed{f}.example/{i}</link><pubDate>Thu, 27 Feb 2025 {hour:02}:{minute:02}:00 GMT</pubDate>\
                 <description>&lt;p&gt;{body}&lt;/p&gt;</description></item>\n"
            ));
        }
        s.push_str("</channel></rss>\n");
        s
    }

    fn answer(&self, req: &Request<Body>) -> Response<Body> {
        *self.requests.lock().expect("lock") += 1;
        let f: Option<usize> = req
            .uri()
            .path()
            .strip_prefix("/feed/")
            .and_then(|n| n.parse().ok())
            .filter(|f| *f < FEEDS);
        let Some(f) = f else {
            return Response::builder()
                .status(404)
                .body(Body::empty())
                .expect("response");
        };
        let v = self.version(f);
        let etag = Self::etag(f, v);
        let inm = req
            .headers()
            .get("if-none-match")
            .and_then(|h| h.to_str().ok());
        if inm == Some(etag.as_str()) {
            return Response::builder()
                .status(304)
                .header("etag", etag)
                .body(Body::empty())
                .expect("response");
        }
        let doc = Self::document(f, v);
        {
            let mut served = self.served.lock().expect("lock");
            let n = served.entry(f).or_default();
            *n = (*n).max(Self::items(v));
        }
        Response::builder()
            .status(200)
            .header("content-type", "application/rss+xml")
            .header("etag", etag)
            .body(Body::from(doc))
            .expect("response")
    }
}

/// Checks a database left behind by a killed process. Returns how many
/// entries it holds.
fn check(db: &std::path::Path, addr: SocketAddr, when: &str) -> usize {
    if !db.exists() {
        return 0;
    }
    // Opening for writing runs SQLite's WAL recovery, as the next start would.
    let store = Store::open(db).unwrap_or_else(|e| panic!("{when}: reopen failed: {e}"));
    let problems = store.check_consistency().expect("check");
    assert!(problems.is_empty(), "{when}: {problems:?}");
    drop(store);
    let conn = rusqlite::Connection::open(db).expect("open");
    // Validators never claim an item that is not stored.
    let mut stmt = conn
        .prepare(
            "SELECT f.url, f.etag, (SELECT COUNT(*) FROM entry e WHERE e.feed_id = f.id) FROM feed f WHERE f.etag IS NOT NULL",
        )
        .expect("prepare");
    let rows: Vec<(String, String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    for (url, etag, _) in &rows {
        let f: usize = url
            .rsplit('/')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("feed number");
        assert!(url.contains(&addr.port().to_string()));
        let v: usize = etag
            .trim_matches('"')
            .rsplit("-v")
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{when}: odd etag {etag}"));
        let missing: i64 = conn
            .query_row(
                "WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n + 1 < ?2)
                 SELECT COUNT(*) FROM i WHERE NOT EXISTS (
                    SELECT 1 FROM entry e JOIN feed f ON f.id = e.feed_id
                    WHERE f.url = ?1 AND e.identity = 'guid:f' || ?3 || '-i' || i.n)",
                rusqlite::params![url, Content::items(v) as i64, f as i64],
                |r| r.get(0),
            )
            .expect("missing query");
        assert_eq!(
            missing, 0,
            "{when}: feed {f} stores ETag {etag} but {missing} of its items are not stored"
        );
    }
    conn.query_row("SELECT COUNT(*) FROM entry", [], |r| r.get::<_, i64>(0))
        .expect("count") as usize
}

#[test]
fn sigkill_at_random_moments_loses_and_duplicates_nothing() {
    let seed: u64 = std::env::var("FEEDFOLD_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_f00d);
    let kills: usize = std::env::var("FEEDFOLD_CRASH_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    eprintln!("crash test: seed {seed}, {kills} kills");
    let mut rng = Rng(seed);
    let content = Arc::new(Content {
        start: Instant::now(),
        frozen_at: Mutex::new(None),
        served: Mutex::new(HashMap::new()),
        requests: Mutex::new(0),
    });
    let handler_content = content.clone();
    let addr = common::serve(move |req: Request<Body>| {
        let content = handler_content.clone();
        async move { content.answer(&req) }
    });

    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("feedfold.toml");
    let mut text = String::from(
        "database = \"ff.db\"\n[poll]\nschedule = \"*/1 * * * * *\"\ninterval = \"1s\"\nmin_interval = \"1s\"\nmax_backoff = \"1s\"\nconcurrency = 16\nper_host = 16\n",
    );
    for f in 0..FEEDS {
        // Pinned to 1 s: the adaptive interval would wait minutes.
        text.push_str(&format!(
            "[[feed]]\nurl = \"http://{addr}/feed/{f}\"\ninterval = \"1s\"\n"
        ));
    }
    std::fs::write(&config, text).expect("config");
    let db = dir.path().join("ff.db");

    let started = Instant::now();
    let killed_mid_work = AtomicBool::new(false);
    let mut entries_seen = 0;
    for k in 0..kills {
        // Mostly the daemon; every fourth run a one-shot `poll --all`.
        let args: &[&str] = if k % 4 == 3 {
            &["poll", "--all"]
        } else {
            &["run"]
        };
        let mut child = Daemon::start(&config, args, &[("RUST_LOG", "error")]);
        let life = Duration::from_millis(rng.range(100, 2_500));
        std::thread::sleep(life);
        let still_running = child.running();
        child.kill();
        if still_running {
            killed_mid_work.store(true, Ordering::Relaxed);
        }
        let entries = check(&db, addr, &format!("after kill {k} ({args:?} at {life:?})"));
        entries_seen = entries_seen.max(entries);
    }
    let kill_phase = started.elapsed();

    // Freeze the content and let one clean pass catch up.
    *content.frozen_at.lock().expect("lock") = Some(content.start.elapsed());
    let out = common::feedfold(&config, &["poll", "--all"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let total = check(&db, addr, "after the final clean poll");
    // A one-shot poll leaves the search index complete: nothing queued, and
    // (checked by `check` above) every entry in the index exactly once,
    // however many kills landed mid-indexing.
    let queued: i64 = rusqlite::Connection::open(&db)
        .expect("open")
        .query_row("SELECT COUNT(*) FROM search_queue", [], |r| r.get(0))
        .expect("queue");
    assert_eq!(queued, 0, "entries left unindexed after the final poll");

    // Every item served is stored exactly once (UNIQUE(feed, identity) makes
    // "more than once" impossible to store; count equality makes it exact).
    let served = content.served.lock().expect("lock").clone();
    let conn = rusqlite::Connection::open(&db).expect("open");
    let mut expected_total = 0;
    for (f, n) in &served {
        let url = format!("http://{addr}/feed/{f}");
        let stored: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM entry e JOIN feed f ON f.id = e.feed_id WHERE f.url = ?1",
                [&url],
                |r| r.get(0),
            )
            .expect("count");
        let frozen_items = Content::items(content.version(*f));
        assert_eq!(
            stored as usize, frozen_items,
            "feed {f}: served up to {n} items (now {frozen_items}), stored {stored}"
        );
        expected_total += frozen_items;
    }
    assert_eq!(served.len(), FEEDS, "every feed was served at least once");
    assert_eq!(total, expected_total);
    // Wire stories fold across feeds: fewer stories than entries.
    let stories: i64 = conn
        .query_row("SELECT COUNT(*) FROM story", [], |r| r.get(0))
        .expect("stories");
    assert!(
        (stories as usize) < total,
        "{stories} stories for {total} entries"
    );
    assert!(
        killed_mid_work.load(Ordering::Relaxed),
        "no kill landed while feedfold was working"
    );
    assert!(entries_seen > 0, "nothing was stored between kills");
    eprintln!(
        "crash test: {kills} kills in {kill_phase:?}, {} requests, {total} entries, {stories} stories",
        content.requests.lock().expect("lock")
    );
}
