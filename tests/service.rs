//! The daemon as a service: signals and the shutdown grace period, the
//! systemd notification protocol, log formats, the metrics and health
//! endpoint over real HTTP, and `feedfold status`. Every test runs the real
//! binary against a real HTTP server on 127.0.0.1.

mod common;

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{rss, wait_until, Daemon, Item, Route, Server, Setup};

const RSS_TYPE: &str = "application/rss+xml";

/// Distinct news-like bodies, so that only items meant to fold do.
fn body(title: &str) -> String {
    let text = match title {
        "Istanbul talks" => "Delegations from both countries met in Istanbul on Thursday for a second round of talks on trade and security, officials said.",
        "Cricket" => "Pakistan won the toss and elected to bat first in Rawalpindi, where rain delayed the start of the third one-day international.",
        "Fast one" => "The central bank kept its policy rate unchanged at its monthly meeting, citing slowing inflation and weak growth.",
        "Slow one" => "Floods in the northern valleys cut off several villages and washed away a bridge on the main highway overnight.",
        "Slow two" => "A new metro line opened in the capital on Monday, linking the airport with the business district in twenty minutes.",
        other => other,
    };
    format!("<p>{text}</p>")
}

/// An RSS feed of (guid, title) items with distinct bodies.
fn feed_doc(name: &str, items: &[(&str, &str)]) -> String {
    let items: Vec<Item> = items
        .iter()
        .map(|(guid, title)| {
            Item::new(guid)
                .title(title)
                .link(&format!("https://{name}.example/{guid}"))
                .html(&body(title))
        })
        .collect();
    rss(name, &items)
}

/// Adds TOML tables to the setup's config file.
fn append_config(setup: &Setup, text: &str) {
    let path = setup.config();
    let mut config = std::fs::read_to_string(&path).expect("read config");
    config.push_str(text);
    std::fs::write(path, config).expect("write config");
}

fn count(setup: &Setup, sql: &str) -> i64 {
    rusqlite::Connection::open(setup.db())
        .and_then(|c| c.query_row(sql, [], |r| r.get(0)))
        .unwrap_or(0)
}

/// Opens a second connection holding SQLite's write lock (`BEGIN IMMEDIATE`)
/// until `COMMIT`, as another process writing to the database would.
fn lock_database(setup: &Setup) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(setup.db()).expect("open");
    // The daemon's probe holds the lock for microseconds; wait it out.
    conn.busy_timeout(Duration::from_secs(5))
        .expect("busy timeout");
    conn.execute_batch("BEGIN IMMEDIATE").expect("lock");
    conn
}

fn integrity(setup: &Setup) -> String {
    setup.sql::<String>("PRAGMA integrity_check")
}

/// `/slow`: a two-item feed answered after `delay`.
fn route_slow(server: &Server, delay: Duration) {
    server.route(
        "/slow",
        Route::ok(
            RSS_TYPE,
            feed_doc("slow", &[("s1", "Slow one"), ("s2", "Slow two")]),
        ),
    );
    server.delay("/slow", delay);
}

/// Two feeds: `/fast` answers at once, `/slow` after `delay`.
fn fast_and_slow(delay: Duration) -> (Server, Setup) {
    let server = Server::start();
    server.route(
        "/fast",
        Route::ok(RSS_TYPE, feed_doc("fast", &[("f1", "Fast one")])),
    );
    route_slow(&server, delay);
    let setup = Setup::new(&[(&server.url("/fast"), None), (&server.url("/slow"), None)]);
    (server, setup)
}

fn entries_of(setup: &Setup, path: &str) -> i64 {
    count(
        setup,
        &format!("SELECT COUNT(*) FROM entry e JOIN feed f ON f.id = e.feed_id WHERE f.url LIKE '%{path}'"),
    )
}

