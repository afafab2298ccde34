//! The store's user-facing commands end to end: `search`, `prune` (with
//! tombstones and canonical promotion), the daemon's scheduled prune, and
//! the JSON / table output of the listings.

mod common;

use std::time::{Duration, Instant};

use common::newsroom::{Newsroom, OUTLETS};
use rusqlite::Connection;
use serde_json::Value;

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("JSON line {l:?}: {e}")))
        .collect()
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).expect(sql)
}

/// The lineage invariants, read through the public views in one snapshot.
fn assert_lineage_consistent(conn: &Connection) {
    conn.execute_batch("BEGIN").expect("begin");
    let stories = count(conn, "SELECT COUNT(*) FROM stories");
    assert_eq!(
        stories,
        count(conn, "SELECT COUNT(*) FROM story"),
        "a story is missing its canonical copy"
    );
    assert_eq!(
        stories,
        count(
            conn,
            "SELECT COUNT(*) FROM story_sources WHERE relation = 'canonical'"
        )
    );
    assert_eq!(
        stories,
        count(conn, "SELECT COUNT(DISTINCT story_id) FROM story_sources")
    );
    assert_eq!(
        0,
        count(
            conn,
            "SELECT COUNT(*) FROM stories s
             WHERE s.source_count <> (SELECT COUNT(DISTINCT feed_id) FROM story_sources ss WHERE ss.story_id = s.story_id)"
        ),
        "source_count out of step"
    );
    assert_eq!(
        0,
        count(
            conn,
            "SELECT COUNT(*) FROM stories s JOIN story_sources ss ON ss.story_id = s.story_id
             WHERE ss.published_at < s.published_at"
        ),
        "a copy was published before the canonical one"
    );
    assert_eq!(
        count(conn, "SELECT COUNT(*) FROM entry_search"),
        count(conn, "SELECT COUNT(*) FROM story_sources"),
        "search index out of step"
    );
    conn.execute_batch("COMMIT").expect("commit");
}

#[test]
fn search_returns_one_ranked_row_per_story_with_a_snippet() {
    let room = Newsroom::start(40, "");
    room.poll();
    let hits = json_lines(&room.ok(&["search", "embassy", "talks", "--json"]));
    assert!(!hits.is_empty(), "no hits");
    for key in [
        "story_id",
        "title",
        "url",
        "published_at",
        "source_count",
        "snippet",
        "rank",
    ] {
        assert!(hits[0].get(key).is_some(), "search --json lacks {key}");
    }
    let ids: Vec<i64> = hits
        .iter()
        .map(|h| h["story_id"].as_i64().expect("id"))
        .collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "one row per story: {ids:?}");
    // Several of these stories have 3+ copies that all match: still one row.
    assert!(hits.iter().any(|h| h["source_count"].as_i64() >= Some(3)));
    let ranks: Vec<f64> = hits
        .iter()
        .map(|h| h["rank"].as_f64().expect("rank"))
        .collect();
    assert!(
        ranks.windows(2).all(|w| w[0] <= w[1]),
        "sorted by bm25: {ranks:?}"
    );
    for h in &hits {
        let title = h["title"].as_str().expect("title").to_lowercase();
        let snippet = h["snippet"].as_str().expect("snippet").to_lowercase();
        assert!(
            title.contains("embassy talks") || snippet.contains("[embassy]"),
            "{h}"
        );
        assert!(
            h["published_at"].as_str().expect("time").ends_with('Z'),
            "UTC in JSON"
        );
    }
    // Every matching story is found: the wire stories whose action is
    // "resume embassy talks".
    let expected = (0..40)
        .filter(|&i| common::newsroom::wire_story(i).0.contains("embassy talks"))
        .count();
    assert_eq!(hits.len(), expected);

    // Stemming and diacritics: "talk" finds "talks".
    assert_eq!(
        json_lines(&room.ok(&["search", "embassy", "talk", "--json"])).len(),
        expected
    );
    // --since keeps stories published since then (one was published every
    // 47 minutes; pretend they were all fetched long ago).
    room.conn()
        .execute_batch("UPDATE story SET first_seen_at = '2020-01-01T00:00:00Z'")
        .expect("age");
    let recent = json_lines(&room.ok(&["search", "embassy talks", "--since", "6h", "--json"]));
    assert!(
        !recent.is_empty() && recent.len() < hits.len(),
        "{recent:?}"
    );
    let cutoff = chrono::Utc::now() - chrono::Duration::hours(6);
    for h in &recent {
        let t: chrono::DateTime<chrono::Utc> = h["published_at"]
            .as_str()
            .expect("t")
            .parse()
            .expect("time");
        assert!(t >= cutoff, "{h}");
    }
    // Punctuation and operators in plain words are text, not syntax.
    let out = room.ok(&["search", "US-Russia: AND (talks"]);
    assert!(out.trim_start().starts_with("ID"), "{out}");
    // The human table has a header and one line per story.
    let table = room.ok(&["search", "embassy talks"]);
    assert_eq!(table.lines().count(), hits.len() + 1, "{table}");
    assert!(
        table.contains("[embassy]") || table.contains("[Embassy]"),
        "{table}"
    );

    // FTS5 syntax on request; a syntax error is one line and exit 2.
    let or = json_lines(&room.ok(&["search", "--fts", "embassy OR budget", "--json"]));
    assert!(or.len() > hits.len());
    let out = common::feedfold(&room.config(), &["search", "--fts", "embassy AND ("]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid search query"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    // Issue 22 item 5: every syntax error, whatever SQLite's message (an
    // unterminated string had none but "SQL logic error"), names the query.
    for (query, says) in [
        ("nosuchcolumn:x", "`nosuchcolumn:` is not a column"),
        ("\"unbalanced", "a double quote is not closed"),
        ("*", "`*` must end a word"),
    ] {
        let out = common::feedfold(&room.config(), &["search", "--fts", query]);
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("invalid search query {query:?}: {says}")),
            "{stderr}"
        );
        assert!(!stderr.contains("SQL logic error"), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
}

