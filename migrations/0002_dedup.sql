-- Near-duplicate folding (the dedup engine, ALGORITHM_VERSION 2).
-- Private columns and tables: the public views keep their columns.

-- What the matcher compares a newcomer with, rebuilt into a dedup::Candidate.
ALTER TABLE entry ADD COLUMN norm_title TEXT;      -- normalised headline
ALTER TABLE entry ADD COLUMN norm_text TEXT;       -- normalised body (datelines, credits, boilerplate removed)
ALTER TABLE entry ADD COLUMN signature BLOB;       -- MinHash signature (dedup::Signature::to_bytes)
-- The dedup window's clock: published time, else first sight, in Unix seconds.
ALTER TABLE entry ADD COLUMN window_at INTEGER;
UPDATE entry SET window_at = CAST(strftime('%s', COALESCE(published_at, first_seen_at)) AS INTEGER);
CREATE INDEX entry_exact_window ON entry(fingerprint, window_at);

-- LSH band index: 24 keys per entry. WITHOUT ROWID and no secondary index,
-- so each key costs one B-tree insert; rows older than the window are
-- deleted by `Store::trim_band_index` (daily, with retention), so its size
-- follows the window, not the history. No foreign key: a pruned entry's
-- keys left over would only produce a candidate that no longer exists,
-- which the lookup's join drops.
CREATE TABLE entry_band (
    band_key  INTEGER NOT NULL,
    window_at INTEGER NOT NULL,
    entry_id  INTEGER NOT NULL,
    PRIMARY KEY (band_key, window_at, entry_id)
) WITHOUT ROWID;

-- Per-feed learned boilerplate (dedup::BoilerplateModel as JSON) and the
-- agency whose own feed this is (e.g. 'AFP' for afp.com), for the canonical choice.
ALTER TABLE feed ADD COLUMN boilerplate_model TEXT;
ALTER TABLE feed ADD COLUMN agency TEXT;
