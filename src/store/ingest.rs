//! Writing the result of one fetch: entries, their stories (lineage), the
//! feed's validators and status, and the fetch log row — all in one
//! transaction, so that validators are never saved without the entries they
//! vouch for, and no story is ever visible without its canonical copy.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Transaction};

use super::band_index::Staged;
use super::feeds::err;
use super::fold::{self, FeedContext, Folded};
use super::text::StoredText;
use super::{format_time, limits, retention, search, EntryId, FeedId, Store, StoreError};
use crate::dedup::{self, DedupConfig};
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
    /// Politeness state to write with it (interval, redirects, throttling…).
    pub fetch: super::FetchState,
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
        /// Dedup analyses and stored forms the poller computed off the
        /// writer thread, by position (`analyses[i]` is
        /// `feed.entries[i]`'s); an entry without one (`None`, or past the
        /// end) is analysed by the writer.
        analyses: Vec<Option<Prepared>>,
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

impl FeedOutcome {
    /// A parsed document whose entries the writer analyses itself.
    pub fn parsed(feed: ParsedFeed, validators: Validators) -> FeedOutcome {
        FeedOutcome::Parsed {
            feed,
            validators,
            analyses: Vec::new(),
        }
    }
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
    /// Listed items not stored again because retention pruned them.
    pub tombstoned: usize,
    /// How long each new entry's dedup decision took (finding candidates
    /// and deciding), for the `dedup_decision_seconds` histogram.
    pub dedup_decisions: DecisionTimes,
}

/// Durations summed by bucket, on the grid of the
/// `dedup_decision_seconds` histogram (10 µs × 4ᵏ): observing each bucket's
/// mean once per duration in it gives that histogram the same bucket counts
/// and sum as observing every duration. Fixed-size, so that reports stay
/// `Copy` and add up without growing.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DecisionTimes {
    /// Durations per bucket; bucket `k < 10` holds those up to 10 µs × 4ᵏ
    /// (and above the previous bound), the last one the rest.
    counts: [u32; DECISION_BUCKETS],
    /// Their sum per bucket, in nanoseconds.
    nanos: [u64; DECISION_BUCKETS],
}

/// The histogram's ten bounds and the bucket above them.
const DECISION_BUCKETS: usize = 11;

impl DecisionTimes {
    /// Adds one duration.
    pub fn observe(&mut self, d: Duration) {
        let mut bound = Duration::from_micros(10);
        let mut k = 0;
        while k < DECISION_BUCKETS - 1 && d > bound {
            bound *= 4;
            k += 1;
        }
        self.counts[k] = self.counts[k].saturating_add(1);
        self.nanos[k] =
            self.nanos[k].saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Each non-empty bucket as (mean duration, how many), for a histogram
    /// to observe the mean that many times.
    pub fn by_bucket(&self) -> impl Iterator<Item = (Duration, u32)> + '_ {
        self.counts
            .iter()
            .zip(&self.nanos)
            .filter(|(&n, _)| n > 0)
            .map(|(&n, &sum)| (Duration::from_nanos(sum / u64::from(n)), n))
    }

    /// The number of durations.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|&n| u64::from(n)).sum()
    }
}

impl std::ops::AddAssign for DecisionTimes {
    fn add_assign(&mut self, o: DecisionTimes) {
        for k in 0..DECISION_BUCKETS {
            self.counts[k] = self.counts[k].saturating_add(o.counts[k]);
            self.nanos[k] = self.nanos[k].saturating_add(o.nanos[k]);
        }
    }
}

impl std::ops::AddAssign for IngestReport {
    fn add_assign(&mut self, o: IngestReport) {
        self.new_entries += o.new_entries;
        self.updated_entries += o.updated_entries;
        self.new_stories += o.new_stories;
        self.folded += o.folded;
        self.tombstoned += o.tombstoned;
        self.dedup_decisions += o.dedup_decisions;
    }
}

