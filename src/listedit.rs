//! Editing feed lists in place, for `feedfold feeds add/remove/import`.
//!
//! The files are the user's: edits go through `toml_edit`, so comments,
//! blank lines, key order and quoting of everything not touched stay as they
//! were, and the new file replaces the old one atomically (written beside it,
//! then renamed), so a running daemon never reads half a file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table};

use crate::config::{normalize_feed_url, Config, FeedConfig, Origin};
use crate::opml::{push_tag, OpmlDocument};

/// Why a list file could not be edited.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The file could not be read.
    #[error("{path}: cannot read: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why (in the message, not chained, so it is said once).
        error: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{path}: not valid TOML: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// The file is TOML but `feed` is not an array of `[[feed]]` tables.
    #[error("{path}: `feed` is not a list of [[feed]] tables; edit it by hand")]
    Shape {
        /// The file.
        path: PathBuf,
    },
    /// The new file could not be written.
    #[error("{path}: cannot write: {error}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why (in the message, not chained, so it is said once).
        error: std::io::Error,
    },
}

/// A feed to append as a `[[feed]]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFeed {
    /// Its URL (already validated).
    pub url: String,
    /// Its title, if any.
    pub title: Option<String>,
    /// Its tags.
    pub tags: Vec<String>,
}

/// A list file's text, parsed for editing.
struct ListFile {
    path: PathBuf,
    doc: DocumentMut,
}

impl ListFile {
    /// Reads `path`; a missing file is an empty list.
    fn open(path: &Path) -> Result<ListFile, EditError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(error) => {
                return Err(EditError::Read {
                    path: path.to_path_buf(),
                    error,
                })
            }
        };
        let doc = text.parse::<DocumentMut>().map_err(|e| EditError::Parse {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })?;
        Ok(ListFile {
            path: path.to_path_buf(),
            doc,
        })
    }

    fn feeds(&mut self) -> Result<&mut ArrayOfTables, EditError> {
        let item = self
            .doc
            .entry("feed")
            .or_insert(Item::ArrayOfTables(ArrayOfTables::new()));
        item.as_array_of_tables_mut()
            .ok_or_else(|| EditError::Shape {
                path: self.path.clone(),
            })
    }

    fn save(&self) -> Result<(), EditError> {
        write_atomically(&self.path, self.doc.to_string().as_bytes())
    }
}

/// Appends `feeds` as `[[feed]]` tables at the end of the file at `path`
/// (created if missing), leaving the rest of the file as it was.
pub fn append_feeds(path: &Path, feeds: &[NewFeed]) -> Result<(), EditError> {
    let mut file = ListFile::open(path)?;
    let had_content = !file.doc.to_string().trim().is_empty();
    let tables = file.feeds()?;
    for (i, f) in feeds.iter().enumerate() {
        tables.push(feed_table(f, None, had_content || i > 0));
    }
    file.save()
}

fn feed_table(f: &NewFeed, interval: Option<Duration>, blank_line_before: bool) -> Table {
    let mut t = Table::new();
    t.insert("url", toml_edit::value(f.url.as_str()));
    if let Some(title) = &f.title {
        t.insert("title", toml_edit::value(title.as_str()));
    }
    if let Some(d) = interval {
        t.insert(
            "interval",
            toml_edit::value(humantime::format_duration(d).to_string()),
        );
    }
    if !f.tags.is_empty() {
        let tags: Array = f.tags.iter().map(String::as_str).collect();
        t.insert("tags", toml_edit::value(tags));
    }
    // A blank line between tables, as people write them.
    if blank_line_before {
        t.decor_mut().set_prefix("\n");
    }
    t
}

/// The feeds as a list file of `[[feed]]` tables (`feeds export`): URL,
/// title, interval and tags, ready to be included or imported elsewhere.
pub fn to_toml(feeds: &[FeedConfig]) -> String {
    let mut tables = ArrayOfTables::new();
    for (i, f) in feeds.iter().enumerate() {
        let new = NewFeed {
            url: f.url.clone(),
            title: f.title.clone(),
            tags: f.tags.clone(),
        };
        tables.push(feed_table(&new, f.interval, i > 0));
    }
    let mut doc = DocumentMut::new();
    doc.insert("feed", Item::ArrayOfTables(tables));
    doc.to_string()
}

/// Removes the `[[feed]]` table whose URL is `url` (compared normalised).
/// Comments written above it move to the table that follows, because they
/// usually head a group of feeds rather than the one removed. Returns false
/// if no table has that URL.
pub fn remove_feed(path: &Path, url: &str) -> Result<bool, EditError> {
    let mut file = ListFile::open(path)?;
    let tables = file.feeds()?;
    let found = tables.iter().position(|t| {
        t.get("url")
            .and_then(Item::as_str)
            .and_then(|u| normalize_feed_url(u).ok())
            .as_deref()
            == Some(url)
    });
    let Some(index) = found else {
        return Ok(false);
    };
    let removed = tables.remove(index);
    let comments = removed
        .decor()
        .prefix()
        .and_then(|p| p.as_str())
        .filter(|p| p.contains('#'))
        .map(str::to_string);
    if let (Some(comments), Some(next)) = (comments, tables.get_mut(index)) {
        next.decor_mut().set_prefix(comments);
    }
    file.save()?;
    Ok(true)
}

