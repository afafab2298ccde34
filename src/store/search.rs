//! Full-text search: the FTS5 table `entry_search` (rowid = entry id, columns
//! `title` and `body`, plain text) and the query behind `feedfold search`.
//!
//! The index is external-content (migration 0013): it holds no text, only
//! the words of `entry.title` and `entry.body`. Ingest does not index: it
//! queues the entry in `search_queue`, and the writer indexes the queue in
//! large batches between its other work ([`Store::index_queued`]), taking
//! the batch off the queue in the same transaction. So an entry is in the
//! index exactly when it is not queued, after a crash too. Changing or
//! deleting an indexed entry first takes its words out (`unindex`), in
//! the transaction that changes it.

use std::time::{Duration, Instant};

use rusqlite::{params, Connection};
use serde::Serialize;

use super::query::TimeFilter;
use super::{EntryId, Store, StoreError};

/// Weights of the `title` and `body` columns in bm25: a word in the headline
/// counts four times a word in the body.
const TITLE_WEIGHT: f64 = 4.0;
const BODY_WEIGHT: f64 = 1.0;
/// Words of context in a snippet.
const SNIPPET_TOKENS: i64 = 16;

/// What the user typed, and how to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchQuery {
    /// Plain words: every word must occur (in any order, stemmed); `"…"`
    /// keeps a phrase together and a trailing `*` matches a prefix. Any
    /// other punctuation is taken literally, so no input is a syntax error.
    Words(String),
    /// FTS5 query syntax as SQLite documents it (`AND`, `OR`, `NOT`,
    /// `NEAR(…)`, `title:…`); a syntax error is reported as
    /// [`StoreError::BadQuery`].
    Fts(String),
}

/// One canonical story that matched a search.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SearchHit {
    /// The story (a row of the `stories` view).
    pub story_id: i64,
    /// Headline of the canonical copy.
    pub title: Option<String>,
    /// URL of the canonical copy.
    pub url: Option<String>,
    /// Published time of the canonical copy (UTC).
    pub published_at: String,
    /// Distinct feeds that carried a copy.
    pub source_count: i64,
    /// Agency the story originates from, when the text credits one.
    pub origin_agency: Option<String>,
    /// The copy whose text matched best.
    pub entry_id: i64,
    /// Matching passage of that copy, matched words in `[` `]`.
    pub snippet: String,
    /// bm25 score of the best-matching copy as SQLite computes it: lower
    /// (more negative) is a better match; rows come sorted by it.
    pub rank: f64,
    /// How far the index was behind when the search ran (the same on every
    /// row): entries that were stored but not searchable yet.
    pub index_lag: IndexLag,
}

impl SearchQuery {
    /// The FTS5 query string to hand to `MATCH`, or `None` when the words
    /// hold nothing searchable.
    pub fn to_fts(&self) -> Option<String> {
        match self {
            SearchQuery::Fts(q) => (!q.trim().is_empty()).then(|| q.clone()),
            SearchQuery::Words(q) => words_to_fts(q),
        }
    }

    fn as_given(&self) -> &str {
        match self {
            SearchQuery::Words(q) | SearchQuery::Fts(q) => q,
        }
    }
}

/// Quotes every word (and every `"phrase"`) as an FTS5 string, so that
/// hyphens, colons, apostrophes and the words AND/OR/NOT are searched for as
/// text instead of being read as query syntax.
fn words_to_fts(input: &str) -> Option<String> {
    let mut terms = Vec::new();
    for (i, part) in input.split('"').enumerate() {
        if i % 2 == 1 {
            // Inside double quotes: one phrase.
            if !part.trim().is_empty() {
                terms.push(quote(part.trim()));
            }
            continue;
        }
        for word in part.split_whitespace() {
            let (stem, prefix) = match word.strip_suffix('*') {
                Some(stem) => (stem, true),
                None => (word, false),
            };
            if !stem.chars().any(char::is_alphanumeric) {
                continue;
            }
            let term = quote(stem);
            terms.push(if prefix { format!("{term}*") } else { term });
        }
    }
    (!terms.is_empty()).then(|| terms.join(" "))
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Queues entry `id` for the indexer. Call in the transaction that stores
/// the entry or changes its title or text (after [`unindex`] for a change).
pub(crate) fn enqueue(conn: &Connection, id: EntryId) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO search_queue (entry_id, queued_at) VALUES (?1, CAST(unixepoch('subsec') * 1000 AS INTEGER))
         ON CONFLICT (entry_id) DO NOTHING",
    )?
    .execute([id.0])?;
    Ok(())
}

