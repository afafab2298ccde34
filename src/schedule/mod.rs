//! Schedule: decides when feeds are fetched and drives the poll passes
//! (fetch → parse → analyse → store) over the feeds that are due.
//!
//! tokio-cron-scheduler wakes the daemon on `[poll] schedule`; each wake-up
//! runs one pass over the feeds whose next due time has passed, at most
//! `[poll] concurrency` at once and `[poll] per_host` per host, with each
//! host's feeds spread over half the tick. A wake-up that finds a pass still
//! running is skipped, so two passes never fetch the same feeds.
//!
//! By job: `pass` is one pass and each feed's pipeline through it;
//! [`decide`] turns one fetch into the feed's next state (a pure function of
//! the fetch and one snapshot of the settings); `daemon_loop` is the
//! daemon's loop of ticks, prunes, reloads, heartbeats and shutdown.
//! [`policy`] holds the rules (adaptive interval, backoff, host pauses,
//! redirects, spreading) as pure functions; [`hosts`] the per-host slots and
//! throttling state of a running poller. `docs/FETCHING.md` describes both.
//!
//! A second cron job, `[retention] schedule` (daily by default), starts a
//! prune in the background; its batches go through the same writer as the
//! polls, which keep running meanwhile.

use std::fmt;
use std::sync::Arc;

use tokio::sync::{watch, Notify, Semaphore};

use crate::config::{PollConfig, RetentionConfig};
use crate::fetch::Fetcher;
use crate::store::{IngestReport, Ledger, StoreError, StoreHandle};

mod daemon_loop;
pub mod decide;
pub mod hosts;
mod pass;
pub mod policy;

pub use daemon_loop::{run, spread_window};

use hosts::Hosts;

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
    /// Due feeds not fetched because the server asked to wait (Retry-After)
    /// or their host is paused after repeated 429/503.
    pub deferred: usize,
    /// What was written.
    pub ingest: IngestReport,
}

impl fmt::Display for PollSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |count: usize, noun: &str| crate::output::count(count as u64, noun);
        write!(
            f,
            "feeds: {} ok, {} failed, {} not modified; {}, {}, {}",
            self.ok,
            self.failed,
            self.not_modified,
            n(self.ingest.new_entries, "new entry"),
            n(self.ingest.new_stories, "new story"),
            n(self.ingest.folded, "folded copy")
        )?;
        if self.deferred > 0 {
            write!(f, "; {} deferred (server asked to wait)", self.deferred)?;
        }
        Ok(())
    }
}

/// Runs poll passes: fetches due feeds concurrently and hands results to the writer.
pub struct Poller<L = StoreHandle> {
    store: L,
    fetcher: Fetcher,
    /// The `[poll]` settings in force; a config reload replaces them, and
    /// each pass (and each feed's next due time) reads them afresh.
    poll: watch::Sender<PollConfig>,
    /// Asks the daemon loop for a pass now (e.g. after a reload added feeds).
    wake: Notify,
    /// Per-host slots and throttling.
    hosts: Hosts,
    /// Bodies being parsed and analysed or waiting for the writer. Bounded:
    /// more would not go faster (the writer is one thread) but would hold
    /// every analysed feed of the pass in memory.
    ingesting: Arc<Semaphore>,
    /// Parses and analyses running at once: one per core. They are pure CPU
    /// work, and each holds per-thread scratch space (the regex engines'
    /// caches run to megabytes), so more at once only costs memory.
    cpu: Semaphore,
    /// What to keep; `None`: the daemon does not prune.
    retention: Option<RetentionConfig>,
}

impl<L: Ledger> Poller<L> {
    /// A poller writing through `store`.
    pub fn new(store: L, fetcher: Fetcher, poll: PollConfig) -> Poller<L> {
        Poller {
            store,
            fetcher,
            hosts: Hosts::new(poll.per_host),
            ingesting: Arc::new(Semaphore::new(ingest_slots())),
            cpu: Semaphore::new(cores()),
            poll: watch::Sender::new(poll),
            wake: Notify::new(),
            retention: None,
        }
    }

    /// Also prunes on `retention.schedule` while the daemon runs.
    pub fn with_retention(mut self, retention: RetentionConfig) -> Poller<L> {
        self.retention = Some(retention);
        self
    }

    /// The `[poll]` settings in force.
    pub fn poll_config(&self) -> PollConfig {
        self.poll.borrow().clone()
    }

    /// Replaces the `[poll]` settings: limits and intervals apply from the
    /// next pass, a new schedule from the next tick.
    pub fn set_poll_config(&self, poll: PollConfig) {
        self.poll.send_replace(poll);
    }

    /// Asks the daemon loop ([`run`]) for a pass as soon as it is free,
    /// without waiting for the next tick.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The store this poller writes through.
    pub fn store(&self) -> &L {
        &self.store
    }
}

/// Bodies in the parse → analyse → write pipeline at once: two per core
/// being analysed, plus a few queued at the writer so that it always has the
/// next transaction ready. Each slot holds a whole analysed feed, and the
/// single writer sets the pace, so more slots cost memory and gain nothing.
fn ingest_slots() -> usize {
    cores() * 2 + 4
}

/// Parses and analyses that can usefully run at once.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
