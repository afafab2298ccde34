//! The PostgreSQL store's read side against a real server: the same data
//! in an SQLite store (written through its own ingest and fold) and copied
//! row by row into PostgreSQL gives the same feeds, stories, lineage,
//! search hits, status and prunes; the consistency check catches broken
//! lineage and stale search vectors.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};
use common::pg::{require_pg, PgServer};
use feedfold::config::FeedConfig;
use feedfold::fetch::Validators;
use feedfold::parse::{ParsedEntry, ParsedFeed};
use feedfold::store::pg::{PgError, PgStore, Role, SEARCH_VECTOR_SQL};
use feedfold::store::retention::RetentionPolicy;
use feedfold::store::search::{SearchHit, SearchQuery};
use feedfold::store::{FeedOutcome, FeedUpdate, RiverFilter, Store, StoryId, TimeFilter};

/// A paragraph of its own for each story (`topic` opens it, `n` picks
/// the rest), long enough for the dedup engine to fingerprint, and sharing
/// nothing with the others but the word "officials".
fn body(topic: &str, n: usize) -> String {
    const REST: [&str; 4] = [
        "Officials said negotiators would reconvene after consultations with their capitals, \
         while diplomats cautioned that sanctions relief remained unresolved and that several \
         delegations had asked for written guarantees before any signature.",
        "Officials estimated that forty thousand visitors sampled pumpkins, cider and bread; \
         farmers displayed tractors, children rode ponies, and a brass band played marches \
         until sunset on the village green beside the old mill.",
        "Officials noted that inflation slowed to three percent; economists expect borrowing \
         costs to fall next spring, mortgage lenders welcomed the pause, and currency traders \
         pushed the exchange rate slightly higher during afternoon trading.",
        "Officials warned motorists about avalanches; snowploughs cleared drifts overnight, \
         hikers were rescued by helicopter near the summit hut, and meteorologists forecast \
         further blizzards with gale force winds across the northern valleys.",
    ];
    format!("<p>{topic}. {}</p>", REST[n % REST.len()])
}

fn entry(
    id: &str,
    title: &str,
    (topic, n): (&str, usize),
    published: Option<DateTime<Utc>>,
) -> ParsedEntry {
    ParsedEntry {
        identity: format!("guid:{id}"),
        guid: Some(id.to_string()),
        url: Some(format!("https://news.example/{id}")),
        title: Some(title.to_string()),
        summary: Some(body(topic, n)),
        published,
        ..Default::default()
    }
}

fn feed(url: &str, tags: &[&str]) -> FeedConfig {
    FeedConfig {
        url: url.to_string(),
        title: None,
        interval: None,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        origin: Default::default(),
    }
}

fn update(store: &Store, url: &str, outcome: FeedOutcome, at: DateTime<Utc>) -> FeedUpdate {
    let id = store
        .due_feeds(at, true)
        .expect("feeds")
        .into_iter()
        .find(|f| f.url == url)
        .expect("feed known")
        .id;
    FeedUpdate {
        feed: id,
        fetched_at: at,
        exchange: Default::default(),
        next_due: at + TimeDelta::minutes(30),
        fetch: Default::default(),
        outcome,
    }
}

const WIRE: &str = "https://wire.example/rss";
const PAPER: &str = "https://paper.example/rss";
const LOCAL: &str = "https://local.example/rss";
const OLD: &str = "https://old.example/rss";

