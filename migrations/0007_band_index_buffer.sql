-- The writer now keeps the band keys of its newest entries in memory and
-- writes them to entry_band in sorted batches (store::bands): random keys
-- written a transaction at a time dirtied most of the index at every commit.
-- Every entry with an id up to flushed_through has all its keys in
-- entry_band; keys of newer entries are rebuilt from their signatures when
-- the database is next opened for writing. One row.
CREATE TABLE band_index_state (flushed_through INTEGER NOT NULL);
INSERT INTO band_index_state (flushed_through) SELECT COALESCE(MAX(id), 0) FROM entry;