/// Takes entry `id` out of the index, before its title or text change or
/// before it is deleted: an external-content index is told the words to
/// remove, which are the entry's current ones. An entry still queued has no
/// row in the index; its queue row goes instead.
pub(crate) fn unindex(conn: &Connection, id: EntryId) -> rusqlite::Result<()> {
    let queued = conn
        .prepare_cached("DELETE FROM search_queue WHERE entry_id = ?1")?
        .execute([id.0])?;
    if queued == 0 {
        conn.prepare_cached(
            "INSERT INTO entry_search (entry_search, rowid, title, body)
             SELECT 'delete', id, title, body FROM entry WHERE id = ?1",
        )?
        .execute([id.0])?;
    }
    Ok(())
}

/// How far the index is behind the entries: what `search --json` reports
/// as `index_lag`.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct IndexLag {
    /// Entries stored but not yet searchable.
    pub entries: i64,
    /// Seconds since the oldest of them was queued (0 when none are).
    pub oldest_seconds: i64,
}

impl Store {
    /// Indexes up to `max` queued entries (lowest ids first) in one
    /// transaction, which also takes them off the queue; returns how many it
    /// indexed. Large batches are what make this cheap: FTS5 writes one
    /// segment per transaction, so the index grows by few, large segments.
    pub fn index_queued(&mut self, max: usize) -> Result<usize, StoreError> {
        let started = Instant::now();
        let path = self.path.clone();
        let e = |source| super::feeds::err(&path, source);
        let tx = super::write_transaction(&mut self.conn).map_err(e)?;
        let last: Option<i64> = tx
            .query_row(
                "SELECT MAX(entry_id) FROM (SELECT entry_id FROM search_queue ORDER BY entry_id LIMIT ?1)",
                [max as i64],
                |r| r.get(0),
            )
            .map_err(e)?;
        let Some(last) = last else {
            return Ok(0);
        };
        let queued: Vec<i64> = tx
            .prepare_cached("SELECT queued_at FROM search_queue WHERE entry_id <= ?1")
            .and_then(|mut st| st.query_map([last], |r| r.get(0))?.collect())
            .map_err(e)?;
        tx.execute(
            "INSERT INTO entry_search (rowid, title, body)
             SELECT e.id, e.title, e.body FROM search_queue q JOIN entry e ON e.id = q.entry_id
             WHERE q.entry_id <= ?1 ORDER BY q.entry_id",
            [last],
        )
        .map_err(e)?;
        let n = tx
            .execute("DELETE FROM search_queue WHERE entry_id <= ?1", [last])
            .map_err(e)?;
        tx.commit().map_err(e)?;
        tracing::debug!(
            entries = n,
            ms = started.elapsed().as_millis() as u64,
            "entries indexed for search"
        );
        let now = chrono::Utc::now().timestamp_millis();
        let waits: Vec<i64> = queued.iter().map(|at| now.saturating_sub(*at)).collect();
        for &ms in &waits {
            self.index_lags.observe(ms);
        }
        let mut recent = RECENT_LAGS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if recent.len() + waits.len() <= RECENT_LAGS_MAX {
            recent.extend_from_slice(&waits);
        }
        Ok(n)
    }

