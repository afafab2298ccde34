//! Includes: resolving the `include` patterns to files, and reading the
//! feed lists they name (`.toml` lists of `[[feed]]` tables and OPML
//! subscription lists) into one set of feeds.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::raw::{RawList, LIST_TABLES};
use super::span::Source;
use super::{normalize_feed_url, ConfigError, FeedConfig, Include, ListFormat, Origin};

/// Whether two paths name one file: a glob may match the main config itself,
/// which is not a list.
pub(super) fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// The feeds read so far, with the rules for a URL listed twice.
#[derive(Default)]
pub(super) struct FeedSet {
    pub(super) feeds: Vec<FeedConfig>,
    by_url: HashMap<String, (usize, bool)>,
    pub(super) notes: Vec<String>,
}

impl FeedSet {
    /// Adds a feed. A URL listed twice is an error, except between OPML
    /// outlines: OPML can only put a feed in two folders by listing it twice,
    /// so the second listing adds its tags to the first.
    pub(super) fn add(&mut self, feed: FeedConfig, from_opml: bool) -> Result<(), String> {
        let Some(&(i, first_opml)) = self.by_url.get(&feed.url) else {
            self.by_url
                .insert(feed.url.clone(), (self.feeds.len(), from_opml));
            self.feeds.push(feed);
            return Ok(());
        };
        let first = &mut self.feeds[i];
        if first_opml && from_opml {
            self.notes.push(format!(
                "{}: {} is also listed at {}; tags merged",
                feed.origin, feed.url, first.origin
            ));
            for tag in feed.tags {
                crate::opml::push_tag(&mut first.tags, tag);
            }
            return Ok(());
        }
        let place = if first.origin.path == feed.origin.path {
            format!("on line {}", first.origin.line)
        } else {
            format!("at {}", first.origin)
        };
        Err(format!(
            "duplicate feed URL {} (first listed {place})",
            feed.url
        ))
    }
}

/// The feeds of one `.toml` list file read on its own, as `feeds add` and
/// `feeds import --into` see a file the config does not include yet (so that
/// they do not list a feed in it twice); a file that does not exist lists
/// none.
pub fn read_toml_list(file: &Path) -> Result<Vec<FeedConfig>, ConfigError> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => {
            return Err(ConfigError::Read {
                path: file.to_path_buf(),
                error,
            })
        }
    };
    let ctx = Source::new(file, &text);
    let raw: RawList = ctx.deserialize(LIST_TABLES)?;
    let mut set = FeedSet::default();
    ctx.feeds(raw.feeds, &mut set)?;
    Ok(set.feeds)
}

/// Reads one included list file into `set`.
pub(super) fn load_list(
    file: &Path,
    include_line: usize,
    main: &Source<'_>,
    set: &mut FeedSet,
) -> Result<(), ConfigError> {
    let Some(format) = ListFormat::of(file) else {
        return Err(ConfigError::Invalid {
            path: main.path.to_path_buf(),
            line: include_line,
            key: "include".to_string(),
            message: format!(
                "{}: unknown list format (use .toml for [[feed]] tables or .opml)",
                file.display()
            ),
        });
    };
    let read_err = |error| ConfigError::Read {
        path: file.to_path_buf(),
        error,
    };
    match format {
        ListFormat::Toml => {
            let text = std::fs::read_to_string(file).map_err(read_err)?;
            let ctx = Source::new(file, &text);
            let raw: RawList = ctx.deserialize(LIST_TABLES)?;
            ctx.feeds(raw.feeds, set)
        }
        ListFormat::Opml => {
            let bytes = std::fs::read(file).map_err(read_err)?;
            load_opml(file, &bytes, set)
        }
    }
}

/// An included OPML list. Repairs that lose nothing (a bare `&`) are noted;
/// an outline that could not be read, or was only salvaged from damaged
/// markup, rejects the list: `feedfold feeds import` is the tool that saves
/// what it can from a broken file.
fn load_opml(file: &Path, bytes: &[u8], set: &mut FeedSet) -> Result<(), ConfigError> {
    let doc = crate::opml::read(bytes);
    let damaged: Vec<_> = doc.problems.iter().chain(&doc.recovered).collect();
    if let Some(first) = damaged.iter().min_by_key(|n| n.line) {
        let more = match damaged.len() {
            1 => String::new(),
            n => format!(" (and {} more damaged outlines)", n - 1),
        };
        return Err(ConfigError::Invalid {
            path: file.to_path_buf(),
            line: first.line.max(1),
            key: "outline".to_string(),
            message: format!(
                "{}{more}; fix the file, or import it with `feedfold feeds import`",
                first.message
            ),
        });
    }
    for note in &doc.repairs {
        set.notes.push(format!(
            "{}:{}: {}",
            file.display(),
            note.line.max(1),
            note.message
        ));
    }
    for outline in doc.feeds {
        let invalid = |message: String| ConfigError::Invalid {
            path: file.to_path_buf(),
            line: outline.line,
            key: "outline.xmlUrl".to_string(),
            message,
        };
        let url = normalize_feed_url(&outline.url).map_err(invalid)?;
        let feed = FeedConfig {
            url,
            title: outline.title.clone(),
            interval: None,
            tags: outline.tags.clone(),
            origin: Origin {
                path: file.to_path_buf(),
                line: outline.line,
            },
        };
        set.add(feed, true).map_err(invalid)?;
    }
    Ok(())
}