impl Store {
    /// For each `(identity, content hash)` of a feed's document, whether the
    /// store already holds that entry unchanged. The poller skips analysing
    /// those: on a steady-state poll most items of a changed feed are old.
    pub fn unchanged_entries(
        &self,
        feed: FeedId,
        entries: &[(String, i64)],
    ) -> Result<Vec<bool>, StoreError> {
        let e = |source| err(&self.path, source);
        let mut stmt = self
            .conn
            .prepare_cached("SELECT content_hash FROM entry WHERE feed_id = ?1 AND identity = ?2")
            .map_err(e)?;
        entries
            .iter()
            .map(|(identity, hash)| {
                let stored: Option<i64> = stmt
                    .query_row(params![feed.0, identity], |r| r.get(0))
                    .optional()
                    .map_err(e)?;
                Ok(stored == Some(*hash))
            })
            .collect()
    }

    /// Writes one feed's poll result in a single transaction.
    pub fn record(&mut self, update: FeedUpdate) -> Result<IngestReport, StoreError> {
        self.record_ref(&update)
    }

    /// Writes several feeds' poll results in one transaction (group commit),
    /// one result per update, in order. A commit costs about as much for
    /// fifty feeds as for one: the band index pages the batch dirties are
    /// shared and written to the WAL once. If any update fails, the batch
    /// is rolled back and each update written alone, so that a failure
    /// stays with its own feed and the others are kept.
    pub fn record_all(&mut self, updates: &[FeedUpdate]) -> Vec<Result<IngestReport, StoreError>> {
        if updates.len() > 1 {
            match self.write_together(updates) {
                Ok(reports) => return reports.into_iter().map(Ok).collect(),
                Err(e) => {
                    tracing::debug!(error = %e, "batched write failed; writing each feed alone")
                }
            }
        }
        updates.iter().map(|u| self.record_ref(u)).collect()
    }

    fn record_ref(&mut self, update: &FeedUpdate) -> Result<IngestReport, StoreError> {
        self.write_together(std::slice::from_ref(update))
            .map(|mut reports| reports.pop().unwrap_or_default())
    }

    fn write_together(&mut self, updates: &[FeedUpdate]) -> Result<Vec<IngestReport>, StoreError> {
        let path = self.path.clone();
        let e = |source| err(&path, source);
        let tx = super::write_transaction(&mut self.conn).map_err(e)?;
        let mut bands = self.bands.begin(&tx).map_err(e)?;
        let reports = write_in(&tx, &self.dedup, &path, updates, &mut bands)?;
        bands.commit(tx).map_err(e)?;
        self.backlog.add(
            reports
                .iter()
                .map(|r| r.new_entries + r.updated_entries)
                .sum(),
        );
        // The poll results are committed whatever happens here.
        if self.bands.is_full() {
            if let Err(e) = self.flush_band_keys() {
                tracing::warn!(error = %e, "writing buffered band keys failed; retried later");
            }
        }
        Ok(reports)
    }
}

/// Writes `updates` in `tx`; the caller commits it.
fn write_in(
    tx: &Transaction,
    dedup: &DedupConfig,
    path: &std::path::Path,
    updates: &[FeedUpdate],
    bands: &mut Staged<'_>,
) -> Result<Vec<IngestReport>, StoreError> {
    updates
        .iter()
        .map(|u| write_update(tx, dedup, path, u, bands))
        .collect()
}

