//! End-to-end tests of feed lists: includes, OPML, tags, the list commands
//! and live reload of a running daemon.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{feedfold, require_shared, rss, Daemon, Item, Route, Server};

const RSS_TYPE: &str = "application/rss+xml";

/// A config folder: `feedfold.toml` plus list files.
struct Folder {
    dir: tempfile::TempDir,
}

impl Folder {
    fn new(config: &str) -> Folder {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = Folder { dir };
        f.write("feedfold.toml", config);
        f
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).expect("read")
    }

    fn config(&self) -> PathBuf {
        self.path("feedfold.toml")
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        feedfold(&self.config(), args)
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "feedfold {args:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// Runs a command that must fail with exit 2; returns its stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "feedfold {args:?} should exit 2; stdout: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).expect("utf-8")
    }

    fn json_lines(&self, args: &[&str]) -> Vec<serde_json::Value> {
        self.ok(args)
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect()
    }

    fn sql<T: rusqlite::types::FromSql>(&self, sql: &str) -> T {
        let conn = rusqlite::Connection::open(self.path("ff.db")).expect("open db");
        conn.query_row(sql, [], |r| r.get(0)).expect(sql)
    }
}

fn one_item_feed(name: &str) -> String {
    rss(
        name,
        &[Item::new(&format!("{name}-1"))
            .title(&format!("{name} headline about its own news"))
            .link(&format!("https://{name}.example/1"))
            .html(&format!(
                "<p>A story only {name} carried, with words of its own.</p>"
            ))],
    )
}

fn serve(server: &Server, names: &[&str]) {
    for n in names {
        server.route(&format!("/{n}"), Route::ok(RSS_TYPE, one_item_feed(n)));
    }
}

#[test]
fn included_lists_and_opml_folders_tag_feeds_and_filter_stories() {
    let server = Server::start();
    serve(&server, &["dawn", "bbc"]);
    let f = Folder::new(
        "database = \"ff.db\"\ninclude = [\"feeds.d/*.toml\", \"subs.opml\"]\n[poll]\nconcurrency = 2\n",
    );
    f.write(
        "feeds.d/pk.toml",
        &format!(
            "[[feed]]\nurl = \"{}\"\ntitle = \"Dawn\"\ntags = [\"Pakistan\", \"urdu press\"]\n",
            server.url("/dawn")
        ),
    );
    f.write(
        "subs.opml",
        &format!(
            "<?xml version=\"1.0\"?>\n<opml version=\"2.0\"><head/><body>\n<outline text=\"World\"><outline text=\"UK\">\n<outline text=\"BBC\" xmlUrl=\"{}\"/>\n</outline></outline>\n</body></opml>\n",
            server.url("/bbc")
        ),
    );
    let out = f.ok(&["poll"]);
    assert!(out.contains("2 ok, 0 failed"), "{out}");

    let titles = |args: &[&str]| -> Vec<String> {
        f.json_lines(args)
            .iter()
            .map(|s| s["title"].as_str().expect("title").to_string())
            .collect()
    };
    assert_eq!(titles(&["stories", "--json"]).len(), 2);
    assert_eq!(
        titles(&["stories", "--tag", "pakistan", "--json"]),
        ["dawn headline about its own news"],
        "tags match ignoring case"
    );
    assert_eq!(
        titles(&["stories", "--tag", "UK", "--json"]),
        ["bbc headline about its own news"],
        "nested OPML folders are tags"
    );
    assert_eq!(
        titles(&["stories", "--tag", "world", "--tag", "urdu press", "--json"]).len(),
        2
    );
    assert!(titles(&["stories", "--tag", "sports", "--json"]).is_empty());
    let human = f.ok(&["stories", "--tag", "Pakistan"]);
    assert!(
        human.contains("dawn headline") && !human.contains("bbc headline"),
        "{human}"
    );

    // The public view.
    assert_eq!(f.sql::<i64>("SELECT COUNT(*) FROM feed_tags"), 4);
    assert_eq!(
        f.sql::<String>("SELECT group_concat(tag, '|') FROM (SELECT tag FROM feed_tags WHERE feed_title = 'Dawn' ORDER BY tag)"),
        "Pakistan|urdu press"
    );

    // `feeds --json` keeps its contract: every documented field is there
    // (others may be added, none renamed).
    let rows = f.json_lines(&["feeds", "--json"]);
    assert_eq!(rows.len(), 2);
    let object = rows[0].as_object().expect("object");
    for key in [
        "active",
        "entries",
        "error_count",
        "last_error",
        "last_fetch_at",
        "last_status",
        "next_due_at",
        "title",
        "url",
    ] {
        assert!(object.contains_key(key), "feeds --json lacks {key}");
    }
}

