//! The pollers' writes on PostgreSQL: the feed list from the config (by the
//! leader), the due feeds of the hosts a worker holds, and one fetch's
//! result — entries stored and queued for the folder — in one transaction
//! fenced on the host's lease, so a worker that lost its lease commits
//! nothing.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use tokio_postgres::types::ToSql;

use super::lease::{fence, Fence, HostLease, RoleLease};
use super::search::search_vector_of;
use super::{PgError, PgStore};
use crate::config::FeedConfig;
use crate::dedup::{self, BoilerplateModel, DedupConfig};
use crate::fetch::Validators;
use crate::model::{host_of, RedirectStep};
use crate::parse::{ParsedEntry, Warning};
use crate::store::ingest::Prepared;
use crate::store::{limits, DueFeed, FeedId, FeedOutcome, FeedUpdate, IngestReport, SyncReport};

impl PgStore {
    /// Makes the database's feed list mirror the config (see
    /// [`crate::store::Store::sync_feeds`]), fenced on the leader's lease:
    /// one process syncs for all.
    pub async fn sync_feeds(
        &self,
        leader: &RoleLease,
        feeds: &[FeedConfig],
    ) -> Result<SyncReport, PgError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        fence(&tx, Fence::Role(leader)).await?;
        let mut report = SyncReport::default();
        let find = tx
            .prepare_cached(
                "SELECT id, active, title, interval_secs FROM feed WHERE url = $1
                 UNION ALL SELECT id, active, title, interval_secs FROM feed WHERE fetch_url = $1
                    AND NOT EXISTS (SELECT 1 FROM feed WHERE url = $1)
                 LIMIT 1",
            )
            .await?;
        let insert = tx
            .prepare_cached(
                "INSERT INTO feed (url, host, title, interval_secs, agency) VALUES ($1, $2, $3, $4, $5)
                 RETURNING id",
            )
            .await?;
        let update = tx
            .prepare_cached(
                "UPDATE feed SET url = $4, fetch_url = CASE WHEN fetch_url = $4 THEN NULL ELSE fetch_url END,
                    title = $2, interval_secs = $3,
                    disabled_at = CASE WHEN NOT active THEN NULL ELSE disabled_at END,
                    disabled_reason = CASE WHEN NOT active THEN NULL ELSE disabled_reason END,
                    active = true WHERE id = $1",
            )
            .await?;
        let tags = tx
            .prepare_cached("SELECT tag FROM feed_tag WHERE feed_id = $1 ORDER BY tag")
            .await?;
        let clear_tags = tx
            .prepare_cached("DELETE FROM feed_tag WHERE feed_id = $1")
            .await?;
        let add_tag = tx
            .prepare_cached(
                "INSERT INTO feed_tag (feed_id, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .await?;
        let mut listed: Vec<&str> = Vec::with_capacity(feeds.len());
        for f in feeds {
            listed.push(&f.url);
            let interval = f
                .interval
                .map(|d| i32::try_from(d.as_secs()).unwrap_or(i32::MAX));
            let known = tx.query_opt(&find, &[&f.url]).await?;
            let id: i64 = match known {
                Some(row) => {
                    let id: i64 = row.get(0);
                    let active: bool = row.get(1);
                    let old: Vec<String> = tx
                        .query(&tags, &[&id])
                        .await?
                        .iter()
                        .map(|r| r.get(0))
                        .collect();
                    let changed = row.get::<_, Option<String>>(2) != f.title
                        || row.get::<_, Option<i32>>(3) != interval
                        || !same_tags(&old, &f.tags);
                    report.updated += usize::from(changed && active);
                    report.reactivated += usize::from(!active);
                    tx.execute(&update, &[&id, &f.title, &interval, &f.url])
                        .await?;
                    id
                }
                None => {
                    report.added += 1;
                    let host = host_of(&f.url);
                    let agency = dedup::agency_for_host(&host);
                    tx.query_one(&insert, &[&f.url, &host, &f.title, &interval, &agency])
                        .await?
                        .get(0)
                }
            };
            tx.execute(&clear_tags, &[&id]).await?;
            for tag in &f.tags {
                tx.execute(&add_tag, &[&id, tag]).await?;
            }
        }
        report.deactivated = usize::try_from(
            tx.execute(
                &tx.prepare_cached(
                    "UPDATE feed SET active = false WHERE active AND NOT (url = ANY($1))",
                )
                .await?,
                &[&listed],
            )
            .await?,
        )
        .unwrap_or(usize::MAX);
        tx.commit().await?;
        Ok(report)
    }

