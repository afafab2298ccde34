//! Output of the listing commands, shared by every command that prints rows.
//!
//! A listing prints either one JSON object per line (`--json`: the row
//! type's serde field names are the contract, times are the stored ISO-8601
//! UTC strings) or an aligned table for people, with times in local time.
//! To add a listing: derive `Serialize` on the row type, implement
//! [`Listing`] for it, and call [`print`].

use std::io::{self, Write};

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
