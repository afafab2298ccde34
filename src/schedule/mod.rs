//! Schedule: decides when feeds are fetched and drives one poll pass
//! (fetch → parse → store) over the feeds that are due.
//!
//! tokio-cron-scheduler wakes the daemon on `[poll] schedule`; each wake-up
//! runs one pass over the feeds whose next due time has passed, at most
//! `[poll] concurrency` at once and `[poll] per_host` per host, with each
//! host's feeds spread over half the tick. A wake-up that finds a pass still
//! running is skipped, so two passes never fetch the same feeds.
//!
//! [`policy`] holds the rules (adaptive interval, backoff, host pauses,
//! redirects, spreading) as pure functions; [`hosts`] the per-host slots and
//! throttling state of a running poller. `docs/FETCHING.md` describes both.
//!
//! A second cron job, `[retention] schedule` (daily by default), starts a
//! prune in the background; its batches go through the same writer as the
//! polls, which keep running meanwhile.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use tokio::sync::{mpsc, watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};

use crate::config::{PollConfig, RetentionConfig};
use crate::dedup;
use crate::fetch::{discovery, Body, Exchange, Fetched, Fetcher, Validators};
use crate::metrics;
use crate::parse::{self, ParseError, ParsedFeed};
use crate::service::Liveness;
use crate::store::{
    retention, DueFeed, FeedId, FeedOutcome, FeedUpdate, FetchState, IngestReport, RetentionPolicy,
    StoreError, StoreHandle, UrlChange,
};

pub mod hosts;
pub mod policy;

use hosts::{host_of, Hosts};
use policy::{Asks, Limits, RedirectStep};

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

/// A tokio-cron-scheduler failure as a sentence saying what failed. The
/// library names its errors only by variant (`CantAdd`); that name is kept
/// in parentheses for a bug report. Cron expressions are checked when the
/// config is read, with a message of their own.
fn cron_failed(what: &'static str) -> impl Fn(JobSchedulerError) -> ScheduleError {
    move |e| ScheduleError::Cron(format!("{what} (tokio-cron-scheduler error {e:?})"))
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
pub struct Poller {
    store: StoreHandle,
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

/// How one feed's turn in a pass ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ok,
    NotModified,
    Failed,
    /// Not fetched: its host is paused after repeated 429/503.
    Deferred,
    /// Not fetched: the daemon is stopping.
    Skipped,
}

impl Kind {
    /// The outcome as the fetch log and the metrics name it.
    fn as_str(self) -> &'static str {
        match self {
            Kind::Ok => "ok",
            Kind::NotModified => "not_modified",
            Kind::Failed => "error",
            Kind::Deferred => "deferred",
            Kind::Skipped => "skipped",
        }
    }
}

