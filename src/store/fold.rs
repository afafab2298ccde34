//! The store's side of folding: finding candidates for a new entry (exact
//! fingerprint and LSH band index inside the time window), writing the
//! lineage the dedup engine decides, keeping each story's canonical copy and
//! origin agency right, and `refold`.
//!
//! `dedup` decides; this module only reads and writes rows. Every function
//! here runs inside the caller's transaction, and leaves every story with
//! exactly one canonical copy.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Transaction};

use super::band_index::Staged;
use super::feeds::err;
use super::{format_time, text, EntryId, FeedId, Store, StoreError, StoryId};
use crate::dedup::{
    self, agency_for_host, Analysis, BoilerplateModel, Candidate, CopyInfo, DedupConfig,
    Fingerprint, Relation, Signature, Verdict,
};

/// Most entries read per band key: a key shared by hundreds of entries is a
/// template or boilerplate, and reading them all would make one lookup slow.
const PER_KEY_LIMIT: i64 = 16;
/// Most candidates verified per newcomer.
const MAX_CANDIDATES: usize = 64;

/// What the store keeps about one feed while writing its entries: the
/// boilerplate it has learned and the agency whose own feed it is.
pub(super) struct FeedContext {
    pub(super) model: BoilerplateModel,
    dirty: bool,
}

impl FeedContext {
    /// Loads the feed's boilerplate model, and records its agency on first use.
    pub(super) fn load(
        tx: &Transaction,
        feed: FeedId,
        cfg: &DedupConfig,
    ) -> rusqlite::Result<FeedContext> {
        let (url, agency, model): (String, Option<String>, Option<String>) = tx
            .prepare_cached("SELECT url, agency, boilerplate_model FROM feed WHERE id = ?1")?
            .query_row([feed.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        if agency.is_none() {
            let host = url::Url::parse(&url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string));
            if let Some(a) = host.as_deref().and_then(agency_for_host) {
                tx.prepare_cached("UPDATE feed SET agency = ?2 WHERE id = ?1")?
                    .execute(params![feed.0, a])?;
            }
        }
        // A model that no longer parses (written by another version) is
        // relearned rather than failing the feed.
        let model = model
            .and_then(|m| BoilerplateModel::from_json(&m).ok())
            .unwrap_or_else(|| BoilerplateModel::new(cfg.boilerplate_min_items));
        Ok(FeedContext {
            model,
            dirty: false,
        })
    }

    /// Learns from a new entry's head and tail sentences.
    pub(super) fn observe(&mut self, a: &Analysis) {
        self.model.observe(&a.boilerplate_keys);
        self.dirty = true;
    }

    /// Saves the model if it learned anything.
    pub(super) fn save(&self, tx: &Transaction, feed: FeedId) -> rusqlite::Result<()> {
        if self.dirty {
            tx.prepare_cached("UPDATE feed SET boilerplate_model = ?2 WHERE id = ?1")?
                .execute(params![feed.0, self.model.to_json()])?;
        }
        Ok(())
    }
}

/// How a new entry was folded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Folded {
    /// It started a story of its own.
    NewStory,
    /// It joined an existing story as a copy.
    Joined,
}

/// An entry just inserted, as folding needs to know it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Newcomer {
    /// The entry.
    pub entry: EntryId,
    /// Its feed: items of one feed fold only under one headline.
    pub feed: FeedId,
    /// Its time on the candidate window (published, else first seen).
    pub window_at: i64,
}

/// Finds the story a freshly inserted entry belongs to and links it; indexes
/// its band keys for the entries that come after it. Returns how it folded
/// and how long finding candidates and deciding took.
pub(super) fn fold_new_entry(
    tx: &Transaction,
    cfg: &DedupConfig,
    bands: &mut Staged<'_>,
    new: Newcomer,
    a: &Analysis,
    now: &str,
) -> rusqlite::Result<(Folded, Duration)> {
    let Newcomer {
        entry,
        feed,
        window_at,
    } = new;
    let deciding = Instant::now();
    let candidates = candidates(tx, cfg, bands, a, entry, window_at)?;
    let verdict = dedup::decide(a, feed.0, &candidates, cfg);
    let decided_in = deciding.elapsed();
    bands.add(tx, entry.0, &a.bands, window_at)?;
    let folded = match verdict {
        Some(v) => {
            join_story(tx, entry, &v, now)?;
            Folded::Joined
        }
        None => {
            start_story(tx, entry, a.origin_agency(), now)?;
            Folded::NewStory
        }
    };
    Ok((folded, decided_in))
}

