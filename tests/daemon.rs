//! End-to-end tests of the foundation: the real binary polls a real HTTP
//! server on loopback and we check the SQLite file and the CLI output.

mod common;

use common::{atom, require_shared, rss, Daemon, Item, Route, Server, Setup};

const RSS_TYPE: &str = "application/rss+xml";
const ATOM_TYPE: &str = "application/atom+xml";

/// The reference story: headline, lede and body paragraphs from the shared seed file.
struct Seed {
    headline: String,
    paragraphs: Vec<String>,
}

fn seed() -> Option<Seed> {
    let path = require_shared("dedup/seed/app-urdupoint-2025-02-27-istanbul-talks.txt")?;
    let text = std::fs::read_to_string(path).expect("read seed");
    let mut lines = text.lines();
    let first = lines.next().expect("seed has a first line").trim();
    // "date 2025-02-27 <headline>"
    let headline = first
        .splitn(3, ' ')
        .nth(2)
        .expect("headline")
        .trim()
        .to_string();
    let paragraphs = lines
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    Some(Seed {
        headline,
        paragraphs,
    })
}

fn html(paragraphs: &[String]) -> String {
    paragraphs.iter().map(|p| format!("<p>{p}</p>")).collect()
}

#[test]
fn the_same_agency_story_in_two_formats_folds_into_one_story() {
    let Some(seed) = seed() else {
        return;
    };
    let server = Server::start();
    let body = html(&seed.paragraphs);
    // Outlet A: RSS 2.0, HTML in <description>.
    server.route(
        "/a.rss",
        Route::ok(
            RSS_TYPE,
            rss(
                "Outlet A",
                &[
                    Item::new("a-1")
                        .title(&seed.headline)
                        .link("https://a.example/istanbul-talks")
                        .published("Thu, 27 Feb 2025 14:10:00 GMT")
                        .html(&body),
                    Item::new("a-2")
                        .title("Cricket: Pakistan win toss")
                        .link("https://a.example/cricket")
                        .published("Thu, 27 Feb 2025 15:00:00 GMT")
                        .html(
                            "<p>Pakistan won the toss and elected to bat first in Rawalpindi on Thursday.</p>",
                        ),
                ],
            ),
        ),
    );
    // Outlet B: Atom, the same words in different markup.
    let body_b = seed.paragraphs.join("<br/>\n");
    server.route(
        "/b.atom",
        Route::ok(
            ATOM_TYPE,
            atom(
                "Outlet B",
                &[Item::new("urn:b:1")
                    .title(&seed.headline.to_uppercase())
                    .link("https://b.example/world/123")
                    .published("2025-02-27T14:30:00Z")
                    .html(&body_b)],
            ),
        ),
    );
    let setup = Setup::new(&[
        (&server.url("/a.rss"), Some("Outlet A")),
        (&server.url("/b.atom"), None),
    ]);
    let out = setup.ok(&["poll"]);
    assert!(out.contains("2 ok, 0 failed"), "{out}");
    assert!(
        out.contains("3 new entries, 2 new stories, 1 folded copy"),
        "{out}"
    );

    let stories = setup.json_lines(&["stories", "--json"]);
    assert_eq!(stories.len(), 2, "{stories:?}");
    let talks = stories
        .iter()
        .find(|s| s["source_count"] == 2)
        .expect("the folded story");
    assert_eq!(talks["title"], seed.headline.as_str());
    let other = stories
        .iter()
        .find(|s| s["source_count"] == 1)
        .expect("the other story");
    assert_eq!(other["title"], "Cricket: Pakistan win toss");

    let id = talks["story_id"].as_i64().expect("id").to_string();
    let story = setup.json_lines(&["story", &id, "--json"]);
    let sources = story[0]["sources"].as_array().expect("sources");
    assert_eq!(sources.len(), 2);
    let relations: Vec<_> = sources
        .iter()
        .map(|s| s["relation"].as_str().expect("relation"))
        .collect();
    assert_eq!(relations, ["canonical", "exact"]);
    assert_eq!(sources[1]["feed_url"], server.url("/b.atom").as_str());
    assert_eq!(sources[1]["similarity"], 1.0);

    // The public views agree with the CLI.
    let n: i64 = setup.sql("SELECT COUNT(*) FROM story_sources WHERE story_id = (SELECT story_id FROM stories WHERE source_count = 2)");
    assert_eq!(n, 2);
    let human = setup.ok(&["story", &id]);
    assert!(
        human.contains("canonical") && human.contains("exact"),
        "{human}"
    );
}