impl Poller {
    /// A poller writing through `store`.
    pub fn new(store: StoreHandle, fetcher: Fetcher, poll: PollConfig) -> Poller {
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
    pub fn with_retention(mut self, retention: RetentionConfig) -> Poller {
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

    /// The handle to the database writer this poller writes through.
    pub fn store(&self) -> &StoreHandle {
        &self.store
    }

    /// One pass over the due feeds (every active feed with `all`), as fast
    /// as the concurrency limits allow. Stops starting new fetches once
    /// `stop` turns true; fetches in flight finish and are written.
    pub async fn poll_once(
        &self,
        all: bool,
        stop: &watch::Receiver<bool>,
    ) -> Result<PollSummary, StoreError> {
        self.poll_pass(all, stop, Duration::ZERO).await
    }

    /// One pass in which the feeds of each host are spread evenly over
    /// `window` (the daemon passes half its tick) instead of fired together.
    pub async fn poll_pass(
        &self,
        all: bool,
        stop: &watch::Receiver<bool>,
        window: Duration,
    ) -> Result<PollSummary, StoreError> {
        let (due, hosts) = self
            .store
            .call(move |s| Ok((s.due_feeds(Utc::now(), all)?, s.hosts()?)))
            .await?;
        self.hosts.load(hosts);
        // Limits are read once per pass, so a reload applies from the next one;
        // passes never overlap, so the pass owns its global slots.
        let (concurrency, per_host) = {
            let poll = self.poll.borrow();
            (poll.concurrency, poll.per_host)
        };
        self.hosts.set_per_host(per_host);
        let slots = Arc::new(Semaphore::new(concurrency.max(1)));
        let host_names: Vec<String> = due.iter().map(|f| host_of(f.fetch_url())).collect();
        let offsets = policy::spread(&host_names, window);
        let mut turns: FuturesUnordered<_> = due
            .into_iter()
            .zip(host_names)
            .zip(offsets)
            .map(|((feed, host), offset)| {
                self.turn(feed, host, offset, slots.clone(), stop.clone())
            })
            .collect();
        let mut summary = PollSummary::default();
        while let Some(result) = turns.next().await {
            let (kind, report) = result?;
            match kind {
                Kind::Ok => summary.ok += 1,
                Kind::NotModified => summary.not_modified += 1,
                Kind::Failed => summary.failed += 1,
                Kind::Deferred => summary.deferred += 1,
                Kind::Skipped => {}
            }
            summary.ingest += report;
        }
        Ok(summary)
    }

    /// One feed's turn: wait for its start offset and for a slot on its host
    /// and overall, unless its host is paused or the daemon is stopping.
    async fn turn(
        &self,
        feed: DueFeed,
        host: String,
        offset: Duration,
        slots: Arc<Semaphore>,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(Kind, IngestReport), StoreError> {
        let skipped = Ok((Kind::Skipped, IngestReport::default()));
        if !offset.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(offset) => {}
                _ = stop.wait_for(|s| *s) => return skipped,
            }
        }
        // The host's slot first: a feed waiting for its host holds no
        // global slot, so one busy host never starves the others.
        let Ok(host_slot) = self.hosts.slots(&host).acquire_owned().await else {
            return skipped;
        };
        let Ok(slot) = slots.acquire_owned().await else {
            return skipped;
        };
        if *stop.borrow() {
            return skipped;
        }
        // A server's Retry-After is honoured even by `poll --all`.
        if let Some(until) = feed.retry_after_until.filter(|t| *t > Utc::now()) {
            tracing::info!(feed = %feed.url, until = %until, "server asked to retry later; feed deferred");
            return Ok((Kind::Deferred, IngestReport::default()));
        }
        // Checked after waiting for a slot: another feed of this host may
        // have just been told to slow down.
        if let Some(until) = self.hosts.throttled_until(&host, Utc::now()) {
            tracing::info!(feed = %feed.url, host, until = %until, "host is throttled; feed deferred");
            return Ok((Kind::Deferred, IngestReport::default()));
        }
        // Boxed: a pass creates every feed's turn up front, and an unboxed
        // fetch-parse-write state machine made each waiting turn as large as
        // a running one.
        let result = Box::pin(self.poll_feed(feed, &host, host_slot)).await;
        drop(slot);
        result
    }

    async fn poll_feed(
        &self,
        feed: DueFeed,
        host: &str,
        host_slot: OwnedSemaphorePermit,
    ) -> Result<(Kind, IngestReport), StoreError> {
        let fetched_at = Utc::now();
        let result = self.fetcher.fetch(feed.fetch_url(), &feed.validators).await;
        let mut exchange = result.exchange;
        let mut fetch = FetchState::default();
        // Held from parsing until the writer has stored the result.
        let mut ingest_slot = None;
        let outcome = match result.outcome {
            Ok(Fetched::NotModified { validators }) => FeedOutcome::NotModified { validators },
            Ok(Fetched::Body(body)) => {
                ingest_slot = self.ingesting.clone().acquire_owned().await.ok();
                let page_url = body.final_url.clone();
                match parse_body(&self.cpu, body).await {
                    Parsed::Feed(doc, validators) => {
                        match analyze_changed(&self.cpu, &self.store, Some(feed.id), doc).await {
                            Ok(doc) => FeedOutcome::Parsed {
                                feed: doc,
                                validators,
                            },
                            Err(error) => FeedOutcome::Failed { error },
                        }
                    }
                    Parsed::Failed(error) => FeedOutcome::Failed { error },
                    Parsed::Page(html) => {
                        let (outcome, change) =
                            self.discover(&html, &page_url, &mut exchange).await;
                        fetch.discovered = change;
                        outcome
                    }
                }
            }
            Err(e) => FeedOutcome::Failed {
                error: e.to_string(),
            },
        };
        drop(host_slot);
        let now = Utc::now();
        if let Some(status) = exchange.status {
            fetch.host = self.hosts.observe(
                host,
                status,
                exchange.retry_after,
                now,
                self.poll.borrow().min_interval,
                self.poll.borrow().max_backoff,
            );
        }
        let (outcome, next_due) = self.decide(&feed, outcome, &exchange, &mut fetch, now);
        let kind = match &outcome {
            FeedOutcome::Parsed { feed: doc, .. } => {
                if !doc.warnings.is_empty() {
                    let warnings: Vec<String> =
                        doc.warnings.iter().map(ToString::to_string).collect();
                    tracing::warn!(feed = %feed.url, "feed read with repairs: {}", warnings.join("; "));
                }
                Kind::Ok
            }
            FeedOutcome::NotModified { .. } => Kind::NotModified,
            FeedOutcome::Failed { error } => {
                tracing::warn!(feed = %feed.url, status = exchange.status, "fetch failed: {error}");
                Kind::Failed
            }
        };
        metrics::record_fetch(kind.as_str(), &exchange);
        let logged = exchange.clone();
        let update = FeedUpdate {
            feed: feed.id,
            fetched_at,
            exchange,
            next_due,
            outcome,
            fetch,
        };
        let report = self.store.record(update).await?;
        drop(ingest_slot);
        metrics::record_ingest(&report);
        tracing::debug!(
            feed = %feed.url,
            outcome = kind.as_str(),
            status = logged.status,
            bytes = logged.bytes,
            duration_ms = logged.duration.as_millis() as u64,
            redirects = logged.redirects.len(),
            new_entries = report.new_entries,
            new_stories = report.new_stories,
            folded = report.folded,
            "feed polled"
        );
        Ok((kind, report))
    }

    /// The page at `page_url` is HTML: fetch the first feed it links to.
    async fn discover(
        &self,
        html: &str,
        page_url: &str,
        exchange: &mut Exchange,
    ) -> (FeedOutcome, Option<UrlChange>) {
        let found = discovery::alternates(html, page_url);
        let Some(first) = found.first() else {
            let error = format!(
                "{} that links to no feed (no <link rel=\"alternate\"> with a feed type)",
                ParseError::Html
            );
            return (FeedOutcome::Failed { error }, None);
        };
        let list = found
            .iter()
            .map(|a| a.url.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        tracing::info!(page = page_url, feeds = %list, "HTML page: autodiscovered feeds, using the first");
        let result = self.fetcher.fetch(&first.url, &Validators::default()).await;
        let before = std::mem::take(exchange);
        *exchange = result.exchange;
        exchange.bytes += before.bytes;
        exchange.duration += before.duration;
        let failed = |why: String| {
            let error = format!(
                "HTML page {page_url} links to the feed {}, but {why}",
                first.url
            );
            (FeedOutcome::Failed { error }, None)
        };
        let body = match result.outcome {
            Ok(Fetched::Body(body)) => body,
            Ok(Fetched::NotModified { .. }) => {
                return failed("it answered 304 to an unconditional GET".into())
            }
            Err(e) => return failed(format!("fetching it failed: {e}")),
        };
        // A newly discovered feed has no learned boilerplate yet.
        match parse_body(&self.cpu, body).await {
            Parsed::Feed(doc, validators) => {
                let doc = match analyze_changed(&self.cpu, &self.store, None, doc).await {
                    Ok(doc) => doc,
                    Err(error) => return (FeedOutcome::Failed { error }, None),
                };
                let note = format!(
                    "autodiscovered on {page_url}, which links to {} feed(s): {list}",
                    found.len()
                );
                (
                    FeedOutcome::Parsed {
                        feed: doc,
                        validators,
                    },
                    Some(UrlChange {
                        url: first.url.clone(),
                        note: Some(note),
                    }),
                )
            }
            Parsed::Failed(e) => failed(format!("it is not a usable feed: {e}")),
            Parsed::Page(_) => failed("it is another HTML page".into()),
        }
    }

    /// Applies the politeness policy to an outcome: the interval in force,
    /// the next due time (backoff and Retry-After on failure), redirects,
    /// and 410 disabling.
    fn decide(
        &self,
        feed: &DueFeed,
        outcome: FeedOutcome,
        exchange: &Exchange,
        fetch: &mut FetchState,
        now: DateTime<Utc>,
    ) -> (FeedOutcome, DateTime<Utc>) {
        let limits = Limits {
            default: self.poll.borrow().interval,
            min: self.poll.borrow().min_interval,
            max: self.poll.borrow().max_interval,
        };
        let pinned = feed
            .interval_secs
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs);
        let current = feed
            .poll_interval
            .as_ref()
            .and_then(|(s, _)| u64::try_from(*s).ok())
            .map(Duration::from_secs);
        let succeeded = !matches!(outcome, FeedOutcome::Failed { .. });
        if fetch.discovered.is_none() {
            let step = policy::track_redirect(
                feed.redirect.as_ref().map(|(u, n)| (u.as_str(), *n)),
                exchange.permanent_redirect(),
                succeeded,
            );
            if let RedirectStep::Move { target } = &step {
                tracing::info!(feed = %feed.url, to = %target, "same permanent redirect on {} fetches in a row: feed moved", policy::REDIRECTS_TO_MOVE);
            }
            fetch.redirect = Some(step);
        }
        let after = |d: Duration| policy::after(now, d);
        match outcome {
            FeedOutcome::Parsed {
                feed: doc,
                validators,
            } => {
                let dates: Vec<DateTime<Utc>> = doc
                    .entries
                    .iter()
                    .filter_map(|e| e.published.or(e.updated))
                    .collect();
                let asks = Asks {
                    ttl: doc.ttl,
                    update_period: doc.update_period,
                    freshness: exchange.freshness,
                };
                let iv = policy::interval(pinned, &limits, &dates, now, &asks);
                let next = after(iv.every);
                fetch.interval = Some((secs(iv.every), iv.reason));
                (
                    FeedOutcome::Parsed {
                        feed: doc,
                        validators,
                    },
                    next,
                )
            }
            FeedOutcome::NotModified { validators } => {
                // Nothing new to measure: the interval in force stays.
                let iv = match (pinned, &feed.poll_interval) {
                    (Some(p), _) => Some(policy::interval(
                        Some(p),
                        &limits,
                        &[],
                        now,
                        &Asks::default(),
                    )),
                    (None, Some((secs, reason))) => Some(policy::Interval {
                        every: Duration::from_secs(u64::try_from(*secs).unwrap_or(0)),
                        reason: reason.clone(),
                    }),
                    (None, None) => None,
                };
                let every = iv.as_ref().map_or(self.poll.borrow().interval, |i| i.every);
                fetch.interval = iv.map(|i| (secs(i.every), i.reason));
                (FeedOutcome::NotModified { validators }, after(every))
            }
            FeedOutcome::Failed { error } => {
                let failures =
                    u32::try_from(feed.error_count.saturating_add(1)).unwrap_or(u32::MAX);
                let base = pinned.or(current).unwrap_or(self.poll.borrow().interval);
                let mut delay = policy::backoff(
                    base,
                    failures,
                    self.poll.borrow().max_backoff,
                    self.poll.borrow().min_interval,
                    fastrand::f64(),
                );
                let mut error = error;
                match exchange.status {
                    Some(status @ (429 | 503)) => match exchange.retry_after {
                        Some(wait) => {
                            let wait = wait.min(policy::LONGEST_ASK);
                            let until = after(wait);
                            fetch.retry_after_until = Some(until);
                            delay = delay.max(wait);
                            error = format!(
                                "{error}; the server asked to retry after {} (not before {})",
                                policy::human(wait),
                                crate::store::format_time(until)
                            );
                        }
                        None if status == 429 => {
                            error = format!("{error} (no Retry-After; backing off)");
                        }
                        None => {}
                    },
                    Some(410) => {
                        let reason =
                            "HTTP 410 Gone: the server says this feed was removed for good; \
                             it is no longer polled (list it again later to retry)"
                                .to_string();
                        tracing::warn!(feed = %feed.url, "{reason}");
                        fetch.disable = Some(reason.clone());
                        error = reason;
                    }
                    _ => {}
                }
                (FeedOutcome::Failed { error }, after(delay))
            }
        }
    }
}

/// Bodies in the parse → analyse → write pipeline at once: two per core
/// being analysed, plus a few queued at the writer so that it always has the
/// next transaction ready. Each slot holds a whole analysed feed: with 16
/// extra slots (a full `store::writer::RECORD_BATCH`) the 2,000-feed cold
/// pass peaked 30 MB higher and ran no faster, the writer being the
/// bottleneck either way.
fn ingest_slots() -> usize {
    cores() * 2 + 4
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// What a 2xx body turned out to be.
enum Parsed {
    Feed(ParsedFeed, Validators),
    /// An HTML page (decoded): look for the feeds it links to.
    Page(String),
    Failed(String),
}

/// Parses a body on the blocking pool (parsing is CPU work), cutting
/// oversized fields so that what is analysed and hashed is what the store keeps.
async fn parse_body(cpu: &Semaphore, body: Body) -> Parsed {
    let _core = cpu.acquire().await;
    let result = tokio::task::spawn_blocking(move || {
        let parsed = parse::parse(&body.bytes, body.content_type.as_deref(), &body.final_url).map(
            |mut doc| {
                bound_entries(&mut doc);
                doc
            },
        );
        let html_type = body
            .content_type
            .as_deref()
            .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/html"));
        let page = || parse::charset::decode(&body.bytes, body.content_type.as_deref()).text;
        match parsed {
            Ok(doc) => Parsed::Feed(doc, body.validators),
            Err(ParseError::Html) => Parsed::Page(page()),
            Err(ParseError::NoFeed | ParseError::Malformed(_)) if html_type => Parsed::Page(page()),
            Err(e) => Parsed::Failed(e.to_string()),
        }
    })
    .await;
    result.unwrap_or_else(|e| Parsed::Failed(format!("parser task failed: {e}")))
}

fn bound_entries(doc: &mut ParsedFeed) {
    for entry in &mut doc.entries {
        if let (std::borrow::Cow::Owned(bounded), true) = crate::store::limits::bound(entry) {
            tracing::warn!(identity = %bounded.identity, "entry has oversized fields: stored truncated");
            *entry = bounded;
        }
    }
}

/// Analyses for the deduplicator the entries of `doc` that the store does
/// not already hold unchanged, on the blocking pool and in parallel across
/// feeds: this is most of the CPU work of an ingest, and doing it here keeps
/// it off the single database writer. Skipping known entries keeps a poll
/// of a feed with five new items among fifty at the cost of five.
/// `feed` is `None` for a feed the store has no entries of yet; `model` is
/// its learned boilerplate as stored.
async fn analyze_changed(
    cpu: &Semaphore,
    store: &StoreHandle,
    feed: Option<FeedId>,
    mut doc: ParsedFeed,
) -> Result<ParsedFeed, String> {
    let (unchanged, model) = match feed {
        Some(id) => {
            let keys: Vec<(String, i64)> = doc
                .entries
                .iter()
                .map(|e| (e.identity.clone(), e.content_hash()))
                .collect();
            let context = store
                .call(move |s| Ok((s.unchanged_entries(id, &keys)?, s.boilerplate_model(id)?)))
                .await;
            match context {
                Ok(context) => context,
                // The writer analyses each entry itself, with the feed's
                // model: slower, never wrong.
                Err(_) => return Ok(doc),
            }
        }
        None => (Vec::new(), None),
    };
    let _core = cpu.acquire().await;
    tokio::task::spawn_blocking(move || {
        let model = model
            .and_then(|json| dedup::BoilerplateModel::from_json(&json).ok())
            .unwrap_or_default();
        for (i, entry) in doc.entries.iter_mut().enumerate() {
            if unchanged.get(i).copied().unwrap_or(false) {
                continue;
            }
            entry.analysis = Some(dedup::analyze_with(
                entry.title.as_deref(),
                entry.body(),
                &model,
            ));
        }
        doc
    })
    .await
    .map_err(|e| format!("analysis task failed: {e}"))
}

/// Half the time between two consecutive firings of a cron expression: the
/// window over which a pass spreads each host's feeds. Zero for an
/// expression that does not parse or fires fewer than twice more.
pub fn spread_window(schedule: &str) -> Duration {
    crate::cron::parse(schedule)
        .ok()
        .and_then(|cron| crate::cron::period(&cron, Utc::now()))
        .map_or(Duration::ZERO, |p| p / 2)
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
        .map_err(cron_failed("could not create the cron scheduler"))?;
    let mut poll_rx = poller.poll.subscribe();
    let mut schedule = poll_rx.borrow_and_update().schedule.clone();
    let mut job = add_tick_job(&scheduler, &schedule, &busy, &tick_tx).await?;
    let (prune_tx, mut prunes) = mpsc::channel::<()>(1);
    if let Some(r) = &poller.retention {
        let prune_job = Job::new_async(r.schedule.as_str(), move |_, _| {
            let _ = prune_tx.try_send(());
            Box::pin(async {})
        })
        .map_err(cron_failed("retention.schedule was refused"))?;
        scheduler
            .add(prune_job)
            .await
            .map_err(cron_failed("could not add the retention job"))?;
    }
    scheduler
        .start()
        .await
        .map_err(cron_failed("could not start the cron scheduler"))?;
    let _ = tick_tx.try_send(());
    liveness.ready(&format!("scheduler started (schedule {schedule:?})"));

    let mut heartbeat = tokio::time::interval(liveness.heartbeat_interval());
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pass: Option<Pending<(Result<PollSummary, StoreError>, Duration)>> = None;
    let mut probe: Option<Pending<Result<(), StoreError>>> = None;
    let mut probe_started = Instant::now();
    let mut deadline: Option<tokio::time::Instant> = None;
    // The start-up pass fetches what is due at once (within the limits), so
    // a freshly started daemon shows data right away; tick passes spread each
    // host's feeds over half the tick.
    let mut window = Duration::ZERO;
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
                pass = Some(start_pass(&poller, &stop, &busy, window));
                window = spread_window(&schedule);
            }
            // A wake (reload added feeds) fetches them at once, unspread.
            () = poller.wake.notified(), if pass.is_none() && deadline.is_none() => {
                pass = Some(start_pass(&poller, &stop, &busy, Duration::ZERO));
            }
            Ok(()) = poll_rx.changed() => {
                let new = poll_rx.borrow_and_update().schedule.clone();
                if new == schedule {
                    continue;
                }
                // The new job is added before the old one goes, so a failure keeps the old.
                match add_tick_job(&scheduler, &new, &busy, &tick_tx).await {
                    Ok(id) => {
                        if let Err(e) = scheduler.remove(&job).await {
                            tracing::warn!("removing the old schedule: {e:?}");
                        }
                        tracing::info!(old = %schedule, new = %new, "poll schedule changed");
                        job = id;
                        schedule = new;
                    }
                    Err(e) => tracing::error!("keeping schedule {schedule}: {e}"),
                }
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

/// Starts one pass spreading each host's feeds over `spread`; `busy` makes
/// cron ticks that fire meanwhile skip.
fn start_pass(
    poller: &Arc<Poller>,
    stop: &watch::Receiver<bool>,
    busy: &AtomicBool,
    spread: Duration,
) -> Pending<(Result<PollSummary, StoreError>, Duration)> {
    busy.store(true, Ordering::SeqCst);
    let (poller, stop) = (poller.clone(), stop.clone());
    Box::pin(async move {
        let started = Instant::now();
        let result = poller.poll_pass(false, &stop, spread).await;
        (result, started.elapsed())
    })
}

/// Adds the cron job that sends a tick on `schedule`.
async fn add_tick_job(
    scheduler: &JobScheduler,
    schedule: &str,
    busy: &Arc<AtomicBool>,
    tick_tx: &mpsc::Sender<()>,
) -> Result<uuid::Uuid, ScheduleError> {
    let job_busy = busy.clone();
    let job_tx = tick_tx.clone();
    let job = Job::new_async(schedule, move |_, _| {
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
    .map_err(cron_failed("poll.schedule was refused"))?;
    scheduler
        .add(job)
        .await
        .map_err(cron_failed("could not add the poll job"))
}

/// Runs one prune (`[retention]`) through the writer and logs its summary.
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
                deferred = s.deferred,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_window_is_half_the_tick() {
        assert_eq!(spread_window("0 */5 * * * *"), Duration::from_secs(150));
        assert_eq!(spread_window("*/4 * * * * *"), Duration::from_secs(2));
        assert_eq!(spread_window("not cron"), Duration::ZERO);
    }
}