/// Four feeds (one dropped from the config, one failing), five entries,
/// two of them one syndicated story, all indexed: written by the SQLite
/// store's own ingest and fold.
fn sqlite_dataset(dir: &Path) -> Store {
    let mut store = Store::open(&dir.join("ff.db")).expect("open sqlite");
    let now = Utc::now();
    let h = |n: i64| Some(now - TimeDelta::hours(n));
    let all = [
        feed(WIRE, &["World"]),
        feed(PAPER, &["Business", "world"]),
        feed(LOCAL, &[]),
        feed(OLD, &[]),
    ];
    store.sync_feeds(&all, now).expect("sync");
    store.sync_feeds(&all[..3], now).expect("sync");
    let parsed = |entries| {
        FeedOutcome::parsed(
            ParsedFeed {
                entries,
                ..Default::default()
            },
            Validators::default(),
        )
    };
    let wire = vec![
        entry(
            "a1",
            "Embassy talks resume in Vienna",
            ("Embassy talks resume in Vienna", 0),
            h(5),
        ),
        entry(
            "a2",
            "Harvest festival draws crowds",
            ("A festival drew crowds", 1),
            h(3),
        ),
    ];
    // The paper's copy of the syndicated story is its newer entry, so a
    // cap of one entry per feed keeps it and promotes it to canonical.
    let paper = vec![
        entry(
            "b1",
            "Embassy talks resume in Vienna, officials say",
            ("Embassy talks resume in Vienna", 0),
            h(4),
        ),
        entry(
            "b2",
            "Central bank holds rates",
            ("The central bank held its rates", 2),
            h(6),
        ),
    ];
    let local = vec![entry(
        "c1",
        "Storm closes mountain pass",
        (
            "A storm closed the mountain pass after the harvest; harvest work stopped",
            3,
        ),
        None,
    )];
    for (url, entries) in [(WIRE, wire), (PAPER, paper), (LOCAL, local)] {
        let u = update(&store, url, parsed(entries), now - TimeDelta::minutes(10));
        store.record(u).expect("record");
    }
    let failed = FeedOutcome::Failed {
        error: "HTTP 500".to_string(),
    };
    let u = update(&store, LOCAL, failed, now - TimeDelta::minutes(1));
    store.record(u).expect("record failure");
    store.index_backlog(None).expect("index");
    // Politeness state the feeds listing shows: a Retry-After in force and
    // one expired, a throttled host, a redirect seen twice, a pinned
    // interval.
    let soon = feedfold::store::format_time(now + TimeDelta::minutes(5));
    let later = feedfold::store::format_time(now + TimeDelta::hours(2));
    let past = feedfold::store::format_time(now - TimeDelta::hours(1));
    rusqlite::Connection::open(store.path())
        .expect("open sqlite file")
        .execute_batch(&format!(
            "UPDATE feed SET retry_after_until = '{soon}' WHERE url = '{PAPER}';
             UPDATE feed SET retry_after_until = '{past}' WHERE url = '{WIRE}';
             UPDATE feed SET redirect_url = 'https://moved.example/rss', redirect_count = 2,
                 interval_secs = 600 WHERE url = '{LOCAL}';
             INSERT INTO host (name, throttle_streak, throttled_until, updated_at)
                 VALUES ('wire.example', 3, '{later}', '{past}'),
                        ('paper.example', 1, '{past}', '{past}');"
        ))
        .expect("politeness state");
    store
}