#[test]
fn sigterm_mid_poll_lets_the_slow_fetch_finish_and_commits_it() {
    let (server, setup) = fast_and_slow(Duration::from_secs(4));
    let mut daemon = Daemon::start(&setup.config(), &["run"], &[("RUST_LOG", "info")]);
    wait_until(
        "the slow request arrives and the fast feed is stored",
        Duration::from_secs(20),
        || server.arrived("/slow") == 1 && entries_of(&setup, "/fast") == 1,
    );
    assert_eq!(
        entries_of(&setup, "/slow"),
        0,
        "the slow feed is still in flight"
    );
    daemon.signal("TERM");
    let (status, took) = daemon.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "{}", daemon.log());
    assert!(
        took >= Duration::from_millis(1500),
        "exited after {took:?}, before the slow fetch could finish"
    );
    assert_eq!(
        entries_of(&setup, "/slow"),
        2,
        "the fetch in flight was written"
    );
    assert_eq!(count(&setup, "SELECT COUNT(*) FROM fetch_log"), 2);
    assert_eq!(integrity(&setup), "ok");
    let wal = setup.dir.path().join("ff.db-wal");
    assert!(
        !wal.exists() || std::fs::metadata(&wal).expect("wal").len() == 0,
        "a clean stop checkpoints the WAL"
    );
    let log = daemon.log();
    assert!(log.contains("waiting for fetches in flight"), "{log}");
    assert!(log.contains("stopped"), "{log}");
}

/// A one-shot `poll` stopped by SIGTERM starts no more feeds, commits the
/// one in flight and exits 143. One fetch per host at a time, so while the
/// slow feed is in flight no other can start, whatever the order.
#[test]
fn sigterm_stops_a_one_shot_poll_after_the_fetch_in_flight() {
    let server = Server::start();
    route_slow(&server, Duration::from_secs(3));
    server.route(
        "/a",
        Route::ok(RSS_TYPE, feed_doc("a", &[("a1", "Fast one")])),
    );
    server.route(
        "/b",
        Route::ok(RSS_TYPE, feed_doc("b", &[("b1", "Cricket")])),
    );
    let setup = Setup::with_poll(
        &[
            (&server.url("/slow"), None),
            (&server.url("/a"), None),
            (&server.url("/b"), None),
        ],
        "per_host = 1",
    );
    let mut poll = Daemon::start(&setup.config(), &["poll", "--all"], &[("RUST_LOG", "info")]);
    wait_until("the slow request arrives", Duration::from_secs(20), || {
        server.arrived("/slow") == 1
    });
    let started = server.arrived("/a") + server.arrived("/b");
    poll.signal("TERM");
    let (status, took) = poll.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(143), "{}", poll.log());
    assert!(
        took >= Duration::from_millis(1500),
        "exited after {took:?}, before the slow fetch could finish"
    );
    assert_eq!(
        entries_of(&setup, "/slow"),
        2,
        "the fetch in flight was written"
    );
    assert_eq!(
        server.arrived("/a") + server.arrived("/b"),
        started,
        "no feed started after the signal"
    );
    assert_eq!(
        count(&setup, "SELECT COUNT(*) FROM fetch_log"),
        1 + started as i64
    );
    assert_eq!(integrity(&setup), "ok");
    assert!(poll.log().contains("stopped early"), "{}", poll.log());
}

#[test]
fn the_grace_period_bounds_the_wait_for_a_fetch_in_flight() {
    let (server, setup) = fast_and_slow(Duration::from_secs(60));
    append_config(&setup, "[daemon]\nshutdown_grace = \"1s\"\n");
    let mut daemon = Daemon::start(&setup.config(), &["run"], &[("RUST_LOG", "info")]);
    wait_until("the slow request arrives", Duration::from_secs(20), || {
        server.arrived("/slow") == 1 && entries_of(&setup, "/fast") == 1
    });
    daemon.signal("TERM");
    let (status, took) = daemon.wait_exit(Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "{}", daemon.log());
    assert!(
        took >= Duration::from_millis(900),
        "left before the grace period: {took:?}"
    );
    assert!(took < Duration::from_secs(8), "grace of 1 s took {took:?}");
    assert!(
        daemon.log().contains("grace period is over"),
        "{}",
        daemon.log()
    );
    assert_eq!(entries_of(&setup, "/fast"), 1);
    assert_eq!(entries_of(&setup, "/slow"), 0);
    assert_eq!(integrity(&setup), "ok");
}

#[test]
fn a_second_signal_exits_at_once_and_the_database_stays_intact() {
    let (server, setup) = fast_and_slow(Duration::from_secs(60));
    append_config(&setup, "[daemon]\nshutdown_grace = \"60s\"\n");
    let mut daemon = Daemon::start(&setup.config(), &["run"], &[("RUST_LOG", "info")]);
    wait_until("the slow request arrives", Duration::from_secs(20), || {
        server.arrived("/slow") == 1 && entries_of(&setup, "/fast") == 1
    });
    daemon.signal("TERM");
    daemon.wait_for_line("shutting down", Duration::from_secs(5));
    daemon.signal("INT");
    let (status, took) = daemon.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(130), "128 + SIGINT: {}", daemon.log());
    assert!(took < Duration::from_secs(3), "took {took:?} to exit");
    assert_eq!(integrity(&setup), "ok");
    assert_eq!(entries_of(&setup, "/fast"), 1, "committed work survives");
    // The database is usable: the next run polls the feed that was cut off.
    server.delay("/slow", Duration::ZERO);
    let out = setup.ok(&["poll"]);
    assert!(out.contains("1 ok"), "{out}");
    assert_eq!(entries_of(&setup, "/slow"), 2);
}