#[test]
fn check_validates_config_and_lists_without_touching_the_database() {
    let f = Folder::new("database = \"ff.db\"\ninclude = [\"feeds.d/*.toml\"]\n[[feed]]\nurl = \"https://a.example/rss\"\n");
    f.write(
        "feeds.d/b.toml",
        "[[feed]]\nurl = \"https://b.example/rss\"\n",
    );
    let out = f.ok(&["check"]);
    assert!(
        out.contains("valid; 2 feeds (1 in the file, 1 from 1 list file)"),
        "{out}"
    );
    assert!(out.contains("b.toml: 1 feed"), "{out}");

    f.write(
        "feeds.d/b.toml",
        "[[feed]]\nurl = \"https://b.example/rss\"\ninterval = \"often\"\n",
    );
    let err = f.fails(&["check"]);
    assert!(err.contains("feeds.d/b.toml:3: feed[1].interval"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        !f.path("ff.db").exists(),
        "check never creates the database"
    );
}

#[test]
fn feeds_add_and_remove_edit_the_list_and_keep_its_comments() {
    let server = Server::start();
    serve(&server, &["one", "two"]);
    let original = format!(
        "# my feeds\ndatabase = \"ff.db\"\ninclude = [\"subs.opml\"]\n\n[poll]\ninterval = \"30m\"  # half an hour\n\n# Wires\n[[feed]]\nurl = \"{}\"\ntitle = \"One\"\n",
        server.url("/one")
    );
    let f = Folder::new(&original);
    f.write(
        "subs.opml",
        "<opml version=\"2.0\"><body>\n<outline text=\"O\" xmlUrl=\"https://opml.example/rss\"/>\n</body></opml>\n",
    );
    let two = server.url("/two");
    let out = f.ok(&[
        "feeds", "add", &two, "--title", "Two & Co", "--tag", "wire", "--tag", "AFP",
    ]);
    assert!(out.contains("added"), "{out}");
    let text = f.read("feedfold.toml");
    assert_eq!(
        text,
        format!("{original}\n[[feed]]\nurl = \"{two}\"\ntitle = \"Two & Co\"\ntags = [\"wire\", \"AFP\"]\n")
    );

    assert!(f
        .fails(&["feeds", "add", &two])
        .contains("already listed at"));
    assert!(f
        .fails(&["feeds", "add", "ftp://x.example/"])
        .contains("scheme"));
    assert!(f
        .fails(&["feeds", "add", "https://t.example/", "--tag", "a,b"])
        .contains("must not contain"));
    assert!(f
        .fails(&["feeds", "remove", "https://opml.example/rss"])
        .contains("OPML"));
    assert!(f
        .fails(&["feeds", "remove", "https://nowhere.example/"])
        .contains("not listed"));
    assert_eq!(
        f.read("feedfold.toml"),
        text,
        "failed commands change nothing"
    );

    // Into another list: created, and the user is told it is not included.
    let out = f.run(&[
        "feeds",
        "add",
        "https://three.example/",
        "--into",
        f.path("extra.toml").to_str().expect("utf-8"),
    ]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not included"));
    assert_eq!(
        f.read("extra.toml"),
        "[[feed]]\nurl = \"https://three.example/\"\n"
    );

    f.ok(&["poll"]);
    assert_eq!(f.sql::<i64>("SELECT COUNT(*) FROM entry"), 2);
    let out = f.ok(&["feeds", "remove", &server.url("/one")]);
    assert!(out.contains("stay in the database"), "{out}");
    assert_eq!(
        f.read("feedfold.toml"),
        format!("# my feeds\ndatabase = \"ff.db\"\ninclude = [\"subs.opml\"]\n\n[poll]\ninterval = \"30m\"  # half an hour\n\n# Wires\n[[feed]]\nurl = \"{two}\"\ntitle = \"Two & Co\"\ntags = [\"wire\", \"AFP\"]\n")
    );
    // The next run marks it inactive and keeps its entry.
    f.ok(&["poll"]);
    let rows = f.json_lines(&["feeds", "--json"]);
    let one = rows
        .iter()
        .find(|r| r["url"] == server.url("/one").as_str())
        .expect("still listed");
    assert_eq!(one["active"], false);
    assert_eq!(one["entries"], 1);
}

const BROKEN_OPML: &str = "<?xml version=\"1.0\"?>
<opml version=\"1.0\"><head><title>Mine</title></head><body>
<outline text=\"News\">
<outline text=\"A\" xmlUrl=\"https://a.example/rss?x=1&y=2\"/>
<outline text=\"Main\" xmlUrl=\"https://main.example/\"/>
<outline text=\"Bad\" xmlUrl=\"ftp://bad.example/\"/>
<outline text=\"Broken\" \"oops\" xmlUrl=\"https://broken.example/\"/>
<outline text=\"A again\" xmlUrl=\"https://a.example/rss?x=1&amp;y=2\" category=\"x\"/>
</outline>
</body></opml>
";

#[test]
fn import_saves_what_it_can_and_reports_the_rest_by_line() {
    let f = Folder::new("database = \"ff.db\"\n\n[[feed]]\nurl = \"https://main.example/\"\n");
    f.write("mine.opml", BROKEN_OPML);
    let out = f.ok(&[
        "feeds",
        "import",
        f.path("mine.opml").to_str().expect("utf-8"),
    ]);
    let at = |line: usize| {
        out.lines()
            .find(|l| l.contains(&format!("mine.opml:{line}: ")))
            .unwrap_or_else(|| panic!("no report for line {line}:\n{out}"))
            .to_string()
    };
    assert!(at(5).contains("already listed at"), "{out}");
    assert!(at(6).contains("unsupported URL scheme"), "{out}");
    assert!(at(7).contains("damaged outline"), "{out}");
    assert!(at(8).contains("listed again (first on line 4)"), "{out}");
    assert!(out.contains("not valid OPML"), "{out}");
    assert!(
        out.contains("imported 2 feeds into")
            && out.contains("2 duplicates skipped, 1 invalid URL, 1 recovered"),
        "{out}"
    );
    let text = f.read("feedfold.toml");
    assert!(text.starts_with("database = \"ff.db\"\n\n[[feed]]\nurl = \"https://main.example/\"\n"));
    assert!(
        text.contains(
            "url = \"https://a.example/rss?x=1&y=2\"\ntitle = \"A\"\ntags = [\"News\", \"x\"]\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("url = \"https://broken.example/\"\ntitle = \"Broken\"\ntags = [\"News\"]\n"),
        "{text}"
    );
    f.ok(&["check"]);

    // Importing again adds nothing: everything is a duplicate now.
    let again = f.ok(&[
        "feeds",
        "import",
        f.path("mine.opml").to_str().expect("utf-8"),
    ]);
    assert!(again.contains("imported 0 feeds"), "{again}");
    assert_eq!(f.read("feedfold.toml"), text);

    // --into a list file; an OPML target is refused.
    let g = Folder::new("include = [\"feeds.d/*.toml\"]\n");
    let into = g.path("feeds.d/imported.toml");
    let out = g.ok(&[
        "feeds",
        "import",
        f.path("mine.opml").to_str().expect("utf-8"),
        "--into",
        into.to_str().expect("utf-8"),
    ]);
    assert!(out.contains("imported 3 feeds"), "{out}");
    assert_eq!(g.read("feedfold.toml"), "include = [\"feeds.d/*.toml\"]\n");
    assert!(g.ok(&["check"]).contains("valid; 3 feeds"));
    let err = g.fails(&[
        "feeds",
        "import",
        f.path("mine.opml").to_str().expect("utf-8"),
        "--into",
        "x.opml",
    ]);
    assert!(err.contains(".toml lists only"), "{err}");
}

/// An OPML list of (title, URL) outlines.
fn opml(outlines: &[(&str, &str)]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\"?>\n<opml version=\"2.0\"><head><title>t</title></head><body>\n",
    );
    for (title, url) in outlines {
        s.push_str(&format!(
            "<outline type=\"rss\" text=\"{title}\" xmlUrl=\"{url}\"/>\n"
        ));
    }
    s.push_str("</body></opml>\n");
    s
}

/// Issue 22 item 9: right after `feeds import`, before any poll (no
/// database yet), `feeds` lists the configured feeds as never polled; a feed
/// added later, with no daemon to sync it, is listed too.
#[test]
fn feeds_lists_configured_feeds_before_the_first_poll() {
    let server = Server::start();
    serve(&server, &["one", "two", "three"]);
    let f = Folder::new("database = \"ff.db\"\n");
    f.write(
        "subs.opml",
        &opml(&[("One", &server.url("/one")), ("Two", &server.url("/two"))]),
    );
    f.ok(&[
        "feeds",
        "import",
        f.path("subs.opml").to_str().expect("utf-8"),
    ]);
    let table = f.ok(&["feeds"]);
    for url in [server.url("/one"), server.url("/two")] {
        let line = table
            .lines()
            .find(|l| l.contains(&url))
            .unwrap_or_else(|| panic!("{url} not listed:\n{table}"));
        assert!(line.contains("never polled"), "{line}");
    }
    let rows = f.json_lines(&["feeds", "--json"]);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows
        .iter()
        .all(|r| r["status"] == "new" && r["last_fetch_at"].is_null()));
    assert!(!f.path("ff.db").exists(), "listing creates no database");

    f.ok(&["poll"]);
    f.ok(&["feeds", "add", &server.url("/three")]);
    let rows = f.json_lines(&["feeds", "--json"]);
    let status = |path: &str| {
        rows.iter()
            .find(|r| r["url"] == server.url(path).as_str())
            .map(|r| r["status"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(status("/one").as_deref(), Some("ok"), "{rows:?}");
    assert_eq!(status("/three").as_deref(), Some("new"), "{rows:?}");
}

/// Issue 22 item 7: `--into` a list the config does not include yet: a
/// second import or add does not list the same feeds again, and the note
/// gives the exact `include` line to add.
#[test]
fn into_a_list_not_yet_included_does_not_list_a_feed_twice() {
    let f = Folder::new("database = \"ff.db\"\ninclude = [\"feeds.d/*.toml\"]\n");
    f.write(
        "subs.opml",
        &opml(&[
            ("One", "https://one.example/rss"),
            ("Two", "https://two.example/rss"),
        ]),
    );
    let subs = f.path("subs.opml");
    let subs = subs.to_str().expect("utf-8");
    let into = f.path("new.toml");
    let into = into.to_str().expect("utf-8");
    let import = || f.run(&["feeds", "import", subs, "--into", into]);
    let out = import();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("imported 2 feeds"), "{stdout}");
    assert!(
        stderr.contains("is not included by")
            && stderr.contains("include = [\"feeds.d/*.toml\", \"new.toml\"]"),
        "{stderr}"
    );
    let first = f.read("new.toml");
    let out = import();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("imported 0 feeds") && stdout.contains("2 duplicates skipped"),
        "{stdout}"
    );
    assert!(stdout.contains("already listed at"), "{stdout}");
    assert_eq!(f.read("new.toml"), first, "nothing appended twice");

    let err = f.fails(&["feeds", "add", "https://one.example/rss", "--into", into]);
    assert!(
        err.contains("already listed at") && err.contains("new.toml:"),
        "{err}"
    );
    f.ok(&["feeds", "add", "https://three.example/rss", "--into", into]);
    f.fails(&["feeds", "add", "https://three.example/rss", "--into", into]);
    assert_eq!(f.read("new.toml").matches("[[feed]]").count(), 3);

    // With the line added as told, the config reads the list: 3 feeds.
    f.write(
        "feedfold.toml",
        "database = \"ff.db\"\ninclude = [\"feeds.d/*.toml\", \"new.toml\"]\n",
    );
    assert!(f.ok(&["check"]).contains("valid; 3 feeds"));
}

#[test]
fn export_opml_round_trips_through_import() {
    let f = Folder::new(
        "database = \"ff.db\"\ninclude = [\"subs.opml\"]\n\n[[feed]]\nurl = \"https://a.example/rss?x=1&y=2\"\ntitle = \"A <&> \\\"quoted\\\"\"\ntags = [\"News\", \"Pakistan\"]\n\n[[feed]]\nurl = \"https://b.example/\"\ntags = [\"News\"]\n\n[[feed]]\nurl = \"https://c.example/\"\ntitle = \"C\"\n",
    );
    f.write(
        "subs.opml",
        "<opml version=\"2.0\"><body><outline text=\"Tech\"><outline text=\"D\" xmlUrl=\"https://d.example/feed\"/></outline></body></opml>",
    );
    let exported = f.ok(&["feeds", "export", "--opml"]);
    let doc = opml::OPML::from_str(&exported).expect("valid OPML per the opml crate");
    assert_eq!(doc.version, "2.0");

    let g = Folder::new("database = \"ff.db\"\n");
    g.write("in.opml", &exported);
    let out = g.ok(&[
        "feeds",
        "import",
        g.path("in.opml").to_str().expect("utf-8"),
    ]);
    assert!(out.contains("imported 4 feeds"), "{out}");
    assert!(
        !out.contains("in.opml:"),
        "a clean import reports nothing: {out}"
    );

    // Both lists, exported as TOML, agree (untitled feeds get their URL as title).
    let before = f.ok(&["feeds", "export"]).replace(
        "url = \"https://b.example/\"\n",
        "url = \"https://b.example/\"\ntitle = \"https://b.example/\"\n",
    );
    let after = g.ok(&["feeds", "export"]);
    let as_set = |t: &str| {
        let mut tables: Vec<String> = t.split("\n\n").map(|s| s.trim().to_string()).collect();
        tables.sort();
        tables
    };
    assert_eq!(
        as_set(&after),
        as_set(&before),
        "before:\n{before}\nafter:\n{after}"
    );
    // TOML export is itself a valid list.
    g.write("exported.toml", &after);
    let h = Folder::new("include = [\"exported.toml\"]\n");
    h.write("exported.toml", &after);
    assert!(h.ok(&["check"]).contains("valid; 4 feeds"));
}

/// Lines holding an `xmlUrl` attribute: the oracle for "outlines with a
/// feed URL", found independently of feedfold's reader.
fn xml_url_lines(text: &str) -> Vec<usize> {
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let lower = line.to_ascii_lowercase();
        let mut rest = lower.as_str();
        while let Some(at) = rest.find("xmlurl") {
            let before_ok = at > 0 && rest.as_bytes()[at - 1].is_ascii_whitespace();
            let after = rest[at + 6..].trim_start();
            let value_ok = after
                .strip_prefix('=')
                .is_some_and(|v| v.trim_start().starts_with(['"', '\'']));
            if before_ok && value_ok {
                lines.push(i + 1);
            }
            rest = &rest[at + 6..];
        }
    }
    lines
}

