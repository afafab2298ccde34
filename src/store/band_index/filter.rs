//! A Bloom filter over the band keys in `entry_band` and the writer's
//! buffer, so that looking up a key no entry has costs nanoseconds instead
//! of a B-tree descent.
//!
//! Nearly every lookup is such a miss: an entry's band keys are random,
//! and only a syndicated copy shares some with an earlier entry. Each miss
//! still descended the band index, which outgrows the page cache early, so
//! it read pages from the OS.
//!
//! The writer builds the filter at its first write transaction, from the
//! copy the previous writer saved in `band_filter` when that copy is still
//! valid, else by reading every key of the index. When it stops
//! (`BandIndex::park`), it saves the filter unless the database
//! already holds it.
//!
//! Invariant (no false negatives): while the writer holds a filter, every
//! key in `entry_band` or in its buffer is in it. Keys reach the table in
//! three ways, each covered: the build reads what is there; every key the
//! writer adds afterwards goes through [`KeyFilter::insert`]; and another
//! connection's commit (a second feedfold process) changes
//! `PRAGMA data_version`, which drops the filter. Deleted keys stay in the
//! filter: they cost a lookup, and the next rebuild (when it fills) leaves
//! them out.
//!
//! Invariant (saved copy): the row in `band_filter` holds every key of
//! `entry_band` while its `covers_through` equals
//! `band_index_state.flushed_through`. Only a buffer flush moves the mark,
//! and it deletes the row in the same transaction; a key
//! written straight to the table (an entry at or below the mark) deletes the
//! row in its transaction. Keys of entries above the mark need not be in the
//! row: they are in the buffer, which the next writer rebuilds from the
//! entries' signatures and adds to the filter it loads. So a writer whose
//! keys all went to its buffer leaves the saved copy as it found it.

use std::time::{Duration, Instant};

use fastbloom::BloomFilter;
use rusqlite::{params, Connection, OptionalExtension};

/// Bits per key the filter is sized for: about 2 % false positives.
const BITS_PER_KEY: usize = 8;

/// Band keys an entry has on average: the signature's 24 bands plus the
/// lead's start keys (up to 12, ~8 on news text; algorithm 4).
const KEYS_PER_ENTRY: usize = 32;

/// The smallest filter, in keys: 64 KiB.
const MIN_KEYS: usize = 24 * 2_730;

/// The largest filter, in bits: 8 MiB. Past 8 million keys (250,000
/// entries) its false-positive rate rises instead (to ~38 % at a million
/// entries, 32 million keys), which still saves most lookups.
const MAX_BITS: usize = 64 << 20;

/// A new filter has room for this many times the keys it starts with: it is
/// rebuilt (leaving out deleted keys) when the index has doubled.
const HEADROOM: usize = 2;

/// How long after a drop (another process wrote) the next build waits:
/// while a second writer is busy, every build would be dropped again.
const RETRY_AFTER: Duration = Duration::from_secs(30);

/// Names the saved filter's bit layout, which is the `fastbloom` crate's:
/// change it with that crate's version, and a saved copy is rebuilt instead
/// of misread.
const FORMAT: &str = "fastbloom-0.17";

/// Keys of the table checked against a loaded copy before it is trusted.
const LOAD_CHECK_KEYS: i64 = 64;

/// The filter, owned by the writer's band buffer.
#[derive(Default)]
pub(super) struct KeyFilter {
    filter: Option<Filter>,
    /// `PRAGMA data_version` as the writer's connection last read it.
    data_version: Option<i64>,
    /// When the filter was last dropped.
    dropped_at: Option<Instant>,
    /// The mark at which the database's saved copy is this filter (less
    /// keys of entries above the mark); `None` if it holds no such copy.
    saved_at: Option<i64>,
    /// Another connection committed since [`KeyFilter::take_foreign_commit`].
    foreign_commit: bool,
}

struct Filter {
    bloom: BloomFilter,
    /// Keys inserted, deleted ones included.
    keys: usize,
    /// Keys it was sized for.
    capacity: usize,
}

