//! Full-text search on PostgreSQL: `entry.search`, a tsvector of the title
//! (weight A) and the plain-text body (weight B), filled off the write path
//! by the indexer (NULL until then) and read through a GIN index.
//!
//! The same query as SQLite's `feedfold search` (src/store/search.rs): one
//! row per story, the best-matching copy's score and snippet, best first.
//! The ranking is `ts_rank_cd` with the title weighing four times the body
//! (as bm25's column weights do in SQLite), negated so that, as with bm25,
//! lower is better. The `simple` configuration does not stem: `talks`
//! does not find `talk` here, where SQLite's porter tokenizer does.

use tokio_postgres::error::SqlState;

use super::query::{cutoff, story_row};
use super::{PgError, PgStore};
use crate::store::query::TimeFilter;
use crate::store::search::{IndexLag, SearchHit, SearchQuery};

/// The tsvector the indexer stores in `entry.search`, in terms of the
/// entry's columns: what every query here matches against. The indexer
/// uses this very snippet so that both sides agree.
pub const SEARCH_VECTOR_SQL: &str = "setweight(to_tsvector('simple', coalesce(title,'')),'A') || setweight(to_tsvector('simple', coalesce(body,'')),'B')";

/// `ts_rank_cd` weights, `{D, C, B, A}`: a word in the headline (A) counts
/// four times a word in the body (B).
const RANK_WEIGHTS: &str = "'{0.0, 0.0, 0.25, 1.0}'";

/// Words of context in a snippet (`MaxWords` of ts_headline).
const SNIPPET_WORDS: i32 = 16;

/// The terms of a plain-words query: each word or `"phrase"`, and whether
/// it ends in `*` (a prefix). Words with no letter or digit are dropped, as
/// SQLite's query does.
fn word_terms(input: &str) -> (Vec<String>, Vec<bool>) {
    let (mut terms, mut prefix) = (Vec::new(), Vec::new());
    for (i, part) in input.split('"').enumerate() {
        if i % 2 == 1 {
            if part.chars().any(char::is_alphanumeric) {
                terms.push(part.trim().to_string());
                prefix.push(false);
            }
            continue;
        }
        for word in part.split_whitespace() {
            let (stem, star) = word
                .strip_suffix('*')
                .map_or((word, false), |stem| (stem, true));
            if stem.chars().any(char::is_alphanumeric) {
                terms.push(stem.to_string());
                prefix.push(star);
            }
        }
    }
    (terms, prefix)
}

/// An FTS5-style query (`--fts`) in the syntax of `websearch_to_tsquery`:
/// words, `"phrases"`, `OR` carry over; `NOT x` becomes `-x` and `AND` is
/// implicit. `NEAR(…)`, `column:` filters and `prefix*` have no
/// counterpart there and are refused rather than silently changed.
fn fts_to_websearch(query: &str) -> Result<String, String> {
    if query.contains("NEAR(") || query.contains("NEAR ") {
        return Err("NEAR is not supported on PostgreSQL (use a \"phrase\")".to_string());
    }
    if query.contains('*') {
        return Err(
            "prefix* is not supported with --fts on PostgreSQL (it is without --fts)".to_string(),
        );
    }
    if query.contains(':') || query.contains('(') || query.contains(')') {
        return Err(
            "column filters (title:) and brackets are not supported on PostgreSQL".to_string(),
        );
    }
    if query.matches('"').count() % 2 == 1 {
        return Err("a double quote is not closed".to_string());
    }
    let mut out = Vec::new();
    let mut negate = false;
    for (i, part) in query.split('"').enumerate() {
        if i % 2 == 1 {
            out.push(format!("{}\"{part}\"", if negate { "-" } else { "" }));
            negate = false;
            continue;
        }
        for word in part.split_whitespace() {
            match word {
                "AND" => {}
                "NOT" => negate = true,
                w => {
                    out.push(format!("{}{w}", if negate { "-" } else { "" }));
                    negate = false;
                }
            }
        }
    }
    Ok(out.join(" "))
}

/// The search (`$1` the tsquery, `$2` the published cut-off, `$3` the
/// limit, `$4` the first-seen cut-off; NULL cut-offs keep everything).
fn search_sql() -> String {
    format!(
        "WITH q AS (SELECT $1::text::tsquery AS q),
         hits AS MATERIALIZED (
             SELECT e.id AS entry_id, ts_rank_cd({RANK_WEIGHTS}, e.search, q.q) AS score
             FROM entry e, q WHERE e.search @@ q.q
         ),
         best AS (
             SELECT DISTINCT ON (se.story_id) se.story_id, h.entry_id, h.score
             FROM hits h JOIN story_entry se ON se.entry_id = h.entry_id
             ORDER BY se.story_id, h.score DESC, h.entry_id
         ),
         top AS (
             SELECT {STORY}, b.entry_id, b.score
             FROM best b JOIN stories s ON s.story_id = b.story_id
             WHERE ($2::timestamptz IS NULL OR s.published_at >= $2)
               AND ($4::timestamptz IS NULL OR s.first_seen_at >= $4)
             ORDER BY b.score DESC, s.story_id LIMIT $3
         )
         SELECT t.*, ts_headline('simple', concat_ws(' ', e.title, e.body), q.q,
                    'StartSel=[, StopSel=], MaxWords={SNIPPET_WORDS}, MinWords=5, MaxFragments=1, FragmentDelimiter=…')
         FROM top t JOIN entry e ON e.id = t.entry_id, q
         ORDER BY t.score DESC, t.story_id",
        STORY = "s.story_id, s.title, s.url, s.published_at, s.first_seen_at, s.last_seen_at, s.source_count, s.origin_agency"
    )
}

