-- entry_exact_window (fingerprint, window_at) serves every lookup by
-- fingerprint; entry_fingerprint (fingerprint) only cost one more random
-- B-tree insert per new entry.
DROP INDEX entry_fingerprint;