#[test]
fn listings_print_json_lines_or_aligned_tables() {
    let room = Newsroom::start(10, "");
    room.poll();
    let feeds = json_lines(&room.ok(&["feeds", "--json"]));
    assert_eq!(feeds.len(), OUTLETS.len() + 2);
    let statuses: Vec<&str> = feeds
        .iter()
        .map(|f| f["status"].as_str().expect("status"))
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "failing").count(),
        2,
        "{statuses:?}"
    );
    let stories = json_lines(&room.ok(&["stories", "--json", "--limit", "5"]));
    assert_eq!(stories.len(), 5);
    assert!(stories[0]["published_at"]
        .as_str()
        .expect("t")
        .ends_with('Z'));
    // Tables: the header's columns line up with the rows'.
    let table = room.ok(&["stories", "--limit", "5"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 6, "{table}");
    let col = lines[0].find("SOURCES").expect("header");
    for l in &lines[1..] {
        assert!(
            l[col..].starts_with(|c: char| c.is_ascii_digit()),
            "misaligned: {table}"
        );
    }
}

#[test]
fn prune_caps_feeds_promotes_canonicals_keeps_tombstones_and_frees_space() {
    let room = Newsroom::start(60, "[retention]\ndays = 30\nmax_entries_per_feed = 12\n");
    room.poll();
    let conn = room.conn();
    let entries_before = count(&conn, "SELECT COUNT(*) FROM entry");
    // Age a few stories past `days`: every copy of them must go.
    conn.execute_batch(
        "UPDATE story SET last_seen_at = '2020-01-01T00:00:00Z' WHERE id IN (1, 2, 3);
         UPDATE fetch_log SET fetched_at = '2020-01-01T00:00:00Z' WHERE id = 1;",
    )
    .expect("age");
    let old_copies = count(
        &conn,
        "SELECT COUNT(*) FROM story_entry WHERE story_id IN (1, 2, 3)",
    );

    let report: Value = serde_json::from_str(&room.ok(&["prune", "--json"])).expect("report");
    assert!(report["batches"].as_i64() >= Some(1), "{report}");
    assert_eq!(report["fetches"], 1, "{report}");
    let pruned = report["entries"].as_i64().expect("entries");
    assert!(pruned >= old_copies, "{report}");
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM entry"),
        entries_before - pruned
    );
    assert!(report["promoted"].as_i64() > Some(0), "{report}");
    assert!(report["stories"].as_i64() >= Some(3), "{report}");
    assert_eq!(report["tombstones_added"].as_i64(), Some(pruned));
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM story WHERE id IN (1, 2, 3)"),
        0
    );
    assert_eq!(
        count(
            &conn,
            "SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM entry GROUP BY feed_id)"
        ),
        12
    );
    assert!(report["freed_pages"].as_i64() >= Some(0));
    assert_lineage_consistent(&conn);

    // The feeds still list the pruned items: a new poll does not bring them back.
    let entries_after = count(&conn, "SELECT COUNT(*) FROM entry");
    let out = room.poll();
    assert!(out.contains("0 new entries"), "{out}");
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM entry"), entries_after);
    // A second prune finds nothing to remove.
    let again: Value = serde_json::from_str(&room.ok(&["prune", "--json"])).expect("report");
    assert_eq!(again["entries"], 0, "{again}");
    assert_lineage_consistent(&conn);
    // The human report is one line.
    let human = room.ok(&["prune"]);
    assert!(human.starts_with("pruned 0 stories, 0 entries"), "{human}");
}

