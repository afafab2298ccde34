//! The storage floor: how long SQLite alone takes to store what a cold pass
//! stores, with none of feedfold's own work (no fetching, parsing, analysis,
//! matching or story bookkeeping). Used by `bench/floor.sh`.
//!
//! It reads every entry row and every full-text row of a database that a
//! cold `feedfold poll --all` filled (SOURCE), holds them in memory, then
//! writes them into fresh databases in three ways, one at a time:
//! - `fts`: only the full-text rows, into an FTS5 table declared like
//!   `entry_search` (same tokenizer, automerge off; contentless, as the
//!   external-content `entry_search` of schema 13 stores no text either);
//! - `rows`: only the entry rows, into a table declared like `entry`, with
//!   its indexes (the DDL is copied from SOURCE);
//! - `both`: both, as the store writes them since schema 13: the rows in
//!   their transactions, the full-text rows in transactions of their own,
//!   INDEX_STEP at a time (the writer's index step).
//!
//! Each way runs on one thread, as SQLite's single writer does, with the
//! store's settings (WAL, `synchronous = NORMAL`, 8 MiB page cache, a
//! checkpoint every 40,000 pages and a final TRUNCATE checkpoint), and
//! commits every BATCH rows (default 1,600: the writer's 32 feeds × 50 items
//! at a cold start). The time of each way is a lower bound for any writer
//! that stores the same rows in the same schema.
//!
//! Usage: `bench-floor SOURCE [--batch N] [--dir DIR]`; prints one JSON
//! object per way: rows, text MB, wall and CPU seconds, rows per second,
//! database MB.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};

/// The store's writer settings (src/store/mod.rs), so that the floor is
/// measured under the same conditions as the real writer.
const SETTINGS: &str = "PRAGMA journal_mode = WAL;
    PRAGMA synchronous = NORMAL;
    PRAGMA cache_size = -8192;
    PRAGMA wal_autocheckpoint = 40000;";

/// `entry_search` as migrations 0006 and 0013 declare it, contentless
/// (the text lives in the entry rows, which the `fts` way does not write).
const FTS_DDL: &str = "CREATE VIRTUAL TABLE entry_search USING fts5(
        title, body, content = '', tokenize = 'porter unicode61 remove_diacritics 2');
    INSERT INTO entry_search (entry_search, rank) VALUES ('automerge', 0);";

/// Entries indexed per index step (src/store/search.rs, `INDEX_BATCH`).
const INDEX_STEP: usize = 5_000;

