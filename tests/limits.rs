//! Resource bounds, end to end: a feed of 100,000 items, an item with a 5 MB
//! body and a 1 MB title, an item with 10,000 enclosures, polled by the real
//! binary beside an ordinary feed. Oversized data is capped or truncated
//! with a marker, never refused, and the ordinary feed is unaffected.
//! (Peak memory is measured by `bench/resource_bounds.sh`, see
//! docs/ROBUSTNESS.md.)

mod common;

use common::{rss, Item, Route, Server, Setup};
use feedfold::parse::MAX_ENTRIES;
use feedfold::store::limits::{MAX_BODY_BYTES, MAX_TITLE_BYTES, TRUNCATION_MARKER};

const RSS: &str = "application/rss+xml";

fn many_items(n: usize) -> String {
    let mut s = String::from("<rss version=\"2.0\"><channel><title>Many</title>\n");
    for i in 0..n {
        s.push_str(&format!(
            "<item><guid>m{i}</guid><title>t{i}</title></item>\n"
        ));
    }
    s.push_str("</channel></rss>");
    s
}

fn huge_fields() -> String {
    let title = "T".repeat(1024 * 1024);
    let body = "body text ".repeat(500 * 1024); // 5 MB
    let mut s = format!(
        "<rss version=\"2.0\"><channel><title>Huge</title>\
         <item><guid>huge</guid><title>{title}</title><description>{body}</description></item>\
         <item><guid>enclosures</guid><title>Podcast with many files</title>"
    );
    for i in 0..10_000 {
        s.push_str(&format!(
            "<enclosure url=\"https://cdn.example/{i}.mp3\" length=\"1\" type=\"audio/mpeg\"/>"
        ));
    }
    s.push_str("</item></channel></rss>");
    s
}

#[test]
fn oversized_feeds_are_capped_and_truncated_and_others_unaffected() {
    let server = Server::start();
    let many = many_items(100_000);
    assert!(many.len() < 10 * 1024 * 1024, "within the fetch limit");
    server.route("/many.rss", Route::ok(RSS, many));
    server.route("/huge.rss", Route::ok(RSS, huge_fields()));
    server.route(
        "/normal.rss",
        Route::ok(
            RSS,
            rss(
                "Normal",
                &[
                    Item::new("n-1")
                        .title("One")
                        .link("https://n.example/1")
                        .html("<p>one</p>"),
                    Item::new("n-2")
                        .title("Two")
                        .link("https://n.example/2")
                        .published("Thu, 27 Feb 2025 11:00:00 GMT")
                        .html("<p>two</p>"),
                ],
            ),
        ),
    );
    let setup = Setup::new(&[
        (&server.url("/many.rss"), None),
        (&server.url("/huge.rss"), None),
        (&server.url("/normal.rss"), None),
    ]);
    let out = setup.ok(&["poll"]);
    assert!(out.contains("3 ok, 0 failed"), "{out}");

    let feed_entries = |path: &str| -> i64 {
        setup.sql(&format!(
            "SELECT COUNT(*) FROM entry e JOIN feed f ON f.id = e.feed_id WHERE f.url = '{}'",
            server.url(path)
        ))
    };
    assert_eq!(feed_entries("/many.rss"), MAX_ENTRIES as i64);
    assert_eq!(feed_entries("/normal.rss"), 2);
    assert_eq!(feed_entries("/huge.rss"), 2);
    let note: String = setup.sql(&format!(
        "SELECT error FROM fetch_log l JOIN feed f ON f.id = l.feed_id WHERE f.url = '{}' AND outcome = 'ok'",
        server.url("/many.rss")
    ));
    assert!(
        note.contains("100000 items: kept the first 10000"),
        "{note}"
    );

    let title_len: i64 =
        setup.sql("SELECT length(CAST(title AS BLOB)) FROM entry WHERE identity = 'guid:huge'");
    let body_len: i64 =
        setup.sql("SELECT length(CAST(text AS BLOB)) FROM story_sources WHERE entry_id = (SELECT id FROM entry WHERE identity = 'guid:huge')");
    assert!(
        title_len as usize <= MAX_TITLE_BYTES && title_len > 1000,
        "{title_len}"
    );
    assert!(
        body_len as usize <= MAX_BODY_BYTES && body_len > 1000,
        "{body_len}"
    );
    let marked: i64 = setup.sql(&format!(
        "SELECT COUNT(*) FROM entry WHERE identity = 'guid:huge' AND title LIKE '%{m}' AND body LIKE '%{m}'",
        m = TRUNCATION_MARKER.trim_start()
    ));
    assert_eq!(marked, 1);

    // A second poll finds nothing new: the capped and truncated document
    // yields the same identities again.
    let out = setup.ok(&["poll", "--all"]);
    assert!(out.contains("0 new entries"), "{out}");
    // The 5 MB body and 1 MB title are not in the database: what is stored
    // of the huge item (text, normalised text, search index input) stays
    // within the limits, whatever else the other 10,000 entries take.
    let stored: i64 = setup.sql(
        "SELECT COALESCE(length(title), 0) + COALESCE(length(body), 0) + COALESCE(length(summary_z), 0)
                + COALESCE(length(content_z), 0) + COALESCE(length(norm_z), 0) + COALESCE(length(norm_title), 0)
         FROM entry WHERE identity = 'guid:huge'",
    );
    assert!(
        (stored as usize) < 2 * MAX_BODY_BYTES + 2 * MAX_TITLE_BYTES + 4096,
        "the huge item takes {stored} bytes"
    );
}
