-- feedfold PostgreSQL schema 0004: find the entries 0003 has not converted
-- yet through an index, not a scan of `entry`.
--
-- Every worker start looks for entries still holding text in the old
-- columns (`summary`, `content`, `norm_text`; see 0003) and converts them.
-- Without an index that look was a sequential scan of the whole `entry`
-- table on every start, long after the conversion had finished. This
-- partial index holds only the unconverted entries, so it is empty once
-- they are converted. New entries never enter it: they are stored with the
-- old columns NULL.
CREATE INDEX entry_unconverted ON entry (id)
WHERE summary IS NOT NULL OR content IS NOT NULL OR norm_text IS NOT NULL;
