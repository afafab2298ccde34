//! `feedfold run` and `feedfold poll` on PostgreSQL: any number of
//! processes, on any machines, share one database. Each is a poller (it
//! leases a fair share of the hosts and polls their due feeds, analysing
//! what it fetched); the roles one process plays for all are elected
//! through the database and move when their holder dies:
//!
//! - **leader**: syncs the feed list from its config, trims the band index;
//! - **folder**: decides the stories of the entries the pollers queued, in
//!   queue order, and indexes new entries for full-text search.
//!
//! Every write is fenced on the lease it was made under (host or role), so
//! a process that was paused or cut off past its lease commits nothing.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::DaemonError;
use crate::config::{Config, Database};
use crate::metrics;
use crate::schedule::Poller;
use crate::service::{Liveness, Signal, Signals};
use crate::store::pg::{PgLedger, PgStore, Role, RoleLease};

/// How often a process renews its leases, claims due feeds, and (in its
/// roles) folds and syncs.
pub const TICK: Duration = Duration::from_secs(2);
/// Connections one process opens at most.
const POOL_SIZE: usize = 16;
/// Entries folded per transaction.
const FOLD_BATCH: i64 = 500;
/// Entries indexed for search per statement.
const INDEX_BATCH: i64 = 5_000;

/// Opens the database (migrating it under an advisory lock, once whoever
/// starts first) and joins as a worker.
async fn join(config: &Config) -> Result<(PgStore, Arc<Poller<PgLedger>>), DaemonError> {
    let Database::Postgres(url) = &config.database else {
        return Err(DaemonError::Unsupported(format!(
            "{} is not a PostgreSQL database",
            config.database
        )));
    };
    // Connections are held only by writes, whose number the poller's
    // ingest slots bound, plus the roles' and renewals' few: fetches hold
    // none. A pool sized by `poll.concurrency` made 4 workers exceed the
    // server's default 100–200 connections.
    let pool = POOL_SIZE;
    let store = PgStore::open(url.expose(), pool).await?;
    let name = format!("feedfold {}", env!("CARGO_PKG_VERSION"));
    let worker = store.register_worker(&name).await?;
    tracing::info!(database = %url, worker = worker.0, "joined the shared database");
    let fetcher = super::fetcher(config)?;
    let ledger = PgLedger::new(
        store.clone(),
        worker,
        config.dedup.clone(),
        config.daemon.lease,
        config.poll.interval,
    );
    let poller = Arc::new(Poller::new(ledger, fetcher, config.poll.clone()));
    Ok((store, poller))
}

/// The roles this process may hold, renewed or sought on each tick.
struct Roles {
    leader: Option<RoleLease>,
    folder: Option<RoleLease>,
    /// Whether the leader synced the feed list in its current term.
    synced: bool,
    /// When the leader prunes next (`retention.schedule`).
    next_prune: Option<chrono::DateTime<chrono::Utc>>,
    /// A prune running on its own task, so lease renewals never wait for it.
    pruning: Option<tokio::task::JoinHandle<()>>,
}

impl Roles {
    fn new() -> Roles {
        Roles {
            leader: None,
            folder: None,
            synced: false,
            next_prune: None,
            pruning: None,
        }
    }

    /// Renews a held role or tries to take a free one; logs changes.
    async fn hold(
        store: &PgStore,
        poller: &Poller<PgLedger>,
        slot: &mut Option<RoleLease>,
        role: Role,
        ttl: Duration,
    ) -> bool {
        let worker = poller.store().worker();
        let result = match slot.as_ref() {
            Some(lease) => store.renew_role(lease, ttl).await,
            None => store.elect(worker, role, ttl).await,
        };
        match result {
            Ok(Some(lease)) => {
                if slot.is_none() {
                    tracing::info!(role = role.as_str(), epoch = lease.epoch, "took the role");
                }
                *slot = Some(lease);
                true
            }
            Ok(None) => {
                if slot.take().is_none() {
                    return false;
                }
                // Lost: to another process, or to time (a pass or a fold
                // longer than the lease). Seek it again at once; it is
                // ours only if nobody else took it.
                match store.elect(worker, role, ttl).await {
                    Ok(Some(lease)) => {
                        tracing::info!(
                            role = role.as_str(),
                            epoch = lease.epoch,
                            "took the role again after its lease ran out"
                        );
                        *slot = Some(lease);
                        true
                    }
                    _ => {
                        tracing::warn!(role = role.as_str(), "role lost to another process");
                        false
                    }
                }
            }
            Err(e) => {
                tracing::warn!(role = role.as_str(), "cannot renew or seek the role: {e}");
                false
            }
        }
    }

