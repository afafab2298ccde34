-- feedfold schema 0011: story_sources gains `text`, each copy's plain text,
-- so that SQL users (sqlite3, Datasette) can read a story, not only its
-- headline. (0010 belongs to other work; the runner takes the version from
-- the file name, so a gap is fine.)
--
-- The text is the one the full-text index already holds for every entry
-- (entry_search.body: the item's content, else its summary, HTML turned
-- into text with one paragraph per line, in its own case). Reading it from
-- there stores nothing twice and needs no backfill: every entry has its
-- index row since 0005, written in the entry's own transaction. A lookup by
-- rowid is one B-tree probe, so the view stays cheap for one story's
-- lineage; a full scan of story_sources that asks for `text` reads every
-- body, which is what it asked for.

-- Same columns as 0005, in the same order, plus `text` at the end.
DROP VIEW story_sources;
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
       (SELECT s.body FROM entry_search s WHERE s.rowid = e.id) AS text
FROM story_entry se
JOIN entry e ON e.id = se.entry_id
JOIN feed f ON f.id = e.feed_id;
