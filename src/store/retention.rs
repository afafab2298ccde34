//! Retention: prunes old stories, entries beyond a feed's cap, old fetch log
//! rows and stale tombstones, in small batches, then hands freed pages back.
//!
//! Invariants kept by every batch (one transaction each):
//! - every story keeps exactly one canonical copy: a story that lost copies
//!   is re-derived by the fold engine from the copies left (the origin
//!   agency's own copy, else the earliest published, is canonical), and a
//!   story whose copies are all pruned is deleted;
//! - `source_count` and `origin_agency` are recomputed for every story that
//!   lost a copy;
//! - every pruned entry leaves a tombstone (feed + identity), and ingest
//!   skips tombstoned identities, so a feed that still lists the item does
//!   not bring it back; the full-text row and the band keys go with the
//!   entry (a key left behind would name the next entry given its id).
//!
//! Readers are never blocked (WAL); batches are small so that the daemon's
//! writer interleaves ingest with pruning, and another writer (a `feedfold
//! prune` next to the daemon) waits milliseconds, not minutes.

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, TimeDelta, Utc};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::Serialize;
use tokio::sync::watch;

use super::{fold, format_time, search, EntryId, FeedId, Store, StoreError, StoreHandle, StoryId};

/// Entries (and fetch log rows, and tombstones) handled per transaction.
pub const DEFAULT_BATCH: usize = 500;
/// Pages the incremental vacuum frees per transaction (4 MiB of 4 KiB pages).
const VACUUM_PAGES: i64 = 1024;

/// What to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// A story is pruned, with all its copies, when no copy has joined it for
    /// this long (`story.last_seen_at`). Fetch log rows older than this go
    /// too, and tombstones of items no feed has listed for this long.
    pub keep: TimeDelta,
    /// Each feed keeps at most this many entries, the newest by published
    /// time (else first sight); older ones are pruned one by one.
    pub max_entries_per_feed: Option<u64>,
    /// Rows per transaction.
    pub batch: usize,
}

impl RetentionPolicy {
    /// Keep stories `days` days, and at most `max_entries_per_feed` entries per feed.
    pub fn new(days: u32, max_entries_per_feed: Option<u64>) -> RetentionPolicy {
        RetentionPolicy {
            keep: TimeDelta::days(i64::from(days)),
            max_entries_per_feed,
            batch: DEFAULT_BATCH,
        }
    }
}

/// What a prune removed; `feedfold prune --json` prints it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// Stories deleted because all their copies were pruned.
    pub stories: usize,
    /// Entries (copies) deleted.
    pub entries: usize,
    /// Stories whose canonical copy was pruned and another copy promoted.
    pub promoted: usize,
    /// Fetch log rows deleted.
    pub fetches: usize,
    /// Tombstones written for pruned entries.
    pub tombstones_added: usize,
    /// Tombstones dropped because no feed listed the item any more.
    pub tombstones_expired: usize,
    /// Transactions used.
    pub batches: usize,
    /// Database pages handed back to the file system by incremental vacuum.
    pub freed_pages: i64,
    /// Dedup band-index keys older than the matching window, dropped.
    pub band_keys: usize,
}

impl PruneReport {
    fn removed_nothing(&self) -> bool {
        self.entries == 0 && self.stories == 0 && self.fetches == 0 && self.tombstones_expired == 0
    }
}

impl std::ops::AddAssign for PruneReport {
    fn add_assign(&mut self, o: PruneReport) {
        self.stories += o.stories;
        self.entries += o.entries;
        self.promoted += o.promoted;
        self.fetches += o.fetches;
        self.tombstones_added += o.tombstones_added;
        self.tombstones_expired += o.tombstones_expired;
        self.batches += o.batches;
        self.freed_pages += o.freed_pages;
        self.band_keys += o.band_keys;
    }
}

/// Whether retention pruned this item of this feed; if so, notes that the
/// feed still lists it (which keeps the tombstone alive). Called by ingest
/// for every item it has not stored.
pub(crate) fn is_tombstoned(
    conn: &Connection,
    feed: FeedId,
    identity: &str,
    now: &str,
) -> rusqlite::Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE tombstone SET last_listed_at = ?3 WHERE feed_id = ?1 AND identity = ?2",
        )?
        .execute(params![feed.0, identity, now])?;
    Ok(n > 0)
}

