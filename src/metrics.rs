//! Metrics and health: Prometheus counters the pipeline bumps as it works,
//! and the optional HTTP endpoint (`[metrics] listen`) that serves them at
//! `/metrics` with a health check at `/healthz`.
//!
//! The counters live in one process-wide registry so that instrumenting a
//! stage is one call (`metrics::record_fetch(…)`) and costs a few atomic
//! adds whether or not the endpoint is enabled. Gauges that describe the
//! database (feeds by health, file size) and the scheduler loop (last pass)
//! are read from them at scrape time.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use prometheus_client::encoding::{prometheus_text, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::fetch::Exchange;
use crate::service::Liveness;
use crate::store::pg::PgStore;
use crate::store::{disk_size, FeedHealth, IngestReport, StoreError, StoreHandle};

/// How long a scrape or health check waits for the database writer.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

/// Every metric feedfold exports.
struct Metrics {
    registry: Registry,
    fetches: Family<OutcomeLabels, Counter>,
    responses: Family<StatusLabels, Counter>,
    bytes: Counter,
    fetch_seconds: Histogram,
    entries: Counter,
    updated: Counter,
    stories: Counter,
    folded: Counter,
    dedup_seconds: Histogram,
    search_lag: Histogram,
    feeds: Family<StateLabels, Gauge>,
    backoff: Gauge,
    database_bytes: Gauge,
    last_tick: Gauge,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Metrics {
        let m = Metrics {
            registry: Registry::default(),
            fetches: Family::default(),
            responses: Family::default(),
            bytes: Counter::default(),
            // 10 ms … 41 s: loopback to a slow server at the 30 s timeout.
            fetch_seconds: Histogram::new(exponential_buckets(0.01, 2.0, 13)),
            entries: Counter::default(),
            updated: Counter::default(),
            stories: Counter::default(),
            folded: Counter::default(),
            // 10 µs … 2.6 s per decision.
            dedup_seconds: Histogram::new(exponential_buckets(0.000_01, 4.0, 10)),
            // Around the 5 s in which docs/SCHEMA.md promises an entry is
            // searchable, so that a scrape tells whether it held.
            search_lag: Histogram::new([0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0]),
            feeds: Family::default(),
            backoff: Gauge::default(),
            database_bytes: Gauge::default(),
            last_tick: Gauge::default(),
        };
        let mut r = Registry::with_prefix("feedfold");
        r.register(
            "fetches",
            "Feed fetches by outcome (ok, not_modified, error)",
            m.fetches.clone(),
        );
        r.register(
            "http_responses",
            "HTTP responses received from feed servers, by status code",
            m.responses.clone(),
        );
        r.register(
            "fetch_bytes",
            "Response body bytes read from feed servers, after decompression",
            m.bytes.clone(),
        );
        r.register(
            "fetch_duration_seconds",
            "Wall time of one feed fetch",
            m.fetch_seconds.clone(),
        );
        r.register(
            "entries_ingested",
            "Entries stored for the first time",
            m.entries.clone(),
        );
        r.register(
            "entries_updated",
            "Stored entries whose content changed",
            m.updated.clone(),
        );
        r.register(
            "stories_ingested",
            "Stories started by a new entry",
            m.stories.clone(),
        );
        r.register(
            "copies_folded",
            "New entries folded into an existing story as a copy",
            m.folded.clone(),
        );
        r.register(
            "dedup_decision_seconds",
            "Time to find candidates and decide which story a new entry joins",
            m.dedup_seconds.clone(),
        );
        r.register(
            "search_index_lag_seconds",
            "Time from an entry's commit to its being searchable (SQLite's search indexer; PostgreSQL indexes in the commit)",
            m.search_lag.clone(),
        );
        r.register(
            "feeds",
            "Feeds by state, as in the feeds view (ok, failing, new, disabled, inactive), read at scrape time",
            m.feeds.clone(),
        );
        r.register(
            "feeds_in_backoff",
            "Active feeds whose last fetch failed and that wait before the next try",
            m.backoff.clone(),
        );
        r.register(
            "database_size_bytes",
            "Size of the database: the SQLite file with its write-ahead log, or PostgreSQL's pg_database_size",
            m.database_bytes.clone(),
        );
        r.register(
            "last_successful_tick_timestamp_seconds",
            "Unix time when the last poll pass finished without a database error",
            m.last_tick.clone(),
        );
        r.register(
            "build",
            "The running feedfold",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        Metrics { registry: r, ..m }
    }
}

/// Records one fetch: its outcome (`ok`, `not_modified` or `error`) and
/// what was seen on the wire.
pub fn record_fetch(outcome: &'static str, exchange: &Exchange) {
    let m = &*METRICS;
    m.fetches.get_or_create(&OutcomeLabels { outcome }).inc();
    if let Some(status) = exchange.status {
        m.responses.get_or_create(&StatusLabels { status }).inc();
    }
    m.bytes.inc_by(exchange.bytes as u64);
    m.fetch_seconds.observe(exchange.duration.as_secs_f64());
}

/// Records what writing one fetch changed.
pub fn record_ingest(report: &IngestReport) {
    let m = &*METRICS;
    m.entries.inc_by(report.new_entries as u64);
    m.updated.inc_by(report.updated_entries as u64);
    m.stories.inc_by(report.new_stories as u64);
    m.folded.inc_by(report.folded as u64);
    // The report sums its decisions by bucket on this histogram's grid.
    for (mean, times) in report.dedup_decisions.by_bucket() {
        for _ in 0..times {
            m.dedup_seconds.observe(mean.as_secs_f64());
        }
    }
}

/// Observes how long the entries indexed since the last scrape waited,
/// from their commit to their search index step (read from the store at
/// scrape time: the store does not call back into `metrics`).
fn record_search_lags() {
    let m = &*METRICS;
    for ms in crate::store::search::take_recent_lags() {
        m.search_lag.observe(ms.max(0) as f64 / 1000.0);
    }
}

/// Copies the scheduler loop's record into the gauges that describe it. Read
/// at scrape time rather than pushed by the loop, so that `service` (which
/// keeps the record) does not call back into `metrics` (which serves it).
fn set_liveness(l: &Liveness) {
    if let Some(secs) = l.last_pass() {
        METRICS
            .last_tick
            .set(i64::try_from(secs).unwrap_or(i64::MAX));
    }
}

fn set_feed_health(h: &FeedHealth) {
    let m = &*METRICS;
    for (state, n) in [
        ("ok", h.ok),
        ("failing", h.failing),
        ("new", h.new),
        ("disabled", h.disabled),
        ("inactive", h.inactive),
    ] {
        m.feeds.get_or_create(&StateLabels { state }).set(n);
    }
    m.backoff.set(h.backoff);
}

/// The Prometheus text exposition of every metric.
fn render() -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_text::encode(&mut out, &METRICS.registry);
    out
}

