//! One `feedfold run` process on PostgreSQL, as the poller sees the store
//! ([`Ledger`]): it holds leases on a fair share of the hosts, claims the
//! due feeds of those hosts, and writes each fetch fenced on its host's
//! lease. Leases are renewed on every claim; a lease that was lost (the
//! process paused past its expiry, another took the host) drops the host
//! from this process at once, and its writes are refused by the fence.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::lease::{HostLease, WorkerId};
use super::{PgError, PgStore};
use crate::dedup::DedupConfig;
use crate::store::{DueFeed, FeedId, FeedUpdate, HostState, IngestReport, Ledger, StoreError};

/// Feeds claimed per pass at most.
const CLAIM_LIMIT: i64 = 10_000;

/// A worker's leases and claims.
#[derive(Debug)]
pub struct PgLedger {
    store: PgStore,
    worker: WorkerId,
    dedup: DedupConfig,
    /// How long a host lease lasts without renewal.
    lease_ttl: Duration,
    /// The claim of a feed without its own interval lasts this long.
    default_interval: Duration,
    state: Mutex<Held>,
    /// Serialises renewals and claims: a renewal racing a claim would drop
    /// the hosts just claimed from `state`.
    leasing: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct Held {
    /// Held host leases, by host.
    hosts: HashMap<String, HostLease>,
    /// The claimed feeds, each with the lease it was claimed under.
    feeds: HashMap<FeedId, Claimed>,
    /// When the leases last renewed expire, by this process's clock (not
    /// the database's: no clock is compared with another's), less a margin
    /// for a fetch to be written.
    valid_until: Instant,
}

/// A feed this worker claimed: its write is fenced on the lease it was
/// claimed under, never on a later lease of the same host. A worker paused
/// past its lease may take the host again at a new epoch when it wakes up;
/// a fetch it started under the old epoch is then another worker's to
/// repeat, so writing it would be a second copy of that feed's pass.
#[derive(Debug)]
struct Claimed {
    host: String,
    epoch: i64,
    /// When its fetch must have started (`ClaimedFeed::start_within`).
    start_by: Instant,
}

impl Claimed {
    /// The lease it was claimed under, if it is among `hosts` at the same
    /// epoch.
    fn lease_in<'h>(&self, hosts: &'h HashMap<String, HostLease>) -> Option<&'h HostLease> {
        hosts.get(&self.host).filter(|l| l.epoch == self.epoch)
    }
}

impl Held {
    /// The lease `feed` was claimed under, if this worker still holds it.
    fn lease_of(&self, feed: FeedId) -> Option<&HostLease> {
        self.feeds.get(&feed)?.lease_in(&self.hosts)
    }
}

impl PgLedger {
    /// A ledger for `worker` (registered with [`PgStore::register_worker`]).
    pub fn new(
        store: PgStore,
        worker: WorkerId,
        dedup: DedupConfig,
        lease_ttl: Duration,
        default_interval: Duration,
    ) -> PgLedger {
        PgLedger {
            store,
            worker,
            dedup,
            lease_ttl,
            default_interval,
            state: Mutex::new(Held {
                hosts: HashMap::new(),
                feeds: HashMap::new(),
                valid_until: Instant::now(),
            }),
            leasing: tokio::sync::Mutex::new(()),
        }
    }

    /// The store.
    pub fn store(&self) -> &PgStore {
        &self.store
    }

