//! Cron expressions, read one way. tokio-cron-scheduler fires the daemon's
//! jobs (`poll.schedule`, `retention.schedule`) and parses them with croner:
//! six fields, seconds first, a day matching only when both day of month and
//! day of week match. Config validation and the daemon's spread window read
//! expressions through [`parse`], with those same settings, so an expression
//! the config accepts is one the scheduler accepts and fires on the same
//! times; a test below holds the two to it.
//!
//! A module of its own, with no dependency inside the crate, because both
//! `config` and `schedule` need it and `schedule` already depends on `config`.

use std::time::Duration;

use chrono::{DateTime, Utc};
pub use croner::Cron;

/// Why a cron expression was refused, in the words of the config error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid cron expression {expr:?}{why}; expected six fields with seconds first, e.g. \"0 */5 * * * *\""
)]
pub struct CronError {
    /// The expression as written.
    pub expr: String,
    /// croner's reason, as ` (…)` (lower case, no final full stop), or empty.
    why: String,
}

/// Reads `expr` as tokio-cron-scheduler does (`Job::new_async` with its
/// default features): seconds required, `dom_and_dow`, nicknames such as
/// `@daily` allowed.
pub fn parse(expr: &str) -> Result<Cron, CronError> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr)
        .map_err(|e| {
            let e = e.to_string();
            // croner prefixes every message with its variant's name, which
            // says nothing to someone editing a config file.
            let e = ["Invalid pattern: ", "Component error: "]
                .iter()
                .find_map(|p| e.strip_prefix(p))
                .unwrap_or(&e);
            CronError {
                expr: expr.to_string(),
                why: format!(" ({})", e.trim_end_matches('.').to_lowercase()),
            }
        })
}

/// The time between the first two firings after `now`; `None` when the
/// expression fires fewer than two more times (a date that never comes).
pub fn period(cron: &Cron, now: DateTime<Utc>) -> Option<Duration> {
    let first = cron.find_next_occurrence(&now, false).ok()?;
    let second = cron.find_next_occurrence(&first, false).ok()?;
    (second - first).to_std().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    use tokio_cron_scheduler::Job;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .expect("date")
            .with_timezone(&Utc)
    }

    /// Accepted and refused expressions: the forms people write (steps,
    /// ranges, lists, names, nicknames), edge dates, and near misses.
    const EXPRESSIONS: &[&str] = &[
        "0 */5 * * * *",
        "*/4 * * * * *",
        "0 30 3 * * *",
        "0 0 12 * * MON-FRI",
        "0 0-30/10 9-17 * * *",
        "0 0 0 1,15 * *",
        "0 0 0 L * *",
        "0 0 0 * * 5#2",
        "0 0 0 1 JAN *",
        "0 0 0 29 2 *",
        "0 0 0 31 2 *",
        "0 15 6,8,10 * Mar,Jun Fri",
        "@daily",
        "@hourly",
        "@weekly",
        "@reboot",
        "0 0 0 1 1 * 2030",
        "*/5 * * * *",
        "* * * *",
        "",
        "not cron",
        "60 * * * * *",
        "0 0 25 * * *",
        "0 */0 * * * *",
        "0 0 0 * * MON-",
        "0 0 0 32 * *",
        "* * * * * * * *",
    ];

    #[test]
    fn the_scheduler_accepts_exactly_what_parse_accepts() {
        let mut accepted = 0;
        for expr in EXPRESSIONS {
            let ours = parse(expr);
            let theirs = Job::new_async(*expr, |_, _| Box::pin(async {}));
            assert_eq!(
                ours.is_ok(),
                theirs.is_ok(),
                "{expr:?}: parse says {ours:?}, the scheduler {}",
                if theirs.is_ok() { "accepts" } else { "refuses" }
            );
            accepted += usize::from(ours.is_ok());
        }
        // The list must exercise both answers.
        assert!(
            accepted > 5 && accepted < EXPRESSIONS.len() - 5,
            "{accepted}"
        );
    }

    #[test]
    fn the_scheduler_fires_when_parse_says() {
        let from = at("2025-02-27T12:34:56Z");
        for expr in EXPRESSIONS {
            let Ok(ours) = parse(expr) else { continue };
            let before = Utc::now();
            let mut job = Job::new_async(*expr, |_, _| Box::pin(async {})).expect("accepted");
            let after = Utc::now();
            let data = job.job_data().expect("job data");
            // The first tick, computed when the job was made.
            let first = |now| {
                ours.find_next_occurrence(&now, false)
                    .ok()
                    .map(|t| t.timestamp() as u64)
                    .unwrap_or(0)
            };
            assert!(
                [first(before), first(after)].contains(&data.next_tick),
                "{expr:?}: first tick {}",
                data.next_tick
            );
            // Every later tick: the scheduler re-reads the stored expression.
            let theirs = data.schedule().expect("a cron job has a schedule");
            let ours: Vec<_> = ours.iter_after(from).take(5).collect();
            let theirs: Vec<_> = theirs.iter_after(from).take(5).collect();
            assert_eq!(ours, theirs, "{expr:?}");
        }
    }

    #[test]
    fn refusals_say_why_and_what_is_expected() {
        let e = parse("*/5 * * * *").expect_err("five fields");
        assert_eq!(e.expr, "*/5 * * * *");
        let text = e.to_string();
        assert!(
            text.starts_with("invalid cron expression \"*/5 * * * *\" ("),
            "{text}"
        );
        assert!(text.ends_with("; expected six fields with seconds first, e.g. \"0 */5 * * * *\""));
    }

    #[test]
    fn period_is_the_gap_between_the_next_two_firings() {
        let now = at("2025-02-27T12:34:56Z");
        let p = |e: &str| period(&parse(e).expect("valid"), now);
        assert_eq!(p("0 */5 * * * *"), Some(Duration::from_secs(300)));
        assert_eq!(p("*/4 * * * * *"), Some(Duration::from_secs(4)));
        assert_eq!(p("@daily"), Some(Duration::from_secs(24 * 3600)));
        assert_eq!(p("0 0 0 31 2 *"), None);
    }
}
