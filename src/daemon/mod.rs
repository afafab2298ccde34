//! The wiring of `feedfold run`: opens the database, starts the writer, the
//! poller, the metrics endpoint, the reloader and the signal handling, runs
//! the scheduler loop until a stop, then takes it all down in the order that
//! lets the writer commit what it was handed. `poll` and `demo` share
//! [`start`] and [`finish`], so a one-shot pass runs through the same code.

pub mod pg;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use chrono::Utc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::fetch::{FetchError, FetchOptions, Fetcher};
use crate::metrics::{self, Endpoint, ListenError};
use crate::reload;
use crate::schedule::{self, Poller, ScheduleError};
use crate::service::{Liveness, Signal, Signals};
use crate::store::{self, Store, StoreError, StoreHandle, WriterOptions, WriterThread};

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The database failed, or another daemon holds it.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The HTTP client could not be built.
    #[error("starting the HTTP client")]
    HttpClient(#[source] FetchError),
    /// `[metrics] listen` could not be bound.
    #[error(transparent)]
    Metrics(#[from] ListenError),
    /// `[web] listen` could not be bound.
    #[error(transparent)]
    Web(#[from] crate::web::ListenError),
    /// The scheduler failed.
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// The PostgreSQL store failed.
    #[error(transparent)]
    Postgres(#[from] store::pg::PgError),
    /// A setting the chosen store does not support.
    #[error("{0}")]
    Unsupported(String),
}

/// The SQLite file of `config`, or why the command needs one.
pub fn sqlite_file<'c>(config: &'c Config, what: &str) -> Result<&'c Path, DaemonError> {
    config.database.sqlite().ok_or_else(|| {
        DaemonError::Unsupported(format!(
            "{what} needs an SQLite database; {} is PostgreSQL",
            config.database
        ))
    })
}

/// Opens the database, syncs the feed list and starts the writer thread.
pub fn start(
    config: &Config,
    writer: WriterOptions,
) -> Result<(Arc<Poller>, WriterThread), DaemonError> {
    let mut store = Store::open(sqlite_file(config, "polling with the SQLite writer")?)?;
    store.set_dedup_config(config.dedup.clone());
    let sync = store.sync_feeds(&config.feeds, Utc::now())?;
    tracing::info!(
        database = %config.database,
        feeds = config.feeds.len(),
        added = sync.added,
        deactivated = sync.deactivated,
        "database ready"
    );
    let fetcher = fetcher(config)?;
    let (handle, writer) = StoreHandle::spawn_with(store, writer);
    let poller =
        Poller::new(handle, fetcher, config.poll.clone()).with_retention(config.retention.clone());
    Ok((Arc::new(poller), writer))
}

/// The HTTP client `[poll]` and `[fetch]` describe.
pub fn fetcher(config: &Config) -> Result<Fetcher, DaemonError> {
    let options = FetchOptions {
        timeout: config.poll.timeout,
        connect_timeout: config.poll.connect_timeout,
        max_redirects: config.poll.max_redirects,
        allow_private_networks: config.fetch.allow_private_networks,
        ..FetchOptions::default()
    };
    Fetcher::new(&options).map_err(DaemonError::HttpClient)
}

/// Lets the writer drain its queue and exit: the poller holds a handle to
/// it, so it goes first.
pub async fn finish(poller: Arc<Poller>, writer: WriterThread) {
    drop(poller);
    if tokio::task::spawn_blocking(move || writer.join())
        .await
        .is_err()
    {
        tracing::error!("waiting for the database writer failed");
    }
}

/// Runs the daemon on `config` until SIGTERM/SIGINT. `signals` are
/// installed by the caller before it reads the config, so that a SIGHUP
/// (`systemctl reload`) or SIGTERM during start-up cannot kill the process
/// with the default action.
pub async fn run(config: Config, signals: Signals) -> Result<(), DaemonError> {
    for note in &config.notes {
        tracing::warn!("{note}");
    }
    // One daemon per database; held until the process exits.
    let Some(file) = config.database.sqlite().map(Path::to_path_buf) else {
        return pg::run(config, signals).await;
    };
    let _lock = store::lock::lock_daemon(&file)?;
    let liveness = Arc::new(Liveness::from_env());
    let (poller, writer) = start(&config, WriterOptions::default())?;
    let server = match config.metrics.listen {
        Some(addr) => {
            let endpoint = Endpoint {
                database: metrics::Database::Sqlite {
                    store: poller.store().clone(),
                    file: file.clone(),
                },
                liveness: liveness.clone(),
            };
            Some(start_metrics(addr, endpoint).await?)
        }
        None => None,
    };
    let web = crate::web::start(&config.web, crate::web::Source::Sqlite(file.clone())).await?;
    let config_grace = config.daemon.shutdown_grace;
    let (stop_tx, stop) = watch::channel(false);
    let (reloader, reload) = reload::spawn(config, poller.clone(), stop.clone());
    tokio::spawn(handle_signals(signals, stop_tx, liveness.clone(), reload));
    let result = schedule::run(poller.clone(), stop, config_grace, liveness).await;
    if let Some(server) = server {
        // The endpoint holds a writer handle; drop it so the writer can finish.
        server.abort();
        let _ = server.await;
    }
    if let Some(web) = web {
        web.abort();
        let _ = web.await;
    }
    // So does the reloader. It stops with `stop`; after a scheduler error
    // nothing set `stop`, so end it here.
    if result.is_err() {
        reloader.abort();
    }
    if let Err(e) = reloader.await {
        if !e.is_cancelled() {
            tracing::error!("the reloader task failed: {e}");
        }
    }
    finish(poller, writer).await;
    result?;
    tracing::info!("stopped");
    Ok(())
}

/// Binds `[metrics] listen` and serves `/metrics` and `/healthz` on a task.
async fn start_metrics(
    addr: SocketAddr,
    endpoint: Endpoint,
) -> Result<JoinHandle<()>, ListenError> {
    let listener = metrics::bind(addr).await?;
    let local = listener.local_addr().unwrap_or(addr);
    tracing::info!(addr = %local, "serving /metrics and /healthz");
    Ok(tokio::spawn(async move {
        if let Err(e) = metrics::serve(listener, endpoint).await {
            tracing::error!("metrics endpoint stopped: {e}");
        }
    }))
}

/// First SIGTERM/SIGINT: stop scheduling and let fetches in flight finish.
/// Second: exit at once. SQLite's journal keeps the database consistent
/// whatever point the writer had reached; an unfinished transaction is
/// rolled back at the next open.
async fn handle_signals(
    mut signals: Signals,
    stop: watch::Sender<bool>,
    liveness: Arc<Liveness>,
    reload: reload::Trigger,
) {
    let mut stopping = false;
    loop {
        match signals.next().await {
            Signal::Reload => reload.request("SIGHUP"),
            Signal::Shutdown { name, .. } if !stopping => {
                stopping = true;
                tracing::info!("{name}: shutting down; finishing fetches in flight (send it again to exit at once)");
                liveness.stopping();
                let _ = stop.send(true);
            }
            Signal::Shutdown { name, number } => {
                tracing::warn!("{name} again: exiting at once; fetches in flight are dropped, the database stays consistent");
                std::process::exit(128 + number);
            }
        }
    }
}
