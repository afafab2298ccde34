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

/// The text search configuration of the index and of every query: one
/// place, since a query parsed under another configuration would look for
/// lexemes the index does not hold. `english` stems as SQLite's porter
/// tokenizer does (`talks` finds `talk`) and drops English stop words.
macro_rules! ts_config {
    () => {
        "english"
    };
}
pub(crate) use ts_config;

/// The tsvector the indexer stores in `entry.search`, in terms of the
/// entry's columns: what every query here matches against. The indexer
/// uses this very snippet so that both sides agree.
pub const SEARCH_VECTOR_SQL: &str = concat!(
    "setweight(to_tsvector('",
    ts_config!(),
    "', coalesce(title,'')),'A') || setweight(to_tsvector('",
    ts_config!(),
    "', coalesce(body,'')),'B')"
);

/// [`SEARCH_VECTOR_SQL`] over the title and body given as the statement's
/// parameters `$title` and `$body` (text), for the ingest's INSERT and
/// UPDATE: computing the vector as the row is written spares a second row
/// version, and a second insertion into every index of `entry`, per entry.
macro_rules! search_vector_of {
    ($title:literal, $body:literal) => {
        concat!(
            "setweight(to_tsvector('",
            $crate::store::pg::search::ts_config!(),
            "', coalesce(",
            $title,
            "::text,'')),'A') || setweight(to_tsvector('",
            $crate::store::pg::search::ts_config!(),
            "', coalesce(",
            $body,
            "::text,'')),'B')"
        )
    };
}
pub(crate) use search_vector_of;

/// `ts_rank_cd` weights, `{D, C, B, A}`: a word in the headline (A) counts
/// four times a word in the body (B).
const RANK_WEIGHTS: &str = "'{0.0, 0.0, 0.25, 1.0}'";

/// Words of context in a snippet (`MaxWords` of ts_headline).
const SNIPPET_WORDS: i32 = 16;

/// One piece of a query, before its terms become the parser's lexemes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// A word or `"phrase"`, split into lexemes as the indexer splits text;
    /// `prefix` (a trailing `*`) lets its last lexeme match a prefix;
    /// `weight` limits it to the title (`A`) or the body (`B`).
    Term {
        text: String,
        prefix: bool,
        weight: Option<char>,
    },
    And,
    Or,
    Not,
    Open,
    Close,
}

/// What `--fts` accepts on PostgreSQL, for error messages.
const FTS_HINT: &str = "(search syntax: words, \"a phrase\", prefix*, AND, OR, NOT, brackets, title: or body:; without --fts words are searched as typed)";

fn term(text: &str, weight: Option<char>) -> Piece {
    let (text, prefix) = text.strip_suffix('*').map_or((text, false), |t| (t, true));
    Piece::Term {
        text: text.to_string(),
        prefix,
        weight,
    }
}

/// A plain-words query: each word or `"phrase"` required, a trailing `*`
/// a prefix, any other punctuation literal (so never a syntax error).
/// Words with no letter or digit are dropped, as SQLite's query does.
fn word_pieces(input: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    for (i, part) in input.split('"').enumerate() {
        if i % 2 == 1 {
            pieces.push(term(part.trim(), None));
            continue;
        }
        pieces.extend(part.split_whitespace().map(|w| term(w, None)));
    }
    pieces.retain(
        |p| matches!(p, Piece::Term { text, .. } if text.chars().any(char::is_alphanumeric)),
    );
    pieces
}

