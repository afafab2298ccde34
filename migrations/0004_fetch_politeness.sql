-- feedfold schema: polite and resilient fetching (see docs/FETCHING.md).
-- Private tables and columns; the public views are unchanged.

-- Where the feed is fetched now, when that is not `url` (the URL the config
-- lists): after a confirmed permanent redirect, or a feed found by
-- autodiscovery on the HTML page the config names. NULL = fetch `url`.
ALTER TABLE feed ADD COLUMN fetch_url TEXT;
-- The refresh interval in force and why (`feedfold feeds` shows both).
-- NULL = not computed yet: `[poll] interval` applies.
ALTER TABLE feed ADD COLUMN poll_interval_secs INTEGER;
ALTER TABLE feed ADD COLUMN interval_reason TEXT;
-- The server's Retry-After (429/503) for this feed, as an absolute time.
ALTER TABLE feed ADD COLUMN retry_after_until TEXT;
-- A permanent redirect (301/308) seen on `redirect_count` consecutive
-- successful fetches; the fetch URL moves to it at 3.
ALTER TABLE feed ADD COLUMN redirect_url TEXT;
ALTER TABLE feed ADD COLUMN redirect_count INTEGER NOT NULL DEFAULT 0;
-- Set by 410 Gone: the feed is no longer polled. Cleared when the feed is
-- removed from the config and listed again.
ALTER TABLE feed ADD COLUMN disabled_at TEXT;
ALTER TABLE feed ADD COLUMN disabled_reason TEXT;

-- Every change of a feed's fetch URL, oldest first.
CREATE TABLE feed_url_history (
    id         INTEGER PRIMARY KEY,
    feed_id    INTEGER NOT NULL REFERENCES feed(id) ON DELETE CASCADE,
    old_url    TEXT NOT NULL,
    new_url    TEXT NOT NULL,
    reason     TEXT NOT NULL CHECK (reason IN ('moved', 'discovered')),
    note       TEXT,               -- e.g. the feeds autodiscovery found
    changed_at TEXT NOT NULL
);
CREATE INDEX feed_url_history_feed ON feed_url_history(feed_id, id);

-- Per-host throttling: several 429/503 answers in a row from one host slow
-- every feed of that host, separately from each feed's own Retry-After.
CREATE TABLE host (
    name            TEXT PRIMARY KEY,  -- lower-case host name, without port
    throttle_streak INTEGER NOT NULL DEFAULT 0,  -- consecutive 429/503 answers
    throttled_until TEXT,              -- no fetch to this host before then
    updated_at      TEXT NOT NULL
);
