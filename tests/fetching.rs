//! Politeness, end to end: the real binary against a real server on
//! 127.0.0.1 that counts what it receives. Retry-After (both forms) per feed
//! and per host, the per-host connection limit, spreading over a tick,
//! permanent vs temporary redirects, 410 Gone, conditional GET, request
//! headers, proxies, autodiscovery, the adaptive interval and backoff.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{one_item, Daemon, Route, Server, Setup};
use serde_json::Value;

const RSS: &str = "application/rss+xml";

fn row(setup: &Setup, url: &str) -> Value {
    setup
        .json_lines(&["feeds", "--json"])
        .into_iter()
        .find(|r| r["url"].as_str() == Some(url))
        .unwrap_or_else(|| panic!("feed {url} listed"))
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .unwrap_or_else(|| panic!("a time, got {v}"))
        .with_timezone(&Utc)
}

fn secs_between(a: &Value, b: &Value) -> i64 {
    (time(b) - time(a)).num_seconds()
}

#[test]
fn retry_after_in_seconds_holds_that_feed_only() {
    let server = Server::start();
    server.route(
        "/limited",
        Route::status(429).with_header("retry-after", "3600"),
    );
    server.route("/fine", Route::ok(RSS, one_item("Fine", "f1")));
    let (limited, fine) = (server.url("/limited"), server.url("/fine"));
    let setup = Setup::new(&[(&limited, None), (&fine, None)]);

    let out = setup.ok(&["poll"]);
    assert!(out.contains("1 ok, 1 failed"), "{out}");
    let r = row(&setup, &limited);
    assert_eq!(r["last_status"], 429);
    let err = r["last_error"].as_str().expect("error");
    assert!(
        err.contains("HTTP 429 Too Many Requests") && err.contains("retry after 1h"),
        "{err}"
    );
    let wait = secs_between(&r["last_fetch_at"], &r["retry_after_until"]);
    assert!((3599..=3601).contains(&wait), "{wait}");
    assert!(secs_between(&r["retry_after_until"], &r["next_due_at"]) >= 0);
    assert_eq!(r["backoff_until"], r["next_due_at"]);

    // Even `poll --all` waits for that feed; the host is not slowed by one
    // 429 (separate scopes), so the other feed of the host is fetched.
    let out = setup.ok(&["poll", "--all"]);
    assert!(out.contains("1 deferred"), "{out}");
    assert_eq!(server.seen("/limited").len(), 1);
    assert_eq!(server.seen("/fine").len(), 2);
    assert_eq!(row(&setup, &fine)["host_throttled_until"], Value::Null);
    let table = setup.ok(&["feeds"]);
    assert!(table.contains("Retry-After until"), "{table}");
}

#[test]
fn retry_after_as_an_http_date_is_honoured_for_503() {
    let server = Server::start();
    let at = Utc::now() + chrono::TimeDelta::minutes(90);
    let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    server.route(
        "/busy",
        Route::status(503).with_header("retry-after", &date),
    );
    let url = server.url("/busy");
    let setup = Setup::new(&[(&url, None)]);
    setup.poll_all_failing(&["poll"]);
    let r = row(&setup, &url);
    assert!(
        r["last_error"].as_str().expect("error").contains("503"),
        "{r}"
    );
    let until = time(&r["retry_after_until"]);
    assert!((until - at).num_seconds().abs() <= 2, "{until} vs {at}");
    assert!(time(&r["next_due_at"]) >= until - chrono::TimeDelta::seconds(1));
}

