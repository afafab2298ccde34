//! The real-feeds check: every feed file of the peers' corpora
//! (`shared/corpora`) parsed with the project's own parser and replayed at
//! once through the harness's replay path (each file is one feed), listing
//! every story that folded more than one entry.
//!
//! Nothing here is labelled, so the check cannot score recall or precision;
//! it lists what folded for a human to read, and flags the one shape that is
//! wrong by construction: a story joining *different items of one feed*
//! whose titles differ (beyond an agency's "UPDATE n-" prefix). A feed lists
//! two items under two identities and two titles because they are two
//! stories; the text they share is that feed's boilerplate (show notes, a
//! product blurb), not a copy.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use super::gen::{Item, Kind};
use super::{replay, EvalError};
use feedfold_dedup::DedupConfig;

/// Files smaller than this are skipped (fragments, empty feeds).
pub const MIN_FILE_BYTES: u64 = 3 * 1024;

/// File extensions read as feeds (RSS, Atom, RDF, JSON Feed).
pub const FEED_EXTENSIONS: [&str; 5] = ["xml", "rss", "atom", "rdf", "json"];

/// The poll time given to entries without a date (2030-01-01T00:00:00Z):
/// all of them meet in one window, as when every feed is polled at once;
/// dated entries keep their dates.
pub const POLL_TIME: i64 = 1_893_456_000;

/// One entry of a multi-copy story.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// The feed file (path under the corpora folder).
    pub feed: String,
    /// The entry's title ("" when it has none).
    pub title: String,
}

/// A story that folded more than one entry.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiStory {
    /// Its entries, in replay order.
    pub members: Vec<Member>,
}

/// A title without case, punctuation runs, or a leading "UPDATE n-" (an
/// agency's own update of its story keeps the headline).
pub fn title_key(title: &str) -> String {
    let lower = title.trim().to_lowercase();
    let mut rest = lower.as_str();
    if let Some(after) = rest.strip_prefix("update") {
        let after = after.trim_start();
        let digits = after.trim_start_matches(|c: char| c.is_ascii_digit());
        if digits.len() < after.len() {
            let d = digits.trim_start();
            if let Some(r) = d.strip_prefix(['-', ':', '\u{2013}', '\u{2014}']) {
                rest = r;
            }
        }
    }
    rest.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

impl MultiStory {
    /// Whether its entries carry more than one title (modulo [`title_key`]).
    pub fn titles_differ(&self) -> bool {
        self.members
            .iter()
            .map(|m| title_key(&m.title))
            .collect::<HashSet<_>>()
            .len()
            > 1
    }

    /// Whether two or more of its entries are different items of one feed.
    pub fn joins_one_feed(&self) -> bool {
        let mut feeds = HashSet::new();
        self.members.iter().any(|m| !feeds.insert(m.feed.as_str()))
    }

    /// Whether two different items of one feed with different titles
    /// (modulo "UPDATE n-") are in it: never a copy.
    pub fn joins_one_feed_with_different_titles(&self) -> bool {
        let mut by_feed: BTreeMap<&str, HashSet<String>> = BTreeMap::new();
        for m in &self.members {
            by_feed
                .entry(m.feed.as_str())
                .or_default()
                .insert(title_key(&m.title));
        }
        by_feed.values().any(|titles| titles.len() > 1)
    }
}

/// What the real-feeds replay folded.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedsReport {
    /// Feed files read (over [`MIN_FILE_BYTES`], with a feed extension).
    pub files: usize,
    /// Of those, files the parser refused.
    pub failed: usize,
    /// Entries replayed (one per identity per feed).
    pub entries: usize,
    /// Stories with more than one entry, in replay order.
    pub stories: Vec<MultiStory>,
}

impl FeedsReport {
    /// Stories joining different items of one feed.
    pub fn one_feed(&self) -> impl Iterator<Item = &MultiStory> {
        self.stories.iter().filter(|s| s.joins_one_feed())
    }

    /// Stories joining different items of one feed under different titles
    /// (modulo "UPDATE n-"): each one is a false merge.
    pub fn violations(&self) -> impl Iterator<Item = &MultiStory> {
        self.stories
            .iter()
            .filter(|s| s.joins_one_feed_with_different_titles())
    }
}