#[test]
fn second_poll_sends_validators_and_stores_nothing_new() {
    let server = Server::start();
    let doc = rss(
        "Etag feed",
        &[Item::new("1")
            .title("One")
            .link("https://e.example/1")
            .html("<p>first item</p>")],
    );
    server.route("/feed", Route::ok(RSS_TYPE, doc).with_etag("\"v1\""));
    let setup = Setup::new(&[(&server.url("/feed"), None)]);

    assert!(setup.ok(&["poll"]).contains("1 ok"));
    let out = setup.ok(&["poll", "--all"]);
    assert!(
        out.contains("0 ok, 0 failed, 1 not modified; 0 new entries"),
        "{out}"
    );

    let seen = server.seen("/feed");
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].headers.get("if-none-match"), None);
    assert_eq!(
        seen[1].headers.get("if-none-match").map(String::as_str),
        Some("\"v1\"")
    );
    assert_eq!(seen[1].status, 304);
    assert!(seen[0].headers["user-agent"].starts_with("feedfold/"));

    assert_eq!(setup.sql::<i64>("SELECT COUNT(*) FROM entry"), 1);
    assert_eq!(
        setup.sql::<String>("SELECT group_concat(outcome) FROM fetch_log ORDER BY id"),
        "ok,not_modified"
    );
    // A poll without --all finds nothing due (the interval is 30 minutes).
    assert!(setup
        .ok(&["poll"])
        .contains("0 ok, 0 failed, 0 not modified"));
}

#[test]
fn repolling_updates_an_edited_item_instead_of_adding_one() {
    let server = Server::start();
    let item = |text: &str| {
        rss(
            "F",
            &[Item::new("g1")
                .title("Headline")
                .link("https://f.example/1")
                .html(text)],
        )
    };
    server.route("/feed", Route::ok(RSS_TYPE, item("<p>first version</p>")));
    let setup = Setup::new(&[(&server.url("/feed"), None)]);
    setup.ok(&["poll"]);
    server.route(
        "/feed",
        Route::ok(RSS_TYPE, item("<p>corrected version</p>")),
    );
    let out = setup.ok(&["poll", "--all"]);
    assert!(out.contains("0 new entries"), "{out}");
    assert_eq!(setup.sql::<i64>("SELECT COUNT(*) FROM entry"), 1);
    assert_eq!(
        setup.sql::<String>("SELECT text FROM story_sources"),
        "corrected version"
    );
    assert_eq!(setup.sql::<i64>("SELECT COUNT(*) FROM story"), 1);
    // The index follows the edit: the old words are gone, the new ones found.
    assert!(setup.json_lines(&["search", "first", "--json"]).is_empty());
    let hits = setup.json_lines(&["search", "corrected", "--json"]);
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["index_lag"]["entries"], 0, "{hits:?}");
}

#[test]
fn items_without_guid_or_link_keep_one_identity() {
    let server = Server::start();
    let doc = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>N</title>\
        <item><description>An item with neither guid nor link nor title.</description></item></channel></rss>";
    server.route("/feed", Route::ok(RSS_TYPE, doc));
    let setup = Setup::new(&[(&server.url("/feed"), None)]);
    setup.ok(&["poll"]);
    setup.ok(&["poll", "--all"]);
    assert_eq!(setup.sql::<i64>("SELECT COUNT(*) FROM entry"), 1);
}

