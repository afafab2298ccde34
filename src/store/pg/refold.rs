//! `feedfold refold` on PostgreSQL: entries of a range re-analysed by the
//! process that runs the command (the CPU cost) and handed to the folder
//! through the same queue as new entries, in window order, so the one
//! folder stays the only process that decides stories — a running daemon's
//! folder, or the command itself when no daemon holds the role.
//!
//! As on SQLite, the range is first marked stale (algorithm version 0: no
//! candidate) and its band keys dropped, so each re-queued entry is
//! compared only with entries already refolded, as in live ingest. Between
//! its unlinking and its folding an entry is in the queue, like a new one.

use chrono::{DateTime, Utc};

use super::fold::recompute_story;
use super::text::{html, HTML_COLUMNS};
use super::{PgError, PgStore};
use crate::dedup::{self, BoilerplateModel, DedupConfig};
use crate::store::fold::{plan_story_ids, RefoldPiece};

/// An entry as analysis reads it: id, title, body HTML, its feed's model.
type Unanalysed = (i64, Option<String>, Option<String>, Option<String>);

/// Entries re-analysed and re-queued per transaction.
pub const REFOLD_BATCH: usize = 500;

impl PgStore {
    /// Marks the entries of the window from `since` (all with `None`) stale
    /// and drops their band keys; returns their ids and feeds in window
    /// order, for [`PgStore::requeue`].
    pub async fn refold_begin(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<(i64, i64)>, PgError> {
        let from = since.map_or(i64::MIN, |t| t.timestamp());
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let ids: Vec<(i64, i64)> = tx
            .query(
                "SELECT id, feed_id FROM entry WHERE COALESCE(window_at, 0) >= $1 ORDER BY window_at, id",
                &[&from],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        // Where each entry was before, for the ids at the end; an
        // interrupted refold's rows stay, so its ids from before come back.
        tx.execute(
            "INSERT INTO refold_origin (entry_id, story_id, canonical)
             SELECT se.entry_id, se.story_id, se.relation = 'canonical'
             FROM story_entry se JOIN entry e ON e.id = se.entry_id
             WHERE COALESCE(e.window_at, 0) >= $1
             ON CONFLICT (entry_id) DO NOTHING",
            &[&from],
        )
        .await?;
        tx.execute(
            &tx.prepare_cached(
                "UPDATE entry SET fingerprint_version = 0 WHERE COALESCE(window_at, 0) >= $1",
            )
            .await?,
            &[&from],
        )
        .await?;
        tx.execute(&tx.prepare_cached("DELETE FROM band_key b USING entry e WHERE e.id = b.entry_id AND COALESCE(e.window_at, 0) >= $1").await?,
            &[&from],
        )
        .await?;
        tx.commit().await?;
        Ok(ids)
    }

    /// Re-analyses `batch` (ids from [`PgStore::refold_begin`]) with their
    /// feeds' boilerplate models, stores the new analyses, takes each entry
    /// out of its story (recomputing what is left of it) and queues it for
    /// the folder, in one transaction.
    pub async fn requeue(&self, batch: &[(i64, i64)], cfg: &DedupConfig) -> Result<(), PgError> {
        let ids: Vec<i64> = batch.iter().map(|(id, _)| *id).collect();
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT e.id, e.title, f.boilerplate_model, {HTML_COLUMNS}
                     FROM entry e JOIN feed f ON f.id = e.feed_id WHERE e.id = ANY($1)"
                ),
                &[&ids],
            )
            .await?;
        let items: Vec<Unanalysed> = rows
            .iter()
            .map(|r| {
                let id: i64 = r.try_get(0)?;
                Ok((id, r.try_get(1)?, html(r, 3, id)?, r.try_get(2)?))
            })
            .collect::<Result<_, PgError>>()?;
        // The body does not change: new normalised texts are framed against it.
        let bodies: std::collections::HashMap<i64, Option<String>> = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(3)?)))
            .collect::<Result<_, PgError>>()?;
        drop(client);
        let min_items = cfg.boilerplate_min_items;
        // Analysis is the CPU cost: off the async threads.
        let analysed = tokio::task::spawn_blocking(move || {
            let mut models: std::collections::HashMap<Option<String>, BoilerplateModel> =
                std::collections::HashMap::new();
            items
                .into_iter()
                .map(|(id, title, body, model)| {
                    let model = models.entry(model.clone()).or_insert_with(|| {
                        model
                            .and_then(|m| BoilerplateModel::from_json(&m).ok())
                            .unwrap_or_else(|| BoilerplateModel::new(min_items))
                    });
                    (
                        id,
                        dedup::analyze_with(title.as_deref(), body.as_deref(), model),
                    )
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| PgError::Task(e.to_string()))?;
        let mut by_id: std::collections::HashMap<i64, dedup::Analysis> =
            analysed.into_iter().collect();
        let version = i32::try_from(dedup::ALGORITHM_VERSION).unwrap_or(i32::MAX);
        let now = Utc::now();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        for id in ids {
            let Some(a) = by_id.remove(&id) else {
                continue;
            };
            let bands: Vec<i64> = a.bands.iter().map(|&k| k as i64).collect();
            let body = bodies.get(&id).and_then(Option::as_deref);
            let norm_z = crate::store::text::encode_norm(body, &a.text);
            tx.execute(
                &tx.prepare_cached(
                    "UPDATE entry SET norm_title = $2, norm_z = $3, norm_text = NULL,
                    signature = $4, fingerprint = $5, fingerprint_version = $6, credited_agency = $7
                 WHERE id = $1",
                )
                .await?,
                &[
                    &id,
                    &a.title,
                    &norm_z,
                    &a.signature.to_bytes(),
                    &a.exact.to_sql(),
                    &version,
                    &a.credited_agency(),
                ],
            )
            .await?;
            let old = tx
                .query_opt(
                    "DELETE FROM story_entry WHERE entry_id = $1 RETURNING story_id",
                    &[&id],
                )
                .await?;
            if let Some(old) = old {
                recompute_story(&tx, old.get(0), Some(now)).await?;
            }
            tx.execute(&tx.prepare_cached("INSERT INTO fold_queue (entry_id, credits, bands) VALUES ($1, $2, $3)
                 ON CONFLICT (entry_id) DO UPDATE SET credits = excluded.credits, bands = excluded.bands").await?,
                &[&id, &a.credits, &bands],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Gives the stories a refold rebuilt the ids of the stories they
    /// continue (the SQLite store's rule, [`crate::store::fold`]'s
    /// `plan_story_ids`); returns how many are new groupings. Call once the
    /// refolded entries are folded. Holds the story table against the
    /// folder meanwhile: a batch that read a renumbered story fails its
    /// commit and is folded again.
    pub async fn restore_story_ids(&self) -> Result<usize, PgError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.batch_execute(
            "SET CONSTRAINTS story_entry_story_id_fkey DEFERRED;
             LOCK TABLE story IN SHARE ROW EXCLUSIVE MODE",
        )
        .await?;
        let pieces: Vec<RefoldPiece> = tx
            .query(
                "SELECT se.story_id, o.story_id, count(*), bool_or(o.canonical)
                 FROM refold_origin o JOIN story_entry se ON se.entry_id = o.entry_id
                 GROUP BY se.story_id, o.story_id",
                &[],
            )
            .await?
            .iter()
            .map(|r| {
                Ok(RefoldPiece {
                    now: r.try_get(0)?,
                    before: r.try_get(1)?,
                    copies: r.try_get(2)?,
                    canonical: r.try_get(3)?,
                })
            })
            .collect::<Result<_, PgError>>()?;
        let existing: std::collections::HashSet<i64> = tx
            .query(
                "SELECT id FROM story WHERE id IN (SELECT story_id FROM refold_origin)",
                &[],
            )
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        let next: i64 = tx
            .query_one(
                "SELECT greatest(COALESCE((SELECT max(id) FROM story), 0),
                                 COALESCE((SELECT max(story_id) FROM refold_origin), 0)) + 1",
                &[],
            )
            .await?
            .try_get(0)?;
        let (moves, new_ids) = plan_story_ids(&pieces, &existing, next);
        // Two passes through negative ids, so that swapped ids never collide.
        for pass in [0, 1] {
            for &(now, id) in &moves {
                let (from, to) = if pass == 0 { (now, -now) } else { (-now, id) };
                tx.execute("UPDATE story SET id = $2 WHERE id = $1", &[&from, &to])
                    .await?;
                tx.execute(
                    "UPDATE story_entry SET story_id = $2 WHERE story_id = $1",
                    &[&from, &to],
                )
                .await?;
            }
        }
        // A fresh id handed out here must never come from the sequence again.
        tx.execute(
            "SELECT setval(pg_get_serial_sequence('story', 'id'),
                           greatest(nextval(pg_get_serial_sequence('story', 'id')),
                                    (SELECT max(id) FROM story)))",
            &[],
        )
        .await?;
        tx.execute("DELETE FROM refold_origin", &[]).await?;
        tx.commit().await?;
        Ok(new_ids)
    }

    /// Stories in the database.
    pub async fn story_count(&self) -> Result<i64, PgError> {
        Ok(self
            .client()
            .await?
            .query_one("SELECT count(*) FROM story", &[])
            .await?
            .get(0))
    }
}
