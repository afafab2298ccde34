//! The web surface (`[web] listen`) of a running `feedfold run`, checked
//! with real clients: feedparser (PyPI) parses every outgoing feed, newsboat
//! (Debian) subscribes to `/feeds/all.atom`, headless Chromium renders a
//! hostile item and takes screenshots (kept under `target/web-screenshots/`).
//! The store is filled the way users fill it: a loopback newsroom polled by
//! the binary.
//!
//! A test whose tool is missing skips with a note, except under CI (`CI`
//! set), where it fails: see [`tool`].

mod common;

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::newsroom::Newsroom;
use common::{rss, Daemon, Item, Route, Server};

/// A tool a test needs: `$env` when set, else the first of `candidates`
/// that exists. Missing: `None` (the test skips) on a developer's machine,
/// a failure under CI, where .ci/run installs every tool.
fn tool(name: &str, env: &str, candidates: &[PathBuf]) -> Option<PathBuf> {
    let found = std::env::var_os(env)
        .map(PathBuf::from)
        .or_else(|| candidates.iter().find(|p| p.exists()).cloned());
    if found.is_none() {
        common::skip(&format!(
            "{name} not found (.ci/run installs it; or set {env})"
        ));
    }
    found
}

/// `name` on the PATH.
fn on_path(name: &str) -> Vec<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(name)).collect())
        .unwrap_or_default()
}

/// A Python that can `import feedparser` (the CI venv by default).
fn feedparser() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci-venv/bin/python");
    let python = tool("feedparser", "FEEDFOLD_FEEDPARSER_PYTHON", &[venv])?;
    let ok = Command::new(&python)
        .args(["-c", "import feedparser"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        common::skip(&format!("{} cannot import feedparser", python.display()));
        return None;
    }
    Some(python)
}

/// `feedfold run` with JSON logs (the web line carries the bound address).
fn run(config: &Path) -> Daemon {
    Daemon::start(
        config,
        &["--log-format", "json", "run"],
        &[("RUST_LOG", "info")],
    )
}

/// Waits for the daemon's web line; returns `http://127.0.0.1:PORT` and the line.
fn web(daemon: &Daemon) -> (String, String) {
    let line = daemon.wait_for_line("serving the web pages", Duration::from_secs(30));
    let v: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
    let addr: std::net::SocketAddr = v["addr"]
        .as_str()
        .expect("addr")
        .parse()
        .expect("socket address");
    // A wildcard address is reached on loopback.
    (format!("http://127.0.0.1:{}", addr.port()), line)
}

/// One HTTP exchange as the test sees it, nothing decoded for it.
struct Answer {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("UTF-8 body")
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }
}

/// GET `url` with `headers`; the client neither decompresses nor follows.
fn get(url: &str, headers: &[(&str, &str)]) -> Answer {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .no_gzip()
            .no_brotli()
            .no_deflate()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let mut req = client.get(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.expect("GET");
        let status = r.status().as_u16();
        let headers = r
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let body = r.bytes().await.expect("body").to_vec();
        Answer {
            status,
            headers,
            body,
        }
    })
}

/// A newsroom of `stories` wire stories, polled once, with `feedfold run`
/// serving `[web]` on a free loopback port.
fn served_newsroom(stories: usize) -> (Newsroom, Daemon, String) {
    let room = Newsroom::start(stories, "[web]\nlisten = \"127.0.0.1:0\"\n");
    room.poll();
    let daemon = run(&room.config());
    let (base, _) = web(&daemon);
    (room, daemon, base)
}

