//! The fetch-politeness state of feeds and hosts: interval in force,
//! Retry-After, pending permanent redirects, fetch-URL changes (with their
//! history), 410 disabling, and per-host throttling. Written in the same
//! transaction as the poll result it comes from (see `ingest`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Transaction};

use super::{format_time, parse_time, FeedId, Store, StoreError};
use crate::model::RedirectStep;

/// What one fetch changes in a feed's politeness state.
#[derive(Debug, Clone, Default)]
pub struct FetchState {
    /// The interval now in force, in seconds, and why.
    pub interval: Option<(i64, String)>,
    /// The feed's own Retry-After deadline (`None` clears it).
    pub retry_after_until: Option<DateTime<Utc>>,
    /// The pending permanent redirect after this fetch.
    pub redirect: Option<RedirectStep>,
    /// The feed moves to a URL found by autodiscovery.
    pub discovered: Option<UrlChange>,
    /// Disable the feed (410 Gone), with the reason shown to the user.
    pub disable: Option<String>,
    /// The host's throttling state after this fetch, when it changed.
    pub host: Option<HostState>,
}

/// A new fetch URL and a note on why (kept in `feed_url_history`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlChange {
    /// The new fetch URL.
    pub url: String,
    /// E.g. which feeds autodiscovery found.
    pub note: Option<String>,
}

/// Throttling state of one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostState {
    /// Lower-case host name.
    pub name: String,
    /// Consecutive 429/503 answers.
    pub streak: u32,
    /// No fetch to the host before this time.
    pub throttled_until: Option<DateTime<Utc>>,
}

/// Writes `state` for `feed`, inside the poll's transaction.
pub(super) fn apply(
    tx: &Transaction,
    feed: FeedId,
    now: &str,
    state: &FetchState,
) -> rusqlite::Result<()> {
    if let Some((secs, reason)) = &state.interval {
        tx.prepare_cached(
            "UPDATE feed SET poll_interval_secs = ?2, interval_reason = ?3 WHERE id = ?1",
        )?
        .execute(params![feed.0, secs, reason])?;
    }
    tx.prepare_cached("UPDATE feed SET retry_after_until = ?2 WHERE id = ?1")?
        .execute(params![feed.0, state.retry_after_until.map(format_time)])?;
    match &state.redirect {
        None => {}
        Some(RedirectStep::Clear) => {
            tx.prepare_cached(
                "UPDATE feed SET redirect_url = NULL, redirect_count = 0 WHERE id = ?1",
            )?
            .execute([feed.0])?;
        }
        Some(RedirectStep::Pending { target, count }) => {
            tx.prepare_cached(
                "UPDATE feed SET redirect_url = ?2, redirect_count = ?3 WHERE id = ?1",
            )?
            .execute(params![feed.0, target, count])?;
        }
        Some(RedirectStep::Move { target }) => {
            change_url(tx, feed, target, "moved", None, now)?;
        }
    }
    if let Some(change) = &state.discovered {
        change_url(
            tx,
            feed,
            &change.url,
            "discovered",
            change.note.as_deref(),
            now,
        )?;
    }
    if let Some(reason) = &state.disable {
        tx.prepare_cached("UPDATE feed SET disabled_at = ?2, disabled_reason = ?3 WHERE id = ?1")?
            .execute(params![feed.0, now, reason])?;
    }
    if let Some(host) = &state.host {
        tx.prepare_cached(
            "INSERT INTO host (name, throttle_streak, throttled_until, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(name) DO UPDATE SET throttle_streak = excluded.throttle_streak,
                throttled_until = excluded.throttled_until, updated_at = excluded.updated_at",
        )?
        .execute(params![
            host.name,
            host.streak,
            host.throttled_until.map(format_time),
            now
        ])?;
    }
    Ok(())
}

