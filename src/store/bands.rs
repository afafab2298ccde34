//! The LSH band index (`entry_band`) and its write buffer.
//!
//! Band keys are random by design, so each new entry's 24 keys land on 24
//! random leaf pages of the index: a transaction of a thousand entries dirties
//! nearly every page of it, and the WAL receives the whole index again at
//! every commit. That was half of a cold poll's time. So the writer keeps the
//! keys of recent entries in memory ([`BandBuffer`]), answers lookups from
//! the table and the buffer together, and writes the buffer in one sorted
//! pass when it is large or when the writer is idle.
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

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::keyfilter::KeyFilter;
use crate::dedup::{self, Signature};

/// Keys held in memory before the buffer is written out: about 8,000
/// entries, ~6 MB. Larger means fewer passes over the index; each pass
/// costs about one write of the pages the keys fall on.
const FLUSH_KEYS: usize = 24 * 8192;

/// How long keys may wait in memory once the writer is idle. Only the cost
/// of the next writer's first transaction depends on it (it rebuilds them).
const IDLE_FLUSH_AGE: Duration = Duration::from_secs(60);

/// One key of `entry_band`: (band key, window time, entry id), the table's
/// primary key order.
type Key = (i64, i64, i64);

/// Band keys not yet in `entry_band`, owned by the writer's [`super::Store`].
#[derive(Debug, Default)]
pub(super) struct BandBuffer {
    /// Keys of committed entries, waiting to be written.
    pending: BTreeSet<Key>,
    /// Keys added by the open transaction (also in `pending`, so that a
    /// copy later in the same transaction finds them); dropped on rollback.
    staged: Vec<Key>,
    /// `band_index_state.flushed_through` as last read.
    flushed_through: i64,
    /// Keys of entries above the mark were taken from their signatures.
    adopted: bool,
    /// When the oldest pending key was added.
    since: Option<Instant>,
    /// Which keys exist at all, so that most lookups skip the table.
    filter: KeyFilter,
}

