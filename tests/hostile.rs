//! Hostile and broken servers: each case is a real server on 127.0.0.1 that
//! misbehaves on purpose. In every case the other feed keeps being polled,
//! nothing already stored is lost, and the feed's error says what happened.
//! Timeouts are configured short (`[poll] timeout = "2s"`) so the suite
//! stays fast.

mod common;

use std::io::Write;
use std::time::Duration;

use common::{one_item, rss, Delivery, Item, Route, Server, Setup};
use serde_json::Value;

const RSS: &str = "application/rss+xml";
const POLL: &str = "timeout = \"2s\"\nconnect_timeout = \"1s\"\nper_host = 4";

/// The outcome of one hostile case.
struct Outcome {
    server: Server,
    setup: Setup,
    bad: Value,
    out: String,
}

impl Outcome {
    fn error(&self) -> String {
        self.bad["last_error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn entries_of(&self, path: &str) -> i64 {
        self.setup.sql(&format!(
            "SELECT COUNT(*) FROM entry e JOIN feed f ON f.id = e.feed_id WHERE f.url = '{}'",
            self.server.url(path)
        ))
    }

    fn assert_failed_with(&self, words: &[&str]) {
        assert_eq!(self.bad["error_count"], 1, "{}", self.bad);
        let e = self.error();
        eprintln!("error shown: {e}");
        for w in words {
            assert!(e.contains(w), "error {e:?} lacks {w:?}");
        }
        // What was stored before the server turned hostile is still there.
        assert_eq!(self.entries_of("/bad"), 1);
    }
}

/// Polls `/bad` (valid at first) and `/good`; then `/bad` becomes `hostile`
/// (with `extra` routes) and `/good` gains an item; polls again.
fn hostile(hostile: Route, extra: &[(&str, Route)]) -> Outcome {
    let server = Server::start();
    server.route("/bad", Route::ok(RSS, one_item("Before", "b1")));
    server.route("/good", Route::ok(RSS, one_item("Good", "g1")));
    let (bad, good) = (server.url("/bad"), server.url("/good"));
    let setup = Setup::with_poll(&[(&bad, None), (&good, None)], POLL);
    assert!(setup.ok(&["poll"]).contains("2 ok"));

    server.route("/bad", hostile);
    for (path, route) in extra {
        server.route(path, route.clone());
    }
    let two = rss(
        "Good",
        &[
            Item::new("g1")
                .title("Good item")
                .link("https://example.org/g1")
                .html("<p>text</p>"),
            Item::new("g2")
                .title("Good news")
                .link("https://example.org/g2")
                .published("Thu, 27 Feb 2025 11:00:00 GMT")
                .html("<p>more</p>"),
        ],
    );
    server.route("/good", Route::ok(RSS, two));
    let out = setup.ok(&["poll", "--all"]);
    // The well-behaved feed carried on.
    let rows = setup.json_lines(&["feeds", "--json"]);
    let find = |u: &str| {
        rows.iter()
            .find(|r| r["url"].as_str() == Some(u))
            .cloned()
            .unwrap_or_else(|| panic!("{u} listed"))
    };
    let good_row = find(&good);
    assert_eq!(good_row["last_error"], Value::Null, "{good_row}");
    assert_eq!(good_row["entries"], 2);
    let bad = find(&bad);
    Outcome {
        server,
        setup,
        bad,
        out,
    }
}

#[test]
fn slow_headers_hit_the_total_timeout() {
    let o = hostile(
        Route::ok(RSS, one_item("Slow", "s1")).with_delay(Duration::from_secs(6)),
        &[],
    );
    o.assert_failed_with(&["timed out", "2s"]);
}

#[test]
fn a_body_trickling_one_byte_a_second_hits_the_total_timeout() {
    let o = hostile(
        Route::ok(RSS, one_item("Trickle", "t1"))
            .with_delivery(Delivery::Trickle(Duration::from_secs(1))),
        &[],
    );
    o.assert_failed_with(&["timed out"]);
}

#[test]
fn an_endless_body_hits_the_size_cap() {
    let o = hostile(
        Route::ok(RSS, "<!-- endless -->".repeat(4096)).with_delivery(Delivery::Endless),
        &[],
    );
    o.assert_failed_with(&["larger than the 10485760-byte limit"]);
}

/// A gzip stream of `mib` MiB of zeros (about 1,000:1).
pub fn gzip_bomb(mib: usize) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..mib {
        gz.write_all(&zeros).expect("gzip");
    }
    gz.finish().expect("gzip")
}

#[test]
fn a_gzip_bomb_is_capped_after_decompression() {
    // 64 MiB of zeros in well under the 10 MiB limit on the wire.
    let t = std::time::Instant::now();
    let bomb = gzip_bomb(64);
    eprintln!("bomb {} bytes in {:?}", bomb.len(), t.elapsed());
    assert!(bomb.len() < 1 << 20);
    let o = hostile(
        Route::ok(RSS, bomb).with_header("content-encoding", "gzip"),
        &[],
    );
    o.assert_failed_with(&["larger than the", "after decompression"]);
    assert!(o.setup.sql::<i64>("SELECT MAX(bytes) FROM fetch_log") <= 11 << 20);
}