/// An `--fts` query, in SQLite FTS5's syntax as far as a tsquery can say
/// it: words, `"phrases"`, `prefix*`, `AND`, `OR`, `NOT` (binary, as in
/// FTS5), brackets and `title:` / `body:` before a word or phrase. `NEAR`
/// has no counterpart and is refused.
fn fts_pieces(input: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = input.trim_start();
    while let Some(c) = rest.chars().next() {
        let mut weight = None;
        match c {
            '(' | ')' => {
                pieces.push(if c == '(' { Piece::Open } else { Piece::Close });
                rest = &rest[1..];
            }
            _ => {
                let end = rest
                    .find(|c: char| c.is_whitespace() || "()\"".contains(c))
                    .unwrap_or(rest.len());
                let mut word = &rest[..end];
                rest = &rest[end..];
                if let Some((column, after)) = word.split_once(':') {
                    weight = Some(match column {
                        "title" => 'A',
                        "body" => 'B',
                        _ => {
                            return Err(format!(
                                "`{column}:` is not a column; the columns are `title:` and `body:`"
                            ))
                        }
                    });
                    word = after;
                }
                match word {
                    "" if weight.is_none() => {}
                    "" if rest.starts_with('"') => {}
                    "" => {
                        return Err("`title:` and `body:` go before a word or a \"phrase\"".into())
                    }
                    "AND" => pieces.push(Piece::And),
                    "OR" => pieces.push(Piece::Or),
                    "NOT" => pieces.push(Piece::Not),
                    "NEAR" => {
                        return Err("NEAR is not supported on PostgreSQL; use a \"phrase\"".into())
                    }
                    w if w.starts_with('*') => return Err(
                        "`*` must end a word (`export*`); it cannot stand alone or start a word"
                            .into(),
                    ),
                    w => pieces.push(term(w, weight)),
                }
                if !(word.is_empty() && rest.starts_with('"')) {
                    rest = rest.trim_start();
                    continue;
                }
            }
        }
        if let Some(open) = rest.strip_prefix('"') {
            // A phrase: up to the next lone `"` (`""` is a quote inside).
            let mut phrase = String::new();
            let mut chars = open.char_indices().peekable();
            let mut closed = None;
            while let Some((i, ch)) = chars.next() {
                if ch == '"' {
                    if chars.peek().is_some_and(|&(_, n)| n == '"') {
                        chars.next();
                        phrase.push('"');
                        continue;
                    }
                    closed = Some(i + 1);
                    break;
                }
                phrase.push(ch);
            }
            let Some(end) = closed else {
                return Err("a double quote is not closed".into());
            };
            rest = &open[end..];
            let prefix = rest.starts_with('*');
            if prefix {
                rest = &rest[1..];
            }
            pieces.push(Piece::Term {
                text: phrase,
                prefix,
                weight,
            });
        }
        rest = rest.trim_start();
    }
    Ok(pieces)
}

/// Adds a term's modifiers to the lexemes of its phrase query text
/// (`'us-russia' <-> 'us' <-> 'russia'`): the weight on every lexeme, the
/// prefix mark on the last.
fn mark(phrase: &str, prefix: bool, weight: Option<char>) -> String {
    let mut ends = Vec::new();
    let mut quoted = false;
    let mut chars = phrase.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\'' {
            continue;
        }
        if quoted && chars.peek().is_some_and(|&(_, n)| n == '\'') {
            chars.next();
            continue;
        }
        if quoted {
            ends.push(i + 1);
        }
        quoted = !quoted;
    }
    let mut out = phrase.to_string();
    for (k, &end) in ends.iter().enumerate().rev() {
        let mut m = String::new();
        if prefix && k + 1 == ends.len() {
            m.push('*');
        }
        m.extend(weight);
        if !m.is_empty() {
            out.insert_str(end, &format!(":{m}"));
        }
    }
    out
}

/// The tsquery text of `pieces`, given each term's phrase query text in
/// order: adjacent operands are ANDed (as in FTS5), `a NOT b` is
/// `a & !b`, and a term with no lexeme is left out.
fn render(pieces: &[Piece], phrases: &[String]) -> String {
    let mut out = String::new();
    let mut operand_before = false;
    let mut phrases = phrases.iter();
    for piece in pieces {
        match piece {
            Piece::Term { prefix, weight, .. } => {
                let phrase = phrases.next().map(String::as_str).unwrap_or("");
                if phrase.is_empty() {
                    continue;
                }
                if operand_before {
                    out.push_str(" & ");
                }
                out.push_str(&format!("({})", mark(phrase, *prefix, *weight)));
                operand_before = true;
            }
            Piece::Open => {
                if operand_before {
                    out.push_str(" & ");
                }
                out.push('(');
                operand_before = false;
            }
            Piece::Close => {
                out.push(')');
                operand_before = true;
            }
            Piece::And | Piece::Or | Piece::Not => {
                out.push_str(match piece {
                    Piece::And => " & ",
                    Piece::Or => " | ",
                    _ => " & !",
                });
                operand_before = false;
            }
        }
    }
    out
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
         SELECT t.*, ts_headline('{CONFIG}', concat_ws(' ', e.title, e.body), q.q,
                    'StartSel=[, StopSel=], MaxWords={SNIPPET_WORDS}, MinWords=5, MaxFragments=1, FragmentDelimiter=…')
         FROM top t JOIN entry e ON e.id = t.entry_id, q
         ORDER BY t.score DESC, t.story_id",
        CONFIG = ts_config!(),
        STORY = "s.story_id, s.title, s.url, s.published_at, s.first_seen_at, s.last_seen_at, s.source_count, s.origin_agency"
    )
}

