//! Coordination through the database: workers, host leases, role leases
//! and the epoch fence.
//!
//! A lease is a row `(owner, epoch, expires_at)`. Taking it over (free,
//! released or expired) sets a new owner and `epoch + 1`; renewing keeps
//! the epoch and moves the expiry. Every write a worker makes for a host or
//! a role first passes [`fence`] inside its transaction: the lease row must
//! still name this owner at this epoch and not have expired, and it stays
//! locked until the commit, so no takeover can slip in between the check
//! and the commit (a host's row `FOR KEY SHARE`, which the holder's own
//! renewals do not wait for). All times are the database's
//! `clock_timestamp()`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;

use super::{PgError, PgStore};

/// A row of `worker`: one process that joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerId(pub i64);

/// A host this worker holds: it alone fetches the host's feeds until
/// `expires_at`, and its writes for them carry `epoch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLease {
    /// Lower-case host name (`feed.host`).
    pub host: String,
    /// The holder.
    pub owner: WorkerId,
    /// Grows by one on every takeover.
    pub epoch: i64,
    /// The database's time past which the lease is free.
    pub expires_at: DateTime<Utc>,
}

/// A role one process plays for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Config sync, retention, the band-window trim: once, not N times.
    Leader,
    /// The dedup decisions, serialised.
    Folder,
}

impl Role {
    /// The value in `role_lease.role`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Leader => "leader",
            Role::Folder => "folder",
        }
    }
}

/// A role this worker holds, like [`HostLease`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleLease {
    /// The role.
    pub role: Role,
    /// The holder.
    pub owner: WorkerId,
    /// Grows by one whenever the role changes hands.
    pub epoch: i64,
    /// The database's time past which another worker may take the role.
    pub expires_at: DateTime<Utc>,
}