#[test]
fn tombstones_expire_once_no_feed_lists_the_item() {
    let room = Newsroom::start(20, "[retention]\ndays = 30\n");
    room.poll();
    let conn = room.conn();
    conn.execute_batch("UPDATE story SET last_seen_at = '2020-01-01T00:00:00Z' WHERE id = 1")
        .expect("age");
    room.ok(&["prune"]);
    let tombstones = count(&conn, "SELECT COUNT(*) FROM tombstone");
    assert!(tombstones >= 1);
    // Still listed (it was seen in the poll just now): the tombstone stays.
    room.ok(&["prune"]);
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM tombstone"), tombstones);
    // Not listed for longer than `days`: it goes.
    conn.execute_batch("UPDATE tombstone SET last_listed_at = '2020-01-01T00:00:00Z'")
        .expect("age");
    let report: Value = serde_json::from_str(&room.ok(&["prune", "--json"])).expect("report");
    assert_eq!(report["tombstones_expired"].as_i64(), Some(tombstones));
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM tombstone"), 0);
}

#[test]
fn prune_vacuum_converts_an_old_file_to_incremental_vacuum() {
    let room = Newsroom::start(5, "");
    room.poll();
    let conn = room.conn();
    // Files made before schema 5 have auto_vacuum = none.
    conn.execute_batch("PRAGMA auto_vacuum = NONE; VACUUM;")
        .expect("none");
    assert_eq!(count(&conn, "PRAGMA auto_vacuum"), 0);
    let human = room.ok(&["prune"]);
    assert!(human.contains("prune --vacuum"), "{human}");
    drop(conn);
    room.ok(&["prune", "--vacuum"]);
    // A new connection: an open one keeps the mode it read at open.
    assert_eq!(count(&room.conn(), "PRAGMA auto_vacuum"), 2);
    assert!(!room.ok(&["prune"]).contains("--vacuum"));
}