    /// How far the index is behind.
    pub fn index_lag(&self) -> Result<IndexLag, StoreError> {
        self.conn
            .query_row(
                "SELECT COUNT(*), COALESCE((CAST(unixepoch('subsec') * 1000 AS INTEGER) - MIN(queued_at)) / 1000, 0)
                 FROM search_queue",
                [],
                |r| {
                    Ok(IndexLag {
                        entries: r.get(0)?,
                        oldest_seconds: r.get::<_, i64>(1)?.max(0),
                    })
                },
            )
            .map_err(|e| self.err(e))
    }

    /// One bounded step of merging the full-text index's segments: the
    /// index does not merge inside write transactions (migration 0006), so
    /// the writer calls this when its queue runs empty. At most
    /// `IDLE_MERGE_PAGES` pages of output: a few milliseconds.
    pub fn merge_search_step(&mut self) -> Result<(), StoreError> {
        // A negative page count merges whatever segments there are.
        self.conn
            .execute(
                &format!(
                    "INSERT INTO entry_search (entry_search, rank) VALUES ('merge', -{IDLE_MERGE_PAGES})"
                ),
                [],
            )
            .map(drop)
            .map_err(|e| super::feeds::err(&self.path, e))
    }
}

/// Waits (ms, commit to searchable) not yet taken by `/metrics`
/// ([`take_recent_lags`]); the store never calls the metrics module.
static RECENT_LAGS: std::sync::Mutex<Vec<i64>> = std::sync::Mutex::new(Vec::new());
/// Waits kept for the next scrape at most: without scrapes, the rest are
/// not kept (the writer's own histogram still counts them).
const RECENT_LAGS_MAX: usize = 100_000;

