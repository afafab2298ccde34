-- feedfold schema 0015: the band index in two levels.
--
-- Band keys are random, so writing the writer's buffer (~200,000 keys) into
-- `entry_band` touched most leaf pages of the whole index: each flush cost
-- in proportion to everything stored before it, and the cold pass grew
-- quadratically (at a million entries a flush took 6 s, a third of the
-- pass; BENCHMARKS.md, "Scale"). Now a flush writes into the small table
-- `entry_band_recent`, whose pages it touches instead, and the writer moves
-- that table into `entry_band` in one sorted pass when it has grown to an
-- eighth of it: each key is rewritten a bounded number of times, so the
-- cost of indexing grows with the number of keys, not its square. Lookups
-- read both tables. Same columns and key in both; private, like entry_band.
-- The counts (kept by the statements that change the tables, in their
-- transactions) tell the writer when to merge; they decide nothing else.
CREATE TABLE entry_band_recent (
    band_key  INTEGER NOT NULL,
    window_at INTEGER NOT NULL,
    entry_id  INTEGER NOT NULL,
    PRIMARY KEY (band_key, window_at, entry_id)
) WITHOUT ROWID;
ALTER TABLE band_index_state ADD COLUMN settled_keys INTEGER NOT NULL DEFAULT 0;
ALTER TABLE band_index_state ADD COLUMN recent_keys INTEGER NOT NULL DEFAULT 0;
UPDATE band_index_state SET settled_keys = (SELECT COUNT(*) FROM entry_band);