#[test]
fn the_daemon_prunes_on_its_retention_schedule() {
    let room = Newsroom::start(
        30,
        "[retention]\nmax_entries_per_feed = 4\nschedule = \"*/2 * * * * *\"\n",
    );
    let mut child = common::Daemon::start(&room.config(), &["run"], &[("RUST_LOG", "warn")]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let capped = || -> bool {
        let Ok(conn) = Connection::open(room.db()) else {
            return false;
        };
        let max: rusqlite::Result<Option<i64>> = conn.query_row(
            "SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM entry GROUP BY feed_id)",
            [],
            |r| r.get(0),
        );
        let tombstones: rusqlite::Result<i64> =
            conn.query_row("SELECT COUNT(*) FROM tombstone", [], |r| r.get(0));
        matches!((max, tombstones), (Ok(Some(m)), Ok(t)) if m <= 4 && t > 0)
    };
    while !capped() {
        assert!(
            Instant::now() < deadline,
            "the daemon did not prune within 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(child.stop().code(), Some(0), "{}", child.log());
    assert_lineage_consistent(&room.conn());
}

/// Issue 22 item 4: `--since` filters on publication (first sight for an
/// undated item), `--seen-since` on first sight; both take durations, dates
/// and RFC 3339 times, with one parser for every command.
#[test]
fn since_means_published_and_seen_since_first_seen() {
    let server = common::Server::start();
    let recent = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc2822();
    let doc = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Archive</title>
<item><guid>old</guid><title>Ancient regatta report</title><pubDate>Mon, 01 Oct 2007 09:00:00 GMT</pubDate>
<description>Sailors raced the bay in a storm of historic proportions.</description></item>
<item><guid>new</guid><title>Fresh budget vote</title><pubDate>{recent}</pubDate>
<description>Parliament passed the provincial budget after a long night.</description></item>
<item><guid>undated</guid><title>Undated museum opening</title>
<description>A museum of clocks opened its doors without saying when.</description></item>
</channel></rss>"
    );
    server.route(
        "/archive",
        common::Route::ok("application/rss+xml", doc.into_bytes()),
    );
    let setup = common::Setup::new(&[(&server.url("/archive"), None)]);
    setup.ok(&["poll", "--all"]);
    let titles = |args: &[&str]| -> Vec<String> {
        let mut t: Vec<String> = setup
            .json_lines(args)
            .iter()
            .map(|r| r["title"].as_str().unwrap_or_default().to_string())
            .collect();
        t.sort();
        t
    };
    let (old, fresh, undated) = (
        "Ancient regatta report",
        "Fresh budget vote",
        "Undated museum opening",
    );
    // Everything was first seen just now; only two were published lately.
    assert_eq!(
        titles(&["stories", "--since", "24h", "--json"]),
        [fresh, undated]
    );
    assert_eq!(
        titles(&["stories", "--seen-since", "24h", "--json"]),
        [old, fresh, undated]
    );
    assert_eq!(
        titles(&["stories", "--since", "2007-01-01", "--json"]),
        [old, fresh, undated]
    );
    assert_eq!(
        titles(&["stories", "--since", "2007-10-01T10:00:00Z", "--json"]),
        [fresh, undated]
    );
    assert_eq!(
        titles(&[
            "stories",
            "--since",
            "2000-01-01",
            "--seen-since",
            "1h",
            "--json"
        ]),
        [old, fresh, undated]
    );
    assert!(titles(&["stories", "--seen-since", "2999-01-01", "--json"]).is_empty());
    // The same options, the same meaning, in search.
    assert_eq!(
        titles(&[
            "search",
            "--fts",
            "regatta OR budget",
            "--since",
            "7d",
            "--json"
        ]),
        [fresh]
    );
    assert_eq!(
        titles(&[
            "search",
            "--fts",
            "regatta OR budget",
            "--seen-since",
            "7d",
            "--json"
        ]),
        [old, fresh]
    );
    // refold takes the same forms; a bad value names the forms accepted.
    setup.ok(&["refold", "--since", "24h"]);
    let out = setup.run(&["stories", "--since", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("a date (2025-02-27)") && stderr.contains("RFC 3339"),
        "{stderr}"
    );
}

/// Issue 22 item 2: titles with markup or references (Atom `type="html"`,
/// CDATA, references escaped twice) are plain text in the views and the
/// CLI; a database whose titles were stored raw is cleaned by migration 10.
#[test]
fn titles_are_plain_text_in_views_and_cli_and_old_databases_are_cleaned() {
    let server = common::Server::start();
    let atom = "<?xml version=\"1.0\" encoding=\"utf-8\"?>
<feed xmlns=\"http://www.w3.org/2005/Atom\"><title type=\"html\">Campus &amp;amp; Co</title><id>urn:c</id><updated>2025-02-27T12:00:00Z</updated>
<entry><id>urn:c:1</id><title type=\"html\">Principal&amp;#8217;s &lt;em&gt;Office&lt;/em&gt;</title><link href=\"https://c.example/1\"/><updated>2025-02-27T10:00:00Z</updated>
<content type=\"html\">&lt;p&gt;The principal moved into a new office on the third floor of the old library.&lt;/p&gt;</content></entry>
</feed>";
    let rss = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Rates</title>
<item><guid>r1</guid><title><![CDATA[Fuel at <span class='webrupee'>\u{20b9}</span>95 a litre]]></title><link>https://r.example/1</link>
<pubDate>Thu, 27 Feb 2025 10:00:00 GMT</pubDate><description>Pump prices rose again in every district of the province this week.</description></item>
</channel></rss>";
    server.route("/atom", common::Route::ok("application/atom+xml", atom));
    server.route("/rss", common::Route::ok("application/rss+xml", rss));
    let setup = common::Setup::new(&[(&server.url("/atom"), None), (&server.url("/rss"), None)]);
    setup.ok(&["poll", "--all"]);
    let expected = ["Fuel at \u{20b9}95 a litre", "Principal\u{2019}s Office"];
    let titles = || -> Vec<String> {
        let mut t: Vec<String> = setup
            .json_lines(&["stories", "--json"])
            .iter()
            .map(|r| r["title"].as_str().unwrap_or_default().to_string())
            .collect();
        t.sort();
        t
    };
    assert_eq!(titles(), expected);
    let table = setup.ok(&["stories"]);
    assert!(table.contains("Principal\u{2019}s Office"), "{table}");
    assert!(
        !table.contains("&#8217;") && !table.contains("<span"),
        "{table}"
    );
    let view: Vec<String> = {
        let conn = Connection::open(setup.db()).expect("open");
        let mut stmt = conn
            .prepare("SELECT entry_title FROM story_sources UNION ALL SELECT feed_title FROM feeds ORDER BY 1")
            .expect("prepare");
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .expect("query")
            .map(|r| r.expect("row"))
            .collect();
        rows
    };
    assert_eq!(
        view,
        ["Campus & Co", expected[0], expected[1], "Rates"],
        "views"
    );

    // A database written before titles were plain: back to schema 9 with
    // the raw titles; the next writer migrates and cleans them. Migration
    // 13's text storage is undone too (HTML back in `summary`, the index
    // with its own copy), so the next writer also converts the text.
    {
        let conn = Connection::open(setup.db()).expect("open");
        conn.execute_batch(
            "UPDATE entry SET title = 'Principal&#8217;s <em>Office</em>' WHERE guid = 'urn:c:1';
             -- 15's recent band level, its keys kept in the one table before it
             INSERT OR IGNORE INTO entry_band SELECT band_key, window_at, entry_id FROM entry_band_recent;
             DROP TABLE entry_band_recent;
             ALTER TABLE band_index_state DROP COLUMN settled_keys;
             ALTER TABLE band_index_state DROP COLUMN recent_keys;
             DROP INDEX entry_unconverted; -- 14's
             DROP TABLE refold_origin; -- migration 11's, undone with it
             DROP VIEW story_sources; -- 13's view; 12 drops and recreates it
             DROP TABLE search_queue;
             DROP TABLE entry_search;
             UPDATE entry SET summary = '<p>' || body || '</p>';
             ALTER TABLE entry DROP COLUMN body;
             ALTER TABLE entry DROP COLUMN content_z;
             ALTER TABLE entry DROP COLUMN summary_z;
             ALTER TABLE entry DROP COLUMN norm_z;
             CREATE VIRTUAL TABLE entry_search USING fts5(title, body, tokenize = 'porter unicode61 remove_diacritics 2');
             INSERT INTO entry_search (rowid, title, body) SELECT id, title, summary FROM entry;
             CREATE VIEW story_sources AS SELECT 1 AS story_id;
             PRAGMA user_version = 9;",
        )
        .expect("downgrade");
    }
    server.route("/atom", common::Route::status(304));
    server.route("/rss", common::Route::status(304));
    setup.ok(&["poll", "--all"]);
    assert_eq!(
        setup.sql::<i64>("PRAGMA user_version"),
        feedfold::store::SCHEMA_VERSION
    );
    assert_eq!(titles(), expected);
    // The text was converted, and the poll left it searchable.
    assert_eq!(
        setup.sql::<String>(
            "SELECT text FROM story_sources WHERE entry_url = 'https://r.example/1'"
        ),
        "Pump prices rose again in every district of the province this week."
    );
    assert_eq!(
        setup.sql::<i64>("SELECT COUNT(*) FROM entry WHERE summary IS NOT NULL"),
        0
    );
    let hits = setup.json_lines(&["search", "library", "--json"]);
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["index_lag"]["entries"], 0, "{hits:?}");
}

/// Runs `bin -c config args…` as the unprivileged user `nobody` when the
/// tests run as root with `runuser` (CI and the dev machines do); `None`
/// elsewhere. File permissions bind only such a user: root reads and
/// writes anything.
fn as_nobody(
    bin: &std::path::Path,
    config: &std::path::Path,
    args: &[&str],
) -> Option<std::process::Output> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    std::process::Command::new("runuser")
        .args(["-u", "nobody", "--"])
        .arg(bin)
        .arg("-c")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .ok()
}

/// Issue 22 item 8: the read commands open the database read-only and
/// work on a file the user may only read, in a folder they may write (a
/// copy) and in one they may not (a service's state folder), without
/// changing the file or leaving `-wal`/`-shm` files in the read-only folder.
/// Run as `nobody` where possible, so that the permissions really bind.
#[test]
fn read_commands_work_on_a_database_the_user_may_only_read() {
    use std::os::unix::fs::PermissionsExt;
    let server = common::Server::start();
    server.route(
        "/wire",
        common::Route::ok(
            "application/rss+xml",
            common::rss("Wire", &[common::Item::new("w1").title("Harbour strike ends").link("https://w.example/1").html("<p>Dock workers returned to the cranes after a week-long harbour strike.</p>")]),
        ),
    );
    let setup = common::Setup::new(&[(&server.url("/wire"), None)]);
    setup.ok(&["poll", "--all"]);
    let root = setup.dir.path();
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    // A bare, checkpointed file, as a stopped daemon leaves it.
    let original = std::fs::read(setup.db()).expect("db");
    let mut bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_feedfold"));
    if let Some(out) = as_nobody(&bin, &setup.config(), &["--version"]) {
        if !out.status.success() {
            // The build folder is closed to other users: run a copy.
            let copy = root.join("feedfold");
            std::fs::copy(&bin, &copy).expect("copy binary");
            bin = copy;
        }
    }
    let config_text = std::fs::read_to_string(setup.config()).expect("config");
    for (folder, folder_mode) in [("copy", 0o777), ("state", 0o555)] {
        let dir = root.join(folder);
        std::fs::create_dir(&dir).expect("mkdir");
        let db = dir.join("ff.db");
        std::fs::write(&db, &original).expect("copy db");
        std::fs::write(dir.join("feedfold.toml"), &config_text).expect("config");
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).expect("chmod");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(folder_mode))
            .expect("chmod");
        let config = dir.join("feedfold.toml");
        let commands: [&[&str]; 5] = [
            &["stories"],
            &["status"],
            &["feeds"],
            &["story", "1"],
            &["search", "harbour"],
        ];
        for args in commands {
            let root_out = common::feedfold(&config, args);
            let nobody_out = as_nobody(&bin, &config, args);
            for (who, out) in [("root", Some(root_out)), ("nobody", nobody_out)] {
                let Some(out) = out else { continue };
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(
                    out.status.success(),
                    "{folder}: {args:?} as {who}: {stderr}"
                );
                let stdout = String::from_utf8_lossy(&out.stdout);
                if args[0] != "feeds" {
                    assert!(
                        stdout.contains("Harbour strike ends") || args[0] == "status",
                        "{folder}: {args:?} as {who}: {stdout}"
                    );
                }
            }
        }
        assert_eq!(
            std::fs::read(&db).expect("db"),
            original,
            "{folder}: file changed"
        );
        if folder_mode == 0o555 {
            for leftover in ["ff.db-wal", "ff.db-shm"] {
                assert!(
                    !dir.join(leftover).exists(),
                    "{folder}: {leftover} created in a read-only folder"
                );
            }
        }
    }
}

