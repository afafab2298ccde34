//! Schedule: decides when feeds are fetched and drives one poll pass
//! (fetch → parse → store) over the feeds that are due.
//!
//! tokio-cron-scheduler wakes the daemon on `[poll] schedule`; each wake-up
//! runs one pass over the feeds whose next due time has passed, at most
//! `[poll] concurrency` at once. A wake-up that finds a pass still running is
//! skipped, so two passes never fetch the same feeds.
//!
//! A second cron job, `[retention] schedule` (daily by default), runs a
//! prune in the background; its batches go through the same writer as the
//! polls, which keep running meanwhile.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::config::{PollConfig, RetentionConfig};
use crate::fetch::{Fetched, Fetcher};
use crate::metrics;
use crate::parse;
use crate::service::Liveness;
use crate::store::{
    retention, DueFeed, FeedOutcome, FeedUpdate, IngestReport, RetentionPolicy, StoreError,
    StoreHandle,
};

/// Why the scheduler could not run.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// tokio-cron-scheduler refused the job or failed to start.
    #[error("scheduler: {0}")]
    Cron(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Totals of one poll pass, printed by `feedfold poll` and logged per tick.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PollSummary {
    /// Feeds fetched and parsed.
    pub ok: usize,
    /// Feeds whose fetch or parse failed.
    pub failed: usize,
    /// Feeds that answered 304 Not Modified.
    pub not_modified: usize,
    /// What was written.
    pub ingest: IngestReport,
}

impl fmt::Display for PollSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "feeds: {} ok, {} failed, {} not modified; {} new entries, {} new stories, {} folded copies",
            self.ok, self.failed, self.not_modified, self.ingest.new_entries, self.ingest.new_stories, self.ingest.folded
        )
    }
}

/// Runs poll passes: fetches due feeds concurrently and hands results to the writer.
pub struct Poller {
    store: StoreHandle,
    fetcher: Fetcher,
    poll: PollConfig,
    retention: Option<RetentionConfig>,
}

impl Poller {
    /// A poller writing through `store`.
    pub fn new(store: StoreHandle, fetcher: Fetcher, poll: PollConfig) -> Poller {
        Poller {
            store,
            fetcher,
            poll,
            retention: None,
        }
    }

    /// Also prunes on `retention.schedule` while the daemon runs.
    pub fn with_retention(mut self, retention: RetentionConfig) -> Poller {
        self.retention = Some(retention);
        self
    }

    /// The handle to the database writer this poller writes through.
    pub fn store(&self) -> &StoreHandle {
        &self.store
    }

    /// One pass over the due feeds (every active feed with `all`). Stops
    /// starting new fetches once `stop` turns true; fetches in flight finish
    /// and are written.
    pub async fn poll_once(
        &self,
        all: bool,
        stop: &watch::Receiver<bool>,
    ) -> Result<PollSummary, StoreError> {
        let due = self
            .store
            .call(move |s| s.due_feeds(Utc::now(), all))
            .await?;
        let stop = stop.clone();
        let mut results = futures::stream::iter(due)
            .take_while(move |_| std::future::ready(!*stop.borrow()))
            .map(|feed| self.poll_feed(feed))
            .buffer_unordered(self.poll.concurrency);
        let mut summary = PollSummary::default();
        while let Some(result) = results.next().await {
            let (kind, report) = result?;
            match kind {
                Kind::Ok => summary.ok += 1,
                Kind::NotModified => summary.not_modified += 1,
                Kind::Failed => summary.failed += 1,
            }
            summary.ingest += report;
        }
        Ok(summary)
    }