/// What a write is made under: [`fence`] refuses it once this is lost.
#[derive(Debug, Clone, Copy)]
pub enum Fence<'a> {
    /// A write for one of the host's feeds.
    Host(&'a HostLease),
    /// A write made in a role (fold, prune, sync).
    Role(&'a RoleLease),
}

/// Whole milliseconds of `d`, as PostgreSQL takes them.
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The machine's name, for `worker.host` (operators read it; nothing
/// depends on it).
fn machine_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The leases of one worker as SQL arrays (`unnest($hosts, $epochs)`),
/// with their owner; `None` for no lease.
pub(super) fn lease_arrays(leases: &[HostLease]) -> Option<(WorkerId, Vec<&str>, Vec<i64>)> {
    let owner = leases.first()?.owner;
    let hosts = leases.iter().map(|l| l.host.as_str()).collect();
    let epochs = leases.iter().map(|l| l.epoch).collect();
    Some((owner, hosts, epochs))
}

/// The fence of a lease in `$table` keyed by `$key`: locks the row in
/// `$lock` mode if still held, and bounds the transaction by what is left
/// of the lease (at least 1 ms: 0 would mean no timeout).
macro_rules! fence_sql {
    ($table:literal, $key:literal, $lock:literal) => {
        concat!(
            "SELECT set_config('idle_in_transaction_session_timeout', t.ms, true),
                    set_config('statement_timeout', t.ms, true), t.ms
             FROM (SELECT greatest(1, ceil(extract(epoch FROM l.expires_at - clock_timestamp()) * 1000))::bigint::text AS ms
                   FROM ", $table, " l
                   WHERE l.", $key, " = $1 AND l.owner = $2 AND l.epoch = $3
                     AND l.expires_at > clock_timestamp()
                   ", $lock, ") t"
        )
    };
}
// A host's writes take the weakest row lock, FOR KEY SHARE: it conflicts
// with the takeover's FOR UPDATE (so a takeover skips a host mid-write) but
// not with the renewal's or the release's plain UPDATE of non-key columns.
// Under FOR SHARE, a renewal waited for every write in flight on its hosts,
// and the writes that came after queued behind the waiting renewal: under
// load the lease ran out in that queue and the writes were refused.
const FENCE_HOST: &str = fence_sql!("host_lease", "host", "FOR KEY SHARE");
// A role's writes keep FOR SHARE: an election is a plain UPDATE (no
// SKIP LOCKED), which must wait for the old holder's last write to end
// rather than let two folders decide at once.
const FENCE_ROLE: &str = fence_sql!("role_lease", "role", "FOR SHARE");

/// Checks, inside `tx` and before its writes, that the lease in `fence` is
/// still held at its epoch, and locks the lease row until `tx` ends.
/// Returns what is left of the lease, by the database's clock (at least
/// 1 ms), for a writer that sizes its transaction to it.
///
/// A host takeover locks the row `FOR UPDATE SKIP LOCKED`, so it skips a
/// lease whose holder is mid-write, while the holder's renewals go on; a
/// role's election waits for the commit.
/// The transaction's idle and statement timeouts are set to what is left of
/// the lease, so a worker paused mid-transaction is disconnected by the
/// server (its transaction rolled back, the lock freed) rather than holding
/// the host past its lease.
pub async fn fence(tx: &Transaction<'_>, fence: Fence<'_>) -> Result<Duration, PgError> {
    let (sql, key, owner, epoch, what) = match fence {
        Fence::Host(l) => (
            FENCE_HOST,
            l.host.as_str(),
            l.owner,
            l.epoch,
            format!("host {}", l.host),
        ),
        Fence::Role(l) => (
            FENCE_ROLE,
            l.role.as_str(),
            l.owner,
            l.epoch,
            format!("role {}", l.role.as_str()),
        ),
    };
    let stmt = tx.prepare_cached(sql).await?;
    let rows = tx.query(&stmt, &[&key, &owner.0, &epoch]).await?;
    let Some(row) = rows.first() else {
        return Err(PgError::Fenced { what, epoch });
    };
    // Column 2: set_config answers in display units ("5s").
    let ms = row
        .get::<_, Option<String>>(2)
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(1);
    Ok(Duration::from_millis(ms))
}

impl PgStore {
    /// Registers this process as a worker named `name` (with its machine
    /// and pid) and returns its id, which owns its leases.
    pub async fn register_worker(&self, name: &str) -> Result<WorkerId, PgError> {
        let client = self.client().await?;
        let pid = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
        let row = client
            .query_one(
                "INSERT INTO worker (name, host, pid) VALUES ($1, $2, $3) RETURNING id",
                &[&name, &machine_name(), &pid],
            )
            .await?;
        Ok(WorkerId(row.get(0)))
    }

    /// Records that `worker` is alive (for operators and for the leader's
    /// clean-up of dead workers; leases do not depend on it).
    pub async fn heartbeat(&self, worker: WorkerId) -> Result<(), PgError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE worker SET heartbeat = clock_timestamp() WHERE id = $1",
                &[&worker.0],
            )
            .await?;
        Ok(())
    }

    /// Takes up to `max` hosts whose lease is free, released or expired,
    /// for `ttl`, each at a new epoch. Concurrent claimers never get the
    /// same host: each locks its candidates `FOR UPDATE SKIP LOCKED`, and a
    /// row another claimer changed meanwhile is re-checked against its
    /// newest version before it is taken.
    pub async fn claim_hosts(
        &self,
        worker: WorkerId,
        max: i64,
        ttl: Duration,
    ) -> Result<Vec<HostLease>, PgError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "WITH free AS (
                     SELECT host FROM host_lease
                     WHERE owner IS NULL OR expires_at IS NULL OR expires_at <= clock_timestamp()
                     ORDER BY expires_at NULLS FIRST, host
                     LIMIT $2
                     FOR UPDATE SKIP LOCKED)
                 UPDATE host_lease l
                 SET owner = $1, epoch = l.epoch + 1,
                     expires_at = clock_timestamp() + $3::bigint * interval '1 millisecond'
                 FROM free WHERE l.host = free.host
                 RETURNING l.host, l.epoch, l.expires_at",
                &[&worker.0, &max, &millis(ttl)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| HostLease {
                host: r.get(0),
                owner: worker,
                epoch: r.get(1),
                expires_at: r.get(2),
            })
            .collect())
    }

    /// Extends the leases still held (same owner, same epoch, not expired)
    /// to `ttl` from now and returns them; a lease missing from the answer
    /// is lost and its host must no longer be fetched.
    pub async fn renew_hosts(
        &self,
        leases: &[HostLease],
        ttl: Duration,
    ) -> Result<Vec<HostLease>, PgError> {
        let Some((owner, hosts, epochs)) = lease_arrays(leases) else {
            return Ok(Vec::new());
        };
        let client = self.client().await?;
        let rows = client
            .query(
                "UPDATE host_lease l
                 SET expires_at = clock_timestamp() + $4::bigint * interval '1 millisecond'
                 FROM unnest($1::text[], $2::bigint[]) AS h(host, epoch)
                 WHERE l.host = h.host AND l.epoch = h.epoch AND l.owner = $3
                   AND l.expires_at > clock_timestamp()
                 RETURNING l.host, l.epoch, l.expires_at",
                &[&hosts, &epochs, &owner.0, &millis(ttl)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| HostLease {
                host: r.get(0),
                owner,
                epoch: r.get(1),
                expires_at: r.get(2),
            })
            .collect())
    }

    /// Gives the leases back (a clean shutdown): another worker may take
    /// the hosts at once rather than after the expiry. Returns how many were
    /// still held.
    pub async fn release_hosts(&self, leases: &[HostLease]) -> Result<u64, PgError> {
        let Some((owner, hosts, epochs)) = lease_arrays(leases) else {
            return Ok(0);
        };
        let client = self.client().await?;
        Ok(client
            .execute(
                "UPDATE host_lease l SET owner = NULL, expires_at = NULL
                 FROM unnest($1::text[], $2::bigint[]) AS h(host, epoch)
                 WHERE l.host = h.host AND l.epoch = h.epoch AND l.owner = $3",
                &[&hosts, &epochs, &owner.0],
            )
            .await?)
    }

    /// Takes `role` for `ttl` if nobody holds it (or its lease expired), at
    /// a new epoch; returns `None` while another worker holds it. A worker
    /// that already holds it renews it (same epoch). Two workers electing at
    /// once: the second's update waits on the row and re-checks it against
    /// the first's committed version, so one wins.
    pub async fn elect(
        &self,
        worker: WorkerId,
        role: Role,
        ttl: Duration,
    ) -> Result<Option<RoleLease>, PgError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "UPDATE role_lease
                 SET epoch = CASE WHEN owner = $2 AND expires_at > clock_timestamp()
                                  THEN epoch ELSE epoch + 1 END,
                     owner = $2,
                     expires_at = clock_timestamp() + $3::bigint * interval '1 millisecond'
                 WHERE role = $1
                   AND (owner IS NULL OR owner = $2 OR expires_at IS NULL
                        OR expires_at <= clock_timestamp())
                 RETURNING epoch, expires_at",
                &[&role.as_str(), &worker.0, &millis(ttl)],
            )
            .await?;
        Ok(row.map(|r| RoleLease {
            role,
            owner: worker,
            epoch: r.get(0),
            expires_at: r.get(1),
        }))
    }

    /// Extends a role still held at its epoch; `None` once it is lost
    /// (expired or taken over): the worker must stop acting in the role.
    pub async fn renew_role(
        &self,
        lease: &RoleLease,
        ttl: Duration,
    ) -> Result<Option<RoleLease>, PgError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "UPDATE role_lease
                 SET expires_at = clock_timestamp() + $4::bigint * interval '1 millisecond'
                 WHERE role = $1 AND owner = $2 AND epoch = $3
                   AND expires_at > clock_timestamp()
                 RETURNING expires_at",
                &[
                    &lease.role.as_str(),
                    &lease.owner.0,
                    &lease.epoch,
                    &millis(ttl),
                ],
            )
            .await?;
        Ok(row.map(|r| RoleLease {
            expires_at: r.get(0),
            ..lease.clone()
        }))
    }

    /// Gives the role back (clean shutdown). Returns whether it was still held.
    pub async fn release_role(&self, lease: &RoleLease) -> Result<bool, PgError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "UPDATE role_lease SET owner = NULL, expires_at = NULL
                 WHERE role = $1 AND owner = $2 AND epoch = $3",
                &[&lease.role.as_str(), &lease.owner.0, &lease.epoch],
            )
            .await?;
        Ok(n == 1)
    }
}
