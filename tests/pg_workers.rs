//! feedfold on PostgreSQL, end to end with the real binary: `poll` folds a
//! newsroom into the same stories as on SQLite, and several `feedfold run`
//! processes sharing one database poll each feed once per interval, keep
//! `per_host` across all of them, and fold copies they fetched apart into
//! one story.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::newsroom::Newsroom;
use common::pg::require_pg;
use tokio_postgres::NoTls;

/// The groupings of a database: each story as the set of its copies' URLs.
type Groups = BTreeSet<BTreeSet<String>>;

fn sqlite_groups(conn: &rusqlite::Connection) -> Groups {
    let mut stmt = conn
        .prepare("SELECT story_id, entry_url FROM story_sources ORDER BY story_id")
        .expect("prepare");
    let rows: Vec<(i64, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    group(rows)
}

fn group(rows: Vec<(i64, String)>) -> Groups {
    let mut by: HashMap<i64, BTreeSet<String>> = HashMap::new();
    for (story, url) in rows {
        by.entry(story).or_default().insert(url);
    }
    by.into_values().collect()
}

/// Runs `f` against the database at `url` on a runtime of its own.
fn pg<T>(url: &str, f: impl AsyncFnOnce(&tokio_postgres::Client) -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(url, NoTls).await.expect("connect");
        tokio::spawn(conn);
        f(&client).await
    })
}

fn pg_groups(url: &str) -> Groups {
    let rows = pg(url, async |c| {
        c.query(
            "SELECT story_id, entry_url FROM story_sources ORDER BY story_id",
            &[],
        )
        .await
        .expect("story_sources")
        .iter()
        .map(|r| (r.get::<_, i64>(0), r.get::<_, String>(1)))
        .collect::<Vec<_>>()
    });
    group(rows)
}

fn pg_count(url: &str, sql: &str) -> i64 {
    pg(url, async |c| {
        c.query_one(sql, &[]).await.expect(sql).get(0)
    })
}

fn feedfold_env(room: &Newsroom, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_feedfold"));
    cmd.arg("-c").arg(room.config()).args(args);
    cmd.env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("feedfold runs")
}