    async fn poll_feed(&self, feed: DueFeed) -> Result<(Kind, IngestReport), StoreError> {
        let fetched_at = Utc::now();
        let interval = feed
            .interval_secs
            .and_then(|s| u64::try_from(s).ok())
            .map_or(self.poll.interval, Duration::from_secs);
        let next_due =
            fetched_at + chrono::TimeDelta::from_std(interval).unwrap_or(chrono::TimeDelta::MAX);
        let result = self.fetcher.fetch(&feed.url, &feed.validators).await;
        let outcome = match result.outcome {
            Ok(Fetched::NotModified { validators }) => FeedOutcome::NotModified { validators },
            Ok(Fetched::Body(body)) => {
                // Parsing is CPU work: keep it off the async worker threads.
                let parsed = tokio::task::spawn_blocking(move || {
                    let feed =
                        parse::parse(&body.bytes, body.content_type.as_deref(), &body.final_url);
                    (feed, body.validators)
                })
                .await;
                match parsed {
                    Ok((Ok(doc), validators)) => FeedOutcome::Parsed {
                        feed: doc,
                        validators,
                    },
                    Ok((Err(e), _)) => FeedOutcome::Failed {
                        error: e.to_string(),
                    },
                    Err(e) => FeedOutcome::Failed {
                        error: format!("parser task failed: {e}"),
                    },
                }
            }
            Err(e) => FeedOutcome::Failed {
                error: e.to_string(),
            },
        };
        let kind = match &outcome {
            FeedOutcome::Parsed { .. } => Kind::Ok,
            FeedOutcome::NotModified { .. } => Kind::NotModified,
            FeedOutcome::Failed { error } => {
                tracing::warn!(feed = %feed.url, status = ?result.exchange.status, "fetch failed: {error}");
                Kind::Failed
            }
        };
        metrics::record_fetch(kind.as_str(), &result.exchange);
        let exchange = result.exchange.clone();
        let update = FeedUpdate {
            feed: feed.id,
            fetched_at,
            exchange: result.exchange,
            next_due,
            outcome,
        };
        let report = self.store.call(move |s| s.record(update)).await?;
        metrics::record_ingest(&report);
        tracing::debug!(
            feed = %feed.url,
            outcome = kind.as_str(),
            status = exchange.status,
            bytes = exchange.bytes,
            duration_ms = exchange.duration.as_millis() as u64,
            new_entries = report.new_entries,
            new_stories = report.new_stories,
            folded = report.folded,
            "feed polled"
        );
        Ok((kind, report))
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Ok,
    NotModified,
    Failed,
}

impl Kind {
    /// The outcome as the fetch log and the metrics name it.
    fn as_str(self) -> &'static str {
        match self {
            Kind::Ok => "ok",
            Kind::NotModified => "not_modified",
            Kind::Failed => "error",
        }
    }
}

