//! The PostgreSQL store's coordination against a real server (a throwaway
//! one per test process, a fresh database per test): migrations applied
//! once however many processes start together, host leases never shared,
//! expired leases taken over at a higher epoch, writes from a lost epoch
//! refused, role leases moving when their holder stops renewing, and the
//! public views shaped as in SQLite.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use common::pg::{require_pg, require_pg_tls, PgServer};
use feedfold::store::pg::{
    fence, migrate, Fence, FetchOutcome, FetchRecord, HostLease, PgError, PgLedger, PgStore, Role,
};

/// Leases in the timing tests: long enough for a loaded machine to run a
/// test's few statements before one expires, short enough to wait out.
const LEASE: Duration = Duration::from_millis(1200);

/// A migrated store on a fresh database of the test server.
async fn store(server: &PgServer) -> PgStore {
    PgStore::open(&server.fresh_db(), 8)
        .await
        .expect("open and migrate")
}

/// Inserts `feeds_per_host` feeds on each of `hosts` hosts (h0.test, h1.test…).
async fn add_feeds(store: &PgStore, hosts: usize, feeds_per_host: usize) {
    let client = store.client().await.expect("client");
    for h in 0..hosts {
        for f in 0..feeds_per_host {
            client
                .execute(
                    "INSERT INTO feed (url, host) VALUES ($1, $2)",
                    &[
                        &format!("http://h{h}.test/feed{f}.xml"),
                        &format!("h{h}.test"),
                    ],
                )
                .await
                .expect("insert feed");
        }
    }
}

async fn count(store: &PgStore, sql: &str) -> i64 {
    let client = store.client().await.expect("client");
    client.query_one(sql, &[]).await.expect(sql).get(0)
}