    /// One tick of the roles: sync (leader, once per config), fold and
    /// index (folder) until the queue is empty or `budget` is spent. Host
    /// leases are renewed elsewhere ([`keep_hosts`]): this work can outlast
    /// a lease.
    async fn tick(
        &mut self,
        store: &PgStore,
        poller: &Poller<PgLedger>,
        config: &Config,
        budget: Duration,
    ) {
        if Self::hold(
            store,
            poller,
            &mut self.leader,
            Role::Leader,
            config.daemon.lease,
        )
        .await
        {
            if let Some(lease) = self.leader.as_ref().filter(|_| !self.synced) {
                match store.sync_feeds(lease, &config.feeds).await {
                    Ok(r) => {
                        self.synced = true;
                        tracing::info!(
                            feeds = config.feeds.len(),
                            added = r.added,
                            deactivated = r.deactivated,
                            "feed list synced from the config"
                        );
                    }
                    Err(e) => tracing::error!("syncing the feed list failed: {e}"),
                }
            }
        } else {
            // A new leader syncs afresh from its own copy of the config.
            self.synced = false;
        }
        if let Some(lease) = self.leader.clone() {
            if let Err(e) = store.trim_band_keys(&lease, config.dedup.window).await {
                tracing::warn!("trimming the band index failed: {e}");
            }
            self.prune_when_due(store, &lease, config);
        }
        if Self::hold(
            store,
            poller,
            &mut self.folder,
            Role::Folder,
            config.daemon.lease,
        )
        .await
        {
            let held = match self.folder.as_mut() {
                Some(lease) => fold_for(store, lease, config, budget).await,
                None => true,
            };
            if !held && self.folder.take().is_some() {
                tracing::warn!(role = Role::Folder.as_str(), "role lost to another process");
            }
        }
    }

    /// Starts the leader's prune when `retention.schedule` says so, on its
    /// own task (fenced on the leader's lease, batch by batch).
    fn prune_when_due(&mut self, store: &PgStore, lease: &RoleLease, config: &Config) {
        let now = chrono::Utc::now();
        let Ok(cron) = crate::cron::parse(&config.retention.schedule) else {
            return;
        };
        let next = *self
            .next_prune
            .get_or_insert_with(|| cron.find_next_occurrence(&now, false).unwrap_or(now));
        if now < next || self.pruning.as_ref().is_some_and(|p| !p.is_finished()) {
            return;
        }
        self.next_prune = cron.find_next_occurrence(&now, false).ok();
        let (store, lease) = (store.clone(), lease.clone());
        let policy = crate::store::RetentionPolicy::new(
            config.retention.days,
            config.retention.max_entries_per_feed,
        );
        self.pruning = Some(tokio::spawn(async move {
            match store.prune(&policy, Some(&lease)).await {
                Ok(report) => tracing::info!("prune done: {report}"),
                Err(e) => tracing::warn!("prune stopped: {e}"),
            }
        }));
    }

    /// Gives the roles back at a clean exit, so another process takes them
    /// at once.
    async fn release(&mut self, store: &PgStore) {
        if let Some(pruning) = self.pruning.take() {
            pruning.abort();
        }
        for lease in [self.leader.take(), self.folder.take()]
            .into_iter()
            .flatten()
        {
            if let Err(e) = store.release_role(&lease).await {
                tracing::warn!(role = lease.role.as_str(), "releasing the role failed: {e}");
            }
        }
    }
}

/// Folds and indexes until the queue is empty or `budget` is spent,
/// renewing the folder's `lease` before each batch: a backlog drained
/// batch after batch must not outlast the lease it is fenced on. Returns
/// whether the role is still held.
async fn fold_for(
    store: &PgStore,
    lease: &mut RoleLease,
    config: &Config,
    budget: Duration,
) -> bool {
    let started = std::time::Instant::now();
    loop {
        match store.renew_role(lease, config.daemon.lease).await {
            Ok(Some(renewed)) => *lease = renewed,
            Ok(None) => return false,
            Err(e) => {
                tracing::warn!(role = Role::Folder.as_str(), "cannot renew the role: {e}");
                return true;
            }
        }
        match store.fold_queued(lease, &config.dedup, FOLD_BATCH).await {
            Ok(r) if r.entries > 0 => {
                tracing::debug!(
                    entries = r.entries,
                    new_stories = r.new_stories,
                    folded = r.folded,
                    "folded"
                );
            }
            Ok(_) => break,
            Err(e) => {
                tracing::warn!("folding failed: {e}");
                break;
            }
        }
        if started.elapsed() > budget {
            break;
        }
    }
    loop {
        match store.index_unindexed(INDEX_BATCH).await {
            Ok(n) if n > 0 && started.elapsed() <= budget => {}
            Ok(_) => break,
            Err(e) => {
                tracing::warn!("indexing for search failed: {e}");
                break;
            }
        }
    }
    true
}