impl PgStore {
    /// The tsquery text for `query`, its terms split by PostgreSQL's own
    /// parser as the indexer split the text; `None` when nothing is left
    /// to search for.
    async fn tsquery(&self, query: &SearchQuery) -> Result<Option<String>, PgError> {
        let pieces = match query {
            SearchQuery::Words(q) => word_pieces(q),
            SearchQuery::Fts(q) => fts_pieces(q).map_err(|what| PgError::BadQuery {
                query: q.clone(),
                message: format!("{what} {FTS_HINT}"),
            })?,
        };
        let terms: Vec<&str> = pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Term { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        if terms.is_empty() {
            return Ok(None);
        }
        let client = self.client().await?;
        let phrases: Vec<String> = client
            .query_one(
                concat!(
                    "SELECT array_agg(phraseto_tsquery('",
                    ts_config!(),
                    "', t)::text ORDER BY i) FROM unnest($1::text[]) WITH ORDINALITY u(t, i)"
                ),
                &[&terms],
            )
            .await?
            .try_get(0)?;
        let text = render(&pieces, &phrases);
        Ok((!text.trim().is_empty()).then_some(text))
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
                    message: format!(
                        "an operator or a bracket is missing its other side {FTS_HINT}"
                    ),
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

    fn t(text: &str, prefix: bool, weight: Option<char>) -> Piece {
        Piece::Term {
            text: text.to_string(),
            prefix,
            weight,
        }
    }

    #[test]
    fn plain_words_keep_phrases_and_prefixes_and_drop_punctuation() {
        let p = word_pieces("US-Russia \"foreign ministry\" emb* - ; AND \"unclosed");
        assert_eq!(
            p,
            [
                t("US-Russia", false, None),
                t("foreign ministry", false, None),
                t("emb", true, None),
                t("AND", false, None),
                t("unclosed", false, None),
            ]
        );
    }

    #[test]
    fn fts_syntax_becomes_pieces_or_a_reason() {
        use Piece::*;
        assert_eq!(
            fts_pieces("title:embassy AND (talks OR body:\"trade war\"*) NOT emb*"),
            Ok(vec![
                t("embassy", false, Some('A')),
                And,
                Open,
                t("talks", false, None),
                Or,
                t("trade war", true, Some('B')),
                Close,
                Not,
                t("emb", true, None),
            ])
        );
        assert_eq!(
            fts_pieces("\"say \"\"hi\"\"\" x"),
            Ok(vec![t("say \"hi\"", false, None), t("x", false, None)])
        );
        for (bad, says) in [
            ("a NEAR(b c)", "NEAR"),
            ("*", "`*` must end"),
            ("x:y", "`x:` is not a column"),
            ("\"open", "not closed"),
            ("title: y", "go before"),
        ] {
            let e = fts_pieces(bad).expect_err(bad);
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn terms_render_with_their_modifiers_and_implicit_and() {
        use Piece::*;
        let pieces = [
            t("a", false, Some('A')),
            t("b c", true, None),
            Not,
            Open,
            t("d", false, None),
            Or,
            t("-", false, None),
            t("e", false, Some('B')),
            Close,
        ];
        let phrases = [
            "'a'".to_string(),
            "'b' <-> 'it''s'".to_string(),
            "'d'".to_string(),
            String::new(),
            "'e'".to_string(),
        ];
        assert_eq!(
            render(&pieces, &phrases),
            "('a':A) & ('b' <-> 'it''s':*) & !(('d') | ('e':B))"
        );
    }
}
