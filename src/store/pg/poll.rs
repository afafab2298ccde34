//! The poller's side: claim the due feeds of the hosts a worker holds,
//! record what their fetches gave. Both are fenced on the host leases.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::lease::{fence, lease_arrays, Fence, HostLease};
use super::{PgError, PgStore};

/// A feed handed to this worker to fetch now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedFeed {
    /// `feed.id`.
    pub id: i64,
    /// The feed URL as configured.
    pub url: String,
    /// Where to fetch it when it moved (a permanent redirect), else `None`.
    pub fetch_url: Option<String>,
    /// The host whose lease covers it.
    pub host: String,
    /// Validators from the last fetch.
    pub etag: Option<String>,
    /// Validators from the last fetch.
    pub last_modified: Option<String>,
    /// Not claimed again before this, whatever happens to this worker.
    pub in_flight_until: DateTime<Utc>,
    /// The fetch must start within this of the claim, or the feed is given
    /// back ([`PgStore::claim_due_feeds`]).
    pub start_within: Duration,
}

/// What [`PgStore::claim_due_feeds`] gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DueClaim {
    /// The feeds to fetch now.
    pub feeds: Vec<ClaimedFeed>,
    /// Hosts among those asked whose lease was lost: stop fetching them.
    pub lost: Vec<String>,
}

/// How a fetch ended (`fetch_log.outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchOutcome {
    /// A feed document arrived.
    Ok,
    /// 304: unchanged since the validators.
    NotModified,
    /// No feed: network error, HTTP error, unparsable.
    Error,
}

impl FetchOutcome {
    fn as_str(self) -> &'static str {
        match self {
            FetchOutcome::Ok => "ok",
            FetchOutcome::NotModified => "not_modified",
            FetchOutcome::Error => "error",
        }
    }
}

/// One fetch of a claimed feed, as [`PgStore::record_fetch`] writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRecord {
    /// How it ended.
    pub outcome: FetchOutcome,
    /// The HTTP status, when an answer arrived.
    pub status: Option<i32>,
    /// Body bytes read.
    pub bytes: i64,
    /// Wall time of the fetch.
    pub duration_ms: i64,
    /// Entries the fetch added.
    pub new_entries: i32,
    /// What went wrong, for [`FetchOutcome::Error`].
    pub error: Option<String>,
    /// New validators (kept as they were when `None`).
    pub etag: Option<String>,
    /// New validators (kept as they were when `None`).
    pub last_modified: Option<String>,
    /// When the feed is due next, from now.
    pub next_due_in: Duration,
}

