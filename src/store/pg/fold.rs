//! The folder's side on PostgreSQL: the one elected process takes analysed
//! entries from `fold_queue` in the order they were queued and decides
//! their stories, fenced on its role lease. Serialising the decisions is
//! what keeps one story per syndicated group when two workers ingest two
//! copies in the same second: under READ COMMITTED, two concurrent
//! deciders would each miss the other's uncommitted copy and start two
//! stories. The pollers did the analysis (the CPU cost); the folder only
//! looks up candidates and verifies.
//!
//! The same engine decides as on SQLite ([`dedup::decide`]) on the same
//! candidates (exact fingerprint or a shared band key inside the window,
//! plus their stories' canonical copies), so a database folds alike on
//! either store.

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;

use super::lease::{fence, Fence, RoleLease};
use super::search::SEARCH_VECTOR_SQL;
use super::text::{norm_text, NORM_COLUMNS};
use super::{PgError, PgStore};
use crate::dedup::{
    self, Analysis, Candidate, DedupConfig, Fingerprint, Relation, Signature, Verdict,
};
use crate::store::fold::{canonical_of, Copy};

/// Most entries read per band key (a key shared by hundreds is a template).
const PER_KEY_LIMIT: i64 = 16;
/// Most candidates verified per newcomer.
const MAX_CANDIDATES: usize = 64;

/// What one folding step did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FoldReport {
    /// Entries taken from the queue.
    pub entries: usize,
    /// Of those, how many started a story.
    pub new_stories: usize,
    /// Of those, how many joined one.
    pub folded: usize,
}

impl PgStore {
    /// Folds up to `max` queued entries in one transaction fenced on the
    /// folder's `lease`; refused ([`PgError::Fenced`], nothing written) once
    /// another process holds the role. The batch ends early, with what is
    /// folded so far, once half of what was left of the lease is spent: a
    /// batch that outlasted the lease was cancelled by the fence's timeout
    /// and retried whole, and a slow folder never drained its queue.
    pub async fn fold_queued(
        &self,
        lease: &RoleLease,
        cfg: &DedupConfig,
        max: i64,
    ) -> Result<FoldReport, PgError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let left = fence(&tx, Fence::Role(lease)).await?;
        let stop_at = std::time::Instant::now() + left / 2;
        let rows = tx
            .query(
                &format!(
                    "SELECT q.entry_id, q.credits, q.bands, e.feed_id, e.norm_title, e.signature,
                            e.window_at, e.fingerprint, {NORM_COLUMNS}
                     FROM fold_queue q JOIN entry e ON e.id = q.entry_id
                     ORDER BY q.seq LIMIT $1"
                ),
                &[&max],
            )
            .await?;
        let now = Utc::now();
        let mut report = FoldReport::default();
        let mut taken = Vec::new();
        for row in &rows {
            if !taken.is_empty() && std::time::Instant::now() >= stop_at {
                break;
            }
            let entry: i64 = row.get(0);
            taken.push(entry);
            let bands: Vec<i64> = row.get(2);
            let window_at: i64 = row.get(6);
            let signature = Signature::from_bytes(&row.get::<_, Vec<u8>>(5)).ok();
            let text = norm_text(row, 8, entry);
            let analysis = signature.zip(text).map(|(signature, text)| {
                Analysis::restore(
                    row.get::<_, Option<String>>(4).unwrap_or_default(),
                    text,
                    row.get(1),
                    signature,
                )
            });
            let verdict = match &analysis {
                Some(a) if a.exact == Fingerprint::from_sql(row.get(7)) => {
                    let found = candidates(&tx, cfg, a, &bands, entry, window_at).await?;
                    dedup::decide(a, row.get(3), &found, cfg)
                }
                // A damaged or foreign-version analysis starts its own story.
                _ => None,
            };
            tx.execute(
                &tx.prepare_cached(
                    "INSERT INTO band_key (key, window_at, entry_id)
                 SELECT k, $2, $3 FROM unnest($1::bigint[]) AS k ON CONFLICT DO NOTHING",
                )
                .await?,
                &[&bands, &window_at, &entry],
            )
            .await?;
            match verdict {
                Some(v) => {
                    join_story(&tx, entry, &v, now).await?;
                    report.folded += 1;
                }
                None => {
                    let origin = analysis.as_ref().and_then(Analysis::origin_agency);
                    start_story(&tx, entry, origin, now).await?;
                    report.new_stories += 1;
                }
            }
            report.entries += 1;
        }
        tx.execute(
            &tx.prepare_cached("DELETE FROM fold_queue WHERE entry_id = ANY($1)")
                .await?,
            &[&taken],
        )
        .await?;
        tx.commit().await?;
        Ok(report)
    }

    /// Entries waiting for the folder, and how long the oldest has waited.
    pub async fn fold_backlog(&self) -> Result<(i64, Duration), PgError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT count(*), COALESCE(extract(epoch FROM clock_timestamp() - min(queued_at)), 0)::float8
                 FROM fold_queue",
                &[],
            )
            .await?;
        let waited = Duration::try_from_secs_f64(row.get::<_, f64>(1)).unwrap_or_default();
        Ok((row.get(0), waited))
    }

    /// Indexes up to `max` entries that full-text search cannot find yet.
    /// Idempotent: any process may run it; the folder does.
    pub async fn index_unindexed(&self, max: i64) -> Result<u64, PgError> {
        let client = self.client().await?;
        let sql = format!(
            "UPDATE entry SET search = {SEARCH_VECTOR_SQL}
             WHERE id IN (SELECT id FROM entry WHERE search IS NULL ORDER BY id LIMIT $1
                          FOR UPDATE SKIP LOCKED)"
        );
        Ok(client.execute(&sql, &[&max]).await?)
    }

    /// Deletes band keys older than the window; run by the leader.
    pub async fn trim_band_keys(
        &self,
        leader: &RoleLease,
        window: Duration,
    ) -> Result<u64, PgError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        fence(&tx, Fence::Role(leader)).await?;
        let window = i64::try_from(window.as_secs()).unwrap_or(i64::MAX / 4);
        let horizon = Utc::now()
            .timestamp()
            .saturating_sub(window.saturating_mul(2));
        let n = tx
            // By the hour, the index the trim has (migration 0003). The cast:
            // `$1 / 3600` alone makes PostgreSQL infer an `integer` parameter.
            .execute(
                "DELETE FROM band_key WHERE window_at / 3600 < $1::bigint / 3600",
                &[&horizon],
            )
            .await?;
        tx.commit().await?;
        Ok(n)
    }
}