/// What the endpoint needs from the running daemon.
#[derive(Clone)]
pub struct Endpoint {
    /// The database, to read gauges and to check that it answers.
    pub database: Database,
    /// The scheduler loop's heartbeat.
    pub liveness: Arc<Liveness>,
}

/// The database behind the endpoint.
#[derive(Clone)]
pub enum Database {
    /// The SQLite file, read through the writer (whose answering is what
    /// `/healthz` checks).
    Sqlite {
        /// The writer.
        store: StoreHandle,
        /// The database file, for its size.
        file: PathBuf,
    },
    /// The shared PostgreSQL database.
    Postgres(PgStore),
}

impl Database {
    async fn feed_health(&self) -> Result<FeedHealth, StoreError> {
        let now = Utc::now();
        match self {
            Database::Sqlite { store, .. } => store.call(move |s| s.feed_health(now)).await,
            Database::Postgres(p) => Ok(p.feed_health(now).await?),
        }
    }

    async fn size(&self) -> Result<u64, StoreError> {
        match self {
            Database::Sqlite { file, .. } => Ok(disk_size(file)),
            Database::Postgres(p) => Ok(p.database_size().await?),
        }
    }

    /// SQLite: the writer takes its write lock now. PostgreSQL: a pooled
    /// connection answers a query.
    async fn probe(&self) -> Result<(), StoreError> {
        match self {
            Database::Sqlite { store, .. } => store.call(|s| s.probe()).await,
            Database::Postgres(p) => Ok(p.probe().await?),
        }
    }
}

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[error("metrics.listen {addr}: cannot listen: {source}")]
pub struct ListenError {
    /// The configured address.
    pub addr: SocketAddr,
    /// Why.
    pub source: std::io::Error,
}