/// Story ids and titles of the `stories` view, newest first, with at least
/// `min_sources` sources and, when given, a feed tagged `tag`.
fn expected(room: &Newsroom, min_sources: i64, tag: Option<&str>) -> Vec<(i64, String)> {
    let conn = room.conn();
    let mut stmt = conn
        .prepare(
            "SELECT story_id, title FROM stories WHERE source_count >= ?1
             AND (?2 IS NULL OR story_id IN (SELECT ss.story_id FROM story_sources ss
                  JOIN feed_tags ft ON ft.feed_url = ss.feed_url WHERE ft.tag = ?2))
             ORDER BY published_at DESC, story_id DESC",
        )
        .expect("prepare");
    stmt.query_map(rusqlite::params![min_sources, tag], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

/// What feedparser makes of a document: bozo flag, version, entry ids and
/// titles, and each entry's content.
fn parse_with_feedparser(python: &Path, body: &[u8], content_type: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("feed");
    std::fs::write(&file, body).expect("write feed");
    let script = r#"
import json, sys, feedparser
with open(sys.argv[1], 'rb') as f:
    data = f.read()
d = feedparser.parse(data, response_headers={'content-type': sys.argv[2]})
print(json.dumps({
    'bozo': d.bozo,
    'bozo_exception': str(d.get('bozo_exception', '')),
    'version': d.version,
    'title': d.feed.get('title'),
    'entries': [{'id': e.get('id'), 'title': e.get('title'), 'link': e.get('link'),
                 'published': e.get('published'), 'updated': e.get('updated'),
                 'content': (e.get('content') or [{}])[0].get('value') or e.get('summary', '')}
                for e in d.entries],
}))
"#;
    let out = Command::new(python)
        .args(["-c", script])
        .arg(&file)
        .arg(content_type)
        .output()
        .expect("run feedparser");
    assert!(
        out.status.success(),
        "feedparser failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("feedparser JSON")
}

#[test]
fn feedparser_reads_every_outgoing_feed_one_entry_per_story() {
    let Some(python) = feedparser() else { return };
    let (room, _daemon, base) = served_newsroom(16);
    let cases: &[(&str, i64, Option<&str>)] = &[
        ("/feeds/all.atom", 1, None),
        ("/feeds/all.json", 1, None),
        ("/feeds/all.atom?min_sources=3", 3, None),
        ("/feeds/all.json?min_sources=3", 3, None),
        ("/feeds/tag/pakistan.atom", 1, Some("pakistan")),
        (
            "/feeds/tag/pakistan.json?min_sources=2",
            2,
            Some("pakistan"),
        ),
    ];
    for (path, min_sources, tag) in cases {
        let answer = get(&format!("{base}{path}"), &[]);
        assert_eq!(answer.status, 200, "{path}: {}", answer.text());
        let content_type = answer.header("content-type").to_string();
        let json = path.contains(".json");
        let want_type = if json {
            "application/feed+json; charset=utf-8"
        } else {
            "application/atom+xml; charset=utf-8"
        };
        assert_eq!(content_type, want_type, "{path}");
        let want = expected(&room, *min_sources, *tag);
        assert!(!want.is_empty(), "{path}: the newsroom has such stories");
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(id, t)| (format!("urn:feedfold:story:{id}"), t.clone()))
            .collect();
        // No released feedparser reads JSON Feed (6.0.x parses RSS and
        // Atom only): JSON Feed is read with feed-rs, the parser feedfold
        // itself uses for incoming feeds.
        let entries: Vec<(String, String, String)> = if json {
            let feed = feed_rs::parser::parse(answer.body.as_slice())
                .unwrap_or_else(|e| panic!("{path}: feed-rs: {e}"));
            assert_eq!(feed.feed_type, feed_rs::model::FeedType::JSON, "{path}");
            feed.entries
                .iter()
                .map(|e| {
                    (
                        e.id.clone(),
                        e.title
                            .as_ref()
                            .map(|t| t.content.clone())
                            .unwrap_or_default(),
                        e.content
                            .as_ref()
                            .and_then(|c| c.body.clone())
                            .unwrap_or_default(),
                    )
                })
                .collect()
        } else {
            let parsed = parse_with_feedparser(&python, &answer.body, &content_type);
            assert_eq!(parsed["bozo"], false, "{path}: {parsed}");
            assert_eq!(parsed["version"], "atom10", "{path}");
            parsed["entries"]
                .as_array()
                .expect("entries")
                .iter()
                .map(|e| {
                    (
                        e["id"].as_str().expect("id").to_string(),
                        e["title"].as_str().expect("title").to_string(),
                        e["content"].as_str().expect("content").to_string(),
                    )
                })
                .collect()
        };
        let got: Vec<(String, String)> = entries
            .iter()
            .map(|(id, title, _)| (id.clone(), title.clone()))
            .collect();
        assert_eq!(got, want, "{path}");
        // Every entry says who carried it.
        for (_, _, content) in &entries {
            assert!(content.contains("Carried by"), "{path}: {content}");
        }
    }

    // The lineage as data in JSON Feed's extension object, and the limit.
    let feed: serde_json::Value =
        serde_json::from_slice(&get(&format!("{base}/feeds/all.json?limit=3"), &[]).body)
            .expect("JSON Feed");
    assert_eq!(feed["version"], "https://jsonfeed.org/version/1.1");
    let items = feed["items"].as_array().expect("items");
    assert_eq!(items.len(), 3);
    let conn = room.conn();
    for item in items {
        let ext = &item["_feedfold"];
        let id = ext["story_id"].as_i64().expect("story_id");
        let (copies, feeds): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM story_sources WHERE story_id = ?1),
                        (SELECT source_count FROM stories WHERE story_id = ?1)",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("counts");
        assert_eq!(
            ext["copies"].as_array().expect("copies").len() as i64,
            copies
        );
        assert_eq!(ext["source_count"].as_i64(), Some(feeds));
    }
    for bad in ["/feeds/all.atom?limit=501", "/feeds/all.json?min_sources=0"] {
        assert_eq!(get(&format!("{base}{bad}"), &[]).status, 400, "{bad}");
    }
    assert_eq!(
        get(&format!("{base}/feeds/tag/nosuchtag.atom"), &[]).status,
        404
    );
}

#[test]
fn newsboat_subscribes_to_the_atom_feed() {
    let Some(newsboat) = tool("newsboat", "FEEDFOLD_NEWSBOAT", &on_path("newsboat")) else {
        return;
    };
    let (room, _daemon, base) = served_newsroom(12);
    let dir = tempfile::tempdir().expect("tempdir");
    let urls = dir.path().join("urls");
    let cache = dir.path().join("cache.db");
    let config = dir.path().join("config");
    std::fs::write(&urls, format!("{base}/feeds/all.atom\n")).expect("urls");
    std::fs::write(&config, "").expect("config");
    let out = Command::new(newsboat)
        .arg("-u")
        .arg(&urls)
        .arg("-c")
        .arg(&cache)
        .arg("-C")
        .arg(&config)
        .args(["-x", "reload"])
        .env("HOME", dir.path())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .output()
        .expect("run newsboat");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "newsboat: {stdout}\n{stderr}");
    for noise in ["rror", "arning"] {
        assert!(
            !stdout.contains(noise) && !stderr.contains(noise),
            "newsboat complained: {stdout}\n{stderr}"
        );
    }
    let conn = rusqlite::Connection::open(&cache).expect("newsboat cache");
    let mut stmt = conn
        .prepare("SELECT guid, title FROM rss_item ORDER BY pubDate DESC, guid")
        .expect("prepare");
    let mut got: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let mut want: Vec<(String, String)> = expected(&room, 1, None)
        .into_iter()
        .map(|(id, t)| (format!("urn:feedfold:story:{id}"), t))
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    let feed_title: String = conn
        .query_row("SELECT title FROM rss_feed", [], |r| r.get(0))
        .expect("feed row");
    assert_eq!(feed_title, "feedfold: all stories");
}