impl Store {
    /// One batch of pruning in one transaction: at most `policy.batch`
    /// entries, fetch log rows and tombstones. Call until it removes nothing.
    pub fn prune_step(
        &mut self,
        policy: &RetentionPolicy,
        now: DateTime<Utc>,
    ) -> Result<PruneReport, StoreError> {
        let path = self.path.clone();
        let e = |source| super::feeds::err(&path, source);
        let cutoff = format_time(now - policy.keep);
        let now = format_time(now);
        let limit = policy.batch.max(1) as i64;
        let tx = super::write_transaction(&mut self.conn).map_err(e)?;
        let mut doomed = expired_story_entries(&tx, &cutoff, limit).map_err(e)?;
        // The cap counts the entries that survive the age rule: apply it
        // once the age rule has nothing left to do.
        if let (Some(max), true) = (policy.max_entries_per_feed, doomed.is_empty()) {
            entries_over_cap(&tx, max, limit, &mut doomed).map_err(e)?;
        }
        let mut bands = self.bands.begin_removal();
        let ids: Vec<i64> = doomed.iter().map(|id| id.0).collect();
        bands.remove_entries(&tx, &ids).map_err(e)?;
        let mut report = prune_entries(&tx, &doomed, &now).map_err(e)?;
        report.fetches = tx
            .prepare_cached(
                "DELETE FROM fetch_log WHERE id IN
                   (SELECT id FROM fetch_log WHERE fetched_at < ?1 ORDER BY fetched_at LIMIT ?2)",
            )
            .and_then(|mut s| s.execute(params![cutoff, limit]))
            .map_err(e)?;
        report.tombstones_expired = tx
            .prepare_cached(
                "DELETE FROM tombstone WHERE (feed_id, identity) IN
                   (SELECT feed_id, identity FROM tombstone WHERE last_listed_at < ?1
                    ORDER BY last_listed_at LIMIT ?2)",
            )
            .and_then(|mut s| s.execute(params![cutoff, limit]))
            .map_err(e)?;
        bands.commit(tx).map_err(e)?;
        report.batches = 1;
        Ok(report)
    }

    /// Frees up to `pages` pages of the file's free list (incremental
    /// vacuum); returns how many it freed (0 when there are none, or when the
    /// file is not in incremental auto-vacuum mode).
    pub fn vacuum_step(&mut self, pages: i64) -> Result<i64, StoreError> {
        let before = self.freelist_count()?;
        let mut stmt = self
            .conn
            .prepare(&format!("PRAGMA incremental_vacuum({pages})"))
            .map_err(|e| self.err(e))?;
        // The pragma frees one page per step: run it to the end.
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        while rows.next().map_err(|e| self.err(e))?.is_some() {}
        drop(rows);
        drop(stmt);
        Ok(before - self.freelist_count()?)
    }

