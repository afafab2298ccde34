//! Full-text search: the FTS5 table `entry_search` (rowid = entry id, columns
//! `title` and `body`, plain text) and the query behind `feedfold search`.
//!
//! The index is written by the functions here, which ingest and retention
//! call inside their own transactions: an entry and its index row are always
//! committed together, so a reader never finds one without the other.

use rusqlite::{params, Connection};
use serde::Serialize;

use super::query::TimeFilter;
use super::{EntryId, Store, StoreError};
use crate::dedup::html_to_text;

/// Weights of the `title` and `body` columns in bm25: a word in the headline
/// counts four times a word in the body.
const TITLE_WEIGHT: f64 = 4.0;
const BODY_WEIGHT: f64 = 1.0;
/// Words of context in a snippet.
const SNIPPET_TOKENS: i64 = 16;
/// Entries indexed per statement round when indexing existing rows.
const INDEX_CHUNK: i64 = 2_000;

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

/// Adds entry `id` to the index with its plain-text title and body (the
/// ones [`crate::dedup::Analysis`] carries). Call in the transaction that
/// inserts it.
pub(crate) fn index_entry(
    conn: &Connection,
    id: EntryId,
    title: Option<&str>,
    body: Option<&str>,
) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT INTO entry_search (rowid, title, body) VALUES (?1, ?2, ?3)")?
        .execute(params![id.0, title, body])?;
    Ok(())
}

impl Store {
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

/// Pages of merge output per idle step of the writer.
const IDLE_MERGE_PAGES: u32 = 256;

/// Index rows of one write transaction, held back until its other writes
/// are done. FTS5 flushes its pending terms to disk at every statement
/// savepoint inside a transaction, so index inserts interleaved with the
/// fold's statements wrote one tiny segment per entry (and merged them
/// again); written last, one transaction's rows make one segment.
#[derive(Default)]
pub(crate) struct PendingIndex {
    rows: Vec<PendingRow>,
}

struct PendingRow {
    id: EntryId,
    title: Option<String>,
    body: Option<String>,
    /// An edited entry: its old row goes first.
    replaces: bool,
}

impl PendingIndex {
    /// Indexes a new entry (plain-text title and body) at [`Self::write`].
    pub(crate) fn add(&mut self, id: EntryId, title: Option<String>, body: Option<String>) {
        self.rows.push(PendingRow {
            id,
            title,
            body,
            replaces: false,
        });
    }

    /// Replaces an edited entry's row at [`Self::write`].
    pub(crate) fn replace(&mut self, id: EntryId, title: Option<String>, body: Option<String>) {
        self.rows.push(PendingRow {
            id,
            title,
            body,
            replaces: true,
        });
    }

    /// Writes the rows, in order. Call last in the transaction.
    pub(crate) fn write(self, conn: &Connection) -> rusqlite::Result<()> {
        for row in self.rows {
            if row.replaces {
                unindex_entry(conn, row.id)?;
            }
            index_entry(conn, row.id, row.title.as_deref(), row.body.as_deref())?;
        }
        Ok(())
    }
}

/// Removes entry `id` from the index. Call in the transaction that deletes it.
pub(crate) fn unindex_entry(conn: &Connection, id: EntryId) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM entry_search WHERE rowid = ?1")?
        .execute([id.0])?;
    Ok(())
}

/// Indexes every entry that has no index row yet (after the migration that
/// created the index, or to repair it); returns how many it indexed.
pub(crate) fn index_all(conn: &Connection) -> rusqlite::Result<usize> {
    let mut done = 0;
    let mut after = 0i64;
    loop {
        let rows: Vec<(i64, Option<String>, Option<String>)> = conn
            .prepare_cached(
                "SELECT e.id, e.title, COALESCE(e.content, e.summary) FROM entry e
                 WHERE e.id > ?1 AND NOT EXISTS (SELECT 1 FROM entry_search s WHERE s.rowid = e.id)
                 ORDER BY e.id LIMIT ?2",
            )?
            .query_map(params![after, INDEX_CHUNK], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let Some(last) = rows.last() else {
            return Ok(done);
        };
        after = last.0;
        for (id, title, body) in &rows {
            let title = title.as_deref().map(html_to_text);
            let body = body.as_deref().map(html_to_text);
            index_entry(conn, EntryId(*id), title.as_deref(), body.as_deref())?;
        }
        done += rows.len();
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
                })
            })
            .map_err(bad_query)?;
        rows.collect::<Result<_, _>>().map_err(bad_query)
    }

    /// Rows in the full-text index (one per entry).
    pub fn search_index_len(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM entry_search", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// Rebuilds the full-text index from the entries: drops every index row
    /// and indexes each entry again. Returns the number of entries indexed.
    pub fn rebuild_search_index(&mut self) -> Result<usize, StoreError> {
        let path = self.path.clone();
        let e = |source| super::feeds::err(&path, source);
        let tx = super::write_transaction(&mut self.conn).map_err(e)?;
        tx.execute("DELETE FROM entry_search", []).map_err(e)?;
        let n = index_all(&tx).map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(n)
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