fn opml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            opml_files(&p, out);
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("opml" | "xml")) {
            out.push(p);
        }
    }
}

#[test]
fn import_over_the_whole_opml_corpus_loses_no_feed_silently() {
    let Some(root) = require_shared("corpora/opml") else {
        return;
    };
    let mut files = Vec::new();
    opml_files(&root, &mut files);
    files.sort();
    assert!(files.len() > 100, "corpus has {} files", files.len());
    let empty = Folder::new("database = \"ff.db\"\n");
    let config = feedfold::config::Config::load(&empty.config()).expect("config");
    let (mut imported, mut reported, mut outlines, mut lenient) = (0, 0, 0, 0);
    for file in &files {
        let bytes = std::fs::read(file).expect("read corpus file");
        let doc = feedfold::opml::read(&bytes);
        let plan = feedfold::listedit::plan_import(&doc, &config, || {});
        lenient += usize::from(!doc.valid);
        let text = String::from_utf8_lossy(&bytes);
        let expected = xml_url_lines(&text);
        // Each expected line is accounted for: a feed read from it, or a report naming it.
        let mut seen: Vec<usize> = doc.feeds.iter().map(|f| f.line).collect();
        seen.extend(doc.problems.iter().map(|p| p.line));
        for line in &expected {
            let n_expected = expected.iter().filter(|l| *l == line).count();
            let n_seen = seen.iter().filter(|l| *l == line).count();
            assert!(
                n_seen >= n_expected,
                "{}:{line}: {n_expected} outline(s) with an xmlUrl, {n_seen} read or reported",
                file.display()
            );
        }
        // And every outline read is either imported or reported by line.
        for feed in &doc.feeds {
            let accounted = plan.feeds.iter().any(|(l, _)| *l == feed.line)
                || plan.report.iter().any(|(l, _)| *l == feed.line);
            assert!(
                accounted,
                "{}:{}: {} neither imported nor reported",
                file.display(),
                feed.line,
                feed.url
            );
        }
        outlines += expected.len();
        imported += plan.feeds.len();
        reported += plan.report.len();
    }
    eprintln!(
        "OPML corpus: {} files ({lenient} read leniently), {outlines} xmlUrl attributes, {imported} feeds imported, {reported} report lines",
        files.len()
    );

    // The real binary on the broken real-world files: exit 0, one summary, and the config stays valid.
    let broken: Vec<&PathBuf> = files
        .iter()
        .filter(|p| p.to_string_lossy().contains("awesome-rss-feeds"))
        .filter(|p| !feedfold::opml::read(&std::fs::read(p).expect("read")).valid)
        .take(10)
        .collect();
    assert!(!broken.is_empty());
    for (i, file) in broken.iter().enumerate() {
        let into = empty.path(&format!("imported-{i}.toml"));
        let out = empty.ok(&[
            "feeds",
            "import",
            file.to_str().expect("utf-8"),
            "--into",
            into.to_str().expect("utf-8"),
        ]);
        assert_eq!(
            out.lines().filter(|l| l.starts_with("imported ")).count(),
            1,
            "{out}"
        );
        let list = Folder::new("include = [\"l.toml\"]\n");
        list.write(
            "l.toml",
            &std::fs::read_to_string(&into).unwrap_or_default(),
        );
        list.ok(&["check"]);
    }
}

