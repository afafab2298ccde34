-- feedfold schema 0014: find the entries 0013 has not converted yet
-- through an index, not a scan of `entry`.
--
-- Every writer start looks for entries still holding text in the old
-- columns (`summary`, `content`, `norm_text`; see 0013) and converts them.
-- Without an index that look was a scan of the whole `entry` table, text
-- included: 0.6 s at 100,000 entries, and most of a warm pass at a million,
-- on every start, long after the conversion had finished. This partial
-- index holds only the unconverted entries, so once they are converted it
-- is empty and the look costs one page read. New entries never enter it:
-- they are stored in the 0013 form, with the old columns NULL. Private to
-- feedfold, like the old columns.
CREATE INDEX entry_unconverted ON entry (id)
WHERE summary IS NOT NULL OR content IS NOT NULL OR norm_text IS NOT NULL;