#[test]
fn a_redirect_loop_is_named() {
    let o = hostile(
        Route::redirect(302, "/bad-2"),
        &[("/bad-2", Route::redirect(301, "/bad"))],
    );
    o.assert_failed_with(&["redirect loop", "/bad-2", "/bad"]);
}

#[test]
fn a_chain_of_twenty_redirects_is_cut_short() {
    let mut hops = Vec::new();
    for i in 1..=20 {
        let next = if i == 20 {
            "/final".to_string()
        } else {
            format!("/hop{}", i + 1)
        };
        hops.push((format!("/hop{i}"), Route::redirect(302, &next)));
    }
    hops.push((
        "/final".to_string(),
        Route::ok(RSS, one_item("Final", "f1")),
    ));
    let extra: Vec<(&str, Route)> = hops.iter().map(|(p, r)| (p.as_str(), r.clone())).collect();
    let o = hostile(Route::redirect(302, "/hop1"), &extra);
    o.assert_failed_with(&["too many redirects", "after 5"]);
    assert!(o.server.seen("/final").is_empty());
    assert!(o.server.seen("/hop6").is_empty());
}

#[test]
fn a_200_with_an_empty_body_says_so() {
    let o = hostile(Route::ok(RSS, ""), &[]);
    o.assert_failed_with(&["HTTP 200 with an empty body"]);
}

#[test]
fn an_html_page_served_as_a_feed_says_so() {
    let o = hostile(
        Route::ok(
            RSS,
            "<!DOCTYPE html><html><head><title>Maintenance</title></head><body>Back soon</body></html>",
        ),
        &[],
    );
    o.assert_failed_with(&["HTML page", "links to no feed"]);
}

#[test]
fn a_feed_served_with_a_wrong_content_type_is_still_read() {
    for content_type in [
        "text/html; charset=utf-8",
        "application/octet-stream",
        "text/plain",
    ] {
        let o = hostile(Route::ok(content_type, one_item("Before", "b2")), &[]);
        assert_eq!(
            o.bad["last_error"],
            Value::Null,
            "{content_type}: {}",
            o.bad
        );
        assert_eq!(o.entries_of("/bad"), 2, "{content_type}");
        assert!(o.out.contains("2 ok"), "{}", o.out);
    }
}

#[test]
fn a_billion_laughs_document_is_not_expanded() {
    let mut entities = String::from("<!ENTITY lol \"lol\">");
    for i in 1..=9 {
        let prev = if i == 1 {
            "lol".to_string()
        } else {
            format!("lol{}", i - 1)
        };
        entities.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">",
            format!("&{prev};").repeat(10)
        ));
    }
    let bomb = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE rss [{entities}]><rss version=\"2.0\"><channel><title>Laughs</title>\
         <item><guid>l1</guid><title>&lol9;</title><description>&lol9;</description></item></channel></rss>"
    );
    let started = std::time::Instant::now();
    let o = hostile(Route::ok(RSS, bomb), &[]);
    assert!(started.elapsed() < Duration::from_secs(30));
    // Parsed without expanding (the reference stays as text) or refused:
    // either way nothing large was stored and the old entry is kept.
    let longest: i64 = o
        .setup
        .sql("SELECT MAX(LENGTH(COALESCE(title, '')) + LENGTH(COALESCE(summary, ''))) FROM entry");
    assert!(longest < 200, "an entity was expanded: {longest} chars");
    assert!(o.entries_of("/bad") >= 1);
    eprintln!("outcome: {} / {:?}", o.out.trim(), o.error());
    assert!(
        o.out.contains("2 ok") || o.error().contains("feed"),
        "{}",
        o.out
    );
}

#[test]
fn an_external_entity_never_reads_a_local_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "TOP-SECRET-MARKER").expect("write secret");
    let xxe = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM \"file://{}\">]>\
         <rss version=\"2.0\"><channel><title>XXE &xxe;</title>\
         <item><guid>x1</guid><title>Leak &xxe;</title><description>&xxe;</description></item></channel></rss>",
        secret.display()
    );
    let o = hostile(Route::ok(RSS, xxe), &[]);
    let leaked: i64 = o.setup.sql(
        "SELECT COUNT(*) FROM entry WHERE COALESCE(title,'') || COALESCE(summary,'') LIKE '%TOP-SECRET%'",
    );
    assert_eq!(leaked, 0);
    let feed_leak: i64 = o
        .setup
        .sql("SELECT COUNT(*) FROM feed WHERE COALESCE(feed_title, '') LIKE '%TOP-SECRET%'");
    assert_eq!(feed_leak, 0);
    assert!(o.entries_of("/bad") >= 1);
}

