//! Recovery end to end: the real binary polls broken feeds from a loopback
//! server; repaired documents are stored with a note in the fetch log, and
//! a truncated document's validators are not kept (so the next poll fetches
//! it whole instead of hearing 304).

mod common;

use common::{Route, Server, Setup};

const RSS: &str = "application/rss+xml";

#[test]
fn repaired_feeds_are_stored_and_a_truncated_one_keeps_no_validators() {
    let server = Server::start();
    let cut = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Cut</title>\
        <item><guid>c-1</guid><title>Complete</title></item>\
        <item><guid>c-2</guid><title>Half a ti";
    server.route("/cut.rss", Route::ok(RSS, cut).with_etag("\"cut-1\""));
    let amp = "<rss version=\"2.0\"><channel><title>Tom & Jerry</title>\
        <item><guid>a-1</guid><title>Caf&eacute; &amp; more&nbsp;news</title></item></channel></rss>";
    server.route("/amp.rss", Route::ok(RSS, amp).with_etag("\"amp-1\""));
    let setup = Setup::new(&[
        (&server.url("/cut.rss"), None),
        (&server.url("/amp.rss"), None),
    ]);
    let out = setup.ok(&["poll"]);
    assert!(out.contains("2 ok, 0 failed"), "{out}");

    let entries: i64 =
        setup.sql("SELECT COUNT(*) FROM entry WHERE identity IN ('guid:c-1', 'guid:a-1')");
    assert_eq!(entries, 2);
    let half: i64 = setup.sql("SELECT COUNT(*) FROM entry WHERE identity = 'guid:c-2'");
    assert_eq!(half, 0, "half an item is never stored");
    let title: String = setup.sql("SELECT title FROM entry WHERE identity = 'guid:a-1'");
    assert_eq!(title, "Caf\u{e9} & more\u{a0}news");

    let cut_etag: Option<String> = setup.sql(&format!(
        "SELECT etag FROM feed WHERE url = '{}'",
        server.url("/cut.rss")
    ));
    assert_eq!(cut_etag, None, "a truncated document's ETag is not kept");
    let amp_etag: Option<String> = setup.sql(&format!(
        "SELECT etag FROM feed WHERE url = '{}'",
        server.url("/amp.rss")
    ));
    assert_eq!(amp_etag.as_deref(), Some("\"amp-1\""));
    let notes: String = setup.sql(
        "SELECT group_concat(error, ' | ') FROM fetch_log WHERE outcome = 'ok' AND error LIKE 'recovered:%'",
    );
    assert!(notes.contains("document truncated"), "{notes}");
    assert!(
        notes.contains("bare '&'") && notes.contains("HTML entities"),
        "{notes}"
    );

    // Next poll: the repaired feed is revalidated, the truncated one fetched whole.
    server.route(
        "/cut.rss",
        Route::ok(
            RSS,
            "<rss version=\"2.0\"><channel><title>Cut</title><item><guid>c-1</guid><title>Complete</title></item>\
             <item><guid>c-2</guid><title>Whole now</title></item></channel></rss>",
        )
        .with_etag("\"cut-2\""),
    );
    setup.ok(&["poll", "--all"]);
    let sent: Vec<Option<String>> = server
        .seen("/cut.rss")
        .iter()
        .map(|s| s.headers.get("if-none-match").cloned())
        .collect();
    assert_eq!(
        sent,
        [None, None],
        "no validator sent for the truncated document"
    );
    let amp_seen = server.seen("/amp.rss");
    assert_eq!(amp_seen.last().map(|s| s.status), Some(304));
    let whole: String = setup.sql("SELECT title FROM entry WHERE identity = 'guid:c-2'");
    assert_eq!(whole, "Whole now");
}
