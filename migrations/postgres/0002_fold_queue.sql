-- Folding across workers: pollers analyse entries (the CPU cost) and queue
-- them; the one elected folder decides their stories in queue order, so two
-- copies ingested by two workers in the same second still make one story.

-- The normalised text verification compares (SQLite keeps it zstd-framed in
-- norm_z; here TOAST compresses it).
ALTER TABLE entry ADD COLUMN norm_text text;

-- Entries stored by a poller, not yet folded. `bands` are the entry's LSH
-- band keys, kept until it is folded and its keys join band_key.
CREATE TABLE fold_queue (
    entry_id  bigint PRIMARY KEY REFERENCES entry(id) ON DELETE CASCADE,
    queued_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    seq       bigint GENERATED ALWAYS AS IDENTITY UNIQUE,   -- folding order
    credits   text[] NOT NULL DEFAULT '{}',
    bands     bigint[] NOT NULL DEFAULT '{}'
);

-- The band index: which folded entries carry an LSH band key, by the time
-- on the candidate window; trimmed by the leader past the window.
CREATE TABLE band_key (
    key       bigint NOT NULL,
    window_at bigint NOT NULL,
    entry_id  bigint NOT NULL REFERENCES entry(id) ON DELETE CASCADE,
    PRIMARY KEY (key, window_at, entry_id)
);
CREATE INDEX band_key_entry ON band_key (entry_id);
CREATE INDEX band_key_window ON band_key (window_at);