impl std::fmt::Debug for KeyFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyFilter")
            .field("keys", &self.filter.as_ref().map(|f| f.keys))
            .finish()
    }
}

impl KeyFilter {
    /// False if no entry can have band key `key`; true if one may.
    pub(super) fn may_contain(&self, key: u64) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|f| f.bloom.contains_hash(key))
    }

    /// Records a key the writer adds (to its buffer or the table; a key
    /// for the table also needs [`KeyFilter::forget_saved`]).
    pub(super) fn insert(&mut self, key: u64) {
        if let Some(f) = &mut self.filter {
            f.insert(key);
        }
    }

    /// True if there is a filter that the database lacks a copy of valid
    /// at `mark`.
    pub(super) fn needs_saving(&self, mark: i64) -> bool {
        self.filter.is_some() && self.saved_at != Some(mark)
    }

    /// True once after another connection's commit was noticed: entries it
    /// added above the mark may have keys in no buffer of this process.
    pub(super) fn take_foreign_commit(&mut self) -> bool {
        std::mem::take(&mut self.foreign_commit)
    }

    /// Brings the filter up to date at the start of a write transaction,
    /// after [`KeyFilter::check_data_version`]: loads or builds one when
    /// there is none or it is full. `buffered` yields the keys waiting in
    /// the writer's buffer.
    pub(super) fn refresh(
        &mut self,
        tx: &Connection,
        mark: i64,
        buffered: impl Iterator<Item = u64>,
    ) -> rusqlite::Result<()> {
        let wanted = match &self.filter {
            None => self.dropped_at.is_none_or(|t| t.elapsed() >= RETRY_AFTER),
            Some(f) => f.keys > f.capacity,
        };
        if !wanted {
            return Ok(());
        }
        // A full filter is rebuilt from the table; a missing one may be loaded.
        let saved = if self.filter.is_none() {
            load(tx)?
        } else {
            None
        };
        self.saved_at = saved.is_some().then_some(mark);
        // The old filter goes first: holding it while its successor (twice
        // its size) is built was the pass's peak of memory.
        self.filter = None;
        let mut filter = match saved {
            Some(saved) => saved,
            None => build(tx)?,
        };
        for key in buffered {
            filter.insert(key);
        }
        tracing::debug!(
            keys = filter.keys,
            bytes = filter.bloom.num_bits() / 8,
            "band key filter ready"
        );
        self.filter = Some(filter);
        Ok(())
    }

    /// Saves the filter in `tx`, valid while the mark stays at `mark`: called
    /// by a writer that stops. With no filter (or one that may lack keys
    /// another connection wrote) deletes the saved copy instead.
    pub(super) fn save(&mut self, tx: &Connection, mark: i64) -> rusqlite::Result<()> {
        self.check_data_version(tx)?;
        let Some(f) = &self.filter else {
            return self.forget_saved(tx);
        };
        let bits: Vec<u8> = f
            .bloom
            .as_slice()
            .iter()
            .flat_map(|word| word.to_le_bytes())
            .collect();
        tx.prepare_cached("DELETE FROM band_filter")?.execute([])?;
        tx.prepare_cached(
            "INSERT INTO band_filter (covers_through, format, hashes, keys, capacity, bits)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            mark,
            FORMAT,
            f.bloom.num_hashes(),
            f.keys as i64,
            saved_capacity(f.capacity),
            bits
        ])?;
        self.saved_at = Some(mark);
        Ok(())
    }

    /// Deletes the saved copy: call in any transaction that writes keys to
    /// `entry_band` at or below the mark other than a buffer flush that saves.
    pub(super) fn forget_saved(&mut self, tx: &Connection) -> rusqlite::Result<()> {
        self.saved_at = None;
        tx.prepare_cached("DELETE FROM band_filter")?.execute([])?;
        Ok(())
    }

    /// Forgets the filter: keys reached the table that it may lack.
    pub(super) fn drop_filter(&mut self, why: &str) {
        if self.filter.take().is_some() {
            tracing::debug!(why, "band key filter dropped");
        }
        self.saved_at = None;
        self.dropped_at = Some(Instant::now());
    }

    /// Notices another connection's commit (`PRAGMA data_version` moved):
    /// drops the filter, which may lack that commit's keys.
    pub(super) fn check_data_version(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        let version: i64 = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        if self
            .data_version
            .replace(version)
            .is_some_and(|v| v != version)
        {
            self.foreign_commit = true;
            self.drop_filter("another connection wrote to the database");
        }
        Ok(())
    }
}