impl PgStore {
    /// The tsquery for `query`, made by PostgreSQL's own parser so that it
    /// splits words as the indexer did; `None` when nothing is left to
    /// search for.
    async fn tsquery(&self, query: &SearchQuery) -> Result<Option<String>, PgError> {
        let client = self.client().await?;
        let text: Option<String> = match query {
            SearchQuery::Words(q) => {
                let (terms, prefix) = word_terms(q);
                // Each term a phrase of the parser's lexemes, a `*` term's
                // last lexeme a prefix, all of them required.
                client
                    .query_one(
                        "SELECT string_agg('(' || p || CASE WHEN star THEN ':*' ELSE '' END || ')', ' & ' ORDER BY i)
                         FROM (SELECT phraseto_tsquery('simple', t)::text AS p, star, i
                               FROM unnest($1::text[], $2::bool[]) WITH ORDINALITY u(t, star, i)) q
                         WHERE p <> ''",
                        &[&terms, &prefix],
                    )
                    .await?
                    .try_get(0)?
            }
            SearchQuery::Fts(q) => {
                let web = fts_to_websearch(q).map_err(|message| PgError::BadQuery {
                    query: q.clone(),
                    message,
                })?;
                client
                    .query_one(
                        "SELECT NULLIF(websearch_to_tsquery('simple', $1)::text, '')",
                        &[&web],
                    )
                    .await?
                    .try_get(0)?
            }
        };
        Ok(text)
    }

    /// Canonical stories whose copies match `query`, best first, one row
    /// per story however many of its copies matched; only stories that pass
    /// `filter` ([`crate::store::Store::search`]).
    pub async fn search(
        &self,
        query: &SearchQuery,
        filter: &TimeFilter,
        limit: usize,
    ) -> Result<Vec<SearchHit>, PgError> {
        let given = match query {
            SearchQuery::Words(q) | SearchQuery::Fts(q) => q.clone(),
        };
        let Some(tsquery) = self.tsquery(query).await? else {
            return Err(PgError::BadQuery {
                query: given,
                message: "nothing to search for".to_string(),
            });
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.client().await?;
        let rows = client
            .query(
                &search_sql(),
                &[
                    &tsquery,
                    &cutoff(filter.published_since),
                    &limit,
                    &cutoff(filter.seen_since),
                ],
            )
            .await
            .map_err(|e| match e.code() {
                Some(c) if *c == SqlState::SYNTAX_ERROR => PgError::BadQuery {
                    query: given.clone(),
                    message: e.to_string(),
                },
                _ => PgError::Db(e),
            })?;
        let lag = self.index_lag().await?;
        rows.iter()
            .map(|r| {
                let story = story_row(r)?;
                Ok(SearchHit {
                    story_id: story.story_id,
                    title: story.title,
                    url: story.url,
                    published_at: story.published_at,
                    source_count: story.source_count,
                    origin_agency: story.origin_agency,
                    entry_id: r.try_get(8)?,
                    rank: -f64::from(r.try_get::<_, f32>(9)?),
                    snippet: r.try_get::<_, Option<String>>(10)?.unwrap_or_default(),
                    index_lag: lag,
                })
            })
            .collect()
    }

    /// How far the indexer is behind: entries whose `search` is still NULL,
    /// and how long ago the oldest of them was first seen.
    pub async fn index_lag(&self) -> Result<IndexLag, PgError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT COUNT(*),
                        COALESCE(EXTRACT(EPOCH FROM now() - MIN(first_seen_at))::bigint, 0)
                 FROM entry WHERE search IS NULL",
                &[],
            )
            .await?;
        Ok(IndexLag {
            entries: row.try_get(0)?,
            oldest_seconds: row.try_get::<_, i64>(1)?.max(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_keep_phrases_and_prefixes_and_drop_punctuation() {
        let (t, p) = word_terms("US-Russia \"foreign ministry\" emb* - ; \"unclosed");
        assert_eq!(t, ["US-Russia", "foreign ministry", "emb", "unclosed"]);
        assert_eq!(p, [false, false, true, false]);
    }

    #[test]
    fn fts_syntax_maps_to_websearch_or_is_refused() {
        assert_eq!(
            fts_to_websearch("embassy AND talks OR summit NOT \"trade war\"").as_deref(),
            Ok("embassy talks OR summit -\"trade war\"")
        );
        for bad in ["a NEAR(b c)", "emb*", "title:embassy", "\"open", "(a OR b)"] {
            assert!(fts_to_websearch(bad).is_err(), "{bad}");
        }
    }
}
