//! Readers while the daemon writes: the `sqlite3` shell and a Rust reader
//! query the public views in a loop, with no busy timeout, while the daemon
//! ingests thousands of items from a loopback server and prunes on a
//! schedule. Neither may ever see SQLITE_BUSY ("database is locked") nor a
//! story without its canonical copy, nor a copy missing from the search
//! index.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::newsroom::{carriers, document, wire_story, Newsroom, OUTLETS};
use common::{Daemon, Item};
use rusqlite::{Connection, OpenFlags};

/// Wire stories published per round, and rounds.
const PER_ROUND: usize = 100;
const ROUNDS: usize = 12;
/// Items a feed document lists (its newest).
const LISTED: usize = 250;

/// One snapshot's checks, each a name and a count that must be 0, plus the
/// number of stories. Views only, as a user would query.
const CHECKS: &str = "BEGIN;
SELECT 'stories', COUNT(*) FROM stories;
SELECT 'not_one_canonical', COUNT(*) FROM
  (SELECT story_id FROM story_sources GROUP BY story_id HAVING SUM(relation = 'canonical') <> 1);
SELECT 'story_without_canonical', (SELECT COUNT(DISTINCT story_id) FROM story_sources) - (SELECT COUNT(*) FROM stories);
SELECT 'unindexed', (SELECT COUNT(*) FROM story_sources) - (SELECT COUNT(*) FROM entry_search);
COMMIT;
";