fn feed_state(f: &Folder, url: &str) -> Option<(bool, i64, Option<String>)> {
    let conn = rusqlite::Connection::open(f.path("ff.db")).ok()?;
    conn.query_row(
        "SELECT active, (SELECT COUNT(*) FROM entry e WHERE e.feed_id = feed.id), title FROM feed WHERE url = ?1",
        [url],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .ok()
}

#[test]
fn the_running_daemon_reloads_lists_on_file_change_and_sighup() {
    let server = Server::start();
    serve(&server, &["a", "b", "c"]);
    let (a, b, c) = (server.url("/a"), server.url("/b"), server.url("/c"));
    // The schedule never fires during the test: every poll after the first
    // pass is one a reload asked for.
    let f = Folder::new(
        "database = \"ff.db\"\ninclude = [\"feeds.d/*.toml\", \"later/*.toml\"]\n[poll]\nschedule = \"0 0 0 1 1 *\"\ninterval = \"30m\"\n",
    );
    f.write("feeds.d/news.toml", &format!("[[feed]]\nurl = \"{a}\"\n"));
    let mut daemon = Daemon::start(&f.config(), &["run"], &[("RUST_LOG", "info")]);
    daemon.wait_for("the first pass", || {
        feed_state(&f, &a).is_some_and(|s| s.1 == 1)
    });

    // A new feed in the list file is polled soon.
    f.write(
        "feeds.d/news.toml",
        &format!("[[feed]]\nurl = \"{a}\"\n\n[[feed]]\nurl = \"{b}\"\ntags = [\"x\"]\n"),
    );
    daemon.wait_for("feed b to be polled", || {
        feed_state(&f, &b).is_some_and(|s| s.1 == 1)
    });
    assert!(daemon.logged("feed added"), "{}", daemon.log());

    // Removing a feed stops it and keeps its data; a changed title applies.
    f.write(
        "feeds.d/news.toml",
        &format!("[[feed]]\nurl = \"{b}\"\ntitle = \"Bee\"\ntags = [\"x\"]\n"),
    );
    daemon.wait_for("feed a to turn inactive and b to be retitled", || {
        feed_state(&f, &a) == Some((false, 1, None))
            && feed_state(&f, &b) == Some((true, 1, Some("Bee".into())))
    });
    assert!(daemon.logged("feed removed"), "{}", daemon.log());
    assert!(daemon.logged("feed settings changed"), "{}", daemon.log());

    // An invalid list is rejected whole, naming file and line; nothing changes.
    f.write("feeds.d/news.toml", "[[feed]]\nurl = \"not a url\"\n");
    daemon.wait_for("the rejection", || daemon.logged("rejected"));
    assert!(
        daemon.logged("feeds.d/news.toml:2: feed[1].url"),
        "{}",
        daemon.log()
    );
    assert_eq!(feed_state(&f, &b), Some((true, 1, Some("Bee".into()))));
    assert_eq!(feed_state(&f, &a), Some((false, 1, None)));
    f.write(
        "feeds.d/news.toml",
        &format!("[[feed]]\nurl = \"{b}\"\ntitle = \"Bee\"\ntags = [\"x\"]\n"),
    );
    daemon.wait_for("the repaired list to load", || daemon.logged("no changes"));

    // SIGHUP: `later/` did not exist at start, so no watch covers it.
    f.write("later/c.toml", &format!("[[feed]]\nurl = \"{c}\"\n"));
    std::thread::sleep(Duration::from_millis(800));
    assert!(server.seen("/c").is_empty(), "no reload without SIGHUP");
    daemon.signal("HUP");
    daemon.wait_for("feed c after SIGHUP", || {
        feed_state(&f, &c).is_some_and(|s| s.1 == 1)
    });
    assert!(daemon.logged("reloaded (SIGHUP)"), "{}", daemon.log());

    daemon.signal("TERM");
    let (status, _) = daemon.wait_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "{}", daemon.log());
    assert_eq!(
        server.seen("/a").len(),
        1,
        "a removed feed is not polled again"
    );
}

