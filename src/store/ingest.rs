//! Writing the result of one fetch: entries, their stories (lineage), the
//! feed's validators and status, and the fetch log row — all in one
//! transaction, so that validators are never saved without the entries they
//! vouch for, and no story is ever visible without its canonical copy.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Transaction};

use super::feeds::err;
use super::{format_time, limits, EntryId, FeedId, Store, StoreError, StoryId};
use crate::dedup::{self, Analysis, Candidate, Relation, Verdict};
use crate::fetch::{Exchange, Validators};
use crate::parse::{ParsedEntry, ParsedFeed, Warning};

/// What a poll of one feed produced, ready to be written.
#[derive(Debug)]
pub struct FeedUpdate {
    /// The feed.
    pub feed: FeedId,
    /// When the fetch started.
    pub fetched_at: DateTime<Utc>,
    /// Status, size and duration of the exchange.
    pub exchange: Exchange,
    /// When the feed should be fetched next.
    pub next_due: DateTime<Utc>,
    /// What came of it.
    pub outcome: FeedOutcome,
}

/// The outcome of one fetch, as the store records it.
#[derive(Debug)]
pub enum FeedOutcome {
    /// A feed document was fetched and parsed.
    Parsed {
        /// The document.
        feed: ParsedFeed,
        /// Validators for the next conditional GET.
        validators: Validators,
    },
    /// 304 Not Modified.
    NotModified {
        /// Validators for the next conditional GET.
        validators: Validators,
    },
    /// The fetch or the parse failed.
    Failed {
        /// The message shown in `feedfold feeds`.
        error: String,
    },
}

/// What writing one update changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IngestReport {
    /// Entries stored for the first time.
    pub new_entries: usize,
    /// Known entries whose content changed.
    pub updated_entries: usize,
    /// Stories started by a new entry.
    pub new_stories: usize,
    /// New entries folded into an existing story as a copy.
    pub folded: usize,
    /// Entries stored with a field cut to its limit (see [`limits`]).
    pub truncated: usize,
}

impl std::ops::AddAssign for IngestReport {
    fn add_assign(&mut self, o: IngestReport) {
        self.new_entries += o.new_entries;
        self.updated_entries += o.updated_entries;
        self.new_stories += o.new_stories;
        self.folded += o.folded;
        self.truncated += o.truncated;
    }
}

/// How far back (in published time) a newcomer looks for copies.
pub const DEFAULT_WINDOW: chrono::TimeDelta = chrono::TimeDelta::days(3);

impl Store {
    /// Writes one feed's poll result in a single transaction.
    pub fn record(&mut self, update: FeedUpdate) -> Result<IngestReport, StoreError> {
        let path = self.path.clone();
        let e = |source| err(&path, source);
        let tx = self.conn.transaction().map_err(e)?;
        let now = format_time(update.fetched_at);
        let next_due = format_time(update.next_due);
        let mut report = IngestReport::default();
        let status = update.exchange.status;
        // For a document read with repairs: what was repaired, kept in the
        // fetch log's error column of an 'ok' fetch.
        let mut warning: Option<String> = None;
        let (outcome, error) = match &update.outcome {
            FeedOutcome::Parsed { feed, validators } => {
                for entry in &feed.entries {
                    report +=
                        upsert_entry(&tx, update.feed, entry, update.fetched_at).map_err(e)?;
                }
                // A truncated document was cut short: its validators vouch
                // for items we did not get. Without them the next poll
                // fetches the whole document again instead of hearing 304.
                let validators = if feed.warnings.contains(&Warning::Truncated) {
                    &Validators::default()
                } else {
                    validators
                };
                tx.execute(
                    "UPDATE feed SET feed_title = ?2, site_url = COALESCE(?3, site_url), etag = ?4, last_modified = ?5,
                        last_fetch_at = ?6, last_success_at = ?6, last_status = ?7, last_error = NULL,
                        error_count = 0, next_due_at = ?8 WHERE id = ?1",
                    params![
                        update.feed.0,
                        feed.title,
                        feed.site_url,
                        validators.etag,
                        validators.last_modified,
                        now,
                        status,
                        next_due
                    ],
                )
                .map_err(e)?;
                if !feed.warnings.is_empty() {
                    warning = Some(format!(
                        "recovered: {}",
                        feed.warnings
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("; ")
                    ));
                }
                ("ok", None)
            }
            FeedOutcome::NotModified { validators } => {
                tx.execute(
                    "UPDATE feed SET etag = ?2, last_modified = ?3, last_fetch_at = ?4, last_success_at = ?4,
                        last_status = ?5, last_error = NULL, error_count = 0, next_due_at = ?6 WHERE id = ?1",
                    params![update.feed.0, validators.etag, validators.last_modified, now, status, next_due],
                )
                .map_err(e)?;
                ("not_modified", None)
            }
            FeedOutcome::Failed { error } => {
                tx.execute(
                    "UPDATE feed SET last_fetch_at = ?2, last_status = ?3, last_error = ?4,
                        error_count = error_count + 1, next_due_at = ?5 WHERE id = ?1",
                    params![update.feed.0, now, status, error, next_due],
                )
                .map_err(e)?;
                ("error", Some(error.as_str()))
            }
        };
        tx.execute(
            "INSERT INTO fetch_log (feed_id, fetched_at, outcome, status, bytes, duration_ms, new_entries, error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                update.feed.0,
                now,
                outcome,
                status,
                update.exchange.bytes as i64,
                update.exchange.duration.as_millis() as i64,
                report.new_entries as i64,
                error.or(warning.as_deref())
            ],
        )
        .map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(report)
    }
}

