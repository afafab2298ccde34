-- The full-text index no longer merges its segments inside every write
-- transaction ('automerge'): that merge work landed on whichever poll
-- happened to commit, and was the slowest 1 % of single-item writes (8 ms
-- with 10k stories, 17 ms with 100k; 4 ms without it). The writer now merges
-- in small steps while it has nothing else to do, and FTS5's 'crisismerge'
-- still bounds the number of segments per level if it never idles.
INSERT INTO entry_search (entry_search, rank) VALUES ('automerge', 0);