/// A reload applies a changed `[dedup]` section to what is stored next, and
/// names the sections that only a restart applies.
#[test]
fn a_reload_applies_dedup_settings_and_names_those_needing_a_restart() {
    let server = Server::start();
    let wire = "<p>Delegations from Pakistan and Turkey met in Istanbul on Thursday for a second round of talks on trade, energy and security, officials said after the meeting.</p>";
    for n in ["a", "b"] {
        let item = (format!("{n}-1"), format!("https://{n}.example/1"));
        server.route(
            &format!("/{n}"),
            Route::ok(
                RSS_TYPE,
                rss(
                    n,
                    &[Item::new(&item.0)
                        .title("Talks in Istanbul")
                        .link(&item.1)
                        .html(wire)],
                ),
            ),
        );
    }
    let (a, b) = (server.url("/a"), server.url("/b"));
    let head = "database = \"ff.db\"\n[poll]\nschedule = \"0 0 0 1 1 *\"\ninterval = \"30m\"\n";
    let f = Folder::new(&format!("{head}[[feed]]\nurl = \"{a}\"\n"));
    let daemon = Daemon::start(&f.config(), &["run"], &[("RUST_LOG", "info")]);
    daemon.wait_for("the first pass", || {
        feed_state(&f, &a).is_some_and(|s| s.1 == 1)
    });
    // No text that short folds now: b's copy of a's item stays a story of its own.
    std::fs::write(
        f.config(),
        format!("{head}[dedup]\nmin_tokens = 1000\n[retention]\ndays = 30\n[[feed]]\nurl = \"{a}\"\n[[feed]]\nurl = \"{b}\"\n"),
    )
    .expect("write config");
    daemon.wait_for("feed b to be polled", || {
        feed_state(&f, &b).is_some_and(|s| s.1 == 1)
    });
    assert!(
        daemon.logged("[dedup] settings changed"),
        "{}",
        daemon.log()
    );
    assert!(
        daemon.logged("[retention] apply at the next start"),
        "{}",
        daemon.log()
    );
    let stories: i64 = rusqlite::Connection::open(f.path("ff.db"))
        .and_then(|c| c.query_row("SELECT COUNT(*) FROM story", [], |r| r.get(0)))
        .expect("count stories");
    assert_eq!(stories, 2, "b's copy folded under the old settings");
}