    /// This worker.
    pub fn worker(&self) -> WorkerId {
        self.worker
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The host leases held now.
    pub fn leases(&self) -> Vec<HostLease> {
        self.held().hosts.values().cloned().collect()
    }

    /// Renews the leases held and drops the lost ones (every couple of
    /// seconds, passes or not, so a long pass keeps its hosts). Returns
    /// the leases still held.
    pub async fn renew_leases(&self) -> Result<Vec<HostLease>, PgError> {
        let _leasing = self.leasing.lock().await;
        self.renew().await
    }

    async fn renew(&self) -> Result<Vec<HostLease>, PgError> {
        self.store.heartbeat(self.worker).await?;
        let held = self.leases();
        let asked = Instant::now();
        let renewed = self.store.renew_hosts(&held, self.lease_ttl).await?;
        for lost in held
            .iter()
            .filter(|l| !renewed.iter().any(|r| r.host == l.host))
        {
            tracing::warn!(host = %lost.host, epoch = lost.epoch, "host lease lost; its feeds are left to the worker that holds it now");
        }
        self.keep(renewed.clone(), asked);
        Ok(renewed)
    }

    /// Keeps `leases` (renewed or claimed when `asked`) as the ones held.
    fn keep(&self, leases: Vec<HostLease>, asked: Instant) {
        let mut state = self.held();
        let Held {
            hosts,
            feeds,
            valid_until,
        } = &mut *state;
        *hosts = leases.into_iter().map(|l| (l.host.clone(), l)).collect();
        feeds.retain(|_, c| c.lease_in(hosts).is_some());
        *valid_until = asked + self.lease_ttl.mul_f64(0.8);
    }

    /// Renews the leases held, gives back those above this worker's fair
    /// share (hosts ÷ live workers, rounded up), and claims free hosts up
    /// to it (at the start of each pass). Returns how many hosts are held.
    pub async fn refresh_leases(&self) -> Result<usize, PgError> {
        let _leasing = self.leasing.lock().await;
        let asked = Instant::now();
        let mut renewed = self.renew().await?;
        let share = self.store.fair_share(self.lease_ttl).await?;
        if renewed.len() > share {
            renewed.sort_by(|a, b| a.host.cmp(&b.host));
            let extra = renewed.split_off(share);
            self.store.release_hosts(&extra).await?;
        } else if renewed.len() < share {
            let more = i64::try_from(share - renewed.len()).unwrap_or(i64::MAX);
            renewed.extend(
                self.store
                    .claim_hosts(self.worker, more, self.lease_ttl)
                    .await?,
            );
        }
        let held = renewed.len();
        self.keep(renewed, asked);
        Ok(held)
    }

    /// Whether the lease a claimed feed's write is fenced on is still held,
    /// by this process's reckoning.
    fn may_write(&self, feed: FeedId) -> bool {
        let state = self.held();
        Instant::now() < state.valid_until && state.lease_of(feed).is_some()
    }

    /// Gives every lease back (at a clean exit), so other workers take the
    /// hosts at once instead of after the expiry.
    pub async fn release_all(&self) -> Result<(), PgError> {
        let leases = self.leases();
        self.store.release_hosts(&leases).await?;
        let mut state = self.held();
        state.hosts.clear();
        state.feeds.clear();
        Ok(())
    }
}

impl Ledger for PgLedger {
    /// The due feeds of the hosts held (`all` does not apply: on a shared
    /// database a feed is polled when due, whoever asks).
    async fn due(
        &self,
        _all: bool,
    ) -> Result<(Vec<DueFeed>, HashMap<String, HostState>), StoreError> {
        self.refresh_leases().await?;
        let leases = self.leases();
        let claimed = Instant::now();
        let claim = self
            .store
            .claim_due_feeds(&leases, CLAIM_LIMIT, self.default_interval, self.lease_ttl)
            .await?;
        let ids: Vec<i64> = claim.feeds.iter().map(|f| f.id).collect();
        let due = self.store.due_details(&ids).await?;
        let throttled = self.store.host_states(&leases).await?;
        let mut state = self.held();
        for host in &claim.lost {
            state.hosts.remove(host);
        }
        for f in &claim.feeds {
            let Some(lease) = leases.iter().find(|l| l.host == f.host) else {
                continue;
            };
            state.feeds.insert(
                FeedId(f.id),
                Claimed {
                    host: f.host.clone(),
                    epoch: lease.epoch,
                    start_by: claimed + f.start_within,
                },
            );
        }
        Ok((due, throttled))
    }

    /// Whether a claimed feed may be fetched now: its host still held, and
    /// its claim young enough that its in-flight mark outlasts the fetch by
    /// an interval (else the pass gives it back and a later one claims it).
    fn may_fetch(&self, feed: FeedId) -> bool {
        self.may_write(feed)
            && self
                .held()
                .feeds
                .get(&feed)
                .is_some_and(|c| Instant::now() < c.start_by)
    }

    async fn release_claim(&self, feed: FeedId) {
        self.held().feeds.remove(&feed);
        if let Err(e) = self.store.release_claim(self.worker, feed).await {
            tracing::warn!(
                feed = feed.0,
                "giving back an unfetched feed failed: {e}; it is polled after its claim runs out"
            );
        }
    }

    async fn feed_context(
        &self,
        feed: FeedId,
        keys: Vec<(String, i64)>,
    ) -> Result<(Vec<bool>, Option<String>), StoreError> {
        Ok(self.store.feed_context(feed, &keys).await?)
    }