/// Each story's copies (sorted entry ids), by story id.
fn groupings(conn: &Connection) -> std::collections::BTreeMap<i64, Vec<i64>> {
    let mut map: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
    let mut stmt = conn
        .prepare("SELECT story_id, entry_id FROM story_sources ORDER BY story_id, entry_id")
        .expect("prepare");
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
        .expect("query");
    for row in rows {
        let (story, entry) = row.expect("row");
        map.entry(story).or_default().push(entry);
    }
    map
}

/// Issue 22 item 1: `refold` keeps story ids. Refolding with the same
/// settings changes nothing; stricter settings split near copies off into
/// new stories with new ids while each story keeps its id with its
/// canonical copy; the old settings again bring back the first groupings
/// under their first ids.
#[test]
fn refold_keeps_story_ids_and_gives_new_ids_only_to_new_groupings() {
    let room = Newsroom::start(30, "");
    room.poll();
    let conn = room.conn();
    let before = groupings(&conn);
    let canonical: std::collections::BTreeMap<i64, i64> = conn
        .prepare("SELECT story_id, entry_id FROM story_sources WHERE relation = 'canonical'")
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    let max_before = *before.keys().last().expect("stories");
    assert!(
        before.values().any(|copies| copies.len() > 1),
        "nothing folded"
    );

    let out = room.ok(&["refold"]);
    assert!(out.contains("0 of them new groupings"), "{out}");
    assert_eq!(
        groupings(&conn),
        before,
        "same settings, same stories, same ids"
    );

    // Near copies no longer fold: they become stories of their own.
    room.write_config("[dedup]\njaccard_min = 0.999\ncontainment_min = 0.999\n");
    room.ok(&["refold"]);
    let strict = groupings(&conn);
    assert!(
        strict.len() > before.len(),
        "the stricter settings split nothing"
    );
    for (id, copies) in &strict {
        match before.get(id) {
            // A story keeps its id with its canonical copy.
            Some(_) => assert!(
                copies.contains(&canonical[id]),
                "story {id} lost its canonical copy"
            ),
            None => assert!(*id > max_before, "story {id} reuses an id from before"),
        }
    }
    assert!(
        before.keys().all(|id| strict.contains_key(id)),
        "a story lost its id"
    );
    assert_lineage_consistent(&conn);

    room.write_config("");
    let out = room.ok(&["refold"]);
    assert!(out.contains("0 of them new groupings"), "{out}");
    assert_eq!(
        groupings(&conn),
        before,
        "the first groupings under their first ids"
    );
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM refold_origin"), 0);
}