impl Filter {
    fn sized_for(keys: usize) -> Filter {
        let capacity = keys.saturating_mul(HEADROOM).max(MIN_KEYS);
        let bits = capacity.saturating_mul(BITS_PER_KEY).min(MAX_BITS);
        Filter {
            bloom: BloomFilter::with_num_bits(bits).expected_items(capacity),
            keys: 0,
            // A filter at its largest is never rebuilt for being full.
            capacity: if bits == MAX_BITS {
                usize::MAX
            } else {
                capacity
            },
        }
    }

    fn insert(&mut self, key: u64) {
        self.bloom.insert_hash(key);
        self.keys += 1;
    }
}

/// The capacity as `band_filter.capacity` holds it. A filter at its largest
/// (capacity `usize::MAX`: never rebuilt for being full) is saved as
/// `i64::MAX`.
fn saved_capacity(capacity: usize) -> i64 {
    i64::try_from(capacity).unwrap_or(i64::MAX)
}

/// The capacity a saved row stands for. Earlier builds saved a
/// filter at its largest as -1 (`usize::MAX as i64`), which read back as 0
/// made every start rebuild the filter from the whole band index (1.4 s
/// at 100,000 entries; the bulk of a warm pass at a million): any negative
/// value means "at its largest".
fn loaded_capacity(saved: i64) -> usize {
    if saved == i64::MAX {
        return usize::MAX;
    }
    usize::try_from(saved).unwrap_or(usize::MAX)
}

/// Reads every key of `entry_band` into a new filter.
fn build(tx: &Connection) -> rusqlite::Result<Filter> {
    // The newest entry id stands in for the entry count (one index seek
    // instead of a second pass over the table).
    let entries: i64 = tx.query_row("SELECT COALESCE(MAX(id), 0) FROM entry", [], |r| r.get(0))?;
    let mut filter = Filter::sized_for(
        usize::try_from(entries)
            .unwrap_or(0)
            .saturating_mul(KEYS_PER_ENTRY),
    );
    let mut stmt = tx.prepare(
        "SELECT band_key FROM entry_band UNION ALL SELECT band_key FROM entry_band_recent",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        filter.insert(row.get::<_, i64>(0)? as u64);
    }
    Ok(filter)
}