/// Folded entries that may be copies of the newcomer (see the SQLite
/// store's `fold::candidates`, whose rules these are).
async fn candidates(
    tx: &Transaction<'_>,
    cfg: &DedupConfig,
    a: &Analysis,
    bands: &[i64],
    me: i64,
    window_at: i64,
) -> Result<Vec<Candidate>, PgError> {
    let window = i64::try_from(cfg.window.as_secs()).unwrap_or(i64::MAX / 4);
    let (from, to) = (
        window_at.saturating_sub(window),
        window_at.saturating_add(window),
    );
    let mut ids: Vec<i64> = tx
        .query(
            "SELECT e.id FROM entry e JOIN story_entry se ON se.entry_id = e.id
             WHERE e.fingerprint = $1 AND e.window_at BETWEEN $2 AND $3 ORDER BY e.id LIMIT $4",
            &[&a.exact.to_sql(), &from, &to, &PER_KEY_LIMIT],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    // The primary key (key, window_at, entry_id) answers this alone: both
    // bounds are its conditions and it yields the order, so the scan stops
    // at the limit. No other index of band_key can serve the conditions
    // (migration 0003), whatever the statistics say.
    let by_key = tx
        .query(
            "SELECT k.key, b.entry_id FROM unnest($1::bigint[]) WITH ORDINALITY AS k(key, n)
             CROSS JOIN LATERAL (SELECT entry_id FROM band_key
                                 WHERE key = k.key AND window_at BETWEEN $2 AND $3
                                 ORDER BY key, window_at, entry_id LIMIT $4) b
             ORDER BY k.n, b.entry_id",
            &[&bands, &from, &to, &PER_KEY_LIMIT],
        )
        .await?;
    for r in &by_key {
        let id: i64 = r.get(1);
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids.retain(|&id| id != me);
    ids.truncate(MAX_CANDIDATES);
    let mut out = load_candidates(tx, &ids).await?;
    // The canonical copy of every story found, even when it was not a candidate itself.
    let mut stories: Vec<i64> = out.iter().map(|c| c.story_id).collect();
    stories.sort_unstable();
    stories.dedup();
    let canonicals: Vec<i64> = tx
        .query(
            "SELECT canonical_entry_id FROM story WHERE id = ANY($1) ORDER BY id",
            &[&stories],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .filter(|&c: &i64| c != me && !out.iter().any(|k| k.entry_id == c))
        .collect();
    out.extend(load_candidates(tx, &canonicals).await?);
    Ok(out)
}

/// Folded entries as [`Candidate`]s, in the order of `ids`, in one query;
/// entries analysed by another algorithm version or damaged are left out
/// (never fatal).
async fn load_candidates(tx: &Transaction<'_>, ids: &[i64]) -> Result<Vec<Candidate>, PgError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let version = i32::try_from(dedup::ALGORITHM_VERSION).unwrap_or(i32::MAX);
    let rows = tx
        .query(
            &tx.prepare_cached(&format!(
                "SELECT e.id, se.story_id, e.fingerprint, e.norm_title, e.signature,
                        e.window_at, s.canonical_entry_id = e.id, e.feed_id, {NORM_COLUMNS}
                 FROM unnest($1::bigint[]) WITH ORDINALITY AS k(id, n)
                 JOIN entry e ON e.id = k.id
                 JOIN story_entry se ON se.entry_id = e.id JOIN story s ON s.id = se.story_id
                 WHERE e.fingerprint_version = $2 AND e.signature IS NOT NULL
                 ORDER BY k.n"
            ))
            .await?,
            &[&ids, &version],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            let signature = Signature::from_bytes(&row.get::<_, Vec<u8>>(4)).ok()?;
            let entry_id: i64 = row.get(0);
            Some(Candidate {
                entry_id,
                story_id: row.get(1),
                exact: Fingerprint::from_sql(row.get(2)),
                title: row.get::<_, Option<String>>(3).unwrap_or_default(),
                text: norm_text(row, 8, entry_id)?,
                signature,
                published: row.get(5),
                is_canonical: row.get(6),
                feed: row.get(7),
            })
        })
        .collect())
}

/// A story of one copy, its own canonical copy and origin.
async fn start_story(
    tx: &Transaction<'_>,
    entry: i64,
    origin: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), PgError> {
    let story: i64 = tx
        .query_one(
            "INSERT INTO story (canonical_entry_id, published_at, first_seen_at, last_seen_at,
                                source_count, origin_agency)
             SELECT id, COALESCE(published_at, first_seen_at), first_seen_at, $2, 1, $3
             FROM entry WHERE id = $1
             RETURNING id",
            &[&entry, &now, &origin],
        )
        .await?
        .get(0);
    tx.execute(
        &tx.prepare_cached(
            "INSERT INTO story_entry (entry_id, story_id, relation, similarity, linked_at)
         VALUES ($1, $2, 'canonical', 1.0, $3)",
        )
        .await?,
        &[&entry, &story, &now],
    )
    .await?;
    Ok(())
}

