//! Schedule: decides when feeds are fetched and drives one poll pass
//! (fetch → parse → store) over the feeds that are due.
//!
//! tokio-cron-scheduler wakes the daemon on `[poll] schedule`; each wake-up
//! runs one pass over the feeds whose next due time has passed, at most
//! `[poll] concurrency` at once. A wake-up that finds a pass still running is
//! skipped, so two passes never fetch the same feeds.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::config::PollConfig;
use crate::fetch::{Fetched, Fetcher};
use crate::parse;
use crate::store::{DueFeed, FeedOutcome, FeedUpdate, IngestReport, StoreError, StoreHandle};

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
}

impl Poller {
    /// A poller writing through `store`.
    pub fn new(store: StoreHandle, fetcher: Fetcher, poll: PollConfig) -> Poller {
        Poller {
            store,
            fetcher,
            poll,
        }
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
                    Ok((Ok(doc), validators)) => {
                        if !doc.warnings.is_empty() {
                            let warnings: Vec<String> =
                                doc.warnings.iter().map(ToString::to_string).collect();
                            tracing::warn!(feed = %feed.url, "feed read with repairs: {}", warnings.join("; "));
                        }
                        FeedOutcome::Parsed {
                            feed: doc,
                            validators,
                        }
                    }
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
        let update = FeedUpdate {
            feed: feed.id,
            fetched_at,
            exchange: result.exchange,
            next_due,
            outcome,
        };
        let report = self.store.call(move |s| s.record(update)).await?;
        tracing::debug!(feed = %feed.url, ?kind, new_entries = report.new_entries, folded = report.folded, "polled");
        Ok((kind, report))
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Ok,
    NotModified,
    Failed,
}

/// Runs the daemon loop until `stop` turns true: one pass at start-up, then
/// one per cron tick. Returns after the pass in flight (if any) has finished.
pub async fn run(poller: Arc<Poller>, stop: watch::Receiver<bool>) -> Result<(), ScheduleError> {
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
    scheduler
        .start()
        .await
        .map_err(|e| ScheduleError::Cron(format!("{e:?}")))?;
    let _ = tick_tx.try_send(());
    tracing::info!(schedule = %poller.poll.schedule, "scheduler started");

    let mut stopped = stop.clone();
    loop {
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => break,
            Some(()) = ticks.recv() => {
                busy.store(true, Ordering::SeqCst);
                let started = Instant::now();
                let result = poller.poll_once(false, &stop).await;
                busy.store(false, Ordering::SeqCst);
                match result {
                    Ok(s) => tracing::info!(duration_ms = started.elapsed().as_millis() as u64, "poll pass done: {s}"),
                    Err(e) => tracing::error!("poll pass failed: {e}"),
                }
            }
        }
    }
    if let Err(e) = scheduler.shutdown().await {
        tracing::warn!("scheduler shutdown: {e:?}");
    }
    Ok(())
}