#[test]
fn repeated_429s_from_one_host_pause_the_whole_host() {
    let server = Server::start();
    for p in ["/a", "/b", "/c"] {
        server.route(p, Route::status(429));
    }
    server.route("/other", Route::ok(RSS, one_item("Other", "o1")));
    let feeds = [
        server.url("/a"),
        server.url("/b"),
        server.url("/c"),
        server.url_as("localhost", "/other"),
    ];
    let list: Vec<(&str, Option<&str>)> = feeds.iter().map(|u| (u.as_str(), None)).collect();
    // One fetch at a time per host, so the 429s arrive "in a row".
    let setup = Setup::with_poll(&list, "per_host = 1");
    let out = setup.ok(&["poll"]);
    assert!(
        out.contains("1 ok, 2 failed") && out.contains("1 deferred"),
        "{out}"
    );
    let fetched: usize = ["/a", "/b", "/c"]
        .iter()
        .map(|p| server.seen(p).len())
        .sum();
    assert_eq!(fetched, 2, "the third feed of the paused host is not asked");
    assert_eq!(server.seen("/other").len(), 1, "other hosts carry on");
    let paused = row(&setup, &feeds[0]);
    assert!(paused["host_throttled_until"].is_string(), "{paused}");
    assert_eq!(row(&setup, &feeds[3])["host_throttled_until"], Value::Null);
    assert!(setup.ok(&["feeds"]).contains("host throttled until"));
    // The pause survives the process: the next run defers the host too.
    let out = setup.ok(&["poll", "--all"]);
    assert!(out.contains("3 deferred"), "{out}");
    let fetched: usize = ["/a", "/b", "/c"]
        .iter()
        .map(|p| server.seen(p).len())
        .sum();
    assert_eq!(fetched, 2);
}

#[test]
fn per_host_limit_bounds_connections_to_each_host() {
    let server = Server::start();
    let mut feeds = Vec::new();
    for i in 0..6 {
        let path = format!("/slow{i}");
        server.route(
            &path,
            Route::ok(RSS, one_item("Slow", &format!("s{i}")))
                .with_delay(Duration::from_millis(300)),
        );
        feeds.push(server.url(&path));
    }
    // Listed after all the 127.0.0.1 feeds: without a per-host limit the
    // first four fetches would all go to 127.0.0.1.
    for i in 0..6 {
        feeds.push(server.url_as("localhost", &format!("/slow{i}")));
    }
    let list: Vec<(&str, Option<&str>)> = feeds.iter().map(|u| (u.as_str(), None)).collect();
    let setup = Setup::with_poll(&list, "");
    let out = setup.ok(&["poll"]);
    assert!(out.contains("12 ok"), "{out}");
    // `concurrency = 4` overall, `per_host = 2` (the default) per host.
    assert_eq!(server.max_in_flight("127.0.0.1"), 2);
    assert_eq!(server.max_in_flight("localhost"), 2);
}