/// Renews this process's host leases every [`TICK`] until `stop`, on a
/// task of its own: when renewals waited for the roles' work (the first
/// sync of thousands of feeds, a folder draining a backlog), a worker lost
/// every host mid-pass and its fetches in flight were refused. Feeds the
/// watchdog while the database answers.
async fn keep_hosts(
    poller: Arc<Poller<PgLedger>>,
    mut stop: watch::Receiver<bool>,
    liveness: Option<Arc<Liveness>>,
) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => match poller.store().renew_leases().await {
                Ok(_) => {
                    if let Some(liveness) = &liveness {
                        liveness.beat();
                    }
                }
                Err(e) => tracing::warn!("renewing host leases failed: {e}"),
            },
            _ = stopped(&mut stop) => break,
        }
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// `feedfold run` on PostgreSQL, until SIGTERM/SIGINT.
pub async fn run(config: Config, mut signals: Signals) -> Result<(), DaemonError> {
    let liveness = Arc::new(Liveness::from_env());
    let (store, poller) = join(&config).await?;
    let endpoints = serve(&config, &store, &liveness).await?;
    liveness.ready(&format!(
        "joined {} as worker {}",
        config.database,
        poller.store().worker().0
    ));
    let (stop_tx, stop) = watch::channel(false);
    // SIGHUP re-reads the config; the leader syncs its feed list again.
    let (reload_tx, mut reloaded) = watch::channel(config.clone());
    let keeper = tokio::spawn(keep_hosts(
        poller.clone(),
        stop.clone(),
        Some(liveness.clone()),
    ));
    let roles_task = {
        let (store, poller, mut stop) = (store.clone(), poller.clone(), stop.clone());
        tokio::spawn(async move {
            let mut roles = Roles::new();
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if reloaded.has_changed().unwrap_or(false) {
                            roles.synced = false;
                        }
                        let config = reloaded.borrow_and_update().clone();
                        roles.tick(&store, &poller, &config, TICK).await;
                    }
                    _ = stopped(&mut stop) => break,
                }
            }
            roles.release(&store).await;
        })
    };
    let passes = {
        let (poller, mut stop, liveness) = (poller.clone(), stop.clone(), liveness.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped(&mut stop) => break,
                }
                match poller.poll_once(false, &stop).await {
                    Ok(s) if s.ok + s.not_modified + s.failed > 0 => {
                        tracing::info!("pass: {s}");
                        liveness.pass_done(chrono::Utc::now(), &s.to_string());
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!("poll pass failed: {e}"),
                }
            }
        })
    };
    loop {
        match signals.next().await {
            Signal::Reload => match Config::load(&config.path) {
                Ok(new) if new.database != config.database => tracing::warn!(
                    "SIGHUP: the database setting changed; restart feedfold to use the new one"
                ),
                Ok(new) => {
                    tracing::info!(
                        feeds = new.feeds.len(),
                        "SIGHUP: config re-read; the leader syncs its feed list (the [poll] and [dedup] settings apply after a restart)"
                    );
                    let _ = reload_tx.send(new);
                }
                Err(e) => {
                    tracing::error!("SIGHUP: the config has an error, the running one stays: {e}")
                }
            },
            Signal::Shutdown { name, .. } => {
                tracing::info!("{name}: shutting down; finishing fetches in flight (send it again to exit at once)");
                liveness.stopping();
                let _ = stop_tx.send(true);
                break;
            }
        }
    }
    tokio::spawn(async move {
        loop {
            if let Signal::Shutdown { name, number } = signals.next().await {
                tracing::warn!("{name} again: exiting at once; unfinished writes are rolled back, their feeds polled one interval late");
                std::process::exit(128 + number);
            }
        }
    });
    let grace = config.daemon.shutdown_grace;
    let passes_abort = passes.abort_handle();
    if tokio::time::timeout(grace, passes).await.is_err() {
        tracing::warn!(
            "fetches still in flight after {}; abandoned (their feeds are polled one interval late)",
            humantime::format_duration(grace)
        );
        passes_abort.abort();
    }
    let _ = roles_task.await;
    let _ = keeper.await;
    if let Err(e) = poller.store().release_all().await {
        tracing::warn!("releasing host leases failed: {e}");
    }
    for task in endpoints {
        task.abort();
        let _ = task.await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Starts `[metrics]` and `[web]` when configured, reading the shared
/// database through this worker's pool: each worker serves them, so a load
/// balancer may front any number of workers. The gauges describe the
/// whole database; the counters, this worker's own fetches and writes.
async fn serve(
    config: &Config,
    store: &PgStore,
    liveness: &Arc<Liveness>,
) -> Result<Vec<tokio::task::JoinHandle<()>>, DaemonError> {
    let mut tasks = Vec::new();
    if let Some(addr) = config.metrics.listen {
        let endpoint = metrics::Endpoint {
            database: metrics::Database::Postgres(store.clone()),
            liveness: liveness.clone(),
        };
        tasks.push(super::start_metrics(addr, endpoint).await?);
    }
    let source = crate::web::Source::Postgres(store.clone());
    tasks.extend(crate::web::start(&config.web, source).await?);
    Ok(tasks)
}

/// `feedfold poll` on PostgreSQL: one pass over the due feeds of the hosts
/// this process can lease, then (if no other process holds the roles) the
/// feed list synced first and everything fetched folded and indexed.
pub async fn poll_once(
    config: &Config,
    stop: &watch::Receiver<bool>,
) -> Result<crate::schedule::PollSummary, DaemonError> {
    let (store, poller) = join(config).await?;
    let mut roles = Roles::new();
    // Sync before polling so that a first poll has feeds to poll.
    roles.tick(&store, &poller, config, Duration::ZERO).await;
    // A pass longer than a lease keeps its hosts.
    let (done_tx, done) = watch::channel(false);
    let keeper = tokio::spawn(keep_hosts(poller.clone(), done, None));
    let summary = poller.poll_once(false, stop).await;
    let _ = done_tx.send(true);
    let _ = keeper.await;
    // The pass may have outlasted the roles' leases: renew (or retake) them.
    roles.tick(&store, &poller, config, Duration::ZERO).await;
    if let Some(lease) = roles.folder.as_mut() {
        fold_for(&store, lease, config, Duration::from_secs(600)).await;
    }
    roles.release(&store).await;
    if let Err(e) = poller.store().release_all().await {
        tracing::warn!("releasing host leases failed: {e}");
    }
    Ok(summary?)
}

/// `feedfold refold` on PostgreSQL: re-analyses the entries of the range
/// here and re-queues them in window order; this process folds them if it
/// can take the folder role, else the running daemons' folder does and
/// this waits for the queue to drain.
pub async fn refold(
    config: &Config,
    since: Option<chrono::DateTime<chrono::Utc>>,
    mut progress: impl FnMut(usize, usize),
) -> Result<crate::store::fold::RefoldReport, DaemonError> {
    use crate::store::pg::refold::REFOLD_BATCH;
    let (store, poller) = join(config).await?;
    let worker = poller.store().worker();
    let ttl = config.daemon.lease;
    let stories_before = store.story_count().await?;
    let ids = store.refold_begin(since).await?;
    let mut folder = store.elect(worker, Role::Folder, ttl).await?;
    if folder.is_none() {
        tracing::info!("another process holds the folder role: it folds the refolded entries");
    }
    let mut done = 0;
    for batch in ids.chunks(REFOLD_BATCH) {
        store.requeue(batch, &config.dedup).await?;
        if let Some(lease) = &folder {
            folder = store.renew_role(lease, ttl).await?;
        }
        if let Some(lease) = &folder {
            while store
                .fold_queued(lease, &config.dedup, FOLD_BATCH)
                .await?
                .entries
                > 0
            {}
        }
        done += batch.len();
        progress(done, ids.len());
    }
    // Folded by another process: wait until it has caught up.
    while store.fold_backlog().await?.0 > 0 {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    if let Some(lease) = folder.as_mut() {
        fold_for(&store, lease, config, Duration::from_secs(600)).await;
        store.release_role(lease).await?;
    }
    let new_ids = store.restore_story_ids().await?;
    let stories_after = store.story_count().await?;
    let count = |n: i64| usize::try_from(n).unwrap_or(0);
    Ok(crate::store::fold::RefoldReport {
        entries: ids.len(),
        stories_before: count(stories_before),
        stories_after: count(stories_after),
        new_ids,
    })
}

/// `feedfold prune` on PostgreSQL: one whole prune, batch by batch (a
/// running leader prunes on `retention.schedule` too; each batch is a
/// transaction of its own, so the two never remove a row twice).
pub async fn prune(config: &Config) -> Result<crate::store::PruneReport, DaemonError> {
    let Database::Postgres(url) = &config.database else {
        return Err(DaemonError::Unsupported(format!(
            "{} is not a PostgreSQL database",
            config.database
        )));
    };
    let store = PgStore::open(url.expose(), 2).await?;
    let policy = crate::store::RetentionPolicy::new(
        config.retention.days,
        config.retention.max_entries_per_feed,
    );
    Ok(store.prune(&policy, None).await?)
}
