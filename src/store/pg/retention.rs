//! Retention on PostgreSQL, with the SQLite store's semantics
//! (src/store/retention.rs): stories no copy joined within the retention
//! period go with all their copies, then entries beyond a feed's cap; each
//! pruned entry leaves a tombstone; a story that lost copies is re-derived
//! from the copies left by the fold engine's own rule, or deleted when none
//! are left; old fetch log rows and stale tombstones go too. One
//! transaction per batch, run by the elected leader (fenced on its lease).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::fold::{recompute_story, Repair};
use super::lease::{fence, Fence, RoleLease};
use super::{PgError, PgStore};
use crate::store::retention::{PruneReport, RetentionPolicy};

impl PgStore {
    /// One batch of pruning in one transaction: at most `policy.batch`
    /// entries, fetch log rows and tombstones. Call until it removes
    /// nothing. Under `lease` (the leader's role), the batch commits only
    /// while the lease is held ([`fence`]); `None` for a one-off `feedfold
    /// prune`.
    pub async fn prune_step(
        &self,
        policy: &RetentionPolicy,
        now: DateTime<Utc>,
        lease: Option<&RoleLease>,
    ) -> Result<PruneReport, PgError> {
        let cutoff = now - policy.keep;
        let limit = i64::try_from(policy.batch.max(1)).unwrap_or(i64::MAX);
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if let Some(lease) = lease {
            fence(&tx, Fence::Role(lease)).await?;
        }
        let mut doomed: Vec<i64> = tx
            .query(
                "SELECT se.entry_id FROM story_entry se
                 WHERE se.story_id IN (SELECT id FROM story WHERE last_seen_at < $1
                                       ORDER BY last_seen_at LIMIT $2)
                 ORDER BY se.entry_id",
                &[&cutoff, &limit],
            )
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        // The cap counts the entries that survive the age rule: applied
        // once the age rule has nothing left to do.
        if let (Some(max), true) = (policy.max_entries_per_feed, doomed.is_empty()) {
            let max = i64::try_from(max).unwrap_or(i64::MAX);
            doomed = tx
                .query(
                    "SELECT id FROM (
                         SELECT id, feed_id, row_number() OVER (PARTITION BY feed_id
                             ORDER BY COALESCE(published_at, first_seen_at) DESC, id DESC) AS n
                         FROM entry) ranked
                     WHERE n > $1 ORDER BY feed_id, n LIMIT $2",
                    &[&max, &limit],
                )
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
        }
        let mut report = PruneReport::default();
        let stories: BTreeSet<i64> = tx
            .query(
                "SELECT DISTINCT story_id FROM story_entry WHERE entry_id = ANY($1)",
                &[&doomed],
            )
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        report.tombstones_added = count(
            tx.execute(
                "INSERT INTO tombstone (feed_id, identity, pruned_at, last_listed_at)
                 SELECT feed_id, identity, $2, last_seen_at FROM entry WHERE id = ANY($1)
                 ON CONFLICT (feed_id, identity) DO UPDATE SET pruned_at = excluded.pruned_at,
                     last_listed_at = GREATEST(tombstone.last_listed_at, excluded.last_listed_at)",
                &[&doomed, &now],
            )
            .await?,
        );
        tx.execute(
            "DELETE FROM story_entry WHERE entry_id = ANY($1)",
            &[&doomed],
        )
        .await?;
        for story in stories {
            match recompute_story(&tx, story, None).await? {
                Repair::Deleted => report.stories += 1,
                Repair::Promoted => report.promoted += 1,
                Repair::Recounted => {}
            }
        }
        report.entries = count(
            tx.execute("DELETE FROM entry WHERE id = ANY($1)", &[&doomed])
                .await?,
        );
        report.fetches = count(
            tx.execute(
                "DELETE FROM fetch_log WHERE id IN
                   (SELECT id FROM fetch_log WHERE fetched_at < $1 ORDER BY fetched_at LIMIT $2)",
                &[&cutoff, &limit],
            )
            .await?,
        );
        report.tombstones_expired = count(
            tx.execute(
                "DELETE FROM tombstone WHERE (feed_id, identity) IN
                   (SELECT feed_id, identity FROM tombstone WHERE last_listed_at < $1
                    ORDER BY last_listed_at LIMIT $2)",
                &[&cutoff, &limit],
            )
            .await?,
        );
        tx.commit().await?;
        report.batches = 1;
        Ok(report)
    }

    /// A whole prune: batches until one removes nothing
    /// ([`crate::store::retention::prune`] without the SQLite vacuum: the
    /// server's autovacuum reclaims the space).
    pub async fn prune(
        &self,
        policy: &RetentionPolicy,
        lease: Option<&RoleLease>,
    ) -> Result<PruneReport, PgError> {
        let mut total = PruneReport::default();
        loop {
            let step = self.prune_step(policy, Utc::now(), lease).await?;
            total += step;
            if step.entries == 0
                && step.stories == 0
                && step.fetches == 0
                && step.tombstones_expired == 0
            {
                return Ok(total);
            }
        }
    }
}

fn count(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
