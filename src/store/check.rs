//! Consistency checks of the database: what must hold after any crash, at
//! any moment between transactions. Used by the crash, corpus and fuzz
//! tests; cheap enough to run on a daemon's database by hand.

use super::{Store, StoreError};

/// Each check: a description and a query counting the rows that break it.
const CHECKS: &[(&str, &str)] = &[
    (
        "entries that belong to no story",
        "SELECT COUNT(*) FROM entry e WHERE NOT EXISTS (SELECT 1 FROM story_entry se WHERE se.entry_id = e.id)",
    ),
    (
        "stories without a canonical copy",
        "SELECT COUNT(*) FROM story s WHERE NOT EXISTS
            (SELECT 1 FROM story_entry se WHERE se.story_id = s.id AND se.relation = 'canonical')",
    ),
    (
        "stories whose canonical_entry_id is not their canonical copy",
        "SELECT COUNT(*) FROM story s WHERE NOT EXISTS
            (SELECT 1 FROM story_entry se WHERE se.story_id = s.id AND se.entry_id = s.canonical_entry_id
             AND se.relation = 'canonical')",
    ),
    (
        "stories with no entries",
        "SELECT COUNT(*) FROM story s WHERE NOT EXISTS (SELECT 1 FROM story_entry se WHERE se.story_id = s.id)",
    ),
    (
        "entries stored twice in one feed",
        "SELECT COUNT(*) FROM (SELECT 1 FROM entry GROUP BY feed_id, identity HAVING COUNT(*) > 1)",
    ),
];

impl Store {
    /// Runs `PRAGMA integrity_check`, `PRAGMA foreign_key_check` and the
    /// lineage invariants; returns one line per problem (empty: consistent).
    pub fn check_consistency(&self) -> Result<Vec<String>, StoreError> {
        let mut problems = Vec::new();
        let mut stmt = self
            .conn
            .prepare("PRAGMA integrity_check")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        for row in rows {
            let row = row.map_err(|e| self.err(e))?;
            if row != "ok" {
                problems.push(format!("integrity_check: {row}"));
            }
        }
        let fk: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .map_err(|e| self.err(e))?;
        if fk > 0 {
            problems.push(format!("{fk} rows break a foreign key"));
        }
        for (what, sql) in CHECKS {
            let n: i64 = self
                .conn
                .query_row(sql, [], |r| r.get(0))
                .map_err(|e| self.err(e))?;
            if n > 0 {
                problems.push(format!("{n} {what}"));
            }
        }
        Ok(problems)
    }
}
