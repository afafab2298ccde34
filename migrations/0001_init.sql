-- feedfold schema, version 1.
-- Tables are singular and private to feedfold; the plural views at the end
-- (`stories`, `story_sources`) are the public, documented interface.
-- Times are ISO-8601 UTC text, 'YYYY-MM-DDTHH:MM:SSZ', so they sort as text.

CREATE TABLE feed (
    id              INTEGER PRIMARY KEY,
    url             TEXT NOT NULL UNIQUE,
    title           TEXT,               -- title set in the config file
    feed_title      TEXT,               -- title the feed document gives itself
    site_url        TEXT,
    interval_secs   INTEGER,            -- per-feed override from the config, NULL = default
    etag            TEXT,               -- validators exactly as the server sent them
    last_modified   TEXT,
    last_fetch_at   TEXT,
    last_success_at TEXT,
    last_status     INTEGER,            -- HTTP status of the last fetch, NULL if none arrived
    last_error      TEXT,               -- NULL when the last fetch succeeded
    error_count     INTEGER NOT NULL DEFAULT 0,   -- consecutive failures
    next_due_at     TEXT,               -- NULL = due now
    active          INTEGER NOT NULL DEFAULT 1,   -- 0 once removed from the config
    added_at        TEXT NOT NULL
);

CREATE TABLE fetch_log (
    id           INTEGER PRIMARY KEY,
    feed_id      INTEGER NOT NULL REFERENCES feed(id) ON DELETE CASCADE,
    fetched_at   TEXT NOT NULL,
    outcome      TEXT NOT NULL CHECK (outcome IN ('ok', 'not_modified', 'error')),
    status       INTEGER,
    bytes        INTEGER NOT NULL DEFAULT 0,
    duration_ms  INTEGER NOT NULL,
    new_entries  INTEGER NOT NULL DEFAULT 0,
    error        TEXT
);
CREATE INDEX fetch_log_feed ON fetch_log(feed_id, fetched_at);

CREATE TABLE entry (
    id              INTEGER PRIMARY KEY,
    feed_id         INTEGER NOT NULL REFERENCES feed(id) ON DELETE CASCADE,
    identity        TEXT NOT NULL,      -- 'guid:…', 'url:…' or 'hash:…', stable across polls
    guid            TEXT,
    url             TEXT,
    title           TEXT,
    summary         TEXT,
    content         TEXT,
    authors         TEXT,               -- JSON array of names
    published_at    TEXT,
    updated_at      TEXT,
    first_seen_at   TEXT NOT NULL,
    last_seen_at    TEXT NOT NULL,
    content_hash    INTEGER NOT NULL,   -- detects edits of the item
    fingerprint     INTEGER NOT NULL,   -- exact hash of the normalised text
    fingerprint_version INTEGER NOT NULL,
    credited_agency TEXT,
    UNIQUE (feed_id, identity)
);
CREATE INDEX entry_fingerprint ON entry(fingerprint);

CREATE TABLE story (
    id                 INTEGER PRIMARY KEY,
    canonical_entry_id INTEGER NOT NULL REFERENCES entry(id),
    published_at       TEXT NOT NULL,   -- canonical copy's published time, else its first sight
    first_seen_at      TEXT NOT NULL,
    last_seen_at       TEXT NOT NULL,
    source_count       INTEGER NOT NULL DEFAULT 1,  -- distinct feeds carrying a copy
    origin_agency      TEXT
);
CREATE INDEX story_published ON story(published_at);

-- Lineage: every entry belongs to exactly one story (entry_id is the key),
-- and every story has exactly one canonical copy (partial unique index).
CREATE TABLE story_entry (
    entry_id   INTEGER PRIMARY KEY REFERENCES entry(id) ON DELETE CASCADE,
    story_id   INTEGER NOT NULL REFERENCES story(id) ON DELETE CASCADE,
    relation   TEXT NOT NULL CHECK (relation IN ('canonical', 'exact', 'near')),
    similarity REAL NOT NULL CHECK (similarity BETWEEN 0 AND 1),
    linked_at  TEXT NOT NULL
);
CREATE INDEX story_entry_story ON story_entry(story_id);
CREATE UNIQUE INDEX story_one_canonical ON story_entry(story_id) WHERE relation = 'canonical';

CREATE VIEW stories AS
SELECT s.id            AS story_id,
       e.title         AS title,
       e.url           AS url,
       s.published_at  AS published_at,
       s.first_seen_at AS first_seen_at,
       s.last_seen_at  AS last_seen_at,
       s.source_count  AS source_count,
       s.origin_agency AS origin_agency
FROM story s
JOIN entry e ON e.id = s.canonical_entry_id;

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
       e.credited_agency AS credited_agency
FROM story_entry se
JOIN entry e ON e.id = se.entry_id
JOIN feed f ON f.id = e.feed_id;
