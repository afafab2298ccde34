//! The one reading of a time a person writes for `--since`, `refold --since`
//! and the web pages' `since=`: a duration back from now (`24h`, `7d`), a
//! date (`2025-02-27`, midnight UTC) or an RFC 3339 time.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};

/// `s` as a point in time, or a sentence saying what was expected.
pub fn parse_since(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_time(NaiveTime::MIN).and_utc());
    }
    let back = humantime::parse_duration(s).map_err(|_| {
        "expected a duration back from now (24h, 7d), a date (2025-02-27) or an RFC 3339 time (2025-02-27T10:00:00Z)".to_string()
    })?;
    TimeDelta::from_std(back)
        .ok()
        .and_then(|back| Utc::now().checked_sub_signed(back))
        .ok_or_else(|| format!("{s} is too far back"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_durations_dates_and_times() {
        let t = parse_since("2025-02-27T10:00:00+02:00").expect("time");
        assert_eq!(t.to_rfc3339(), "2025-02-27T08:00:00+00:00");
        let d = parse_since("2025-02-27").expect("date");
        assert_eq!(d.to_rfc3339(), "2025-02-27T00:00:00+00:00");
        let back = Utc::now() - parse_since("24h").expect("duration");
        assert!((back - TimeDelta::hours(24)).num_seconds().abs() <= 1);
        assert!(parse_since("yesterday").is_err());
        assert!(parse_since("100000000000y")
            .expect_err("too far")
            .contains("too far back"));
    }
}