#[test]
fn conditional_get_content_types_and_compression() {
    let (_room, _daemon, base) = served_newsroom(8);
    let url = format!("{base}/feeds/all.atom");
    let first = get(&url, &[]);
    assert_eq!(first.status, 200);
    let etag = first.header("etag").to_string();
    let modified = first.header("last-modified").to_string();
    assert!(etag.starts_with("W/\""), "{etag}");
    assert!(modified.ends_with(" GMT"), "{modified}");
    let again = get(&url, &[("if-none-match", &etag)]);
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), etag);
    assert_eq!(get(&url, &[("if-modified-since", &modified)]).status, 304);
    assert_eq!(
        get(&url, &[("if-none-match", "W/\"0000000000000000\"")]).status,
        200
    );
    // Other limits are other documents.
    let fewer = get(&format!("{url}?limit=2"), &[("if-none-match", &etag)]);
    assert_eq!(fewer.status, 200);

    let gzip = get(&url, &[("accept-encoding", "gzip")]);
    assert_eq!(gzip.header("content-encoding"), "gzip");
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(gzip.body.as_slice())
        .read_to_end(&mut plain)
        .expect("gunzip");
    assert_eq!(plain, first.body);
    assert_eq!(gzip.header("etag"), etag);
    let br = get(&url, &[("accept-encoding", "br")]);
    assert_eq!(br.header("content-encoding"), "br");
    assert!(br.body.len() < first.body.len() / 2);

    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/feeds", "text/html; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/feeds/all.json", "application/feed+json; charset=utf-8"),
    ] {
        let a = get(&format!("{base}{path}"), &[]);
        assert_eq!(a.status, 200, "{path}");
        assert_eq!(a.header("content-type"), content_type, "{path}");
        assert!(
            a.header("content-security-policy")
                .contains("default-src 'none'"),
            "{path}"
        );
    }
}