/// Copies every table the read side reads, row by row, from the SQLite
/// file into the migrated PostgreSQL database, each value cast from its
/// text to the PostgreSQL column's type; then indexes every entry.
async fn copy_to_pg(sqlite: &Path, pg: &PgStore) {
    let src = rusqlite::Connection::open(sqlite).expect("open sqlite file");
    let client = pg.client().await.expect("client");
    for table in [
        "feed",
        "feed_tag",
        "host",
        "fetch_log",
        "entry",
        "story",
        "story_entry",
        "tombstone",
    ] {
        let pg_columns: Vec<(String, String)> = client
            .query(
                "SELECT column_name::text, data_type::text FROM information_schema.columns
                 WHERE table_name = $1 AND data_type NOT IN ('tsvector', 'USER-DEFINED')",
                &[&table],
            )
            .await
            .expect("columns")
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let mut stmt = src
            .prepare(&format!("SELECT * FROM {table}"))
            .expect("select");
        let names: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
        let copied: Vec<(usize, &(String, String))> = names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| pg_columns.iter().find(|(c, _)| c == n).map(|c| (i, c)))
            .collect();
        let mut columns: Vec<String> = copied.iter().map(|(_, (c, _))| c.clone()).collect();
        let mut casts: Vec<String> = copied
            .iter()
            .enumerate()
            .map(|(k, (_, (_, ty)))| match ty.as_str() {
                // Frames (zstd against the body) are the same on both stores.
                "bytea" => format!("decode(${}::text, 'hex')", k + 1),
                _ => format!("${}::text::{ty}", k + 1),
            })
            .collect();
        if table == "feed" {
            columns.push("host".to_string());
            casts.push(format!("${}", casts.len() + 1));
        }
        let insert = format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            columns.join(", "),
            casts.join(", ")
        );
        let rows: Vec<Vec<Option<String>>> = stmt
            .query_map([], |r| {
                (0..names.len())
                    .map(|i| {
                        Ok(match r.get_ref(i)? {
                            rusqlite::types::ValueRef::Null => None,
                            rusqlite::types::ValueRef::Blob(b) => {
                                Some(b.iter().map(|x| format!("{x:02x}")).collect())
                            }
                            rusqlite::types::ValueRef::Integer(n) => Some(n.to_string()),
                            rusqlite::types::ValueRef::Real(x) => Some(x.to_string()),
                            rusqlite::types::ValueRef::Text(t) => {
                                Some(String::from_utf8_lossy(t).into_owned())
                            }
                        })
                    })
                    .collect()
            })
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("read rows");
        for row in rows {
            let mut values: Vec<Option<String>> =
                copied.iter().map(|(i, _)| row[*i].clone()).collect();
            if table == "feed" {
                let at = |n: &str| -> usize { names.iter().position(|c| c == n).expect("column") };
                let url = row[at("fetch_url")].clone().or(row[at("url")].clone());
                let host = url
                    .and_then(|u| url::Url::parse(&u).ok())
                    .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
                values.push(host);
            }
            let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = values
                .iter()
                .map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync))
                .collect();
            client
                .execute(&insert, &params)
                .await
                .unwrap_or_else(|e| panic!("{insert}: {e}"));
        }
    }
    client
        .execute(
            &format!("UPDATE entry SET search = {SEARCH_VECTOR_SQL}"),
            &[],
        )
        .await
        .expect("index");
}

/// The dataset in both stores.
async fn both(server: &PgServer, dir: &Path) -> (Store, PgStore) {
    let sqlite = sqlite_dataset(dir);
    let pg = PgStore::open(&server.fresh_db(), 4)
        .await
        .expect("open postgres");
    copy_to_pg(&dir.join("ff.db"), &pg).await;
    (sqlite, pg)
}

/// What must agree between the backends' hits: all but the score and the
/// snippet, which each engine computes its own way.
fn hit_key(h: &SearchHit) -> (i64, Option<String>, Option<String>, String, i64, i64) {
    (
        h.story_id,
        h.title.clone(),
        h.url.clone(),
        h.published_at.clone(),
        h.source_count,
        h.entry_id,
    )
}