/// What SOURCE holds, in memory.
struct Corpus {
    /// `CREATE TABLE entry …` and `CREATE INDEX … ON entry …`, as SOURCE has them.
    entry_ddl: Vec<String>,
    /// The entry table's column names.
    columns: Vec<String>,
    /// Every entry row, all columns, in id order.
    rows: Vec<Vec<Value>>,
    /// `CREATE TABLE feed …` and every feed row: the entries' foreign key
    /// points there, and the store checks it on every insert.
    feed_ddl: String,
    feeds: Vec<Vec<Value>>,
    /// Every full-text row: (rowid, title, body).
    search: Vec<(i64, Option<String>, Option<String>)>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(source) = args.get(1) else {
        eprintln!("usage: bench-floor SOURCE [--batch N] [--dir DIR]");
        std::process::exit(2);
    };
    let batch: usize = flag(&args, "--batch")
        .and_then(|b| b.parse().ok())
        .unwrap_or(1_600);
    let dir = flag(&args, "--dir").map_or_else(std::env::temp_dir, PathBuf::from);
    let corpus = load(Path::new(source)).unwrap_or_else(|e| {
        eprintln!("{source}: {e}");
        std::process::exit(2)
    });
    for way in ["fts", "rows", "both"] {
        let path = dir.join(format!("bench-floor-{}-{way}.db", std::process::id()));
        let result = store(&corpus, way, &path, batch);
        remove(&path);
        match result {
            Ok(line) => println!("{line}"),
            Err(e) => {
                eprintln!("{way}: {e}");
                std::process::exit(1);
            }
        }
    }
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn load(source: &Path) -> rusqlite::Result<Corpus> {
    let conn = Connection::open_with_flags(source, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let entry_ddl = conn
        .prepare(
            "SELECT sql FROM sqlite_schema WHERE tbl_name = 'entry' AND sql IS NOT NULL
             ORDER BY type = 'index', name",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    let feed_ddl = conn.query_row(
        "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'feed'",
        [],
        |r| r.get(0),
    )?;
    let (_, feeds) = all_rows(&conn, "SELECT * FROM feed ORDER BY id")?;
    let (columns, rows) = all_rows(&conn, "SELECT * FROM entry ORDER BY id")?;
    let search = conn
        .prepare("SELECT rowid, title, body FROM entry_search ORDER BY rowid")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Corpus {
        entry_ddl,
        feed_ddl,
        feeds,
        columns,
        rows,
        search,
    })
}

/// The column names and every row of a query.
fn all_rows(conn: &Connection, sql: &str) -> rusqlite::Result<(Vec<String>, Vec<Vec<Value>>)> {
    let mut stmt = conn.prepare(sql)?;
    let columns: Vec<String> = stmt.column_names().map(str::to_string).collect();
    let width = columns.len();
    let rows = stmt
        .query_map([], |r| (0..width).map(|i| r.get::<_, Value>(i)).collect())?
        .collect::<rusqlite::Result<_>>()?;
    Ok((columns, rows))
}

/// Writes the corpus one `way` into a fresh database at `path`; returns the
/// JSON line to print.
fn store(corpus: &Corpus, way: &str, path: &Path, batch: usize) -> rusqlite::Result<String> {
    remove(path);
    let mut conn = Connection::open(path)?;
    conn.execute_batch(SETTINGS)?;
    let (fts, rows) = (way != "rows", way != "fts");
    if fts {
        conn.execute_batch(FTS_DDL)?;
    }
    if rows {
        conn.execute_batch("PRAGMA foreign_keys = ON")?;
        conn.execute_batch(&corpus.feed_ddl)?;
        let tx = conn.transaction()?;
        for feed in &corpus.feeds {
            let holes = vec!["?"; feed.len()].join(", ");
            tx.prepare_cached(&format!("INSERT INTO feed VALUES ({holes})"))?
                .execute(params_from_iter(feed.iter()))?;
        }
        tx.commit()?;
        for ddl in &corpus.entry_ddl {
            conn.execute_batch(ddl)?;
        }
    }
    let insert_row = format!(
        "INSERT INTO entry ({}) VALUES ({})",
        corpus.columns.join(", "),
        vec!["?"; corpus.columns.len()].join(", ")
    );
    let n = if rows {
        corpus.rows.len()
    } else {
        corpus.search.len()
    };
    let text_bytes: usize = corpus
        .search
        .iter()
        .map(|(_, t, b)| t.as_ref().map_or(0, String::len) + b.as_ref().map_or(0, String::len))
        .sum();
    let (cpu0, wall0) = (cpu_seconds(), Instant::now());
    let (mut i, mut indexed) = (0, 0);
    while i < n {
        let end = (i + batch).min(n);
        if rows {
            let tx = conn.transaction()?;
            for row in &corpus.rows[i..end] {
                tx.prepare_cached(&insert_row)?
                    .execute(params_from_iter(row.iter()))?;
            }
            tx.commit()?;
        }
        i = end;
        if fts && (i - indexed >= INDEX_STEP || i == n) {
            let tx = conn.transaction()?;
            for (id, title, body) in corpus.search.get(indexed..i).unwrap_or_default() {
                tx.prepare_cached(
                    "INSERT INTO entry_search (rowid, title, body) VALUES (?1, ?2, ?3)",
                )?
                .execute(rusqlite::params![id, title, body])?;
            }
            tx.commit()?;
            indexed = i;
        }
    }
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    let (wall, cpu) = (wall0.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
    drop(conn);
    let db_mb = std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / 1e6);
    Ok(format!(
        "{{\"way\": \"{way}\", \"rows\": {n}, \"batch\": {batch}, \"text_mb\": {:.1}, \"wall_s\": {wall:.2}, \"cpu_s\": {cpu:.2}, \"rows_per_s\": {:.0}, \"db_mb\": {db_mb:.1}}}",
        text_bytes as f64 / 1e6,
        n as f64 / wall
    ))
}

/// User + system CPU time of this process so far.
fn cpu_seconds() -> f64 {
    // SAFETY: `rusage` is a plain C struct of integers, valid when zeroed.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes into the struct it is given.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn remove(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}