/// Hash of everything we store about an item, to tell an edit from a repeat.
fn content_hash(e: &ParsedEntry) -> i64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for part in [&e.url, &e.title, &e.summary, &e.content] {
        h.update(part.as_deref().unwrap_or("").as_bytes());
        h.update(b"\0");
    }
    h.update(e.authors.join("\u{1f}").as_bytes());
    h.update(b"\0");
    for t in [e.published, e.updated] {
        h.update(&t.map_or(0, |t| t.timestamp()).to_le_bytes());
    }
    h.digest() as i64
}

fn analyze(e: &ParsedEntry) -> Analysis {
    dedup::analyze(e.title.as_deref(), e.body())
}

fn upsert_entry(
    tx: &Transaction,
    feed: FeedId,
    entry: &ParsedEntry,
    seen_at: DateTime<Utc>,
) -> rusqlite::Result<IngestReport> {
    let (entry, truncated) = limits::bound(entry);
    let entry = entry.as_ref();
    if truncated {
        tracing::warn!(feed = feed.0, identity = %entry.identity, "entry has oversized fields: stored truncated");
    }
    let truncated = usize::from(truncated);
    let now = format_time(seen_at);
    let hash = content_hash(entry);
    let existing: Option<(i64, i64)> = tx
        .prepare_cached("SELECT id, content_hash FROM entry WHERE feed_id = ?1 AND identity = ?2")?
        .query_row(params![feed.0, entry.identity], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let authors = serde_json::to_string(&entry.authors).unwrap_or_else(|_| "[]".to_string());
    let published = entry.published.map(format_time);
    let updated = entry.updated.map(format_time);
    match existing {
        Some((id, old_hash)) if old_hash == hash => {
            tx.prepare_cached("UPDATE entry SET last_seen_at = ?2 WHERE id = ?1")?
                .execute(params![id, now])?;
            Ok(IngestReport::default())
        }
        Some((id, _)) => {
            // An edited item keeps its story: re-folding on every typo fix
            // would make lineage flicker. `refold` recomputes it on demand.
            let a = analyze(entry);
            tx.prepare_cached(
                "UPDATE entry SET guid = ?2, url = ?3, title = ?4, summary = ?5, content = ?6, authors = ?7,
                    published_at = ?8, updated_at = ?9, last_seen_at = ?10, content_hash = ?11,
                    fingerprint = ?12, fingerprint_version = ?13, credited_agency = ?14 WHERE id = ?1",
            )?
            .execute(params![
                id,
                entry.guid,
                entry.url,
                entry.title,
                entry.summary,
                entry.content,
                authors,
                published,
                updated,
                now,
                hash,
                a.exact.to_sql(),
                dedup::ALGORITHM_VERSION,
                credits(&a)
            ])?;
            Ok(IngestReport {
                updated_entries: 1,
                truncated,
                ..Default::default()
            })
        }
        None => {
            let a = analyze(entry);
            tx.prepare_cached(
                "INSERT INTO entry (feed_id, identity, guid, url, title, summary, content, authors, published_at,
                    updated_at, first_seen_at, last_seen_at, content_hash, fingerprint, fingerprint_version, credited_agency)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12, ?13, ?14, ?15)",
            )?
            .execute(params![
                feed.0,
                entry.identity,
                entry.guid,
                entry.url,
                entry.title,
                entry.summary,
                entry.content,
                authors,
                published,
                updated,
                now,
                hash,
                a.exact.to_sql(),
                dedup::ALGORITHM_VERSION,
                credits(&a)
            ])?;
            let id = EntryId(tx.last_insert_rowid());
            let when = entry.published.unwrap_or(seen_at);
            let candidates = candidates(tx, &a, when)?;
            match dedup::decide(&a, &candidates) {
                Some(verdict) => {
                    join_story(tx, id, &verdict, published.as_deref(), &now)?;
                    Ok(IngestReport {
                        new_entries: 1,
                        folded: 1,
                        truncated,
                        ..Default::default()
                    })
                }
                None => {
                    start_story(tx, id, &a, published.as_deref().unwrap_or(&now), &now)?;
                    Ok(IngestReport {
                        new_entries: 1,
                        new_stories: 1,
                        truncated,
                        ..Default::default()
                    })
                }
            }
        }
    }
}