/// Stored entries that may be copies of the newcomer: same exact fingerprint
/// or a shared band key, published within the window, plus the canonical
/// copy of every story they belong to (the engine checks the newcomer
/// against it, so that chains of small edits cannot drift).
fn candidates(
    tx: &Transaction,
    cfg: &DedupConfig,
    bands: &Staged<'_>,
    a: &Analysis,
    me: EntryId,
    window_at: i64,
) -> rusqlite::Result<Vec<Candidate>> {
    let window = i64::try_from(cfg.window.as_secs()).unwrap_or(i64::MAX / 4);
    let (from, to) = (
        window_at.saturating_sub(window),
        window_at.saturating_add(window),
    );
    let mut ids: Vec<i64> = Vec::new();
    let push = |id: i64, ids: &mut Vec<i64>| {
        if id != me.0 && !ids.contains(&id) && ids.len() < MAX_CANDIDATES {
            ids.push(id);
        }
    };
    {
        let mut exact = tx.prepare_cached(
            "SELECT id FROM entry WHERE fingerprint = ?1 AND window_at BETWEEN ?2 AND ?3 ORDER BY id LIMIT ?4",
        )?;
        let rows = exact.query_map(params![a.exact.to_sql(), from, to, PER_KEY_LIMIT], |r| {
            r.get::<_, i64>(0)
        })?;
        for id in rows {
            push(id?, &mut ids);
        }
        for &key in &a.bands {
            for id in bands.lookup(tx, key, (from, to), PER_KEY_LIMIT as usize)? {
                push(id, &mut ids);
            }
        }
    }
    let mut out: Vec<Candidate> = Vec::with_capacity(ids.len() + 4);
    for id in &ids {
        if let Some(c) = candidate(tx, *id)? {
            out.push(c);
        }
    }
    // The canonical copy of every story found, even when it was not a candidate itself.
    let canonicals: Vec<(i64, i64)> = {
        let mut stmt = tx.prepare_cached("SELECT canonical_entry_id FROM story WHERE id = ?1")?;
        let mut v = Vec::new();
        for c in &out {
            if v.iter().any(|(s, _)| *s == c.story_id) {
                continue;
            }
            let canonical: i64 = stmt.query_row([c.story_id], |r| r.get(0))?;
            v.push((c.story_id, canonical));
        }
        v
    };
    for (_, canonical) in canonicals {
        if canonical != me.0 && !out.iter().any(|c| c.entry_id == canonical) {
            if let Some(c) = candidate(tx, canonical)? {
                out.push(c);
            }
        }
    }
    Ok(out)
}

/// One stored entry as a [`Candidate`]; `None` if it was analysed by another
/// algorithm version (compare like with like; `refold` brings it up to date).
fn candidate(tx: &Transaction, id: i64) -> rusqlite::Result<Option<Candidate>> {
    let row = tx
        .prepare_cached(
            "SELECT se.story_id, e.fingerprint, e.norm_title, e.body, e.norm_z, e.signature, e.window_at,
                    s.canonical_entry_id = e.id, e.feed_id
             FROM entry e JOIN story_entry se ON se.entry_id = e.id JOIN story s ON s.id = se.story_id
             WHERE e.id = ?1 AND e.fingerprint_version = ?2 AND e.signature IS NOT NULL",
        )?
        .query_row(params![id, dedup::ALGORITHM_VERSION], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<Vec<u8>>>(4)?,
                r.get::<_, Vec<u8>>(5)?,
                r.get::<_, Option<i64>>(6)?,
                r.get::<_, bool>(7)?,
                r.get::<_, i64>(8)?,
            ))
        })
        .optional()?;
    let Some((story_id, exact, title, body, norm_z, blob, published, is_canonical, feed)) = row
    else {
        return Ok(None);
    };
    // Damaged stored text makes the entry no candidate; it is never fatal.
    let text = match norm_z.map(|z| text::decode_norm(id, body.as_deref(), &z)) {
        Some(Ok(text)) => text,
        Some(Err(e)) => {
            tracing::warn!(error = %e, "entry skipped as a dedup candidate");
            return Ok(None);
        }
        None => String::new(),
    };
    // A damaged signature makes the entry no candidate; it is never fatal.
    let Ok(signature) = Signature::from_bytes(&blob) else {
        return Ok(None);
    };
    Ok(Some(Candidate {
        story_id,
        entry_id: id,
        feed,
        exact: Fingerprint::from_sql(exact),
        title: title.unwrap_or_default(),
        text,
        signature,
        published,
        is_canonical,
    }))
}