/// Writes one feed's poll result inside the caller's transaction.
fn write_update(
    tx: &Transaction,
    dedup: &DedupConfig,
    path: &std::path::Path,
    update: &FeedUpdate,
    bands: &mut Staged<'_>,
) -> Result<IngestReport, StoreError> {
    let e = |source| err(path, source);
    let now = format_time(update.fetched_at);
    let next_due = format_time(update.next_due);
    let mut report = IngestReport::default();
    let status = update.exchange.status;
    // For a document read with repairs: what was repaired, kept in the
    // fetch log's error column of an 'ok' fetch.
    let mut warning: Option<String> = None;
    let (outcome, error) = match &update.outcome {
        FeedOutcome::Parsed {
            feed,
            validators,
            analyses,
        } => {
            let mut ctx = FeedContext::load(tx, update.feed, dedup).map_err(e)?;
            for (i, entry) in feed.entries.iter().enumerate() {
                let precomputed = analyses.get(i).and_then(Option::as_ref);
                report += upsert_entry(
                    tx,
                    dedup,
                    &mut ctx,
                    bands,
                    update.feed,
                    (entry, precomputed),
                    update.fetched_at,
                )
                .map_err(e)?;
            }
            // A truncated document was cut short: its validators vouch
            // for items we did not get. Without them the next poll
            // fetches the whole document again instead of hearing 304.
            let validators = if feed.warnings.contains(&Warning::Truncated) {
                &Validators::default()
            } else {
                validators
            };
            ctx.save(tx, update.feed).map_err(e)?;
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
    super::politeness::apply(tx, update.feed, &now, &update.fetch).map_err(e)?;
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
    Ok(report)
}

/// An entry made ready for the store off the writer thread: its dedup
/// analysis and its text in stored form (compressing is most of the cost).
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The dedup analysis, with the feed's boilerplate model.
    pub analysis: dedup::Analysis,
    text: StoredText,
}

impl Prepared {
    /// Prepares `entry`, whose analysis is `analysis`.
    pub fn new(entry: &ParsedEntry, analysis: dedup::Analysis) -> Prepared {
        let text = StoredText::encode(
            analysis.plain_body.as_deref(),
            entry.summary.as_deref(),
            entry.content.as_deref(),
            &analysis.text,
        );
        Prepared { analysis, text }
    }

    /// The entry's HTML and normalised text as frames against its body.
    pub(crate) fn text(&self) -> &StoredText {
        &self.text
    }
}

/// The entry made ready: by the poller in parallel, else here with the
/// feed's boilerplate model.
fn prepared<'e>(
    entry: &ParsedEntry,
    precomputed: Option<&'e Prepared>,
    ctx: &FeedContext,
) -> std::borrow::Cow<'e, Prepared> {
    match precomputed {
        Some(p) => std::borrow::Cow::Borrowed(p),
        None => std::borrow::Cow::Owned(Prepared::new(
            entry,
            dedup::analyze_with(entry.title.as_deref(), entry.body(), &ctx.model),
        )),
    }
}

/// How stale an unchanged entry's `last_seen_at` may grow before a poll
/// that still lists it refreshes it. Rewriting the whole row (HTML and
/// normalised text, several pages) for every unchanged item of every changed
/// feed was most of the writer's work in a warm pass; the value only seeds a
/// tombstone's `last_listed_at` when retention prunes the entry, and
/// retention counts in days.
const LAST_SEEN_RESOLUTION: chrono::TimeDelta = chrono::TimeDelta::hours(24);

