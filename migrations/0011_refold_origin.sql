-- Stable story ids across `feedfold refold` (issue 22). A refold detaches
-- every entry in its range and folds it again, which rebuilt every story
-- under a new id. This private table remembers, for each entry of the
-- range, the story it belonged to before and whether it was that story's
-- canonical copy; when the refold ends, each new grouping takes back the id
-- of the story whose canonical copy (else most of whose copies) it holds,
-- and the table is emptied. Rows kept from an interrupted refold are kept
-- by the next one, so the ids from before the first attempt come back.
CREATE TABLE refold_origin (
    entry_id  INTEGER PRIMARY KEY REFERENCES entry(id) ON DELETE CASCADE,
    story_id  INTEGER NOT NULL,       -- the story before the refold
    canonical INTEGER NOT NULL        -- 1 if the entry was its canonical copy
);