#[tokio::test]
async fn listings_and_lineage_match_the_sqlite_store() {
    let Some(server) = require_pg() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let (sqlite, pg) = both(&server, dir.path()).await;

    let feeds = sqlite.feeds().expect("sqlite feeds");
    assert_eq!(feeds.len(), 4);
    assert!(feeds.iter().any(|f| f.status == "failing"), "{feeds:?}");
    assert!(feeds.iter().any(|f| f.status == "inactive"), "{feeds:?}");
    let shown = |url: &str| feeds.iter().find(|f| f.url == url).expect("feed").clone();
    assert!(shown(PAPER).retry_after_until.is_some());
    assert!(shown(WIRE).retry_after_until.is_none());
    assert!(shown(WIRE).host_throttled_until.is_some());
    assert!(shown(PAPER).host_throttled_until.is_none());
    assert!(shown(LOCAL).pending_redirect.is_some());
    assert!(shown(LOCAL).backoff_until.is_some());
    assert!(shown(LOCAL)
        .interval_reason
        .is_some_and(|r| r.starts_with("pinned")));
    assert_eq!(pg.feeds().await.expect("pg feeds"), feeds);
    // The feed due soonest (ties by name). Not compared with SQLite's
    // `next_due`: on SQLite 3.54 its `ORDER BY 2 IS NOT NULL, 2` does not
    // put the soonest first (it returns the failing feed, due later).
    let soonest = feeds
        .iter()
        .filter(|f| f.active)
        .min_by_key(|f| (f.next_due_at.clone(), f.url.clone()))
        .map(|f| (f.url.clone(), f.next_due_at.clone()));
    assert_eq!(soonest.as_ref().map(|s| s.0.as_str()), Some(PAPER));
    assert_eq!(pg.next_due().await.expect("pg next"), soonest);

    let stories = sqlite.stories(None, 50).expect("sqlite stories");
    assert_eq!(
        stories.len(),
        4,
        "a1 and b1 fold into one story: {stories:?}"
    );
    assert!(stories.iter().any(|s| s.source_count == 2));
    assert_eq!(pg.stories(None, 50).await.expect("pg stories"), stories);
    assert_eq!(pg.stories(None, 2).await.expect("pg stories"), stories[..2]);

    let now = Utc::now();
    for filter in [
        TimeFilter::published(Some(now - TimeDelta::minutes(210))),
        TimeFilter {
            published_since: None,
            seen_since: Some(now - TimeDelta::hours(1)),
        },
        TimeFilter {
            published_since: Some(now - TimeDelta::hours(10)),
            seen_since: Some(now + TimeDelta::hours(1)),
        },
    ] {
        for tags in [
            vec![],
            vec!["WORLD".to_string()],
            vec!["business".to_string(), "none".to_string()],
        ] {
            let want = sqlite.stories_tagged(&filter, 50, &tags).expect("sqlite");
            let got = pg.stories_tagged(&filter, 50, &tags).await.expect("pg");
            assert_eq!(got, want, "{filter:?} {tags:?}");
        }
    }
    let tagged = pg
        .stories_tagged(&TimeFilter::default(), 50, &["business".to_string()])
        .await
        .expect("pg");
    assert_eq!(tagged.len(), 2, "the paper's two stories: {tagged:?}");

    for s in &stories {
        let want = sqlite.story(StoryId(s.story_id)).expect("sqlite story");
        assert!(want.is_some());
        assert_eq!(pg.story(StoryId(s.story_id)).await.expect("pg story"), want);
    }
    assert_eq!(pg.story(StoryId(999)).await.expect("pg story"), None);
}

