//! Per-host politeness during a pass: at most `[poll] per_host` fetches in
//! flight to one host, and a host that answered 429/503 several times in a
//! row is paused as a whole (its state is loaded from and saved to the
//! database, so it survives restarts and one-shot `feedfold poll` runs).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;

use super::policy;
use crate::store::HostState;

pub use crate::model::host_of;

/// Connection slots and throttling state of every host seen.
#[derive(Debug)]
pub struct Hosts {
    per_host: std::sync::atomic::AtomicUsize,
    slots: Mutex<HashMap<String, Arc<Semaphore>>>,
    state: Mutex<HashMap<String, HostState>>,
}

impl Hosts {
    /// No host known yet; `per_host` fetches in flight to each.
    pub fn new(per_host: usize) -> Hosts {
        Hosts {
            per_host: std::sync::atomic::AtomicUsize::new(per_host.max(1)),
            slots: Mutex::new(HashMap::new()),
            state: Mutex::new(HashMap::new()),
        }
    }

    /// Changes the per-host limit (a config reload). Called between passes:
    /// the hosts' slots are rebuilt at the new size.
    pub fn set_per_host(&self, per_host: usize) {
        let per_host = per_host.max(1);
        let old = self
            .per_host
            .swap(per_host, std::sync::atomic::Ordering::Relaxed);
        if old != per_host {
            self.slots
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
        }
    }

    /// The slots of `host`: at most `per_host` fetches in flight to it.
    pub fn slots(&self, host: &str) -> Arc<Semaphore> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots
            .entry(host.to_string())
            .or_insert_with(|| {
                Arc::new(Semaphore::new(
                    self.per_host.load(std::sync::atomic::Ordering::Relaxed),
                ))
            })
            .clone()
    }

    /// Replaces the throttling state with the stored one (at a pass's start).
    pub fn load(&self, stored: HashMap<String, HostState>) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = stored;
    }

    /// Until when `host` is paused, if it is at `now`.
    pub fn throttled_until(&self, host: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state
            .get(host)
            .and_then(|h| h.throttled_until)
            .filter(|until| *until > now)
    }

    /// Records one response status from `host`; returns the new state when
    /// it changed (to be saved with the poll result).
    pub fn observe(
        &self,
        host: &str,
        status: u16,
        retry_after: Option<Duration>,
        now: DateTime<Utc>,
        min_interval: Duration,
        max_backoff: Duration,
    ) -> Option<HostState> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = state.entry(host.to_string()).or_insert_with(|| HostState {
            name: host.to_string(),
            streak: 0,
            throttled_until: None,
        });
        if matches!(status, 429 | 503) {
            entry.streak = entry.streak.saturating_add(1);
            if let Some(pause) =
                policy::host_pause(entry.streak, retry_after, min_interval, max_backoff)
            {
                let until = policy::after(now, pause);
                entry.throttled_until = Some(entry.throttled_until.map_or(until, |t| t.max(until)));
            }
            return Some(entry.clone());
        }
        if entry.streak == 0 {
            return None;
        }
        entry.streak = 0;
        Some(entry.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_is_lower_case_without_port() {
        assert_eq!(
            host_of("https://Feeds.Example.COM:8443/rss"),
            "feeds.example.com"
        );
        assert_eq!(host_of("http://127.0.0.1:9/x"), "127.0.0.1");
        assert_eq!(host_of("not a url"), "");
    }

    #[test]
    fn a_streak_of_throttling_answers_pauses_the_host_and_a_success_resets_it() {
        let hosts = Hosts::new(2);
        let now = Utc::now();
        let min = Duration::from_secs(300);
        let cap = Duration::from_secs(86400);
        let first = hosts
            .observe("h", 429, Some(Duration::from_secs(60)), now, min, cap)
            .expect("changed");
        assert_eq!((first.streak, first.throttled_until), (1, None));
        assert_eq!(hosts.throttled_until("h", now), None);
        let second = hosts
            .observe("h", 503, None, now, min, cap)
            .expect("changed");
        assert_eq!(second.streak, 2);
        assert_eq!(
            hosts.throttled_until("h", now),
            Some(now + chrono::TimeDelta::seconds(300))
        );
        assert_eq!(hosts.throttled_until("other", now), None);
        let reset = hosts
            .observe("h", 200, None, now, min, cap)
            .expect("changed");
        assert_eq!(reset.streak, 0);
        assert_eq!(hosts.observe("h", 200, None, now, min, cap), None);
        // The pause already decided stays until it ends.
        assert!(hosts.throttled_until("h", now).is_some());
    }
}
