//! The politeness policy as pure functions of what was observed: the refresh
//! interval of a feed, the backoff after errors, the pause of a host that
//! answers 429/503, the moves of a feed after permanent redirects, and the
//! spreading of one host's feeds over a tick. No I/O and no clock: the caller
//! passes `now` and the random draw, so every rule is unit-tested here.
//! `docs/FETCHING.md` states the same rules as formulas.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::fetch::{Freshness, FreshnessSource};
pub use crate::model::RedirectStep;
use crate::output::{frequency, rough_duration};

/// The most recent items whose dates measure a feed's publishing rate.
pub const RATE_ITEMS: usize = 20;
/// Items published within this span count as one publication (a batch).
pub const BATCH: Duration = Duration::from_secs(60);
/// The longest wait a server or feed can impose (Retry-After, `<ttl>`,
/// max-age…): past this, a broken value would silence the feed for good.
pub const LONGEST_ASK: Duration = Duration::from_secs(7 * 24 * 3600);
/// Consecutive successful fetches through the same permanent redirect after
/// which the feed's fetch URL moves.
pub const REDIRECTS_TO_MOVE: u32 = 3;
/// Consecutive 429/503 answers from one host after which the whole host pauses.
pub const HOST_STREAK: u32 = 2;
/// No due time is set further ahead than this (config durations are not
/// bounded, and dates must stay representable).
pub const FARTHEST: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// `now + d`, with `d` capped at [`FARTHEST`].
pub fn after(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    let d = chrono::TimeDelta::from_std(d.min(FARTHEST)).unwrap_or_default();
    now.checked_add_signed(d).unwrap_or(now)
}

/// The bounds of the adaptive interval (`[poll]` settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `poll.interval`: used when a feed's rate cannot be measured.
    pub default: Duration,
    /// `poll.min_interval`.
    pub min: Duration,
    /// `poll.max_interval`.
    pub max: Duration,
}

/// What a feed document and its response ask for: never poll more often.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Asks {
    /// RSS `<ttl>`.
    pub ttl: Option<Duration>,
    /// `sy:updatePeriod` / `sy:updateFrequency`.
    pub update_period: Option<Duration>,
    /// `Cache-Control: max-age` or `Expires`.
    pub freshness: Option<Freshness>,
}

/// A refresh interval and the reason it is in force, as `feedfold feeds` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interval {
    /// How long after a fetch the feed is due again.
    pub every: Duration,
    /// Why, in a few words.
    pub reason: String,
}

