-- feedfold schema 0013: each text stored once; search indexed off the
-- write path.
--
-- Until now an entry's text was stored three times: the feed's HTML
-- (`summary`, `content`), dedup's normalised text (`norm_text`) and the
-- full-text index's own copy of the plain text. Now:
--   entry.body       the plain text (content, else summary), the one copy
--                    people read (`story_sources.text`) and search covers;
--   entry.content_z  the feed's HTML, zstd-compressed with `body` as the
--   entry.summary_z  dictionary (src/store/text.rs): little more than markup;
--   entry.norm_z     dedup's normalised text, the same way.
-- The old columns stay (SQLite cannot drop a column without rewriting the
-- table) and are emptied: the store converts older rows in batches when it
-- opens the database (src/store/text.rs, `convert_batch`), one transaction
-- per batch, so an interrupted conversion resumes where it stopped.
--
-- `entry_search` keeps its name, columns and tokenizer, and becomes an
-- external-content FTS5 table over `entry` (title, body): the index without
-- a copy of the text. Rows are no longer indexed in the transaction that
-- stores the entry: that transaction queues the entry in `search_queue`,
-- and the indexer (the writer, between batches) indexes the queue in large
-- batches and empties it in the same transaction. An entry is in the index
-- exactly when it is not in the queue; see docs/SCHEMA.md.

ALTER TABLE entry ADD COLUMN body TEXT;
ALTER TABLE entry ADD COLUMN content_z BLOB;
ALTER TABLE entry ADD COLUMN summary_z BLOB;
ALTER TABLE entry ADD COLUMN norm_z BLOB;

DROP VIEW story_sources;
DROP TABLE entry_search;
CREATE VIRTUAL TABLE entry_search USING fts5(
    title,
    body,
    content = 'entry',
    content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
-- As 0006: segments are merged by the writer when idle, not in every write.
INSERT INTO entry_search (entry_search, rank) VALUES ('automerge', 0);

-- Entries not yet in the index (new, or edited since they were indexed),
-- with when they were queued (Unix milliseconds), for `search --json`'s
-- index_lag and the lag the writer reports.
CREATE TABLE search_queue (
    entry_id  INTEGER PRIMARY KEY,
    queued_at INTEGER NOT NULL
);
-- Every existing entry is indexed again once its text is converted.
INSERT INTO search_queue (entry_id, queued_at)
SELECT id, CAST(unixepoch('subsec') * 1000 AS INTEGER) FROM entry;

-- Same columns as 0012, in the same order; `text` now reads `entry.body`.
CREATE VIEW story_sources AS
SELECT se.story_id       AS story_id,
       e.id              AS entry_id,
       f.url             AS feed_url,
       COALESCE(f.title, f.feed_title) AS feed_title,
       e.url             AS entry_url,
       e.title           AS entry_title,
       e.published_at    AS published_at,
       e.first_seen_at   AS fetched_at,
       se.relation       AS relation,
       se.similarity     AS similarity,
       e.credited_agency AS credited_agency,
       e.feed_id         AS feed_id,
       e.body            AS text
FROM story_entry se
JOIN entry e ON e.id = se.entry_id
JOIN feed f ON f.id = e.feed_id;
