//! Disk full and read-only databases, on a real size-limited filesystem: a
//! tmpfs the test mounts (root only; skipped with a message elsewhere).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{rss, Item, Route, Server};

/// A tmpfs mounted for one test, unmounted on drop.
struct Tmpfs {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. "1m"), or explains why it cannot.
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed (needs root and mount rights): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs { _dir: dir, path })
    }

    fn remount(&self, options: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.path)
            .output()
            .expect("mount");
        assert!(
            out.status.success(),
            "remount {options}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

fn config(dir: &Path, db: &Path, feeds: &[String]) -> PathBuf {
    let mut text = format!(
        "database = \"{}\"\n[poll]\nschedule = \"*/1 * * * * *\"\ninterval = \"1s\"\nmin_interval = \"1s\"\nmax_backoff = \"1s\"\nconcurrency = 4\n",
        db.display()
    );
    for f in feeds {
        text.push_str(&format!("[[feed]]\nurl = \"{f}\"\ninterval = \"1s\"\n"));
    }
    let path = dir.join("feedfold.toml");
    std::fs::write(&path, text).expect("config");
    path
}

fn count(db: &Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("open");
    conn.query_row(sql, [], |r| r.get(0)).expect(sql)
}

fn wait_for(what: &str, log: &Path, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < timeout,
            "timed out waiting for {what}; daemon log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `n` items of about `size` bytes of distinct text each.
fn big_feed(n: usize, size: usize) -> String {
    let items: Vec<Item> = (0..n)
        .map(|i| {
            let words: String = (0..size / 8).map(|w| format!("w{i}x{w} ")).collect();
            Item::new(&format!("big-{i}"))
                .title(&format!("Big item {i}"))
                .link(&format!("https://big.example/{i}"))
                .html(&format!("<p>{words}</p>"))
        })
        .collect();
    rss("Big", &items)
}

#[test]
fn a_full_disk_is_reported_keeps_what_was_committed_and_polling_resumes() {
    let fs = match Tmpfs::mount("1m") {
        Ok(fs) => fs,
        Err(why) => {
            common::skip(&why);
            return;
        }
    };
    let server = Server::start();
    server.route(
        "/small.rss",
        Route::ok(
            "application/rss+xml",
            rss(
                "Small",
                &[Item::new("s-1")
                    .title("Small one")
                    .link("https://s.example/1")
                    .html("<p>one</p>")],
            ),
        ),
    );
    server.route(
        "/big.rss",
        Route::ok("application/rss+xml", rss("Big", &[])),
    );
    let work = tempfile::tempdir().expect("tempdir");
    let db = fs.path.join("ff.db");
    let cfg = config(
        work.path(),
        &db,
        &[server.url("/small.rss"), server.url("/big.rss")],
    );
    let log = work.path().join("daemon.log");
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_feedfold"))
        .arg("-c")
        .arg(&cfg)
        .arg("run")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start daemon");
    wait_for(
        "the small feed to be stored",
        &log,
        Duration::from_secs(30),
        || db.exists() && count(&db, "SELECT COUNT(*) FROM entry") == 1,
    );

    // Two megabytes of new items for a one-megabyte disk.
    server.route(
        "/big.rss",
        Route::ok("application/rss+xml", big_feed(50, 40_000)),
    );
    wait_for(
        "a disk-full error in the log",
        &log,
        Duration::from_secs(30),
        || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("disk is full")
        },
    );
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(
        text.contains(&db.display().to_string()),
        "the error names the file: {text}"
    );

    // Space returns: the daemon catches up on its own, the first item kept.
    fs.remount("size=64m");
    wait_for(
        "the big feed to be stored",
        &log,
        Duration::from_secs(60),
        || count(&db, "SELECT COUNT(*) FROM entry") == 51,
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM entry WHERE identity = 'guid:s-1'"
        ),
        1
    );
    let status = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = daemon.wait().expect("wait");
    assert_eq!(exit.code(), Some(0));
    let conn = rusqlite::Connection::open(&db).expect("open");
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity");
    assert_eq!(check, "ok");
}

#[test]
fn a_read_only_database_is_refused_at_start_up_with_a_clear_message() {
    let fs = match Tmpfs::mount("8m") {
        Ok(fs) => fs,
        Err(why) => {
            common::skip(&why);
            return;
        }
    };
    let server = Server::start();
    server.route(
        "/a.rss",
        Route::ok(
            "application/rss+xml",
            rss(
                "A",
                &[Item::new("a-1")
                    .title("One")
                    .link("https://a.example/1")
                    .html("<p>x</p>")],
            ),
        ),
    );
    let work = tempfile::tempdir().expect("tempdir");
    let db = fs.path.join("ff.db");
    let cfg = config(work.path(), &db, &[server.url("/a.rss")]);
    let out = common::feedfold(&cfg, &["poll"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs.remount("ro");
    for args in [&["poll"][..], &["run"][..]] {
        let start = Instant::now();
        let out = common::feedfold(&cfg, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("read-only") && err.contains(&db.display().to_string()),
            "{err}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "refused at start-up"
        );
    }
    fs.remount("rw");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM entry"), 1, "nothing lost");
}
