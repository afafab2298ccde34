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

    // A refold re-analyses and re-folds every entry into the same stories.
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
    assert_eq!(pg_count(&url, "SELECT count(*) FROM fold_queue"), 0);
    assert_eq!(
        pg_count(&url, "SELECT count(*) FROM entry WHERE signature IS NULL"),
        0
    );
}

/// A request log shared by the loopback servers of the multi-worker test.
#[derive(Default)]
struct Log {
    /// (host, path, when it arrived).
    requests: Vec<(String, String, Instant)>,
    in_flight: HashMap<String, usize>,
    max_in_flight: HashMap<String, usize>,
}

/// Serves `feeds_per_host` RSS feeds on each of `hosts` loopback addresses
/// (127.0.0.2, 127.0.0.3, …: different hosts to the scheduler), each answer
/// after `delay`. Item `i` of every feed of every host carries wire story
/// `i`, so copies of one story are fetched by several workers.
fn serve_hosts(
    hosts: usize,
    feeds_per_host: usize,
    delay: Duration,
    log: Arc<Mutex<Log>>,
) -> Vec<SocketAddr> {
    (0..hosts)
        .map(|h| {
            let ip = Ipv4Addr::new(127, 0, (h / 250) as u8, (h % 250 + 2) as u8);
            let log = log.clone();
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::bind((ip, 0)).await.expect("bind");
                    tx.send(listener.local_addr().expect("addr")).expect("send");
                    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
                        let log = log.clone();
                        async move {
                            let host = ip.to_string();
                            {
                                let mut l = log.lock().expect("lock");
                                l.requests.push((
                                    host.clone(),
                                    uri.path().to_string(),
                                    Instant::now(),
                                ));
                                let n = l.in_flight.entry(host.clone()).or_default();
                                *n += 1;
                                let n = *n;
                                let m = l.max_in_flight.entry(host.clone()).or_default();
                                *m = (*m).max(n);
                            }
                            tokio::time::sleep(delay).await;
                            *log.lock()
                                .expect("lock")
                                .in_flight
                                .entry(host.clone())
                                .or_default() -= 1;
                            let feed = uri.path().trim_start_matches('/').to_string();
                            ([("content-type", "application/rss+xml")], rss(&host, &feed))
                        }
                    });
                    axum::serve(listener, app).await.expect("serve");
                });
            });
            let addr = rx.recv().expect("address");
            let _ = feeds_per_host;
            addr
        })
        .collect()
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
    fn start(
        url: String,
        hosts: usize,
        feeds_per_host: usize,
        delay: Duration,
        extra: &str,
    ) -> Fleet {
        let log = Arc::new(Mutex::new(Log::default()));
        let addrs = serve_hosts(hosts, feeds_per_host, delay, log.clone());
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
        for (host, path, _) in &self.log.lock().expect("lock").requests {
            *per_feed.entry((host.clone(), path.clone())).or_default() += 1;
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
    let postgres = pg_groups(&fleet.url);
    let sqlite_db = fleet.dir.path().join("alone.db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_feedfold"))
        .arg("-c")
        .arg(fleet.config())
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
        postgres,
        sqlite_groups(&conn),
        "same stories as one SQLite process"
    );
    let canonical_pg: BTreeSet<String> = pg(&fleet.url, async |c| {
        c.query("SELECT url FROM stories", &[])
            .await
            .expect("stories")
            .iter()
            .map(|r| r.get(0))
            .collect()
    });
    let canonical_sqlite: BTreeSet<String> = conn
        .prepare("SELECT url FROM stories")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("stories")
        .map(|r| r.expect("row"))
        .collect();
    assert_eq!(canonical_pg, canonical_sqlite, "same canonical copies");
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
    let deadline = Instant::now() + Duration::from_secs(60);
    while fleet.count("SELECT count(*) FROM fold_queue") > 0 {
        assert!(
            Instant::now() < deadline,
            "the fold queue did not drain: {}",
            logs(&workers)
        );
        std::thread::sleep(Duration::from_millis(200));
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
