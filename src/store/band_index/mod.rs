//! The LSH band index: the table `entry_band`, the buffer of keys not yet
//! written to it, and the Bloom filter in front of both ([`filter`]). One
//! owner, [`BandIndex`], holds all three and runs every statement on
//! `entry_band`, so the protocol below lives in this module alone.
//!
//! Band keys are random by design, so each new entry's 24 keys land on 24
//! random leaf pages of the index: written a transaction at a time, they
//! dirtied nearly every page of it at each commit. So the writer keeps the
//! keys of recent entries in memory, answers lookups from the table and the
//! buffer together, and writes the buffer in one sorted pass when it is
//! large or when the writer is idle.
//!
//! The table is two tables, two levels of one index (migration 0015): a
//! flush writes into the small `entry_band_recent`, and when that has grown
//! to an eighth of `entry_band` ([`MERGE_RATIO`]) the flush moves it over in
//! one sorted pass. Written straight into the large table, a flush touched
//! most of its pages, so each cost in proportion to all keys before it and
//! a cold pass grew with the square of its entries; now each key is
//! rewritten a bounded number of times. Lookups read both tables; every
//! statement on them is in this module, which keeps their key counts in
//! `band_index_state` for the merge rule.
//!
//! Keys added inside a write transaction are staged through a [`Staged`]
//! guard: they become pending for good only when [`Staged::commit`] commits
//! the transaction, and any other end (an error, a panic unwinding) drops
//! them, because the rolled-back entries' ids will be handed to others.
//!
//! Invariant (crash safety): every entry with an id up to
//! `band_index_state.flushed_through` has all its keys in `entry_band`. Keys
//! of newer entries may exist only in memory. A writer takes them back from
//! the entries' stored signatures at its first transaction, and whenever
//! another writer process has committed (whose buffer it cannot see), so a
//! crash loses no key and a stopping writer need not write its buffer: its
//! successor adopts it, and the index is written only when a buffer fills
//! or idles. An entry written with an id at or below the mark (SQLite reuses
//! the highest id after a delete) has its keys written through.
//!
//! Other writers beside the daemon: the daemon lock (`store::lock`) keeps a
//! second daemon away, but one-shot `poll` and `refold` still write entries
//! and band keys from another process, so the adoption of foreign entries
//! above the mark (and the filter's drop on a foreign commit) stays.

mod filter;

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::dedup::{self, Signature};
use filter::KeyFilter;

/// Keys held in memory before the buffer is written out: about 8,000
/// entries. Larger means fewer passes over the index; each pass
/// costs about one write of the pages the keys fall on.
const FLUSH_KEYS: usize = 24 * 8192;

/// The recent level is moved into the settled one once it holds this
/// fraction of the settled level's keys (1/8): each move rewrites the
/// settled level, and the settled level grows by at least an eighth
/// between moves, so a key is rewritten at most ~9 times over the index's
/// life, while a flush touches the pages of a table an eighth the size.
const MERGE_RATIO: i64 = 8;

/// Nor is the recent level moved before it holds this many keys: while the
/// index is small, moving it every few flushes costs less than it saves.
const MERGE_MIN_KEYS: i64 = 4 * FLUSH_KEYS as i64;

/// How long keys may wait in memory once the writer is idle. Only the cost
/// of the next writer's first transaction depends on it (it rebuilds them).
const IDLE_FLUSH_AGE: Duration = Duration::from_secs(60);

/// One key of `entry_band`: (band key, window time, entry id), the table's
/// primary key order.
type Key = (i64, i64, i64);

/// The band index of one writer's [`super::Store`]: the table, the keys not
/// yet in it, and the filter over both.
#[derive(Debug, Default)]
pub(crate) struct BandIndex {
    /// Keys of committed entries, waiting to be written.
    pending: BTreeSet<Key>,
    /// Keys added by the open transaction (also in `pending`, so that a
    /// copy later in the same transaction finds them); dropped on rollback.
    staged: Vec<Key>,
    /// Entries the open transaction deletes: their pending keys go when it
    /// commits.
    removed: HashSet<i64>,
    /// `band_index_state.flushed_through` as last read.
    flushed_through: i64,
    /// Keys of entries above the mark were taken from their signatures.
    adopted: bool,
    /// When the oldest pending key was added.
    since: Option<Instant>,
    /// Which keys exist at all, so that most lookups skip the table.
    filter: KeyFilter,
}