/// Replaces the file at `path` with `bytes`: writes a hidden file beside it
/// (same permissions), then renames it over the old one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), EditError> {
    let fail = |error| EditError::Write {
        path: path.to_path_buf(),
        error,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.feedfold-{}", std::process::id()));
    let result = (|| {
        std::fs::create_dir_all(&dir)?;
        std::fs::write(&tmp, bytes)?;
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(fail)
}

/// What an OPML import will do, outline by outline.
#[derive(Debug, Default)]
pub struct ImportPlan {
    /// Feeds to append, with the OPML line each came from.
    pub feeds: Vec<(usize, NewFeed)>,
    /// One line of report per outline not imported as read (lost, damaged,
    /// invalid URL, duplicate), in line order: `(line, message)`.
    pub report: Vec<(usize, String)>,
    /// Outlines skipped because the config already lists their URL.
    pub duplicates: usize,
    /// Outlines with a URL feedfold cannot poll.
    pub invalid: usize,
    /// Outlines lost (nothing readable) in damaged markup.
    pub lost: usize,
}

/// Plans the import of an OPML document into `config`: validates every
/// URL, skips feeds the config already lists, and merges the tags of a feed
/// listed twice in the document. `progress` is called once per outline.
pub fn plan_import(doc: &OpmlDocument, config: &Config, mut progress: impl FnMut()) -> ImportPlan {
    let mut plan = ImportPlan::default();
    let listed: HashMap<&str, &Origin> = config
        .feeds
        .iter()
        .map(|f| (f.url.as_str(), &f.origin))
        .collect();
    let mut planned: HashMap<String, usize> = HashMap::new();
    for note in &doc.problems {
        plan.lost += 1;
        plan.report.push((note.line, note.message.clone()));
    }
    for note in &doc.recovered {
        plan.report.push((note.line, note.message.clone()));
    }
    for outline in &doc.feeds {
        progress();
        let url = match normalize_feed_url(&outline.url) {
            Ok(u) => u,
            Err(e) => {
                plan.invalid += 1;
                plan.report
                    .push((outline.line, format!("not imported: {e}")));
                continue;
            }
        };
        if let Some(origin) = listed.get(url.as_str()) {
            plan.duplicates += 1;
            plan.report.push((
                outline.line,
                format!("not imported: {url} is already listed at {origin}"),
            ));
            continue;
        }
        if let Some(&i) = planned.get(&url) {
            let (first_line, first) = &mut plan.feeds[i];
            for tag in outline.tags.iter().cloned() {
                push_tag(&mut first.tags, tag);
            }
            let msg =
                format!("{url} is listed again (first on line {first_line}); its tags were merged");
            plan.duplicates += 1;
            plan.report.push((outline.line, msg));
            continue;
        }
        planned.insert(url.clone(), plan.feeds.len());
        plan.feeds.push((
            outline.line,
            NewFeed {
                url,
                title: outline.title.clone(),
                tags: outline.tags.clone(),
            },
        ));
    }
    plan.report.sort_by_key(|(line, _)| *line);
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = "# My feeds\ndatabase = \"ff.db\"\n\n[poll]\ninterval = \"30m\" # half an hour\n\n# Pakistan\n[[feed]]\nurl = \"https://a.example/rss\"\ntitle = 'A'\n\n[[feed]]\nurl = \"https://b.example/rss\"\n";

    fn new(url: &str, tags: &[&str]) -> NewFeed {
        NewFeed {
            url: url.to_string(),
            title: Some("T \"q\"".to_string()),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn append_keeps_comments_and_formatting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("feedfold.toml");
        std::fs::write(&path, LIST).expect("write");
        append_feeds(&path, &[new("https://c.example/", &["x", "y"])]).expect("append");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.starts_with(LIST), "old text untouched:\n{text}");
        assert_eq!(
            &text[LIST.len()..],
            "\n[[feed]]\nurl = \"https://c.example/\"\ntitle = 'T \"q\"'\ntags = [\"x\", \"y\"]\n"
        );
        let c = Config::load(&path).expect("still valid");
        assert_eq!(c.feeds.len(), 3);
        assert_eq!(c.feeds[2].tags, ["x", "y"]);
    }

    #[test]
    fn append_creates_a_missing_list() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("new.toml");
        append_feeds(&path, &[new("https://c.example/", &[])]).expect("append");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "[[feed]]\nurl = \"https://c.example/\"\ntitle = 'T \"q\"'\n"
        );
    }

    #[test]
    fn remove_keeps_the_group_comment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("feedfold.toml");
        std::fs::write(&path, LIST).expect("write");
        assert!(remove_feed(&path, "https://a.example/rss").expect("remove"));
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(
            text,
            "# My feeds\ndatabase = \"ff.db\"\n\n[poll]\ninterval = \"30m\" # half an hour\n\n# Pakistan\n[[feed]]\nurl = \"https://b.example/rss\"\n"
        );
        assert!(!remove_feed(&path, "https://zzz.example/").expect("no-op"));
    }

    #[test]
    fn a_feed_key_that_is_not_tables_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("odd.toml");
        std::fs::write(&path, "feed = 3\n").expect("write");
        let e = append_feeds(&path, &[new("https://c.example/", &[])]).expect_err("refused");
        assert!(matches!(e, EditError::Shape { .. }), "{e}");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "feed = 3\n");
    }
}