#[tokio::test]
async fn search_finds_the_same_stories_as_sqlite() {
    let Some(server) = require_pg() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let (sqlite, pg) = both(&server, dir.path()).await;
    let all = TimeFilter::default();
    for (q, found) in [
        ("embassy", 1),
        ("Vienna talks", 1),
        ("\"central bank\"", 1),
        ("\"bank central\"", 0),
        ("mount*", 1),
        ("harvest", 2),
        ("US-Russia", 0),
        ("officials", 4),
    ]
    .map(|(q, n)| (SearchQuery::Words(q.to_string()), n))
    .into_iter()
    // FTS5 syntax finds what SQLite finds.
    .chain(
        [
            ("harvest NOT festival", 1),
            ("title:harvest", 1),
            ("body:harvest", 1),
            ("mount* OR \"central bank\"", 2),
            ("(embassy OR storm) NOT vienna", 1),
            ("officials NOT (bank OR storm)", 2),
            ("title:\"resume in\"", 1),
        ]
        .map(|(q, n)| (SearchQuery::Fts(q.to_string()), n)),
    ) {
        let want = sqlite.search(&q, &all, 20).expect("sqlite search");
        let got = pg.search(&q, &all, 20).await.expect("pg search");
        assert_eq!(want.len(), found, "{q:?}: {want:?}");
        let keys = |hits: &[SearchHit]| hits.iter().map(hit_key).collect::<BTreeSet<_>>();
        assert_eq!(keys(&got), keys(&want), "{q:?}");
        for hit in &got {
            assert!(hit.snippet.contains('['), "{q:?}: {:?}", hit.snippet);
            assert_eq!(hit.index_lag.entries, 0);
        }
    }
    // The headline weighs more than the body: the festival (in its title)
    // before the storm (in its body), on both backends.
    let q = SearchQuery::Words("harvest".to_string());
    let order = |hits: Vec<SearchHit>| hits.iter().map(|h| h.story_id).collect::<Vec<_>>();
    let got = pg.search(&q, &all, 20).await.expect("pg search");
    assert!(got[0].rank < got[1].rank, "{got:?}");
    assert_eq!(
        got[0].title.as_deref(),
        Some("Harvest festival draws crowds")
    );
    assert!(
        got[0].snippet.to_lowercase().contains("[harvest]"),
        "{}",
        got[0].snippet
    );
    assert_eq!(
        order(got),
        order(sqlite.search(&q, &all, 20).expect("sqlite"))
    );
    // The limit and the time filter apply as in SQLite.
    let one = pg.search(&q, &all, 1).await.expect("pg search");
    assert_eq!(one.len(), 1);
    let late = TimeFilter::published(Some(Utc::now() - TimeDelta::minutes(200)));
    assert_eq!(
        pg.search(&q, &late, 20)
            .await
            .expect("pg")
            .iter()
            .map(hit_key)
            .collect::<Vec<_>>(),
        sqlite
            .search(&q, &late, 20)
            .expect("sqlite")
            .iter()
            .map(hit_key)
            .collect::<Vec<_>>()
    );

    // Nothing to search for, FTS syntax PostgreSQL cannot express, and
    // broken syntax: query errors, not database errors.
    for q in [
        SearchQuery::Words(" - ; ".into()),
        SearchQuery::Fts("embassy NEAR(talks vienna)".into()),
        SearchQuery::Fts("AND".into()),
        SearchQuery::Fts("embassy AND (".into()),
        SearchQuery::Fts("\"unbalanced".into()),
        SearchQuery::Fts("x:y".into()),
    ] {
        let e = pg.search(&q, &all, 5).await.expect_err("bad query");
        assert!(matches!(e, PgError::BadQuery { .. }), "{q:?}: {e}");
    }
    // An entry the indexer has not read is not found, and counts as lag.
    let client = pg.client().await.expect("client");
    client
        .execute(
            "UPDATE entry SET search = NULL, first_seen_at = now() - interval '90 seconds'
             WHERE title LIKE 'Central bank%'",
            &[],
        )
        .await
        .expect("unindex");
    let lag = pg.index_lag().await.expect("lag");
    assert_eq!(lag.entries, 1);
    assert!((90..120).contains(&lag.oldest_seconds), "{lag:?}");
    let q = SearchQuery::Words("officials".into());
    let hits = pg.search(&q, &all, 20).await.expect("pg search");
    assert_eq!(hits.len(), 3);
    assert_eq!(hits[0].index_lag, lag);
}

#[tokio::test]
async fn status_matches_the_sqlite_store() {
    let Some(server) = require_pg() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let (sqlite, pg) = both(&server, dir.path()).await;
    let now = Utc::now();
    let today = now - TimeDelta::hours(2);
    let want = sqlite.status(now, today).expect("sqlite status");
    let got = pg.status(now, today).await.expect("pg status");
    assert_eq!(got.feeds, want.feeds);
    assert_eq!(got.feeds.failing, 1);
    assert_eq!(
        (
            got.entries_today,
            got.stories_today,
            got.entries_24h,
            got.stories_24h,
            got.folded_24h
        ),
        (
            want.entries_today,
            want.stories_today,
            want.entries_24h,
            want.stories_24h,
            want.folded_24h
        )
    );
    assert_eq!(got.entries_24h, 5);
    assert_eq!(got.folded_24h, 1);
    assert_eq!(got.last_fetch_at, want.last_fetch_at);
    assert_eq!(got.top_stories, want.top_stories);
    assert_eq!(got.failing_feeds, want.failing_feeds);
    assert_eq!(got.search_index, want.search_index);
    assert!(
        got.database.starts_with("postgres://postgres@127.0.0.1:"),
        "{}",
        got.database
    );
    assert!(got.database_bytes > 1_000_000, "{}", got.database_bytes);
    assert_eq!(
        pg.feed_health(now).await.expect("health"),
        sqlite.feed_health(now).expect("h")
    );
}

