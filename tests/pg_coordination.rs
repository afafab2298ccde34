//! The PostgreSQL store against a real server (a throwaway one per test
//! process, a fresh database per test): migrations applied once however
//! many processes start together, and the public views shaped as in SQLite.

mod common;

use std::collections::BTreeSet;

use common::pg::require_pg;
use feedfold::store::pg::{migrate, PgError, PgStore};

async fn count(store: &PgStore, sql: &str) -> i64 {
    let client = store.client().await.expect("client");
    client.query_one(sql, &[]).await.expect(sql).get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrations_apply_once_when_many_processes_start_together() {
    let Some(server) = require_pg() else { return };
    let url = server.fresh_db();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            // One pool per "process", each migrating on its own connection.
            let store = PgStore::connect(&url, 1).expect("connect");
            let mut client = store.client().await.expect("client");
            migrate::run(&mut client).await
        }));
    }
    let mut applied = Vec::new();
    for task in tasks {
        let report = task.await.expect("task").expect("migrate");
        assert_eq!(report.version, migrate::SCHEMA_VERSION);
        applied.extend(report.applied);
    }
    applied.sort();
    let store = PgStore::connect(&url, 1).expect("connect");
    let recorded = count(&store, "SELECT count(*) FROM schema_migration").await;
    assert_eq!(
        applied.len() as i64,
        recorded,
        "every migration applied by exactly one process: {applied:?}"
    );
    let unique: BTreeSet<i64> = applied.iter().copied().collect();
    assert_eq!(unique.len(), applied.len(), "applied twice: {applied:?}");
    assert_eq!(applied.last(), Some(&migrate::SCHEMA_VERSION));
    // The seeded role rows exist once, not once per process.
    assert_eq!(count(&store, "SELECT count(*) FROM role_lease").await, 2);

    // Another start finds nothing to do.
    let mut client = store.client().await.expect("client");
    let again = migrate::run(&mut client).await.expect("migrate again");
    assert!(again.applied.is_empty(), "{again:?}");
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_feedfold_is_refused() {
    let Some(server) = require_pg() else { return };
    let url = server.fresh_db();
    let store = PgStore::open(&url, 2).await.expect("open");
    let client = store.client().await.expect("client");
    client
        .execute(
            "INSERT INTO schema_migration (version, name) VALUES ($1, 'from the future')",
            &[&(migrate::SCHEMA_VERSION + 1)],
        )
        .await
        .expect("insert");
    match PgStore::open(&url, 2).await {
        Err(PgError::SchemaTooNew { found, known }) => {
            assert_eq!(
                (found, known),
                (migrate::SCHEMA_VERSION + 1, migrate::SCHEMA_VERSION)
            )
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

#[tokio::test]
async fn sslmode_require_refuses_a_server_without_tls() {
    let Some(server) = require_pg() else { return };
    let url = format!("{}?sslmode=require", server.fresh_db());
    let store = PgStore::connect(&url, 1).expect("the URL parses");
    let err = store.client().await.expect_err("no TLS on the test server");
    assert!(matches!(err, PgError::Pool(_)), "{err:?}");
    // The same database without the requirement connects (sslmode=prefer
    // falls back to plain text).
    let plain = PgStore::connect(&url.replace("?sslmode=require", ""), 1).expect("parses");
    let _connected = plain.client().await.expect("plain connection");
    assert!(matches!(
        PgStore::connect("postgres://a@b/c?sslmode=sometimes", 1),
        Err(PgError::Url(_))
    ));
}

/// Column names of a view or table in SQLite, in order.
fn sqlite_columns(db: &rusqlite::Connection, view: &str) -> Vec<String> {
    let mut stmt = db
        .prepare(&format!(
            "SELECT name FROM pragma_table_info('{view}') ORDER BY cid"
        ))
        .expect("prepare");
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .expect("query");
    rows.collect::<Result<_, _>>().expect("columns")
}

#[tokio::test]
async fn the_public_views_have_the_sqlite_names_and_columns() {
    let Some(server) = require_pg() else { return };
    let store = PgStore::open(&server.fresh_db(), 2).await.expect("open");
    // A SQLite database made by feedfold's own migrations.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("feedfold.db");
    drop(feedfold::store::Store::open(&path).expect("open SQLite"));
    let sqlite = rusqlite::Connection::open(&path).expect("open SQLite");
    let client = store.client().await.expect("client");
    for view in ["stories", "story_sources", "feed_tags", "feeds", "fetches"] {
        let expected = sqlite_columns(&sqlite, view);
        assert!(!expected.is_empty(), "SQLite has {view}");
        let kind: String = client
            .query_one(
                "SELECT table_type FROM information_schema.tables WHERE table_name = $1",
                &[&view],
            )
            .await
            .unwrap_or_else(|e| panic!("{view} exists in PostgreSQL: {e}"))
            .get(0);
        assert_eq!(kind, "VIEW", "{view}");
        let got: Vec<String> = client
            .query(
                "SELECT column_name::text FROM information_schema.columns
                 WHERE table_name = $1 ORDER BY ordinal_position",
                &[&view],
            )
            .await
            .expect("columns")
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(got, expected, "columns of {view}");
    }
}