#[test]
fn invalid_utf8_is_decoded_as_the_bytes_allow() {
    // Declared UTF-8, but the bytes are windows-1252.
    let mut body = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel><title>Cuisine</title>\
        <item><guid>u1</guid><title>Le caf\xe9 cr\xe8me du march\xe9, tr\xe8s appr\xe9ci\xe9</title></item></channel></rss>"
        .to_vec();
    body.shrink_to_fit();
    let o = hostile(Route::ok(RSS, body), &[]);
    assert_eq!(o.bad["last_error"], Value::Null, "{}", o.bad);
    let title: String = o.setup.sql("SELECT title FROM entry WHERE guid = 'u1'");
    assert_eq!(title, "Le café crème du marché, très apprécié");
}

#[test]
fn a_latin1_label_on_utf8_bytes_is_overruled() {
    let body = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss version=\"2.0\"><channel><title>M</title>\
        <item><guid>m1</guid><title>Zürich – Genève: 5 € à payer</title></item></channel></rss>";
    let o = hostile(
        Route::ok("application/rss+xml; charset=ISO-8859-1", body),
        &[],
    );
    assert_eq!(o.bad["last_error"], Value::Null, "{}", o.bad);
    let title: String = o.setup.sql("SELECT title FROM entry WHERE guid = 'm1'");
    assert_eq!(title, "Zürich – Genève: 5 € à payer");
}

#[test]
fn windows_1252_declared_in_the_prolog_is_decoded() {
    let body = b"<?xml version=\"1.0\" encoding=\"windows-1252\"?><rss version=\"2.0\"><channel><title>W</title>\
        <item><guid>w1</guid><title>It\x92s \x80100 \x96 \x93quoted\x94</title></item></channel></rss>"
        .to_vec();
    // The HTTP header says nothing about the charset.
    let o = hostile(Route::ok("text/xml", body), &[]);
    assert_eq!(o.bad["last_error"], Value::Null, "{}", o.bad);
    let title: String = o.setup.sql("SELECT title FROM entry WHERE guid = 'w1'");
    assert_eq!(
        title,
        "It\u{2019}s \u{20ac}100 \u{2013} \u{201c}quoted\u{201d}"
    );
}

#[test]
fn a_connection_closed_mid_body_says_so() {
    let o = hostile(
        Route::ok(RSS, one_item("Cut", "c1")).with_delivery(Delivery::CutAfter(60)),
        &[],
    );
    o.assert_failed_with(&["reading the response failed"]);
}

#[test]
fn connect_and_tls_failures_are_named_and_the_rest_carries_on() {
    let server = Server::start();
    server.route("/good", Route::ok(RSS, one_item("Good", "g1")));
    server.route("/plain", Route::ok(RSS, one_item("Plain", "p1")));
    // A port nobody listens on any more.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let refused = format!("http://{}/feed", closed.local_addr().expect("addr"));
    drop(closed);
    // TLS to a server that speaks plain HTTP: the handshake fails.
    let tls = format!("https://{}/plain", server.addr);
    let good = server.url("/good");
    let setup = Setup::with_poll(&[(&refused, None), (&tls, None), (&good, None)], POLL);
    let out = setup.ok(&["poll"]);
    assert!(out.contains("1 ok, 2 failed"), "{out}");
    let rows = setup.json_lines(&["feeds", "--json"]);
    let err = |u: &str| {
        rows.iter()
            .find(|r| r["url"].as_str() == Some(u))
            .and_then(|r| r["last_error"].as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let refused_err = err(&refused);
    assert!(
        refused_err.contains("cannot connect") && refused_err.to_lowercase().contains("refused"),
        "{refused_err}"
    );
    let tls_err = err(&tls);
    assert!(tls_err.starts_with("TLS handshake failed"), "{tls_err}");
    eprintln!("errors shown: {refused_err} | {tls_err}");

    assert!(rows.iter().all(|r| r["last_status"] != 0));
}

#[test]
fn items_without_guid_link_or_date_keep_their_identity_across_polls() {
    let server = Server::start();
    let items = [
        "<item><title>First headline</title><description>Body one.</description></item>",
        "<item><title>Second headline</title><description>Body two.</description></item>",
        "<item><description>Only a body, no title.</description></item>",
    ];
    let make = |order: &[usize]| {
        let mut s = String::from(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Bare</title>",
        );
        for i in order {
            s.push_str(items[*i]);
        }
        s.push_str("</channel></rss>");
        s
    };
    server.route("/bare", Route::ok(RSS, make(&[0, 1, 2])));
    let url = server.url("/bare");
    let setup = Setup::with_poll(&[(&url, None)], POLL);
    setup.ok(&["poll"]);
    server.route("/bare", Route::ok(RSS, make(&[2, 0, 1])));
    setup.ok(&["poll", "--all"]);
    setup.ok(&["poll", "--all"]);
    assert_eq!(setup.sql::<i64>("SELECT COUNT(*) FROM entry"), 3);
    assert_eq!(
        setup.sql::<i64>("SELECT COUNT(DISTINCT identity) FROM entry WHERE identity LIKE 'hash:%'"),
        3
    );
    assert_eq!(setup.sql::<i64>("SELECT COUNT(*) FROM story"), 3);
}