#[test]
fn sighup_does_not_stop_the_daemon() {
    let server = Server::start();
    server.route(
        "/feed",
        Route::ok(RSS_TYPE, feed_doc("h", &[("1", "Fast one")])),
    );
    let setup = Setup::new(&[(&server.url("/feed"), None)]);
    let mut daemon = Daemon::start(&setup.config(), &["run"], &[("RUST_LOG", "info")]);
    daemon.wait_for_line("poll pass done", Duration::from_secs(20));
    daemon.signal("HUP");
    daemon.wait_for_line("SIGHUP", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(200));
    assert!(daemon.running(), "SIGHUP killed the daemon");
    daemon.signal("TERM");
    let (status, _) = daemon.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
}

/// Issue 22 item 3: a second daemon on one database stops at start-up,
/// naming the first; one-shot commands keep working beside the daemon.
#[test]
fn a_second_daemon_on_one_database_stops_naming_the_first() {
    let server = Server::start();
    server.route(
        "/feed",
        Route::ok(RSS_TYPE, feed_doc("one", &[("1", "Fast one")])),
    );
    let setup = Setup::new(&[(&server.url("/feed"), None)]);
    let mut first = Daemon::start(&setup.config(), &["run"], &[("RUST_LOG", "info")]);
    first.wait_for_line("poll pass done", Duration::from_secs(20));
    let out = setup.run(&["run"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("another feedfold daemon")
            && stderr.contains(&format!("pid {}", first.pid())),
        "{stderr}"
    );
    assert!(stderr.contains("ff.db.lock"), "{stderr}");
    // One-shot commands beside the daemon.
    assert!(setup.ok(&["stories"]).contains("Fast one"));
    setup.ok(&["poll", "--all"]);
    setup.ok(&["prune"]);
    first.signal("TERM");
    let (status, _) = first.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    // The lock goes with the process: a new daemon starts.
    let mut second = Daemon::start(&setup.config(), &["run"], &[("RUST_LOG", "info")]);
    second.wait_for_line("poll pass done", Duration::from_secs(20));
    second.signal("TERM");
    let (status, _) = second.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
}

/// A datagram socket standing in for systemd's `NOTIFY_SOCKET`.
struct NotifySocket {
    socket: UnixDatagram,
    path: std::path::PathBuf,
}

impl NotifySocket {
    fn bind(setup: &Setup) -> NotifySocket {
        let path = setup.dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind notify socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        NotifySocket { socket, path }
    }

    /// The next message, or `None` after the read timeout.
    fn recv(&self) -> Option<String> {
        let mut buf = [0u8; 4096];
        let n = self.socket.recv(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// Receives until a message contains `needle`; returns every message seen.
    fn until(&self, needle: &str, within: Duration) -> Vec<(Instant, String)> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            if let Some(m) = self.recv() {
                let hit = m.contains(needle);
                seen.push((Instant::now(), m));
                if hit {
                    return seen;
                }
            }
        }
        panic!("no {needle:?} within {within:?}; got {seen:?}");
    }
}

#[test]
fn systemd_is_told_ready_then_pinged_then_told_stopping() {
    let server = Server::start();
    server.route(
        "/feed",
        Route::ok(RSS_TYPE, feed_doc("n", &[("1", "Fast one")])),
    );
    let setup = Setup::new(&[(&server.url("/feed"), None)]);
    let notify = NotifySocket::bind(&setup);
    let sock = notify.path.to_str().expect("utf-8 path").to_string();
    let mut daemon = Daemon::start(
        &setup.config(),
        &["run"],
        &[("NOTIFY_SOCKET", &sock), ("WATCHDOG_USEC", "400000")],
    );
    let first = notify.until("READY=1", Duration::from_secs(20));
    assert!(
        first.iter().all(|(_, m)| !m.contains("WATCHDOG=1")),
        "READY comes before any watchdog ping: {first:?}"
    );
    // READY means migrations are done.
    assert!(setup.sql::<i64>("PRAGMA user_version") >= 1);
    let mut pings = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while pings < 3 && Instant::now() < deadline {
        if notify.recv().is_some_and(|m| m.contains("WATCHDOG=1")) {
            pings += 1;
        }
    }
    assert_eq!(pings, 3, "watchdog pinged every 200 ms");
    daemon.signal("TERM");
    notify.until("STOPPING=1", Duration::from_secs(10));
    let (status, _) = daemon.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
}

#[test]
fn watchdog_pings_stop_while_the_database_writer_is_stuck() {
    let server = Server::start();
    server.route(
        "/feed",
        Route::ok(RSS_TYPE, feed_doc("w", &[("1", "Fast one")])),
    );
    let setup = Setup::new(&[(&server.url("/feed"), None)]);
    let notify = NotifySocket::bind(&setup);
    let sock = notify.path.to_str().expect("utf-8 path").to_string();
    let daemon = Daemon::start(
        &setup.config(),
        &["run"],
        &[
            ("NOTIFY_SOCKET", &sock),
            ("WATCHDOG_USEC", "500000"),
            ("RUST_LOG", "info"),
        ],
    );
    notify.until("READY=1", Duration::from_secs(20));
    daemon.wait_for_line("poll pass done", Duration::from_secs(20));
    notify.until("WATCHDOG=1", Duration::from_secs(5));

    // Another process takes the write lock: the writer's probe blocks.
    let conn = lock_database(&setup);
    let locked = Instant::now();
    let mut during = Vec::new();
    while locked.elapsed() < Duration::from_secs(4) {
        if let Some(_ping) = notify.recv().filter(|m| m.contains("WATCHDOG=1")) {
            during.push(locked.elapsed());
        }
    }
    conn.execute_batch("COMMIT").expect("unlock");
    // One probe may have finished just before the lock was taken.
    assert!(
        during.iter().all(|t| *t < Duration::from_secs(1)),
        "watchdog pinged while the writer was stuck: {during:?}"
    );
    let after = notify.until("WATCHDOG=1", Duration::from_secs(5));
    assert!(!after.is_empty(), "pings resume once the writer answers");
    assert!(
        daemon.log().contains("watchdog not pinged"),
        "{}",
        daemon.log()
    );
}

#[test]
fn plain_logs_under_systemd_with_filters_from_config_and_env() {
    let server = Server::start();
    server.route(
        "/feed",
        Route::ok(
            RSS_TYPE,
            feed_doc("p", &[("1", "Slow one"), ("2", "Slow two")]),
        ),
    );
    let setup = Setup::new(&[(&server.url("/feed"), None)]);
    append_config(&setup, "[log]\nlevel = \"info,feedfold=debug\"\n");
    let mut daemon = Daemon::start(&setup.config(), &["run"], &[("INVOCATION_ID", "0123abcd")]);
    let summary = daemon.wait_for_line("poll pass done", Duration::from_secs(20));
    daemon.signal("TERM");
    daemon.wait_exit(Duration::from_secs(10));
    for key in [
        "feeds=1",
        "errors=0",
        "new_entries=2",
        "new_stories=",
        "folded=0",
        "duration_ms=",
    ] {
        assert!(summary.contains(key), "summary lacks {key}: {summary}");
    }
    let per_feed = daemon.wait_for_line("feed polled", Duration::ZERO);
    assert!(per_feed.contains(&server.url("/feed")), "{per_feed}");
    assert!(per_feed.trim_start().starts_with("DEBUG"), "{per_feed}");
    for line in daemon.lines() {
        assert!(!line.contains('\u{1b}'), "colour code in {line:?}");
        let level = line.split_whitespace().next().unwrap_or_default();
        assert!(
            ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"].contains(&level),
            "plain lines start with the level, not a timestamp: {line:?}"
        );
    }

    // Under a journal stream, each line carries its syslog priority.
    let mut daemon = Daemon::start(&setup.config(), &["run"], &[("JOURNAL_STREAM", "8:12345")]);
    daemon.wait_for_line("scheduler started", Duration::from_secs(20));
    daemon.signal("TERM");
    daemon.wait_exit(Duration::from_secs(10));
    let started = daemon.wait_for_line("scheduler started", Duration::ZERO);
    assert!(started.starts_with("<6>"), "{started}");

    // RUST_LOG wins over [log] level.
    let out = Command::new(env!("CARGO_BIN_EXE_feedfold"))
        .arg("-c")
        .arg(setup.config())
        .args(["--log-format", "plain", "poll", "--all"])
        .env("RUST_LOG", "warn")
        .output()
        .expect("poll");
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("feed polled"), "{stderr}");
}

