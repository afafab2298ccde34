//! What one fetch means for its feed: the interval in force, the next due
//! time (with backoff and Retry-After after a failure), the count of
//! permanent redirects, and 410 disabling. A pure function of what was
//! fetched and one snapshot of the `[poll]` settings, built from the rules
//! in [`policy`]; the pass does the I/O and the logging around it.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::policy::{self, Asks, Limits};
use crate::config::PollConfig;
use crate::fetch::Exchange;
use crate::store::{DueFeed, FeedOutcome, FetchState};

/// The `[poll]` settings a decision reads. Taken once per fetch, so that a
/// reload landing while a feed is being decided cannot mix old and new values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// `poll.interval`.
    pub interval: Duration,
    /// `poll.min_interval`.
    pub min_interval: Duration,
    /// `poll.max_interval`.
    pub max_interval: Duration,
    /// `poll.max_backoff`.
    pub max_backoff: Duration,
}

impl From<&PollConfig> for Settings {
    fn from(poll: &PollConfig) -> Settings {
        Settings {
            interval: poll.interval,
            min_interval: poll.min_interval,
            max_interval: poll.max_interval,
            max_backoff: poll.max_backoff,
        }
    }
}

/// What [`decide`] made of a fetch.
#[derive(Debug)]
pub struct Decision {
    /// The outcome to store; a failure's message may say more (Retry-After,
    /// 410) than the fetch's.
    pub outcome: FeedOutcome,
    /// When the feed is due again.
    pub next_due: DateTime<Utc>,
    /// The state to store, with the interval, Retry-After deadline,
    /// redirect count and disabling filled in.
    pub fetch: FetchState,
}

/// Applies the politeness policy to one fetch of `feed` at `now`. `fetch`
/// comes in with what the pass already knows (autodiscovery, the host's
/// throttling), which is kept; `draw`, uniform in `[0, 1)`, is the jitter of
/// a backoff.
pub fn decide(
    settings: &Settings,
    feed: &DueFeed,
    outcome: FeedOutcome,
    exchange: &Exchange,
    mut fetch: FetchState,
    now: DateTime<Utc>,
    draw: f64,
) -> Decision {
    let limits = Limits {
        default: settings.interval,
        min: settings.min_interval,
        max: settings.max_interval,
    };
    let seconds = |s: i64| Duration::from_secs(u64::try_from(s).unwrap_or(0));
    let pinned = feed.interval_secs.filter(|s| *s >= 0).map(seconds);
    let current = feed
        .poll_interval
        .as_ref()
        .filter(|(s, _)| *s >= 0)
        .map(|(s, _)| seconds(*s));
    let succeeded = !matches!(outcome, FeedOutcome::Failed { .. });
    // A discovered feed starts at a new URL: redirects seen on the way to
    // the page say nothing about it.
    if fetch.discovered.is_none() {
        fetch.redirect = Some(policy::track_redirect(
            feed.redirect.as_ref().map(|(u, n)| (u.as_str(), *n)),
            exchange.permanent_redirect(),
            succeeded,
        ));
    }
    let after = |d: Duration| policy::after(now, d);
    let (outcome, next_due) = match outcome {
        FeedOutcome::Parsed {
            feed: doc,
            validators,
            analyses,
        } => {
            let dates: Vec<DateTime<Utc>> = doc
                .entries
                .iter()
                .filter_map(|e| e.published.or(e.updated))
                .collect();
            let asks = Asks {
                ttl: doc.ttl,
                update_period: doc.update_period,
                freshness: exchange.freshness,
            };
            let iv = policy::interval(pinned, &limits, &dates, now, &asks);
            let next = after(iv.every);
            fetch.interval = Some((secs(iv.every), iv.reason));
            (
                FeedOutcome::Parsed {
                    feed: doc,
                    validators,
                    analyses,
                },
                next,
            )
        }
        FeedOutcome::NotModified { validators } => {
            // Nothing new to measure: the interval in force stays.
            let iv = match (pinned, &feed.poll_interval) {
                (Some(p), _) => Some(policy::interval(
                    Some(p),
                    &limits,
                    &[],
                    now,
                    &Asks::default(),
                )),
                (None, Some((secs, reason))) => Some(policy::Interval {
                    every: seconds(*secs),
                    reason: reason.clone(),
                }),
                (None, None) => None,
            };
            let every = iv.as_ref().map_or(settings.interval, |i| i.every);
            fetch.interval = iv.map(|i| (secs(i.every), i.reason));
            (FeedOutcome::NotModified { validators }, after(every))
        }
        FeedOutcome::Failed { mut error } => {
            let failures = u32::try_from(feed.error_count.saturating_add(1)).unwrap_or(u32::MAX);
            let base = pinned.or(current).unwrap_or(settings.interval);
            let mut delay = policy::backoff(
                base,
                failures,
                settings.max_backoff,
                settings.min_interval,
                draw,
            );
            match exchange.status {
                Some(status @ (429 | 503)) => match exchange.retry_after {
                    Some(wait) => {
                        let wait = wait.min(policy::LONGEST_ASK);
                        let until = after(wait);
                        fetch.retry_after_until = Some(until);
                        delay = delay.max(wait);
                        error = format!(
                            "{error}; the server asked to retry after {} (not before {})",
                            policy::human(wait),
                            crate::store::format_time(until)
                        );
                    }
                    None if status == 429 => {
                        error = format!("{error} (no Retry-After; backing off)");
                    }
                    None => {}
                },
                Some(410) => {
                    let reason = "HTTP 410 Gone: the server says this feed was removed for good; \
                                  it is no longer polled (list it again later to retry)"
                        .to_string();
                    fetch.disable = Some(reason.clone());
                    error = reason;
                }
                _ => {}
            }
            (FeedOutcome::Failed { error }, after(delay))
        }
    };
    Decision {
        outcome,
        next_due,
        fetch,
    }
}