#[test]
fn the_daemon_spreads_one_hosts_feeds_over_the_tick() {
    let server = Server::start();
    let mut feeds = Vec::new();
    for i in 0..3 {
        let path = format!("/s{i}");
        server.route(&path, Route::ok(RSS, one_item("S", &format!("s{i}"))));
        feeds.push(server.url(&path));
    }
    server.route("/elsewhere", Route::ok(RSS, one_item("E", "e1")));
    feeds.push(server.url_as("localhost", "/elsewhere"));
    // A tick every 4 s; every feed pinned to 1 s, so all four are due again
    // at each tick. The start-up pass fetches at once; tick passes spread
    // each host's feeds over half the tick (2 s).
    let setup = Setup::with_poll(&[], "schedule = \"*/4 * * * * *\"\nper_host = 8");
    let mut config = std::fs::read_to_string(setup.config()).expect("config");
    for u in &feeds {
        config.push_str(&format!("[[feed]]\nurl = \"{u}\"\ninterval = \"1s\"\n"));
    }
    std::fs::write(setup.config(), config).expect("write");
    let mut daemon = Daemon::start(&setup.config(), &["run"], &[("RUST_LOG", "warn")]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let local_paths = ["/s0", "/s1", "/s2"];
    while local_paths.iter().any(|p| server.seen(p).len() < 2)
        || server.seen("/elsewhere").len() < 2
    {
        assert!(
            std::time::Instant::now() < deadline,
            "daemon did not poll twice"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    daemon.stop();
    let at = |p: &str, n: usize| server.seen(p)[n].at;
    // The start-up pass: together.
    let first: Vec<_> = local_paths.iter().map(|p| at(p, 0)).collect();
    let spread = first
        .iter()
        .max()
        .expect("max")
        .duration_since(*first.iter().min().expect("min"));
    assert!(
        spread < Duration::from_millis(400),
        "start-up pass spread {spread:?}"
    );
    // The first tick pass: about 2/3 s apart.
    let mut starts: Vec<_> = local_paths.iter().map(|p| at(p, 1)).collect();
    starts.sort();
    for pair in starts.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_millis(500), "gap {gap:?}");
    }
    // The other host's feed is not queued behind them.
    assert!(
        at("/elsewhere", 1) < starts[1],
        "other host waited for the spread"
    );
}

#[test]
fn three_permanent_redirects_move_a_feed_temporary_ones_never() {
    let server = Server::start();
    server.route("/new-a", Route::ok(RSS, one_item("A", "a1")));
    server.route("/new-b", Route::ok(RSS, one_item("B", "b1")));
    server.route("/new-c", Route::ok(RSS, one_item("C", "c1")));
    server.route("/new-d", Route::ok(RSS, one_item("D", "d1")));
    server.route("/old-a", Route::redirect(301, "/new-a"));
    server.route("/old-b", Route::redirect(308, "/new-b"));
    server.route("/old-c", Route::redirect(302, "/new-c"));
    server.route("/old-d", Route::redirect(307, "/new-d"));
    let urls: Vec<String> = ["/old-a", "/old-b", "/old-c", "/old-d"]
        .iter()
        .map(|p| server.url(p))
        .collect();
    let list: Vec<(&str, Option<&str>)> = urls.iter().map(|u| (u.as_str(), None)).collect();
    let setup = Setup::new(&list);

    for n in 1..=2 {
        assert!(setup.ok(&["poll", "--all"]).contains("4 ok"));
        let a = row(&setup, &urls[0]);
        assert_eq!(a["fetch_url"], Value::Null, "not moved after {n}");
        assert_eq!(a["pending_redirect"], server.url("/new-a").as_str());
        assert_eq!(a["pending_redirect_count"], n);
        assert_eq!(row(&setup, &urls[2])["pending_redirect"], Value::Null);
    }
    assert!(setup
        .ok(&["feeds"])
        .contains("permanent redirect to http://127.0.0.1"));
    setup.ok(&["poll", "--all"]);
    let a = row(&setup, &urls[0]);
    let b = row(&setup, &urls[1]);
    assert_eq!(a["fetch_url"], server.url("/new-a").as_str());
    assert_eq!(b["fetch_url"], server.url("/new-b").as_str());
    assert_eq!(a["pending_redirect"], Value::Null);
    for i in [2, 3] {
        assert_eq!(row(&setup, &urls[i])["fetch_url"], Value::Null);
    }
    assert_eq!(
        setup.sql::<String>(
            "SELECT group_concat(h, ',') FROM (SELECT old_url || ' ' || reason AS h FROM feed_url_history ORDER BY old_url)"
        ),
        format!("{} moved,{} moved", urls[0], urls[1])
    );

    // From now on the moved feeds are fetched at their new URL directly.
    setup.ok(&["poll", "--all"]);
    assert_eq!(server.seen("/old-a").len(), 3);
    assert_eq!(server.seen("/old-b").len(), 3);
    assert_eq!(server.seen("/old-c").len(), 4);
    assert_eq!(server.seen("/new-a").len(), 4);
    // Entries stayed with the same feed: nothing duplicated by the move.
    assert_eq!(setup.sql::<i64>("SELECT COUNT(*) FROM entry"), 4);
    assert_eq!(setup.sql::<i64>("SELECT COUNT(*) FROM feed"), 4);
}

#[test]
fn a_changing_or_interrupted_permanent_redirect_starts_counting_again() {
    let server = Server::start();
    server.route("/x", Route::ok(RSS, one_item("X", "x1")));
    server.route("/y", Route::ok(RSS, one_item("Y", "y1")));
    server.route("/old", Route::redirect(301, "/x"));
    let url = server.url("/old");
    let setup = Setup::new(&[(&url, None)]);
    setup.ok(&["poll", "--all"]);
    setup.ok(&["poll", "--all"]);
    server.route("/old", Route::redirect(301, "/y"));
    setup.ok(&["poll", "--all"]);
    let r = row(&setup, &url);
    assert_eq!(r["fetch_url"], Value::Null);
    assert_eq!(r["pending_redirect"], server.url("/y").as_str());
    assert_eq!(r["pending_redirect_count"], 1);
    // A direct answer in between clears the count.
    server.route("/old", Route::ok(RSS, one_item("Old", "o1")));
    setup.ok(&["poll", "--all"]);
    assert_eq!(row(&setup, &url)["pending_redirect"], Value::Null);
}

#[test]
fn gone_disables_the_feed_and_says_so() {
    let server = Server::start();
    server.route("/gone", Route::status(410));
    server.route("/fine", Route::ok(RSS, one_item("Fine", "f1")));
    let (gone, fine) = (server.url("/gone"), server.url("/fine"));
    let setup = Setup::new(&[(&gone, None), (&fine, None)]);
    setup.ok(&["poll"]);
    let r = row(&setup, &gone);
    assert_eq!(r["disabled"], true);
    assert!(
        r["disabled_reason"]
            .as_str()
            .expect("reason")
            .contains("410 Gone"),
        "{r}"
    );
    assert!(r["last_error"].as_str().expect("error").contains("410"));
    assert_eq!(row(&setup, &fine)["disabled"], false);
    let table = setup.ok(&["feeds"]);
    let line = table
        .lines()
        .find(|l| l.contains("/gone"))
        .expect("gone listed");
    assert!(
        line.contains("disabled") && line.contains("no longer polled"),
        "{line}"
    );

    setup.ok(&["poll", "--all"]);
    assert_eq!(
        server.seen("/gone").len(),
        1,
        "a disabled feed is not polled"
    );
    assert_eq!(server.seen("/fine").len(), 2);

    // Removed from the config and listed again: polled again.
    let config = std::fs::read_to_string(setup.config()).expect("config");
    let without = config.replace(&format!("[[feed]]\nurl = \"{gone}\"\n"), "");
    std::fs::write(setup.config(), &without).expect("write");
    setup.ok(&["poll"]);
    std::fs::write(setup.config(), &config).expect("write");
    server.route("/gone", Route::ok(RSS, one_item("Back", "b1")));
    setup.ok(&["poll", "--all"]);
    assert_eq!(row(&setup, &gone)["disabled"], false);
    assert_eq!(server.seen("/gone").len(), 2);
}

#[test]
fn conditional_get_sends_back_exactly_what_was_received() {
    let server = Server::start();
    let lm = "Wed, 26 Feb 2025 08:00:00 GMT";
    server.route(
        "/lm",
        Route::ok(RSS, one_item("LM", "l1")).with_last_modified(lm),
    );
    server.route(
        "/weak",
        Route::ok(RSS, one_item("Weak", "w1")).with_etag("W/\"v1-abc\""),
    );
    server.route("/none", Route::ok(RSS, one_item("None", "n1")));
    let urls = [server.url("/lm"), server.url("/weak"), server.url("/none")];
    let list: Vec<(&str, Option<&str>)> = urls.iter().map(|u| (u.as_str(), None)).collect();
    let setup = Setup::new(&list);
    for _ in 0..3 {
        setup.ok(&["poll", "--all"]);
    }
    let lm_seen = server.seen("/lm");
    assert_eq!(lm_seen[0].headers.get("if-modified-since"), None);
    for s in &lm_seen[1..] {
        // The 304s carried no Last-Modified: the stored one is kept.
        assert_eq!(s.status, 304);
        assert_eq!(
            s.headers.get("if-modified-since").map(String::as_str),
            Some(lm)
        );
        assert_eq!(s.headers.get("if-none-match"), None);
    }
    for s in &server.seen("/weak")[1..] {
        assert_eq!(
            s.headers.get("if-none-match").map(String::as_str),
            Some("W/\"v1-abc\"")
        );
        assert_eq!(s.headers.get("if-modified-since"), None, "no made-up date");
    }
    for s in server.seen("/none") {
        assert_eq!(s.headers.get("if-modified-since"), None);
        assert_eq!(s.headers.get("if-none-match"), None);
    }
    assert_eq!(
        setup.sql::<String>("SELECT last_modified FROM feed WHERE url LIKE '%/lm'"),
        lm
    );
}

#[test]
fn requests_carry_accept_encoding_and_a_user_agent_with_a_url() {
    use std::io::Write;
    let server = Server::start();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(one_item("Zipped", "z1").as_bytes())
        .expect("gzip");
    server.route(
        "/gz",
        Route::ok(RSS, gz.finish().expect("gzip")).with_header("content-encoding", "gzip"),
    );
    let url = server.url("/gz");
    let setup = Setup::new(&[(&url, None)]);
    assert!(setup.ok(&["poll"]).contains("1 ok"));
    let h = &server.seen("/gz")[0].headers;
    let accept = &h["accept"];
    assert!(
        accept.contains("application/rss+xml") && accept.contains("application/atom+xml"),
        "{accept}"
    );
    let encodings = &h["accept-encoding"];
    assert!(
        encodings.contains("gzip") && encodings.contains("br") && encodings.contains("deflate"),
        "{encodings}"
    );
    let ua = &h["user-agent"];
    assert!(
        ua.starts_with("feedfold/") && ua.contains("(+https://"),
        "{ua}"
    );
    assert_eq!(
        setup.sql::<String>("SELECT title FROM entry"),
        "Zipped item"
    );
}

#[test]
fn the_proxy_comes_from_the_environment() {
    let server = Server::start();
    server.route("/via-proxy", Route::ok(RSS, one_item("Proxied", "p1")));
    // A host name that resolves nowhere: only the proxy can reach it.
    let url = "http://feeds.proxied.invalid/via-proxy";
    let setup = Setup::new(&[(url, None)]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_feedfold"))
        .arg("-c")
        .arg(setup.config())
        .arg("poll")
        .env("RUST_LOG", "warn")
        .env("HTTP_PROXY", format!("http://{}", server.addr))
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("1 ok"), "{stdout}");
    let seen = server.seen("/via-proxy");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].headers["host"], "feeds.proxied.invalid");
}

