-- feedfold schema 0005: full-text search, retention and more public views.
-- (0002–0004 belong to other work; the runner takes the version from the
-- file name, so the gap is fine.)
--
-- Public additions, documented in docs/SCHEMA.md:
--   entry_search  FTS5 index of every entry's headline and plain text
--   feeds         one row per feed with its status
--   fetches       the fetch log
--   story_sources gains a feed_id column (columns are only ever added)
-- Private additions: the tombstone table (identities retention pruned, so a
-- feed that still lists an item does not bring it back) and the indexes that
-- retention and the example queries need.

-- Full-text index, rowid = entry.id. Written by the store in the same
-- transaction as the entry (src/store/search.rs); entries stored before this
-- migration are indexed by the migration runner right after this file, in
-- the same transaction. The text is the plain text of the HTML (html2text),
-- so markup never matches and snippets read as prose.
-- Tokenizer: unicode61 with diacritics removed (so "Erdogan" finds
-- "Erdoğan"), under the Porter stemmer (so "talks" finds "talk"); see
-- docs/SCHEMA.md for why not trigram.
CREATE VIRTUAL TABLE entry_search USING fts5(
    title,
    body,
    tokenize = 'porter unicode61 remove_diacritics 2'
);

-- Entries pruned by retention, by the identity their feed gives them.
CREATE TABLE tombstone (
    feed_id        INTEGER NOT NULL REFERENCES feed(id) ON DELETE CASCADE,
    identity       TEXT NOT NULL,
    pruned_at      TEXT NOT NULL,
    last_listed_at TEXT NOT NULL,       -- last time the feed still listed the item
    PRIMARY KEY (feed_id, identity)
) WITHOUT ROWID;
CREATE INDEX tombstone_listed ON tombstone(last_listed_at);

-- Retention picks stories by their last activity, entries by their age
-- within a feed, fetch log rows by their time; `stories --since` also
-- matches on first sight.
CREATE INDEX story_last_seen ON story(last_seen_at);
CREATE INDEX story_first_seen ON story(first_seen_at);
CREATE INDEX entry_feed_time ON entry(feed_id, COALESCE(published_at, first_seen_at));
CREATE INDEX fetch_log_time ON fetch_log(fetched_at);
-- Deleting an entry checks that no story still names it as canonical copy:
-- without this index that check reads the whole story table.
CREATE INDEX story_canonical ON story(canonical_entry_id);

CREATE VIEW feeds AS
SELECT f.id              AS feed_id,
       f.url             AS url,
       COALESCE(f.title, f.feed_title) AS title,
       f.feed_title      AS feed_title,
       f.site_url        AS site_url,
       f.active          AS active,
       CASE WHEN f.active = 0 THEN 'inactive'
            WHEN f.disabled_at IS NOT NULL THEN 'disabled'
            WHEN f.last_fetch_at IS NULL THEN 'new'
            WHEN f.error_count > 0 THEN 'failing'
            ELSE 'ok' END AS status,
       f.last_fetch_at   AS last_fetch_at,
       f.last_success_at AS last_success_at,
       f.last_status     AS last_status,
       f.last_error      AS last_error,
       f.error_count     AS error_count,
       f.next_due_at     AS next_due_at,
       f.interval_secs   AS interval_secs,
       f.added_at        AS added_at,
       (SELECT COUNT(*) FROM entry e WHERE e.feed_id = f.id) AS entries
FROM feed f;

CREATE VIEW fetches AS
SELECT l.id          AS fetch_id,
       l.feed_id     AS feed_id,
       f.url         AS feed_url,
       COALESCE(f.title, f.feed_title) AS feed_title,
       l.fetched_at  AS fetched_at,
       l.outcome     AS outcome,
       l.status      AS status,
       l.bytes       AS bytes,
       l.duration_ms AS duration_ms,
       l.new_entries AS new_entries,
       l.error       AS error
FROM fetch_log l
JOIN feed f ON f.id = l.feed_id;

-- Same columns as 0001, plus feed_id at the end.
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
       e.feed_id         AS feed_id
FROM story_entry se
JOIN entry e ON e.id = se.entry_id
JOIN feed f ON f.id = e.feed_id;