    /// Pages on the file's free list.
    pub fn freelist_count(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("PRAGMA freelist_count", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// Whether the file hands freed pages back incrementally
    /// (`auto_vacuum = INCREMENTAL`, the mode of every file created since
    /// schema 5).
    pub fn incremental_vacuum_enabled(&self) -> Result<bool, StoreError> {
        let mode: i64 = self
            .conn
            .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        Ok(mode == 2)
    }

    /// Rewrites the whole file (VACUUM), switching it to incremental
    /// auto-vacuum. Needs free disk space the size of the database and holds
    /// the write lock throughout (readers carry on); meant for a one-off
    /// `feedfold prune --vacuum`, not for the daemon.
    pub fn vacuum_full(&mut self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;")
            .map_err(|e| self.err(e))
    }

    /// Lets SQLite refresh its planner statistics (`PRAGMA optimize`) and
    /// merges some of the full-text index's segments, so that deleted rows
    /// stop costing space and time.
    pub fn optimize(&mut self) -> Result<(), StoreError> {
        self.conn
            .execute_batch(
                "INSERT INTO entry_search (entry_search, rank) VALUES ('merge', 256);
                 PRAGMA optimize;",
            )
            .map_err(|e| self.err(e))
    }
}

/// All copies of up to `limit` stories no copy has joined since `cutoff`.
fn expired_story_entries(
    conn: &Connection,
    cutoff: &str,
    limit: i64,
) -> rusqlite::Result<Vec<EntryId>> {
    let mut stmt = conn.prepare_cached(
        "SELECT se.entry_id FROM story_entry se
         WHERE se.story_id IN (SELECT id FROM story WHERE last_seen_at < ?1 ORDER BY last_seen_at LIMIT ?2)",
    )?;
    let rows = stmt.query_map(params![cutoff, limit], |r| Ok(EntryId(r.get(0)?)))?;
    rows.collect()
}

/// Adds to `doomed` the entries beyond the newest `max` of each feed, until
/// `doomed` holds `limit` entries.
fn entries_over_cap(
    conn: &Connection,
    max: u64,
    limit: i64,
    doomed: &mut Vec<EntryId>,
) -> rusqlite::Result<()> {
    let feeds: Vec<i64> = conn
        .prepare_cached("SELECT id FROM feed ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut seen: HashSet<EntryId> = doomed.iter().copied().collect();
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM entry WHERE feed_id = ?1
         ORDER BY COALESCE(published_at, first_seen_at) DESC, id DESC LIMIT ?2 OFFSET ?3",
    )?;
    for feed in feeds {
        let room = limit - doomed.len() as i64;
        if room <= 0 {
            break;
        }
        let ids = stmt.query_map(params![feed, room, max as i64], |r| Ok(EntryId(r.get(0)?)))?;
        for id in ids {
            let id = id?;
            if seen.insert(id) {
                doomed.push(id);
            }
        }
    }
    Ok(())
}

/// Deletes `doomed` entries, with their lineage rows and index rows, leaves a
/// tombstone for each, and repairs the stories they belonged to.
fn prune_entries(
    conn: &Transaction,
    doomed: &[EntryId],
    now: &str,
) -> rusqlite::Result<PruneReport> {
    let mut report = PruneReport::default();
    let mut stories: BTreeSet<i64> = BTreeSet::new();
    for &id in doomed {
        let story: Option<i64> = conn
            .prepare_cached("SELECT story_id FROM story_entry WHERE entry_id = ?1")?
            .query_row([id.0], |r| r.get(0))
            .optional()?;
        stories.extend(story);
        report.tombstones_added += conn
            .prepare_cached(
                "INSERT INTO tombstone (feed_id, identity, pruned_at, last_listed_at)
                 SELECT feed_id, identity, ?2, last_seen_at FROM entry WHERE id = ?1
                 ON CONFLICT (feed_id, identity) DO UPDATE SET pruned_at = excluded.pruned_at,
                     last_listed_at = MAX(last_listed_at, excluded.last_listed_at)",
            )?
            .execute(params![id.0, now])?;
        search::unindex(conn, id)?;
        conn.prepare_cached("DELETE FROM story_entry WHERE entry_id = ?1")?
            .execute([id.0])?;
    }
    for &story in &stories {
        match repair_story(conn, story)? {
            Repair::Deleted => report.stories += 1,
            Repair::Promoted => report.promoted += 1,
            Repair::Recounted => {}
        }
    }
    for &id in doomed {
        report.entries += conn
            .prepare_cached("DELETE FROM entry WHERE id = ?1")?
            .execute([id.0])?;
    }
    Ok(report)
}

enum Repair {
    Deleted,
    Promoted,
    Recounted,
}

/// After some copies of `story` lost their lineage rows, lets the fold
/// engine re-derive the story from the copies left (the same rule as at
/// ingest: the origin agency's own copy, else the earliest published, becomes
/// canonical; source count and origin recomputed), or delete it if none are
/// left. The story keeps its `last_seen_at`: pruning is not news.
fn repair_story(conn: &Transaction, story: i64) -> rusqlite::Result<Repair> {
    let before: Option<(i64, String)> = conn
        .prepare_cached("SELECT canonical_entry_id, last_seen_at FROM story WHERE id = ?1")?
        .query_row([story], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((canonical, last_seen)) = before else {
        return Ok(Repair::Deleted);
    };
    fold::recompute_story(conn, StoryId(story), &last_seen)?;
    let after: Option<i64> = conn
        .prepare_cached("SELECT canonical_entry_id FROM story WHERE id = ?1")?
        .query_row([story], |r| r.get(0))
        .optional()?;
    Ok(match after {
        None => Repair::Deleted,
        Some(c) if c != canonical => Repair::Promoted,
        Some(_) => Repair::Recounted,
    })
}

/// Runs a whole prune through the writer: batches until nothing is left to
/// remove (other writes interleave between batches), then incremental vacuum
/// in steps and `PRAGMA optimize`. Stops between batches once `stop` turns
/// true.
pub async fn prune(
    store: &StoreHandle,
    policy: &RetentionPolicy,
    stop: &watch::Receiver<bool>,
) -> Result<PruneReport, StoreError> {
    let mut total = PruneReport::default();
    while !*stop.borrow() {
        let p = policy.clone();
        let step = store.call(move |s| s.prune_step(&p, Utc::now())).await?;
        total += step;
        if step.removed_nothing() {
            break;
        }
    }
    while !*stop.borrow() {
        let freed = store.call(|s| s.vacuum_step(VACUUM_PAGES)).await?;
        total.freed_pages += freed;
        if freed == 0 {
            break;
        }
        total.batches += 1;
    }
    // The dedup band index only needs the matching window: drop older keys.
    total.band_keys = store.call(|s| s.trim_band_index(Utc::now())).await?;
    store.call(|s| s.optimize()).await?;
    Ok(total)
}