/// Issue 23: a writer that starts while another connection holds the write
/// lock waits for it (busy timeout) instead of failing. Syncing the feed list
/// reads before it writes; as a deferred transaction, it failed with
/// "database is locked" as soon as the other connection committed.
#[test]
fn a_writer_waits_for_another_connections_write_transaction() {
    let server = common::Server::start();
    let doc = common::rss(
        "Wire",
        &[common::Item::new("1")
            .title("Talks resume")
            .link("https://a.example/1")
            .published("Mon, 01 Dec 2025 10:00:00 GMT")
            .html("<p>Envoys met.</p>")],
    );
    server.route("/a", common::Route::ok("application/rss+xml", doc.clone()));
    server.route("/b", common::Route::ok("application/rss+xml", doc));
    let (a, b) = (server.url("/a"), server.url("/b"));
    let setup = common::Setup::new(&[(&a, None)]);
    setup.ok(&["poll"]);
    let setup2 = common::Setup::new(&[(&a, None), (&b, None)]);
    std::fs::copy(setup2.config(), setup.config()).expect("config with a second feed");

    let other = Connection::open(setup.db()).expect("open");
    other
        .execute_batch("BEGIN IMMEDIATE; UPDATE feed SET error_count = error_count + 0;")
        .expect("hold the write lock");
    let poll = std::process::Command::new(env!("CARGO_BIN_EXE_feedfold"))
        .arg("-c")
        .arg(setup.config())
        .arg("poll")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start poll");
    // Long enough for the poll to open the database and read the feed list.
    std::thread::sleep(Duration::from_millis(1500));
    other.execute_batch("COMMIT").expect("commit");
    let out = poll.wait_with_output().expect("poll");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: {stderr}", out.status);
    assert_eq!(count(&other, "SELECT COUNT(*) FROM feed"), 2, "{stderr}");
}

