//! An entry's text on PostgreSQL, kept as on SQLite (src/store/text.rs):
//! the plain `body` once, the feed's HTML (`content_z`, `summary_z`) and
//! dedup's normalised text (`norm_z`) as zstd frames against it.
//!
//! Rows written before migration 0003 hold the full texts in `content`,
//! `summary` and `norm_text` instead; [`PgStore::convert_old_text`] turns
//! them into frames when a worker opens the database, and until it has,
//! readers decode either form (`html`, `norm_text`).

use tokio_postgres::Row;

use super::{PgError, PgStore};
use crate::store::text::{self, StoredText};

/// Entries converted per transaction.
const CONVERT_BATCH: i64 = 2_000;

/// The columns [`html`] reads, in its order.
pub(crate) const HTML_COLUMNS: &str = "e.body, e.content_z, e.summary_z, e.content, e.summary";

/// The columns [`norm_text`] reads, in its order.
pub(crate) const NORM_COLUMNS: &str = "e.body, e.norm_z, e.norm_text";

/// The item's HTML — content, else summary, as the feed sent it — from
/// the [`HTML_COLUMNS`] of entry `entry` starting at column `at` of `row`.
pub(crate) fn html(row: &Row, at: usize, entry: i64) -> Result<Option<String>, PgError> {
    let body: Option<String> = row.try_get(at)?;
    let decode = |frame: Option<Vec<u8>>| {
        frame
            .map(|z| text::decode_html(entry, body.as_deref(), &z))
            .transpose()
    };
    let content = decode(row.try_get(at + 1)?)?.or(row.try_get(at + 3)?);
    let summary = decode(row.try_get(at + 2)?)?.or(row.try_get(at + 4)?);
    Ok(content.filter(|c| !c.is_empty()).or(summary))
}

/// Dedup's normalised text from the [`NORM_COLUMNS`] of entry `entry`
/// starting at column `at` of `row`; `None` when its frame does not decode
/// (the entry is then treated as damaged, never fatal).
pub(crate) fn norm_text(row: &Row, at: usize, entry: i64) -> Option<String> {
    let body: Option<String> = row.try_get(at).ok()?;
    match row.try_get::<_, Option<Vec<u8>>>(at + 1).ok()? {
        Some(z) => match text::decode_norm(entry, body.as_deref(), &z) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!("{e}");
                None
            }
        },
        None => Some(
            row.try_get::<_, Option<String>>(at + 2)
                .ok()?
                .unwrap_or_default(),
        ),
    }
}

impl PgStore {
    /// Converts every entry stored before migration 0003 to frames, a batch
    /// per transaction; returns how many it converted. Workers opening the
    /// database at once share the work (`SKIP LOCKED`), and a conversion
    /// cut short resumes at the next open.
    pub async fn convert_old_text(&self) -> Result<u64, PgError> {
        let mut total = 0;
        loop {
            let n = self.convert_batch().await?;
            if n == 0 {
                break;
            }
            total += n;
            tracing::info!(
                converted = total,
                "converting stored text to frames (migration 0003)"
            );
        }
        Ok(total)
    }

    async fn convert_batch(&self) -> Result<u64, PgError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let rows = tx
            .query(
                "SELECT id, summary, content, norm_text, body FROM entry
                 WHERE summary IS NOT NULL OR content IS NOT NULL OR norm_text IS NOT NULL
                 ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                &[&CONVERT_BATCH],
            )
            .await?;
        let update = tx
            .prepare_cached(
                // Only a column that holds old text replaces its frame: a
                // frame written since (a half-converted row) is kept.
                "UPDATE entry SET
                    content_z = CASE WHEN content IS NULL THEN content_z ELSE $2 END,
                    summary_z = CASE WHEN summary IS NULL THEN summary_z ELSE $3 END,
                    norm_z = CASE WHEN norm_text IS NULL THEN norm_z ELSE $4 END,
                    content = NULL, summary = NULL, norm_text = NULL
                 WHERE id = $1",
            )
            .await?;
        for row in &rows {
            let id: i64 = row.try_get(0)?;
            let summary: Option<String> = row.try_get(1)?;
            let content: Option<String> = row.try_get(2)?;
            let norm: Option<String> = row.try_get(3)?;
            // The body was made from the same HTML and stays as it is:
            // frames are made against the stored body.
            let body: Option<String> = row.try_get(4)?;
            let t = StoredText::encode(
                body.as_deref(),
                summary.as_deref(),
                content.as_deref(),
                norm.as_deref().unwrap_or_default(),
            );
            tx.execute(&update, &[&id, &t.content_z, &t.summary_z, &t.norm_z])
                .await?;
        }
        tx.commit().await?;
        Ok(rows.len() as u64)
    }
}
