//! Feed bytes → parse (with recovery) → normalise → fingerprint → store, the
//! whole ingest path. Must never panic; a document that parses must parse to
//! the same identities every time; after every write the database must be
//! consistent (integrity, lineage, no entry stored twice).
#![no_main]

use std::cell::RefCell;
use std::path::Path;

use chrono::Utc;
use feedfold::config::FeedConfig;
use feedfold::fetch::{Exchange, Validators};
use feedfold::parse;
use feedfold::store::{FeedId, FeedOutcome, FeedUpdate, Store};
use libfuzzer_sys::fuzz_target;

const CONTENT_TYPES: [Option<&str>; 4] = [
    None,
    Some("application/rss+xml; charset=utf-8"),
    Some("text/xml; charset=iso-8859-1"),
    Some("application/feed+json"),
];

thread_local! {
    static STORE: RefCell<Option<(Store, FeedId, u32)>> = const { RefCell::new(None) };
}

fn fresh_store() -> (Store, FeedId, u32) {
    let mut store = Store::open(Path::new(":memory:")).expect("in-memory database");
    let feed = FeedConfig {
        url: "https://fuzz.example/feed".into(),
        title: None,
        interval: None,
        tags: Vec::new(),
        origin: Default::default(),
    };
    store.sync_feeds(&[feed], Utc::now()).expect("sync");
    let id = store.due_feeds(Utc::now(), true).expect("due")[0].id;
    (store, id, 0)
}

fuzz_target!(
    init: {
        // A panic inside feed-rs is contained by `parse` (the feed is read
        // another way or reported as unreadable): libfuzzer-sys's hook would
        // abort on it anyway. A panic that escapes still aborts the run.
        std::panic::set_hook(Box::new(|_| {}));
    },
    |data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];
    let Ok(feed) = parse::parse(bytes, content_type, "https://fuzz.example/feed") else {
        return;
    };
    let again = parse::parse(bytes, content_type, "https://fuzz.example/feed")
        .expect("a document that parsed once parses again");
    let ids: Vec<_> = feed.entries.iter().map(|e| &e.identity).collect();
    let ids_again: Vec<_> = again.entries.iter().map(|e| &e.identity).collect();
    assert_eq!(ids, ids_again, "identities are stable across parses");
    STORE.with(|cell| {
        let mut slot = cell.borrow_mut();
        // A fresh database now and then keeps memory flat over long runs.
        if slot.as_ref().is_none_or(|(_, _, n)| *n >= 500) {
            *slot = Some(fresh_store());
        }
        let (store, id, n) = slot.as_mut().expect("store");
        *n += 1;
        let update = FeedUpdate {
            feed: *id,
            fetched_at: Utc::now(),
            exchange: Exchange::default(),
            next_due: Utc::now(),
            fetch: Default::default(),
            outcome: FeedOutcome::Parsed {
                feed,
                validators: Validators::default(),
                analyses: Vec::new(),
            },
        };
        store.record(update).expect("recording a parsed feed succeeds");
        let problems = store.check_consistency().expect("check");
        assert!(problems.is_empty(), "{problems:?}");
    });
});