#[test]
fn an_html_page_leads_to_the_feed_it_announces() {
    let server = Server::start();
    server.route(
        "/blog/",
        Route::ok(
            "text/html; charset=utf-8",
            r#"<!DOCTYPE html><html><head><title>Blog</title>
            <link rel="alternate" type="application/rss+xml" title="Posts" href="feed.xml">
            <link rel="alternate" type="application/atom+xml" title="Comments" href="/comments.atom">
            </head><body><h1>Welcome</h1></body></html>"#,
        ),
    );
    server.route("/blog/feed.xml", Route::ok(RSS, one_item("Posts", "p1")));
    let page = server.url("/blog/");
    let setup = Setup::new(&[(&page, None)]);
    let out = setup.ok(&["poll"]);
    assert!(out.contains("1 ok") && out.contains("1 new entry"), "{out}");
    let r = row(&setup, &page);
    assert_eq!(r["fetch_url"], server.url("/blog/feed.xml").as_str());
    assert_eq!(r["last_error"], Value::Null);
    let note: String = setup.sql("SELECT note FROM feed_url_history WHERE reason = 'discovered'");
    assert!(
        note.contains(&server.url("/blog/feed.xml"))
            && note.contains(&server.url("/comments.atom")),
        "{note}"
    );
    setup.ok(&["poll", "--all"]);
    assert_eq!(
        server.seen("/blog/").len(),
        1,
        "the page is not fetched again"
    );
    assert_eq!(server.seen("/blog/feed.xml").len(), 2);
    assert!(server.seen("/comments.atom").is_empty());
    assert!(setup.ok(&["feeds"]).contains("fetched from"));
}