fn upsert_entry(
    tx: &Transaction,
    cfg: &DedupConfig,
    ctx: &mut FeedContext,
    bands: &mut Staged<'_>,
    feed: FeedId,
    (entry, precomputed): (&ParsedEntry, Option<&Prepared>),
    seen_at: DateTime<Utc>,
) -> rusqlite::Result<IngestReport> {
    let (entry, truncated) = limits::bound(entry);
    let entry = entry.as_ref();
    // An analysis made before a cut describes text that is not stored.
    let precomputed = precomputed.filter(|_| !truncated);
    if truncated {
        tracing::warn!(feed = feed.0, identity = %entry.identity, "entry has oversized fields: stored truncated");
    }
    let now = format_time(seen_at);
    let hash = entry.content_hash();
    let existing: Option<(i64, i64, String)> = tx
        .prepare_cached(
            "SELECT id, content_hash, last_seen_at FROM entry WHERE feed_id = ?1 AND identity = ?2",
        )?
        .query_row(params![feed.0, entry.identity], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let authors = serde_json::to_string(&entry.authors).unwrap_or_else(|_| "[]".to_string());
    let published = entry.published.map(format_time);
    let updated = entry.updated.map(format_time);
    let window_at = entry.published.unwrap_or(seen_at).timestamp();
    match existing {
        Some((id, old_hash, last_seen)) if old_hash == hash => {
            if last_seen < format_time(seen_at - LAST_SEEN_RESOLUTION) {
                tx.prepare_cached("UPDATE entry SET last_seen_at = ?2 WHERE id = ?1")?
                    .execute(params![id, now])?;
            }
            Ok(IngestReport::default())
        }
        Some((id, ..)) => {
            // An edited item keeps its story: re-folding on every typo fix
            // would make lineage flicker. `refold` recomputes it on demand.
            let p = prepared(entry, precomputed, ctx);
            let (a, text) = (&p.analysis, &p.text);
            // The index is told the old words before they are overwritten.
            search::unindex(tx, EntryId(id))?;
            tx.prepare_cached(
                "UPDATE entry SET guid = ?2, url = ?3, title = ?4, body = ?5, summary_z = ?6, content_z = ?7,
                    authors = ?8, published_at = ?9, updated_at = ?10, last_seen_at = ?11, content_hash = ?12,
                    window_at = ?13
                 WHERE id = ?1",
            )?
            .execute(params![
                id,
                entry.guid,
                entry.url,
                entry.title,
                a.plain_body,
                text.summary_z,
                text.content_z,
                authors,
                published,
                updated,
                now,
                hash,
                window_at
            ])?;
            fold::store_analysis(tx, EntryId(id), a, &text.norm_z)?;
            bands.add(tx, id, &a.bands, window_at)?;
            search::enqueue(tx, EntryId(id))?;
            Ok(IngestReport {
                updated_entries: 1,
                ..Default::default()
            })
        }
        None if retention::is_tombstoned(tx, feed, &entry.identity, &now)? => Ok(IngestReport {
            tombstoned: 1,
            ..Default::default()
        }),
        None => {
            let p = prepared(entry, precomputed, ctx);
            let (a, text) = (&p.analysis, &p.text);
            tx.prepare_cached(
                "INSERT INTO entry (feed_id, identity, guid, url, title, body, summary_z, content_z, authors,
                    published_at, updated_at, first_seen_at, last_seen_at, content_hash, fingerprint,
                    fingerprint_version, credited_agency, norm_title, norm_z, signature, window_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
                    ?19, ?20)",
            )?
            .execute(params![
                feed.0,
                entry.identity,
                entry.guid,
                entry.url,
                entry.title,
                a.plain_body,
                text.summary_z,
                text.content_z,
                authors,
                published,
                updated,
                now,
                hash,
                a.exact.to_sql(),
                dedup::ALGORITHM_VERSION,
                a.credited_agency(),
                a.title,
                text.norm_z,
                a.signature.to_bytes(),
                window_at
            ])?;
            let id = EntryId(tx.last_insert_rowid());
            search::enqueue(tx, id)?;
            ctx.observe(a);
            let new = fold::Newcomer {
                entry: id,
                feed,
                window_at,
            };
            let (folded, decided_in) = fold::fold_new_entry(tx, cfg, bands, new, a, &now)?;
            let mut report = IngestReport {
                new_entries: 1,
                new_stories: usize::from(folded == Folded::NewStory),
                folded: usize::from(folded == Folded::Joined),
                ..Default::default()
            };
            report.dedup_decisions.observe(decided_in);
            Ok(report)
        }
    }
}