#[test]
fn the_status_never_shows_the_password() {
    use feedfold::store::pg::redact_password;
    assert_eq!(
        redact_password("postgres://ff:s3cret@db.example:5433/news?sslmode=require"),
        "postgres://ff@db.example:5433/news?sslmode=require"
    );
    assert_eq!(
        redact_password("postgres://ff@db/news?password=s3cret&sslmode=disable"),
        "postgres://ff@db/news?sslmode=disable"
    );
    assert_eq!(
        redact_password("host=db user=ff password=s3cret dbname=news"),
        "host=db user=ff dbname=news"
    );
}

#[tokio::test]
async fn the_check_finds_broken_lineage_and_stale_search_vectors() {
    let Some(server) = require_pg() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let (_sqlite, pg) = both(&server, dir.path()).await;
    assert_eq!(
        pg.check_consistency().await.expect("check"),
        Vec::<String>::new()
    );
    let client = pg.client().await.expect("client");
    let breaks = [
        (
            "UPDATE story SET source_count = 7 WHERE id = (SELECT MIN(id) FROM story)",
            "1 stories whose source_count",
        ),
        (
            "UPDATE entry SET title = 'Edited headline' WHERE id = (SELECT MIN(id) FROM entry)",
            "1 entries whose search vector",
        ),
        (
            "UPDATE story SET canonical_entry_id = (SELECT MAX(id) FROM entry)
             WHERE id = (SELECT MIN(id) FROM story)",
            "1 stories whose canonical_entry_id",
        ),
        (
            "DELETE FROM story_entry WHERE entry_id = (SELECT MAX(entry_id) FROM story_entry)",
            "1 entries that belong to no story",
        ),
    ];
    for (sql, says) in breaks {
        client.execute(sql, &[]).await.expect(sql);
        let problems = pg.check_consistency().await.expect("check");
        assert!(
            problems.iter().any(|p| p.starts_with(says)),
            "{sql}: {problems:?}"
        );
    }
}