impl BandIndex {
    /// Joins the write transaction `tx`: re-reads the mark, which another
    /// writer process (a one-shot `feedfold poll`) may have moved, and adopts
    /// the keys of entries above it that no buffer of ours holds. Keys the
    /// transaction adds or removes through the returned guard take effect
    /// only if [`Staged::commit`] commits it.
    pub(crate) fn begin(&mut self, tx: &Transaction) -> rusqlite::Result<Staged<'_>> {
        self.staged.clear();
        self.removed.clear();
        self.refresh(tx)?;
        Ok(Staged {
            index: self,
            committed: false,
        })
    }

    /// Joins a write transaction that only deletes entries (retention): it
    /// looks nothing up, so it neither adopts keys nor builds the filter.
    pub(crate) fn begin_removal(&mut self) -> Staged<'_> {
        self.staged.clear();
        self.removed.clear();
        Staged {
            index: self,
            committed: false,
        }
    }

    fn refresh(&mut self, tx: &Transaction) -> rusqlite::Result<()> {
        self.flushed_through = read_mark(tx)?;
        self.filter.check_data_version(tx)?;
        if !self.adopted || self.filter.take_foreign_commit() {
            let entries = self.adopt(tx)?;
            if entries > 0 {
                tracing::debug!(
                    entries,
                    "took band keys of entries above the mark from their signatures"
                );
            }
            self.adopted = true;
        }
        self.filter.refresh(
            tx,
            self.flushed_through,
            self.pending.iter().map(|&(key, _, _)| key as u64),
        )
    }

    /// Puts into the buffer the keys of the entries above the mark that it
    /// lacks (left by a writer that stopped, or added by one still running),
    /// rebuilt from their signatures; drops the keys of entries the mark has
    /// passed (another writer wrote them). Returns the number of entries.
    fn adopt(&mut self, tx: &Transaction) -> rusqlite::Result<usize> {
        let mark = self.flushed_through;
        self.pending.retain(|&(_, _, id)| id > mark);
        let ours = self.pending_entries();
        let mut entries = 0;
        for id in entries_in(tx, (mark, i64::MAX), &ours)? {
            let Some((at, keys)) = signature_keys(tx, id)? else {
                continue;
            };
            for key in keys {
                self.filter.insert(key);
                self.pending.insert((key as i64, at, id));
            }
            entries += 1;
        }
        if entries > 0 {
            self.since.get_or_insert_with(Instant::now);
        }
        Ok(entries)
    }

    /// The entries whose keys are pending. Built by insertion, not
    /// `collect`: that would size the set for every key (24 per entry),
    /// megabytes at the moment the buffer is fullest.
    fn pending_entries(&self) -> HashSet<i64> {
        let mut ids = HashSet::new();
        for &(_, _, id) in &self.pending {
            ids.insert(id);
        }
        ids
    }

    /// Indexes an entry's band keys: into the buffer for a new entry, through
    /// to the table for one at or below the mark.
    fn add(
        &mut self,
        tx: &Transaction,
        entry: i64,
        keys: &[u64],
        window_at: i64,
    ) -> rusqlite::Result<()> {
        for &k in keys {
            self.filter.insert(k);
        }
        if entry <= self.flushed_through {
            self.filter.forget_saved(tx)?;
            return insert(tx, keys.iter().map(|&k| (k as i64, window_at, entry))).map(drop);
        }
        for &k in keys {
            let key = (k as i64, window_at, entry);
            if self.pending.insert(key) {
                self.staged.push(key);
            }
        }
        self.since.get_or_insert_with(Instant::now);
        Ok(())
    }

    /// Entries holding band key `key` with a window time in `from..=to`, at
    /// most `limit` of them, earliest first, from the table and the buffer.
    fn lookup(
        &self,
        tx: &Transaction,
        key: u64,
        (from, to): (i64, i64),
        limit: usize,
    ) -> rusqlite::Result<Vec<i64>> {
        if from > to || !self.filter.may_contain(key) {
            return Ok(Vec::new());
        }
        let key = key as i64;
        // Each level gives its earliest `limit`; together with the buffer's
        // they hold the earliest `limit` of the whole index.
        let mut hits: Vec<(i64, i64)> = Vec::new();
        for sql in [
            "SELECT window_at, entry_id FROM entry_band
             WHERE band_key = ?1 AND window_at BETWEEN ?2 AND ?3 LIMIT ?4",
            "SELECT window_at, entry_id FROM entry_band_recent
             WHERE band_key = ?1 AND window_at BETWEEN ?2 AND ?3 LIMIT ?4",
        ] {
            let mut stmt = tx.prepare_cached(sql)?;
            let rows = stmt.query_map(params![key, from, to, limit as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
            for row in rows {
                hits.push(row?);
            }
        }
        let buffered = self
            .pending
            .range((key, from, i64::MIN)..=(key, to, i64::MAX));
        hits.extend(buffered.take(limit).map(|&(_, at, id)| (at, id)));
        // The order and cut of a lookup in one table: earliest first.
        hits.sort_unstable();
        hits.dedup();
        hits.truncate(limit);
        Ok(hits.into_iter().map(|(_, id)| id).collect())
    }

    /// Deletes the band keys of entries the transaction deletes (retention):
    /// SQLite hands the highest id out again after a delete, and a key left
    /// behind would name the new entry. Keys are found from the entries'
    /// signatures, so call it before deleting the rows. Buffered keys of
    /// these entries go when the transaction commits.
    fn remove_entries(&mut self, tx: &Transaction, entries: &[i64]) -> rusqlite::Result<usize> {
        let (mut settled, mut recent) = (0, 0);
        let mut from_settled = tx.prepare_cached(
            "DELETE FROM entry_band WHERE band_key = ?1 AND window_at = ?2 AND entry_id = ?3",
        )?;
        let mut from_recent = tx.prepare_cached(
            "DELETE FROM entry_band_recent WHERE band_key = ?1 AND window_at = ?2 AND entry_id = ?3",
        )?;
        for &id in entries {
            self.removed.insert(id);
            let Some((at, keys)) = stored_keys(tx, id, None)? else {
                continue;
            };
            for key in keys {
                settled += from_settled.execute(params![key as i64, at, id])?;
                recent += from_recent.execute(params![key as i64, at, id])?;
            }
        }
        count_keys(tx, -(settled as i64), -(recent as i64))?;
        Ok(settled + recent)
    }

    /// The open transaction committed: its keys are pending for good, and
    /// those of the entries it deleted are gone.
    fn keep_staged(&mut self) {
        self.staged.clear();
        if !self.removed.is_empty() {
            let removed = std::mem::take(&mut self.removed);
            self.pending.retain(|(_, _, id)| !removed.contains(id));
        }
    }

    /// The open transaction rolled back: its entries do not exist, nor may
    /// their keys (SQLite will hand their ids to other entries).
    fn discard_staged(&mut self) {
        for key in self.staged.drain(..) {
            self.pending.remove(&key);
        }
        self.removed.clear();
    }

    /// Deletes the keys with a window time before `cutoff` (after writing the
    /// buffer, so that none is left behind in memory): the index's size
    /// follows the matching window, not the history. Returns the number of
    /// keys deleted.
    pub(crate) fn trim(&mut self, conn: &mut Connection, cutoff: i64) -> rusqlite::Result<usize> {
        self.flush(conn)?;
        let tx = super::write_transaction(conn)?;
        let deleted = delete_where(&tx, "window_at < ?1", cutoff)?;
        tx.commit()?;
        Ok(deleted)
    }

    /// Deletes the keys with a window time from `from` on, in `tx`, for a
    /// refold that rebuilds them as its entries replay. Write the buffer
    /// first ([`BandIndex::flush`]), so that no key of the range waits in it.
    pub(crate) fn clear_from(&mut self, tx: &Transaction, from: i64) -> rusqlite::Result<usize> {
        delete_where(tx, "window_at >= ?1", from)
    }

    /// True once the buffer is worth writing out.
    pub(crate) fn is_full(&self) -> bool {
        self.pending.len() >= FLUSH_KEYS
    }

    /// True if any key waits in memory.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// True if keys have waited long enough to be written while the writer
    /// has nothing else to do.
    pub(crate) fn is_stale(&self) -> bool {
        !self.pending.is_empty() && self.since.is_some_and(|t| t.elapsed() >= IDLE_FLUSH_AGE)
    }

    /// Writes every pending key, in index order, and moves the mark past
    /// their entries, in one transaction. The saved key filter no longer
    /// covers the index then; [`BandIndex::park`] saves it again.
    /// Returns the number of keys written.
    pub(crate) fn flush(&mut self, conn: &mut Connection) -> rusqlite::Result<usize> {
        if self.pending.is_empty() {
            return Ok(0);
        }
        let tx = super::write_transaction(conn)?;
        let mark = read_mark(&tx)?;
        insert(&tx, self.pending.iter().copied())?;
        let ours = self.pending_entries();
        let newest = ours.iter().copied().max().unwrap_or(mark);
        // Entries in the range that are not ours were written by another
        // writer process, whose buffer the mark is about to pass over.
        if write_from_signatures(&tx, (mark, newest), &ours)? > 0 {
            self.filter
                .drop_filter("another writer's keys reached the index");
        }
        merge_if_due(&tx)?;
        self.flushed_through = raise_mark(&tx, newest)?;
        if self.flushed_through != mark {
            // The saved copy no longer covers the index; its space is freed.
            self.filter.forget_saved(&tx)?;
        }
        tx.commit()?;
        let written = self.pending.len();
        self.pending.clear();
        self.since = None;
        Ok(written)
    }

    /// For a writer that stops: saves the key filter unless the database
    /// holds it already. Pending keys are not written: the next writer
    /// adopts them (see [`BandIndex::begin`]), and writing a few thousand
    /// keys would rewrite most pages of the index.
    pub(crate) fn park(&mut self, conn: &mut Connection) -> rusqlite::Result<()> {
        if !self.filter.needs_saving(self.flushed_through) {
            return Ok(());
        }
        let tx = super::write_transaction(conn)?;
        let mark = read_mark(&tx)?;
        self.filter.save(&tx, mark)?;
        tx.commit()
    }
}

/// The band index's side of one write transaction: what it adds or removes
/// takes effect only through [`Staged::commit`], which commits the
/// transaction too; dropped any other way (an error, a panic unwinding), it
/// forgets the transaction's keys.
pub(crate) struct Staged<'b> {
    index: &'b mut BandIndex,
    committed: bool,
}