impl PgStore {
    /// Claims up to `limit` due feeds among the hosts of `leases` (all of
    /// one worker) and marks them in flight for one poll interval (the
    /// feed's own, else `default_interval`) plus a start window (`window`,
    /// at most the interval), so no worker, this one after a restart
    /// included, claims them again before then. The claimer starts a fetch
    /// within the window or gives the feed back (`PgLedger::may_fetch`), so
    /// the mark outlasts every fetch start by an interval: a worker that
    /// dies mid-fetch leaves its feed one interval late, never fetched twice
    /// within an interval. (A mark of one interval from the claim let a feed
    /// whose fetch started late in a long pass be fetched again seconds
    /// after its worker died.)
    ///
    /// Due: active, not disabled, `next_due_at` passed (or never set), not
    /// in flight, no Retry-After or host throttle in force. The leases are
    /// fenced in the same transaction; hosts whose lease was lost are
    /// returned in [`DueClaim::lost`] and none of their feeds is claimed.
    pub async fn claim_due_feeds(
        &self,
        leases: &[HostLease],
        limit: i64,
        default_interval: Duration,
        window: Duration,
    ) -> Result<DueClaim, PgError> {
        let Some((owner, hosts, epochs)) = lease_arrays(leases) else {
            return Ok(DueClaim::default());
        };
        let default_secs = i32::try_from(default_interval.as_secs()).unwrap_or(i32::MAX);
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // The fence of many leases at once: the held ones, locked as
        // `lease::fence` locks one host.
        let fence_all = tx
            .prepare_cached(
                "SELECT l.host FROM host_lease l
                 JOIN unnest($1::text[], $2::bigint[]) AS h(host, epoch)
                   ON l.host = h.host AND l.epoch = h.epoch
                 WHERE l.owner = $3 AND l.expires_at > clock_timestamp()
                 FOR KEY SHARE OF l",
            )
            .await?;
        let held: Vec<String> = tx
            .query(&fence_all, &[&hosts, &epochs, &owner.0])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let lost: Vec<String> = hosts
            .iter()
            .filter(|h| !held.iter().any(|k| k == *h))
            .map(|h| (*h).to_owned())
            .collect();
        let claim = tx
            .prepare_cached(
                "UPDATE feed f
                 SET in_flight_until = clock_timestamp()
                         + COALESCE(f.poll_interval_secs, f.interval_secs, $3) * interval '1 second'
                         + LEAST(COALESCE(f.poll_interval_secs, f.interval_secs, $3)::bigint * 1000, $5)
                           * interval '1 millisecond',
                     claimed_by = $2
                 FROM (SELECT d.id FROM feed d
                       WHERE d.host = ANY($1) AND d.active AND d.disabled_at IS NULL
                         AND (d.next_due_at IS NULL OR d.next_due_at <= clock_timestamp())
                         AND (d.in_flight_until IS NULL OR d.in_flight_until <= clock_timestamp())
                         AND (d.retry_after_until IS NULL OR d.retry_after_until <= clock_timestamp())
                         AND NOT EXISTS (SELECT 1 FROM host t WHERE t.name = d.host
                                         AND t.throttled_until > clock_timestamp())
                       ORDER BY d.next_due_at NULLS FIRST, d.id
                       LIMIT $4
                       FOR UPDATE SKIP LOCKED) due
                 WHERE f.id = due.id
                 RETURNING f.id, f.url, f.fetch_url, f.host, f.etag, f.last_modified,
                           f.in_flight_until,
                           LEAST(COALESCE(f.poll_interval_secs, f.interval_secs, $3)::bigint * 1000, $5)",
            )
            .await?;
        let rows = tx
            .query(
                &claim,
                &[&held, &owner.0, &default_secs, &limit, &window_ms],
            )
            .await?;
        tx.commit().await?;
        let feeds = rows
            .iter()
            .map(|r| ClaimedFeed {
                id: r.get(0),
                url: r.get(1),
                fetch_url: r.get(2),
                host: r.get(3),
                etag: r.get(4),
                last_modified: r.get(5),
                in_flight_until: r.get(6),
                start_within: Duration::from_millis(u64::try_from(r.get::<_, i64>(7)).unwrap_or(0)),
            })
            .collect();
        Ok(DueClaim { feeds, lost })
    }

    /// Records a fetch of feed `feed_id` (of `lease`'s host): a `fetch_log`
    /// row, the feed's status and validators, its next due time, and the end
    /// of its in-flight mark, in one transaction fenced on `lease`. Refused
    /// with [`PgError::Fenced`], writing nothing, once the lease is lost.
    pub async fn record_fetch(
        &self,
        lease: &HostLease,
        feed_id: i64,
        fetch: &FetchRecord,
    ) -> Result<(), PgError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        fence(&tx, Fence::Host(lease)).await?;
        let succeeded = fetch.outcome != FetchOutcome::Error;
        let next_due_ms = i64::try_from(fetch.next_due_in.as_millis()).unwrap_or(i64::MAX);
        let update = tx
            .prepare_cached(
                "UPDATE feed SET
                     last_fetch_at = clock_timestamp(),
                     last_success_at = CASE WHEN $3 THEN clock_timestamp() ELSE last_success_at END,
                     last_status = $4,
                     last_error = $5,
                     error_count = CASE WHEN $3 THEN 0 ELSE error_count + 1 END,
                     etag = COALESCE($6, etag),
                     last_modified = COALESCE($7, last_modified),
                     next_due_at = clock_timestamp() + $8::bigint * interval '1 millisecond',
                     in_flight_until = NULL,
                     claimed_by = NULL
                 WHERE id = $1 AND host = $2",
            )
            .await?;
        let updated = tx
            .execute(
                &update,
                &[
                    &feed_id,
                    &lease.host,
                    &succeeded,
                    &fetch.status,
                    &fetch.error,
                    &fetch.etag,
                    &fetch.last_modified,
                    &next_due_ms,
                ],
            )
            .await?;
        if updated == 0 {
            // The feed moved to another host (or is gone): not this lease's
            // to write.
            return Err(PgError::Fenced {
                what: format!("feed {feed_id} on host {}", lease.host),
                epoch: lease.epoch,
            });
        }
        let log = tx
            .prepare_cached(
                "INSERT INTO fetch_log (feed_id, fetched_at, outcome, status, bytes, duration_ms,
                                        new_entries, error, worker_id)
                 VALUES ($1, clock_timestamp(), $2, $3, $4, $5, $6, $7, $8)",
            )
            .await?;
        tx.execute(
            &log,
            &[
                &feed_id,
                &fetch.outcome.as_str(),
                &fetch.status,
                &fetch.bytes,
                &fetch.duration_ms,
                &fetch.new_entries,
                &fetch.error,
                &lease.owner.0,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