#[test]
fn broken_feeds_are_recorded_and_the_others_carry_on() {
    let server = Server::start();
    let good = rss(
        "Good",
        &[Item::new("1")
            .title("Fine")
            .link("https://g.example/1")
            .html("<p>fine</p>")],
    );
    server.route("/good", Route::ok(RSS_TYPE, good.clone()));
    server.route("/moved", Route::redirect(301, "/good-target"));
    server.route(
        "/good-target",
        Route::ok(RSS_TYPE, good.replace("Good", "Target")),
    );
    server.route("/loop", Route::redirect(302, "/loop"));
    server.route("/gone", Route::status(404));
    server.route("/broken", Route::status(500));
    server.route("/huge", Route::ok(RSS_TYPE, vec![b' '; 11 * 1024 * 1024]));
    server.route(
        "/page",
        Route::ok(
            "text/html",
            "<!DOCTYPE html><html><head><title>Home</title></head><body>Welcome</body></html>",
        ),
    );
    server.route("/malformed", Route::ok(RSS_TYPE, "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>x</title><item><title>a</item></channel>"));
    let paths = [
        "/good",
        "/moved",
        "/loop",
        "/gone",
        "/broken",
        "/huge",
        "/page",
        "/malformed",
    ];
    let urls: Vec<String> = paths.iter().map(|p| server.url(p)).collect();
    let feeds: Vec<(&str, Option<&str>)> = urls.iter().map(|u| (u.as_str(), None)).collect();
    let setup = Setup::new(&feeds);

    let out = setup.ok(&["poll"]);
    assert!(out.contains("2 ok, 6 failed"), "{out}");

    let rows = setup.json_lines(&["feeds", "--json"]);
    let by_path = |p: &str| {
        rows.iter()
            .find(|r| r["url"].as_str() == Some(server.url(p).as_str()))
            .unwrap_or_else(|| panic!("feed {p} listed"))
            .clone()
    };
    for key in [
        "url",
        "title",
        "last_fetch_at",
        "last_status",
        "last_error",
        "error_count",
        "next_due_at",
        "entries",
    ] {
        assert!(
            by_path("/good").get(key).is_some(),
            "feeds --json lacks {key}"
        );
    }
    assert_eq!(by_path("/good")["last_error"], serde_json::Value::Null);
    assert_eq!(by_path("/good")["entries"], 1);
    assert_eq!(by_path("/moved")["entries"], 1);
    assert_eq!(by_path("/moved")["last_status"], 200);
    let err = |p: &str| {
        by_path(p)["last_error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(err("/loop").contains("redirect"), "{}", err("/loop"));
    assert_eq!(by_path("/gone")["last_status"], 404);
    assert!(err("/gone").contains("404"), "{}", err("/gone"));
    assert!(err("/broken").contains("500"), "{}", err("/broken"));
    assert!(err("/huge").contains("limit"), "{}", err("/huge"));
    assert!(err("/page").contains("HTML page"), "{}", err("/page"));
    assert!(
        err("/malformed").contains("malformed"),
        "{}",
        err("/malformed")
    );
    assert_eq!(by_path("/broken")["error_count"], 1);
    assert_eq!(
        setup.sql::<i64>("SELECT COUNT(*) FROM fetch_log WHERE outcome = 'error'"),
        6
    );

    // The human table prints every feed.
    let table = setup.ok(&["feeds"]);
    assert_eq!(
        table
            .lines()
            .filter(|l| l.contains("http://127.0.0.1"))
            .count(),
        8,
        "{table}"
    );
}

#[test]
fn a_bad_config_line_is_named_and_exits_2() {
    let setup = Setup::new(&[]);
    std::fs::write(setup.config(), "database = \"ff.db\"\n[poll]\ninterval = \"30m\"\n\n[[feed]]\nurl = \"https://a.example/rss\"\ninterval = \"soon\"\n").expect("write");
    let out = setup.run(&["poll"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("feedfold.toml:7: feed[1].interval"),
        "{stderr}"
    );
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "one-line message: {stderr}"
    );

    let out = setup.run(&["stories", "--limit", "many"]);
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
}

#[test]
fn reading_commands_on_a_missing_database_exit_2_with_a_hint() {
    let setup = Setup::new(&[]);
    let out = setup.run(&["stories"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist yet"));
    let out = setup.run(&["story", "1"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_daemon_polls_at_start_and_exits_0_on_sigterm() {
    let server = Server::start();
    let doc = rss(
        "D",
        &[Item::new("1")
            .title("Daemon item")
            .link("https://d.example/1")
            .html("<p>polled by the daemon</p>")],
    );
    server.route("/feed", Route::ok(RSS_TYPE, doc));
    let setup = Setup::new(&[(&server.url("/feed"), None)]);
    let mut daemon = Daemon::start(&setup.config(), &["run"], &[("RUST_LOG", "warn")]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while server.seen("/feed").is_empty() || !setup.db().exists() || count_entries(&setup) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "daemon did not poll within 20 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let exit = daemon.stop();
    assert_eq!(exit.code(), Some(0), "daemon exits 0 on SIGTERM");
    assert_eq!(count_entries(&setup), 1);
    // A clean stop checkpoints the WAL: the main file holds everything.
    let wal = setup.dir.path().join("ff.db-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal).expect("wal").len() == 0);
}

fn count_entries(setup: &Setup) -> i64 {
    rusqlite::Connection::open(setup.db())
        .and_then(|c| c.query_row("SELECT COUNT(*) FROM entry", [], |r| r.get(0)))
        .unwrap_or(0)
}

/// Issue 19: the running daemon makes every entry searchable within 5 s of
/// its commit (docs/SCHEMA.md), without waiting for the pass to end or for
/// the daemon to stop: the entry is found while the daemon is still running.
#[test]
fn the_daemon_makes_new_entries_searchable_within_five_seconds() {
    let server = Server::start();
    let doc = rss(
        "S",
        &[Item::new("1")
            .title("Quarterly harvest report")
            .link("https://s.example/1")
            .html("<p>The millet harvest in the northern valleys doubled this season.</p>")],
    );
    server.route("/feed", Route::ok(RSS_TYPE, doc));
    let setup = Setup::new(&[(&server.url("/feed"), None)]);
    let mut daemon = Daemon::start(&setup.config(), &["run"], &[("RUST_LOG", "warn")]);
    common::wait_until(
        "the daemon stores the entry",
        std::time::Duration::from_secs(20),
        || setup.db().exists() && count_entries(&setup) == 1,
    );
    let committed = std::time::Instant::now();
    common::wait_until(
        "the entry is searchable",
        std::time::Duration::from_secs(5),
        || !setup.json_lines(&["search", "millet", "--json"]).is_empty(),
    );
    eprintln!(
        "searchable {:?} after its commit was seen",
        committed.elapsed()
    );
    assert!(
        daemon.running(),
        "found while the daemon runs, not at its exit"
    );
    assert_eq!(daemon.stop().code(), Some(0));
}