/// Takes the waits (ms) of the entries indexed since the last call.
pub fn take_recent_lags() -> Vec<i64> {
    std::mem::take(
        &mut *RECENT_LAGS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
}

/// Pages of merge output per idle step of the writer.
const IDLE_MERGE_PAGES: u32 = 256;

/// How long entries waited from being queued (their commit) to being
/// indexed, over this store's life: what "searchable within 5 s" is
/// measured by (the writer logs it at exit).
#[derive(Debug, Clone)]
pub struct LagHistogram {
    /// Entries per 100 ms of waiting; the last bucket holds a minute and more.
    buckets: Vec<u64>,
    max_ms: i64,
}

/// Width and number of the histogram's buckets.
const LAG_BUCKET_MS: i64 = 100;
const LAG_BUCKETS: usize = 600;

impl Default for LagHistogram {
    fn default() -> Self {
        LagHistogram {
            buckets: vec![0; LAG_BUCKETS + 1],
            max_ms: 0,
        }
    }
}

impl LagHistogram {
    fn observe(&mut self, ms: i64) {
        let ms = ms.max(0);
        let k = usize::try_from(ms / LAG_BUCKET_MS).map_or(LAG_BUCKETS, |k| k.min(LAG_BUCKETS));
        self.buckets[k] += 1;
        self.max_ms = self.max_ms.max(ms);
    }

    /// Entries observed.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// The wait (upper bound of its 100 ms bucket, in ms) below which
    /// fraction `q` of the entries were indexed.
    pub fn quantile_ms(&self, q: f64) -> i64 {
        let target = (q * self.count() as f64).ceil() as u64;
        let mut seen = 0;
        for (k, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= target.max(1) {
                return ((k as i64 + 1) * LAG_BUCKET_MS).min(self.max_ms.max(LAG_BUCKET_MS));
            }
        }
        self.max_ms
    }

    /// The longest wait, in ms.
    pub fn max_ms(&self) -> i64 {
        self.max_ms
    }
}

/// Queued entries that make an index step due at once: one step's worth.
const INDEX_BATCH: usize = 5_000;
/// Most entries indexed in one step: a step holds the write lock, so it is
/// bounded for the polls waiting behind it (~1 s of indexing).
const INDEX_STEP_MAX: usize = 20_000;
/// How long a queued entry waits at most before a step is due: well inside
/// the 5 s in which docs/SCHEMA.md promises an entry is searchable, and
/// long enough that a busy writer indexes in large, cheap batches.
pub(crate) const INDEX_DELAY: Duration = Duration::from_secs(1);

/// What this store has queued for the index and not indexed yet, as far as
/// it knows (entries other processes queue are found when it idles).
#[derive(Debug, Default)]
pub(crate) struct Backlog {
    entries: usize,
    since: Option<Instant>,
}

impl Backlog {
    /// `n` more entries were queued.
    pub(crate) fn add(&mut self, n: usize) {
        if n > 0 {
            self.entries += n;
            self.since.get_or_insert_with(Instant::now);
        }
    }

    /// A backlog found at open: due at once.
    fn found(n: usize) -> Backlog {
        Backlog {
            entries: n,
            since: (n > 0).then(|| {
                Instant::now()
                    .checked_sub(INDEX_DELAY)
                    .unwrap_or_else(Instant::now)
            }),
        }
    }

    fn due(&self) -> bool {
        self.entries >= INDEX_BATCH || self.since.is_some_and(|t| t.elapsed() >= INDEX_DELAY)
    }

    /// How long until a step is due; `None` when nothing is queued.
    pub(crate) fn wait(&self) -> Option<Duration> {
        self.since.map(|t| INDEX_DELAY.saturating_sub(t.elapsed()))
    }
}

impl Store {
    /// Reads the queue's length into the backlog (at open: a crash or a
    /// migration may have left entries queued).
    pub(crate) fn load_backlog(&mut self) -> Result<(), StoreError> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM search_queue", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        self.backlog = Backlog::found(usize::try_from(n).unwrap_or(0));
        Ok(())
    }

    /// How long the entries this store indexed had waited.
    pub fn index_lags(&self) -> &LagHistogram {
        &self.index_lags
    }

    /// How long the writer may wait for work before [`Self::index_when_due`]
    /// has something to do; `None` when nothing is queued.
    pub fn index_wait(&self) -> Option<Duration> {
        self.backlog.wait()
    }

    /// One index step if one is due: when `INDEX_BATCH` entries are
    /// queued or the oldest has waited `INDEX_DELAY`. Returns how many
    /// entries it indexed.
    pub fn index_when_due(&mut self) -> Result<usize, StoreError> {
        if !self.backlog.due() {
            return Ok(0);
        }
        let n = self.index_queued(INDEX_STEP_MAX)?;
        self.backlog = if n == INDEX_STEP_MAX {
            // More are queued: due again after the jobs waiting now.
            Backlog::found(self.backlog.entries.saturating_sub(n).max(1))
        } else {
            Backlog::default()
        };
        Ok(n)
    }

    /// Indexes the whole queue, in steps, but stops once `budget` has
    /// passed (`None`: no limit); returns how many entries it indexed and
    /// how many it left queued.
    pub fn index_backlog(&mut self, budget: Option<Duration>) -> Result<(usize, i64), StoreError> {
        let start = Instant::now();
        let mut done = 0;
        loop {
            if budget.is_some_and(|b| start.elapsed() >= b) {
                break;
            }
            let n = self.index_queued(INDEX_STEP_MAX)?;
            done += n;
            if n < INDEX_STEP_MAX {
                break;
            }
        }
        let left = self.index_lag()?.entries;
        self.backlog = Backlog::found(usize::try_from(left).unwrap_or(0));
        Ok((done, left))
    }
}