impl Staged<'_> {
    /// Indexes an entry's band keys: into the buffer for a new entry, through
    /// to the table for one at or below the mark.
    pub(crate) fn add(
        &mut self,
        tx: &Transaction,
        entry: i64,
        keys: &[u64],
        window_at: i64,
    ) -> rusqlite::Result<()> {
        self.index.add(tx, entry, keys, window_at)
    }

    /// Entries holding band key `key` with a window time in `from..=to`, at
    /// most `limit` of them, earliest first, from the table and the buffer.
    pub(crate) fn lookup(
        &self,
        tx: &Transaction,
        key: u64,
        window: (i64, i64),
        limit: usize,
    ) -> rusqlite::Result<Vec<i64>> {
        self.index.lookup(tx, key, window, limit)
    }

    /// Deletes the band keys of `entries`, which the transaction deletes;
    /// call before deleting their rows. Returns the number of keys deleted
    /// from the table.
    pub(crate) fn remove_entries(
        &mut self,
        tx: &Transaction,
        entries: &[i64],
    ) -> rusqlite::Result<usize> {
        self.index.remove_entries(tx, entries)
    }

    /// Commits `tx` and keeps what the transaction staged.
    pub(crate) fn commit(mut self, tx: Transaction) -> rusqlite::Result<()> {
        tx.commit()?;
        self.committed = true;
        self.index.keep_staged();
        Ok(())
    }
}