/// Issue 22 item 6: a filter EnvFilter accepts but that would log nothing
/// (`verbose` reads as a target name) is refused by `check` and `run`, with
/// file, line and key.
#[test]
fn a_log_level_that_would_log_nothing_is_refused_at_load() {
    let setup = Setup::new(&[]);
    append_config(&setup, "[log]\nlevel = \"verbose\"\n");
    let line = std::fs::read_to_string(setup.config())
        .expect("config")
        .lines()
        .position(|l| l.starts_with("level"))
        .expect("level line")
        + 1;
    for command in [&["check"][..], &["run"]] {
        let out = setup.run(command);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command:?}: {stderr}");
        assert!(
            stderr.contains(&format!("feedfold.toml:{line}: log.level:"))
                && stderr.contains("\"verbose\" is not a level"),
            "{command:?}: {stderr}"
        );
    }
    assert!(!setup.db().exists(), "refused before opening the database");
}

#[test]
fn json_logs_with_log_format_json() {
    let server = Server::start();
    server.route(
        "/feed",
        Route::ok(RSS_TYPE, feed_doc("j", &[("1", "Fast one")])),
    );
    server.route("/gone", Route::status(404));
    let setup = Setup::new(&[(&server.url("/feed"), None), (&server.url("/gone"), None)]);
    let mut daemon = Daemon::start(
        &setup.config(),
        &["--log-format", "json", "run"],
        &[("RUST_LOG", "debug")],
    );
    daemon.wait_for_line("poll pass done", Duration::from_secs(20));
    daemon.signal("TERM");
    daemon.wait_exit(Duration::from_secs(10));
    let events: Vec<serde_json::Value> = daemon
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let summary = events
        .iter()
        .find(|e| e["message"] == "poll pass done")
        .expect("summary event");
    assert_eq!(summary["level"], "INFO");
    assert!(summary["timestamp"].is_string());
    assert_eq!(summary["feeds"], 2);
    assert_eq!(summary["errors"], 1);
    assert_eq!(summary["new_entries"], 1);
    assert!(summary["duration_ms"].is_u64());
    let failed = events
        .iter()
        .find(|e| e["message"] == "feed polled" && e["outcome"] == "error")
        .expect("per-feed event for the failing feed");
    assert_eq!(failed["status"], 404);
    assert_eq!(failed["level"], "DEBUG");
}