/// The query behind `feedfold search`: `?1` the FTS5 query, `?2` the
/// published cut-off (`''` for none), `?3` the limit, `?4` the first-seen
/// cut-off (`''` for none).
pub fn search_sql() -> String {
    // `best` keeps, per story, the copy with the lowest bm25 (SQLite returns
    // the bare columns of the row that gave MIN). The snippet is made only
    // for the rows shown, in the last join.
    format!(
        "WITH hits AS MATERIALIZED (
             SELECT rowid AS entry_id, bm25(entry_search, {TITLE_WEIGHT}, {BODY_WEIGHT}) AS score
             FROM entry_search WHERE entry_search MATCH ?1
         ),
         best AS (
             SELECT se.story_id AS story_id, h.entry_id AS entry_id, MIN(h.score) AS score
             FROM hits h JOIN story_entry se ON se.entry_id = h.entry_id
             GROUP BY se.story_id
         ),
         top AS (
             SELECT s.story_id, s.title, s.url, s.published_at, s.source_count, s.origin_agency,
                    b.entry_id, b.score
             FROM best b JOIN stories s ON s.story_id = b.story_id
             WHERE s.published_at >= ?2 AND s.first_seen_at >= ?4
             ORDER BY b.score, s.story_id LIMIT ?3
         )
         SELECT t.story_id, t.title, t.url, t.published_at, t.source_count, t.origin_agency,
                t.entry_id, snippet(entry_search, -1, '[', ']', '…', {SNIPPET_TOKENS}), t.score
         FROM top t JOIN entry_search ON entry_search.rowid = t.entry_id
         WHERE entry_search MATCH ?1
         ORDER BY t.score, t.story_id"
    )
}

impl Store {
    /// Canonical stories whose copies match `query`, best first, one row per
    /// story however many of its copies matched; only stories that pass
    /// `filter`.
    pub fn search(
        &self,
        query: &SearchQuery,
        filter: &TimeFilter,
        limit: usize,
    ) -> Result<Vec<SearchHit>, StoreError> {
        let Some(fts) = query.to_fts() else {
            return Err(StoreError::BadQuery {
                query: query.as_given().to_string(),
                message: "nothing to search for".to_string(),
            });
        };
        let (published, seen) = filter.bounds();
        let sql = search_sql();
        let bad_query = |e: rusqlite::Error| match fts5_complaint(&e) {
            Some(message) => StoreError::BadQuery {
                query: query.as_given().to_string(),
                message,
            },
            None => self.err(e),
        };
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![fts, published, limit as i64, seen], |r| {
                Ok(SearchHit {
                    story_id: r.get(0)?,
                    title: r.get(1)?,
                    url: r.get(2)?,
                    published_at: r.get(3)?,
                    source_count: r.get(4)?,
                    origin_agency: r.get(5)?,
                    entry_id: r.get(6)?,
                    snippet: r.get::<_, Option<String>>(7)?.unwrap_or_default(),
                    rank: r.get(8)?,
                    index_lag: IndexLag::default(),
                })
            })
            .map_err(bad_query)?;
        let mut hits: Vec<SearchHit> = rows.collect::<Result<_, _>>().map_err(bad_query)?;
        let lag = self.index_lag()?;
        for hit in &mut hits {
            hit.index_lag = lag;
        }
        Ok(hits)
    }

    /// Rebuilds the full-text index from the entries (FTS5's `rebuild`,
    /// which reads every entry's title and text) and empties the queue.
    /// Returns the number of entries indexed.
    pub fn rebuild_search_index(&mut self) -> Result<usize, StoreError> {
        let path = self.path.clone();
        let e = |source| super::feeds::err(&path, source);
        let tx = super::write_transaction(&mut self.conn).map_err(e)?;
        tx.execute(
            "INSERT INTO entry_search (entry_search) VALUES ('rebuild')",
            [],
        )
        .map_err(e)?;
        tx.execute("DELETE FROM search_queue", []).map_err(e)?;
        let n: i64 = tx
            .query_row("SELECT COUNT(*) FROM entry", [], |r| r.get(0))
            .map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(usize::try_from(n).unwrap_or(0))
    }
}

