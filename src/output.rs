//! Output of the listing commands, shared by every command that prints rows.
//!
//! A listing prints either one JSON object per line (`--json`: the row
//! type's serde field names are the contract, times are the stored ISO-8601
//! UTC strings) or an aligned table for people, with times in local time.
//! To add a listing: derive `Serialize` on the row type, implement
//! [`Listing`] for it, and call [`print`].

use std::io::{self, Write};
use std::time::Duration;

use chrono::{DateTime, Local};
use comfy_table::{presets::NOTHING, Table};
use serde::Serialize;

use crate::store::parse_time;

/// A row type that can be listed.
pub trait Listing: Serialize {
    /// Column headers of the human table.
    const HEADER: &'static [&'static str];
    /// The row's cells for people, in [`Listing::HEADER`] order (use
    /// [`local_time`] for times).
    fn cells(&self) -> Vec<String>;
}

/// Prints `rows` to stdout: JSON lines with `json`, else a table.
pub fn print<T: Listing>(rows: &[T], json: bool) -> io::Result<()> {
    let mut out = io::stdout().lock();
    if json {
        json_lines(&mut out, rows)
    } else {
        writeln!(out, "{}", table_of(rows))
    }
}

/// Writes one JSON object per row, one per line.
pub fn json_lines<W: Write, T: Serialize>(out: &mut W, rows: &[T]) -> io::Result<()> {
    for row in rows {
        json_line(out, row)?;
    }
    Ok(())
}

/// Writes one value as a single line of JSON.
pub fn json_line<W: Write, T: Serialize + ?Sized>(out: &mut W, value: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    writeln!(out)
}

/// The human table of `rows`.
pub fn table_of<T: Listing>(rows: &[T]) -> Table {
    let mut t = table(T::HEADER);
    for row in rows {
        t.add_row(row.cells());
    }
    t
}

/// An empty borderless table with `header`, columns aligned.
pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(NOTHING).set_header(header.iter().copied());
    t
}

/// A stored UTC time (`YYYY-MM-DDTHH:MM:SSZ`) in local time for people;
/// `-` when there is none.
pub fn local_time(utc: Option<&str>) -> String {
    utc.and_then(parse_time)
        .map(|t| {
            DateTime::<Local>::from(t)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|| "-".to_string())
}

/// A duration rounded for people to its largest unit: `45 seconds`,
/// `12 minutes`, `3 hours`, `2 days`, `5 weeks`, `4 months`, `9 years`.
/// For spans where the exact figure (`9years 8months 3days 2h 5m`) says
/// less than the size.
pub fn rough_duration(d: Duration) -> String {
    const MINUTE: u64 = 60;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    const WEEK: u64 = 7 * DAY;
    const MONTH: u64 = 30 * DAY + 10 * HOUR + 30 * MINUTE;
    const YEAR: u64 = 365 * DAY + 6 * HOUR;
    let secs = d.as_secs();
    // Each unit takes over from the one below once it reads as at least 2
    // (90 minutes is "2 hours" rather than "90 minutes"), except that
    // weeks start at 2 weeks and months at 2 months.
    let (n, unit) = match secs {
        s if s < 90 => (s, "second"),
        s if s < 90 * MINUTE => (s / MINUTE, "minute"),
        s if s < 36 * HOUR => (round(s, HOUR), "hour"),
        s if s < 14 * DAY => (round(s, DAY), "day"),
        s if s < 2 * MONTH => (round(s, WEEK), "week"),
        s if s < 2 * YEAR => (round(s, MONTH), "month"),
        s => (round(s, YEAR), "year"),
    };
    count(n, unit)
}

/// `s / unit`, rounded to the nearest whole.
fn round(s: u64, unit: u64) -> u64 {
    (s + unit / 2) / unit
}

/// `1 feed`, `3 feeds`: a number with its noun, plural when it is not 1.
/// Nouns ending in `s`, `x`, `ch` or `sh` take `es` (`1 batch`, `2 batches`).
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        return format!("1 {noun}");
    }
    let es = ["s", "x", "ch", "sh"].iter().any(|end| noun.ends_with(end));
    format!("{n} {noun}{}", if es { "es" } else { "s" })
}

/// An optional cell: the text, or empty.
pub fn or_empty(s: Option<&str>) -> String {
    s.unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Row {
        id: i64,
        at: Option<String>,
    }

    impl Listing for Row {
        const HEADER: &'static [&'static str] = &["ID", "AT"];
        fn cells(&self) -> Vec<String> {
            vec![self.id.to_string(), local_time(self.at.as_deref())]
        }
    }

    #[test]
    fn rough_durations_keep_the_largest_unit() {
        let cases = [
            (0, "0 seconds"),
            (1, "1 second"),
            (89, "89 seconds"),
            (90, "1 minute"),
            (30 * 60, "30 minutes"),
            (2 * 3600, "2 hours"),
            (24 * 3600, "24 hours"),
            (36 * 3600, "2 days"),
            (13 * 86_400, "13 days"),
            (21 * 86_400, "3 weeks"),
            (90 * 86_400, "3 months"),
            (9 * 365 * 86_400 + 240 * 86_400, "10 years"),
            (9 * 365 * 86_400, "9 years"),
        ];
        for (secs, want) in cases {
            assert_eq!(rough_duration(Duration::from_secs(secs)), want, "{secs}s");
        }
    }

    #[test]
    fn counts_agree_with_their_number() {
        assert_eq!(count(1, "batch"), "1 batch");
        assert_eq!(count(2, "batch"), "2 batches");
        assert_eq!(count(0, "feed"), "0 feeds");
        assert_eq!(count(1, "feed"), "1 feed");
    }

    #[test]
    fn json_lines_are_one_object_per_line_in_utc() {
        let rows = [
            Row {
                id: 1,
                at: Some("2025-02-27T10:00:00Z".into()),
            },
            Row { id: 22, at: None },
        ];
        let mut out = Vec::new();
        json_lines(&mut out, &rows).expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        assert_eq!(
            text,
            "{\"id\":1,\"at\":\"2025-02-27T10:00:00Z\"}\n{\"id\":22,\"at\":null}\n"
        );
    }

    #[test]
    fn tables_align_columns() {
        let rows = [
            Row { id: 1, at: None },
            Row {
                id: 12345,
                at: Some("2025-02-27T10:00:00Z".into()),
            },
        ];
        let text = table_of(&rows).to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        // The second column starts at the same place on every line.
        let col = lines[0].find("AT").expect("header");
        assert_eq!(lines[1].find('-'), Some(col), "{text}");
        assert!(lines[2][col..].starts_with("2025-02-2"), "{text}");
    }
}
