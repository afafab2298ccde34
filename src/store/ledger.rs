//! What the poller needs of a store, whichever it is: the due feeds, what
//! a feed already holds (to skip analysing unchanged items), and writing a
//! fetch's result. SQLite answers through its single writer thread
//! ([`StoreHandle`]); PostgreSQL through a worker's leases
//! ([`super::pg::PgLedger`]). The poll pipeline itself is the same code.

use std::collections::HashMap;
use std::future::Future;

use chrono::Utc;

use super::{DueFeed, FeedId, FeedUpdate, HostState, IngestReport, StoreError, StoreHandle};

/// The store as the poller sees it.
pub trait Ledger: Send + Sync + 'static {
    /// The feeds to fetch now (every active one with `all`, where the store
    /// allows it) and the hosts' throttling state.
    fn due(
        &self,
        all: bool,
    ) -> impl Future<Output = Result<(Vec<DueFeed>, HashMap<String, HostState>), StoreError>> + Send;

    /// For each `(identity, content hash)` of a feed's document, whether it
    /// is stored unchanged; and the feed's learned boilerplate (JSON).
    fn feed_context(
        &self,
        feed: FeedId,
        keys: Vec<(String, i64)>,
    ) -> impl Future<Output = Result<(Vec<bool>, Option<String>), StoreError>> + Send;

    /// Whether the feed may still be fetched now (checked after waiting
    /// for a slot): on a shared database, only while this process holds
    /// the feed's host.
    fn may_fetch(&self, _feed: FeedId) -> bool {
        true
    }

    /// Gives back a feed from [`Ledger::due`] that was not fetched (the
    /// pass stopped, the host was lost), so it is due again at once rather
    /// than after its claim runs out.
    fn release_claim(&self, _feed: FeedId) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Writes one fetch's result.
    fn record(
        &self,
        update: FeedUpdate,
    ) -> impl Future<Output = Result<IngestReport, StoreError>> + Send;
}

impl Ledger for StoreHandle {
    async fn due(
        &self,
        all: bool,
    ) -> Result<(Vec<DueFeed>, HashMap<String, HostState>), StoreError> {
        self.call(move |s| Ok((s.due_feeds(Utc::now(), all)?, s.hosts()?)))
            .await
    }

    async fn feed_context(
        &self,
        feed: FeedId,
        keys: Vec<(String, i64)>,
    ) -> Result<(Vec<bool>, Option<String>), StoreError> {
        self.call(move |s| {
            Ok((
                s.unchanged_entries(feed, &keys)?,
                s.boilerplate_model(feed)?,
            ))
        })
        .await
    }

    async fn record(&self, update: FeedUpdate) -> Result<IngestReport, StoreError> {
        StoreHandle::record(self, update).await
    }
}