#[test]
fn pages_show_the_river_a_story_search_and_feed_health() {
    let (room, _daemon, base) = served_newsroom(12);
    let home = get(&format!("{base}/"), &[]).text();
    for (id, title) in expected(&room, 1, None).iter().take(5) {
        assert!(home.contains(&format!("/story/{id}")), "{home}");
        assert!(home.contains(title.as_str()), "{title}");
    }
    assert!(home.contains("AFP World"), "outlets as chips");
    let wired = get(&format!("{base}/?min_sources=3"), &[]).text();
    let want = expected(&room, 3, None);
    assert_eq!(wired.matches("<li class=\"story\">").count(), want.len());
    let tagged = get(&format!("{base}/?tag=pakistan&min_sources=2"), &[]).text();
    assert_eq!(
        tagged.matches("<li class=\"story\">").count(),
        expected(&room, 2, Some("pakistan")).len()
    );
    assert_eq!(
        get(&format!("{base}/?since=yesterday-ish"), &[]).status,
        400
    );

    // The most syndicated story: every copy, and what each changed.
    let (id, copies): (i64, i64) = room
        .conn()
        .query_row(
            "SELECT story_id, source_count FROM stories ORDER BY source_count DESC, story_id LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("a story");
    assert!(copies >= 3);
    let page = get(&format!("{base}/story/{id}"), &[]).text();
    let feeds: Vec<String> = {
        let conn = room.conn();
        let mut stmt = conn
            .prepare("SELECT feed_title FROM story_sources WHERE story_id = ?1")
            .expect("prepare");
        stmt.query_map([id], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    };
    for f in &feeds {
        assert!(page.contains(f.as_str()), "{f} missing from {page}");
    }
    assert_eq!(
        page.matches("<li class=\"copy ").count(),
        feeds.len(),
        "{page}"
    );
    assert!(page.contains("class=\"diff\""), "{page}");
    assert_eq!(get(&format!("{base}/story/999999"), &[]).status, 404);

    // Search: the CLI's ranking.
    let cli: Vec<i64> = room
        .ok(&["search", "embassy talks", "--json"])
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("JSON")["story_id"]
                .as_i64()
                .expect("id")
        })
        .collect();
    assert!(!cli.is_empty());
    let found = get(&format!("{base}/search?q=embassy+talks"), &[]).text();
    let order: Vec<usize> = cli
        .iter()
        .map(|id| {
            found
                .find(&format!("href=\"/story/{id}\""))
                .unwrap_or_else(|| panic!("story {id} missing"))
        })
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    assert!(found.contains("<mark>"), "{found}");

    // Feed health: the failing feeds first.
    let health = get(&format!("{base}/feeds"), &[]).text();
    let broken = health.find("/broken.rss").expect("broken feed listed");
    let ok = health.find("/afp.rss").expect("afp listed");
    assert!(broken < ok, "failing first");
    assert!(health.contains("failing"));

    // The river and the most syndicated story of a busy newsroom, to look at.
    if let Some(browser) = tool("chromium", "FEEDFOLD_CHROMIUM", &on_path("chromium")) {
        screenshots(&browser, &format!("{base}/"), "river");
        screenshots(&browser, &format!("{base}/story/{id}"), "story");
    }

    // Read-only: nothing but GET (and HEAD).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let status = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{base}/feeds/all.atom"))
            .send()
            .await
            .expect("POST")
            .status()
            .as_u16()
    });
    assert_eq!(status, 405);
}