/// GETs `url` over real HTTP; returns status, content type and body.
fn get(url: &str) -> (u16, String, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let r = reqwest::get(url).await.expect("GET");
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (status, ct, r.text().await.expect("body"))
    })
}

/// Serves `/a` (two stories) and `/b` (a copy of one of them): 3 entries,
/// 2 stories, 1 folded copy.
fn two_outlets(server: &Server) {
    server.route(
        "/a",
        Route::ok(
            RSS_TYPE,
            feed_doc("a", &[("1", "Istanbul talks"), ("2", "Cricket")]),
        ),
    );
    server.route(
        "/b",
        Route::ok(RSS_TYPE, feed_doc("b", &[("9", "Istanbul talks")])),
    );
}

/// The value of one sample line (`name{labels} value`) in an exposition.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
        .trim()
        .parse()
        .expect("number")
}

#[test]
fn metrics_and_healthz_over_http() {
    let server = Server::start();
    two_outlets(&server);
    server.route("/broken", Route::status(500));
    let setup = Setup::new(&[
        (&server.url("/a"), None),
        (&server.url("/b"), None),
        (&server.url("/broken"), None),
    ]);
    append_config(&setup, "[metrics]\nlisten = \"127.0.0.1:0\"\n");
    let mut daemon = Daemon::start(
        &setup.config(),
        &["--log-format", "json", "run"],
        &[("RUST_LOG", "info")],
    );
    let listening: serde_json::Value =
        serde_json::from_str(&daemon.wait_for_line("serving /metrics", Duration::from_secs(20)))
            .expect("JSON line");
    let base = format!("http://{}", listening["addr"].as_str().expect("addr"));
    daemon.wait_for_line("poll pass done", Duration::from_secs(20));

    let (status, content_type, text) = get(&format!("{base}/metrics"));
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    assert_eq!(sample(&text, "feedfold_fetches_total{outcome=\"ok\"}"), 2.0);
    assert_eq!(
        sample(&text, "feedfold_fetches_total{outcome=\"error\"}"),
        1.0
    );
    assert_eq!(
        sample(&text, "feedfold_http_responses_total{status=\"200\"}"),
        2.0
    );
    assert_eq!(
        sample(&text, "feedfold_http_responses_total{status=\"500\"}"),
        1.0
    );
    assert!(sample(&text, "feedfold_fetch_bytes_total") > 200.0);
    assert_eq!(sample(&text, "feedfold_fetch_duration_seconds_count"), 3.0);
    assert_eq!(
        sample(&text, "feedfold_fetch_duration_seconds_bucket{le=\"+Inf\"}"),
        3.0
    );
    assert_eq!(sample(&text, "feedfold_entries_ingested_total"), 3.0);
    assert_eq!(sample(&text, "feedfold_stories_ingested_total"), 2.0);
    assert_eq!(sample(&text, "feedfold_copies_folded_total"), 1.0);
    assert_eq!(sample(&text, "feedfold_dedup_decision_seconds_count"), 3.0);
    assert_eq!(sample(&text, "feedfold_feeds{state=\"ok\"}"), 2.0);
    assert_eq!(sample(&text, "feedfold_feeds_in_backoff"), 1.0);
    assert!(sample(&text, "feedfold_database_size_bytes") > 4096.0);
    // Every entry searchable within the promised 5 s of its commit.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut text = text;
    while sample(&text, "feedfold_search_index_lag_seconds_count") < 3.0 {
        assert!(Instant::now() < deadline, "never indexed: {text}");
        std::thread::sleep(Duration::from_millis(200));
        text = get(&format!("{base}/metrics")).2;
    }
    assert_eq!(
        sample(&text, "feedfold_search_index_lag_seconds_bucket{le=\"5\"}"),
        3.0,
        "{text}"
    );
    let tick = sample(&text, "feedfold_last_successful_tick_timestamp_seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    assert!((now - tick).abs() < 60.0, "last tick {tick}, now {now}");

    let (status, _, body) = get(&format!("{base}/healthz"));
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["database"], "ok");

    // A database that does not answer makes the service unhealthy.
    let conn = lock_database(&setup);
    let (status, _, body) = get(&format!("{base}/healthz"));
    conn.execute_batch("COMMIT").expect("unlock");
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).expect("JSON")["status"],
        "unhealthy"
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, _, body) = get(&format!("{base}/healthz"));
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "healthz did not recover: {body}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(get(&format!("{base}/nope")).0, 404);
    daemon.signal("TERM");
    let (status, _) = daemon.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "{}", daemon.log());
}

