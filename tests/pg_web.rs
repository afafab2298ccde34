//! `[web]` and `[metrics]` of a `feedfold run` on PostgreSQL: the same
//! pages and outgoing feeds as an SQLite daemon serves for the same
//! newsroom, and gauges read from the shared database.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::newsroom::Newsroom;
use common::pg::{require_pg, with_client};
use serde_json::Value;

/// `feedfold run` with JSON logs, its env extended by `env`.
fn run(room: &Newsroom, env: &[(&str, &str)]) -> Daemon {
    let mut all = vec![("RUST_LOG", "info")];
    all.extend_from_slice(env);
    Daemon::start(&room.config(), &["--log-format", "json", "run"], &all)
}

/// `http://127.0.0.1:PORT` of the endpoint whose start line has `needle`.
fn address(daemon: &Daemon, needle: &str) -> String {
    let line = daemon.wait_for_line(needle, Duration::from_secs(60));
    let v: Value = serde_json::from_str(&line).expect("JSON log line");
    let addr: std::net::SocketAddr = v["addr"]
        .as_str()
        .expect("addr")
        .parse()
        .expect("socket address");
    format!("http://127.0.0.1:{}", addr.port())
}

/// GET `url`: status and body.
fn get(url: &str) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let r = reqwest::get(url).await.expect("GET");
        let status = r.status().as_u16();
        (status, r.text().await.expect("body"))
    })
}

fn pg_count(url: &str, sql: &str) -> i64 {
    with_client(url, async |c| {
        c.query_one(sql, &[]).await.expect(sql).get(0)
    })
}

/// An outgoing JSON feed without what differs by server or store: the
/// base URL in links and HTML, and story ids.
fn lineage(feed: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(feed).expect("JSON Feed");
    v["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| {
            let l = &item["_feedfold"];
            let mut copies: Vec<Value> = l["copies"]
                .as_array()
                .expect("copies")
                .iter()
                .map(|c| {
                    serde_json::json!([
                        c["feed_url"],
                        c["url"],
                        c["title"],
                        c["relation"],
                        c["credited_agency"],
                        c["published_at"]
                    ])
                })
                .collect();
            copies.sort_by_key(Value::to_string);
            serde_json::json!({
                "title": item["title"],
                "url": item["url"],
                "date_published": item["date_published"],
                "source_count": l["source_count"],
                "origin_agency": l["origin_agency"],
                "copies": copies,
            })
        })
        .collect()
}

/// `name{labels} value` lines of a Prometheus exposition.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