#[cfg(test)]
impl FeedUpdate {
    /// A successful fetch of `entries` from `feed`, now (for tests).
    pub(super) fn parsed_now(feed: FeedId, entries: Vec<ParsedEntry>) -> FeedUpdate {
        let now = chrono::Utc::now();
        FeedUpdate {
            feed,
            fetched_at: now,
            exchange: Default::default(),
            next_due: now,
            fetch: Default::default(),
            outcome: FeedOutcome::Parsed {
                feed: ParsedFeed {
                    entries,
                    ..Default::default()
                },
                validators: Validators::default(),
                analyses: Vec::new(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FeedConfig;

    fn update(feed: FeedId, entries: Vec<ParsedEntry>) -> FeedUpdate {
        FeedUpdate::parsed_now(feed, entries)
    }

    /// A new database in `dir` listing one feed (`FeedId(1)`).
    fn store_with_one_feed(dir: &std::path::Path) -> Store {
        let mut store = Store::open(&dir.join("t.db")).expect("open");
        let feeds = [FeedConfig {
            url: "https://a.example/rss".into(),
            ..Default::default()
        }];
        store.sync_feeds(&feeds, chrono::Utc::now()).expect("sync");
        store
    }

    /// The poller's analyses are matched to entries by position, and one
    /// made before a cut is not stored for the cut text.
    #[test]
    fn precomputed_analyses_are_used_by_position_unless_the_entry_was_cut() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = store_with_one_feed(dir.path());
        let entry = |id: &str, body: String| ParsedEntry {
            identity: format!("guid:{id}"),
            title: Some(format!("Title {id}")),
            summary: Some(body),
            ..Default::default()
        };
        let long = "word ".repeat(super::limits::MAX_BODY_BYTES / 4);
        let entries = vec![
            entry("a", "<p>Stored text.</p>".into()),
            entry("b", "<p>Other text.</p>".into()),
            entry("c", format!("<p>{long}</p>")),
        ];
        // Deliberately not these entries' own texts.
        let marker = dedup::analyze(Some("Marker"), Some("<p>Precomputed for b.</p>"));
        let stale = dedup::analyze(Some("Stale"), Some("<p>Made before the cut.</p>"));
        let (entries_b, entries_c) = (entries[1].clone(), entries[2].clone());
        let mut u = update(FeedId(1), entries);
        if let FeedOutcome::Parsed { analyses, .. } = &mut u.outcome {
            *analyses = vec![
                None,
                Some(Prepared::new(&entries_b, marker.clone())),
                Some(Prepared::new(&entries_c, stale)),
            ];
        }
        store.record(u).expect("record");
        let norm = |id: &str| -> String {
            let (entry, body, z): (i64, Option<String>, Vec<u8>) = store
                .conn
                .query_row(
                    "SELECT id, body, norm_z FROM entry WHERE identity = ?1",
                    [format!("guid:{id}")],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .expect("entry");
            super::super::text::decode_norm(entry, body.as_deref(), &z).expect("decodes")
        };
        assert_eq!(norm("b"), marker.text, "b's precomputed analysis");
        assert!(
            norm("a").contains("stored text"),
            "a analysed by the writer"
        );
        assert!(
            norm("c").contains("word word"),
            "c re-analysed after its cut"
        );
    }

    #[test]
    fn unchanged_entries_tells_repeats_from_edits_and_newcomers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = store_with_one_feed(dir.path());
        let feed = FeedId(1);
        let entry = |id: &str, body: &str| ParsedEntry {
            identity: format!("guid:{id}"),
            title: Some(format!("Title {id}")),
            summary: Some(body.to_string()),
            ..Default::default()
        };
        let (a, b) = (entry("a", "<p>One.</p>"), entry("b", "<p>Two.</p>"));
        store
            .record(update(feed, vec![a.clone(), b.clone()]))
            .expect("record");
        let edited = entry("b", "<p>Two, corrected.</p>");
        let fresh = entry("c", "<p>Three.</p>");
        let keys: Vec<(String, i64)> = [&a, &edited, &fresh]
            .iter()
            .map(|e| (e.identity.clone(), e.content_hash()))
            .collect();
        assert_eq!(
            store.unchanged_entries(feed, &keys).expect("query"),
            [true, false, false]
        );
        // Another feed's entry with the same identity is not this feed's.
        assert_eq!(
            store
                .unchanged_entries(FeedId(2), &keys[..1])
                .expect("query"),
            [false]
        );
    }

    /// An unchanged item still listed refreshes `last_seen_at` once a day,
    /// not on every poll (each refresh rewrites the whole row).
    #[test]
    fn last_seen_is_refreshed_daily_not_on_every_poll() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = store_with_one_feed(dir.path());
        let feed = FeedId(1);
        let entry = ParsedEntry {
            identity: "guid:a".into(),
            title: Some("Title a".into()),
            summary: Some("<p>One.</p>".into()),
            ..Default::default()
        };
        let mut at = |hours: i64| {
            let mut u = update(feed, vec![entry.clone()]);
            u.fetched_at += chrono::TimeDelta::hours(hours);
            store.record(u).expect("record");
            store
                .conn
                .query_row("SELECT last_seen_at FROM entry", [], |r| {
                    r.get::<_, String>(0)
                })
                .expect("last_seen_at")
        };
        let first = at(0);
        assert_eq!(at(1), first, "an hour later: not rewritten");
        assert_eq!(at(23), first);
        let later = at(25);
        assert!(later > first, "{later} after {first}");
    }

    #[test]
    fn a_failing_update_in_a_batch_keeps_the_others() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = store_with_one_feed(dir.path());
        let entry = |id: &str| ParsedEntry {
            identity: format!("guid:{id}"),
            title: Some(format!("Story {id}")),
            summary: Some(format!("<p>Text of story {id}, searchable.</p>")),
            ..Default::default()
        };
        // Feed 99 does not exist: its update fails, and must fail alone.
        let results = store.record_all(&[
            update(FeedId(1), vec![entry("a")]),
            update(FeedId(99), vec![entry("b")]),
            update(FeedId(1), vec![entry("c")]),
        ]);
        assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
        assert!(results[1].is_err());
        let stored: Vec<String> = store
            .conn
            .prepare("SELECT identity FROM entry ORDER BY identity")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .expect("entries");
        assert_eq!(stored, ["guid:a", "guid:c"]);
        // Both were queued for the index, and are found once indexed.
        assert_eq!(store.index_backlog(None).expect("index"), (2, 0));
        let hits = store
            .search(
                &crate::store::SearchQuery::Words("searchable".into()),
                &crate::store::TimeFilter::default(),
                10,
            )
            .expect("search");
        assert_eq!(hits.len(), 2);
    }

    /// Issue 23: the report carries the dedup decision times (the store no
    /// longer calls into metrics), one per new entry, by bucket with exact
    /// sums.
    #[test]
    fn the_report_carries_one_decision_time_per_new_entry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = store_with_one_feed(dir.path());
        let entry = |id: &str| ParsedEntry {
            identity: format!("guid:{id}"),
            title: Some(format!("Story {id}")),
            summary: Some(format!("<p>Text of story {id}.</p>")),
            ..Default::default()
        };
        let report = store
            .record(update(FeedId(1), vec![entry("a"), entry("b")]))
            .expect("record");
        assert_eq!(report.dedup_decisions.count(), 2);
        let again = store
            .record(update(FeedId(1), vec![entry("a")]))
            .expect("record");
        assert_eq!(again.dedup_decisions.count(), 0, "no decision for a repeat");

        let mut times = DecisionTimes::default();
        for us in [5, 30, 50, 1_000_000, 10_000_000] {
            times.observe(Duration::from_micros(us));
        }
        let buckets: Vec<(Duration, u32)> = times.by_bucket().collect();
        assert_eq!(
            buckets,
            [
                (Duration::from_micros(5), 1),
                (Duration::from_micros(30), 1),
                (Duration::from_micros(50), 1),
                (Duration::from_secs(1), 1),
                (Duration::from_secs(10), 1),
            ]
        );
        let mut sum = times;
        sum += times;
        assert_eq!(sum.count(), 10);
        assert_eq!(sum.by_bucket().next(), Some((Duration::from_micros(5), 2)));
    }
}