/// Formats a duration the way the config writes them (`1h 30m`), rounded to
/// the second.
pub fn human(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

/// The interval of a feed that was just fetched with new content.
///
/// - A per-feed `interval` in the config pins it: nothing else applies.
/// - Otherwise half the typical gap between the feed's recent publications
///   (the median gap between the newest [`RATE_ITEMS`] distinct publication
///   times, or the silence since the newest if that is longer), clamped to
///   `[min, max]`; `poll.interval` when fewer than two dated items exist.
/// - Never below what the feed or server asks (`<ttl>`, `sy:updatePeriod`,
///   `max-age`/`Expires`), up to [`LONGEST_ASK`].
pub fn interval(
    pinned: Option<Duration>,
    limits: &Limits,
    dates: &[DateTime<Utc>],
    now: DateTime<Utc>,
    asks: &Asks,
) -> Interval {
    if let Some(every) = pinned {
        return Interval {
            every,
            reason: format!("checked {}, pinned in the config", frequency(every)),
        };
    }
    let mut chosen = match typical_gap(dates, now) {
        Some((gap, items)) => {
            let half = gap / 2;
            let every = half.clamp(limits.min, limits.max);
            // Measured spans are rounded ("9 years"): their exact figure
            // to the second says less than their size.
            let basis = if silence(dates, now) == gap {
                format!("quiet for {}", rough_duration(gap))
            } else {
                format!("an item every {} (over {items} items)", rough_duration(gap))
            };
            let bound = if every > half {
                ", the poll.min_interval"
            } else if every < half {
                ", the poll.max_interval"
            } else {
                ""
            };
            Interval {
                every,
                reason: format!("{basis}; checked {}{bound}", frequency(every)),
            }
        }
        None => {
            let every = limits.default.clamp(limits.min, limits.max);
            Interval {
                every,
                reason: format!(
                    "too few dated items to measure a rate; checked {}, the poll.interval",
                    frequency(every)
                ),
            }
        }
    };
    let freshness = asks.freshness.map(|f| {
        let what = match f.source {
            FreshnessSource::MaxAge => "Cache-Control max-age",
            FreshnessSource::Expires => "Expires",
        };
        (f.lifetime, what)
    });
    let candidates = [
        asks.ttl.map(|d| (d, "the feed's <ttl>")),
        asks.update_period
            .map(|d| (d, "the feed's sy:updatePeriod")),
        freshness,
    ];
    for (ask, what) in candidates.into_iter().flatten() {
        let ask = ask.min(LONGEST_ASK);
        if ask > chosen.every {
            chosen = Interval {
                every: ask,
                reason: format!("checked {}, as {what} asks", frequency(ask)),
            };
        }
    }
    chosen
}

/// How long ago the newest of `dates` was published (times in the future
/// count as now); zero without dates.
fn silence(dates: &[DateTime<Utc>], now: DateTime<Utc>) -> Duration {
    dates
        .iter()
        .map(|d| (*d).min(now))
        .max()
        .and_then(|newest| (now - newest).to_std().ok())
        .unwrap_or_default()
}

/// The typical gap between publications and how many publication times it
/// was measured over; `None` with fewer than two. Times in the future count
/// as now; times within [`BATCH`] of each other count once.
pub fn typical_gap(dates: &[DateTime<Utc>], now: DateTime<Utc>) -> Option<(Duration, usize)> {
    let mut times: Vec<DateTime<Utc>> = dates.iter().map(|d| (*d).min(now)).collect();
    times.sort_unstable_by(|a, b| b.cmp(a));
    let batch = chrono::TimeDelta::from_std(BATCH).unwrap_or_default();
    let mut events: Vec<DateTime<Utc>> = Vec::with_capacity(RATE_ITEMS);
    for t in times {
        if events.last().is_some_and(|last| *last - t < batch) {
            continue;
        }
        events.push(t);
        if events.len() == RATE_ITEMS {
            break;
        }
    }
    if events.len() < 2 {
        return None;
    }
    let mut gaps: Vec<Duration> = events
        .windows(2)
        .filter_map(|w| (w[0] - w[1]).to_std().ok())
        .collect();
    gaps.sort_unstable();
    let median = *gaps.get(gaps.len() / 2)?;
    Some((median.max(silence(dates, now)), events.len()))
}

/// The delay before retrying a feed after `failures` consecutive failures
/// (≥ 1): exponential backoff with full jitter. The window is the feed's
/// interval doubled per failure after the first, capped at `max_backoff`;
/// the delay is `draw` (uniform in `[0, 1)`) of the window, but never less
/// than `floor` (`poll.min_interval`) or the window, whichever is smaller.
pub fn backoff(
    interval: Duration,
    failures: u32,
    max_backoff: Duration,
    floor: Duration,
    draw: f64,
) -> Duration {
    let doublings = failures.saturating_sub(1).min(40);
    let window = interval
        .checked_mul(1u32 << doublings.min(31))
        .unwrap_or(Duration::MAX)
        .min(max_backoff);
    let delay = Duration::try_from_secs_f64(window.as_secs_f64() * draw.clamp(0.0, 1.0))
        .unwrap_or(window)
        .min(window);
    delay.max(floor.min(window))
}

/// How long a whole host pauses after `streak` consecutive 429/503 answers:
/// nothing below [`HOST_STREAK`]; then `min_interval` doubled per further
/// answer, capped at `max_backoff`, and at least the largest Retry-After the
/// host sent (up to [`LONGEST_ASK`]).
pub fn host_pause(
    streak: u32,
    retry_after: Option<Duration>,
    min_interval: Duration,
    max_backoff: Duration,
) -> Option<Duration> {
    if streak < HOST_STREAK {
        return None;
    }
    let doublings = (streak - HOST_STREAK).min(31);
    let pause = min_interval
        .checked_mul(1u32 << doublings)
        .unwrap_or(Duration::MAX)
        .min(max_backoff);
    Some(pause.max(retry_after.unwrap_or_default().min(LONGEST_ASK)))
}

/// Counts consecutive successful fetches through the same permanent
/// redirect. A fetch that failed, saw no permanent redirect, or saw a
/// different one starts the count again.
pub fn track_redirect(
    pending: Option<(&str, u32)>,
    seen: Option<&str>,
    succeeded: bool,
) -> RedirectStep {
    let Some(target) = seen.filter(|_| succeeded) else {
        return RedirectStep::Clear;
    };
    let count = match pending {
        Some((p, n)) if p == target => n.saturating_add(1),
        _ => 1,
    };
    if count >= REDIRECTS_TO_MOVE {
        RedirectStep::Move {
            target: target.to_string(),
        }
    } else {
        RedirectStep::Pending {
            target: target.to_string(),
            count,
        }
    }
}

/// Start offsets that spread each host's feeds evenly over `window`: the
/// k-th of a host's n feeds (in the given order) starts at `k × window / n`,
/// so different hosts start together but one host never gets a burst.
pub fn spread<S: AsRef<str>>(hosts: &[S], window: Duration) -> Vec<Duration> {
    let mut totals: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
    for h in hosts {
        *totals.entry(h.as_ref()).or_default() += 1;
    }
    let mut seen: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
    hosts
        .iter()
        .map(|h| {
            let k = seen.entry(h.as_ref()).or_default();
            let n = totals.get(h.as_ref()).copied().unwrap_or(1).max(1);
            let offset = window * *k / n;
            *k += 1;
            offset
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);
    const H: Duration = Duration::from_secs(3600);
    const LIMITS: Limits = Limits {
        default: Duration::from_secs(1800),
        min: Duration::from_secs(300),
        max: Duration::from_secs(24 * 3600),
    };

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-02-27T12:00:00Z")
            .expect("date")
            .with_timezone(&Utc)
    }

    /// Items published every `gap`, the newest `first_ago` before now.
    fn every(gap: Duration, n: usize, first_ago: Duration) -> Vec<DateTime<Utc>> {
        (0..n)
            .map(|i| {
                now() - chrono::TimeDelta::from_std(first_ago + gap * i as u32).expect("delta")
            })
            .collect()
    }

    #[test]
    fn rate_is_half_the_median_gap() {
        let iv = interval(
            None,
            &LIMITS,
            &every(2 * H, 10, MIN),
            now(),
            &Asks::default(),
        );
        assert_eq!(iv.every, H);
        assert_eq!(
            iv.reason,
            "an item every 2 hours (over 10 items); checked hourly"
        );
        // One long silence in the middle does not move the median.
        let mut dates = every(2 * H, 10, MIN);
        dates.push(dates[9] - chrono::TimeDelta::days(30));
        assert_eq!(
            interval(None, &LIMITS, &dates, now(), &Asks::default()).every,
            H
        );
    }

    #[test]
    fn rate_is_clamped_to_min_and_max() {
        let fast = interval(
            None,
            &LIMITS,
            &every(2 * MIN, 20, MIN),
            now(),
            &Asks::default(),
        );
        assert_eq!(fast.every, LIMITS.min);
        assert!(fast.reason.contains("min_interval"), "{}", fast.reason);
        let slow = interval(
            None,
            &LIMITS,
            &every(10 * 24 * H, 5, H),
            now(),
            &Asks::default(),
        );
        assert_eq!(slow.every, LIMITS.max);
        assert!(slow.reason.contains("max_interval"), "{}", slow.reason);
    }

    #[test]
    fn a_feed_gone_quiet_is_polled_less() {
        // Hourly items, but the newest is ten days old.
        let iv = interval(
            None,
            &LIMITS,
            &every(H, 20, 10 * 24 * H),
            now(),
            &Asks::default(),
        );
        assert_eq!(iv.every, LIMITS.max);
        assert_eq!(
            iv.reason,
            "quiet for 10 days; checked daily, the poll.max_interval"
        );
    }

    #[test]
    fn batches_count_once_and_undated_feeds_use_the_default() {
        // Five items stamped within seconds, daily: one publication a day.
        let mut dates = Vec::new();
        for day in 0..4 {
            for s in 0..5 {
                dates.push(
                    now() - chrono::TimeDelta::hours(day * 24 + 1) + chrono::TimeDelta::seconds(s),
                );
            }
        }
        let (gap, n) = typical_gap(&dates, now()).expect("rate");
        assert_eq!((gap, n), (24 * H, 4));
        let iv = interval(None, &LIMITS, &[], now(), &Asks::default());
        assert_eq!(iv.every, LIMITS.default);
        assert!(iv.reason.contains("poll.interval"), "{}", iv.reason);
        assert_eq!(typical_gap(&every(H, 1, H), now()), None);
    }

    #[test]
    fn future_dates_count_as_now() {
        let dates = vec![
            now() + chrono::TimeDelta::days(365),
            now() - chrono::TimeDelta::hours(4),
        ];
        assert_eq!(typical_gap(&dates, now()), Some((4 * H, 2)));
    }

    #[test]
    fn the_feed_and_server_set_a_floor() {
        let fast = every(2 * MIN, 20, MIN);
        let asks = Asks {
            ttl: Some(H),
            update_period: Some(2 * H),
            freshness: Some(Freshness {
                lifetime: 30 * MIN,
                source: FreshnessSource::MaxAge,
            }),
        };
        let iv = interval(None, &LIMITS, &fast, now(), &asks);
        assert_eq!(iv.every, 2 * H);
        assert_eq!(
            iv.reason,
            "checked every 2 hours, as the feed's sy:updatePeriod asks"
        );
        let iv = interval(
            None,
            &LIMITS,
            &fast,
            now(),
            &Asks {
                freshness: Some(Freshness {
                    lifetime: 3 * H,
                    source: FreshnessSource::Expires,
                }),
                ..Asks::default()
            },
        );
        assert_eq!(
            (iv.every, iv.reason.as_str()),
            (3 * H, "checked every 3 hours, as Expires asks")
        );
        // A ttl above max_interval is honoured, up to a week.
        let iv = interval(
            None,
            &LIMITS,
            &fast,
            now(),
            &Asks {
                ttl: Some(48 * H),
                ..Asks::default()
            },
        );
        assert_eq!(iv.every, 48 * H);
        let iv = interval(
            None,
            &LIMITS,
            &fast,
            now(),
            &Asks {
                ttl: Some(10_000 * H),
                ..Asks::default()
            },
        );
        assert_eq!(iv.every, LONGEST_ASK);
        // An ask below the rate changes nothing.
        let iv = interval(
            None,
            &LIMITS,
            &every(4 * H, 5, MIN),
            now(),
            &Asks {
                ttl: Some(H),
                ..Asks::default()
            },
        );
        assert_eq!(iv.every, 2 * H);
    }

    #[test]
    fn a_pinned_interval_wins() {
        let asks = Asks {
            ttl: Some(5 * H),
            ..Asks::default()
        };
        let iv = interval(Some(MIN), &LIMITS, &every(MIN, 20, MIN), now(), &asks);
        assert_eq!(iv.every, MIN);
        assert!(iv.reason.contains("pinned"), "{}", iv.reason);
    }

    #[test]
    fn backoff_doubles_with_full_jitter_up_to_the_cap() {
        let cap = 24 * H;
        let floor = 5 * MIN;
        // The window: interval, 2×, 4×, … capped.
        assert_eq!(backoff(H, 1, cap, floor, 0.999_999).as_secs(), 3599);
        assert_eq!(backoff(H, 2, cap, floor, 0.5), H);
        assert_eq!(backoff(H, 3, cap, floor, 0.5), 2 * H);
        assert_eq!(backoff(H, 10, cap, floor, 0.5), 12 * H);
        assert_eq!(backoff(H, 1000, cap, floor, 0.5), 12 * H);
        // Full jitter reaches down to the floor, not to zero.
        assert_eq!(backoff(H, 3, cap, floor, 0.0), floor);
        // Never more than the cap, whatever the draw.
        for i in 0..100 {
            let d = backoff(H, 7, cap, floor, f64::from(i) / 100.0);
            assert!(d >= floor && d <= cap, "{d:?}");
        }
        // A pinned 1-minute feed backs off from 1 minute.
        assert_eq!(backoff(MIN, 1, cap, floor, 0.0), MIN);
    }

    #[test]
    fn a_host_pauses_only_after_a_streak() {
        assert_eq!(host_pause(1, Some(H), 5 * MIN, 24 * H), None);
        assert_eq!(host_pause(2, None, 5 * MIN, 24 * H), Some(5 * MIN));
        assert_eq!(host_pause(4, None, 5 * MIN, 24 * H), Some(20 * MIN));
        assert_eq!(host_pause(2, Some(H), 5 * MIN, 24 * H), Some(H));
        assert_eq!(host_pause(60, None, 5 * MIN, 24 * H), Some(24 * H));
        assert_eq!(
            host_pause(2, Some(1000 * H), 5 * MIN, 24 * H),
            Some(LONGEST_ASK)
        );
    }

    #[test]
    fn three_identical_permanent_redirects_in_a_row_move_the_feed() {
        let s1 = track_redirect(None, Some("https://new/"), true);
        assert_eq!(
            s1,
            RedirectStep::Pending {
                target: "https://new/".into(),
                count: 1
            }
        );
        let s2 = track_redirect(Some(("https://new/", 1)), Some("https://new/"), true);
        assert_eq!(
            s2,
            RedirectStep::Pending {
                target: "https://new/".into(),
                count: 2
            }
        );
        let s3 = track_redirect(Some(("https://new/", 2)), Some("https://new/"), true);
        assert_eq!(
            s3,
            RedirectStep::Move {
                target: "https://new/".into()
            }
        );
        // A different target starts again; a failure or a direct answer clears.
        assert_eq!(
            track_redirect(Some(("https://new/", 2)), Some("https://other/"), true),
            RedirectStep::Pending {
                target: "https://other/".into(),
                count: 1
            }
        );
        assert_eq!(
            track_redirect(Some(("https://new/", 2)), Some("https://new/"), false),
            RedirectStep::Clear
        );
        assert_eq!(
            track_redirect(Some(("https://new/", 2)), None, true),
            RedirectStep::Clear
        );
    }

    #[test]
    fn huge_configured_durations_do_not_overflow() {
        let huge = Duration::from_secs(u64::MAX / 2);
        assert!(backoff(huge, 50, huge, MIN, 0.999_999) <= huge);
        assert_eq!(after(now(), huge), after(now(), FARTHEST));
        assert!(after(now(), huge) > now());
        assert_eq!(host_pause(100, None, huge, huge), Some(huge));
    }

    #[test]
    fn spread_staggers_each_host_separately() {
        let w = Duration::from_secs(60);
        let offsets = spread(&["a", "b", "a", "a", "c", "b"], w);
        let s = |n| Duration::from_secs(n);
        assert_eq!(offsets, [s(0), s(0), s(20), s(40), s(0), s(30)]);
        assert_eq!(
            spread(&["a", "a"], Duration::ZERO),
            [Duration::ZERO, Duration::ZERO]
        );
    }
}