#[tokio::test]
async fn prune_removes_what_sqlite_removes() {
    let Some(server) = require_pg() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut sqlite, pg) = both(&server, dir.path()).await;
    let now = Utc::now();
    let tombstones = |s: &Store| -> i64 {
        rusqlite::Connection::open(s.path())
            .expect("open")
            .query_row("SELECT COUNT(*) FROM tombstone", [], |r| r.get(0))
            .expect("count")
    };
    // One entry per feed: the wire loses the syndicated story's canonical
    // copy (its older entry), so the paper's copy is promoted.
    let cap = RetentionPolicy::new(30, Some(1));
    let want = sqlite.prune_step(&cap, now).expect("sqlite prune");
    let got = pg.prune_step(&cap, now, None).await.expect("pg prune");
    assert_eq!(got, want);
    assert_eq!(
        (got.entries, got.promoted, got.tombstones_added),
        (2, 1, 2),
        "{got:?}"
    );
    let stories = sqlite.stories(None, 50).expect("stories");
    assert_eq!(pg.stories(None, 50).await.expect("pg stories"), stories);
    for s in &stories {
        assert_eq!(
            pg.story(StoryId(s.story_id)).await.expect("pg"),
            sqlite.story(StoryId(s.story_id)).expect("sqlite")
        );
    }
    assert_eq!(
        pg.check_consistency().await.expect("check"),
        Vec::<String>::new()
    );
    let pg_tombstones: i64 = pg
        .client()
        .await
        .expect("client")
        .query_one("SELECT COUNT(*) FROM tombstone", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!((pg_tombstones, tombstones(&sqlite)), (2, 2));

    // Forty days on, everything is past a 30-day retention.
    let later = now + TimeDelta::days(40);
    let keep = RetentionPolicy::new(30, None);
    let want = sqlite.prune_step(&keep, later).expect("sqlite prune");
    let got = pg.prune_step(&keep, later, None).await.expect("pg prune");
    assert_eq!(
        (
            got.stories,
            got.entries,
            got.promoted,
            got.fetches,
            got.tombstones_added
        ),
        (
            want.stories,
            want.entries,
            want.promoted,
            want.fetches,
            want.tombstones_added
        )
    );
    assert_eq!((got.stories, got.entries), (3, 3), "{got:?}");
    assert!(pg.stories(None, 50).await.expect("pg").is_empty());
    let client = pg.client().await.expect("client");
    let n: i64 = client
        .query_one("SELECT COUNT(*) FROM tombstone", &[])
        .await
        .expect("count")
        .get(0);
    // Items no feed listed within the retention period lose their
    // tombstones too: here all of them, as in SQLite.
    assert_eq!(n, tombstones(&sqlite));
    assert_eq!(n, 0);
    assert_eq!(got.tombstones_expired, want.tombstones_expired);
    assert_eq!(got.tombstones_expired, 5);
    assert_eq!(
        pg.check_consistency().await.expect("check"),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn the_river_matches_the_sqlite_store() {
    let Some(server) = require_pg() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let (sqlite, pg) = both(&server, dir.path()).await;
    let client = pg.client().await.expect("client");
    let all = RiverFilter {
        min_sources: 1,
        limit: 50,
        ..RiverFilter::default()
    };
    let river = sqlite.river(&all).expect("sqlite river");
    assert_eq!(river.len(), 4);
    for s in &river {
        assert!(
            s.html.as_deref().is_some_and(|h| h.starts_with("<p>")),
            "{s:?}"
        );
    }
    let now = Utc::now();
    for filter in [
        all.clone(),
        RiverFilter {
            tag: Some("WORLD".into()),
            ..all.clone()
        },
        RiverFilter {
            min_sources: 2,
            ..all.clone()
        },
        RiverFilter {
            since: Some(now - TimeDelta::minutes(270)),
            limit: 2,
            offset: 1,
            ..all.clone()
        },
    ] {
        let want = sqlite.river(&filter).expect("sqlite river");
        assert_eq!(
            pg.river(&filter).await.expect("pg river"),
            want,
            "{filter:?}"
        );
    }
    let first = river[0].story.story_id;
    assert_eq!(
        pg.river_story(StoryId(first)).await.expect("pg"),
        sqlite.river_story(StoryId(first)).expect("sqlite")
    );
    assert_eq!(pg.river_story(StoryId(999)).await.expect("pg"), None);
    // A row stored before migration 0003 (full texts, no frames) reads
    // the same, and converts to frames.
    let canonical = river[0].canonical().expect("canonical").entry_id;
    client
        .execute(
            "UPDATE entry SET summary = $2, summary_z = NULL, content_z = NULL,
                norm_text = 'old norm text', norm_z = NULL WHERE id = $1",
            &[&canonical, &river[0].html],
        )
        .await
        .expect("old form");
    let story = pg.river_story(StoryId(first)).await.expect("pg");
    assert_eq!(story.as_ref().and_then(|s| s.html.clone()), river[0].html);
    assert_eq!(pg.convert_old_text().await.expect("convert"), 1);
    assert_eq!(pg.convert_old_text().await.expect("convert"), 0);
    let row = client
        .query_one(
            "SELECT summary IS NULL AND norm_text IS NULL, summary_z IS NOT NULL, norm_z IS NOT NULL
             FROM entry WHERE id = $1",
            &[&canonical],
        )
        .await
        .expect("row");
    assert!(row.get::<_, bool>(0) && row.get::<_, bool>(1) && row.get::<_, bool>(2));
    assert_eq!(
        pg.river_story(StoryId(first)).await.expect("pg"),
        sqlite.river_story(StoryId(first)).expect("sqlite")
    );
    // Full content wins over the summary, in either form.
    client
        .execute(
            "UPDATE entry SET content = '<p>In full.</p>' WHERE id = $1",
            &[&canonical],
        )
        .await
        .expect("content");
    let story = pg
        .river_story(StoryId(first))
        .await
        .expect("pg")
        .expect("story");
    assert_eq!(story.html.as_deref(), Some("<p>In full.</p>"));

    let tags = sqlite.tags().expect("sqlite tags");
    assert_eq!(tags, ["Business", "World"]);
    assert_eq!(pg.tags().await.expect("pg tags"), tags);
}

#[tokio::test]
async fn a_leader_that_lost_its_lease_prunes_nothing() {
    let Some(server) = require_pg() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let (_sqlite, pg) = both(&server, dir.path()).await;
    let ttl = std::time::Duration::from_secs(60);
    let first = pg.register_worker("first").await.expect("worker");
    let second = pg.register_worker("second").await.expect("worker");
    let old = pg
        .elect(first, Role::Leader, ttl)
        .await
        .expect("elect")
        .expect("leader");
    assert!(pg.release_role(&old).await.expect("release"));
    let new = pg
        .elect(second, Role::Leader, ttl)
        .await
        .expect("elect")
        .expect("leader");
    let cap = RetentionPolicy::new(30, Some(1));
    let entries = || async {
        let client = pg.client().await.expect("client");
        let n: i64 = client
            .query_one("SELECT COUNT(*) FROM entry", &[])
            .await
            .expect("count")
            .get(0);
        n
    };
    let e = pg
        .prune_step(&cap, Utc::now(), Some(&old))
        .await
        .expect_err("fenced");
    assert!(matches!(e, PgError::Fenced { .. }), "{e}");
    assert_eq!(entries().await, 5);
    let report = pg
        .prune_step(&cap, Utc::now(), Some(&new))
        .await
        .expect("prune");
    assert_eq!(report.entries, 2);
    assert_eq!(entries().await, 3);
}

#[tokio::test]
async fn the_leader_trims_band_keys_older_than_twice_the_window() {
    let Some(server) = require_pg() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let (_sqlite, pg) = both(&server, dir.path()).await;
    let client = pg.client().await.expect("client");
    let keys = || async {
        let rows = client
            .query("SELECT window_at FROM band_key ORDER BY window_at", &[])
            .await
            .expect("keys");
        rows.iter().map(|r| r.get::<_, i64>(0)).collect::<Vec<_>>()
    };
    let entry: i64 = client
        .query_one("SELECT min(id) FROM entry", &[])
        .await
        .expect("entry")
        .get(0);
    let now = Utc::now().timestamp();
    let day = 86_400;
    client
        .execute("DELETE FROM band_key", &[])
        .await
        .expect("clear");
    for (key, at) in [(1_i64, now - 30 * day), (2, now - 3 * day), (3, now)] {
        client
            .execute(
                "INSERT INTO band_key (key, window_at, entry_id) VALUES ($1, $2, $3)",
                &[&key, &at, &entry],
            )
            .await
            .expect("key");
    }
    let ttl = std::time::Duration::from_secs(60);
    let worker = pg.register_worker("leader").await.expect("worker");
    let leader = pg
        .elect(worker, Role::Leader, ttl)
        .await
        .expect("elect")
        .expect("leader");
    // A window of two days keeps four days of keys.
    let window = std::time::Duration::from_secs(2 * 86_400);
    let removed = pg.trim_band_keys(&leader, window).await.expect("trim");
    assert_eq!(removed, 1);
    assert_eq!(keys().await, [now - 3 * day, now]);
    assert!(pg.release_role(&leader).await.expect("release"));
    let e = pg
        .trim_band_keys(&leader, window)
        .await
        .expect_err("fenced");
    assert!(matches!(e, PgError::Fenced { .. }), "{e}");
}
