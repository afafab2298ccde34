//! The PostgreSQL migrations (`migrations/postgres/NNNN_*.sql`) and their
//! runner.
//!
//! Each file is applied in its own transaction that first takes a
//! transaction-level advisory lock and only then reads the recorded
//! version: a second process starting at the same moment waits on the lock,
//! then sees the version the first committed and applies nothing. The lock
//! ends with the transaction, so an error or a dead process never leaves it
//! held on a pooled connection.

use tokio_postgres::Client;

use super::PgError;

/// The migrations, embedded in the binary, in order. A file's version is
/// the number its name starts with. Never edit a landed file: add one.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_init.sql",
        include_str!("../../../migrations/postgres/0001_init.sql"),
    ),
    (
        "0002_fold_queue.sql",
        include_str!("../../../migrations/postgres/0002_fold_queue.sql"),
    ),
    (
        "0003_text_once.sql",
        include_str!("../../../migrations/postgres/0003_text_once.sql"),
    ),
    (
        "0004_unconverted_text_index.sql",
        include_str!("../../../migrations/postgres/0004_unconverted_text_index.sql"),
    ),
];

/// The advisory lock key the runner holds: `feedfold` as ASCII, a constant
/// no other application on a shared database is likely to pick.
const LOCK_KEY: i64 = 0x6665_6564_666f_6c64;

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = version_of(MIGRATIONS[MIGRATIONS.len() - 1].0);

/// A file's version: the number its name starts with, read as the SQLite
/// store reads its own (at compile time: a misnamed file does not build).
const fn version_of(name: &str) -> i64 {
    crate::store::migration_version(name)
}

/// What one call of [`run`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateReport {
    /// The versions this call applied (empty when another process had).
    pub applied: Vec<i64>,
    /// The schema version after the call.
    pub version: i64,
}

/// Brings the database to [`SCHEMA_VERSION`], one transaction per file,
/// each under the advisory lock; records each version in
/// `schema_migration`. Refuses a database a newer feedfold migrated.
pub async fn run(client: &mut Client) -> Result<MigrateReport, PgError> {
    let mut applied = Vec::new();
    loop {
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
            .await?;
        // Under the lock, so two first starts do not race on the catalog.
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migration (
                 version    bigint PRIMARY KEY,
                 name       text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await?;
        let current: i64 = tx
            .query_one(
                "SELECT COALESCE(max(version), 0) FROM schema_migration",
                &[],
            )
            .await?
            .get(0);
        if current > SCHEMA_VERSION {
            return Err(PgError::SchemaTooNew {
                found: current,
                known: SCHEMA_VERSION,
            });
        }
        let Some((name, sql)) = MIGRATIONS
            .iter()
            .find(|(name, _)| version_of(name) > current)
        else {
            tx.commit().await?;
            return Ok(MigrateReport {
                applied,
                version: current,
            });
        };
        let version = version_of(name);
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migration (version, name) VALUES ($1, $2)",
            &[&version, name],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version, name, "PostgreSQL migration applied");
        applied.push(version);
    }
}

/// The version recorded in the database (0 when never migrated).
pub async fn current_version(client: &Client) -> Result<i64, PgError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_migration') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(0);
    }
    Ok(client
        .query_one(
            "SELECT COALESCE(max(version), 0) FROM schema_migration",
            &[],
        )
        .await?
        .get(0))
}