#[test]
fn off_loopback_a_token_is_required() {
    // Without a token the config is refused, naming the line.
    let room = Newsroom::start(2, "[web]\nlisten = \"0.0.0.0:0\"\n");
    let out = common::feedfold(&room.config(), &["run"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let line = std::fs::read_to_string(room.config())
        .expect("config")
        .lines()
        .position(|l| l.starts_with("listen"))
        .expect("listen line")
        + 1;
    assert!(
        err.contains(&format!("feedfold.toml:{line}: web.listen:")) && err.contains("token"),
        "{err}"
    );
    room.write_config("[web]\nlisten = \"127.0.0.1:0\"\nport = 8080\n");
    let err =
        String::from_utf8_lossy(&common::feedfold(&room.config(), &["run"]).stderr).to_string();
    assert!(err.contains("web.port"), "{err}");

    room.write_config("[web]\nlisten = \"0.0.0.0:0\"\ntoken = \"correct-horse-battery\"\n");
    room.poll();
    let daemon = run(&room.config());
    let (base, line) = web(&daemon);
    assert!(line.contains("readers must authenticate"), "{line}");
    for path in ["/", "/feeds/all.atom", "/story/1", "/style.css"] {
        let denied = get(&format!("{base}{path}"), &[]);
        assert_eq!(denied.status, 401, "{path}");
        assert!(denied.header("www-authenticate").starts_with("Basic"));
    }
    let wrong = get(
        &format!("{base}/feeds/all.atom"),
        &[("authorization", "Bearer correct-horse-battery-staple")],
    );
    assert_eq!(wrong.status, 401);
    let bearer = get(
        &format!("{base}/feeds/all.atom"),
        &[("authorization", "Bearer correct-horse-battery")],
    );
    assert_eq!(bearer.status, 200);
    // reader:correct-horse-battery
    let basic = get(
        &format!("{base}/"),
        &[(
            "authorization",
            "Basic cmVhZGVyOmNvcnJlY3QtaG9yc2UtYmF0dGVyeQ==",
        )],
    );
    assert_eq!(basic.status, 200);
}

#[test]
fn a_changed_web_table_applies_at_the_next_start() {
    let room = Newsroom::start(2, "[web]\nlisten = \"127.0.0.1:0\"\n");
    room.poll();
    let daemon = run(&room.config());
    let (base, _) = web(&daemon);
    room.write_config("[web]\nlisten = \"127.0.0.1:0\"\ntoken = \"now-with-a-token\"\n");
    daemon.signal("HUP");
    let line = daemon.wait_for_line("apply at the next start", Duration::from_secs(30));
    assert!(line.contains("[web]"), "{line}");
    // The running server keeps the settings it started with.
    assert_eq!(get(&format!("{base}/"), &[]).status, 200);
}

/// An item built to attack the page: a script that would retitle it, an
/// image whose error handler would, a `javascript:` link and styles that
/// hide everything.
const HOSTILE: &str = "<p>ROTTERDAM (Reuters) - Harbour workers <b>ended</b> their strike on Tuesday \
    after the port authority agreed to raise night shift pay by eight percent, union leaders said.</p>\
    <script>document.title='pwned'</script>\
    <img src=\"http://nowhere.invalid/x.png\" onerror=\"document.title='pwned'\">\
    <a href=\"javascript:document.title='pwned'\">details</a>\
    <style>body{display:none !important}</style>\
    <p style=\"display:none\">Dockers return to work at dawn, and the first container ships \
    waiting at anchor are expected to berth by Wednesday evening, the authority said.</p>\
    <p>The strike had halted cargo handling for nine days and cost shippers millions.</p>";

/// An outlet's copy of it: another dateline, the last paragraph dropped,
/// a line of its own added.
const COPY: &str = "<p>AMSTERDAM (Reuters) - Harbour workers ended their strike on Tuesday \
    after the port authority agreed to raise night shift pay by eight percent, union leaders said.</p>\
    <p>Dockers return to work at dawn, and the first container ships \
    waiting at anchor are expected to berth by Wednesday evening, the authority said.</p>\
    <p>Follow Harbour Daily for more port news.</p>";

/// Runs headless Chromium on `url` with `extra` arguments; returns stdout.
fn chromium(browser: &Path, profile: &Path, extra: &[&str], url: &str) -> String {
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if child.try_wait().expect("wait chromium").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.join().expect("chromium output")
}

#[test]
fn a_hostile_item_renders_inert_in_a_real_browser() {
    let Some(browser) = tool("chromium", "FEEDFOLD_CHROMIUM", &on_path("chromium")) else {
        return;
    };
    let server = Server::start();
    server.route(
        "/copy.rss",
        Route::ok(
            "application/rss+xml",
            rss(
                "Harbour Daily",
                &[Item::new("c-1")
                    .title("Harbour strike ends")
                    .link("https://harbour.example/strike")
                    .published("Tue, 25 Feb 2025 10:40:00 GMT")
                    .html(COPY)],
            ),
        ),
    );
    server.route(
        "/hostile.rss",
        Route::ok(
            "application/rss+xml",
            rss(
                "Port News",
                &[Item::new("h-1")
                    .title("Harbour strike ends")
                    .link("https://port.example/strike")
                    .published("Tue, 25 Feb 2025 10:00:00 GMT")
                    .html(HOSTILE)],
            ),
        ),
    );
    let room_dir = tempfile::tempdir().expect("tempdir");
    let config = room_dir.path().join("feedfold.toml");
    std::fs::write(
        &config,
        format!(
            "database = \"feedfold.db\"\n[[feed]]\nurl = \"{}\"\ntitle = \"Port News\"\n\
             [[feed]]\nurl = \"{}\"\ntitle = \"Harbour Daily\"\n[web]\nlisten = \"127.0.0.1:0\"\n",
            server.url("/hostile.rss"),
            server.url("/copy.rss")
        ),
    )
    .expect("config");
    let out = common::feedfold(&config, &["poll", "--all"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let daemon = run(&config);
    let (base, _) = web(&daemon);
    let profile = tempfile::tempdir().expect("profile");
    for (path, name) in [("/story/1", "story"), ("/", "river")] {
        // Virtual time lets a script that would run have run.
        let dom = chromium(
            &browser,
            profile.path(),
            &["--virtual-time-budget=3000", "--dump-dom"],
            &format!("{base}{path}"),
        );
        assert!(dom.contains("Harbour strike ends"), "{path}: {dom}");
        assert!(!dom.contains("pwned"), "{path}: a script ran: {dom}");
        assert!(!dom.contains("<script"), "{path}: {dom}");
        assert!(!dom.contains("onerror"), "{path}: {dom}");
        assert!(!dom.contains("javascript:"), "{path}: {dom}");
        assert!(!dom.contains("display:none"), "{path}: {dom}");
        let title = dom
            .split("<title>")
            .nth(1)
            .and_then(|t| t.split("</title>").next())
            .expect("title");
        assert!(title.ends_with("· feedfold"), "{path}: title {title:?}");
        if path != "/" {
            assert!(
                dom.contains("Harbour workers <b>ended</b> their strike"),
                "{dom}"
            );
            assert!(dom.contains("Dockers return to work at dawn"), "{dom}");
            // The copy folded into the story, its changes shown.
            assert!(dom.contains("Harbour Daily"), "{dom}");
            assert!(dom.contains("<del>"), "{dom}");
            assert!(dom.contains("<ins>"), "{dom}");
        }
        screenshots(
            &browser,
            &format!("{base}{path}"),
            &format!("hostile-{name}"),
        );
    }
}

/// Screenshots of `url` as a phone and a desktop show it, for people to
/// look at: `target/web-screenshots/NAME-phone.png` and `…-desktop.png`
/// (CI keeps the folder).
fn screenshots(browser: &Path, url: &str, name: &str) {
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/web-screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot folder");
    let profile = tempfile::tempdir().expect("profile");
    for (device, size) in [("phone", "412,1400"), ("desktop", "1280,1000")] {
        let shot = shots.join(format!("{name}-{device}.png"));
        let _ = std::fs::remove_file(&shot);
        chromium(
            browser,
            profile.path(),
            &[
                "--virtual-time-budget=3000",
                &format!("--window-size={size}"),
                &format!("--screenshot={}", shot.display()),
            ],
            url,
        );
        let png = std::fs::read(&shot).expect("screenshot written");
        assert!(png.starts_with(b"\x89PNG"), "{name} is a PNG");
        assert!(png.len() > 5_000, "{name} is more than a blank page");
    }
}
