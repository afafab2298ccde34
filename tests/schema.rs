//! The database as a public interface: every example query in
//! docs/SCHEMA.md and every canned query in docs/datasette/metadata.json
//! runs against a database filled by a real poll and returns rows; those
//! queries and the CLI listings use indexes (EXPLAIN QUERY PLAN); every
//! column of every public view is documented.

mod common;

use std::collections::BTreeSet;

use common::newsroom::Newsroom;
use rusqlite::Connection;

fn manifest(rel: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The ```sql blocks of a Markdown text.
fn sql_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sql") => current = Some(String::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), l) => {
                block.push_str(l);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "unclosed ```sql block");
    blocks
}

/// Plan steps that read a whole table without an index. `feed` (one row per
/// configured feed) may be scanned: listing every feed is what some queries
/// are for. CTEs and subqueries (materialised or co-routines) are scanned by
/// nature; what they read is checked on their own plan lines.
fn full_scans(conn: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap_or_else(|e| panic!("plan of {sql}: {e}"));
    // Parameters stay unbound (NULL): the plan does not depend on them.
    let mut rows = stmt.raw_query();
    let mut details: Vec<String> = Vec::new();
    while let Some(row) = rows.next().expect("plan row") {
        details.push(row.get(3).expect("detail"));
    }
    let mut derived: BTreeSet<String> = details
        .iter()
        .filter_map(|d| {
            d.strip_prefix("CO-ROUTINE ")
                .or_else(|| d.strip_prefix("MATERIALIZE "))
                .map(|n| n.trim().to_string())
        })
        .collect();
    // The plan names a CTE by the alias the query gives it (`FROM hits h`).
    let words: Vec<String> = sql
        .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    for w in words.windows(3) {
        if matches!(w[0].as_str(), "from" | "join") && derived.contains(&w[1]) {
            derived.insert(w[2].clone());
        }
    }
    details
        .iter()
        .filter(|d| d.starts_with("SCAN "))
        .filter(|d| !d.contains(" USING ") && !d.contains("VIRTUAL TABLE"))
        .filter(|d| {
            let name = d["SCAN ".len()..].split(' ').next().unwrap_or_default();
            let small = matches!(name, "f" | "feed");
            !(small || derived.contains(name) || name.starts_with('('))
        })
        .cloned()
        .collect()
}

fn plan(conn: &Connection, sql: &str) -> String {
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .expect("plan");
    let mut rows = stmt.raw_query();
    let mut lines = Vec::new();
    while let Some(row) = rows.next().expect("plan row") {
        lines.push(row.get::<_, String>(3).expect("detail"));
    }
    lines.join("\n")
}

fn rows(conn: &Connection, sql: &str) -> usize {
    let mut stmt = conn
        .prepare(sql)
        .unwrap_or_else(|e| panic!("prepare {sql}: {e}"));
    let n = stmt.column_count();
    let mut rows = stmt.query([]).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut count = 0;
    while let Some(row) = rows.next().unwrap_or_else(|e| panic!("{sql}: {e}")) {
        for i in 0..n {
            row.get_ref(i).expect("column");
        }
        count += 1;
    }
    count
}

fn populated() -> Newsroom {
    let room = Newsroom::start(60, "");
    let out = room.poll();
    assert!(out.contains("5 ok, 2 failed"), "{out}");
    room
}

#[test]
fn every_example_query_in_the_schema_doc_returns_rows_and_uses_an_index() {
    let room = populated();
    let conn = room.conn();
    let blocks = sql_blocks(&manifest("docs/SCHEMA.md"));
    assert!(blocks.len() >= 12, "only {} example queries", blocks.len());
    for sql in &blocks {
        assert!(
            rows(&conn, sql) > 0,
            "example query returned no rows:\n{sql}"
        );
        let scans = full_scans(&conn, sql);
        assert!(scans.is_empty(), "full scan {scans:?} in:\n{sql}");
    }
}