/// Runs the daemon loop until `stop` turns true: one pass at start-up, then
/// one per cron tick, and a heartbeat (a round-trip through the database
/// writer) every `liveness.heartbeat_interval()` that feeds systemd's watchdog.
///
/// When `stop` turns true no new fetch starts; fetches in flight get `grace`
/// to finish and be written, then the pass is abandoned (results already
/// handed to the writer are still committed).
pub async fn run(
    poller: Arc<Poller>,
    stop: watch::Receiver<bool>,
    grace: Duration,
    liveness: Arc<Liveness>,
) -> Result<(), ScheduleError> {
    let (tick_tx, mut ticks) = mpsc::channel::<()>(1);
    let busy = Arc::new(AtomicBool::new(false));
    let mut scheduler = JobScheduler::new()
        .await
        .map_err(|e| ScheduleError::Cron(format!("{e:?}")))?;
    let job_busy = busy.clone();
    let job_tx = tick_tx.clone();
    let job = Job::new_async(poller.poll.schedule.as_str(), move |_, _| {
        let busy = job_busy.clone();
        let tx = job_tx.clone();
        Box::pin(async move {
            if busy.load(Ordering::SeqCst) {
                tracing::info!("previous poll pass still running; skipping this tick");
                return;
            }
            // A full channel means a tick is already waiting: same effect.
            let _ = tx.try_send(());
        })
    })
    .map_err(|e| ScheduleError::Cron(format!("{e:?}")))?;
    scheduler
        .add(job)
        .await
        .map_err(|e| ScheduleError::Cron(format!("{e:?}")))?;
    let (prune_tx, mut prunes) = mpsc::channel::<()>(1);
    if let Some(r) = &poller.retention {
        let job = Job::new_async(r.schedule.as_str(), move |_, _| {
            let _ = prune_tx.try_send(());
            Box::pin(async {})
        })
        .map_err(|e| ScheduleError::Cron(format!("{e:?}")))?;
        scheduler
            .add(job)
            .await
            .map_err(|e| ScheduleError::Cron(format!("{e:?}")))?;
    }
    scheduler
        .start()
        .await
        .map_err(|e| ScheduleError::Cron(format!("{e:?}")))?;
    let _ = tick_tx.try_send(());
    liveness.ready(&format!(
        "scheduler started (schedule {:?})",
        poller.poll.schedule
    ));

    let mut heartbeat = tokio::time::interval(liveness.heartbeat_interval());
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pass: Option<Pending<(Result<PollSummary, StoreError>, Duration)>> = None;
    let mut probe: Option<Pending<Result<(), StoreError>>> = None;
    let mut probe_started = Instant::now();
    let mut deadline: Option<tokio::time::Instant> = None;
    let mut stopped = stop.clone();
    let mut pruning: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        tokio::select! {
            Some(()) = prunes.recv(), if deadline.is_none() => {
                if pruning.as_ref().is_some_and(|p| !p.is_finished()) {
                    tracing::info!("previous prune still running; skipping this one");
                    continue;
                }
                pruning = poller.retention.as_ref().map(|r| {
                    let policy = RetentionPolicy::new(r.days, r.max_entries_per_feed);
                    tokio::spawn(prune(poller.store.clone(), policy, stop.clone()))
                });
            }
            // A closed channel (sender gone) counts as a stop too.
            _ = stopped.wait_for(|s| *s), if deadline.is_none() => {
                if pass.is_none() {
                    break;
                }
                tracing::info!(grace_ms = grace.as_millis() as u64, "waiting for fetches in flight");
                deadline = Some(tokio::time::Instant::now() + grace);
            }
            _ = sleep_until(deadline), if deadline.is_some() => {
                tracing::warn!(
                    grace_ms = grace.as_millis() as u64,
                    "shutdown grace period is over; abandoning the fetches still in flight"
                );
                break;
            }
            (result, took) = wait(&mut pass), if pass.is_some() => {
                pass = None;
                busy.store(false, Ordering::SeqCst);
                pass_done(&result, took, &liveness);
                if deadline.is_some() {
                    break;
                }
            }
            Some(()) = ticks.recv(), if pass.is_none() && deadline.is_none() => {
                busy.store(true, Ordering::SeqCst);
                let (poller, stop) = (poller.clone(), stop.clone());
                pass = Some(Box::pin(async move {
                    let started = Instant::now();
                    let result = poller.poll_once(false, &stop).await;
                    (result, started.elapsed())
                }));
            }
            _ = heartbeat.tick() => {
                if probe.is_some() {
                    // The writer has not answered the last probe: withhold
                    // the watchdog ping and let systemd judge.
                    tracing::warn!(
                        waited_ms = probe_started.elapsed().as_millis() as u64,
                        "database writer has not answered the heartbeat probe; watchdog not pinged"
                    );
                } else {
                    let store = poller.store.clone();
                    probe_started = Instant::now();
                    probe = Some(Box::pin(async move { store.call(|s| s.probe()).await }));
                }
            }
            result = wait(&mut probe), if probe.is_some() => {
                probe = None;
                match result {
                    Ok(()) => liveness.beat(),
                    Err(e) => tracing::warn!("heartbeat probe failed; watchdog not pinged: {e}"),
                }
            }
        }
    }
    // Dropping an unfinished pass cancels its fetches; whatever already
    // reached the writer's queue is still committed before the writer exits.
    drop(pass);
    if let Some(p) = pruning {
        // The prune stops between batches once `stop` is set.
        let _ = p.await;
    }
    if let Err(e) = scheduler.shutdown().await {
        tracing::warn!("scheduler shutdown: {e:?}");
    }
    Ok(())
}

async fn prune(store: StoreHandle, policy: RetentionPolicy, stop: watch::Receiver<bool>) {
    let started = Instant::now();
    match retention::prune(&store, &policy, &stop).await {
        Ok(r) => tracing::info!(
            duration_ms = started.elapsed().as_millis() as u64,
            "prune done: {r}"
        ),
        Err(e) => tracing::error!("prune failed: {e}"),
    }
}

/// A boxed future the loop polls alongside the others.
type Pending<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

/// Waits for an optional future; callers guard the branch with `is_some()`.
async fn wait<T>(f: &mut Option<Pending<T>>) -> T {
    match f {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Logs the one summary line of a pass and records it.
fn pass_done(result: &Result<PollSummary, StoreError>, took: Duration, liveness: &Liveness) {
    match result {
        Ok(s) => {
            tracing::info!(
                feeds = s.ok + s.failed + s.not_modified,
                ok = s.ok,
                not_modified = s.not_modified,
                errors = s.failed,
                new_entries = s.ingest.new_entries,
                new_stories = s.ingest.new_stories,
                folded = s.ingest.folded,
                duration_ms = took.as_millis() as u64,
                "poll pass done"
            );
            liveness.pass_done(Utc::now(), &s.to_string());
        }
        Err(e) => tracing::error!(
            duration_ms = took.as_millis() as u64,
            "poll pass failed: {e}"
        ),
    }
}