fn credits(a: &Analysis) -> Option<String> {
    (!a.credits.is_empty()).then(|| a.credits.join(">"))
}

/// Stored entries with the same fingerprint published within the window
/// around `when`.
fn candidates(
    tx: &Transaction,
    a: &Analysis,
    when: DateTime<Utc>,
) -> rusqlite::Result<Vec<Candidate>> {
    let from = format_time(when - DEFAULT_WINDOW);
    let to = format_time(when + DEFAULT_WINDOW);
    let mut stmt = tx.prepare_cached(
        "SELECT e.id, se.story_id, e.fingerprint FROM entry e JOIN story_entry se ON se.entry_id = e.id
         WHERE e.fingerprint = ?1 AND COALESCE(e.published_at, e.first_seen_at) BETWEEN ?2 AND ?3
         ORDER BY e.id LIMIT 64",
    )?;
    let rows = stmt.query_map(params![a.exact.to_sql(), from, to], |r| {
        Ok(Candidate {
            entry_id: r.get(0)?,
            story_id: r.get(1)?,
            exact: dedup::Fingerprint::from_sql(r.get(2)?),
        })
    })?;
    rows.collect()
}

fn start_story(
    tx: &Transaction,
    entry: EntryId,
    a: &Analysis,
    published: &str,
    now: &str,
) -> rusqlite::Result<StoryId> {
    tx.prepare_cached(
        "INSERT INTO story (canonical_entry_id, published_at, first_seen_at, last_seen_at, source_count, origin_agency)
         VALUES (?1, ?2, ?3, ?3, 1, ?4)",
    )?
    .execute(params![entry.0, published, now, a.credits.last()])?;
    let story = StoryId(tx.last_insert_rowid());
    tx.prepare_cached(
        "INSERT INTO story_entry (entry_id, story_id, relation, similarity, linked_at) VALUES (?1, ?2, 'canonical', 1.0, ?3)",
    )?
    .execute(params![entry.0, story.0, now])?;
    Ok(story)
}

fn join_story(
    tx: &Transaction,
    entry: EntryId,
    v: &Verdict,
    published: Option<&str>,
    now: &str,
) -> rusqlite::Result<()> {
    debug_assert!(v.relation != Relation::Canonical);
    tx.prepare_cached(
        "INSERT INTO story_entry (entry_id, story_id, relation, similarity, linked_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![entry.0, v.story_id, v.relation.as_str(), v.similarity.clamp(0.0, 1.0), now])?;
    // The earliest published copy represents the story: a copy that arrives
    // late but was published first takes the canonical place, and the old
    // canonical copy takes the newcomer's relation and score.
    let current: (i64, String) = tx
        .prepare_cached("SELECT canonical_entry_id, published_at FROM story WHERE id = ?1")?
        .query_row([v.story_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if let Some(p) = published.filter(|p| *p < current.1.as_str()) {
        tx.prepare_cached(
            "UPDATE story_entry SET relation = ?2, similarity = ?3 WHERE entry_id = ?1",
        )?
        .execute(params![
            current.0,
            v.relation.as_str(),
            v.similarity.clamp(0.0, 1.0)
        ])?;
        tx.prepare_cached(
            "UPDATE story_entry SET relation = 'canonical', similarity = 1.0 WHERE entry_id = ?1",
        )?
        .execute([entry.0])?;
        tx.prepare_cached(
            "UPDATE story SET canonical_entry_id = ?2, published_at = ?3 WHERE id = ?1",
        )?
        .execute(params![v.story_id, entry.0, p])?;
    }
    tx.prepare_cached(
        "UPDATE story SET last_seen_at = ?2,
            source_count = (SELECT COUNT(DISTINCT e.feed_id) FROM story_entry se JOIN entry e ON e.id = se.entry_id
                            WHERE se.story_id = ?1)
         WHERE id = ?1",
    )?
    .execute(params![v.story_id, now])?;
    Ok(())
}