fn feed_files(root: &Path) -> Result<Vec<PathBuf>, EvalError> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|source| EvalError::Io {
            path: dir.clone(),
            source,
        })?;
        for e in entries {
            let e = e.map_err(|source| EvalError::Io {
                path: dir.clone(),
                source,
            })?;
            let path = e.path();
            let meta = e.metadata().map_err(|source| EvalError::Io {
                path: path.clone(),
                source,
            })?;
            if meta.is_dir() {
                stack.push(path);
            } else if meta.len() > MIN_FILE_BYTES
                && path
                    .extension()
                    .and_then(|x| x.to_str())
                    .is_some_and(|x| FEED_EXTENSIONS.contains(&x.to_ascii_lowercase().as_str()))
            {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// One entry of a parsed feed file, as the caller's feed parser read it.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEntry {
    /// The entry's identity within its feed (guid, id or link): repeats are
    /// read once.
    pub identity: String,
    /// Publication time, Unix seconds; `None` meets [`POLL_TIME`].
    pub published: Option<i64>,
    /// The title as plain text.
    pub title: Option<String>,
    /// The body (content or summary) as the feed carries it.
    pub body: Option<String>,
}

/// Parses every feed file under `corpora_dir` with `parse` (bytes and a
/// made-up URL in, entries out; `None` counts the file as failed) and replays
/// all their entries at once (each file one feed) with `cfg`; lists the
/// multi-copy stories.
///
/// The parser is the caller's so that this crate stays free of feed formats:
/// the daemon passes its own (`feedfold::parse`), which is what the check is
/// meant to exercise.
pub fn real_feeds(
    corpora_dir: &Path,
    cfg: &DedupConfig,
    parse: impl Fn(&[u8], &str) -> Option<Vec<FeedEntry>>,
) -> Result<FeedsReport, EvalError> {
    let files = feed_files(corpora_dir)?;
    let mut items: Vec<Item> = Vec::new();
    let mut failed = 0;
    for path in &files {
        let rel = path
            .strip_prefix(corpora_dir)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned();
        let bytes = std::fs::read(path).map_err(|source| EvalError::Io {
            path: path.clone(),
            source,
        })?;
        let url = format!("https://corpus.example/{}", rel.replace(' ', "%20"));
        let Some(entries) = parse(&bytes, &url) else {
            failed += 1;
            continue;
        };
        let mut seen = HashSet::new();
        for e in entries {
            if !seen.insert(e.identity.clone()) {
                continue;
            }
            items.push(Item {
                feed: rel.clone(),
                feed_agency: None,
                published: e.published.unwrap_or(POLL_TIME),
                title: e.title,
                body: e.body,
                gold: items.len(),
                kind: Kind::Single,
            });
        }
    }
    let outcome = replay::replay(&items, cfg);
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| (items[i].published, i));
    let mut by_story: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in order {
        by_story.entry(outcome.predicted[i]).or_default().push(i);
    }
    let stories = by_story
        .into_values()
        .filter(|m| m.len() > 1)
        .map(|m| MultiStory {
            members: m
                .into_iter()
                .map(|i| Member {
                    feed: items[i].feed.clone(),
                    title: items[i].title.clone().unwrap_or_default(),
                })
                .collect(),
        })
        .collect();
    Ok(FeedsReport {
        files: files.len(),
        failed,
        entries: items.len(),
        stories,
    })
}

impl fmt::Display for FeedsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let one_feed: Vec<&MultiStory> = self.one_feed().collect();
        let one_feed_entries: usize = one_feed.iter().map(|s| s.members.len()).sum();
        let violations = self.violations().count();
        let differ: Vec<&MultiStory> = self.stories.iter().filter(|s| s.titles_differ()).collect();
        writeln!(
            f,
            "real feeds: {} files over {} bytes ({} refused by the parser), {} entries",
            self.files, MIN_FILE_BYTES, self.failed, self.entries
        )?;
        writeln!(
            f,
            "  {} multi-copy stories ({} entries); {} join different items of one feed ({} entries), {} of them under different titles (false merges); {} have differing titles",
            self.stories.len(),
            self.stories.iter().map(|s| s.members.len()).sum::<usize>(),
            one_feed.len(),
            one_feed_entries,
            violations,
            differ.len()
        )?;
        let show = |f: &mut fmt::Formatter<'_>, s: &MultiStory, tag: &str| -> fmt::Result {
            let feeds: HashSet<&str> = s.members.iter().map(|m| m.feed.as_str()).collect();
            writeln!(
                f,
                "  {tag} {} entries in {} feed(s):",
                s.members.len(),
                feeds.len()
            )?;
            let mut lines: Vec<String> = s
                .members
                .iter()
                .map(|m| {
                    let t: String = m.title.chars().take(100).collect();
                    format!("      [{}] {}", m.feed, t.replace('\n', " "))
                })
                .collect();
            // A feed's 59 daily episodes read as well from ten lines.
            let extra = lines.len().saturating_sub(10);
            lines.truncate(10);
            for l in lines {
                writeln!(f, "{l}")?;
            }
            if extra > 0 {
                writeln!(f, "      … and {extra} more")?;
            }
            Ok(())
        };
        for s in &one_feed {
            let tag = if s.joins_one_feed_with_different_titles() {
                "ONE FEED, DIFFERENT TITLES:"
            } else {
                "one feed, same title:"
            };
            show(f, s, tag)?;
        }
        for s in differ.iter().filter(|s| !s.joins_one_feed()) {
            show(f, s, "across feeds, titles differ:")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_prefixes_keep_the_headline() {
        assert_eq!(title_key("UPDATE 1-Oil falls"), title_key("Oil falls"));
        assert_eq!(title_key("Update 2 - Oil  falls!"), title_key("oil falls"));
        assert_ne!(
            title_key("Microcast 06-01-2009 AM"),
            title_key("Microcast 06-02-2009 AM")
        );
        assert_ne!(title_key("Updated rules"), title_key("rules"));
    }
}