    /// The scheduler's view of claimed feeds: what [`DueFeed`] carries, for
    /// the ids of one claim.
    pub async fn due_details(&self, ids: &[i64]) -> Result<Vec<DueFeed>, PgError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, url, etag, last_modified, interval_secs, fetch_url, poll_interval_secs,
                        interval_reason, error_count, redirect_url, redirect_count, retry_after_until
                 FROM feed WHERE id = ANY($1)
                 ORDER BY next_due_at NULLS FIRST, id",
                &[&ids],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| DueFeed {
                id: FeedId(r.get(0)),
                url: r.get(1),
                validators: Validators {
                    etag: r.get(2),
                    last_modified: r.get(3),
                },
                interval_secs: r.get::<_, Option<i32>>(4).map(i64::from),
                fetch_url: r.get(5),
                poll_interval: r.get::<_, Option<i32>>(6).map(|s| {
                    (
                        i64::from(s),
                        r.get::<_, Option<String>>(7).unwrap_or_default(),
                    )
                }),
                error_count: i64::from(r.get::<_, i32>(8)),
                redirect: match (r.get::<_, Option<String>>(9), r.get::<_, i32>(10)) {
                    (Some(url), n) if n > 0 => Some((url, u32::try_from(n).unwrap_or(0))),
                    _ => None,
                },
                retry_after_until: r.get(11),
            })
            .collect())
    }

    /// For each `(identity, content hash)` of a feed's document, whether it
    /// is stored unchanged; and the feed's learned boilerplate (JSON).
    pub async fn feed_context(
        &self,
        feed: FeedId,
        keys: &[(String, i64)],
    ) -> Result<(Vec<bool>, Option<String>), PgError> {
        let client = self.client().await?;
        let identities: Vec<&str> = keys.iter().map(|(i, _)| i.as_str()).collect();
        let stored: HashMap<String, i64> = client
            .query(
                "SELECT identity, content_hash FROM entry WHERE feed_id = $1 AND identity = ANY($2)",
                &[&feed.0, &identities],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let unchanged = keys
            .iter()
            .map(|(identity, hash)| stored.get(identity) == Some(hash))
            .collect();
        let model = client
            .query_opt(
                "SELECT boilerplate_model FROM feed WHERE id = $1",
                &[&feed.0],
            )
            .await?
            .and_then(|r| r.get(0));
        Ok((unchanged, model))
    }

    /// Writes one fetch's result under `lease` (the feed's host): the feed's
    /// state, the fetch log row, new and edited entries (new ones queued
    /// for the folder), the feed's boilerplate model. All or nothing, and
    /// nothing once the lease is lost ([`PgError::Fenced`]).
    pub async fn record_update(
        &self,
        lease: &HostLease,
        cfg: &DedupConfig,
        update: &FeedUpdate,
    ) -> Result<IngestReport, PgError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        fence(&tx, Fence::Host(lease)).await?;
        let feed = update.feed;
        let mut report = IngestReport::default();
        let status = update.exchange.status.map(i32::from);
        let mut warning: Option<String> = None;
        let (outcome, error) = match &update.outcome {
            FeedOutcome::Parsed {
                feed: doc,
                validators,
                analyses,
            } => {
                let model: Option<String> = tx
                    .query_one(
                        "SELECT boilerplate_model FROM feed WHERE id = $1 FOR UPDATE",
                        &[&feed.0],
                    )
                    .await?
                    .get(0);
                let mut model = model
                    .and_then(|m| BoilerplateModel::from_json(&m).ok())
                    .unwrap_or_else(|| BoilerplateModel::new(cfg.boilerplate_min_items));
                let mut learned = false;
                for (i, entry) in doc.entries.iter().enumerate() {
                    let precomputed = analyses.get(i).and_then(Option::as_ref);
                    let one =
                        upsert_entry(&tx, feed, entry, precomputed, &model, update.fetched_at)
                            .await?;
                    if let Some(keys) = one.learn {
                        model.observe(&keys);
                        learned = true;
                    }
                    report += one.report;
                }
                let validators = if doc.warnings.contains(&Warning::Truncated) {
                    &Validators::default()
                } else {
                    validators
                };
                let model_json = learned.then(|| model.to_json());
                tx.execute(&tx.prepare_cached("UPDATE feed SET feed_title = $2, site_url = COALESCE($3, site_url), etag = $4,
                        last_modified = $5, last_fetch_at = $6, last_success_at = $6, last_status = $7,
                        last_error = NULL, error_count = 0, next_due_at = $8,
                        boilerplate_model = COALESCE($9, boilerplate_model)
                     WHERE id = $1").await?,
                    &[
                        &feed.0,
                        &doc.title,
                        &doc.site_url,
                        &validators.etag,
                        &validators.last_modified,
                        &update.fetched_at,
                        &status,
                        &update.next_due,
                        &model_json,
                    ],
                )
                .await?;
                if !doc.warnings.is_empty() {
                    let list: Vec<String> = doc.warnings.iter().map(ToString::to_string).collect();
                    warning = Some(format!("recovered: {}", list.join("; ")));
                }
                ("ok", None)
            }
            FeedOutcome::NotModified { validators } => {
                tx.execute(
                    &tx.prepare_cached(
                        "UPDATE feed SET etag = $2, last_modified = $3, last_fetch_at = $4,
                        last_success_at = $4, last_status = $5, last_error = NULL, error_count = 0,
                        next_due_at = $6 WHERE id = $1",
                    )
                    .await?,
                    &[
                        &feed.0,
                        &validators.etag,
                        &validators.last_modified,
                        &update.fetched_at,
                        &status,
                        &update.next_due,
                    ],
                )
                .await?;
                ("not_modified", None)
            }
            FeedOutcome::Failed { error } => {
                tx.execute(
                    &tx.prepare_cached(
                        "UPDATE feed SET last_fetch_at = $2, last_status = $3, last_error = $4,
                        error_count = error_count + 1, next_due_at = $5 WHERE id = $1",
                    )
                    .await?,
                    &[
                        &feed.0,
                        &update.fetched_at,
                        &status,
                        error,
                        &update.next_due,
                    ],
                )
                .await?;
                ("error", Some(error.as_str()))
            }
        };
        apply_politeness(&tx, feed, update).await?;
        let new_entries = i32::try_from(report.new_entries).unwrap_or(i32::MAX);
        let bytes = i64::try_from(update.exchange.bytes).unwrap_or(i64::MAX);
        let duration_ms = i64::try_from(update.exchange.duration.as_millis()).unwrap_or(i64::MAX);
        tx.execute(
            &tx.prepare_cached(
                "INSERT INTO fetch_log (feed_id, fetched_at, outcome, status, bytes, duration_ms,
                                    new_entries, error, worker_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .await?,
            &[
                &feed.0,
                &update.fetched_at,
                &outcome,
                &status,
                &bytes,
                &duration_ms,
                &new_entries,
                &error.or(warning.as_deref()),
                &lease.owner.0,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(report)
    }
}

/// What storing one listed item did.
struct Upserted {
    report: IngestReport,
    /// The boilerplate keys the feed's model learns from a new entry.
    learn: Option<Vec<u64>>,
}

async fn upsert_entry(
    tx: &deadpool_postgres::Transaction<'_>,
    feed: FeedId,
    entry: &ParsedEntry,
    precomputed: Option<&Prepared>,
    model: &BoilerplateModel,
    seen_at: DateTime<Utc>,
) -> Result<Upserted, PgError> {
    let (entry, truncated) = limits::bound(entry);
    let entry = entry.as_ref();
    // An analysis made before a cut describes text that is not stored.
    let precomputed = precomputed.filter(|_| !truncated);
    let hash = entry.content_hash();
    let existing = tx
        .query_opt(
            "SELECT id, content_hash, last_seen_at FROM entry WHERE feed_id = $1 AND identity = $2",
            &[&feed.0, &entry.identity],
        )
        .await?;
    let nothing = Upserted {
        report: IngestReport::default(),
        learn: None,
    };
    if let Some(row) = &existing {
        let (id, old_hash, last_seen): (i64, i64, DateTime<Utc>) =
            (row.get(0), row.get(1), row.get(2));
        if old_hash == hash {
            if last_seen < seen_at - chrono::TimeDelta::hours(24) {
                tx.execute(
                    &tx.prepare_cached("UPDATE entry SET last_seen_at = $2 WHERE id = $1")
                        .await?,
                    &[&id, &seen_at],
                )
                .await?;
            }
            return Ok(nothing);
        }
    } else {
        let tombstoned = tx
            .query_opt(
                "UPDATE tombstone SET last_listed_at = $3 WHERE feed_id = $1 AND identity = $2 RETURNING 1",
                &[&feed.0, &entry.identity, &seen_at],
            )
            .await?
            .is_some();
        if tombstoned {
            return Ok(Upserted {
                report: IngestReport {
                    tombstoned: 1,
                    ..Default::default()
                },
                learn: None,
            });
        }
    }
    let prepared = match precomputed {
        Some(p) => std::borrow::Cow::Borrowed(p),
        None => std::borrow::Cow::Owned(Prepared::new(
            entry,
            dedup::analyze_with(entry.title.as_deref(), entry.body(), model),
        )),
    };
    let a = &prepared.analysis;
    let frames = prepared.text();
    let authors = serde_json::to_string(&entry.authors).unwrap_or_else(|_| "[]".to_string());
    let window_at = entry.published.unwrap_or(seen_at).timestamp();
    let signature = a.signature.to_bytes();
    let exact = a.exact.to_sql();
    let version = i32::try_from(dedup::ALGORITHM_VERSION).unwrap_or(i32::MAX);
    let common: [&(dyn ToSql + Sync); 15] = [
        &entry.guid,
        &entry.url,
        &entry.title,
        &a.plain_body,
        &frames.summary_z,
        &frames.content_z,
        &authors,
        &entry.published,
        &entry.updated,
        &hash,
        &exact,
        &a.title,
        &frames.norm_z,
        &signature,
        &window_at,
    ];
    if let Some(row) = existing {
        // An edited item keeps its story (as on SQLite): `refold` regroups.
        let id: i64 = row.get(0);
        let mut params: Vec<&(dyn ToSql + Sync)> = common.to_vec();
        params.push(&id);
        params.push(&seen_at);
        const UPDATE: &str = concat!(
            "UPDATE entry SET guid = $1, url = $2, title = $3, body = $4, summary_z = $5,
                content_z = $6, authors = $7, published_at = $8, updated_at = $9,
                content_hash = $10, fingerprint = $11, norm_title = $12, norm_z = $13,
                signature = $14, window_at = $15, last_seen_at = $17,
                summary = NULL, content = NULL, norm_text = NULL, search = ",
            search_vector_of!("$3", "$4"),
            " WHERE id = $16"
        );
        tx.execute(&tx.prepare_cached(UPDATE).await?, &params)
            .await?;
        return Ok(Upserted {
            report: IngestReport {
                updated_entries: 1,
                ..Default::default()
            },
            learn: None,
        });
    }
    let credited = a.credited_agency();
    let mut params: Vec<&(dyn ToSql + Sync)> = common.to_vec();
    params.extend([
        &feed.0 as &(dyn ToSql + Sync),
        &entry.identity,
        &seen_at,
        &version,
        &credited,
    ]);
    const INSERT: &str = concat!(
        "INSERT INTO entry (guid, url, title, body, summary_z, content_z, authors, published_at,
            updated_at, content_hash, fingerprint, norm_title, norm_z, signature, window_at,
            feed_id, identity, first_seen_at, last_seen_at, fingerprint_version, credited_agency,
            search)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
            $16, $17, $18, $18, $19, $20, ",
        search_vector_of!("$3", "$4"),
        ") RETURNING id"
    );
    let id: i64 = tx
        .query_one(&tx.prepare_cached(INSERT).await?, &params)
        .await?
        .get(0);
    let bands: Vec<i64> = a.bands.iter().map(|&k| k as i64).collect();
    tx.execute(
        &tx.prepare_cached("INSERT INTO fold_queue (entry_id, credits, bands) VALUES ($1, $2, $3)")
            .await?,
        &[&id, &a.credits, &bands],
    )
    .await?;
    Ok(Upserted {
        report: IngestReport {
            new_entries: 1,
            ..Default::default()
        },
        learn: Some(a.boilerplate_keys.clone()),
    })
}

/// The politeness state of a fetch (see `store::politeness::apply`).
async fn apply_politeness(
    tx: &deadpool_postgres::Transaction<'_>,
    feed: FeedId,
    update: &FeedUpdate,
) -> Result<(), PgError> {
    let state = &update.fetch;
    let now = update.fetched_at;
    if let Some((secs, reason)) = &state.interval {
        let secs = i32::try_from(*secs).unwrap_or(i32::MAX);
        tx.execute(
            &tx.prepare_cached(
                "UPDATE feed SET poll_interval_secs = $2, interval_reason = $3 WHERE id = $1",
            )
            .await?,
            &[&feed.0, &secs, reason],
        )
        .await?;
    }
    tx.execute(
        // The fetch is done: the feed is no longer in flight.
        "UPDATE feed SET retry_after_until = $2, in_flight_until = NULL, claimed_by = NULL WHERE id = $1",
        &[&feed.0, &state.retry_after_until],
    )
    .await?;
    match &state.redirect {
        None => {}
        Some(RedirectStep::Clear) => {
            tx.execute(
                &tx.prepare_cached(
                    "UPDATE feed SET redirect_url = NULL, redirect_count = 0 WHERE id = $1",
                )
                .await?,
                &[&feed.0],
            )
            .await?;
        }
        Some(RedirectStep::Pending { target, count }) => {
            let count = i32::try_from(*count).unwrap_or(i32::MAX);
            tx.execute(
                &tx.prepare_cached(
                    "UPDATE feed SET redirect_url = $2, redirect_count = $3 WHERE id = $1",
                )
                .await?,
                &[&feed.0, target, &count],
            )
            .await?;
        }
        Some(RedirectStep::Move { target }) => {
            change_url(tx, feed, target, "moved", None, now).await?;
        }
    }
    if let Some(change) = &state.discovered {
        change_url(
            tx,
            feed,
            &change.url,
            "discovered",
            change.note.as_deref(),
            now,
        )
        .await?;
    }
    if let Some(reason) = &state.disable {
        tx.execute(
            &tx.prepare_cached(
                "UPDATE feed SET disabled_at = $2, disabled_reason = $3 WHERE id = $1",
            )
            .await?,
            &[&feed.0, &now, reason],
        )
        .await?;
    }
    if let Some(host) = &state.host {
        let streak = i32::try_from(host.streak).unwrap_or(i32::MAX);
        tx.execute(&tx.prepare_cached("INSERT INTO host (name, throttle_streak, throttled_until, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO UPDATE SET throttle_streak = excluded.throttle_streak,
                throttled_until = excluded.throttled_until, updated_at = excluded.updated_at").await?,
            &[&host.name, &streak, &host.throttled_until, &now],
        )
        .await?;
    }
    Ok(())
}

/// Points the feed at `new_url` and records why; the feed follows its new
/// host's lease from the next claim on.
async fn change_url(
    tx: &deadpool_postgres::Transaction<'_>,
    feed: FeedId,
    new_url: &str,
    reason: &str,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), PgError> {
    let row = tx
        .query_one(
            "SELECT url, COALESCE(fetch_url, url) FROM feed WHERE id = $1",
            &[&feed.0],
        )
        .await?;
    let (url, current): (String, String) = (row.get(0), row.get(1));
    if current == new_url {
        return Ok(());
    }
    let fetch_url = (new_url != url).then_some(new_url);
    tx.execute(&tx.prepare_cached("UPDATE feed SET fetch_url = $2, host = $3, redirect_url = NULL, redirect_count = 0 WHERE id = $1").await?,
        &[&feed.0, &fetch_url, &host_of(new_url)],
    )
    .await?;
    tx.execute(
        &tx.prepare_cached(
            "INSERT INTO feed_url_history (feed_id, old_url, new_url, reason, note, changed_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .await?,
        &[&feed.0, &current, &new_url, &reason, &note, &now],
    )
    .await?;
    Ok(())
}

/// Whether two tag lists hold the same tags, ignoring order and case.
fn same_tags(a: &[String], b: &[String]) -> bool {
    let norm = |v: &[String]| {
        let mut v: Vec<String> = v.iter().map(|t| t.to_lowercase()).collect();
        v.sort();
        v
    };
    norm(a) == norm(b)
}
