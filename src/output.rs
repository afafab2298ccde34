//! Output of the listing commands, shared by every command that prints rows.
//!
//! A listing prints either one JSON object per line (`--json`: the row
//! type's serde field names are the contract, times are the stored ISO-8601
//! UTC strings) or an aligned table for people, with times in local time.
//! To add a listing: derive `Serialize` on the row type, implement
//! [`Listing`] for it, and call [`print()`].

use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Local};
use comfy_table::{presets::NOTHING, ColumnConstraint, ContentArrangement, Table};
use serde::Serialize;

use crate::store::{parse_time, PruneReport};

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
    fitted(t)
}

/// An empty borderless table with `header`, columns aligned. Print it
/// through [`fitted`].
pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(NOTHING).set_header(header.iter().copied());
    t
}

/// `t`, made to fit [`width`] when there is one: see `fit`.
pub fn fitted(mut t: Table) -> Table {
    if let Some(width) = width() {
        fit(&mut t, width);
    }
    t
}

/// The narrowest a wrapped column gets while others keep their width.
const MIN_WRAPPED: usize = 12;

/// Makes `t` at most `width` columns wide. The narrow columns (times,
/// counts, statuses) keep their width, narrowest first, as long as every
/// other column still gets [`MIN_WRAPPED`]; the wide ones (titles, URLs,
/// errors) share the rest and wrap at word boundaries. Letting comfy-table
/// shrink every column alike cut times and numbers in half.
fn fit(t: &mut Table, width: u16) {
    let widths: Vec<usize> = t
        .column_max_content_widths()
        .into_iter()
        .map(usize::from)
        .collect();
    let n = widths.len();
    // Each column has one space of padding on either side.
    let budget = usize::from(width).saturating_sub(2 * n);
    if widths.iter().sum::<usize>() <= budget {
        return;
    }
    let mut narrowest_first: Vec<usize> = (0..n).collect();
    narrowest_first.sort_by_key(|&i| widths[i]);
    let mut kept = 0;
    for (k, &i) in narrowest_first.iter().enumerate() {
        let others = n - k - 1;
        if kept + widths[i] + others * MIN_WRAPPED > budget {
            break;
        }
        kept += widths[i];
        if let Some(column) = t.column_mut(i) {
            column.set_constraint(ColumnConstraint::ContentWidth);
        }
    }
    t.set_width(width)
        .set_content_arrangement(ContentArrangement::Dynamic);
}

/// Set by `--wide`: tables keep their natural width.
static WIDE: AtomicBool = AtomicBool::new(false);

/// With `wide`, tables are printed at full width whatever the terminal.
pub fn set_wide(wide: bool) {
    WIDE.store(wide, Ordering::Relaxed);
}

/// The width output for people wraps to: `$COLUMNS` when set, else the
/// terminal's width when stdout is one; `None` (no limit) with `--wide` or
/// when stdout is a pipe or a file, so that `grep` sees whole rows.
pub fn width() -> Option<u16> {
    if WIDE.load(Ordering::Relaxed) {
        return None;
    }
    let columns = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok());
    columns.or_else(terminal_width).filter(|&w| w >= MIN_WIDTH)
}

/// The width running text (a story) is wrapped to: the terminal's, at
/// most `TEXT_MAX_WIDTH` (longer lines are hard to read), else 80; `None`
/// (one line per paragraph) with `--wide`.
pub fn text_width() -> Option<usize> {
    if WIDE.load(Ordering::Relaxed) {
        return None;
    }
    Some(width().map_or(80, |w| usize::from(w).min(TEXT_MAX_WIDTH)))
}

/// The widest running text is wrapped to.
const TEXT_MAX_WIDTH: usize = 100;

/// Narrower than this, wrapping helps nobody: print rows whole.
const MIN_WIDTH: u16 = 20;

/// The width of the terminal on stdout, if stdout is a terminal.
fn terminal_width() -> Option<u16> {
    if !io::stdout().is_terminal() {
        return None;
    }
    #[cfg(unix)]
    {
        let mut size = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes one `winsize` into the struct we pass,
        // which lives for the call; stdout is an open descriptor.
        let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) };
        (rc == 0 && size.ws_col > 0).then_some(size.ws_col)
    }
    #[cfg(not(unix))]
    {
        None
    }
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

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
const WEEK: u64 = 7 * DAY;

/// A duration exactly, in the largest unit that divides it: `1 day`,
/// `36 hours`, `90 minutes`, `45 seconds`. For set values (intervals,
/// what a server asks), where rounding would mislead.
pub fn exact_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (unit, name) = [
        (WEEK, "week"),
        (DAY, "day"),
        (HOUR, "hour"),
        (MINUTE, "minute"),
    ]
    .into_iter()
    .find(|(unit, _)| secs > 0 && secs % unit == 0)
    .unwrap_or((1, "second"));
    count(secs / unit, name)
}

/// How often something happens every `d`: `hourly`, `daily`, `weekly`,
/// `every 5 minutes`, `every 36 hours`.
pub fn frequency(d: Duration) -> String {
    match d.as_secs() {
        HOUR => "hourly".to_string(),
        DAY => "daily".to_string(),
        WEEK => "weekly".to_string(),
        _ => match exact_duration(d).strip_prefix("1 ") {
            Some(unit) => format!("every {unit}"),
            None => format!("every {}", exact_duration(d)),
        },
    }
}