impl Drop for Staged<'_> {
    fn drop(&mut self) {
        if !self.committed {
            self.index.discard_staged();
        }
    }
}

/// Writes the band keys of the entries with ids in `(after, upto]`, except
/// `skip`, rebuilt from their signatures. Returns the number of entries.
fn write_from_signatures(
    tx: &Transaction,
    range: (i64, i64),
    skip: &HashSet<i64>,
) -> rusqlite::Result<usize> {
    let mut keys = BTreeSet::new();
    let mut entries = 0;
    for id in entries_in(tx, range, skip)? {
        let Some((at, band_keys)) = signature_keys(tx, id)? else {
            continue;
        };
        keys.extend(band_keys.into_iter().map(|k| (k as i64, at, id)));
        entries += 1;
    }
    insert(tx, keys.into_iter())?;
    Ok(entries)
}

/// Ids of the entries in `(after, upto]` that are not in `skip`. Reading an
/// id does not read the row's text, as reading its signature does.
fn entries_in(
    tx: &Transaction,
    (after, upto): (i64, i64),
    skip: &HashSet<i64>,
) -> rusqlite::Result<Vec<i64>> {
    let mut ids = Vec::new();
    let mut stmt = tx.prepare_cached("SELECT id FROM entry WHERE id > ?1 AND id <= ?2")?;
    let mut rows = stmt.query([after, upto])?;
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        if !skip.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// An entry's window time and band keys, from its stored signature; `None`
/// for an entry analysed by another algorithm version, or whose signature
/// is damaged (it makes no candidate anyway, see `fold::candidate`).
fn signature_keys(tx: &Transaction, id: i64) -> rusqlite::Result<Option<(i64, Vec<u64>)>> {
    stored_keys(tx, id, Some(dedup::ALGORITHM_VERSION))
}

/// An entry's window time and band keys from its stored signature, if it
/// has one that parses and, with `version`, was made by that algorithm
/// version.
fn stored_keys(
    tx: &Transaction,
    id: i64,
    version: Option<i64>,
) -> rusqlite::Result<Option<(i64, Vec<u64>)>> {
    let row = tx
        .prepare_cached(
            "SELECT window_at, signature FROM entry
             WHERE id = ?1 AND (?2 IS NULL OR fingerprint_version = ?2) AND signature IS NOT NULL",
        )?
        .query_row(params![id, version], |r| {
            Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, Vec<u8>>(1)?))
        })
        .optional()?;
    let Some((at, blob)) = row else {
        return Ok(None);
    };
    let Ok(signature) = Signature::from_bytes(&blob) else {
        return Ok(None);
    };
    Ok(Some((at.unwrap_or(0), signature.band_keys())))
}