#[test]
fn web_and_metrics_on_postgres_serve_what_sqlite_serves() {
    let Some(server) = require_pg() else { return };
    let url = server.fresh_db();
    let room = Newsroom::start(
        12,
        "[web]\nlisten = \"127.0.0.1:0\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
    );
    room.poll();
    let sqlite = run(&room, &[]);
    let sqlite_web = address(&sqlite, "serving the web pages");

    let postgres = run(&room, &[("FEEDFOLD_DATABASE", &url)]);
    let web = address(&postgres, "serving the web pages");
    let metrics = address(&postgres, "serving /metrics");
    // Polled, folded and indexed: every feed fetched, the queue empty.
    let config = std::fs::read_to_string(room.config()).expect("config");
    let feeds = i64::try_from(config.matches("[[feed]]").count()).expect("count");
    let deadline = Instant::now() + Duration::from_secs(120);
    while pg_count(&url, "SELECT count(*) FROM fetch_log") < feeds
        || pg_count(&url, "SELECT count(*) FROM fold_queue") > 0
        || pg_count(&url, "SELECT count(*) FROM entry WHERE search IS NULL") > 0
    {
        assert!(Instant::now() < deadline, "{}", postgres.log());
        std::thread::sleep(Duration::from_millis(250));
    }

    // Each text once: the HTML and the normalised text as frames.
    assert_eq!(
        pg_count(
            &url,
            "SELECT count(*) FROM entry WHERE content IS NOT NULL OR summary IS NOT NULL
               OR norm_text IS NOT NULL OR norm_z IS NULL"
        ),
        0
    );
    // The outgoing feeds: same stories, same order, same lineage.
    let (status, pg_feed) = get(&format!("{web}/feeds/all.json?limit=500"));
    assert_eq!(status, 200, "{pg_feed}");
    let (_, sqlite_feed) = get(&format!("{sqlite_web}/feeds/all.json?limit=500"));
    let ours = lineage(&pg_feed);
    assert!(ours.len() >= 12, "{pg_feed}");
    assert_eq!(ours, lineage(&sqlite_feed));
    let (_, tagged) = get(&format!("{web}/feeds/tag/pakistan.json"));
    let (_, sqlite_tagged) = get(&format!("{sqlite_web}/feeds/tag/pakistan.json"));
    assert_eq!(lineage(&tagged), lineage(&sqlite_tagged));
    assert!(!lineage(&tagged).is_empty());
    assert_eq!(get(&format!("{web}/feeds/tag/nosuchtag.atom")).0, 404);
    let (status, atom) = get(&format!("{web}/feeds/all.atom"));
    assert_eq!(status, 200);
    assert!(
        atom.contains("<feed xmlns=\"http://www.w3.org/2005/Atom\""),
        "{atom}"
    );

    // The pages: river, the most syndicated story, search, feed health.
    let (id, title, copies): (i64, String, i64) = with_client(&url, async |c| {
        let r = c
            .query_one(
                "SELECT story_id, title, source_count::bigint FROM stories
                 ORDER BY source_count DESC, story_id LIMIT 1",
                &[],
            )
            .await
            .expect("a story");
        (r.get(0), r.get(1), r.get(2))
    });
    assert!(copies >= 3);
    let (status, home) = get(&format!("{web}/"));
    assert_eq!(status, 200);
    assert!(home.contains(&format!("/story/{id}")), "{home}");
    let (status, page) = get(&format!("{web}/story/{id}"));
    assert_eq!(status, 200);
    assert_eq!(
        page.matches("<li class=\"copy ").count(),
        usize::try_from(copies).expect("count"),
        "{page}"
    );
    assert!(page.contains(&html_escape(&title)), "{title} in {page}");
    assert_eq!(get(&format!("{web}/story/999999")).0, 404);
    let (status, found) = get(&format!("{web}/search?q=embassy+talks"));
    assert_eq!(status, 200);
    assert!(found.contains("<mark>"), "{found}");
    let (_, sqlite_found) = get(&format!("{sqlite_web}/search?q=embassy+talks"));
    assert_eq!(
        found.matches("href=\"/story/").count(),
        sqlite_found.matches("href=\"/story/").count()
    );
    // Odd input reads as on SQLite: a page, never a database error.
    for q in ["%22unclosed", "NEAR(", "*", "embassy+-talks"] {
        let (status, page) = get(&format!("{web}/search?q={q}"));
        let (sqlite_status, sqlite_page) = get(&format!("{sqlite_web}/search?q={q}"));
        assert_eq!(status, sqlite_status, "{q}: {page}");
        assert_eq!(
            page.matches("href=\"/story/").count(),
            sqlite_page.matches("href=\"/story/").count(),
            "{q}: {page}"
        );
    }
    let (_, health) = get(&format!("{web}/feeds"));
    let broken = health.find("/broken.rss").expect("broken feed listed");
    let ok = health.find("/afp.rss").expect("afp listed");
    assert!(broken < ok, "failing first: {health}");

    // Metrics: gauges of the shared database, this worker's counters.
    let (status, text) = get(&format!("{metrics}/metrics"));
    assert_eq!(status, 200);
    let m = samples(&text);
    let ok_feeds = pg_count(
        &url,
        "SELECT count(*) FROM feed WHERE active AND last_fetch_at IS NOT NULL AND error_count = 0",
    );
    assert_eq!(
        m.get("feedfold_feeds{state=\"ok\"}"),
        Some(&(ok_feeds as f64)),
        "{text}"
    );
    assert_eq!(
        m.get("feedfold_feeds{state=\"failing\"}"),
        Some(&2.0),
        "{text}"
    );
    assert!(m["feedfold_database_size_bytes"] > 1_000_000.0, "{text}");
    let fetched: f64 = ["ok", "error"]
        .iter()
        .filter_map(|o| m.get(&format!("feedfold_fetches_total{{outcome=\"{o}\"}}")))
        .sum();
    assert_eq!(fetched, feeds as f64, "{text}");
    let (status, health) = get(&format!("{metrics}/healthz"));
    assert_eq!(status, 200, "{health}");
    let h: Value = serde_json::from_str(&health).expect("JSON");
    assert_eq!(h["database"], "ok");
}

/// What maud does to a title in a page.
fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