/// A story of one copy: that copy is canonical and its own credit is the
/// origin, so nothing needs re-deriving (the common case, kept cheap).
fn start_story(
    tx: &Transaction,
    entry: EntryId,
    origin: Option<&str>,
    now: &str,
) -> rusqlite::Result<StoryId> {
    tx.prepare_cached(
        "INSERT INTO story (canonical_entry_id, published_at, first_seen_at, last_seen_at, source_count, origin_agency)
         SELECT id, COALESCE(published_at, first_seen_at), first_seen_at, ?2, 1, ?3 FROM entry WHERE id = ?1",
    )?
    .execute(params![entry.0, now, origin])?;
    let story = StoryId(tx.last_insert_rowid());
    tx.prepare_cached(
        "INSERT INTO story_entry (entry_id, story_id, relation, similarity, linked_at) VALUES (?1, ?2, 'canonical', 1.0, ?3)",
    )?
    .execute(params![entry.0, story.0, now])?;
    Ok(story)
}

fn join_story(tx: &Transaction, entry: EntryId, v: &Verdict, now: &str) -> rusqlite::Result<()> {
    let relation = match v.relation {
        // The engine never hands out `canonical`; the store decides that.
        Relation::Canonical | Relation::Exact => Relation::Exact,
        Relation::Near => Relation::Near,
    };
    tx.prepare_cached(
        "INSERT INTO story_entry (entry_id, story_id, relation, similarity, linked_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![entry.0, v.story_id, relation.as_str(), v.similarity.clamp(0.0, 1.0), now])?;
    settle_join(tx, StoryId(v.story_id), entry, now)
}

/// What [`settle_join`] reads of one copy.
struct Joined {
    entry_id: i64,
    window_at: Option<i64>,
    feed_agency: Option<String>,
    feed: i64,
    origin: Option<String>,
}

impl Joined {
    fn info(&self) -> CopyInfo<'_> {
        CopyInfo {
            entry_id: self.entry_id,
            published: self.window_at,
            feed_agency: self.feed_agency.as_deref(),
            feed: self.feed,
        }
    }
}