/// Writes `keys` into the recent level; returns how many were new there.
fn insert(tx: &Transaction, keys: impl Iterator<Item = Key>) -> rusqlite::Result<usize> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO entry_band_recent (band_key, window_at, entry_id) VALUES (?1, ?2, ?3)",
    )?;
    let mut added = 0;
    for (key, at, id) in keys {
        added += stmt.execute(params![key, at, id])?;
    }
    count_keys(tx, 0, added as i64)?;
    Ok(added)
}

/// Deletes the keys of both levels matching `condition` on `value` (one
/// parameter); returns how many.
fn delete_where(tx: &Transaction, condition: &str, value: i64) -> rusqlite::Result<usize> {
    let settled = tx.execute(
        &format!("DELETE FROM entry_band WHERE {condition}"),
        [value],
    )?;
    let recent = tx.execute(
        &format!("DELETE FROM entry_band_recent WHERE {condition}"),
        [value],
    )?;
    count_keys(tx, -(settled as i64), -(recent as i64))?;
    Ok(settled + recent)
}

/// Adds to the key counts of the two levels in `band_index_state`.
fn count_keys(tx: &Transaction, settled: i64, recent: i64) -> rusqlite::Result<()> {
    if settled == 0 && recent == 0 {
        return Ok(());
    }
    tx.prepare_cached(
        "UPDATE band_index_state SET settled_keys = MAX(settled_keys + ?1, 0),
                                     recent_keys = MAX(recent_keys + ?2, 0)",
    )?
    .execute([settled, recent])?;
    Ok(())
}

/// Moves the recent level into the settled one, in index order, once it
/// has grown to [`MERGE_RATIO`] of it (see the module doc). Returns whether
/// it did.
fn merge_if_due(tx: &Transaction) -> rusqlite::Result<bool> {
    merge_past(tx, MERGE_MIN_KEYS)
}

/// [`merge_if_due`] with the least size of the recent level given.
fn merge_past(tx: &Transaction, min_keys: i64) -> rusqlite::Result<bool> {
    let (settled, recent): (i64, i64) = tx
        .prepare_cached("SELECT settled_keys, recent_keys FROM band_index_state")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if recent == 0 || recent < min_keys.max(settled / MERGE_RATIO) {
        return Ok(false);
    }
    let moved = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO entry_band (band_key, window_at, entry_id)
             SELECT band_key, window_at, entry_id FROM entry_band_recent
             ORDER BY band_key, window_at, entry_id",
        )?
        .execute([])?;
    tx.prepare_cached("DELETE FROM entry_band_recent")?
        .execute([])?;
    tx.prepare_cached(
        "UPDATE band_index_state SET settled_keys = settled_keys + ?1, recent_keys = 0",
    )?
    .execute([moved as i64])?;
    tracing::debug!(
        moved,
        settled,
        "recent band keys moved into the settled level"
    );
    Ok(true)
}

fn read_mark(tx: &Transaction) -> rusqlite::Result<i64> {
    tx.prepare_cached("SELECT flushed_through FROM band_index_state")?
        .query_row([], |r| r.get(0))
}