/// Issue 23: one daemon per database, but the one-shot writers keep working
/// beside it: `refold`, `prune`, `poll` and `feeds add` succeed while the
/// daemon runs, and the daemon then stops cleanly with consistent lineage.
#[test]
fn one_shot_writers_work_beside_a_running_daemon() {
    let room = Newsroom::start(30, "");
    let mut child = common::Daemon::start(&room.config(), &["run"], &[("RUST_LOG", "warn")]);
    let deadline = Instant::now() + Duration::from_secs(60);
    // The daemon's first pass is over once every feed has been fetched.
    let polled = || -> bool {
        Connection::open(room.db())
            .and_then(|c| {
                c.query_row("SELECT COUNT(*), COUNT(last_fetch_at) FROM feed", [], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                })
            })
            .is_ok_and(|(feeds, fetched)| feeds > 0 && fetched == feeds)
    };
    while !polled() {
        assert!(
            Instant::now() < deadline,
            "the daemon did not poll every feed within 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Its last transaction may still be committing.
    std::thread::sleep(Duration::from_millis(500));
    let before = groupings(&room.conn());
    assert!(
        before.values().any(|copies| copies.len() > 1),
        "nothing folded"
    );
    let out = room.ok(&["refold"]);
    assert!(out.contains("0 of them new groupings"), "{out}");
    room.ok(&["prune"]);
    room.ok(&["poll", "--all"]);
    room.ok(&["feeds", "add", "https://late.example/rss"]);
    assert_eq!(groupings(&room.conn()), before, "same stories, same ids");
    assert_eq!(child.stop().code(), Some(0), "{}", child.log());
    assert_lineage_consistent(&room.conn());
}