#[test]
fn poll_on_postgres_folds_the_newsroom_as_sqlite_does() {
    let Some(server) = require_pg() else { return };
    let url = server.fresh_db();
    let room = Newsroom::start(12, "");
    room.poll();
    let sqlite = sqlite_groups(&room.conn());
    assert!(
        sqlite.iter().any(|g| g.len() > 2),
        "the newsroom has syndicated stories"
    );

    let out = feedfold_env(&room, &[("FEEDFOLD_DATABASE", &url)], &["poll"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("postgres@") || !stderr.contains(":postgres@"),
        "{stderr}"
    );
    // Two feeds of the newsroom are broken; the rest are polled.
    let fetched = pg_count(&url, "SELECT count(*) FROM fetch_log");
    let feeds = pg_count(&url, "SELECT count(*) FROM feed");
    assert_eq!(fetched, feeds, "every feed fetched once: {stderr}");
    assert_eq!(
        pg_count(&url, "SELECT count(*) FROM fold_queue"),
        0,
        "{stderr}"
    );
    assert_eq!(
        pg_count(&url, "SELECT count(*) FROM entry WHERE search IS NULL"),
        0,
        "every entry searchable after a one-shot poll"
    );
    // The vector written with the entry is the one search queries.
    assert_eq!(
        pg_count(
            &url,
            &format!(
                "SELECT count(*) FROM entry WHERE search <> ({})",
                feedfold::store::pg::SEARCH_VECTOR_SQL
            )
        ),
        0
    );
    let postgres = pg_groups(&url);
    assert_eq!(postgres, sqlite, "same stories on both stores");
    // Every story has exactly one canonical copy, named by story.
    assert_eq!(
        pg_count(
            &url,
            "SELECT count(*) FROM story s WHERE (SELECT count(*) FROM story_entry se
               WHERE se.story_id = s.id AND se.relation = 'canonical'
                 AND se.entry_id = s.canonical_entry_id) <> 1"
        ),
        0
    );

    // A second poll finds nothing due and stores nothing twice.
    let again = feedfold_env(&room, &[("FEEDFOLD_DATABASE", &url)], &["poll"]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(pg_count(&url, "SELECT count(*) FROM fetch_log"), fetched);

    // The read commands print the same on both stores.
    let pg_env = [("FEEDFOLD_DATABASE", url.as_str())];
    let lines = |env: &[(&str, &str)], args: &[&str]| -> Vec<serde_json::Value> {
        let out = feedfold_env(&room, env, args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect()
    };
    let pick = |rows: Vec<serde_json::Value>, keys: &[&str]| -> BTreeSet<String> {
        rows.iter()
            .map(|r| {
                keys.iter()
                    .map(|k| r[*k].to_string())
                    .collect::<Vec<_>>()
                    .join(" | ")
            })
            .collect()
    };
    let story_keys = [
        "title",
        "url",
        "source_count",
        "origin_agency",
        "published_at",
    ];
    assert_eq!(
        pick(lines(&pg_env, &["stories", "--json"]), &story_keys),
        pick(lines(&[], &["stories", "--json"]), &story_keys)
    );
    let hit_keys = ["title", "source_count"];
    for words in ["talks", "\"officials told reporters\"", "negotiation*"] {
        let on_pg = pick(lines(&pg_env, &["search", "--json", words]), &hit_keys);
        assert!(!on_pg.is_empty(), "{words} finds something");
        assert_eq!(
            on_pg,
            pick(lines(&[], &["search", "--json", words]), &hit_keys),
            "{words}"
        );
    }
    let feed_keys = ["url", "title", "status", "entries", "error_count"];
    assert_eq!(
        pick(lines(&pg_env, &["feeds", "--json"]), &feed_keys),
        pick(lines(&[], &["feeds", "--json"]), &feed_keys)
    );
    let status = |env: &[(&str, &str)]| lines(env, &["status", "--json"]).remove(0);
    let (on_pg, on_sqlite) = (status(&pg_env), status(&[]));
    assert_eq!(on_pg["feeds"], on_sqlite["feeds"]);
    assert_eq!(on_pg["entries_24h"], on_sqlite["entries_24h"]);
    assert!(
        on_pg["database"]
            .as_str()
            .is_some_and(|d| d.starts_with("postgres://")),
        "{on_pg}"
    );
    let busiest = lines(&pg_env, &["stories", "--json"])
        .into_iter()
        .max_by_key(|r| r["source_count"].as_i64())
        .expect("a story");
    let id = busiest["story_id"].to_string();
    let on_pg = lines(&pg_env, &["story", "--json", &id]).remove(0);
    assert_eq!(on_pg["title"], busiest["title"]);
    assert_eq!(
        on_pg["sources"].as_array().map(Vec::len),
        busiest["source_count"].as_u64().map(|n| n as usize)
    );
    let pruned = lines(&pg_env, &["prune", "--json"]).remove(0);
    assert_eq!(pruned["entries"], 0, "nothing is old enough: {pruned}");

    // A refold re-analyses and re-folds every entry into the same stories,
    // under the same ids (docs/SCHEMA.md, "Story ids and refold").
    let ids = || {
        pg(&url, async |c| {
            c.query("SELECT entry_url, story_id FROM story_sources", &[])
                .await
                .expect("story ids")
                .iter()
                .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
                .collect::<std::collections::BTreeMap<_, _>>()
        })
    };
    let ids_before = ids();
    pg(&url, async |c| {
        c.execute(
            "UPDATE entry SET norm_text = 'stale', signature = NULL",
            &[],
        )
        .await
        .expect("spoil the analyses")
    });
    let refold = feedfold_env(&room, &[("FEEDFOLD_DATABASE", &url)], &["refold"]);
    let stdout = String::from_utf8_lossy(&refold.stdout);
    assert!(
        refold.status.success(),
        "{}",
        String::from_utf8_lossy(&refold.stderr)
    );
    assert!(stdout.starts_with("refolded "), "{stdout}");
    assert_eq!(pg_groups(&url), sqlite, "same stories after a refold");
    assert_eq!(ids(), ids_before, "the same story ids after a refold");
    assert!(stdout.contains("0 of them new groupings"), "{stdout}");
    // Ids handed back are never handed out again.
    assert_eq!(
        pg_count(
            &url,
            "SELECT count(*) FROM story WHERE id > (SELECT last_value FROM story_id_seq)"
        ),
        0
    );
    assert_eq!(pg_count(&url, "SELECT count(*) FROM refold_origin"), 0);
    assert_eq!(pg_count(&url, "SELECT count(*) FROM fold_queue"), 0);
    assert_eq!(
        pg_count(&url, "SELECT count(*) FROM entry WHERE signature IS NULL"),
        0
    );
}

/// One request as the loopback servers saw it.
struct Request {
    /// The host name of the URL (the server's address).
    host: String,
    path: String,
    /// The connection: the client's address, then the server's.
    conn: (SocketAddr, SocketAddr),
    at: Instant,
}

/// A request log shared by the loopback servers of the multi-worker tests.
#[derive(Default)]
struct Log {
    requests: Vec<Request>,
    in_flight: HashMap<String, usize>,
    max_in_flight: HashMap<String, usize>,
}

/// One request being answered: counted in flight for its host until it is
/// dropped, which also happens when its client vanishes mid-answer.
struct Flight {
    log: Arc<Mutex<Log>>,
    host: String,
}

impl Flight {
    fn enter(log: &Arc<Mutex<Log>>, request: Request) -> Flight {
        let mut l = log.lock().expect("lock");
        let host = request.host.clone();
        let n = l.in_flight.entry(host.clone()).or_default();
        *n += 1;
        let n = *n;
        let m = l.max_in_flight.entry(host.clone()).or_default();
        *m = (*m).max(n);
        l.requests.push(request);
        Flight {
            log: log.clone(),
            host,
        }
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        let mut l = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = l.in_flight.get_mut(&self.host) {
            *n -= 1;
        }
    }
}

/// The document of feed `path` on host number `h` (named `host`).
type Documents = Arc<dyn Fn(usize, &str, &str) -> String + Send + Sync>;

/// The address of host number `h`: 127.0.0.2, 127.0.0.3, … (all loopback,
/// and different hosts to the scheduler, which keys on the URL's host name).
fn host_ip(h: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, (h / 250) as u8, (h % 250 + 2) as u8)
}

/// Serves `hosts` loopback addresses, one listener each, on one runtime:
/// every answer comes after `delay`, carries an ETag, and is a 304 when the
/// client sends that ETag back.
fn serve_hosts(
    hosts: usize,
    delay: Duration,
    log: Arc<Mutex<Log>>,
    documents: Documents,
) -> Vec<SocketAddr> {
    use axum::extract::ConnectInfo;
    use axum::http::{HeaderMap, StatusCode, Uri};
    use axum::response::IntoResponse;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let mut addrs = Vec::new();
            for h in 0..hosts {
                let ip = host_ip(h);
                let listener = tokio::net::TcpListener::bind((ip, 0)).await.expect("bind");
                let local = listener.local_addr().expect("addr");
                addrs.push(local);
                let (log, documents) = (log.clone(), documents.clone());
                let app = axum::Router::new().fallback(
                    move |ConnectInfo(peer): ConnectInfo<SocketAddr>,
                          headers: HeaderMap,
                          uri: Uri| {
                        let (log, documents) = (log.clone(), documents.clone());
                        async move {
                            let host = ip.to_string();
                            let _flight = Flight::enter(
                                &log,
                                Request {
                                    host: host.clone(),
                                    path: uri.path().to_string(),
                                    conn: (peer, local),
                                    at: Instant::now(),
                                },
                            );
                            tokio::time::sleep(delay).await;
                            let feed = uri.path().trim_start_matches('/');
                            let body = documents(h, &host, feed);
                            let etag = format!("\"{:x}\"", fnv(body.as_bytes()));
                            if headers
                                .get("if-none-match")
                                .is_some_and(|v| v.as_bytes() == etag.as_bytes())
                            {
                                return (StatusCode::NOT_MODIFIED, [("etag", etag)])
                                    .into_response();
                            }
                            (
                                [
                                    ("content-type", "application/rss+xml".to_string()),
                                    ("etag", etag),
                                ],
                                body,
                            )
                                .into_response()
                        }
                    },
                );
                tokio::spawn(async move {
                    axum::serve(
                        listener,
                        app.into_make_service_with_connect_info::<SocketAddr>(),
                    )
                    .await
                    .expect("serve")
                });
            }
            tx.send(addrs).expect("send");
            std::future::pending::<()>().await
        });
    });
    rx.recv().expect("addresses")
}