async fn join_story(
    tx: &Transaction<'_>,
    entry: i64,
    v: &Verdict,
    now: DateTime<Utc>,
) -> Result<(), PgError> {
    let relation = match v.relation {
        // The engine never hands out `canonical`; the store decides that.
        Relation::Canonical | Relation::Exact => Relation::Exact,
        Relation::Near => Relation::Near,
    };
    tx.execute(
        &tx.prepare_cached(
            "INSERT INTO story_entry (entry_id, story_id, relation, similarity, linked_at)
         VALUES ($1, $2, $3, $4, $5)",
        )
        .await?,
        &[
            &entry,
            &v.story_id,
            &relation.as_str(),
            &v.similarity.clamp(0.0, 1.0),
            &now,
        ],
    )
    .await?;
    recompute_story(tx, v.story_id, Some(now)).await?;
    Ok(())
}

/// How a story came out of [`recompute_story`].
pub(super) enum Repair {
    /// It had no copies left (or was gone already) and is deleted.
    Deleted,
    /// Another copy became canonical.
    Promoted,
    /// The canonical copy stayed; counts and times were re-derived.
    Recounted,
}

/// Re-derives a story's canonical copy, origin agency, published time and
/// source count from its copies (the SQLite store's rule, same engine
/// functions), or deletes it when none are left. `seen` is news of the
/// story (a copy joined or was re-folded) and advances `last_seen_at`;
/// retention passes `None`, as pruning is not news.
pub(super) async fn recompute_story(
    tx: &Transaction<'_>,
    story: i64,
    seen: Option<DateTime<Utc>>,
) -> Result<Repair, PgError> {
    let Some(before) = tx
        .query_opt(
            "SELECT canonical_entry_id FROM story WHERE id = $1",
            &[&story],
        )
        .await?
    else {
        return Ok(Repair::Deleted);
    };
    let canonical: i64 = before.try_get(0)?;
    let copies = tx
        .query(
            &tx.prepare_cached(
                "SELECT se.entry_id, e.window_at, f.agency, e.credited_agency, se.relation,
                        se.similarity, e.feed_id
                 FROM story_entry se JOIN entry e ON e.id = se.entry_id JOIN feed f ON f.id = e.feed_id
                 WHERE se.story_id = $1 ORDER BY e.window_at, e.id",
            )
            .await?,
            &[&story],
        )
        .await?
        .iter()
        .map(|r| {
            let credited: Option<String> = r.try_get(3)?;
            Ok(Copy {
                entry_id: r.try_get(0)?,
                feed: r.try_get(6)?,
                window_at: r.try_get(1)?,
                feed_agency: r.try_get(2)?,
                origin: Copy::origin_of(credited),
                relation: r.try_get(4)?,
                similarity: r.try_get(5)?,
            })
        })
        .collect::<Result<Vec<Copy>, PgError>>()?;
    if copies.is_empty() {
        tx.execute(
            &tx.prepare_cached("DELETE FROM story WHERE id = $1").await?,
            &[&story],
        )
        .await?;
        return Ok(Repair::Deleted);
    }
    let (chosen, origin) = canonical_of(&copies);
    let new = &copies[chosen];
    if new.relation != "canonical" {
        // The old canonical copy takes the promoted copy's relation; the
        // one-canonical index forbids two at any moment, so demote first.
        if let Some(old) = copies.iter().find(|c| c.relation == "canonical") {
            tx.execute(
                &tx.prepare_cached(
                    "UPDATE story_entry SET relation = $2, similarity = $3 WHERE entry_id = $1",
                )
                .await?,
                &[&old.entry_id, &new.relation, &new.similarity],
            )
            .await?;
        }
        tx.execute(&tx.prepare_cached("UPDATE story_entry SET relation = 'canonical', similarity = 1.0 WHERE entry_id = $1").await?,
            &[&new.entry_id],
        )
        .await?;
    }
    // `greatest` ignores a NULL `seen`: the time stays.
    tx.execute(&tx.prepare_cached("UPDATE story SET canonical_entry_id = $2, origin_agency = $3,
            last_seen_at = greatest(last_seen_at, $4),
            published_at = (SELECT COALESCE(published_at, first_seen_at) FROM entry WHERE id = $2),
            first_seen_at = (SELECT min(e.first_seen_at) FROM story_entry se JOIN entry e ON e.id = se.entry_id
                             WHERE se.story_id = $1),
            source_count = (SELECT count(DISTINCT e.feed_id) FROM story_entry se JOIN entry e ON e.id = se.entry_id
                            WHERE se.story_id = $1)
         WHERE id = $1").await?,
        &[&story, &new.entry_id, &origin, &seen],
    )
    .await?;
    Ok(if new.entry_id != canonical {
        Repair::Promoted
    } else {
        Repair::Recounted
    })
}