fn fetched_ok() -> FetchRecord {
    FetchRecord {
        outcome: FetchOutcome::Ok,
        status: Some(200),
        bytes: 1234,
        duration_ms: 12,
        new_entries: 3,
        error: None,
        etag: Some("\"v1\"".into()),
        last_modified: None,
        next_due_in: Duration::from_secs(900),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrations_apply_once_when_many_processes_start_together() {
    let Some(server) = require_pg() else { return };
    let url = server.fresh_db();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            // One pool per "process", each migrating on its own connection.
            let store = PgStore::connect(&url, 1).expect("connect");
            let mut client = store.client().await.expect("client");
            migrate::run(&mut client).await
        }));
    }
    let mut applied = Vec::new();
    for task in tasks {
        let report = task.await.expect("task").expect("migrate");
        assert_eq!(report.version, migrate::SCHEMA_VERSION);
        applied.extend(report.applied);
    }
    applied.sort();
    let store = PgStore::connect(&url, 1).expect("connect");
    let recorded = count(&store, "SELECT count(*) FROM schema_migration").await;
    assert_eq!(
        applied.len() as i64,
        recorded,
        "every migration applied by exactly one process: {applied:?}"
    );
    let unique: BTreeSet<i64> = applied.iter().copied().collect();
    assert_eq!(unique.len(), applied.len(), "applied twice: {applied:?}");
    assert_eq!(applied.last(), Some(&migrate::SCHEMA_VERSION));
    // The seeded role rows exist once, not once per process.
    assert_eq!(count(&store, "SELECT count(*) FROM role_lease").await, 2);

    // Another start finds nothing to do.
    let mut client = store.client().await.expect("client");
    let again = migrate::run(&mut client).await.expect("migrate again");
    assert!(again.applied.is_empty(), "{again:?}");
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_feedfold_is_refused() {
    let Some(server) = require_pg() else { return };
    let url = server.fresh_db();
    let store = PgStore::open(&url, 2).await.expect("open");
    let client = store.client().await.expect("client");
    client
        .execute(
            "INSERT INTO schema_migration (version, name) VALUES ($1, 'from the future')",
            &[&(migrate::SCHEMA_VERSION + 1)],
        )
        .await
        .expect("insert");
    match PgStore::open(&url, 2).await {
        Err(PgError::SchemaTooNew { found, known }) => {
            assert_eq!(
                (found, known),
                (migrate::SCHEMA_VERSION + 1, migrate::SCHEMA_VERSION)
            )
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

#[tokio::test]
async fn sslmode_require_refuses_a_server_without_tls() {
    let Some(server) = require_pg() else { return };
    let url = format!("{}?sslmode=require", server.fresh_db());
    let store = PgStore::connect(&url, 1).expect("the URL parses");
    let err = store.client().await.expect_err("no TLS on the test server");
    assert!(matches!(err, PgError::Pool(_)), "{err:?}");
    // The same database without the requirement connects (sslmode=prefer
    // falls back to plain text).
    let plain = PgStore::connect(&url.replace("?sslmode=require", ""), 1).expect("parses");
    let _connected = plain.client().await.expect("plain connection");
    assert!(matches!(
        PgStore::connect("postgres://a@b/c?sslmode=sometimes", 1),
        Err(PgError::Url(_))
    ));
}

#[tokio::test]
async fn a_tls_server_with_an_untrusted_certificate_is_refused_even_under_prefer() {
    let Some(server) = require_pg_tls() else {
        return;
    };
    let url = server.fresh_db();
    for mode in ["", "?sslmode=prefer", "?sslmode=require"] {
        let store = PgStore::connect(&format!("{url}{mode}"), 1).expect("the URL parses");
        let err = store
            .client()
            .await
            .expect_err("a self-signed certificate is not trusted");
        assert!(
            format!("{err:?}").contains("InvalidCertificate"),
            "{mode}: refused for its certificate: {err:?}"
        );
    }
    // The server does take plain connections: it is the certificate that
    // was refused.
    let plain = PgStore::connect(&format!("{url}?sslmode=disable"), 1).expect("parses");
    let _connected = plain.client().await.expect("plain connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_workers_never_hold_the_same_host_and_claim_each_feed_once() {
    let Some(server) = require_pg() else { return };
    let url = server.fresh_db();
    let setup = PgStore::open(&url, 2).await.expect("open");
    add_feeds(&setup, 60, 5).await;

    let ttl = Duration::from_secs(60);
    let mut tasks = Vec::new();
    let start = Arc::new(tokio::sync::Barrier::new(4));
    for w in 0..4 {
        let url = url.clone();
        let start = Arc::clone(&start);
        tasks.push(tokio::spawn(async move {
            let store = PgStore::connect(&url, 2).expect("connect");
            let me = store
                .register_worker(&format!("w{w}"))
                .await
                .expect("register");
            // All start claiming together, in small bites, and none takes
            // more than 20 of the 60 hosts: at least three claim at once.
            start.wait().await;
            let mut held: Vec<HostLease> = Vec::new();
            while held.len() < 20 {
                let bite = (20 - held.len()).min(3) as i64;
                let got = store.claim_hosts(me, bite, ttl).await.expect("claim");
                if got.is_empty() {
                    break;
                }
                held.extend(got);
            }
            let mut feeds = Vec::new();
            loop {
                let claim = store
                    .claim_due_feeds(&held, 4, Duration::from_secs(900), LEASE)
                    .await
                    .expect("claim feeds");
                assert!(claim.lost.is_empty(), "{:?}", claim.lost);
                if claim.feeds.is_empty() {
                    break;
                }
                feeds.extend(claim.feeds);
            }
            (me, held, feeds)
        }));
    }
    let mut holder: BTreeMap<String, i64> = BTreeMap::new();
    let mut claimed: BTreeMap<i64, i64> = BTreeMap::new();
    for task in tasks {
        let (me, held, feeds) = task.await.expect("task");
        for lease in &held {
            assert_eq!(lease.epoch, 1, "a first claim: {lease:?}");
            if let Some(other) = holder.insert(lease.host.clone(), me.0) {
                panic!("{} held by workers {other} and {}", lease.host, me.0);
            }
        }
        for feed in feeds {
            assert!(
                held.iter().any(|l| l.host == feed.host),
                "feed {} of a host worker {} does not hold",
                feed.url,
                me.0
            );
            if let Some(other) = claimed.insert(feed.id, me.0) {
                panic!("feed {} claimed by {other} and {}", feed.id, me.0);
            }
        }
    }
    assert_eq!(holder.len(), 60, "every host held by someone");
    assert_eq!(claimed.len(), 300, "every due feed claimed once");
    // The database agrees with what the workers were told.
    let client = setup.client().await.expect("client");
    for row in client
        .query("SELECT host, owner FROM host_lease", &[])
        .await
        .expect("leases")
    {
        let host: String = row.get(0);
        let owner: Option<i64> = row.get(1);
        assert_eq!(owner, holder.get(&host).copied(), "{host}");
    }
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_at_a_higher_epoch_and_the_old_holder_is_fenced() {
    let Some(server) = require_pg() else { return };
    let store = store(&server).await;
    add_feeds(&store, 1, 2).await;
    let a = store.register_worker("a").await.expect("register");
    let b = store.register_worker("b").await.expect("register");
    let ttl = LEASE;

    let a_leases = store.claim_hosts(a, 10, ttl).await.expect("claim");
    assert_eq!(a_leases.len(), 1);
    assert!(store
        .claim_hosts(b, 10, ttl)
        .await
        .expect("claim")
        .is_empty());
    let a_feeds = store
        .claim_due_feeds(&a_leases, 10, Duration::from_secs(900), LEASE)
        .await
        .expect("claim feeds");
    assert_eq!(a_feeds.feeds.len(), 2);
    // While held, A's writes go through.
    store
        .record_fetch(&a_leases[0], a_feeds.feeds[0].id, &fetched_ok())
        .await
        .expect("fenced write while held");

    // A stops renewing (paused, partitioned); the lease runs out.
    tokio::time::sleep(ttl + Duration::from_millis(300)).await;
    let b_leases = store.claim_hosts(b, 10, ttl * 10).await.expect("claim");
    assert_eq!(b_leases.len(), 1, "B takes the expired host");
    assert_eq!(b_leases[0].host, a_leases[0].host);
    assert_eq!(b_leases[0].epoch, a_leases[0].epoch + 1);

    // A wakes up: renewal, claims and writes at its old epoch are refused.
    assert!(store
        .renew_hosts(&a_leases, ttl)
        .await
        .expect("renew")
        .is_empty());
    let late = store
        .claim_due_feeds(&a_leases, 10, Duration::from_secs(900), LEASE)
        .await
        .expect("claim feeds");
    assert!(late.feeds.is_empty());
    assert_eq!(late.lost, vec![a_leases[0].host.clone()]);
    let before = count(&store, "SELECT count(*) FROM fetch_log").await;
    match store
        .record_fetch(&a_leases[0], a_feeds.feeds[1].id, &fetched_ok())
        .await
    {
        Err(PgError::Fenced { epoch, .. }) => assert_eq!(epoch, a_leases[0].epoch),
        other => panic!("expected a fenced write, got {other:?}"),
    }
    assert_eq!(
        count(&store, "SELECT count(*) FROM fetch_log").await,
        before
    );
    let last_fetch: Option<chrono::DateTime<chrono::Utc>> = store
        .client()
        .await
        .expect("client")
        .query_one(
            "SELECT last_fetch_at FROM feed WHERE id = $1",
            &[&a_feeds.feeds[1].id],
        )
        .await
        .expect("feed")
        .get(0);
    assert_eq!(last_fetch, None, "nothing of the refused write landed");

    // A's in-flight feed is not handed to B before its interval: one poll
    // late, never twice.
    let b_feeds = store
        .claim_due_feeds(&b_leases, 10, Duration::from_secs(900), LEASE)
        .await
        .expect("claim feeds");
    assert!(b_feeds.feeds.is_empty(), "{:?}", b_feeds.feeds);
    // B's own writes go through.
    store
        .record_fetch(&b_leases[0], a_feeds.feeds[1].id, &fetched_ok())
        .await
        .expect("B writes");
    // Released, the host is free at once, and the next holder gets a new epoch.
    assert_eq!(store.release_hosts(&b_leases).await.expect("release"), 1);
    let again = store.claim_hosts(a, 10, ttl).await.expect("claim");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].epoch, b_leases[0].epoch + 1);
}

#[tokio::test]
async fn renewal_keeps_a_lease_past_its_first_expiry() {
    let Some(server) = require_pg() else { return };
    let store = store(&server).await;
    add_feeds(&store, 2, 1).await;
    let a = store.register_worker("a").await.expect("register");
    let b = store.register_worker("b").await.expect("register");
    let ttl = LEASE;
    let mut leases = store.claim_hosts(a, 10, ttl).await.expect("claim");
    assert_eq!(leases.len(), 2);
    for _ in 0..4 {
        tokio::time::sleep(ttl / 2).await;
        let renewed = store.renew_hosts(&leases, ttl).await.expect("renew");
        assert_eq!(renewed.len(), 2, "renewed in time");
        assert!(renewed.iter().zip(&leases).all(|(r, l)| r.epoch == l.epoch));
        leases = renewed;
        assert!(store
            .claim_hosts(b, 10, ttl)
            .await
            .expect("claim")
            .is_empty());
    }
}

/// A feed claimed early in a long pass and fetched late must not be
/// claimed again less than an interval after that fetch when its worker
/// dies: the in-flight mark outlasts the claim by an interval plus a start
/// window, and past the window the worker no longer starts the fetch.
#[tokio::test]
async fn a_claim_outlasts_the_latest_fetch_it_allows_by_an_interval() {
    use feedfold::store::Ledger;
    let Some(server) = require_pg() else { return };
    let store = store(&server).await;
    add_feeds(&store, 1, 1).await;
    let worker = store.register_worker("a").await.expect("register");
    let interval = Duration::from_secs(1);
    // A lease far longer than the interval: the window is the interval.
    let ledger = PgLedger::new(
        store.clone(),
        worker,
        feedfold::dedup::DedupConfig::default(),
        Duration::from_secs(30),
        interval,
    );
    let (due, _) = ledger.due(false).await.expect("due");
    assert_eq!(due.len(), 1);
    let feed = due[0].id;
    assert!(ledger.may_fetch(feed));
    let left = count(
        &store,
        "SELECT (extract(epoch FROM in_flight_until - clock_timestamp()) * 1000)::bigint FROM feed",
    )
    .await;
    assert!(
        left > 1_500,
        "in flight for {left} ms: not a window and an interval"
    );
    tokio::time::sleep(interval + Duration::from_millis(100)).await;
    assert!(
        !ledger.may_fetch(feed),
        "a fetch started now could end less than an interval before the mark"
    );
}

/// A write in flight holds its host against takeovers, but not against
/// its own worker's renewals or its other writes: under FOR SHARE a renewal
/// waited for every write in flight, the writes after it queued behind it,
/// and under load the lease ran out in that queue.
#[tokio::test]
async fn a_write_in_flight_blocks_a_takeover_but_not_a_renewal() {
    let Some(server) = require_pg() else { return };
    let store = store(&server).await;
    add_feeds(&store, 1, 1).await;
    let a = store.register_worker("a").await.expect("register");
    let b = store.register_worker("b").await.expect("register");
    // Long: the open write must outlive the steps below on a loaded
    // machine (the fence ends it once the lease runs out).
    let ttl = Duration::from_secs(20);
    let leases = store.claim_hosts(a, 1, ttl).await.expect("claim");
    assert_eq!(leases.len(), 1);
    let soon = Duration::from_secs(2);

    let mut first = store.client().await.expect("client");
    let in_flight = first.transaction().await.expect("begin");
    fence(&in_flight, Fence::Host(&leases[0]))
        .await
        .expect("held");
    let renewed = tokio::time::timeout(soon, store.renew_hosts(&leases, ttl))
        .await
        .expect("the renewal does not wait for the write in flight")
        .expect("renew");
    assert_eq!(renewed.len(), 1);
    assert_eq!(renewed[0].epoch, leases[0].epoch);
    let mut second = store.client().await.expect("client");
    let next = second.transaction().await.expect("begin");
    tokio::time::timeout(soon, fence(&next, Fence::Host(&renewed[0])))
        .await
        .expect("the next write does not queue behind anything")
        .expect("held");
    next.commit().await.expect("commit");

    // Let the lease run out while the first write is still open: a
    // takeover skips the locked row, and takes it once the write ends.
    store
        .client()
        .await
        .expect("client")
        .execute(
            "UPDATE host_lease SET expires_at = clock_timestamp() - interval '1 second'",
            &[],
        )
        .await
        .expect("expire");
    let taken = tokio::time::timeout(soon, store.claim_hosts(b, 1, ttl))
        .await
        .expect("a takeover never waits")
        .expect("claim");
    assert!(taken.is_empty(), "taken over mid-write: {taken:?}");
    in_flight.commit().await.expect("commit");
    assert_eq!(store.claim_hosts(b, 1, ttl).await.expect("claim").len(), 1);
}

#[tokio::test]
async fn a_worker_paused_inside_a_fenced_transaction_cannot_commit_or_keep_the_host() {
    let Some(server) = require_pg() else { return };
    let store = store(&server).await;
    add_feeds(&store, 1, 1).await;
    let a = store.register_worker("a").await.expect("register");
    let b = store.register_worker("b").await.expect("register");
    let ttl = LEASE;
    let a_leases = store.claim_hosts(a, 1, ttl).await.expect("claim");
    assert_eq!(a_leases.len(), 1);

    let mut client = store.client().await.expect("client");
    let tx = client.transaction().await.expect("begin");
    fence(&tx, Fence::Host(&a_leases[0])).await.expect("held");
    tx.execute(
        "INSERT INTO fetch_log (feed_id, fetched_at, outcome, duration_ms)
         SELECT id, now(), 'ok', 1 FROM feed",
        &[],
    )
    .await
    .expect("write under the fence");
    // Paused past the lease, the transaction still open: the server ends it.
    tokio::time::sleep(ttl + Duration::from_millis(800)).await;
    let b_leases = tokio::time::timeout(Duration::from_secs(10), store.claim_hosts(b, 1, ttl))
        .await
        .expect("a claim never waits on a held lease")
        .expect("claim");
    assert_eq!(
        b_leases.len(),
        1,
        "the paused worker does not keep the host"
    );
    assert!(
        tx.commit().await.is_err(),
        "the paused worker cannot commit"
    );
    drop(client);
    assert_eq!(count(&store, "SELECT count(*) FROM fetch_log").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_worker_wins_an_election_and_the_role_moves_when_it_stops_renewing() {
    let Some(server) = require_pg() else { return };
    let url = server.fresh_db();
    let store = Arc::new(PgStore::open(&url, 8).await.expect("open"));
    let ttl = LEASE;
    let mut workers = Vec::new();
    for i in 0..6 {
        workers.push(
            store
                .register_worker(&format!("w{i}"))
                .await
                .expect("register"),
        );
    }
    let mut tasks = Vec::new();
    for &w in &workers {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store.elect(w, Role::Leader, ttl).await
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        if let Some(lease) = task.await.expect("task").expect("elect") {
            winners.push(lease);
        }
    }
    assert_eq!(winners.len(), 1, "one leader: {winners:?}");
    let leader = winners.remove(0);
    assert_eq!(leader.epoch, 1);
    // The folder role is separate.
    let folder = store
        .elect(workers[0], Role::Folder, ttl)
        .await
        .expect("elect")
        .expect("the folder role is free");

    // Renewed, it stays.
    tokio::time::sleep(ttl / 2).await;
    let leader = store
        .renew_role(&leader, ttl)
        .await
        .expect("renew")
        .expect("still held");
    let other = *workers
        .iter()
        .find(|w| **w != leader.owner)
        .expect("another");
    assert_eq!(
        store.elect(other, Role::Leader, ttl).await.expect("elect"),
        None
    );

    // Its holder stops renewing: another takes it at a higher epoch.
    tokio::time::sleep(ttl + Duration::from_millis(300)).await;
    let next = store
        .elect(other, Role::Leader, ttl)
        .await
        .expect("elect")
        .expect("the role moved");
    assert_eq!(next.epoch, leader.epoch + 1);
    assert_eq!(store.renew_role(&leader, ttl).await.expect("renew"), None);

    // The old leader's writes in the role are refused; the new one's pass.
    let mut client = store.client().await.expect("client");
    let tx = client.transaction().await.expect("begin");
    assert!(matches!(
        fence(&tx, Fence::Role(&leader)).await,
        Err(PgError::Fenced { .. })
    ));
    drop(tx);
    let tx = client.transaction().await.expect("begin");
    fence(&tx, Fence::Role(&next))
        .await
        .expect("the new leader writes");
    tx.commit().await.expect("commit");
    // Released, the role is free at once.
    assert!(store.release_role(&folder).await.expect("release"));
    let taken = store
        .elect(other, Role::Folder, ttl)
        .await
        .expect("elect")
        .expect("free after release");
    assert_eq!(taken.epoch, folder.epoch + 1);
}

/// Column names of a view or table in SQLite, in order.
fn sqlite_columns(db: &rusqlite::Connection, view: &str) -> Vec<String> {
    let mut stmt = db
        .prepare(&format!(
            "SELECT name FROM pragma_table_info('{view}') ORDER BY cid"
        ))
        .expect("prepare");
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .expect("query");
    rows.collect::<Result<_, _>>().expect("columns")
}

#[tokio::test]
async fn the_public_views_have_the_sqlite_names_and_columns() {
    let Some(server) = require_pg() else { return };
    let store = store(&server).await;
    // A SQLite database made by feedfold's own migrations.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("feedfold.db");
    drop(feedfold::store::Store::open(&path).expect("open SQLite"));
    let sqlite = rusqlite::Connection::open(&path).expect("open SQLite");
    let client = store.client().await.expect("client");
    for view in ["stories", "story_sources", "feed_tags", "feeds", "fetches"] {
        let expected = sqlite_columns(&sqlite, view);
        assert!(!expected.is_empty(), "SQLite has {view}");
        let kind: String = client
            .query_one(
                "SELECT table_type FROM information_schema.tables WHERE table_name = $1",
                &[&view],
            )
            .await
            .unwrap_or_else(|e| panic!("{view} exists in PostgreSQL: {e}"))
            .get(0);
        assert_eq!(kind, "VIEW", "{view}");
        let got: Vec<String> = client
            .query(
                "SELECT column_name::text FROM information_schema.columns
                 WHERE table_name = $1 ORDER BY ordinal_position",
                &[&view],
            )
            .await
            .expect("columns")
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(got, expected, "columns of {view}");
    }
}

#[tokio::test]
async fn the_views_read_a_story_and_search_uses_the_gin_index() {
    let Some(server) = require_pg() else { return };
    let store = store(&server).await;
    let client = store.client().await.expect("client");
    client
        .batch_execute(
            "INSERT INTO feed (id, url, host, feed_title) VALUES (1, 'http://wire.test/rss', 'wire.test', 'Wire');
             INSERT INTO entry (id, feed_id, identity, url, title, content, body, first_seen_at, last_seen_at,
                                content_hash, fingerprint, fingerprint_version, search)
             VALUES (7, 1, 'guid:a', 'http://wire.test/a', 'River flooding closes roads',
                     '<p>The river rose.</p><p>Roads closed.</p>', E'The river rose.\nRoads closed.',
                     now(), now(), 1, 2, 1,
                     setweight(to_tsvector('english', 'River flooding closes roads'), 'A')
                     || setweight(to_tsvector('english', E'The river rose.\nRoads closed.'), 'B'));
             INSERT INTO story (id, canonical_entry_id, published_at, first_seen_at, last_seen_at)
             VALUES (3, 7, now(), now(), now());
             INSERT INTO story_entry (entry_id, story_id, relation, similarity, linked_at)
             VALUES (7, 3, 'canonical', 1.0, now());",
        )
        .await
        .expect("a story");
    let row = client
        .query_one(
            "SELECT title, url, source_count FROM stories WHERE story_id = 3",
            &[],
        )
        .await
        .expect("stories");
    assert_eq!(
        row.get::<_, Option<String>>(0).as_deref(),
        Some("River flooding closes roads")
    );
    assert_eq!(
        row.get::<_, Option<String>>(1).as_deref(),
        Some("http://wire.test/a")
    );
    assert_eq!(row.get::<_, i32>(2), 1);
    let row = client
        .query_one(
            "SELECT feed_title, relation, text FROM story_sources WHERE story_id = 3",
            &[],
        )
        .await
        .expect("story_sources");
    assert_eq!(row.get::<_, Option<String>>(0).as_deref(), Some("Wire"));
    assert_eq!(row.get::<_, String>(1), "canonical");
    assert_eq!(
        row.get::<_, Option<String>>(2).as_deref(),
        Some("The river rose.\nRoads closed.")
    );
    let row = client
        .query_one(
            "SELECT status, active, entries FROM feeds WHERE feed_id = 1",
            &[],
        )
        .await
        .expect("feeds");
    assert_eq!(row.get::<_, String>(0), "new");
    assert!(row.get::<_, bool>(1));
    assert_eq!(row.get::<_, i64>(2), 1);

    // Stemmed like SQLite's porter tokenizer: "floods" finds "flooding".
    let query =
        "SELECT id FROM entry WHERE search @@ websearch_to_tsquery('english', 'floods roads')";
    let hits: Vec<i64> = client
        .query(query, &[])
        .await
        .expect("search")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(hits, vec![7]);
    client
        .batch_execute("SET enable_seqscan = off")
        .await
        .expect("set");
    let plan: Vec<String> = client
        .query(&format!("EXPLAIN {query}"), &[])
        .await
        .expect("explain")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        plan.iter().any(|l| l.contains("entry_search")),
        "the GIN index answers: {plan:#?}"
    );
}
