-- The writer's Bloom filter over the keys of entry_band (store::keyfilter),
-- saved so that the next writer need not read the whole band index to build
-- it again. Private, like entry_band. One row or none; the row is valid only
-- while covers_through equals band_index_state.flushed_through, and anything
-- that writes keys to entry_band outside a buffer flush deletes it.
CREATE TABLE band_filter (
    covers_through INTEGER NOT NULL,
    format         TEXT NOT NULL,      -- bit layout (the crate that wrote it)
    hashes         INTEGER NOT NULL,
    keys           INTEGER NOT NULL,   -- keys inserted
    capacity       INTEGER NOT NULL,   -- keys it was sized for
    bits           BLOB NOT NULL       -- 64-bit words, little-endian
);
