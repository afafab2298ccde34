//! What a new user meets first, through the real binary (issue 22, rough
//! edges 10–15): exit codes a timer can alert on, error messages in the
//! user's words, tables that fit the terminal, feed states named the same
//! everywhere, a story's text, and the offline demo.

mod common;

use common::{rss, Item, Route, Server, Setup};

const RSS_TYPE: &str = "application/rss+xml";

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn one_item_feed(title: &str) -> String {
    rss(
        title,
        &[Item::new("g1")
            .title("Grain talks resume in Istanbul")
            .link("https://example.org/1")
            .html("<p>Envoys met in Istanbul on Thursday to resume talks on grain exports.</p>")],
    )
}

#[test]
fn poll_exits_1_when_every_feed_failed_and_0_when_one_worked() {
    let server = Server::start();
    server.route("/down.rss", Route::status(500));
    server.route("/missing.rss", Route::status(404));
    let failing = Setup::new(&[
        (&server.url("/down.rss"), None),
        (&server.url("/missing.rss"), None),
    ]);
    let out = failing.run(&["poll"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("0 ok, 2 failed"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("no feed could be polled (2 failed)"),
        "{}",
        stderr(&out)
    );

    server.route("/up.rss", Route::ok(RSS_TYPE, one_item_feed("Up")));
    let mixed = Setup::new(&[
        (&server.url("/down.rss"), None),
        (&server.url("/up.rss"), None),
    ]);
    let out = mixed.run(&["poll"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("1 ok, 1 failed"), "{}", stdout(&out));
}

#[test]
fn poll_with_nothing_due_says_which_feed_is_due_next() {
    let server = Server::start();
    server.route("/up.rss", Route::ok(RSS_TYPE, one_item_feed("Up")));
    let setup = Setup::new(&[(&server.url("/up.rss"), Some("Up Daily"))]);
    setup.ok(&["poll"]);
    let out = setup.run(&["poll"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("0 ok, 0 failed"), "{text}");
    assert!(
        text.contains("nothing was due; next due: Up Daily, at "),
        "{text}"
    );
    assert!(
        text.contains("(in 30 minutes)") || text.contains("(in 29 minutes)"),
        "{text}"
    );
}

#[test]
fn status_lists_the_first_failing_feeds_and_counts_the_rest_in_the_words_of_feeds() {
    let server = Server::start();
    server.route("/ok.rss", Route::ok(RSS_TYPE, one_item_feed("Ok")));
    server.route("/old.rss", Route::ok(RSS_TYPE, one_item_feed("Old")));
    server.route("/gone.rss", Route::status(410));
    let mut urls = vec![
        server.url("/ok.rss"),
        server.url("/old.rss"),
        server.url("/gone.rss"),
    ];
    for i in 0..7 {
        let path = format!("/down{i}.rss");
        server.route(&path, Route::status(500));
        urls.push(server.url(&path));
    }
    let list: Vec<(&str, Option<&str>)> = urls.iter().map(|u| (u.as_str(), None)).collect();
    let setup = Setup::new(&list);
    setup.ok(&["poll"]);
    // Dropping a feed from the config makes it inactive at the next run.
    let config = std::fs::read_to_string(setup.config()).expect("config");
    let without = config.replace(&format!("[[feed]]\nurl = \"{}\"\n", urls[1]), "");
    assert_ne!(config, without);
    std::fs::write(setup.config(), without).expect("write config");
    setup.ok(&["poll"]);

    let out = setup.ok(&["status"]);
    assert!(
        out.contains(
            "9 active: 1 ok, 7 failing (7 waiting to retry), 0 new, 1 disabled; 1 inactive"
        ),
        "{out}"
    );
    let failing: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("Failing feeds"))
        .skip(2)
        .take_while(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(failing.len(), 6, "5 feeds and the rest counted: {out}");
    assert!(
        failing[5].starts_with("and 2 more (`feedfold feeds` lists them all)"),
        "{out}"
    );

    // `status --json` counts feeds with the words `feeds --json` uses.
    let feeds = setup.json_lines(&["feeds", "--json"]);
    let status = &setup.json_lines(&["status", "--json"])[0];
    for word in ["ok", "failing", "new", "disabled", "inactive"] {
        let n = feeds.iter().filter(|f| f["status"] == word).count();
        assert_eq!(status["feeds"][word], n, "{word}: {status}");
    }
    assert_eq!(status["feeds"]["failing"], 7);
    assert_eq!(status["feeds"]["backoff"], 7);
    let listed = status["failing_feeds"].as_array().expect("failing_feeds");
    assert_eq!(listed.len(), 5);
    assert!(listed.iter().all(|f| f["status"] == "failing"), "{status}");
}

/// Runs `feedfold -c CONFIG args…` as if in a terminal `columns` wide.
fn in_terminal(setup: &Setup, columns: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_feedfold"))
        .arg("-c")
        .arg(setup.config())
        .args(args)
        .env("RUST_LOG", "warn")
        .env("COLUMNS", columns)
        .output()
        .expect("run feedfold");
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    stdout(&out)
}

fn widest_line(text: &str) -> usize {
    text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

#[test]
fn feeds_fit_the_terminal_list_failing_feeds_first_and_explain_intervals_plainly() {
    let server = Server::start();
    // A feed whose newest item is years old: the interval reason says so
    // in words, not as "9years 8months 3days…".
    let items: Vec<Item> = (0..3)
        .map(|i| {
            Item::new(&format!("old{i}"))
                .title("An archived report on the harvest")
                .link("https://example.org/old")
                .published(&format!("2016-02-0{}T10:00:00Z", i + 1))
                .html("<p>Farmers in the valley brought in a record harvest of wheat and rice this season.</p>")
        })
        .collect();
    server.route("/a-quiet.rss", Route::ok(RSS_TYPE, rss("Quiet", &items)));
    let long_error = format!("/z-down-{}.rss", "x".repeat(80));
    server.route(&long_error, Route::status(500));
    let setup = Setup::new(&[
        (
            &server.url("/a-quiet.rss"),
            Some("A very quiet archive feed with a long title"),
        ),
        (&server.url(&long_error), None),
    ]);
    setup.ok(&["poll"]);

    let narrow = in_terminal(&setup, "70", &["feeds"]);
    assert!(widest_line(&narrow) <= 70, "wider than 70:\n{narrow}");
    let wide = in_terminal(&setup, "70", &["--wide", "feeds"]);
    assert!(widest_line(&wide) > 100, "--wide keeps whole rows:\n{wide}");
    // Piped without $COLUMNS: whole rows, for grep.
    let piped = setup.ok(&["feeds"]);
    assert_eq!(piped.lines().count(), 3, "{piped}");

    // The failing feed comes first, in the table and in JSON, though its
    // URL sorts last.
    assert!(
        piped.lines().nth(1).expect("row").contains("z-down"),
        "{piped}"
    );
    let rows = setup.json_lines(&["feeds", "--json"]);
    assert_eq!(rows[0]["status"], "failing");
    assert_eq!(rows[1]["status"], "ok");
    // JSON keeps full values whatever the terminal.
    assert!(rows[0]["url"].as_str().expect("url").ends_with(&long_error));

    let reason = rows[1]["interval_reason"].as_str().expect("reason");
    let years = reason
        .strip_prefix("quiet for ")
        .and_then(|r| r.strip_suffix(" years; checked daily, the poll.max_interval"))
        .and_then(|n| n.parse::<u32>().ok());
    assert!(years.is_some_and(|y| y >= 9), "{reason}");
    assert!(piped.contains(reason), "{piped}");
}

/// Runs `feedfold -c CONFIG args…` in `dir`, expecting exit code 2 with
/// one line on stderr; returns that line.
fn one_line_error(config: &std::path::Path, args: &[&str]) -> String {
    let out = common::feedfold(config, args);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    let text = stderr(&out);
    assert_eq!(text.lines().count(), 1, "one line: {text}");
    text.trim_end().to_string()
}

/// Rust's own renderings, which mean nothing to a user.
fn assert_plain(message: &str) {
    for debug in [
        "Some(",
        "None",
        "TextPos",
        "{ ",
        "i64",
        "u64",
        "usize",
        "f64",
        "Error code",
        "ParseSchedule",
        "disk I/O error",
    ] {
        assert!(!message.contains(debug), "{debug:?} in: {message}");
    }
}

#[test]
fn errors_are_one_plain_sentence_with_each_cause_said_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write config");
        p
    };

    // A file that is not a database: said once, not three times.
    std::fs::write(dir.path().join("notes.txt"), "shopping list\n".repeat(100)).expect("write");
    let not_db = config("not_db.toml", "database = \"notes.txt\"\n");
    for args in [&["stories"][..], &["poll"][..]] {
        let e = one_line_error(&not_db, args);
        assert!(e.contains("notes.txt is not an SQLite database"), "{e}");
        assert!(!e.contains("file is not a database"), "said once: {e}");
        assert_plain(&e);
    }

    // A folder given as the database.
    std::fs::create_dir(dir.path().join("data")).expect("mkdir");
    let folder = config("folder.toml", "database = \"data\"\n");
    for args in [&["stories"][..], &["poll"][..]] {
        let e = one_line_error(&folder, args);
        assert!(e.contains("data is a folder, not a file"), "{e}");
        assert!(e.contains("feedfold.db"), "suggests a file name: {e}");
        assert_plain(&e);
    }

    // Config values of the wrong type, in words.
    let e = one_line_error(
        &config(
            "many.toml",
            "database = \"ff.db\"\n[poll]\nconcurrency = \"many\"\n",
        ),
        &["check"],
    );
    assert!(
        e.ends_with(
            "many.toml:3: poll.concurrency: expected a whole number, found the text \"many\""
        ),
        "{e}"
    );
    let e = one_line_error(
        &config(
            "tags.toml",
            "[[feed]]\nurl = \"https://a.example/\"\ntags = \"x\"\n",
        ),
        &["check"],
    );
    assert!(e.contains("expected a list, found the text \"x\""), "{e}");

    // A bad cron expression says what is wrong with it.
    let e = one_line_error(
        &config(
            "cron.toml",
            "database = \"ff.db\"\n[poll]\nschedule = \"0 */5 * * *\"\n",
        ),
        &["check"],
    );
    assert!(
        e.contains("invalid cron expression \"0 */5 * * *\" (pattern must have 6 or 7 fields"),
        "{e}"
    );
    assert_plain(&e);

    // A damaged OPML list: a note in words, not the parser's debug output.
    std::fs::write(
        dir.path().join("subs.opml"),
        "<opml version=\"2.0\"><body><outline xmlUrl=\"https://a.example/\" text=\"A\"></body></opml>",
    )
    .expect("write opml");
    let listing = config(
        "opml.toml",
        "database = \"ff.db\"\ninclude = [\"subs.opml\"]\n",
    );
    let out = common::feedfold(&listing, &["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("mismatched XML tag"),
        "{}",
        stderr(&out)
    );
    assert_plain(&stderr(&out));
    // Counts agree with their nouns.
    assert!(
        stdout(&out).contains("valid; 1 feed (0 in the file, 1 from 1 list file)"),
        "{}",
        stdout(&out)
    );
    let out = common::feedfold(&listing, &["prune"]);
    assert!(stdout(&out).ends_with("in 1 batch\n"), "{}", stdout(&out));

    // The daemon's warning for a failed fetch has no `status=None`.
    let server = Server::start();
    server.route("/down.rss", Route::status(503));
    let setup = Setup::new(&[
        ("http://127.0.0.1:9/refused.rss", None),
        (&server.url("/down.rss"), None),
    ]);
    let out = setup.run(&["poll"]);
    let log = stderr(&out);
    assert!(log.contains("status=503"), "{log}");
    assert_plain(&log);
}

#[test]
fn a_story_shows_its_text_and_sql_users_can_read_every_copy() {
    let server = Server::start();
    let body = "<p>ANKARA, Turkey (Wire) &#8212; Grain envoys from six countries met in Ankara on \
        Thursday to resume talks on the safe passage of grain ships through the Black Sea, \
        officials said.</p><p>The talks follow a month-long pause after a dispute over \
        inspections of ships at Istanbul, according to the ministry of trade.</p>";
    server.route(
        "/wire.rss",
        Route::ok(
            RSS_TYPE,
            rss(
                "Wire",
                &[Item::new("w1")
                    .title("Grain envoys resume Black Sea talks")
                    .link("https://wire.example/1")
                    .html(body)],
            ),
        ),
    );
    let setup = Setup::new(&[(&server.url("/wire.rss"), Some("Wire"))]);
    setup.ok(&["poll"]);

    let shown = in_terminal(&setup, "60", &["story", "1"]);
    assert!(widest_line(&shown) <= 60, "{shown}");
    let flat = shown.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("Grain envoys from six countries met in Ankara on Thursday to resume talks"),
        "the text, wrapped: {shown}"
    );
    assert!(
        !shown.contains("<p>") && !shown.contains("&#8212;"),
        "{shown}"
    );
    // Paragraphs stay apart.
    assert!(
        shown.contains("officials said.\n\nThe talks follow"),
        "{shown}"
    );

    let json = &setup.json_lines(&["story", "1", "--json"])[0];
    let text = json["text"].as_str().expect("text in story --json");
    assert!(
        text.starts_with("ANKARA, Turkey (Wire) — Grain envoys"),
        "{text}"
    );
    assert!(text.contains("officials said.\nThe talks follow"), "{text}");
    assert_eq!(json["sources"][0]["text"], text);

    // The public view keeps its columns, in order, and adds `text`.
    let conn = rusqlite::Connection::open(setup.db()).expect("open");
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('story_sources')")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("columns");
    assert_eq!(
        columns,
        [
            "story_id",
            "entry_id",
            "feed_url",
            "feed_title",
            "entry_url",
            "entry_title",
            "published_at",
            "fetched_at",
            "relation",
            "similarity",
            "credited_agency",
            "feed_id",
            "text"
        ]
    );
    let from_sql: String = setup.sql(
        "SELECT ss.text FROM stories s JOIN story_sources ss
         ON ss.story_id = s.story_id AND ss.relation = 'canonical' WHERE s.story_id = 1",
    );
    assert_eq!(from_sql, text);
}

#[test]
fn the_demo_folds_the_bundled_wire_story_offline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("demo.db");
    let config = dir.path().join("unused.toml");
    let out = common::feedfold(
        &config,
        &["demo", "--database", db.to_str().expect("utf-8")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("feeds: 4 ok, 0 failed"), "{text}");
    assert!(
        text.contains("2 folded from copies in several feeds"),
        "{text}"
    );
    assert!(
        text.contains(
            "Story 1: Black Sea states agree to joint rescue drills after Istanbul talks"
        ),
        "{text}"
    );
    assert!(
        text.contains("Officials from five Black Sea states"),
        "the story's text: {text}"
    );

    // The agency's story and its three republished copies are one story.
    let conn = rusqlite::Connection::open(&db).expect("open");
    let (story, sources, agency): (i64, i64, String) = conn
        .query_row(
            "SELECT story_id, source_count, origin_agency FROM stories
             WHERE title LIKE 'Black Sea states agree%'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("the wire story");
    assert_eq!((sources, agency.as_str()), (4, "AFP"));
    let feeds: Vec<String> = conn
        .prepare("SELECT feed_title FROM story_sources WHERE story_id = ?1 ORDER BY published_at")
        .expect("prepare")
        .query_map([story], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("lineage");
    assert_eq!(
        feeds,
        [
            "AFP World (sample)",
            "APP (sample)",
            "UrduPoint (sample)",
            "The Daily Ledger (sample)"
        ]
    );
    let tulips: i64 = conn
        .query_row(
            "SELECT source_count FROM stories WHERE title LIKE 'Warm winter%'",
            [],
            |r| r.get(0),
        )
        .expect("the second wire story");
    assert_eq!(tulips, 2);
    let stories: i64 = conn
        .query_row("SELECT COUNT(*) FROM stories", [], |r| r.get(0))
        .expect("count");
    assert_eq!(stories, 5, "9 items, 5 stories");

    // A database that exists is never written to.
    let again = common::feedfold(
        &config,
        &["demo", "--database", db.to_str().expect("utf-8")],
    );
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );

    // A URL is not taken as a relative path (no `postgres:` folder appears),
    // and its password is not echoed.
    let url = std::process::Command::new(env!("CARGO_BIN_EXE_feedfold"))
        .current_dir(dir.path())
        .args(["-c"])
        .arg(&config)
        .args([
            "demo",
            "--database",
            "postgres://feedfold:secret@db.example/ff",
        ])
        .output()
        .expect("run feedfold");
    assert_eq!(url.status.code(), Some(2));
    assert!(
        stderr(&url).contains("\"postgres://…\" is a URL"),
        "{}",
        stderr(&url)
    );
    assert!(!stderr(&url).contains("secret"), "{}", stderr(&url));
    assert!(!dir.path().join("postgres:").exists());

    // Without --database, the scratch folder goes when the demo ends.
    let out = common::feedfold(&config, &["demo"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let scratch = text
        .split_once("polling them into ")
        .and_then(|(_, rest)| rest.split_once('…'))
        .map(|(path, _)| std::path::PathBuf::from(path))
        .expect("the scratch database path");
    assert!(
        !scratch.exists() && !scratch.parent().expect("folder").exists(),
        "{text}"
    );
}
