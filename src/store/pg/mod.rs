//! The PostgreSQL store's foundation: several `feedfold run` processes on
//! one database (issue 20). Not wired into the CLI yet: the config still
//! refuses a `postgres://` database.
//!
//! - [`PgStore`] is a connection pool opened from a `postgres://` URL (TLS
//!   with rustls and the platform's roots, like reqwest).
//! - [`migrate`] applies `migrations/postgres/NNNN_*.sql` under an advisory
//!   lock, so N processes starting at once migrate once.
//! - [`lease`] holds the coordination: workers, host leases (the unit a
//!   poller owns), role leases (`leader`, `folder`) and the epoch fence
//!   every write for a host or role passes.
//! - [`poll`] claims the due feeds of the hosts a worker holds and records
//!   their fetches, fenced.
//!
//! Every time in a lease is the database's clock (`clock_timestamp()`), so
//! workers on machines with skewed clocks agree on who holds what.

pub mod check;
pub mod fold;
pub mod ingest;
pub mod lease;
pub mod migrate;
pub mod poll;
pub mod query;
pub mod refold;
pub mod retention;
pub mod river;
pub mod search;
pub mod status;
pub mod text;
pub mod worker;

use std::str::FromStr;
use std::sync::Arc;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use rustls_platform_verifier::BuilderVerifierExt;
use tokio_postgres_rustls::MakeRustlsConnect;

pub use lease::{fence, Fence, HostLease, Role, RoleLease, WorkerId};
pub use migrate::MigrateReport;
pub use poll::{ClaimedFeed, DueClaim, FetchOutcome, FetchRecord};
pub use search::SEARCH_VECTOR_SQL;
pub use worker::PgLedger;

/// What can go wrong in the PostgreSQL store.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The database URL does not parse (`postgres://user[:pass]@host[:port]/db`).
    #[error("invalid PostgreSQL URL: {0}")]
    Url(#[source] tokio_postgres::Error),
    /// The rustls client configuration could not be built.
    #[error("TLS setup for PostgreSQL: {0}")]
    Tls(#[from] rustls::Error),
    /// The pool could not be built.
    #[error("PostgreSQL connection pool: {0}")]
    Build(#[from] deadpool_postgres::BuildError),
    /// No connection could be had from the pool (server down, refused, timeout).
    #[error("PostgreSQL connection: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// A statement failed.
    #[error("PostgreSQL: {0}")]
    Db(#[from] tokio_postgres::Error),
    /// The worker no longer holds the lease it wrote under: it expired or was
    /// taken over at a higher epoch. Nothing of the write was committed.
    #[error("lease lost: {what} is no longer held at epoch {epoch}")]
    Fenced {
        /// The host or role.
        what: String,
        /// The epoch the write was made under.
        epoch: i64,
    },
    /// A stored text frame does not decode.
    #[error(transparent)]
    Text(#[from] crate::store::text::TextError),
    /// A blocking task (analysis) panicked or was cancelled.
    #[error("analysis task failed: {0}")]
    Task(String),
    /// The database is older than this feedfold and a read command does
    /// not migrate.
    #[error("the database's schema version {found} is older than this feedfold's {known}: run `feedfold poll` or `feedfold run` once to migrate it")]
    SchemaTooOld {
        /// The version recorded in the database.
        found: i64,
        /// The newest version this binary knows.
        known: i64,
    },
    /// The database was migrated by a newer feedfold.
    #[error("the database's schema version {found} is newer than this feedfold's {known}: upgrade feedfold")]
    SchemaTooNew {
        /// The version recorded in the database.
        found: i64,
        /// The newest version this binary knows.
        known: i64,
    },
    /// The search query cannot be read (`feedfold search` exits 2).
    #[error("invalid search query {query:?}: {message}")]
    BadQuery {
        /// The query as given.
        query: String,
        /// What is wrong with it.
        message: String,
    },
}

/// A pool of connections to one PostgreSQL database.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    /// The URL without its password: what `status` names as the database.
    shown: Arc<str>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("status", &self.pool.status())
            .finish()
    }
}

impl PgStore {
    /// Opens a pool of up to `max_connections` connections to `url`
    /// (`postgres://user[:pass]@host[:port]/dbname[?sslmode=disable|prefer|require]`)
    /// without connecting yet, and without migrating: see [`PgStore::open`].
    ///
    /// With `sslmode=prefer` (the default) or `require`, the server's
    /// certificate is verified against the platform's roots, as reqwest
    /// does for feeds; `require` refuses a server without TLS. A server that
    /// offers TLS with a certificate the platform does not trust is refused
    /// even under `prefer` (no silent fall-back to plain text): trust its CA
    /// system-wide, or say `sslmode=disable` on a network you trust.
    pub fn connect(url: &str, max_connections: usize) -> Result<PgStore, PgError> {
        let config = tokio_postgres::Config::from_str(url).map_err(PgError::Url)?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_platform_verifier()?
            .with_no_client_auth();
        let manager = Manager::from_config(
            config,
            MakeRustlsConnect::new(tls),
            ManagerConfig {
                // A pooled connection is checked with a round trip only when
                // it is taken after an error, not on every checkout.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(max_connections.max(1))
            .build()?;
        Ok(PgStore {
            pool,
            shown: redact_password(url).into(),
        })
    }

    /// The database's URL without its password.
    pub fn database(&self) -> &str {
        &self.shown
    }

    /// [`PgStore::connect`], then brings the schema up to date
    /// ([`migrate::run`]) and converts text stored before migration 0003
    /// ([`PgStore::convert_old_text`]); safe to call from many processes
    /// at once.
    pub async fn open(url: &str, max_connections: usize) -> Result<PgStore, PgError> {
        let store = PgStore::connect(url, max_connections)?;
        let mut client = store.client().await?;
        migrate::run(&mut client).await?;
        drop(client);
        let converted = store.convert_old_text().await?;
        if converted > 0 {
            tracing::info!(converted, "stored text converted to frames");
        }
        Ok(store)
    }

    /// A connection from the pool, returned to it on drop.
    pub async fn client(&self) -> Result<deadpool_postgres::Object, PgError> {
        Ok(self.pool.get().await?)
    }
}

/// `url` without its password (`postgres://user@host/db`), for display.
/// A connection string that is not a URL (`host=… password=…`) is shown
/// without its `password=` pair.
pub fn redact_password(url: &str) -> String {
    if let Ok(mut u) = url::Url::parse(url) {
        if u.password().is_some() && u.set_password(None).is_err() {
            return format!("{}://{}", u.scheme(), u.host_str().unwrap_or(""));
        }
        if u.query_pairs().any(|(k, _)| k == "password") {
            let kept: Vec<(String, String)> = u
                .query_pairs()
                .filter(|(k, _)| k != "password")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            u.query_pairs_mut().clear().extend_pairs(kept);
        }
        return u.to_string();
    }
    url.split_whitespace()
        .filter(|kv| !kv.starts_with("password="))
        .collect::<Vec<_>>()
        .join(" ")
}