impl BandBuffer {
    /// Starts a write transaction: re-reads the mark, which another writer
    /// process (a one-shot `feedfold poll`) may have moved, and adopts the
    /// keys of entries above it that no buffer of ours holds.
    pub(super) fn begin(&mut self, tx: &Transaction) -> rusqlite::Result<()> {
        self.staged.clear();
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
    pub(super) fn add(
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
            return insert(tx, keys.iter().map(|&k| (k as i64, window_at, entry)));
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
    pub(super) fn lookup(
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
        let mut hits: Vec<(i64, i64)> = tx
            .prepare_cached(
                "SELECT window_at, entry_id FROM entry_band
                 WHERE band_key = ?1 AND window_at BETWEEN ?2 AND ?3 LIMIT ?4",
            )?
            .query_map(params![key, from, to, limit as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let stored = hits.len();
        let buffered = self
            .pending
            .range((key, from, i64::MIN)..=(key, to, i64::MAX));
        hits.extend(buffered.take(limit).map(|&(_, at, id)| (at, id)));
        if hits.len() > stored {
            // The same order and cut as a lookup in the table alone.
            hits.sort_unstable();
            hits.dedup();
            hits.truncate(limit);
        }
        Ok(hits.into_iter().map(|(_, id)| id).collect())
    }

    /// The open transaction committed: its keys are pending for good.
    pub(super) fn committed(&mut self) {
        self.staged.clear();
    }

    /// The open transaction rolled back: its entries do not exist, nor may
    /// their keys (SQLite will hand their ids to other entries).
    pub(super) fn rolled_back(&mut self) {
        for key in self.staged.drain(..) {
            self.pending.remove(&key);
        }
    }

    /// True once the buffer is worth writing out.
    pub(super) fn is_full(&self) -> bool {
        self.pending.len() >= FLUSH_KEYS
    }

    /// True if any key waits in memory.
    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// True if keys have waited long enough to be written while the writer
    /// has nothing else to do.
    pub(super) fn is_stale(&self) -> bool {
        !self.pending.is_empty() && self.since.is_some_and(|t| t.elapsed() >= IDLE_FLUSH_AGE)
    }

    /// Writes every pending key, in index order, and moves the mark past
    /// their entries, in one transaction. The saved key filter no longer
    /// covers the index then; [`BandBuffer::park`] saves it again.
    /// Returns the number of keys written.
    pub(super) fn flush(&mut self, conn: &mut Connection) -> rusqlite::Result<usize> {
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
    /// adopts them (see [`BandBuffer::begin`]), and writing a few thousand
    /// keys would rewrite most pages of the index.
    pub(super) fn park(&mut self, conn: &mut Connection) -> rusqlite::Result<()> {
        if !self.filter.needs_saving(self.flushed_through) {
            return Ok(());
        }
        let tx = super::write_transaction(conn)?;
        let mark = read_mark(&tx)?;
        self.filter.save(&tx, mark)?;
        tx.commit()
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
    let row = tx
        .prepare_cached(
            "SELECT window_at, signature FROM entry
             WHERE id = ?1 AND fingerprint_version = ?2 AND signature IS NOT NULL",
        )?
        .query_row(params![id, dedup::ALGORITHM_VERSION], |r| {
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

fn insert(tx: &Transaction, keys: impl Iterator<Item = Key>) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO entry_band (band_key, window_at, entry_id) VALUES (?1, ?2, ?3)",
    )?;
    for (key, at, id) in keys {
        stmt.execute(params![key, at, id])?;
    }
    Ok(())
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
mod tests {
    use super::*;
    use crate::config::FeedConfig;
    use crate::parse::ParsedEntry;
    use crate::store::ingest::FeedUpdate;
    use crate::store::{FeedId, Store};

    const WIRE: &str = "Russian and US officials met in Istanbul on Thursday for talks on \
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

    fn count(store: &Store, sql: &str) -> i64 {
        store.conn.query_row(sql, [], |r| r.get(0)).expect(sql)
    }

    #[test]
    fn a_copy_finds_an_original_whose_keys_are_still_in_memory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = open(dir.path());
        record(&mut store, 1, "a", "Russia, US hold embassy talks", WIRE);
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
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM entry_band"),
            0,
            "keys wait in memory"
        );
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM story"),
            1,
            "the copy folded"
        );
        let written = store.flush_band_keys().expect("flush");
        assert_eq!(written, 48);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM entry_band"), 48);
        assert_eq!(
            count(&store, "SELECT flushed_through FROM band_index_state"),
            2
        );
    }

    #[test]
    fn keys_lost_with_the_writer_are_taken_back_from_the_signatures() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = open(dir.path());
        record(&mut store, 1, "a", "Russia, US hold embassy talks", WIRE);
        // As if the process died: the buffer goes without being written.
        store.bands = BandBuffer::default();
        drop(store);
        let mut store = open(dir.path());
        record_copy(&mut store, 2, "b");
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM story"),
            1,
            "the copy folded"
        );
        assert_eq!(count(&store, "SELECT COUNT(*) FROM entry_band"), 0);
        assert_eq!(
            store.flush_band_keys().expect("flush"),
            48,
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
        let tx = store.conn.transaction().expect("tx");
        store.bands.begin(&tx).expect("begin");
        store.bands.add(&tx, 7, &[11, 12], 100).expect("add");
        let window = (0, 200);
        assert_eq!(
            store.bands.lookup(&tx, 11, window, 16).expect("lookup"),
            [7]
        );
        assert!(store
            .bands
            .lookup(&tx, 11, (101, 200), 16)
            .expect("lookup")
            .is_empty());
        drop(tx);
        store.bands.rolled_back();
        let tx = store.conn.transaction().expect("tx");
        assert!(store
            .bands
            .lookup(&tx, 11, window, 16)
            .expect("lookup")
            .is_empty());
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
        let tx = store.conn.transaction().expect("tx");
        store.bands.begin(&tx).expect("begin");
        store.bands.add(&tx, 10, &[5], 100).expect("add");
        store.bands.add(&tx, 11, &[5], 100).expect("add");
        // Both are found, from the table and from the buffer, in index order.
        assert_eq!(
            store.bands.lookup(&tx, 5, (0, 200), 16).expect("lookup"),
            [10, 11]
        );
        assert_eq!(
            store.bands.lookup(&tx, 5, (0, 200), 1).expect("lookup"),
            [10]
        );
        tx.commit().expect("commit");
        store.bands.committed();
        assert_eq!(count(&store, "SELECT COUNT(*) FROM entry_band"), 1);
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
        let mut store = open(dir.path());
        record(&mut store, 1, "a", "Russia, US hold embassy talks", WIRE);
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
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM entry_band"),
            0,
            "keys not written at the stop"
        );
        drop(store);
        // The next writer finds the copy through the saved filter.
        let mut store = open(dir.path());
        record_copy(&mut store, 2, "b");
        assert_eq!(count(&store, "SELECT COUNT(*) FROM story"), 1, "folded");
        // A key written straight to the table deletes the saved copy.
        store.flush_band_keys().expect("flush");
        store.park_band_keys().expect("park");
        assert_eq!(count(&store, "SELECT COUNT(*) FROM band_filter"), 1);
        let tx = store.conn.transaction().expect("tx");
        store.bands.begin(&tx).expect("begin");
        store.bands.add(&tx, 1, &[5], 100).expect("add");
        tx.commit().expect("commit");
        store.bands.committed();
        assert_eq!(count(&store, "SELECT COUNT(*) FROM band_filter"), 0);
    }
}