    async fn record(&self, update: FeedUpdate) -> Result<IngestReport, StoreError> {
        let lease = self.held().lease_of(update.feed).cloned();
        // One feed's write that fails is that feed's: the pass goes on, and
        // the feed is held off for an interval (`hold_off`). As errors, a host lost while the fetch was in flight, or
        // a connection the server closed under a paused worker (its pooled
        // connections are dead when it wakes up), ended the whole pass and
        // dropped the pass's other fetches in flight, answered but unwritten.
        let written = match lease {
            Some(lease) => self.store.record_update(&lease, &self.dedup, &update).await,
            None => Err(PgError::Fenced {
                what: format!(
                    "feed {} (the host lease it was claimed under is no longer held)",
                    update.feed.0
                ),
                epoch: 0,
            }),
        };
        self.held().feeds.remove(&update.feed);
        let e = match written {
            Ok(report) => return Ok(report),
            Err(e) => e,
        };
        self.hold_off(&update).await;
        match e {
            PgError::Fenced { .. } => {
                tracing::warn!(feed = update.feed.0, "write refused, nothing stored: {e}; the feed is polled again after its interval");
                Ok(IngestReport::default())
            }
            e => {
                // tokio-postgres says only "db error"; the server's message
                // is further down the chain.
                let mut why = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    why = format!("{why}: {s}");
                    source = s.source();
                }
                tracing::warn!(feed = update.feed.0, "write failed, nothing stored: {why}; the feed is polled again after its interval");
                Ok(IngestReport::default())
            }
        }
    }
}

impl PgLedger {
    /// After a fetch whose write was refused or failed: keeps the feed from
    /// being fetched again within its interval of that fetch, by anyone.
    ///
    /// A worker frozen between checking its claim and sending the request
    /// (SIGSTOP, a stalled VM) fetches after its claim's window; the claim's
    /// in-flight mark, counted from the claim, then runs out less than an
    /// interval after the request the server saw. The interval is counted
    /// from now, not from `update.fetched_at`: the freeze may also have
    /// come between taking that time and sending the request. Only the mark
    /// moves: it never writes data, so it needs no lease, and it can only
    /// delay.
    async fn hold_off(&self, update: &FeedUpdate) {
        if let Err(e) = self
            .store
            .hold_off(update.feed, self.default_interval)
            .await
        {
            tracing::warn!(
                feed = update.feed.0,
                "marking an unwritten fetch failed: {e}; the feed may be fetched again within its interval"
            );
        }
    }
}

impl PgStore {
    /// Keeps `feed` from being claimed for its interval (or `default`)
    /// from now: after a fetch that was not written.
    pub async fn hold_off(&self, feed: FeedId, default: Duration) -> Result<(), PgError> {
        let default_secs = i32::try_from(default.as_secs()).unwrap_or(i32::MAX);
        let client = self.client().await?;
        client
            .execute(
                &client
                    .prepare_cached(
                        "UPDATE feed SET in_flight_until = greatest(
                             in_flight_until,
                             clock_timestamp()
                                 + COALESCE(poll_interval_secs, interval_secs, $2) * interval '1 second')
                         WHERE id = $1",
                    )
                    .await?,
                &[&feed.0, &default_secs],
            )
            .await?;
        Ok(())
    }

    /// Clears `worker`'s claim on `feed` (a no-op once another worker
    /// claimed it): only for a feed this worker never started to fetch.
    pub async fn release_claim(&self, worker: WorkerId, feed: FeedId) -> Result<(), PgError> {
        let client = self.client().await?;
        client
            .execute(
                &client
                    .prepare_cached(
                        "UPDATE feed SET in_flight_until = NULL, claimed_by = NULL
                         WHERE id = $1 AND claimed_by = $2",
                    )
                    .await?,
                &[&feed.0, &worker.0],
            )
            .await?;
        Ok(())
    }

    /// Hosts ÷ live workers (heartbeat within `ttl`), rounded up: how many
    /// hosts one worker should hold.
    pub async fn fair_share(&self, ttl: Duration) -> Result<usize, PgError> {
        let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT (SELECT count(*) FROM host_lease),
                        (SELECT count(*) FROM worker
                         WHERE heartbeat > clock_timestamp() - $1::bigint * interval '1 millisecond')",
                &[&ms],
            )
            .await?;
        let (hosts, workers): (i64, i64) = (row.get(0), row.get(1));
        let share = (hosts + workers.max(1) - 1) / workers.max(1);
        Ok(usize::try_from(share).unwrap_or(0))
    }

    /// The throttling state of the hosts of `leases`.
    pub async fn host_states(
        &self,
        leases: &[HostLease],
    ) -> Result<HashMap<String, HostState>, PgError> {
        let hosts: Vec<&str> = leases.iter().map(|l| l.host.as_str()).collect();
        let rows = self
            .client()
            .await?
            .query(
                "SELECT name, throttle_streak, throttled_until FROM host WHERE name = ANY($1)",
                &[&hosts],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let name: String = r.get(0);
                let state = HostState {
                    name: name.clone(),
                    streak: u32::try_from(r.get::<_, i32>(1)).unwrap_or(0),
                    throttled_until: r.get(2),
                };
                (name, state)
            })
            .collect())
    }
}