/// FNV-1a: a stable hash for ETags.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One time for every document of a test process: a copy's published
/// time must not depend on when its feed was fetched, or the canonical copy
/// (the earliest published) would.
static STARTED: std::sync::LazyLock<chrono::DateTime<chrono::Utc>> =
    std::sync::LazyLock::new(chrono::Utc::now);

/// A feed of three wire stories, each republished with the outlet's own link.
fn rss(host: &str, feed: &str) -> String {
    let mut items = String::new();
    for i in 0..3 {
        let (title, paragraphs) = common::newsroom::wire_story(i);
        let body = paragraphs
            .iter()
            .map(|p| format!("<p>{}</p>", common::xml_escape(p)))
            .collect::<String>();
        items.push_str(&format!(
            "<item><title>{}</title><link>http://{host}/{feed}/{i}</link><guid>http://{host}/{feed}/{i}</guid>\
             <pubDate>{}</pubDate><description>{}</description></item>",
            common::xml_escape(&title),
            (*STARTED - chrono::Duration::minutes(10 + i as i64)).to_rfc2822(),
            common::xml_escape(&body)
        ));
    }
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>{host} {feed}</title>\
         <link>http://{host}/</link>{items}</channel></rss>"
    )
}

/// A loopback fleet: `hosts` servers of `feeds_per_host` feeds each, and
/// a config naming them all on the test database.
struct Fleet {
    url: String,
    log: Arc<Mutex<Log>>,
    dir: tempfile::TempDir,
    feeds: usize,
}

impl Fleet {
    /// A fleet whose every feed carries the same three wire stories.
    fn start(
        url: String,
        hosts: usize,
        feeds_per_host: usize,
        delay: Duration,
        extra: &str,
    ) -> Fleet {
        let documents: Documents = Arc::new(|_, host, feed| rss(host, feed));
        Fleet::serve(url, hosts, feeds_per_host, delay, extra, documents)
    }

    fn serve(
        url: String,
        hosts: usize,
        feeds_per_host: usize,
        delay: Duration,
        extra: &str,
        documents: Documents,
    ) -> Fleet {
        let log = Arc::new(Mutex::new(Log::default()));
        let addrs = serve_hosts(hosts, delay, log.clone(), documents);
        let dir = tempfile::tempdir().expect("tempdir");
        let mut text =
            format!("database = \"{url}\"\n[fetch]\nallow_private_networks = true\n{extra}\n");
        for addr in &addrs {
            for f in 0..feeds_per_host {
                text.push_str(&format!("[[feed]]\nurl = \"http://{addr}/feed{f}.xml\"\n"));
            }
        }
        std::fs::write(dir.path().join("feedfold.toml"), text).expect("config");
        Fleet {
            url,
            log,
            dir,
            feeds: hosts * feeds_per_host,
        }
    }

    fn config(&self) -> std::path::PathBuf {
        self.dir.path().join("feedfold.toml")
    }

    fn count(&self, sql: &str) -> i64 {
        pg_count(&self.url, sql)
    }

