//! Reading the labelled texts under `shared/dedup/` (never copied into the repository).

use std::path::{Path, PathBuf};

use super::EvalError;

/// Reads a whole file, naming it in the error.
pub fn read(path: &Path) -> Result<String, EvalError> {
    std::fs::read_to_string(path).map_err(|source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Parses RFC 4180 CSV (quoted fields, doubled quotes, newlines inside
/// quotes) into rows of fields. A final unterminated row is kept as it is.
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    field.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            c => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// Rows as maps from the header's column names.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    path: PathBuf,
}

impl Table {
    fn load(path: &Path) -> Result<Self, EvalError> {
        let mut rows = parse_csv(read(path)?.trim_start_matches('\u{feff}'));
        if rows.is_empty() {
            return Err(EvalError::Format(format!("{}: empty CSV", path.display())));
        }
        let header = rows.remove(0);
        Ok(Table {
            header,
            rows,
            path: path.to_path_buf(),
        })
    }

    fn column(&self, name: &str) -> Result<usize, EvalError> {
        self.header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| EvalError::Format(format!("{}: no column {name}", self.path.display())))
    }
}

/// One article text of the SemEval-2022 Task 8 sample.
#[derive(Debug, Clone)]
pub struct SemevalText {
    /// Article id (from `pair_id`).
    pub id: String,
    /// Language code.
    pub lang: String,
    /// The text: title and head/tail of the body.
    pub text: String,
}

/// One labelled pair of the SemEval sample.
#[derive(Debug, Clone)]
pub struct SemevalPair {
    /// First article id.
    pub a: String,
    /// Second article id.
    pub b: String,
    /// Overall score: 1 very similar … 4 very dissimilar.
    pub overall: f64,
}

/// The SemEval sample: unique texts and the labelled original pairs
/// (HFL's translation augmentations, ids with a language suffix, dropped).
pub fn load_semeval(dir: &Path) -> Result<(Vec<SemevalText>, Vec<SemevalPair>), EvalError> {
    let t = Table::load(&dir.join("semeval2022_task8/training_set.csv"))?;
    let (pid, l1, l2, t1, t2, ov) = (
        t.column("pair_id")?,
        t.column("lang1")?,
        t.column("lang2")?,
        t.column("text1")?,
        t.column("text2")?,
        t.column("Overall")?,
    );
    let mut texts: Vec<SemevalText> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut pairs = Vec::new();
    for row in &t.rows {
        let get = |i: usize| row.get(i).map(String::as_str).unwrap_or("");
        let Some((a, b)) = get(pid).split_once('_') else {
            continue;
        };
        if a.is_empty() || b.is_empty() || !a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit()) {
            continue;
        }
        let Ok(overall) = get(ov).parse::<f64>() else {
            continue;
        };
        for (id, lang, text) in [(a, get(l1), get(t1)), (b, get(l2), get(t2))] {
            if !text.trim().is_empty() && seen.insert(id.to_string()) {
                texts.push(SemevalText {
                    id: id.to_string(),
                    lang: lang.to_string(),
                    text: text.to_string(),
                });
            }
        }
        pairs.push(SemevalPair {
            a: a.to_string(),
            b: b.to_string(),
            overall,
        });
    }
    Ok((texts, pairs))
}

/// One UCI News Aggregator title.
#[derive(Debug, Clone)]
pub struct UciTitle {
    /// Headline.
    pub title: String,
    /// Publisher name (one feed per publisher).
    pub publisher: String,
    /// Google News story-cluster id (the label).
    pub story: String,
    /// Arrival time, milliseconds since the epoch.
    pub timestamp_ms: i64,
}

/// The UCI sample's titles (rows without a story id, such as the truncated last row, skipped).
pub fn load_uci(dir: &Path) -> Result<Vec<UciTitle>, EvalError> {
    let t = Table::load(&dir.join("uci_news_aggregator_sample/uci-news-aggregator.sample.csv"))?;
    let (ti, pu, st, ts) = (
        t.column("TITLE")?,
        t.column("PUBLISHER")?,
        t.column("STORY")?,
        t.column("TIMESTAMP")?,
    );
    Ok(t.rows
        .iter()
        .filter_map(|row| {
            let story = row.get(st)?.trim();
            let timestamp_ms = row.get(ts)?.trim().parse().ok()?;
            if story.is_empty() {
                return None;
            }
            Some(UciTitle {
                title: row.get(ti)?.clone(),
                publisher: row.get(pu)?.clone(),
                story: story.to_string(),
                timestamp_ms,
            })
        })
        .collect())
}

/// The seed story: headline, summary line, body paragraphs (dateline included).
#[derive(Debug, Clone)]
pub struct Seed {
    /// Headline (first line, after the date).
    pub title: String,
    /// Summary line.
    pub summary: String,
    /// Body paragraphs as published by APP/UrduPoint.
    pub paragraphs: Vec<String>,
}

/// Reads `seed/app-urdupoint-2025-02-27-istanbul-talks.txt`.
pub fn load_seed(dir: &Path) -> Result<Seed, EvalError> {
    let path = dir.join("seed/app-urdupoint-2025-02-27-istanbul-talks.txt");
    let text = read(&path)?;
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines
        .next()
        .ok_or_else(|| EvalError::Format(format!("{}: empty", path.display())))?;
    // "date 2025-02-27 Headline…"
    let title = first
        .strip_prefix("date ")
        .and_then(|r| r.split_once(' '))
        .map_or(first, |(_, t)| t)
        .to_string();
    let summary = lines.next().unwrap_or_default().to_string();
    Ok(Seed {
        title,
        summary,
        paragraphs: lines.map(str::to_string).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_handles_quotes_and_newlines() {
        let rows = parse_csv("a,b\n1,\"x, \"\"y\"\"\nz\"\n2,");
        assert_eq!(
            rows,
            [vec!["a", "b"], vec!["1", "x, \"y\"\nz"], vec!["2", ""]]
        );
    }
}