/// Binds the endpoint's address; fails at start-up rather than later.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ListenError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ListenError { addr, source })
}

/// Serves `/metrics` and `/healthz` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, endpoint: Endpoint) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(endpoint);
    axum::serve(listener, app).await
}

async fn metrics(State(ep): State<Endpoint>) -> Response {
    match tokio::time::timeout(DATABASE_TIMEOUT, ep.database.feed_health()).await {
        Ok(Ok(h)) => set_feed_health(&h),
        Ok(Err(e)) => tracing::warn!("metrics: reading feed health failed: {e}"),
        Err(_) => tracing::warn!(
            "metrics: the database gave no answer for {DATABASE_TIMEOUT:?}; feed gauges are stale"
        ),
    }
    set_liveness(&ep.liveness);
    record_search_lags();
    match tokio::time::timeout(DATABASE_TIMEOUT, ep.database.size()).await {
        Ok(Ok(bytes)) => {
            METRICS
                .database_bytes
                .set(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
        Ok(Err(e)) => tracing::warn!("metrics: reading the database size failed: {e}"),
        Err(_) => tracing::warn!("metrics: no database size within {DATABASE_TIMEOUT:?}"),
    }
    (
        [(header::CONTENT_TYPE, prometheus_text::CONTENT_TYPE)],
        render(),
    )
        .into_response()
}

/// 200 when the scheduler loop checked in recently and the database takes
/// its write lock now; 503 otherwise. The JSON body says which part failed.
async fn healthz(State(ep): State<Endpoint>) -> Response {
    let database = match tokio::time::timeout(DATABASE_TIMEOUT, ep.database.probe()).await {
        Ok(Ok(())) => "ok".to_string(),
        Ok(Err(e)) => format!("error: {e}"),
        Err(_) => format!("no answer within {DATABASE_TIMEOUT:?}"),
    };
    let l = &ep.liveness;
    let scheduler = if l.is_stopping() {
        "stopping"
    } else if l.is_fresh() {
        "ok"
    } else {
        "stalled"
    };
    let healthy = database == "ok" && scheduler == "ok";
    let body = serde_json::json!({
        "status": if healthy { "ok" } else { "unhealthy" },
        "scheduler": scheduler,
        "heartbeat_age_seconds": l.heartbeat_age().map(|a| a.as_secs_f64()),
        "last_successful_tick": l.last_pass(),
        "database": database,
    });
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_values_show_in_the_exposition() {
        record_fetch(
            "not_modified",
            &Exchange {
                status: Some(304),
                bytes: 0,
                duration: Duration::from_millis(20),
                ..Exchange::default()
            },
        );
        record_fetch(
            "error",
            &Exchange {
                status: None,
                bytes: 0,
                duration: Duration::from_secs(30),
                ..Exchange::default()
            },
        );
        let text = render();
        assert!(
            text.contains("feedfold_fetches_total{outcome=\"not_modified\"}"),
            "{text}"
        );
        assert!(text.contains("feedfold_http_responses_total{status=\"304\"}"));
        assert!(text.contains("feedfold_fetch_duration_seconds_bucket{le=\"0.04\"}"));
        assert!(text.contains("feedfold_build_info{version=\""));
    }

    #[test]
    fn the_last_pass_is_read_from_the_liveness_record_at_scrape_time() {
        let l = Liveness::new(None);
        set_liveness(&l);
        let at = chrono::DateTime::from_timestamp(1_740_000_000, 0).expect("time");
        l.pass_done(at, "feeds: 1 ok");
        set_liveness(&l);
        let text = render();
        assert!(
            text.contains("feedfold_last_successful_tick_timestamp_seconds 1740000000"),
            "{text}"
        );
    }
}
