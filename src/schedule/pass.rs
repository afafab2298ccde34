//! One poll pass over the due feeds, and each feed's turn in it: wait for
//! its start offset and its slots, fetch, parse (or discover the feed an
//! HTML page links to), analyse for the deduplicator, decide the feed's
//! next state, and hand the result to the writer.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use super::decide::{self, Decision, Settings};
use super::hosts::host_of;
use super::{policy, PollSummary, Poller};
use crate::dedup;
use crate::fetch::{discovery, Body, Exchange, Fetched, Validators};
use crate::metrics;
use crate::model::RedirectStep;
use crate::parse::{self, ParseError, ParsedFeed};
use crate::store::{
    DueFeed, FeedId, FeedOutcome, FeedUpdate, FetchState, IngestReport, Ledger, Prepared,
    StoreError, UrlChange,
};

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

impl<L: Ledger> Poller<L> {
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
        let (due, hosts) = self.store.due(all).await?;
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
        stop: watch::Receiver<bool>,
    ) -> Result<(Kind, IngestReport), StoreError> {
        let id = feed.id;
        let result = self.take_turn(feed, host, offset, slots, stop).await;
        // A feed handed out but never fetched goes back to the store at
        // once, not after its claim runs out.
        if matches!(result, Ok((Kind::Skipped, _))) {
            self.store.release_claim(id).await;
        }
        result
    }

    async fn take_turn(
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
        if *stop.borrow() || !self.store.may_fetch(feed.id) {
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
                            Ok((doc, analyses)) => FeedOutcome::Parsed {
                                feed: doc,
                                validators,
                                analyses,
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
        let settings = Settings::from(&*self.poll.borrow());
        if let Some(status) = exchange.status {
            fetch.host = self.hosts.observe(
                host,
                status,
                exchange.retry_after,
                now,
                settings.min_interval,
                settings.max_backoff,
            );
        }
        let Decision {
            outcome,
            next_due,
            fetch,
        } = decide::decide(
            &settings,
            &feed,
            outcome,
            &exchange,
            fetch,
            now,
            fastrand::f64(),
        );
        if let Some(RedirectStep::Move { target }) = &fetch.redirect {
            tracing::info!(feed = %feed.url, to = %target, "same permanent redirect on {} fetches in a row: feed moved", policy::REDIRECTS_TO_MOVE);
        }
        if let Some(reason) = &fetch.disable {
            tracing::warn!(feed = %feed.url, "{reason}");
        }
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
                let (doc, analyses) = match analyze_changed(&self.cpu, &self.store, None, doc).await
                {
                    Ok(analysed) => analysed,
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
                        analyses,
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
    store: &impl Ledger,
    feed: Option<FeedId>,
    doc: ParsedFeed,
) -> Result<(ParsedFeed, Vec<Option<Prepared>>), String> {
    let (unchanged, model) = match feed {
        Some(id) => {
            let keys: Vec<(String, i64)> = doc
                .entries
                .iter()
                .map(|e| (e.identity.clone(), e.content_hash()))
                .collect();
            let context = store.feed_context(id, keys).await;
            match context {
                Ok(context) => context,
                // The writer analyses each entry itself, with the feed's
                // model: slower, never wrong.
                Err(_) => return Ok((doc, Vec::new())),
            }
        }
        None => (Vec::new(), None),
    };
    let _core = cpu.acquire().await;
    tokio::task::spawn_blocking(move || {
        let model = model
            .and_then(|json| dedup::BoilerplateModel::from_json(&json).ok())
            .unwrap_or_default();
        let analyses = doc
            .entries
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                let known = unchanged.get(i).copied().unwrap_or(false);
                (!known).then(|| {
                    let analysis =
                        dedup::analyze_with(entry.title.as_deref(), entry.body(), &model);
                    Prepared::new(entry, analysis)
                })
            })
            .collect();
        (doc, analyses)
    })
    .await
    .map_err(|e| format!("analysis task failed: {e}"))
}
