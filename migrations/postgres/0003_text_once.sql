-- Each text once, as in SQLite's schema 13 (and, at the end, the band
-- index's trim index and story ids across a refold): `entry.body` (the plain text)
-- stays the one full copy; the feed's HTML and dedup's normalised text are
-- kept as zstd frames against it (src/store/text.rs), a few percent of
-- their size. Until now PostgreSQL stored four full texts per entry
-- (content, summary, body, norm_text), each TOAST-compressed on insert.
--
-- The old columns stay for rows written before this migration: a worker
-- converts them in batches when it opens the database (src/store/pg/text.rs)
-- and empties them, and readers decode either form meanwhile.
ALTER TABLE entry
    ADD COLUMN content_z bytea,
    ADD COLUMN summary_z bytea,
    ADD COLUMN norm_z    bytea;

-- The frames are compressed already: never try again.
ALTER TABLE entry
    ALTER COLUMN content_z SET STORAGE EXTERNAL,
    ALTER COLUMN summary_z SET STORAGE EXTERNAL,
    ALTER COLUMN norm_z    SET STORAGE EXTERNAL;

-- The plain text is what TOAST still compresses: lz4 (PostgreSQL 14+, when
-- the server was built with it) costs a fraction of pglz's CPU per insert.
DO $$
BEGIN
    IF current_setting('server_version_num')::int >= 140000 THEN
        BEGIN
            EXECUTE 'ALTER TABLE entry ALTER COLUMN body SET COMPRESSION lz4';
        EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
            RAISE NOTICE 'lz4 is not available; body stays compressed with pglz';
        END;
    END IF;
END
$$;

-- The band lookups must scan the primary key (one key, its window, in
-- order, stop at the limit). With an index on window_at beside it, a plan
-- costed on statistics taken while the table was nearly empty read the
-- whole window index filtered by key instead: most of a cold pass's
-- database CPU (BENCHMARKS.md, "PostgreSQL"). The leader's trim keeps an
-- index of its own, on the hour, which no lookup can use.
DROP INDEX band_key_window;
CREATE INDEX band_key_hour ON band_key ((window_at / 3600));

-- Story ids across a refold, as on SQLite (docs/SCHEMA.md, "Story ids and
-- refold"): where each refolded entry was before, kept until the refold's
-- last transaction gives the rebuilt stories their ids back (an
-- interrupted refold's rows stay for the next). Renumbering a story moves
-- its lineage with it, so the reference is checked at commit.
CREATE TABLE refold_origin (
    entry_id  bigint PRIMARY KEY REFERENCES entry(id) ON DELETE CASCADE,
    story_id  bigint NOT NULL,
    canonical boolean NOT NULL
);
ALTER TABLE story_entry ALTER CONSTRAINT story_entry_story_id_fkey DEFERRABLE INITIALLY IMMEDIATE;