    /// Waits (at most `within`) for `sql` to count at least `n`.
    fn wait_count(&self, sql: &str, n: i64, within: Duration, why: impl Fn() -> String) {
        let deadline = Instant::now() + within;
        while self.count(sql) < n {
            assert!(Instant::now() < deadline, "{sql} < {n}: {}", why());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn start_workers(&self, n: usize) -> Vec<Daemon> {
        let workers: Vec<Daemon> = (0..n)
            .map(|_| Daemon::start(&self.config(), &["run"], &[("RUST_LOG", "info")]))
            .collect();
        // Whichever worker starts first migrates the database.
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.count("SELECT count(*) FROM pg_tables WHERE tablename = 'fold_queue'") == 0 {
            assert!(
                Instant::now() < deadline,
                "never migrated: {}",
                workers[0].log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        workers
    }

    /// Requests per feed seen by the servers.
    fn fetches_per_feed(&self) -> HashMap<(String, String), usize> {
        let mut per_feed = HashMap::new();
        for r in &self.log.lock().expect("lock").requests {
            *per_feed
                .entry((r.host.clone(), r.path.clone()))
                .or_default() += 1;
        }
        per_feed
    }

    fn assert_no_feed_fetched_twice(&self) {
        let per_feed = self.fetches_per_feed();
        let twice: Vec<_> = per_feed.iter().filter(|(_, &n)| n > 1).collect();
        assert!(
            twice.is_empty(),
            "fetched twice within the interval: {twice:?}"
        );
    }

    /// One SQLite `feedfold poll` of the same feeds (with `config`, the
    /// database overridden) folds them into the same stories, with the same
    /// canonical copies, as the workers did on PostgreSQL.
    fn assert_folds_as_sqlite(&self, config: &std::path::Path) {
        let sqlite_db = self.dir.path().join("alone.db");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_feedfold"))
            .arg("-c")
            .arg(config)
            .args(["poll"])
            .env("FEEDFOLD_DATABASE", &sqlite_db)
            .env_remove("RUST_LOG")
            .output()
            .expect("feedfold poll");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let conn = rusqlite::Connection::open(&sqlite_db).expect("sqlite");
        assert_eq!(
            pg_groups(&self.url),
            sqlite_groups(&conn),
            "same stories as one SQLite process"
        );
        assert_eq!(
            canonical_urls_pg(&self.url),
            canonical_urls_sqlite(&conn),
            "same canonical copies"
        );
    }

    /// Every entry is in exactly one story, every story has one canonical
    /// copy, and no entry waits for the folder.
    fn assert_folded_once(&self) {
        assert_eq!(self.count("SELECT count(*) FROM fold_queue"), 0);
        assert_eq!(
            self.count("SELECT count(*) FROM entry"),
            self.count("SELECT count(*) FROM story_entry")
        );
        assert_eq!(
            self.count(
                "SELECT count(*) FROM story s WHERE (SELECT count(*) FROM story_entry se
                   WHERE se.story_id = s.id AND se.relation = 'canonical'
                     AND se.entry_id = s.canonical_entry_id) <> 1"
            ),
            0
        );
    }
}

/// The pid of the process holding `role`.
fn role_pid(fleet: &Fleet, role: &str) -> Option<u32> {
    let pid = fleet.count(&format!(
        "SELECT COALESCE((SELECT w.pid FROM role_lease r JOIN worker w ON w.id = r.owner
                          WHERE r.role = '{role}' AND r.expires_at > clock_timestamp()), 0)::bigint"
    ));
    u32::try_from(pid).ok().filter(|&p| p > 0)
}

#[test]
fn several_workers_share_the_feeds_hosts_and_stories() {
    let Some(server) = require_pg() else { return };
    let per_host = 2;
    let fleet = Fleet::start(
        server.fresh_db(),
        24,
        5,
        Duration::from_millis(40),
        &format!("[poll]\ninterval = \"1h\"\nconcurrency = 8\nper_host = {per_host}"),
    );
    let mut workers = fleet.start_workers(3);
    let feeds = fleet.feeds as i64;
    fleet.wait_count(
        "SELECT count(DISTINCT feed_id) FROM fetch_log",
        feeds,
        Duration::from_secs(90),
        || workers[0].log(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while fleet.count("SELECT count(*) FROM fold_queue") > 0 {
        assert!(Instant::now() < deadline, "the fold queue did not drain");
        std::thread::sleep(Duration::from_millis(200));
    }
    for w in &mut workers {
        w.stop();
    }
    // Each feed fetched exactly once in its (one-hour) interval.
    assert_eq!(fleet.fetches_per_feed().len(), fleet.feeds);
    fleet.assert_no_feed_fetched_twice();
    // per_host holds across all workers.
    let worst = {
        let l = fleet.log.lock().expect("lock");
        l.max_in_flight.values().copied().max().unwrap_or(0)
    };
    assert!(worst <= per_host, "{worst} requests at once to one host");
    // The work was shared: more than one worker fetched.
    let used = fleet.count("SELECT count(DISTINCT worker_id) FROM fetch_log");
    assert!(used >= 2, "only {used} worker fetched");
    fleet.assert_folded_once();
    // Copies of one wire story fetched by different workers are one story,
    // grouped exactly as one SQLite process groups the same feeds.
    assert_eq!(fleet.count("SELECT count(*) FROM story"), 3);
    fleet.assert_folds_as_sqlite(&fleet.config());
}

#[test]
fn a_killed_folder_and_a_paused_worker_lose_nothing_and_double_nothing() {
    let Some(server) = require_pg() else { return };
    let fleet = Fleet::start(
        server.fresh_db(),
        30,
        6,
        Duration::from_millis(250),
        "[daemon]\nlease = \"5s\"\n[poll]\ninterval = \"1h\"\nconcurrency = 6\nper_host = 1",
    );
    let mut workers = fleet.start_workers(3);
    let logs = |w: &[Daemon]| {
        w.iter()
            .map(Daemon::log)
            .collect::<Vec<_>>()
            .join("\n-----\n")
    };
    fleet.wait_count(
        "SELECT count(*) FROM fetch_log",
        20,
        Duration::from_secs(60),
        || logs(&workers),
    );
    // SIGKILL the folder (and leader) mid-pass: another process takes the
    // roles once its lease expires.
    let folder = role_pid(&fleet, "folder").expect("a folder is elected");
    let killed = workers
        .iter()
        .position(|w| w.pid() == folder)
        .expect("folder is ours");
    let killed_hosts = fleet.count(&format!(
        "SELECT count(*) FROM host_lease l JOIN worker w ON w.id = l.owner WHERE w.pid = {folder}"
    ));
    workers[killed].kill();
    // SIGSTOP another past its lease, then let it go on: its leases are
    // gone, its writes are refused, it fetches nothing twice.
    let paused = (killed + 1) % workers.len();
    workers[paused].signal("STOP");
    std::thread::sleep(Duration::from_secs(8));
    workers[paused].signal("CONT");

    // Everything is fetched once, or left in flight by the killed or paused
    // worker (polled one interval late, never twice).
    let done = "SELECT count(*) FROM feed WHERE last_fetch_at IS NOT NULL
                  OR in_flight_until > clock_timestamp()";
    fleet.wait_count(done, fleet.feeds as i64, Duration::from_secs(120), || {
        logs(&workers)
    });
    // Fetches still in flight in the live workers are written after that:
    // wait until nothing has been written for a while and the folder has
    // caught up, so the workers are not stopped with entries unfolded.
    let deadline = Instant::now() + Duration::from_secs(60);
    let written = "SELECT (SELECT count(*) FROM fetch_log) + (SELECT count(*) FROM entry)";
    let (mut last, mut quiet_since) = (fleet.count(written), Instant::now());
    while fleet.count("SELECT count(*) FROM fold_queue") > 0
        || quiet_since.elapsed() < Duration::from_secs(3)
    {
        assert!(
            Instant::now() < deadline,
            "the fold queue did not drain: {}",
            logs(&workers)
        );
        std::thread::sleep(Duration::from_millis(200));
        let now = fleet.count(written);
        if now != last {
            (last, quiet_since) = (now, Instant::now());
        }
    }
    let new_folder = role_pid(&fleet, "folder").expect("a folder again");
    assert_ne!(new_folder, folder, "the role moved");
    // The killed worker's hosts were taken over.
    assert!(killed_hosts > 0);
    assert_eq!(
        fleet.count(&format!(
            "SELECT count(*) FROM host_lease l JOIN worker w ON w.id = l.owner WHERE w.pid = {folder}"
        )),
        0
    );
    let paused_log = workers[paused].log();
    for (i, w) in workers.iter_mut().enumerate() {
        if i != killed {
            w.stop();
        }
    }
    fleet.assert_no_feed_fetched_twice();
    fleet.assert_folded_once();
    assert!(
        paused_log.contains("host lease lost"),
        "the paused worker noticed: {paused_log}"
    );
    // Entries of every fetch that committed are there, in stories.
    assert_eq!(
        fleet.count("SELECT count(*) FROM entry"),
        3 * fleet.count("SELECT count(*) FROM fetch_log WHERE outcome = 'ok'")
    );
    assert_eq!(fleet.count("SELECT count(*) FROM story"), 3);
}

#[test]
fn sighup_makes_the_leader_sync_the_edited_feed_list() {
    let Some(server) = require_pg() else { return };
    let fleet = Fleet::start(
        server.fresh_db(),
        2,
        1,
        Duration::from_millis(10),
        "[poll]\ninterval = \"1h\"",
    );
    let mut workers = fleet.start_workers(1);
    fleet.wait_count(
        "SELECT count(*) FROM fetch_log",
        2,
        Duration::from_secs(60),
        || workers[0].log(),
    );
    // A feed added to the list (on a host already listed).
    let text = std::fs::read_to_string(fleet.config()).expect("config");
    let first = text
        .lines()
        .find_map(|l| l.strip_prefix("url = \""))
        .and_then(|u| u.strip_suffix("feed0.xml\""))
        .expect("a feed URL")
        .to_string();
    std::fs::write(
        fleet.config(),
        format!("{text}[[feed]]\nurl = \"{first}added.xml\"\n"),
    )
    .expect("edit config");
    workers[0].signal("HUP");
    fleet.wait_count(
        "SELECT count(*) FROM fetch_log l JOIN feed f ON f.id = l.feed_id WHERE f.url LIKE '%/added.xml'",
        1,
        Duration::from_secs(60),
        || workers[0].log(),
    );
    assert_eq!(fleet.count("SELECT count(*) FROM feed"), 3);
    workers[0].stop();
}

/// Lets this process and the workers it starts (who inherit the limit) hold
/// a socket per connection of a fleet of hundreds of hosts: the soft limit
/// on open files is often 1024.
fn raise_open_files() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_cur.max(limit.rlim_max.min(65_536));
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Which worker each TCP connection to the fleet came from. The servers
/// see only addresses, so a thread matches the workers' open sockets
/// (`/proc/PID/fd`) with the kernel's connection table (`/proc/net/tcp`)
/// every 50 ms while they run; a pooled connection lives far longer.
struct Owners {
    seen: Arc<Mutex<HashMap<(SocketAddr, SocketAddr), usize>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Owners {
    /// Starts sampling the sockets of `pids` (worker `i` is `pids[i]`).
    fn watch(pids: Vec<u32>) -> Owners {
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (into, halt) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            while !halt.load(std::sync::atomic::Ordering::Relaxed) {
                let found = connections_of(&pids);
                into.lock().expect("lock").extend(found);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Owners { seen, stop }
    }

    /// The worker that made connection (client, server), if it was seen.
    fn of(&self, conn: &(SocketAddr, SocketAddr)) -> Option<usize> {
        self.seen.lock().expect("lock").get(conn).copied()
    }
}

impl Drop for Owners {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The IPv4 TCP connections (local, remote) whose socket one of `pids`
/// holds open, with the index of that pid.
fn connections_of(pids: &[u32]) -> Vec<((SocketAddr, SocketAddr), usize)> {
    let mut inodes: HashMap<u64, usize> = HashMap::new();
    for (i, pid) in pids.iter().enumerate() {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            if let Some(inode) = target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse().ok())
            {
                inodes.insert(inode, i);
            }
        }
    }
    // "sl local remote st tx:rx tr:when retrnsmt uid timeout inode …",
    // addresses as the hex of the in-memory (network order) IPv4 word.
    let addr = |s: &str| -> Option<SocketAddr> {
        let (ip, port) = s.split_once(':')?;
        let ip = u32::from_str_radix(ip, 16).ok()?.to_le_bytes();
        Some(SocketAddr::from((ip, u16::from_str_radix(port, 16).ok()?)))
    };
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let owner = inodes.get(&cols.get(9)?.parse().ok()?)?;
            Some(((addr(cols.get(1)?)?, addr(cols.get(2)?)?), *owner))
        })
        .collect()
}

/// splitmix64's finaliser: every bit of the output depends on every bit
/// of the input (FNV's low bits do not, and made texts alike).
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Made-up words (from a hash of `seed`): every story of the scale fleet
/// reads unlike every other, so its grouping cannot depend on the order
/// in which the folder meets the copies.
fn words(seed: u64, n: usize) -> String {
    const SYLLABLES: [&str; 16] = [
        "ka", "lo", "mi", "nu", "re", "sa", "ti", "vo", "ba", "de", "fu", "go", "ha", "je", "pi",
        "zu",
    ];
    (0..n)
        .map(|i| {
            let h = mix(seed.wrapping_mul(1_000).wrapping_add(i as u64));
            (0..2 + (h >> 60) as usize % 2)
                .map(|k| SYLLABLES[(h >> (4 * k)) as usize % 16])
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Copies of one wire story in the scale fleet.
const COPIES: usize = 5;

/// The wire story item `f` of host `h` carries, and which copy it is: host
/// `h` is in row `h % (hosts / COPIES)` and column `h / (hosts / COPIES)`,
/// and the feeds of one row and number carry one story, on hosts far apart.
fn wire_of(hosts: usize, h: usize, f: usize) -> (usize, usize) {
    let rows = hosts / COPIES;
    (f * rows + h % rows, h / rows)
}

/// The scale fleet's documents: each feed has two items, a wire story
/// carried by [`COPIES`] feeds on as many hosts (each copy published a
/// minute apart, so one copy is canonical) and a story of its own.
fn scale_documents(hosts: usize) -> Documents {
    Arc::new(move |h, host, feed| {
        let f: usize = feed
            .trim_start_matches("feed")
            .trim_end_matches(".xml")
            .parse()
            .unwrap_or(0);
        let (story, copy) = wire_of(hosts, h, f);
        let own = 1_000_000 + (h * 1_000 + f) as u64;
        let item = |id: &str, title: String, seed: u64, minutes: i64| {
            let body: String = (0..3)
                .map(|p| format!("<p>{}.</p>", words(seed * 10 + p, 22)))
                .collect();
            format!(
                "<item><title>{}</title><link>http://{host}/{feed}/{id}</link>\
                 <guid>http://{host}/{feed}/{id}</guid><pubDate>{}</pubDate>\
                 <description>{}</description></item>",
                common::xml_escape(&title),
                (*STARTED - chrono::Duration::minutes(minutes)).to_rfc2822(),
                common::xml_escape(&body)
            )
        };
        let wire = item(
            &format!("w{story}"),
            format!("Wire {story}: {}", words(story as u64, 4)),
            story as u64,
            60 - ((copy + story) % COPIES) as i64,
        );
        let mine = item("own", format!("{host} {feed}: {}", words(own, 4)), own, 30);
        format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>{host} {feed}</title>\
             <link>http://{host}/</link>{wire}{mine}</channel></rss>"
        )
    })
}

/// The id of the worker row of process `pid`.
fn worker_id(fleet: &Fleet, pid: u32) -> i64 {
    fleet.count(&format!(
        "SELECT COALESCE(max(id), 0) FROM worker WHERE pid = {pid}"
    ))
}

/// One committed fetch: feed (host, path), worker id, when it started.
type Fetch = ((String, String), i64, chrono::DateTime<chrono::Utc>);

fn fetch_log(url: &str) -> Vec<Fetch> {
    pg(url, async |c| {
        c.query(
            "SELECT f.url, l.worker_id, l.fetched_at FROM fetch_log l JOIN feed f ON f.id = l.feed_id",
            &[],
        )
        .await
        .expect("fetch_log")
        .iter()
        .map(|r| {
            let url = url::Url::parse(r.get(0)).expect("feed URL");
            let key = (
                url.host_str().unwrap_or_default().to_string(),
                url.path().to_string(),
            );
            (key, r.get(1), r.get(2))
        })
        .collect()
    })
}

/// Issue 20's multi-worker test at scale: 2,000 feeds on 250 loopback
/// hosts, four `feedfold run` processes on one database. The folder (a
/// poller too) is SIGKILLed mid-pass and another worker SIGSTOPped past its
/// lease; the servers' log must still show every feed fetched at most once
/// per interval and never more than `per_host` requests at once to a host,
/// and the database every feed's items stored once and folded into the
/// stories one SQLite process makes of the same feeds.
#[test]
fn thousands_of_feeds_on_hundreds_of_hosts_through_a_kill_and_a_pause() {
    let Some(server) = require_pg() else { return };
    raise_open_files();
    let began = Instant::now();
    let began_utc = chrono::Utc::now();
    let (hosts, feeds_per_host, per_host) = (250, 8, 2);
    let interval = Duration::from_secs(30);
    let fleet = Fleet::serve(
        server.fresh_db(),
        hosts,
        feeds_per_host,
        Duration::from_millis(100),
        &format!(
            "[daemon]\nlease = \"5s\"\n[poll]\ninterval = \"30s\"\nmin_interval = \"30s\"\n\
             max_interval = \"30s\"\nconcurrency = 8\nper_host = {per_host}"
        ),
        scale_documents(hosts),
    );
    let feeds = fleet.feeds as i64;
    let mut workers = fleet.start_workers(4);
    let owners = Owners::watch(workers.iter().map(Daemon::pid).collect());
    let logs = |w: &[Daemon]| {
        w.iter()
            .map(|d| {
                d.lines()
                    .into_iter()
                    .rev()
                    .take(40)
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .collect::<Vec<_>>()
            .join("\n-----\n")
    };
    fleet.wait_count(
        "SELECT count(*) FROM fetch_log",
        feeds / 5,
        Duration::from_secs(120),
        || logs(&workers),
    );
    let first_fifth = began.elapsed();

    // SIGKILL the folder mid-pass (a poller like the others).
    let folder =
        role_pid(&fleet, "folder").unwrap_or_else(|| panic!("no folder: {}", logs(&workers)));
    let leader = role_pid(&fleet, "leader");
    let killed = workers
        .iter()
        .position(|w| w.pid() == folder)
        .expect("the folder is ours");
    let killed_id = worker_id(&fleet, folder);
    let killed_hosts: BTreeSet<String> = pg(&fleet.url, async |c| {
        c.query(
            "SELECT host FROM host_lease WHERE owner = $1",
            &[&killed_id],
        )
        .await
        .expect("host_lease")
        .iter()
        .map(|r| r.get(0))
        .collect()
    });
    let kill_utc = chrono::Utc::now();
    workers[killed].kill();

    // SIGSTOP another past its lease (5 s), then SIGCONT: one with a
    // request that has just arrived, so with a fetch in flight (the
    // servers answer after 100 ms).
    let deadline = Instant::now() + Duration::from_secs(30);
    let paused = loop {
        let recent = {
            let l = fleet.log.lock().expect("lock");
            l.requests
                .iter()
                .rev()
                .take_while(|r| r.at.elapsed() < Duration::from_millis(30))
                .filter_map(|r| owners.of(&r.conn))
                .find(|&w| w != killed)
        };
        if let Some(w) = recent {
            break w;
        }
        assert!(Instant::now() < deadline, "no worker is fetching");
        std::thread::sleep(Duration::from_millis(5));
    };
    let paused_id = worker_id(&fleet, workers[paused].pid());
    let stop_utc = chrono::Utc::now();
    workers[paused].signal("STOP");
    let stopped_at = Instant::now();
    let claimed_at_stop = fleet.count(&format!(
        "SELECT count(*) FROM feed WHERE claimed_by = {paused_id}"
    ));
    std::thread::sleep(Duration::from_secs(8));
    let paused_rows = fleet.count(&format!(
        "SELECT count(*) FROM fetch_log WHERE worker_id = {paused_id}"
    ));
    let cont_utc = chrono::Utc::now();
    let cont_at = Instant::now();
    workers[paused].signal("CONT");

    // Nothing lost: every feed ends up fetched and stored, the killed
    // worker's claims one interval late; every entry folded.
    fleet.wait_count(
        "SELECT count(DISTINCT feed_id) FROM fetch_log WHERE outcome = 'ok'",
        feeds,
        Duration::from_secs(240),
        || logs(&workers),
    );
    let all_fetched = began.elapsed();
    let deadline = Instant::now() + Duration::from_secs(120);
    while fleet.count("SELECT count(*) FROM fold_queue") > 0 {
        assert!(
            Instant::now() < deadline,
            "the fold queue did not drain ({} left): {}",
            fleet.count("SELECT count(*) FROM fold_queue"),
            workers
                .iter()
                .flat_map(|w| w.lines())
                .filter(|l| l.contains("fold") || l.contains("role") || l.contains("failed"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let new_folder = role_pid(&fleet, "folder").expect("a folder again");
    let new_leader = role_pid(&fleet, "leader").expect("a leader again");
    let paused_log = workers[paused].log();
    for (i, w) in workers.iter_mut().enumerate() {
        if i != killed {
            assert!(w.stop().success(), "worker {i}: {}", w.log());
        }
    }
    owners
        .stop
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let wall = began.elapsed();

    // The servers' view.
    let requests: Vec<(String, String, (SocketAddr, SocketAddr), Instant)> = fleet
        .log
        .lock()
        .expect("lock")
        .requests
        .iter()
        .map(|r| (r.host.clone(), r.path.clone(), r.conn, r.at))
        .collect();
    let worst = {
        let l = fleet.log.lock().expect("lock");
        l.max_in_flight.values().copied().max().unwrap_or(0)
    };
    assert!(worst <= per_host, "{worst} requests at once to one host");
    let mut arrivals: HashMap<(String, String), Vec<Instant>> = HashMap::new();
    for (host, path, _, at) in &requests {
        arrivals
            .entry((host.clone(), path.clone()))
            .or_default()
            .push(*at);
    }
    assert_eq!(arrivals.len(), fleet.feeds, "every feed was requested");
    let mut again = 0;
    let mut early = Vec::new();
    for (feed, times) in &mut arrivals {
        times.sort();
        for pair in times.windows(2) {
            again += 1;
            let gap = pair[1] - pair[0];
            // A claim waits for the feed's next due time, set after its
            // previous answer arrived: the gap exceeds the interval (less a
            // margin for the wall clock against the monotonic one).
            if gap + Duration::from_millis(500) < interval {
                early.push(feed.clone());
            }
        }
    }
    if !early.is_empty() {
        // Who asked when, for the first few.
        let mut why = String::new();
        for feed in early.iter().take(5) {
            for (h, p, conn, at) in requests
                .iter()
                .filter(|r| (&r.0, &r.1) == (&feed.0, &feed.1))
            {
                let by = owners.of(conn);
                why.push_str(&format!("{h}{p} at {:?} by worker {by:?}\n", *at - began));
            }
        }
        let unwritten: Vec<String> = workers
            .iter()
            .flat_map(|w| {
                w.log()
                    .lines()
                    .filter(|l| l.contains("nothing stored") || l.contains("unwritten"))
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        panic!(
            "{} feeds fetched twice within {interval:?} (worker {killed} killed, worker \
             {paused} paused {:?}..{:?}):\n{why}\nunwritten fetches:\n{}",
            early.len(),
            stopped_at - began,
            cont_at - began,
            unwritten.join("\n")
        );
    }
    assert!(
        again > 0,
        "no feed came due twice: the gap check checked nothing"
    );

    // Per worker: what the servers answered against what the database kept.
    let fetches = fetch_log(&fleet.url);
    let by = |w: usize| -> Vec<&(String, String, (SocketAddr, SocketAddr), Instant)> {
        requests
            .iter()
            .filter(|(_, _, conn, _)| owners.of(conn) == Some(w))
            .collect()
    };
    // The paused worker: nothing it started before the pause was written
    // after it (its leases had run out), and it fetched after SIGCONT only
    // what it then claimed afresh and wrote.
    let paused_before = by(paused)
        .iter()
        .filter(|(_, _, _, at)| *at < stopped_at)
        .count();
    let kept_before = fetches
        .iter()
        .filter(|(_, w, at)| *w == paused_id && *at < stop_utc)
        .count();
    assert_eq!(
        kept_before as i64,
        paused_rows,
        "a fetch started before the pause ({stop_utc}, cont {cont_utc}) was written after it: {:?}\n{}",
        pg(&fleet.url, async |c| {
            c.query(
                "SELECT f.url, l.fetched_at::text, l.id FROM fetch_log l JOIN feed f ON f.id = l.feed_id
                 WHERE l.worker_id = $1 AND l.fetched_at < $2 ORDER BY l.id DESC LIMIT 4",
                &[&paused_id, &stop_utc],
            )
            .await
            .expect("fetch_log")
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
            .collect::<Vec<_>>()
        }),
        paused_log
            .lines()
            .filter(|l| !l.contains("host lease lost"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // A refused write is that feed's: the pass goes on (and gives back the
    // feeds it no longer may fetch).
    assert!(
        !paused_log.contains("poll pass failed"),
        "the paused worker: {paused_log}"
    );
    // Paused mid-pass with fetches in flight: those were refused.
    let refused = paused_before.saturating_sub(kept_before);
    assert!(refused > 0, "the paused worker had no fetch in flight");
    let mut after: HashMap<(String, String), i64> = HashMap::new();
    for (host, path, _, at) in by(paused) {
        if *at > cont_at {
            *after.entry((host.clone(), path.clone())).or_default() += 1;
        }
    }
    let paused_after: i64 = after.values().sum();
    // A connection opened and dropped between two samples has no owner:
    // its feeds are left out of the accounting.
    let unknown: BTreeSet<(String, String)> = requests
        .iter()
        .filter(|(_, _, conn, _)| owners.of(conn).is_none())
        .map(|(host, path, _, _)| (host.clone(), path.clone()))
        .collect();
    for (feed, _, at) in fetches.iter().filter(|(_, w, _)| *w == paused_id) {
        if *at >= cont_utc {
            *after.entry(feed.clone()).or_default() -= 1;
        }
    }
    after.retain(|feed, _| !unknown.contains(feed));
    // Every fetch it made after SIGCONT was written, or its write failed
    // visibly (a lease run out under load refuses it): none vanished.
    let unwritten_after: i64 = after.values().sum();
    assert!(
        after.values().all(|&n| n >= 0) && unwritten_after <= write_failures(&paused_log, cont_utc),
        "the paused worker fetched after SIGCONT without writing: {:?}\n{}",
        after.iter().filter(|(_, &n)| n != 0).collect::<Vec<_>>(),
        paused_log
            .lines()
            .filter(|l| !l.contains("host lease lost") && !l.contains("not modified"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        paused_log.contains("host lease lost"),
        "the paused worker noticed: {paused_log}"
    );
    // Every other request by a worker that was neither killed nor paused
    // was written, once.
    let mut unwritten: HashMap<(usize, (String, String)), i64> = HashMap::new();
    for w in (0..workers.len()).filter(|&w| w != killed && w != paused) {
        for (host, path, _, _) in by(w) {
            *unwritten
                .entry((w, (host.clone(), path.clone())))
                .or_default() += 1;
        }
    }
    let ids: Vec<i64> = workers.iter().map(|d| worker_id(&fleet, d.pid())).collect();
    for (feed, id, _) in &fetches {
        if let Some(w) = ids
            .iter()
            .position(|i| i == id)
            .filter(|&w| w != killed && w != paused)
        {
            *unwritten.entry((w, feed.clone())).or_default() -= 1;
        }
    }
    unwritten.retain(|(_, feed), _| !unknown.contains(feed));
    for (w, worker) in workers.iter().enumerate() {
        let n: i64 = unwritten
            .iter()
            .filter(|((v, _), _)| *v == w)
            .map(|(_, n)| n)
            .sum();
        assert!(
            n <= write_failures(&worker.log(), began_utc),
            "worker {w}: {n} fetches unwritten"
        );
    }
    assert!(
        unwritten.values().all(|&n| n >= 0),
        "written and not fetched: {:?}",
        unwritten
            .iter()
            .filter(|(_, &n)| n != 0)
            .collect::<Vec<_>>()
    );

    // The killed worker's hosts and roles were taken over: each of its
    // hosts was fetched from by another worker after the kill.
    assert!(!killed_hosts.is_empty());
    assert_eq!(
        fleet.count(&format!(
            "SELECT count(*) FROM host_lease WHERE owner = {killed_id}"
        )),
        0
    );
    let resumed: BTreeSet<&String> = fetches
        .iter()
        .filter(|((host, _), w, at)| {
            *w != killed_id && *at > kill_utc && killed_hosts.contains(host)
        })
        .map(|((host, _), _, _)| host)
        .collect();
    assert_eq!(
        resumed.len(),
        killed_hosts.len(),
        "hosts of the killed worker left alone"
    );
    assert_ne!(new_folder, folder, "the folder role moved");
    if leader == Some(folder) {
        assert_ne!(new_leader, folder, "the leader role moved");
    }

    // Every feed's two items stored once and folded once: each wire story
    // into one story of its COPIES copies, each feed's own story alone.
    assert_eq!(fleet.count("SELECT count(*) FROM entry"), 2 * feeds);
    fleet.assert_folded_once();
    assert_eq!(
        fleet.count(
            "SELECT count(*) FROM (SELECT entry_id FROM story_entry GROUP BY entry_id
               HAVING count(*) > 1) twice"
        ),
        0
    );
    let postgres = pg_groups(&fleet.url);
    let wires = fleet.feeds / COPIES;
    assert_eq!(
        postgres.len(),
        wires + fleet.feeds,
        "{:?}",
        postgres
            .iter()
            .filter(|g| g.len() != 1 && g.len() != COPIES)
            .take(5)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        postgres.iter().filter(|g| g.len() == COPIES).count(),
        wires,
        "every wire story is one story"
    );

    // The same feeds polled by one SQLite process fold into the same
    // stories, with the same canonical copies.
    let text = std::fs::read_to_string(fleet.config()).expect("config");
    let alone = fleet.dir.path().join("alone.toml");
    std::fs::write(&alone, text.replace("concurrency = 8", "concurrency = 64")).expect("config");
    fleet.assert_folds_as_sqlite(&alone);
    eprintln!(
        "pg_workers at scale: {} feeds on {hosts} hosts, 4 workers: {} requests ({again} \
         repeats), {} fetches written; all fetched after {all_fetched:?} (a fifth after \
         {first_fifth:?}); the killed worker held {} hosts; the paused one \
         held {claimed_at_stop} claims, had {refused} writes refused, fetched {paused_after} \
         after SIGCONT; {} feeds with a request of unknown origin; wall {wall:?} + SQLite {:?}",
        fleet.feeds,
        requests.len(),
        fetches.len(),
        killed_hosts.len(),
        unknown.len(),
        began.elapsed() - wall
    );
}

/// Writes a worker logged as refused or failed since `since` (its log
/// lines start with their RFC 3339 time).
fn write_failures(log: &str, since: chrono::DateTime<chrono::Utc>) -> i64 {
    log.lines()
        .filter(|l| l.contains("write refused") || l.contains("write failed"))
        .filter(|l| {
            l.split_whitespace()
                .next()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .is_some_and(|t| t >= since)
        })
        .count() as i64
}

fn canonical_urls_pg(url: &str) -> BTreeSet<String> {
    pg(url, async |c| {
        c.query("SELECT url FROM stories", &[])
            .await
            .expect("stories")
            .iter()
            .map(|r| r.get(0))
            .collect()
    })
}

fn canonical_urls_sqlite(conn: &rusqlite::Connection) -> BTreeSet<String> {
    conn.prepare("SELECT url FROM stories")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("stories")
        .map(|r| r.expect("row"))
        .collect()
}

#[test]
fn a_one_shot_poll_longer_than_the_lease_still_folds_everything() {
    let Some(server) = require_pg() else { return };
    let url = server.fresh_db();
    let room = Newsroom::start(6, "[daemon]\nlease = \"5s\"\n");
    // Slow answers on one host (per_host 2): the pass outlasts the lease of
    // the roles it took before polling.
    for outlet in common::newsroom::OUTLETS {
        room.server.delay(outlet.path, Duration::from_secs(3));
    }
    let started = Instant::now();
    let out = feedfold_env(&room, &[("FEEDFOLD_DATABASE", &url)], &["poll"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        started.elapsed() > Duration::from_secs(6),
        "the pass was not slow"
    );
    assert!(pg_count(&url, "SELECT count(*) FROM entry") > 0, "{stderr}");
    assert_eq!(
        pg_count(&url, "SELECT count(*) FROM fold_queue"),
        0,
        "everything fetched is folded: {stderr}"
    );
    assert_eq!(
        pg_count(
            &url,
            "SELECT count(*) FROM entry e
             WHERE NOT EXISTS (SELECT 1 FROM story_entry se WHERE se.entry_id = e.id)"
        ),
        0,
        "{stderr}"
    );
    assert!(!stderr.contains("folding failed"), "{stderr}");
}