#[test]
fn canned_datasette_queries_answer_and_use_an_index() {
    let room = populated();
    let conn = room.conn();
    let meta: serde_json::Value =
        serde_json::from_str(&manifest("docs/datasette/metadata.json")).expect("metadata JSON");
    let queries = meta["databases"]["feedfold"]["queries"]
        .as_object()
        .expect("canned queries");
    assert!(queries.len() >= 5);
    for (name, q) in queries {
        let sql = q["sql"].as_str().expect("sql");
        let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{name}: {e}"));
        for i in 1..=stmt.parameter_count() {
            let value = match stmt.parameter_name(i) {
                Some(":story_id") => "1",
                Some(":q") => "embassy talks",
                other => panic!("{name}: no test value for parameter {other:?}"),
            };
            stmt.raw_bind_parameter(i, value).expect("bind");
        }
        let mut found = 0;
        let mut rows = stmt.raw_query();
        while rows.next().expect("row").is_some() {
            found += 1;
        }
        assert!(found > 0, "canned query {name} returned no rows");
        let scans = full_scans(&conn, sql);
        assert!(scans.is_empty(), "{name}: full scan {scans:?}");
    }
}

#[test]
fn the_cli_listings_use_an_index() {
    use feedfold::store::{query, search};
    let room = populated();
    let conn = room.conn();
    for sql in [
        query::stories_sql(false),
        query::stories_sql(true),
        query::stories_sql_tagged(true, false, 2),
        query::stories_sql_tagged(true, true, 2),
        query::stories_sql_tagged(false, true, 0),
        query::LINEAGE_SQL.to_string(),
        query::FEEDS_SQL.to_string(),
        search::search_sql(),
    ] {
        let scans = full_scans(&conn, &sql);
        assert!(scans.is_empty(), "full scan {scans:?} in:\n{sql}");
    }
    // The plan of the newest-stories listing walks the index and stops.
    let plan = plan(&conn, &query::stories_sql(false));
    assert!(plan.contains("story_published"), "{plan}");
    assert!(!plan.contains("TEMP B-TREE"), "{plan}");
}

#[test]
fn every_public_column_is_documented_in_the_schema_doc_and_for_datasette() {
    let room = populated();
    let conn = room.conn();
    let doc = manifest("docs/SCHEMA.md");
    let meta: serde_json::Value =
        serde_json::from_str(&manifest("docs/datasette/metadata.json")).expect("metadata JSON");
    for view in ["stories", "story_sources", "feeds", "fetches"] {
        let section_start = doc
            .find(&format!("## `{view}`"))
            .unwrap_or_else(|| panic!("SCHEMA.md has no section for {view}"));
        let section = &doc[section_start..];
        let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
        let columns: Vec<String> = conn
            .prepare(&format!("SELECT name FROM pragma_table_info('{view}')"))
            .expect("columns")
            .query_map([], |r| r.get(0))
            .expect("columns")
            .map(|r| r.expect("name"))
            .collect();
        assert!(!columns.is_empty(), "{view} has no columns");
        for c in &columns {
            assert!(
                section.contains(&format!("| `{c}` |")),
                "SCHEMA.md does not document {view}.{c}"
            );
            assert!(
                meta["databases"]["feedfold"]["tables"][view]["columns"][c].is_string(),
                "metadata.json does not describe {view}.{c}"
            );
        }
    }
}

#[test]
fn lineage_in_the_populated_database_keeps_its_invariants() {
    let room = populated();
    let conn = room.conn();
    let check = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).expect(sql) };
    // One canonical copy per story, every story visible in the view.
    assert_eq!(
        check("SELECT COUNT(*) FROM stories"),
        check("SELECT COUNT(*) FROM story_sources WHERE relation = 'canonical'")
    );
    assert_eq!(
        check("SELECT COUNT(*) FROM stories"),
        check("SELECT COUNT(DISTINCT story_id) FROM story_sources")
    );
    // Copies folded: the 60 wire stories were carried by several outlets.
    assert!(check("SELECT MAX(source_count) FROM stories") >= 3);
    // One in five AFP stories was published by an outlet before the
    // agency's own feed: the outlet's copy is canonical.
    assert!(
        check(
            "SELECT COUNT(*) FROM story_sources o JOIN story_sources a
               ON a.story_id = o.story_id AND a.feed_title = 'AFP World' AND a.relation <> 'canonical'
             WHERE o.relation = 'canonical'"
        ) > 0
    );
    // Every entry is in the search index.
    assert_eq!(
        check("SELECT COUNT(*) FROM entry_search"),
        check("SELECT COUNT(*) FROM story_sources")
    );
}