/// Why SQLite rejected the query text, in the user's words; `None` when
/// the failure is the database's (I/O, corruption, locks).
///
/// Every syntax problem of a `MATCH` string surfaces while the statement
/// runs as the generic SQLITE_ERROR, with FTS5's message or none at all (an
/// unterminated string came through as a bare "SQL logic error"); the
/// database's own failures carry codes of their own. So the code decides,
/// and the message only picks the sentence.
fn fts5_complaint(e: &rusqlite::Error) -> Option<String> {
    let rusqlite::Error::SqliteFailure(failure, message) = e else {
        return None;
    };
    if failure.code != rusqlite::ErrorCode::Unknown {
        return None;
    }
    Some(explain_fts5(message.as_deref().unwrap_or("")))
}

/// One sentence for an FTS5 complaint.
fn explain_fts5(message: &str) -> String {
    const HINT: &str = "(FTS5 syntax: words, \"a phrase\", prefix*, AND, OR, NOT, NEAR(…), title: or body:; without --fts words are searched as typed)";
    let what = if message.contains("unterminated string") {
        "a double quote is not closed".to_string()
    } else if message.contains("unknown special query") {
        "`*` must end a word (`export*`); it cannot stand alone or start the query".to_string()
    } else if let Some(column) = message.strip_prefix("no such column: ") {
        format!("`{column}:` is not a column; the columns are `title:` and `body:`")
    } else if let Some(near) = message
        .strip_prefix("fts5: syntax error near ")
        .map(|n| n.trim_matches('"'))
    {
        if near.is_empty() {
            "the query ends too early (an operator or a bracket is missing its other side)"
                .to_string()
        } else {
            format!("syntax error near `{near}`")
        }
    } else if message.is_empty() {
        "FTS5 cannot read it".to_string()
    } else {
        message.trim_start_matches("fts5: ").to_string()
    };
    format!("{what} {HINT}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 22 item 5: every FTS5 syntax problem is a query error with a
    /// sentence, whatever message (or none) SQLite gave.
    #[test]
    fn every_fts5_syntax_error_is_a_query_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("ff.db")).expect("open");
        for (query, says) in [
            ("\"unbalanced", "double quote is not closed"),
            ("*", "`*` must end a word"),
            ("embassy AND (", "ends too early"),
            ("x:y", "`x:` is not a column"),
            ("a NEAR(", "ends too early"),
            ("AND", "syntax error near `AND`"),
        ] {
            let e = store
                .search(
                    &SearchQuery::Fts(query.to_string()),
                    &TimeFilter::default(),
                    5,
                )
                .expect_err(query);
            let StoreError::BadQuery { query: q, message } = &e else {
                panic!("{query}: not a query error: {e}");
            };
            assert_eq!(q, query);
            assert!(message.contains(says), "{query}: {message}");
        }
    }

    #[test]
    fn lag_quantiles_come_from_the_waits_observed() {
        let mut h = LagHistogram::default();
        for ms in (0..100).map(|i| i * 10) {
            h.observe(ms);
        }
        h.observe(4_321);
        assert_eq!(h.count(), 101);
        // The upper bound of the 100 ms bucket holding the median wait, 500 ms.
        assert_eq!(h.quantile_ms(0.5), 600);
        assert_eq!(h.quantile_ms(0.99), 1_000);
        assert_eq!(h.quantile_ms(1.0), 4_321);
        assert_eq!(h.max_ms(), 4_321);
    }

    #[test]
    fn plain_words_are_quoted_so_punctuation_is_not_syntax() {
        let q = |s: &str| SearchQuery::Words(s.to_string()).to_fts();
        assert_eq!(q("embassy talks").as_deref(), Some("\"embassy\" \"talks\""));
        assert_eq!(
            q("US-Russia talks: AND").as_deref(),
            Some("\"US-Russia\" \"talks:\" \"AND\"")
        );
        assert_eq!(
            q("\"foreign ministry\" emb*").as_deref(),
            Some("\"foreign ministry\" \"emb\"*")
        );
        assert_eq!(q("  - ; ").as_deref(), None);
        assert_eq!(
            q("unbalanced \"quote").as_deref(),
            Some("\"unbalanced\" \"quote\"")
        );
    }
}