#[test]
fn status_shows_feed_health_today_and_the_most_syndicated_stories() {
    let server = Server::start();
    two_outlets(&server);
    server.route("/gone", Route::status(404));
    let setup = Setup::new(&[
        (&server.url("/a"), Some("Outlet A")),
        (&server.url("/b"), None),
        (&server.url("/gone"), Some("Gone feed")),
    ]);
    setup.ok(&["poll"]);

    let out = setup.ok(&["status"]);
    assert!(
        out.contains(
            "3 active: 2 ok, 1 failing (1 waiting to retry), 0 new, 0 disabled; 0 inactive"
        ),
        "{out}"
    );
    assert!(out.contains("Today     3 items, 2 stories"), "{out}");
    assert!(
        out.contains("Last 24h  3 items, 2 stories, 1 folded copy"),
        "{out}"
    );
    assert!(out.contains("KiB") || out.contains("MiB"), "{out}");
    let top = out
        .lines()
        .skip_while(|l| !l.starts_with("Most syndicated"))
        .nth(2)
        .expect("first story row");
    assert!(
        top.contains("Istanbul talks") && top.trim_start().starts_with('2'),
        "{out}"
    );
    let failing = out
        .lines()
        .skip_while(|l| !l.starts_with("Failing feeds"))
        .nth(2)
        .expect("failing feed row");
    assert!(
        failing.contains("Gone feed") && failing.contains("404"),
        "{out}"
    );

    let json = setup.json_lines(&["status", "--json"]);
    let s = &json[0];
    assert_eq!(s["feeds"]["backoff"], 1);
    assert_eq!(s["feeds"]["ok"], 2);
    assert_eq!(s["folded_24h"], 1);
    assert_eq!(s["top_stories"][0]["source_count"], 2);
    assert!(s["database_bytes"].as_u64().expect("size") > 0);
    // The polls that filled it were one-shot: they left every item indexed.
    assert_eq!(s["search_index"]["entries"], 0, "{s}");
    assert!(out.contains("Search    every item indexed"), "{out}");
}
