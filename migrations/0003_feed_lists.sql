-- feedfold schema: feed lists (issue 5).
-- Tags come from `tags = [...]` in [[feed]] tables and from OPML folders and
-- categories. The config files are the source of truth; feedfold rewrites a
-- feed's tags whenever it syncs the list (start-up and every reload).
-- Written with IF NOT EXISTS throughout so that applying it again is harmless.

CREATE TABLE IF NOT EXISTS feed_tag (
    feed_id INTEGER NOT NULL REFERENCES feed(id) ON DELETE CASCADE,
    tag     TEXT NOT NULL COLLATE NOCASE,   -- 'Pakistan' and 'pakistan' are one tag
    PRIMARY KEY (feed_id, tag)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS feed_tag_by_tag ON feed_tag(tag, feed_id);

-- Public: one row per (feed, tag), inactive feeds included.
CREATE VIEW IF NOT EXISTS feed_tags AS
SELECT f.url                           AS feed_url,
       COALESCE(f.title, f.feed_title) AS feed_title,
       t.tag                           AS tag,
       f.active                        AS active
FROM feed_tag t
JOIN feed f ON f.id = t.feed_id;