/// Brings a story up to date after `entry` joined it, from the story's row,
/// its canonical copy and the newcomer alone. [`recompute_story`] reads every
/// copy, three times: a wire story carried by fifty feeds then cost fifty row
/// reads per new copy, and a million-item pass spent its writer's time on it.
///
/// A join can only add: the newcomer's credit is one more vote, so when it
/// credits no agency or the story's origin, the origin stays; the canonical
/// copy is then the better of the old one and the newcomer by the same rule
/// ([`dedup::choose_canonical`]). A credit that may move the origin takes the
/// full recompute.
fn settle_join(
    tx: &Transaction,
    story: StoryId,
    entry: EntryId,
    now: &str,
) -> rusqlite::Result<()> {
    let (canonical, origin): (i64, Option<String>) = tx
        .prepare_cached("SELECT canonical_entry_id, origin_agency FROM story WHERE id = ?1")?
        .query_row([story.0], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let newcomer = joined(tx, entry)?;
    if newcomer.origin.is_some() && newcomer.origin != origin {
        return recompute_story(tx, story, now);
    }
    // A canonical copy that is gone (a damaged file) is no basis to compare
    // with: re-derive the story from the copies it has.
    let Some(old) = joined(tx, EntryId(canonical)).optional()? else {
        return recompute_story(tx, story, now);
    };
    let pair = [old.info(), newcomer.info()];
    let chosen = match dedup::choose_canonical(&pair, origin.as_deref()) {
        Some(1) => {
            hand_canonical(tx, Some(canonical), entry.0)?;
            entry.0
        }
        _ => canonical,
    };
    // Copies of the newcomer's feed in the story, read from the indexes
    // only (the feed's entry ids, the story's entry ids), not the rows.
    let same_feed: i64 = tx
        .prepare_cached(
            "SELECT COUNT(*) FROM story_entry
             WHERE story_id = ?1 AND entry_id != ?2
               AND entry_id IN (SELECT id FROM entry WHERE feed_id = ?3)",
        )?
        .query_row(params![story.0, entry.0, newcomer.feed], |r| r.get(0))?;
    tx.prepare_cached(
        "UPDATE story SET canonical_entry_id = ?2, last_seen_at = MAX(last_seen_at, ?3),
            published_at = (SELECT COALESCE(published_at, first_seen_at) FROM entry WHERE id = ?2),
            first_seen_at = MIN(first_seen_at, (SELECT first_seen_at FROM entry WHERE id = ?4)),
            source_count = source_count + ?5
         WHERE id = ?1",
    )?
    .execute(params![
        story.0,
        chosen,
        now,
        entry.0,
        i64::from(same_feed == 0)
    ])?;
    Ok(())
}

/// Makes copy `new` its story's canonical copy. The `old` canonical copy,
/// if there is one, takes `new`'s relation and score, so that every copy
/// keeps an explanation. The old one goes first: a story has one canonical.
fn hand_canonical(tx: &Transaction, old: Option<i64>, new: i64) -> rusqlite::Result<()> {
    if let Some(old) = old {
        tx.prepare_cached(
            "UPDATE story_entry SET (relation, similarity) =
                (SELECT relation, similarity FROM story_entry WHERE entry_id = ?2)
             WHERE entry_id = ?1",
        )?
        .execute(params![old, new])?;
    }
    tx.prepare_cached(
        "UPDATE story_entry SET relation = 'canonical', similarity = 1.0 WHERE entry_id = ?1",
    )?
    .execute([new])?;
    Ok(())
}

/// One copy as [`settle_join`] compares it.
fn joined(tx: &Transaction, entry: EntryId) -> rusqlite::Result<Joined> {
    tx.prepare_cached(
        "SELECT e.window_at, f.agency, e.feed_id, e.credited_agency
         FROM entry e JOIN feed f ON f.id = e.feed_id WHERE e.id = ?1",
    )?
    .query_row([entry.0], |r| {
        Ok(Joined {
            entry_id: entry.0,
            window_at: r.get(0)?,
            feed_agency: r.get(1)?,
            feed: r.get(2)?,
            origin: Copy::origin_of(r.get(3)?),
        })
    })
}

/// One copy of a story as [`recompute_story`] reads it.
pub(crate) struct Copy {
    pub entry_id: i64,
    pub feed: i64,
    pub window_at: Option<i64>,
    pub feed_agency: Option<String>,
    /// The agency the copy's text credits last (its credit chain's end).
    pub origin: Option<String>,
    pub relation: String,
    pub similarity: f64,
}

impl Copy {
    /// The agency a `credited_agency` chain ("AFP>APP") ends with.
    pub(crate) fn origin_of(credited: Option<String>) -> Option<String> {
        credited.and_then(|c| c.rsplit('>').next().map(str::to_string))
    }
}

/// Which of a story's `copies` (not empty) is canonical, and the story's
/// origin agency: the fold engine's rule, for both stores.
pub(crate) fn canonical_of(copies: &[Copy]) -> (usize, Option<String>) {
    let origin =
        dedup::story_origin(copies.iter().map(|c| c.origin.as_deref())).map(str::to_string);
    let infos: Vec<CopyInfo<'_>> = copies
        .iter()
        .map(|c| CopyInfo {
            entry_id: c.entry_id,
            published: c.window_at,
            feed_agency: c.feed_agency.as_deref(),
            feed: c.feed,
        })
        .collect();
    let chosen = dedup::choose_canonical(&infos, origin.as_deref()).unwrap_or(0);
    (chosen, origin)
}

/// Re-derives a story's canonical copy, origin agency, published time and
/// source count from its copies; deletes the story if it has none left.
///
/// The canonical copy is the one from the origin agency's own feed, else the
/// earliest published. When it changes, the old canonical copy takes the
/// new one's relation and score, so every copy keeps an explanation.
pub(super) fn recompute_story(tx: &Transaction, story: StoryId, now: &str) -> rusqlite::Result<()> {
    let copies: Vec<Copy> = {
        let mut stmt = tx.prepare_cached(
            "SELECT se.entry_id, e.window_at, f.agency, e.credited_agency, se.relation, se.similarity,
                    e.feed_id
             FROM story_entry se JOIN entry e ON e.id = se.entry_id JOIN feed f ON f.id = e.feed_id
             WHERE se.story_id = ?1 ORDER BY e.window_at, e.id",
        )?;
        let rows = stmt.query_map([story.0], |r| {
            let credited: Option<String> = r.get(3)?;
            Ok(Copy {
                entry_id: r.get(0)?,
                feed: r.get(6)?,
                window_at: r.get(1)?,
                feed_agency: r.get(2)?,
                origin: Copy::origin_of(credited),
                relation: r.get(4)?,
                similarity: r.get(5)?,
            })
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    if copies.is_empty() {
        tx.prepare_cached("DELETE FROM story WHERE id = ?1")?
            .execute([story.0])?;
        return Ok(());
    }
    let (chosen, origin) = canonical_of(&copies);
    let new = &copies[chosen];
    if new.relation != "canonical" {
        let old = copies.iter().find(|c| c.relation == "canonical");
        hand_canonical(tx, old.map(|c| c.entry_id), new.entry_id)?;
    }
    tx.prepare_cached(
        "UPDATE story SET canonical_entry_id = ?2, origin_agency = ?3, last_seen_at = MAX(last_seen_at, ?4),
            published_at = (SELECT COALESCE(published_at, first_seen_at) FROM entry WHERE id = ?2),
            first_seen_at = (SELECT MIN(e.first_seen_at) FROM story_entry se JOIN entry e ON e.id = se.entry_id
                             WHERE se.story_id = ?1),
            source_count = (SELECT COUNT(DISTINCT e.feed_id) FROM story_entry se JOIN entry e ON e.id = se.entry_id
                            WHERE se.story_id = ?1)
         WHERE id = ?1",
    )?
    .execute(params![story.0, new.entry_id, origin, now])?;
    Ok(())
}

/// What `refold` did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RefoldReport {
    /// Entries re-analysed and re-folded.
    pub entries: usize,
    /// Stories before.
    pub stories_before: usize,
    /// Stories after.
    pub stories_after: usize,
    /// Stories after that continue none from before (new groupings): they
    /// have new ids, every other refolded story kept its own.
    pub new_ids: usize,
}

/// Entries re-folded per transaction: small enough that the daemon's writer
/// never waits long for the lock, large enough to amortise the commit.
const REFOLD_BATCH: usize = 500;

impl Store {
    /// Deletes band keys older than the window: the index's size follows the
    /// window, not the history. Returns the number of keys deleted.
    pub fn trim_band_index(&mut self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let window = i64::try_from(self.dedup.window.as_secs()).unwrap_or(i64::MAX / 4);
        // Entries published up to a window after `cutoff` may still look back to it.
        let cutoff = now.timestamp().saturating_sub(window.saturating_mul(2));
        self.bands
            .trim(&mut self.conn, cutoff)
            .map_err(|e| err(&self.path, e))
    }

    /// Recomputes fingerprints and stories of the entries published since
    /// `since` (all entries with `None`), in published order and in batches,
    /// after an algorithm or threshold change. Entries are never deleted; each
    /// batch commits with every entry in exactly one story. `progress` gets
    /// (done, total) after each batch.
    pub fn refold(
        &mut self,
        since: Option<DateTime<Utc>>,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<RefoldReport, StoreError> {
        let path = self.path.clone();
        let e = |source| err(&path, source);
        let from = since.map_or(i64::MIN, |t| t.timestamp());
        let count_stories = |conn: &rusqlite::Connection| -> rusqlite::Result<usize> {
            conn.query_row("SELECT COUNT(*) FROM story", [], |r| r.get::<_, i64>(0))
                .map(|n| n as usize)
        };
        let mut report = RefoldReport {
            stories_before: count_stories(&self.conn).map_err(e)?,
            ..Default::default()
        };
        let ids: Vec<(i64, i64)> = {
            let mut stmt = self
                .conn
                .prepare("SELECT id, feed_id FROM entry WHERE COALESCE(window_at, 0) >= ?1 ORDER BY window_at, id")
                .map_err(e)?;
            let rows = stmt
                .query_map([from], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(e)?;
            rows.collect::<rusqlite::Result<_>>().map_err(e)?
        };
        let total = ids.len();
        let cfg = self.dedup.clone();
        // The band keys of the refolded range are rebuilt as its entries
        // replay; until its turn, an entry is marked stale (version 0), so
        // it stays in its old story but is no candidate: newcomers are
        // compared only with entries already refolded, as in live ingest.
        // An interrupted refold leaves stale entries out of matching until
        // the next refold finishes.
        self.flush_band_keys()?;
        let tx = super::write_transaction(&mut self.conn).map_err(e)?;
        // Where each entry was before, for the ids at the end; an
        // interrupted refold's rows stay, so its ids from before come back.
        tx.execute(
            "INSERT OR IGNORE INTO refold_origin (entry_id, story_id, canonical)
             SELECT se.entry_id, se.story_id, se.relation = 'canonical'
             FROM story_entry se JOIN entry e ON e.id = se.entry_id
             WHERE COALESCE(e.window_at, 0) >= ?1",
            [from],
        )
        .map_err(e)?;
        self.bands.clear_from(&tx, from).map_err(e)?;
        tx.execute(
            "UPDATE entry SET fingerprint_version = 0 WHERE COALESCE(window_at, 0) >= ?1",
            [from],
        )
        .map_err(e)?;
        tx.commit().map_err(e)?;
        let now = format_time(Utc::now());
        let mut models: std::collections::HashMap<i64, FeedContext> =
            std::collections::HashMap::new();
        for batch in ids.chunks(REFOLD_BATCH) {
            let tx = super::write_transaction(&mut self.conn).map_err(e)?;
            let mut bands = self.bands.begin(&tx).map_err(e)?;
            refold_batch(&tx, &cfg, &mut bands, batch, &mut models, &now).map_err(e)?;
            bands.commit(tx).map_err(e)?;
            // As ingest does: a refold of the whole history would otherwise
            // hold every key of it in memory.
            if self.bands.is_full() {
                self.flush_band_keys()?;
            }
            report.entries += batch.len();
            progress(report.entries, total);
        }
        // Written, not left to the daemon to take back from the signatures
        // of every refolded entry.
        self.flush_band_keys()?;
        let tx = super::write_transaction(&mut self.conn).map_err(e)?;
        report.new_ids = restore_story_ids(&tx).map_err(e)?;
        tx.execute("DELETE FROM refold_origin", []).map_err(e)?;
        tx.commit().map_err(e)?;
        report.stories_after = count_stories(&self.conn).map_err(e)?;
        Ok(report)
    }
}

/// Gives the stories a refold rebuilt the ids of the stories they continue
/// ([`plan_story_ids`]); returns how many are new groupings. Runs in one
/// transaction at the end of the refold.
fn restore_story_ids(tx: &Transaction) -> rusqlite::Result<usize> {
    let pieces: Vec<RefoldPiece> = tx
        .prepare(
            "SELECT se.story_id, o.story_id, COUNT(*), MAX(o.canonical)
             FROM refold_origin o JOIN story_entry se ON se.entry_id = o.entry_id
             GROUP BY se.story_id, o.story_id",
        )?
        .query_map([], |r| {
            Ok(RefoldPiece {
                now: r.get(0)?,
                before: r.get(1)?,
                copies: r.get(2)?,
                canonical: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let existing: std::collections::HashSet<i64> = tx
        .prepare("SELECT id FROM story WHERE id IN (SELECT DISTINCT story_id FROM refold_origin)")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let next: i64 = tx.query_row(
        "SELECT MAX(COALESCE((SELECT MAX(id) FROM story), 0),
                    COALESCE((SELECT MAX(story_id) FROM refold_origin), 0)) + 1",
        [],
        |r| r.get(0),
    )?;
    let (moves, new_ids) = plan_story_ids(&pieces, &existing, next);
    // Two passes through negative ids, so that swapped ids never collide;
    // the lineage follows its story, checked at commit.
    tx.pragma_update(None, "defer_foreign_keys", true)?;
    for pass in [0, 1] {
        for &(now, id) in &moves {
            let (from, to) = if pass == 0 { (now, -now) } else { (-now, id) };
            tx.prepare_cached("UPDATE story SET id = ?2 WHERE id = ?1")?
                .execute([from, to])?;
            tx.prepare_cached("UPDATE story_entry SET story_id = ?2 WHERE story_id = ?1")?
                .execute([from, to])?;
        }
    }
    Ok(new_ids)
}

/// Copies of one story after a refold that came from one story before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RefoldPiece {
    /// The story they are in now.
    pub now: i64,
    /// The story they were in before the refold.
    pub before: i64,
    /// How many copies.
    pub copies: i64,
    /// Whether one of them was that story's canonical copy.
    pub canonical: bool,
}

/// The ids the stories a refold rebuilt take back (the rule of
/// docs/SCHEMA.md, "Story ids and refold"), shared by both stores: the
/// moves `(id now, id to take)` and how many stories are new groupings.
///
/// A story continues the old story whose canonical copy it holds; one that
/// holds several takes the one with most copies in it (then the lowest id),
/// and an old story whose canonical copy went to a story that took another
/// id passes to the story holding most (more than half) of its copies. An
/// id still held by a story the refold did not touch stays with it
/// (`existing`: the old ids some story holds now). A story that continues
/// none keeps the id it was built under, or gets a fresh one from `next` on
/// if that id goes to another.
pub(crate) fn plan_story_ids(
    pieces: &[RefoldPiece],
    existing: &std::collections::HashSet<i64>,
    mut next: i64,
) -> (Vec<(i64, i64)>, usize) {
    use std::collections::{BTreeSet, HashMap, HashSet};
    let mut old_size: HashMap<i64, i64> = HashMap::new();
    for p in pieces {
        *old_size.entry(p.before).or_default() += p.copies;
    }
    let rebuilt: BTreeSet<i64> = pieces.iter().map(|p| p.now).collect();
    let held_elsewhere = |id: i64| !rebuilt.contains(&id) && existing.contains(&id);
    // Canonical claims first, then majorities; more copies first.
    let mut claims: Vec<(u8, i64, i64, i64)> = pieces
        .iter()
        .filter_map(|p| {
            let rank = if p.canonical {
                0
            } else if p.copies * 2 > old_size[&p.before] {
                1
            } else {
                return None;
            };
            Some((rank, -p.copies, p.before, p.now))
        })
        .collect();
    claims.sort_unstable();
    let mut continues: HashMap<i64, i64> = HashMap::new();
    let mut taken: HashSet<i64> = HashSet::new();
    for (_, _, old, now) in claims {
        if continues.contains_key(&now) || taken.contains(&old) || held_elsewhere(old) {
            continue;
        }
        continues.insert(now, old);
        taken.insert(old);
    }
    let mut moves: Vec<(i64, i64)> = Vec::new();
    let mut new_ids = 0;
    for &now in &rebuilt {
        let id = match continues.get(&now) {
            Some(&old) => old,
            None => {
                new_ids += 1;
                if taken.contains(&now) {
                    next += 1;
                    next - 1
                } else {
                    now
                }
            }
        };
        if id != now {
            moves.push((now, id));
        }
    }
    (moves, new_ids)
}

/// Refolds a batch of (entry, feed) pairs inside `tx`; each feed's
/// boilerplate model is read once per run, not per entry.
fn refold_batch(
    tx: &Transaction,
    cfg: &DedupConfig,
    bands: &mut Staged<'_>,
    batch: &[(i64, i64)],
    models: &mut std::collections::HashMap<i64, FeedContext>,
    now: &str,
) -> rusqlite::Result<()> {
    for &(id, feed) in batch {
        let ctx = match models.entry(feed) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(FeedContext::load(tx, FeedId(feed), cfg)?)
            }
        };
        refold_entry(tx, cfg, bands, EntryId(id), &ctx.model, now)?;
    }
    Ok(())
}

/// Detaches one entry from its story, re-analyses it and folds it again.
fn refold_entry(
    tx: &Transaction,
    cfg: &DedupConfig,
    bands: &mut Staged<'_>,
    entry: EntryId,
    model: &BoilerplateModel,
    now: &str,
) -> rusqlite::Result<()> {
    let old_story: Option<i64> = tx
        .prepare_cached("SELECT story_id FROM story_entry WHERE entry_id = ?1")?
        .query_row([entry.0], |r| r.get(0))
        .optional()?;
    if let Some(story) = old_story {
        tx.prepare_cached("DELETE FROM story_entry WHERE entry_id = ?1")?
            .execute([entry.0])?;
        // The story may have lost its canonical copy: re-deriving it
        // promotes another, or deletes a story left without copies.
        recompute_story(tx, StoryId(story), now)?;
    }
    let (title, window_at, feed): (Option<String>, Option<i64>, i64) = tx
        .prepare_cached("SELECT title, window_at, feed_id FROM entry WHERE id = ?1")?
        .query_row([entry.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    let html = text::read_html(tx, entry)?;
    let a = dedup::analyze_with(title.as_deref(), html.body_html(), model);
    let norm_z = text::encode_norm(html.body.as_deref(), &a.text);
    store_analysis(tx, entry, &a, &norm_z)?;
    let new = Newcomer {
        entry,
        feed: FeedId(feed),
        window_at: window_at.unwrap_or(0),
    };
    fold_new_entry(tx, cfg, bands, new, &a, now)?;
    Ok(())
}

/// Writes an entry's analysis columns; `norm_z` is `a.text` as a frame
/// against the entry's body ([`text::encode_norm`]).
pub(super) fn store_analysis(
    tx: &Transaction,
    entry: EntryId,
    a: &Analysis,
    norm_z: &[u8],
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE entry SET fingerprint = ?2, fingerprint_version = ?3, credited_agency = ?4, norm_title = ?5,
            norm_z = ?6, signature = ?7 WHERE id = ?1",
    )?
    .execute(params![
        entry.0,
        a.exact.to_sql(),
        dedup::ALGORITHM_VERSION,
        a.credited_agency(),
        a.title,
        norm_z,
        a.signature.to_bytes()
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FeedConfig;
    use crate::parse::ParsedEntry;
    use crate::store::FeedUpdate;

    use crate::store::band_index::tests::WIRE;

    /// Every story row and lineage row, in a fixed order.
    fn snapshot(store: &Store) -> Vec<String> {
        let mut rows = Vec::new();
        for sql in [
            "SELECT id || '|' || canonical_entry_id || '|' || published_at || '|' || first_seen_at
                    || '|' || source_count || '|' || COALESCE(origin_agency, '-') FROM story ORDER BY id",
            "SELECT entry_id || '|' || story_id || '|' || relation || '|' || similarity
             FROM story_entry ORDER BY entry_id",
        ] {
            let mut stmt = store.conn.prepare(sql).expect(sql);
            let found = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .expect(sql)
                .collect::<rusqlite::Result<Vec<_>>>()
                .expect(sql);
            rows.extend(found);
        }
        rows
    }

    fn recompute_all(store: &mut Store) {
        let tx = store.conn.transaction().expect("tx");
        let ids: Vec<i64> = tx
            .prepare("SELECT id FROM story")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("ids");
        for id in ids {
            recompute_story(&tx, StoryId(id), "2000-01-01T00:00:00Z").expect("recompute");
        }
        tx.commit().expect("commit");
    }

    /// Joins settled from the story row and two copies leave what reading
    /// every copy would: the same canonical copy, origin, times and count,
    /// through credits that keep the origin, move it, agency feeds that
    /// take the canonical place, late and early copies, and two copies
    /// from one feed.
    #[test]
    fn a_settled_join_matches_a_full_recompute() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(&dir.path().join("t.db")).expect("open");
        let urls = [
            "https://a.example/rss",
            "https://b.example/rss",
            "https://www.reuters.com/rss",
            "https://www.afp.com/rss",
            "https://c.example/rss",
        ];
        let feeds: Vec<FeedConfig> = urls
            .iter()
            .map(|u| FeedConfig {
                url: (*u).into(),
                ..Default::default()
            })
            .collect();
        store.sync_feeds(&feeds, chrono::Utc::now()).expect("sync");
        let hour = chrono::Duration::hours(1);
        let start = chrono::Utc::now() - chrono::Duration::days(1);
        // (feed, dateline credit, hours after start); "=" settles from two
        // copies, "+" recomputes (the credit may move the origin).
        let copies: [(i64, &str, i64); 10] = [
            (1, "", 5),
            (2, "", 1),                      // = earlier: takes the canonical place
            (5, "", 6),                      // = later
            (2, "ISTANBUL (Reuters) - ", 4), // + the first credit
            (5, "ISTANBUL (Reuters) - ", 0), // = earliest: canonical
            (1, "ISTANBUL (Reuters) - ", 6), // = a feed the story already has
            (3, "ISTANBUL (Reuters) - ", 8), // = the origin's own feed: canonical
            (5, "ISTANBUL (AFP) - ", 2),     // + another credit
            (4, "ISTANBUL (AFP) - ", 7),     // + the other agency's own feed
            (2, "", 0),                      // = early, but not the origin's feed
        ];
        for (n, (feed, credit, at)) in copies.iter().enumerate() {
            let entry = ParsedEntry {
                identity: format!("guid:{n}"),
                title: Some(format!("Embassy talks in Istanbul, take {n}")),
                summary: Some(format!("<p>{credit}{WIRE}</p>")),
                published: Some(start + hour * (*at as i32)),
                ..Default::default()
            };
            store
                .record(FeedUpdate::parsed_now(FeedId(*feed), vec![entry]))
                .expect("record");
            let settled = snapshot(&store);
            recompute_all(&mut store);
            assert_eq!(settled, snapshot(&store), "after copy {n}");
        }
        // The cases above are joins only if the copies fold.
        let largest: i64 = store
            .conn
            .query_row(
                "SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM story_entry GROUP BY story_id)",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert!(largest >= 9, "only {largest} copies folded into one story");
    }
}