impl Source<'_> {
    /// Resolves one `include` pattern to the files it names, in sorted order.
    pub(super) fn include(
        &self,
        base: &Path,
        pattern: &Spanned<String>,
        key: &str,
    ) -> Result<(Include, Vec<PathBuf>), ConfigError> {
        let written = pattern.get_ref().trim();
        let fail = |m: String| self.invalid(pattern.span(), key, &m);
        if written.is_empty() {
            return Err(fail("must not be empty".to_string()));
        }
        let resolved = base.join(written);
        let Some(glob_text) = resolved.to_str() else {
            return Err(fail(format!("{} is not valid UTF-8", resolved.display())));
        };
        // Hidden files are editors' lock and swap files, never lists.
        let options = glob::MatchOptions {
            require_literal_leading_dot: true,
            ..glob::MatchOptions::new()
        };
        let paths = glob::glob_with(glob_text, options)
            .map_err(|e| fail(format!("invalid pattern {written:?}: {e}")))?;
        let mut files = Vec::new();
        for entry in paths {
            let p = entry
                .map_err(|e| fail(format!("cannot read {}: {}", e.path().display(), e.error())))?;
            if p.is_file() {
                files.push(p);
            }
        }
        if files.is_empty() && !is_glob(written) {
            return Err(fail(format!("no such file: {}", resolved.display())));
        }
        let include = Include {
            pattern: written.to_string(),
            resolved,
            line: self.line(pattern.span().start),
        };
        Ok((include, files))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::*;
    use std::time::Duration;

    /// A config folder on disk: `feedfold.toml` plus the given files.
    fn folder(main: &str, files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, text) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, text).expect("write list");
        }
        let path = dir.path().join("feedfold.toml");
        std::fs::write(&path, main).expect("write config");
        (dir, path)
    }

    const OPML: &str = r#"<?xml version="1.0"?>