/// A duration in whole units of its largest unit, for people: `45 seconds`,
/// `12 minutes`, `3 hours`, `2 days`, `5 weeks`, `4 months`, `9 years`.
/// For spans where the exact figure (`9years 8months 3days 2h 5m`) says
/// less than the size.
pub fn rough_duration(d: Duration) -> String {
    const MONTH: u64 = 30 * DAY + 10 * HOUR + 30 * MINUTE;
    const YEAR: u64 = 365 * DAY + 6 * HOUR;
    let secs = d.as_secs();
    // Whole units, rounded down: a feed quiet for 9 years 8 months has
    // been quiet for 9 years. Weeks and months take over at two of them.
    let (unit, name) = match secs {
        s if s < MINUTE => (1, "second"),
        s if s < HOUR => (MINUTE, "minute"),
        s if s < DAY => (HOUR, "hour"),
        s if s < 2 * WEEK => (DAY, "day"),
        s if s < 2 * MONTH => (WEEK, "week"),
        s if s < YEAR => (MONTH, "month"),
        _ => (YEAR, "year"),
    };
    count(secs / unit, name)
}

/// `1 feed`, `3 feeds`: a number with its noun (the last word is the one
/// made plural), plural when the number is not 1. `batch` → `batches`,
/// `new entry` → `new entries`; other irregular nouns are not handled.
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        return format!("1 {noun}");
    }
    let plural = if ["s", "x", "ch", "sh"].iter().any(|end| noun.ends_with(end)) {
        format!("{noun}es")
    } else if let Some(stem) = noun
        .strip_suffix('y')
        .filter(|stem| !stem.ends_with(['a', 'e', 'o', 'u']))
    {
        format!("{stem}ies")
    } else {
        format!("{noun}s")
    };
    format!("{n} {plural}")
}

/// `text` with each line (a paragraph) wrapped at word boundaries to at
/// most `width` characters, paragraphs separated by a blank line; `None`
/// keeps each paragraph on one line. A word longer than `width` gets a line
/// of its own.
pub fn wrap(text: &str, width: Option<usize>) -> String {
    let paragraphs = text.lines().map(str::trim).filter(|p| !p.is_empty());
    let Some(width) = width else {
        return paragraphs.collect::<Vec<_>>().join("\n\n");
    };
    let mut out = String::new();
    for paragraph in paragraphs {
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        let mut line_len = 0;
        for word in paragraph.split_whitespace() {
            let len = word.chars().count();
            if line_len > 0 && line_len + 1 + len > width {
                out.push('\n');
                line_len = 0;
            } else if line_len > 0 {
                out.push(' ');
                line_len += 1;
            }
            out.push_str(word);
            line_len += len;
        }
    }
    out
}

/// An optional cell: the text, or empty.
pub fn or_empty(s: Option<&str>) -> String {
    s.unwrap_or_default().to_string()
}

/// The prune summary people read (`feedfold prune`, the daemon's log).
/// Worded here with the other counts rather than in `store`, which keeps
/// the store free of presentation.
impl fmt::Display for PruneReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |k: usize, noun: &str| count(k as u64, noun);
        write!(
            f,
            "pruned {}, {} ({} promoted), {}; {} added, {} expired; {} freed in {}",
            n(self.stories, "story"),
            n(self.entries, "entry"),
            n(self.promoted, "canonical copy"),
            n(self.fetches, "fetch log row"),
            n(self.tombstones_added, "tombstone"),
            self.tombstones_expired,
            n(usize::try_from(self.freed_pages).unwrap_or(0), "page"),
            n(self.batches, "batch")
        )
    }
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
            (59, "59 seconds"),
            (90, "1 minute"),
            (30 * 60, "30 minutes"),
            (3600, "1 hour"),
            (2 * 3600 + 59 * 60, "2 hours"),
            (36 * 3600, "1 day"),
            (13 * 86_400, "13 days"),
            (21 * 86_400, "3 weeks"),
            (90 * 86_400, "2 months"),
            (366 * 86_400, "1 year"),
            (9 * 365 * 86_400 + 240 * 86_400, "9 years"),
        ];
        for (secs, want) in cases {
            assert_eq!(rough_duration(Duration::from_secs(secs)), want, "{secs}s");
        }
    }

    #[test]
    fn exact_durations_and_frequencies_read_as_spoken() {
        let cases = [
            (0, "0 seconds", "every 0 seconds"),
            (60, "1 minute", "every minute"),
            (300, "5 minutes", "every 5 minutes"),
            (5400, "90 minutes", "every 90 minutes"),
            (3600, "1 hour", "hourly"),
            (36 * 3600, "36 hours", "every 36 hours"),
            (86_400, "1 day", "daily"),
            (14 * 86_400, "2 weeks", "every 2 weeks"),
        ];
        for (secs, exact, often) in cases {
            let d = Duration::from_secs(secs);
            assert_eq!(
                (exact_duration(d).as_str(), frequency(d).as_str()),
                (exact, often)
            );
        }
    }

    #[test]
    fn text_wraps_at_word_boundaries_paragraph_by_paragraph() {
        let text = "One two three four five six.\n\n  \nSeven eight nine.";
        assert_eq!(
            wrap(text, Some(10)),
            "One two\nthree four\nfive six.\n\nSeven\neight\nnine."
        );
        assert_eq!(
            wrap(text, None),
            "One two three four five six.\n\nSeven eight nine."
        );
        assert_eq!(wrap("abcdefghijkl mn", Some(5)), "abcdefghijkl\nmn");
    }

    #[test]
    fn counts_agree_with_their_number() {
        assert_eq!(count(1, "batch"), "1 batch");
        assert_eq!(count(2, "batch"), "2 batches");
        assert_eq!(count(0, "feed"), "0 feeds");
        assert_eq!(count(1, "feed"), "1 feed");
        assert_eq!(count(3, "folded copy"), "3 folded copies");
        assert_eq!(count(2, "day"), "2 days");
        assert_eq!(count(2, "invalid URL"), "2 invalid URLs");
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