/// Whole seconds, as the store keeps intervals.
fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::fetch::Validators;
    use crate::model::RedirectStep;
    use crate::parse::{ParsedEntry, ParsedFeed};
    use crate::store::{FeedId, UrlChange};

    const MIN: Duration = Duration::from_secs(60);
    const H: Duration = Duration::from_secs(3600);
    const SETTINGS: Settings = Settings {
        interval: Duration::from_secs(1800),
        min_interval: Duration::from_secs(300),
        max_interval: Duration::from_secs(24 * 3600),
        max_backoff: Duration::from_secs(24 * 3600),
    };

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-02-27T12:00:00Z")
            .expect("date")
            .with_timezone(&Utc)
    }

    fn feed() -> DueFeed {
        DueFeed {
            id: FeedId(1),
            url: "https://example.com/feed".into(),
            validators: Validators::default(),
            interval_secs: None,
            fetch_url: None,
            poll_interval: None,
            error_count: 0,
            redirect: None,
            retry_after_until: None,
        }
    }

    /// A parsed document with an item every `gap`, the newest just now.
    fn parsed(gap: Duration, items: u32) -> FeedOutcome {
        let entries = (0..items)
            .map(|i| ParsedEntry {
                published: Some(now() - chrono::TimeDelta::from_std(gap * i).expect("delta")),
                ..ParsedEntry::default()
            })
            .collect();
        FeedOutcome::Parsed {
            feed: ParsedFeed {
                entries,
                ..ParsedFeed::default()
            },
            validators: Validators::default(),
            analyses: Vec::new(),
        }
    }

    fn failed() -> FeedOutcome {
        FeedOutcome::Failed {
            error: "HTTP 503".into(),
        }
    }

    fn status(code: u16) -> Exchange {
        Exchange {
            status: Some(code),
            ..Exchange::default()
        }
    }

    fn run(feed: &DueFeed, outcome: FeedOutcome, exchange: &Exchange, draw: f64) -> Decision {
        decide(
            &SETTINGS,
            feed,
            outcome,
            exchange,
            FetchState::default(),
            now(),
            draw,
        )
    }

    fn error(d: &Decision) -> &str {
        match &d.outcome {
            FeedOutcome::Failed { error } => error,
            other => panic!("not a failure: {other:?}"),
        }
    }

    #[test]
    fn a_success_sets_the_measured_interval_and_the_next_due_time() {
        let d = run(&feed(), parsed(2 * H, 10), &status(200), 0.5);
        assert_eq!(d.next_due, now() + chrono::TimeDelta::hours(1));
        let (every, reason) = d.fetch.interval.expect("interval");
        assert_eq!(every, 3600);
        assert!(reason.starts_with("an item every 2 hours"), "{reason}");
        assert_eq!(d.fetch.redirect, Some(RedirectStep::Clear));
        assert_eq!(d.fetch.disable, None);
    }

    #[test]
    fn not_modified_keeps_the_interval_in_force() {
        let mut f = feed();
        f.poll_interval = Some((7200, "an item every 4 hours".into()));
        let not_modified = || FeedOutcome::NotModified {
            validators: Validators::default(),
        };
        let d = run(&f, not_modified(), &status(304), 0.5);
        assert_eq!(d.next_due, now() + chrono::TimeDelta::hours(2));
        assert_eq!(
            d.fetch.interval,
            Some((7200, "an item every 4 hours".into()))
        );
        // Never measured: the poll.interval, nothing stored.
        let d = run(&feed(), not_modified(), &status(304), 0.5);
        assert_eq!(d.next_due, now() + chrono::TimeDelta::minutes(30));
        assert_eq!(d.fetch.interval, None);
        // Pinned in the config: the pin, with its reason.
        f.interval_secs = Some(60);
        let d = run(&f, not_modified(), &status(304), 0.5);
        assert_eq!(d.next_due, now() + chrono::TimeDelta::minutes(1));
        assert!(d.fetch.interval.expect("pinned").1.contains("pinned"));
    }

    #[test]
    fn a_failure_backs_off_from_the_interval_in_force() {
        let mut f = feed();
        f.poll_interval = Some((3600, "hourly".into()));
        f.error_count = 2;
        // Third failure in a row: the window is 4 × 1 h; half of it.
        let d = run(&f, failed(), &status(500), 0.5);
        assert_eq!(d.next_due, now() + chrono::TimeDelta::hours(2));
        assert_eq!(error(&d), "HTTP 503");
        assert_eq!(d.fetch.interval, None, "a failure measures nothing");
        // Full jitter reaches down to poll.min_interval, not to zero.
        let d = run(&f, failed(), &status(500), 0.0);
        assert_eq!(d.next_due, now() + chrono::TimeDelta::minutes(5));
    }

    #[test]
    fn retry_after_is_honoured_and_said() {
        let exchange = Exchange {
            retry_after: Some(6 * H),
            ..status(503)
        };
        let d = run(&feed(), failed(), &exchange, 0.0);
        let until = now() + chrono::TimeDelta::hours(6);
        assert_eq!(d.fetch.retry_after_until, Some(until));
        assert_eq!(d.next_due, until);
        assert!(
            error(&d).contains("the server asked to retry after 6h"),
            "{}",
            error(&d)
        );
        // A Retry-After of a year is read as a week.
        let exchange = Exchange {
            retry_after: Some(365 * 24 * H),
            ..status(429)
        };
        let d = run(&feed(), failed(), &exchange, 0.0);
        assert_eq!(d.next_due, policy::after(now(), policy::LONGEST_ASK));
        // A 429 without one says so.
        let d = run(&feed(), failed(), &status(429), 0.0);
        assert!(error(&d).ends_with("(no Retry-After; backing off)"));
        assert_eq!(d.fetch.retry_after_until, None);
    }

    #[test]
    fn gone_disables_the_feed() {
        let d = run(&feed(), failed(), &status(410), 0.5);
        let reason = d.fetch.disable.clone().expect("disabled");
        assert!(reason.starts_with("HTTP 410 Gone"), "{reason}");
        assert_eq!(error(&d), reason);
    }

    #[test]
    fn permanent_redirects_are_counted_unless_the_feed_was_discovered() {
        let mut f = feed();
        f.redirect = Some(("https://new.example/feed".into(), 2));
        let exchange = Exchange {
            redirects: vec![(301, "https://new.example/feed".into())],
            ..status(200)
        };
        let d = run(&f, parsed(H, 5), &exchange, 0.5);
        assert_eq!(
            d.fetch.redirect,
            Some(RedirectStep::Move {
                target: "https://new.example/feed".into()
            })
        );
        let discovered = FetchState {
            discovered: Some(UrlChange {
                url: "https://new.example/rss".into(),
                note: None,
            }),
            ..FetchState::default()
        };
        let d = decide(
            &SETTINGS,
            &f,
            parsed(H, 5),
            &exchange,
            discovered,
            now(),
            0.5,
        );
        assert_eq!(d.fetch.redirect, None);
        assert!(d.fetch.discovered.is_some(), "what the pass knew is kept");
    }

    #[test]
    fn one_snapshot_of_the_settings_decides() {
        // The bounds come from the settings passed in, not from a live config.
        let tight = Settings {
            max_interval: 10 * MIN,
            ..SETTINGS
        };
        let d = decide(
            &tight,
            &feed(),
            parsed(2 * H, 10),
            &status(200),
            FetchState::default(),
            now(),
            0.5,
        );
        assert_eq!(d.next_due, now() + chrono::TimeDelta::minutes(10));
        let poll = PollConfig {
            schedule: "0 */5 * * * *".into(),
            interval: H,
            concurrency: 1,
            min_interval: MIN,
            max_interval: 2 * H,
            max_backoff: 3 * H,
            per_host: 1,
            timeout: MIN,
            connect_timeout: MIN,
            max_redirects: 5,
        };
        assert_eq!(
            Settings::from(&poll),
            Settings {
                interval: H,
                min_interval: MIN,
                max_interval: 2 * H,
                max_backoff: 3 * H,
            }
        );
    }
}