/// Moves the mark up to `to` (never down: another writer may be ahead).
fn raise_mark(tx: &Transaction, to: i64) -> rusqlite::Result<i64> {
    tx.prepare_cached("UPDATE band_index_state SET flushed_through = MAX(flushed_through, ?1)")?
        .execute([to])?;
    read_mark(tx)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::config::FeedConfig;
    use crate::parse::ParsedEntry;
    use crate::store::ingest::FeedUpdate;
    use crate::store::{write_transaction, FeedId, Store};

    /// Keys in both levels of the index.
    const ALL_KEYS: &str =
        "SELECT (SELECT COUNT(*) FROM entry_band) + (SELECT COUNT(*) FROM entry_band_recent)";

    /// A wire story long enough to fold (shared with the fold tests).
    pub(in crate::store) const WIRE: &str =
        "Russian and US officials met in Istanbul on Thursday for talks on \
        resolving embassy issues, as the two countries aimed to restore ties after years of \
        tension. The meeting at the US consul general's residence lasted more than six hours, \
        and both delegations described it as constructive. Moscow said the sides agreed to \
        keep working on the return of diplomatic property and on visas for staff. Washington \
        said it would consult its allies before the next round, which has no date yet.";

    fn open(dir: &std::path::Path) -> Store {
        let mut store = Store::open(&dir.join("t.db")).expect("open");
        let feeds = [
            FeedConfig {
                url: "https://a.example/rss".into(),
                ..Default::default()
            },
            FeedConfig {
                url: "https://b.example/rss".into(),
                ..Default::default()
            },
        ];
        store.sync_feeds(&feeds, chrono::Utc::now()).expect("sync");
        store
    }

    fn record(store: &mut Store, feed: i64, id: &str, title: &str, body: &str) {
        let entry = ParsedEntry {
            identity: format!("guid:{id}"),
            title: Some(title.into()),
            summary: Some(format!("<p>{body}</p>")),
            published: Some(chrono::Utc::now()),
            ..Default::default()
        };
        store
            .record(FeedUpdate::parsed_now(FeedId(feed), vec![entry]))
            .expect("record");
    }

    /// Records an edited copy of [`WIRE`] under another headline.
    fn record_copy(store: &mut Store, feed: i64, id: &str) {
        let copy = WIRE.replace("Thursday", "Thursday afternoon");
        record(store, feed, id, "Moscow and Washington meet", &copy);
    }

    /// A new database holding the wire story as entry 1 (feed 1).
    fn with_wire_story(dir: &std::path::Path) -> Store {
        let mut store = open(dir);
        record(&mut store, 1, "a", "Russia, US hold embassy talks", WIRE);
        store
    }

    /// The band keys the engine gives a body recorded by [`record`] (how
    /// many depends on the text: the sketches' and its lede starts').
    fn keys_of(body: &str) -> i64 {
        let a = crate::dedup::analyze(None, Some(&format!("<p>{body}</p>")));
        a.bands.len() as i64
    }

    /// The table holds `keys` band keys and the mark is at `flushed_through`.
    fn assert_index(store: &Store, keys: i64, flushed_through: i64) {
        assert_eq!(count(store, ALL_KEYS), keys);
        assert_eq!(
            count(store, "SELECT flushed_through FROM band_index_state"),
            flushed_through
        );
    }

    fn count(store: &Store, sql: &str) -> i64 {
        store.conn.query_row(sql, [], |r| r.get(0)).expect(sql)
    }

    #[test]
    fn a_copy_finds_an_original_whose_keys_are_still_in_memory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = with_wire_story(dir.path());
        // A near copy: another headline, a dateline, the last sentence cut.
        let cut = WIRE
            .rsplit_once(" Washington")
            .map_or(WIRE, |(head, _)| head);
        let copy =
            format!("ISTANBUL, (APP - UrduPoint / Pakistan Point News - 27th Feb, 2025) {cut}");
        record(
            &mut store,
            2,
            "b",
            "Moscow and Washington meet in Istanbul",
            &copy,
        );
        assert_eq!(count(&store, ALL_KEYS), 0, "keys wait in memory");
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM story"),
            1,
            "the copy folded"
        );
        let written = store.flush_band_keys().expect("flush");
        let keys = keys_of(WIRE) + keys_of(&copy);
        assert_eq!(written as i64, keys);
        assert_index(&store, keys, 2);
    }

    /// The counts in `band_index_state` are those of the tables.
    fn assert_levels(store: &Store, settled: i64, recent: i64) {
        assert_eq!(count(store, "SELECT COUNT(*) FROM entry_band"), settled);
        assert_eq!(
            count(store, "SELECT COUNT(*) FROM entry_band_recent"),
            recent
        );
        assert_eq!(
            count(store, "SELECT settled_keys FROM band_index_state"),
            settled
        );
        assert_eq!(
            count(store, "SELECT recent_keys FROM band_index_state"),
            recent
        );
    }

    /// Issue 19: a flush writes the small recent level; a merge moves it
    /// into the settled level; copies find their originals in either level,
    /// and deletes reach both.
    #[test]
    fn flushed_keys_reach_the_recent_level_and_a_merge_settles_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = with_wire_story(dir.path());
        let wire = keys_of(WIRE);
        store.flush_band_keys().expect("flush");
        assert_levels(&store, 0, wire);
        // Far below the merge size: the flush left the level where it was.
        let tx = write_transaction(&mut store.conn).expect("tx");
        assert!(!merge_if_due(&tx).expect("no merge"));
        assert!(merge_past(&tx, 0).expect("merge"));
        tx.commit().expect("commit");
        assert_levels(&store, wire, 0);
        // A copy finds the original in the settled level...
        record_copy(&mut store, 2, "b");
        store.flush_band_keys().expect("flush");
        let copy = keys_of(&WIRE.replace("Thursday", "Thursday afternoon"));
        assert_levels(&store, wire, copy);
        // ...and another, from a third feed, finds both, one in each level.
        let feeds: Vec<FeedConfig> = ["a", "b", "c"]
            .iter()
            .map(|h| FeedConfig {
                url: format!("https://{h}.example/rss"),
                ..Default::default()
            })
            .collect();
        store
            .sync_feeds(&feeds, chrono::Utc::now())
            .expect("third feed");
        record_copy(&mut store, 3, "c");
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM story"),
            1,
            "the copies folded"
        );
        store.flush_band_keys().expect("flush");
        assert_levels(&store, wire, 2 * copy);
        // Deleting entries deletes their keys from both levels.
        let tx = write_transaction(&mut store.conn).expect("tx");
        let mut staged = store.bands.begin(&tx).expect("begin");
        let deleted = staged.remove_entries(&tx, &[1, 2]).expect("remove");
        drop(staged);
        tx.commit().expect("commit");
        assert_eq!(deleted as i64, wire + copy);
        assert_levels(&store, 0, copy);
    }

    #[test]
    fn a_refold_leaves_its_keys_written_not_in_memory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = with_wire_story(dir.path());
        record_copy(&mut store, 2, "b");
        let report = store.refold(None, |_, _| {}).expect("refold");
        assert_eq!(report.entries, 2);
        assert!(store.bands.is_empty(), "no key left in the buffer");
        let copy = WIRE.replace("Thursday", "Thursday afternoon");
        assert_index(&store, keys_of(WIRE) + keys_of(&copy), 2);
    }

    #[test]
    fn keys_lost_with_the_writer_are_taken_back_from_the_signatures() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = with_wire_story(dir.path());
        // As if the process died: the buffer goes without being written.
        store.bands = BandIndex::default();
        drop(store);
        let mut store = open(dir.path());
        record_copy(&mut store, 2, "b");
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM story"),
            1,
            "the copy folded"
        );
        assert_eq!(count(&store, ALL_KEYS), 0);
        let copy = WIRE.replace("Thursday", "Thursday afternoon");
        assert_eq!(
            store.flush_band_keys().expect("flush") as i64,
            keys_of(WIRE) + keys_of(&copy),
            "both entries' keys"
        );
        assert_eq!(
            count(&store, "SELECT flushed_through FROM band_index_state"),
            2
        );
    }

    #[test]
    fn keys_of_a_rolled_back_transaction_are_forgotten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = open(dir.path());
        let tx = write_transaction(&mut store.conn).expect("tx");
        let mut bands = store.bands.begin(&tx).expect("begin");
        bands.add(&tx, 7, &[11, 12], 100).expect("add");
        let window = (0, 200);
        assert_eq!(bands.lookup(&tx, 11, window, 16).expect("lookup"), [7]);
        assert!(bands
            .lookup(&tx, 11, (101, 200), 16)
            .expect("lookup")
            .is_empty());
        // Dropped without commit: the transaction rolls back, the keys go.
        drop(bands);
        drop(tx);
        let tx = write_transaction(&mut store.conn).expect("tx");
        let bands = store.bands.begin(&tx).expect("begin");
        assert!(bands
            .lookup(&tx, 11, window, 16)
            .expect("lookup")
            .is_empty());
        drop(bands);
        assert!(store.bands.is_empty());
    }

    #[test]
    fn an_entry_at_or_below_the_mark_is_written_through() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = open(dir.path());
        store
            .conn
            .execute("UPDATE band_index_state SET flushed_through = 10", [])
            .expect("mark");
        let tx = write_transaction(&mut store.conn).expect("tx");
        let mut bands = store.bands.begin(&tx).expect("begin");
        bands.add(&tx, 10, &[5], 100).expect("add");
        bands.add(&tx, 11, &[5], 100).expect("add");
        // Both are found, from the table and from the buffer, in index order.
        assert_eq!(
            bands.lookup(&tx, 5, (0, 200), 16).expect("lookup"),
            [10, 11]
        );
        assert_eq!(bands.lookup(&tx, 5, (0, 200), 1).expect("lookup"), [10]);
        bands.commit(tx).expect("commit");
        assert_eq!(count(&store, ALL_KEYS), 1);
    }

    #[test]
    fn a_copy_of_an_entry_another_writer_stored_still_folds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut daemon = open(dir.path());
        // The daemon's key filter exists before the other writer's commit.
        record(
            &mut daemon,
            1,
            "x",
            "Budget passed",
            "Parliament passed the budget.",
        );
        // The other writer is still running: its keys are in its memory only.
        let mut other = open(dir.path());
        record(&mut other, 1, "a", "Russia, US hold embassy talks", WIRE);
        record_copy(&mut daemon, 2, "b");
        assert_eq!(
            count(&daemon, "SELECT COUNT(*) FROM story"),
            2,
            "the copy folded into the other writer's story"
        );
    }

    #[test]
    fn the_key_filter_is_saved_for_the_next_writer_and_forgotten_when_keys_bypass_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = with_wire_story(dir.path());
        drop(store);
        let store = open(dir.path());
        assert_eq!(
            count(
                &store,
                "SELECT COUNT(*) FROM band_filter f, band_index_state s
                 WHERE f.covers_through = s.flushed_through"
            ),
            1,
            "saved, covering the index"
        );
        assert_eq!(count(&store, ALL_KEYS), 0, "keys not written at the stop");
        drop(store);
        // The next writer finds the copy through the saved filter.
        let mut store = open(dir.path());
        record_copy(&mut store, 2, "b");
        assert_eq!(count(&store, "SELECT COUNT(*) FROM story"), 1, "folded");
        // A key written straight to the table deletes the saved copy.
        store.flush_band_keys().expect("flush");
        store.park_band_keys().expect("park");
        assert_eq!(count(&store, "SELECT COUNT(*) FROM band_filter"), 1);
        let tx = write_transaction(&mut store.conn).expect("tx");
        let mut bands = store.bands.begin(&tx).expect("begin");
        bands.add(&tx, 1, &[5], 100).expect("add");
        bands.commit(tx).expect("commit");
        assert_eq!(count(&store, "SELECT COUNT(*) FROM band_filter"), 0);
    }

    /// Issue 23: pruning an entry deletes its band keys, from the table and
    /// from the buffer; left behind, they would name the next entry that
    /// SQLite gives the pruned (highest) id.
    #[test]
    fn retention_removes_the_band_keys_of_pruned_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = with_wire_story(dir.path());
        store.flush_band_keys().expect("flush");
        record(
            &mut store,
            2,
            "b",
            "Budget passed",
            "Parliament passed the budget after a long night of votes on spending.",
        );
        assert_eq!(count(&store, ALL_KEYS), keys_of(WIRE));
        assert!(!store.bands.is_empty(), "the second entry's keys wait");
        let policy = crate::store::RetentionPolicy {
            keep: chrono::TimeDelta::zero(),
            max_entries_per_feed: None,
            batch: 500,
        };
        let later = chrono::Utc::now() + chrono::TimeDelta::days(1);
        let report = store.prune_step(&policy, later).expect("prune");
        assert_eq!(report.entries, 2);
        assert_eq!(count(&store, ALL_KEYS), 0);
        assert!(store.bands.is_empty(), "buffered keys of pruned entries");
        assert_eq!(store.flush_band_keys().expect("flush"), 0);
    }
}