/// An RSS document with `n` items published `gap_minutes` apart, the newest
/// one gap (at most ten minutes) ago, plus extra channel elements.
fn dated_feed(n: usize, gap_minutes: i64, channel_extra: &str) -> String {
    let mut s = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\" xmlns:sy=\"http://purl.org/rss/1.0/modules/syndication/\"><channel><title>Dated</title>{channel_extra}"
    );
    for i in 0..n {
        let at =
            Utc::now() - chrono::TimeDelta::minutes(gap_minutes.min(10) + gap_minutes * i as i64);
        s.push_str(&format!(
            "<item><guid>d{i}</guid><title>Item {i}</title><pubDate>{}</pubDate></item>",
            at.to_rfc2822()
        ));
    }
    s.push_str("</channel></rss>");
    s
}

#[test]
fn the_interval_follows_the_publishing_rate_and_what_the_feed_asks() {
    let server = Server::start();
    server.route("/hourly", Route::ok(RSS, dated_feed(10, 60, "")));
    server.route("/ttl", Route::ok(RSS, dated_feed(10, 60, "<ttl>180</ttl>")));
    server.route(
        "/sy",
        Route::ok(
            RSS,
            dated_feed(10, 60, "<sy:updatePeriod>daily</sy:updatePeriod>"),
        ),
    );
    server.route(
        "/maxage",
        Route::ok(RSS, dated_feed(10, 60, "")).with_header("cache-control", "max-age=7200"),
    );
    server.route("/fast", Route::ok(RSS, dated_feed(20, 1, "")));
    server.route(
        "/pinned",
        Route::ok(RSS, dated_feed(10, 60, "<ttl>600</ttl>")),
    );
    server.route(
        "/undated",
        Route::ok(
            RSS,
            one_item("U", "u1").replace("<pubDate>Thu, 27 Feb 2025 10:00:00 GMT</pubDate>", ""),
        ),
    );
    let paths = [
        "/hourly", "/ttl", "/sy", "/maxage", "/fast", "/pinned", "/undated",
    ];
    let urls: Vec<String> = paths.iter().map(|p| server.url(p)).collect();
    let setup = Setup::with_poll(&[], "per_host = 8");
    let mut config = std::fs::read_to_string(setup.config()).expect("config");
    for u in &urls {
        config.push_str(&format!("[[feed]]\nurl = \"{u}\"\n"));
        if u.ends_with("/pinned") {
            config.push_str("interval = \"7m\"\n");
        }
    }
    std::fs::write(setup.config(), config).expect("write");
    assert!(setup.ok(&["poll"]).contains("7 ok"));

    let expect = [
        (
            "/hourly",
            30 * 60,
            "an item every 1 hour (over 10 items); checked every 30 minutes",
        ),
        ("/ttl", 3 * 3600, "<ttl>"),
        ("/sy", 24 * 3600, "sy:updatePeriod"),
        ("/maxage", 2 * 3600, "max-age"),
        ("/fast", 5 * 60, "min_interval"),
        ("/pinned", 7 * 60, "pinned"),
        ("/undated", 30 * 60, "poll.interval"),
    ];
    for (path, secs, why) in expect {
        let r = row(&setup, &server.url(path));
        assert_eq!(r["interval_secs"], secs, "{path}: {r}");
        let reason = r["interval_reason"].as_str().expect("reason");
        assert!(reason.contains(why), "{path}: {reason}");
        let due = secs_between(&r["last_fetch_at"], &r["next_due_at"]);
        assert!(
            (secs - 2..=secs + 2).contains(&due),
            "{path}: due in {due}s"
        );
    }
    let table = setup.ok(&["feeds"]);
    assert!(
        table.contains("checked every 3 hours, as the feed's <ttl> asks"),
        "{table}"
    );
}