/// Points the feed at `new_url` (NULL when that is its listed URL again),
/// records the change, and forgets any pending redirect.
fn change_url(
    tx: &Transaction,
    feed: FeedId,
    new_url: &str,
    reason: &str,
    note: Option<&str>,
    now: &str,
) -> rusqlite::Result<()> {
    let (url, current): (String, String) = tx
        .prepare_cached("SELECT url, COALESCE(fetch_url, url) FROM feed WHERE id = ?1")?
        .query_row([feed.0], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if current == new_url {
        return Ok(());
    }
    let fetch_url = (new_url != url).then_some(new_url);
    tx.prepare_cached(
        "UPDATE feed SET fetch_url = ?2, redirect_url = NULL, redirect_count = 0 WHERE id = ?1",
    )?
    .execute(params![feed.0, fetch_url])?;
    tx.prepare_cached(
        "INSERT INTO feed_url_history (feed_id, old_url, new_url, reason, note, changed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![feed.0, current, new_url, reason, note, now])?;
    Ok(())
}

/// One change of a feed's fetch URL.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UrlHistoryRow {
    /// The URL fetched before.
    pub old_url: String,
    /// The URL fetched since.
    pub new_url: String,
    /// `moved` (3 permanent redirects) or `discovered` (autodiscovery).
    pub reason: String,
    /// Details, e.g. the feeds autodiscovery found.
    pub note: Option<String>,
    /// When.
    pub changed_at: String,
}

impl Store {
    /// The throttling state of every host that has one.
    pub fn hosts(&self) -> Result<HashMap<String, HostState>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name, throttle_streak, throttled_until FROM host")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                let until: Option<String> = r.get(2)?;
                Ok(HostState {
                    name: r.get(0)?,
                    streak: r.get(1)?,
                    throttled_until: until.as_deref().and_then(parse_time),
                })
            })
            .map_err(|e| self.err(e))?;
        let mut hosts = HashMap::new();
        for row in rows {
            let row = row.map_err(|e| self.err(e))?;
            hosts.insert(row.name.clone(), row);
        }
        Ok(hosts)
    }

    /// Changes of one feed's fetch URL, oldest first.
    pub fn url_history(&self, feed_url: &str) -> Result<Vec<UrlHistoryRow>, StoreError> {
        let Some(id): Option<i64> = self
            .conn
            .query_row("SELECT id FROM feed WHERE url = ?1", [feed_url], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))?
        else {
            return Ok(Vec::new());
        };
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT old_url, new_url, reason, note, changed_at FROM feed_url_history
                 WHERE feed_id = ?1 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([id], |r| {
                Ok(UrlHistoryRow {
                    old_url: r.get(0)?,
                    new_url: r.get(1)?,
                    reason: r.get(2)?,
                    note: r.get(3)?,
                    changed_at: r.get(4)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FeedConfig;
    use crate::fetch::Exchange;
    use crate::store::{FeedOutcome, FeedUpdate};

    fn store_with(url: &str) -> (tempfile::TempDir, Store, FeedId) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(&dir.path().join("ff.db")).expect("open");
        let feed = FeedConfig {
            url: url.to_string(),
            title: None,
            interval: None,
            ..FeedConfig::default()
        };
        store.sync_feeds(&[feed], Utc::now()).expect("sync");
        let id = store.due_feeds(Utc::now(), true).expect("due")[0].id;
        (dir, store, id)
    }

    fn record(store: &mut Store, id: FeedId, fetch: FetchState) {
        store
            .record(FeedUpdate {
                feed: id,
                fetched_at: Utc::now(),
                exchange: Exchange::default(),
                next_due: Utc::now(),
                outcome: FeedOutcome::Failed { error: "x".into() },
                fetch,
            })
            .expect("record");
    }

    #[test]
    fn a_move_changes_the_fetch_url_and_keeps_history() {
        let (_dir, mut store, id) = store_with("https://old.example/rss");
        record(
            &mut store,
            id,
            FetchState {
                redirect: Some(RedirectStep::Move {
                    target: "https://new.example/rss".into(),
                }),
                ..Default::default()
            },
        );
        let due = store.due_feeds(Utc::now(), true).expect("due");
        assert_eq!(due[0].fetch_url(), "https://new.example/rss");
        assert_eq!(due[0].url, "https://old.example/rss");
        let history = store
            .url_history("https://old.example/rss")
            .expect("history");
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].old_url, "https://old.example/rss");
        assert_eq!(history[0].reason, "moved");

        // Listing the new URL in the config adopts the same feed.
        let moved = FeedConfig {
            url: "https://new.example/rss".into(),
            title: None,
            interval: None,
            ..FeedConfig::default()
        };
        let report = store.sync_feeds(&[moved], Utc::now()).expect("sync");
        assert_eq!((report.added, report.deactivated), (0, 0));
        let due = store.due_feeds(Utc::now(), true).expect("due");
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].id, id);
        assert_eq!(due[0].url, "https://new.example/rss");
        assert_eq!(due[0].fetch_url(), "https://new.example/rss");
    }

    #[test]
    fn disabled_feeds_are_not_due_until_relisted_and_hosts_round_trip() {
        let (_dir, mut store, id) = store_with("https://gone.example/rss");
        let until = Utc::now() + chrono::TimeDelta::hours(1);
        record(
            &mut store,
            id,
            FetchState {
                disable: Some("HTTP 410 Gone".into()),
                host: Some(HostState {
                    name: "gone.example".into(),
                    streak: 2,
                    throttled_until: Some(until),
                }),
                ..Default::default()
            },
        );
        assert!(store.due_feeds(Utc::now(), true).expect("due").is_empty());
        let hosts = store.hosts().expect("hosts");
        assert_eq!(hosts["gone.example"].streak, 2);
        assert_eq!(
            hosts["gone.example"].throttled_until.map(format_time),
            Some(format_time(until))
        );
        // Removed from the config, then listed again: enabled.
        store.sync_feeds(&[], Utc::now()).expect("sync");
        let feed = FeedConfig {
            url: "https://gone.example/rss".into(),
            title: None,
            interval: None,
            ..FeedConfig::default()
        };
        store.sync_feeds(&[feed], Utc::now()).expect("sync");
        assert_eq!(store.due_feeds(Utc::now(), true).expect("due").len(), 1);
    }
}