/// A reader's name, the snapshots it checked, and what it saw wrong.
type ReaderResult = (&'static str, usize, Vec<String>);

fn publish(room: &Newsroom, stories: usize, t0: DateTime<Utc>) {
    let mut per_outlet: Vec<Vec<Item>> = vec![Vec::new(); OUTLETS.len()];
    for i in (0..stories).rev() {
        let (headline, paragraphs) = wire_story(i);
        let html: String = paragraphs.iter().map(|p| format!("<p>{p}</p>")).collect();
        let first = t0 + chrono::Duration::minutes(3 * i as i64);
        for (outlet, delay) in carriers(i) {
            if per_outlet[outlet].len() == LISTED {
                continue;
            }
            let slug = OUTLETS[outlet].title.to_lowercase().replace(' ', "-");
            per_outlet[outlet].push(Item {
                guid: format!("{slug}-{i}"),
                title: headline.clone(),
                link: format!("https://{slug}.example/news/{i}"),
                published: first + chrono::Duration::minutes(delay),
                html: html.clone(),
            });
        }
    }
    for (outlet, items) in OUTLETS.iter().zip(&per_outlet) {
        let kind = if outlet.atom {
            "application/atom+xml"
        } else {
            "application/rss+xml"
        };
        room.server.route(
            outlet.path,
            common::Route::ok(kind, document(outlet, items)),
        );
    }
}

fn write_config(room: &Newsroom) {
    let mut text = String::from(
        "database = \"feedfold.db\"\n\
         [poll]\nschedule = \"* * * * * *\"\ninterval = \"1s\"\nmin_interval = \"1s\"\nconcurrency = 4\nper_host = 4\n\
         [retention]\nmax_entries_per_feed = 80\nschedule = \"*/3 * * * * *\"\n",
    );
    for o in OUTLETS {
        text.push_str(&format!(
            "[[feed]]\nurl = \"{}\"\ntitle = \"{}\"\ninterval = \"1s\"\n",
            room.server.url(o.path),
            o.title
        ));
    }
    std::fs::write(room.config(), text).expect("config");
}

/// Parses `name|count` lines; returns the problems (non-zero checks).
fn problems(output: &str) -> Vec<String> {
    output
        .lines()
        .filter(|l| !l.starts_with("stories|"))
        .filter(|l| !l.ends_with("|0"))
        .map(str::to_string)
        .collect()
}

fn rust_reader(db: std::path::PathBuf, stop: Arc<AtomicBool>) -> (usize, Vec<String>) {
    let mut errors = Vec::new();
    let mut rounds = 0;
    while !stop.load(Ordering::SeqCst) {
        // A fresh connection now and then: opening must not hit a lock either.
        let conn = match Connection::open_with_flags(
            &db,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        ) {
            Ok(c) => c,
            Err(e) => {
                errors.push(format!("open: {e}"));
                continue;
            }
        };
        // No busy timeout: a reader in WAL mode must not need one.
        for _ in 0..25 {
            let mut out = String::new();
            let result = (|| -> rusqlite::Result<()> {
                conn.execute_batch("BEGIN")?;
                for sql in CHECKS.split(';').map(str::trim) {
                    if sql.is_empty() || sql == "BEGIN" || sql == "COMMIT" {
                        continue;
                    }
                    let (name, n): (String, i64) =
                        conn.query_row(sql, [], |r| Ok((r.get(0)?, r.get(1)?)))?;
                    out.push_str(&format!("{name}|{n}\n"));
                }
                conn.execute_batch("COMMIT")
            })();
            match result {
                Ok(()) => errors.extend(problems(&out)),
                Err(e) => errors.push(format!("query: {e}")),
            }
            rounds += 1;
        }
    }
    (rounds, errors)
}

fn sqlite3_reader(db: std::path::PathBuf, stop: Arc<AtomicBool>) -> (usize, Vec<String>) {
    let mut errors = Vec::new();
    let mut rounds = 0;
    let script = CHECKS.repeat(20);
    while !stop.load(Ordering::SeqCst) {
        let mut child = Command::new("sqlite3")
            .args(["-bail", "-readonly", "-list"])
            .arg(&db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sqlite3");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(script.as_bytes())
            .expect("write script");
        let out = child.wait_with_output().expect("sqlite3 output");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() || !stderr.trim().is_empty() {
            errors.push(format!("sqlite3 {}: {}", out.status, stderr.trim()));
        }
        errors.extend(problems(&stdout));
        rounds += stdout.lines().filter(|l| l.starts_with("stories|")).count();
    }
    (rounds, errors)
}

fn have_sqlite3() -> bool {
    Command::new("sqlite3")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn readers_never_see_a_lock_or_a_story_without_its_canonical_copy() {
    let with_cli = have_sqlite3();
    if !with_cli {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install the sqlite3 shell (.ci/run)"
        );
        eprintln!("sqlite3 shell not installed: only the Rust reader runs here");
    }
    let room = Newsroom::start(0, "");
    write_config(&room);
    let t0 = Utc::now() - chrono::Duration::days(5);
    publish(&room, PER_ROUND, t0);

    let mut daemon = Daemon::start(&room.config(), &["run"], &[("RUST_LOG", "warn")]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !room.db().exists()
        || Connection::open(room.db())
            .and_then(|c| c.query_row("SELECT COUNT(*) FROM stories", [], |r| r.get::<_, i64>(0)))
            .map_or(true, |n| n == 0)
    {
        assert!(
            Instant::now() < deadline,
            "the daemon wrote nothing in 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let stop = Arc::new(AtomicBool::new(false));
    let results: Arc<Mutex<Vec<ReaderResult>>> = Arc::default();
    let mut readers = Vec::new();
    {
        let (db, stop, results) = (room.db(), stop.clone(), results.clone());
        readers.push(std::thread::spawn(move || {
            let (n, e) = rust_reader(db, stop);
            results.lock().expect("lock").push(("rust", n, e));
        }));
    }
    if with_cli {
        let (db, stop, results) = (room.db(), stop.clone(), results.clone());
        readers.push(std::thread::spawn(move || {
            let (n, e) = sqlite3_reader(db, stop);
            results.lock().expect("lock").push(("sqlite3", n, e));
        }));
    }

    let conn = Connection::open(room.db()).expect("open");
    // Publish the next round once every outlet has been fetched since the
    // last one, so that no item scrolls off a feed unseen however slow the
    // build is.
    let deadline = Instant::now() + Duration::from_secs(240);
    for round in 2..=ROUNDS {
        let published = Utc::now() + chrono::Duration::seconds(1);
        let since = published.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        publish(&room, PER_ROUND * round, t0);
        loop {
            assert!(Instant::now() < deadline, "the daemon fell behind");
            std::thread::sleep(Duration::from_millis(200));
            let fetched: i64 = conn
                .query_row(
                    "SELECT COUNT(DISTINCT feed_id) FROM fetches WHERE outcome = 'ok' AND fetched_at >= ?1",
                    [&since],
                    |r| r.get(0),
                )
                .unwrap_or(0);
            if fetched as usize >= OUTLETS.len() {
                break;
            }
        }
    }
    // Let the daemon finish (and prune) while the readers read.
    let ingested = || -> i64 {
        conn.query_row(
            "SELECT COALESCE(SUM(new_entries), 0) FROM fetches",
            [],
            |r| r.get(0),
        )
        .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = -1;
    loop {
        std::thread::sleep(Duration::from_millis(1500));
        let now = ingested();
        if now == last || Instant::now() > deadline {
            break;
        }
        last = now;
    }
    stop.store(true, Ordering::SeqCst);
    for r in readers {
        r.join().expect("reader thread");
    }
    assert_eq!(daemon.stop().code(), Some(0), "{}", daemon.log());

    let total = ingested();
    assert!(total >= 3000, "the daemon ingested only {total} items");
    let pruned: i64 = conn
        .query_row("SELECT COUNT(*) FROM tombstone", [], |r| r.get(0))
        .expect("tombstones");
    assert!(pruned > 0, "the scheduled prune did not run");
    for (reader, rounds, errors) in results.lock().expect("lock").iter() {
        eprintln!(
            "{reader} reader: {rounds} snapshots checked, {} problems",
            errors.len()
        );
        assert!(
            *rounds >= 20,
            "{reader} reader checked only {rounds} snapshots"
        );
        assert!(
            errors.is_empty(),
            "{reader} reader saw: {:?}",
            &errors[..errors.len().min(10)]
        );
    }
}