#[test]
fn failures_back_off_exponentially_and_never_drop_the_feed() {
    let server = Server::start();
    server.route("/broken", Route::status(500));
    let url = server.url("/broken");
    // interval 30m (Setup's default), min_interval 1m, max_backoff 2h.
    let setup = Setup::with_poll(
        &[(&url, None)],
        "min_interval = \"1m\"\nmax_backoff = \"2h\"",
    );
    let mut windows = Vec::new();
    for _ in 0..5 {
        setup.poll_all_failing(&["poll", "--all"]);
        let r = row(&setup, &url);
        windows.push(secs_between(&r["last_fetch_at"], &r["backoff_until"]));
        assert_eq!(r["disabled"], false);
        assert_eq!(r["active"], true);
    }
    // Full jitter: each delay lies in [min_interval, min(2h, 30m × 2^(n-1))].
    let caps = [1800, 3600, 7200, 7200, 7200];
    for (n, (delay, cap)) in windows.iter().zip(caps).enumerate() {
        assert!(
            (60..=cap + 1).contains(delay),
            "failure {}: delay {delay}s, cap {cap}s",
            n + 1
        );
    }
    let r = row(&setup, &url);
    assert_eq!(r["error_count"], 5);
    assert!(r["last_error"]
        .as_str()
        .expect("error")
        .contains("HTTP 500"));
    assert!(setup.ok(&["feeds"]).contains("(backoff)"));
    // Recovery resets the count and the backoff.
    server.route("/broken", Route::ok(RSS, one_item("Back", "b1")));
    setup.ok(&["poll", "--all"]);
    let r = row(&setup, &url);
    assert_eq!(r["error_count"], 0);
    assert_eq!(r["backoff_until"], Value::Null);
}