/// The saved filter, if it still holds every key of the table.
fn load(tx: &Connection) -> rusqlite::Result<Option<Filter>> {
    let saved = tx
        .query_row(
            "SELECT f.format, f.hashes, f.keys, f.capacity, f.bits FROM band_filter f, band_index_state s
             WHERE f.covers_through = s.flushed_through",
            [],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, u32>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                ))
            },
        )
        .optional()?;
    let Some((format, hashes, keys, capacity, bits)) = saved else {
        return Ok(None);
    };
    if format != FORMAT || hashes == 0 || bits.is_empty() || bits.len() % 8 != 0 {
        return Ok(None);
    }
    let words = bits
        .chunks_exact(8)
        .map(|w| u64::from_le_bytes(w.try_into().unwrap_or_default()))
        .collect();
    let filter = Filter {
        bloom: BloomFilter::from_vec(words).hashes(hashes),
        keys: usize::try_from(keys).unwrap_or(usize::MAX),
        capacity: loaded_capacity(capacity),
    };
    // A copy that misses a key it must hold (a damaged row, or bits laid out
    // by another version of the crate) is not trusted.
    let mut sample = tx.prepare(
        "SELECT band_key FROM (SELECT band_key FROM entry_band LIMIT ?1)
         UNION ALL SELECT band_key FROM (SELECT band_key FROM entry_band_recent LIMIT ?1)",
    )?;
    let mut rows = sample.query([LOAD_CHECK_KEYS])?;
    while let Some(row) = rows.next()? {
        if !filter.bloom.contains_hash(row.get::<_, i64>(0)? as u64) {
            tracing::warn!("the saved band key filter lacks keys of the index; rebuilding it");
            return Ok(None);
        }
    }
    Ok(Some(filter))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn store_with_keys(dir: &std::path::Path, keys: &[i64]) -> Store {
        let store = Store::open(&dir.join("t.db")).expect("open");
        for (i, k) in keys.iter().enumerate() {
            store
                .conn
                .execute(
                    "INSERT INTO entry_band (band_key, window_at, entry_id) VALUES (?1, 0, ?2)",
                    params![k, i as i64 + 1],
                )
                .expect("insert");
        }
        store
    }

    /// A store whose index holds 300 keys, and a filter built over them.
    fn built_over_300_keys(dir: &std::path::Path) -> (Store, Vec<i64>, KeyFilter) {
        let keys: Vec<i64> = (1..=300i64).map(|i| i * 1_000_003).collect();
        let store = store_with_keys(dir, &keys);
        let mut filter = KeyFilter::default();
        filter
            .refresh(&store.conn, 0, std::iter::empty())
            .expect("refresh");
        (store, keys, filter)
    }

    #[test]
    fn a_built_filter_holds_every_key_of_the_table_and_those_added_later() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys: Vec<i64> = (0..5_000u64)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) as i64)
            .collect();
        let store = store_with_keys(dir.path(), &keys);
        let mut filter = KeyFilter::default();
        filter
            .refresh(&store.conn, 0, [42u64].into_iter())
            .expect("refresh");
        filter.insert(7);
        for k in keys.iter().map(|&k| k as u64).chain([42, 7]) {
            assert!(filter.may_contain(k), "key {k} missing");
        }
        let absent = (0..10_000u64)
            .filter(|i| !filter.may_contain(i.wrapping_mul(0xD6E8_FEB8_6659_FD93) | 1))
            .count();
        assert!(
            absent > 9_000,
            "only {absent} of 10,000 absent keys ruled out"
        );
    }

    #[test]
    fn a_saved_copy_is_loaded_only_while_it_covers_the_index_and_holds_its_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, keys, mut filter) = built_over_300_keys(dir.path());
        filter.save(&store.conn, 0).expect("save");
        let loaded = load(&store.conn).expect("load").expect("valid copy");
        assert!(keys.iter().all(|&k| loaded.bloom.contains_hash(k as u64)));
        // Keys written since (the mark moved) may be missing from it.
        store
            .conn
            .execute("UPDATE band_index_state SET flushed_through = 5", [])
            .expect("mark");
        assert!(load(&store.conn).expect("load").is_none());
        // Damaged bits are caught by the sample check.
        store
            .conn
            .execute_batch(
                "UPDATE band_index_state SET flushed_through = 0;
                 UPDATE band_filter SET bits = zeroblob(length(bits));",
            )
            .expect("damage");
        assert!(load(&store.conn).expect("load").is_none());
    }

    #[test]
    fn a_saved_filter_at_its_largest_is_loaded_as_never_full() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _, mut filter) = built_over_300_keys(dir.path());
        // As a filter of MAX_BITS is sized: it is never rebuilt for being full.
        if let Some(f) = filter.filter.as_mut() {
            f.capacity = usize::MAX;
        }
        filter.save(&store.conn, 0).expect("save");
        let loaded = load(&store.conn).expect("load").expect("valid copy");
        assert_eq!(loaded.capacity, usize::MAX);
        // Rows saved by earlier versions hold -1 for the same thing.
        store
            .conn
            .execute("UPDATE band_filter SET capacity = -1", [])
            .expect("old row");
        let loaded = load(&store.conn).expect("load").expect("valid copy");
        assert!(
            loaded.keys <= loaded.capacity,
            "an old row would be rebuilt at once"
        );
    }
}