<opml version="2.0"><head><title>subs</title></head><body>
<outline text="News"><outline text="Pakistan">
<outline text="Dawn" xmlUrl="https://dawn.example/rss"/>
</outline></outline>
<outline text="Wire" xmlUrl="https://wire.example/rss?a=1&b=2" category="agency"/>
</body></opml>
"#;

    #[test]
    fn includes_read_toml_and_opml_lists_relative_to_the_config() {
        let (dir, path) = folder(
            "include = [\"feeds.d/*.toml\", \"subs.opml\"]\n[[feed]]\nurl = \"https://main.example/\"\ntags = [\"Main\", \"main\", \" two  words \"]\n",
            &[
                ("feeds.d/b.toml", "[[feed]]\nurl = \"https://b.example/\"\ninterval = \"10m\"\n"),
                ("feeds.d/a.toml", "# first\n\n[[feed]]\nurl = \"https://a.example/\"\ntags = [\"x\"]\n"),
                ("feeds.d/.a.toml.swp", "not a list"),
                ("subs.opml", OPML),
            ],
        );
        let c = Config::load(&path).expect("valid");
        let urls: Vec<_> = c.feeds.iter().map(|f| f.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://main.example/",
                "https://a.example/",
                "https://b.example/",
                "https://dawn.example/rss",
                "https://wire.example/rss?a=1&b=2"
            ]
        );
        assert_eq!(c.feeds[0].tags, ["Main", "two words"]);
        assert_eq!(c.feeds[1].origin.path, dir.path().join("feeds.d/a.toml"));
        assert_eq!(c.feeds[1].origin.line, 4);
        assert_eq!(c.feeds[2].interval, Some(Duration::from_secs(600)));
        assert_eq!(c.feeds[3].tags, ["News", "Pakistan"]);
        assert_eq!(c.feeds[3].title.as_deref(), Some("Dawn"));
        assert_eq!(c.feeds[4].tags, ["agency"]);
        assert_eq!(c.lists.len(), 3);
        assert!(
            c.notes.iter().any(|n| n.contains("subs.opml:6: bare '&'")),
            "{:?}",
            c.notes
        );
    }

    #[test]
    fn an_error_in_a_list_names_that_file_and_line() {
        let (_dir, path) = folder(
            "include = [\"feeds.d/*.toml\"]\n",
            &[("feeds.d/news.toml", "[[feed]]\nurl = \"https://a.example/\"\n\n[[feed]]\nurl = \"https://b.example/\"\ninterval = \"soon\"\n")],
        );
        let e = Config::load(&path).expect_err("invalid").to_string();
        assert!(e.contains("feeds.d/news.toml:6: feed[2].interval:"), "{e}");

        let (_dir, path) = folder(
            "include = [\"feeds.d/*.toml\"]\n",
            &[("feeds.d/news.toml", "database = \"x.db\"\n")],
        );
        let e = Config::load(&path).expect_err("invalid").to_string();
        assert!(e.contains("feeds.d/news.toml:1:"), "{e}");
        assert!(e.contains("unknown field"), "{e}");

        let (_dir, path) = folder(
            "include = [\"feeds.d/*.toml\"]\n",
            &[("feeds.d/news.toml", "\n[poll]\ninterval = \"5m\"\n")],
        );
        let e = Config::load(&path).expect_err("invalid").to_string();
        assert!(
            e.contains(
                "feeds.d/news.toml:2: poll: unknown table [poll]; the only table here is [[feed]]"
            ),
            "{e}"
        );

        let (_dir, path) = folder(
            "include = [\"feeds.d/*.toml\"]\n",
            &[(
                "feeds.d/news.toml",
                "[[feed]]\nurl = \"https://a.example/\"\ntags = [\"a/b\"]\n",
            )],
        );
        let e = Config::load(&path).expect_err("invalid").to_string();
        assert!(e.contains("news.toml:3: feed[1].tags: tag \"a/b\""), "{e}");
    }

    #[test]
    fn a_damaged_or_invalid_opml_list_is_rejected_with_its_line() {
        let broken = OPML.replace(
            "<outline text=\"Dawn\" xmlUrl",
            "<outline text=\"Dawn\" \"oops\" xmlUrl",
        );
        let (_dir, path) = folder("include = [\"subs.opml\"]\n", &[("subs.opml", &broken)]);
        let e = Config::load(&path).expect_err("invalid").to_string();
        assert!(e.contains("subs.opml:4: outline:"), "{e}");

        let bad_url = OPML.replace("https://dawn.example/rss", "feed://dawn.example/rss");
        let (_dir, path) = folder("include = [\"subs.opml\"]\n", &[("subs.opml", &bad_url)]);
        let e = Config::load(&path).expect_err("invalid").to_string();
        assert!(
            e.contains("subs.opml:4: outline.xmlUrl: unsupported URL scheme"),
            "{e}"
        );
    }

    #[test]
    fn duplicates_across_files_are_errors_except_between_opml_outlines() {
        let (_dir, path) = folder(
            "include = [\"more.toml\"]\n[[feed]]\nurl = \"https://a.example/\"\n",
            &[("more.toml", "\n[[feed]]\nurl = \"https://a.example\"\n")],
        );
        let e = Config::load(&path).expect_err("duplicate").to_string();
        assert!(
            e.contains(
                "more.toml:3: feed[1].url: duplicate feed URL https://a.example/ (first listed at "
            ),
            "{e}"
        );
        assert!(e.contains("feedfold.toml:3)"), "{e}");

        let twice = OPML.replace(
            "category=\"agency\"/>",
            "category=\"agency\"/>\n<outline text=\"Dawn again\" xmlUrl=\"https://dawn.example/rss\" category=\"urdu\"/>",
        );
        let (_dir, path) = folder("include = [\"subs.opml\"]\n", &[("subs.opml", &twice)]);
        let c = Config::load(&path).expect("valid: OPML repeats a feed to file it twice");
        assert_eq!(c.feeds.len(), 2);
        assert_eq!(c.feeds[0].tags, ["News", "Pakistan", "urdu"]);
        assert!(
            c.notes.iter().any(|n| n.contains("tags merged")),
            "{:?}",
            c.notes
        );
    }

    #[test]
    fn include_patterns_are_checked() {
        let (_dir, path) = folder("include = [\"missing.toml\"]\n", &[]);
        let e = Config::load(&path).expect_err("missing").to_string();
        assert!(
            e.contains("feedfold.toml:1: include[1]: no such file"),
            "{e}"
        );
        let (_dir, path) = folder("include = [\"none/*.toml\"]\n", &[]);
        let c = Config::load(&path).expect("a glob may match nothing");
        assert!(c.feeds.is_empty());
        let (_dir, path) = folder("include = [\"list.txt\"]\n", &[("list.txt", "")]);
        let e = Config::load(&path).expect_err("format").to_string();
        assert!(e.contains("unknown list format"), "{e}");
        let (_dir, path) = folder("include = \"feeds.d/*.toml\"\n", &[]);
        let e = Config::load(&path).expect_err("not an array").to_string();
        assert!(e.contains("feedfold.toml:1: include:"), "{e}");
    }
}
