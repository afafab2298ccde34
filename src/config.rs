//! Configuration: the TOML file that names the database, the poll settings
//! and the feeds, plus the feed lists it includes (`include = [...]`: more
//! TOML files of `[[feed]]` tables, and OPML subscription lists).
//!
//! The files' shape is a public contract (see README.md, "Configuration").
//! Every error names the file, the line and the key, because the person
//! reading it is editing that file by hand. Loading is all-or-nothing: a list
//! with an error rejects the whole configuration, so a half-saved edit never
//! makes the daemon drop feeds.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::dedup::DedupConfig;
use toml::Spanned;

/// Default cron expression: wake every five minutes to poll the feeds that are due.
pub const DEFAULT_SCHEDULE: &str = "0 */5 * * * *";
/// Default refresh interval of a feed.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30 * 60);
/// Default number of feeds fetched at once.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// Default database file, relative to the config file's folder.
pub const DEFAULT_DATABASE: &str = "feedfold.db";
/// Default number of days a story is kept after its last copy arrived.
pub const DEFAULT_RETENTION_DAYS: u32 = 180;
/// Default cron expression for the daemon's prune: daily at 03:30 UTC.
pub const DEFAULT_PRUNE_SCHEDULE: &str = "0 30 3 * * *";
/// Default floor of the adaptive refresh interval.
pub const DEFAULT_MIN_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Default ceiling of the adaptive refresh interval.
pub const DEFAULT_MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// Default ceiling of the error backoff.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(24 * 3600);
/// Default number of fetches in flight to one host.
pub const DEFAULT_PER_HOST: usize = 2;
/// Default time allowed for one whole request, body included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time allowed to open a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default number of redirects followed in one fetch.
pub const DEFAULT_MAX_REDIRECTS: usize = 5;
/// Default time fetches in flight get to finish after SIGTERM/SIGINT.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Default log filter when neither `RUST_LOG` nor `[log] level` sets one.
pub const DEFAULT_LOG_LEVEL: &str = "info,tokio_cron_scheduler=warn";

/// A configuration error, always naming the file (and the line and key when known).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    // Not a `source`: the message already says why, and error reporters
    // that print the chain would say it twice.
    #[error("{path}: cannot read config file: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The file was read but a value in it is wrong.
    #[error("{path}:{line}: {key}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the offending value.
        line: usize,
        /// Dotted key of the offending value (e.g. `feed[3].interval`).
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

/// The whole configuration, validated, with paths resolved.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config file this was read from.
    pub path: PathBuf,
    /// The SQLite database file (absolute or relative to the working directory).
    pub database: PathBuf,
    /// Polling settings.
    pub poll: PollConfig,
    /// Fetch safety settings (`[fetch]`).
    pub fetch: FetchConfig,
    /// The feeds to poll: the main file's, then each included list's, in order.
    pub feeds: Vec<FeedConfig>,
    /// The `include` patterns, resolved against the config's folder.
    pub include: Vec<Include>,
    /// The list files that were read (not counting the main file).
    pub lists: Vec<PathBuf>,
    /// Things worth telling that are not errors (`path:line: message`):
    /// repairs made to read an OPML list, feeds listed twice in OPML lists.
    pub notes: Vec<String>,
    /// Daemon settings (`[daemon]`).
    pub daemon: DaemonConfig,
    /// Logging settings (`[log]`).
    pub log: LogConfig,
    /// Metrics and health endpoint (`[metrics]`).
    pub metrics: MetricsConfig,
    /// Web pages and outgoing feeds (`[web]`).
    pub web: crate::web::WebConfig,
    /// Deduplication window and thresholds (`[dedup]`).
    pub dedup: DedupConfig,
    /// What to keep, and when the daemon prunes.
    pub retention: RetentionConfig,
}

/// The `[retention]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionConfig {
    /// Keep a story this many days after its last copy arrived.
    pub days: u32,
    /// Keep at most this many entries per feed (the newest); `None` = no cap.
    pub max_entries_per_feed: Option<u64>,
    /// Cron expression (with seconds, UTC) for the daemon's prune.
    pub schedule: String,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            days: DEFAULT_RETENTION_DAYS,
            max_entries_per_feed: None,
            schedule: DEFAULT_PRUNE_SCHEDULE.to_string(),
        }
    }
}

/// One `include` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    /// The pattern as written.
    pub pattern: String,
    /// The pattern joined to the config's folder.
    pub resolved: PathBuf,
    /// Its line in the main config file.
    pub line: usize,
}

/// Where a feed is listed: file and 1-based line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The file.
    pub path: PathBuf,
    /// The line of its URL.
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.path.display(), self.line)
    }
}

/// The formats a feed list can be in, told by the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    /// `.toml`: `[[feed]]` tables.
    Toml,
    /// `.opml` or `.xml`: an OPML subscription list.
    Opml,
}

impl ListFormat {
    /// The format of `path`, if it is one feedfold reads.
    pub fn of(path: &Path) -> Option<ListFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "toml" => Some(ListFormat::Toml),
            "opml" | "xml" => Some(ListFormat::Opml),
            _ => None,
        }
    }
}

/// The `[fetch]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchConfig {
    /// Whether feeds listed on loopback, private or link-local addresses are
    /// fetched (default true: the admin writes the list). Redirects from a
    /// public address to such an address are refused either way.
    pub allow_private_networks: bool,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            allow_private_networks: true,
        }
    }
}

/// The `[daemon]` table: how `feedfold run` behaves as a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    /// How long fetches in flight may take to finish after SIGTERM/SIGINT
    /// before they are abandoned (what was already fetched is still written).
    pub shutdown_grace: Duration,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

/// Catches the filters `EnvFilter` accepts but that log nothing useful.
/// EnvFilter reads a bare word that is not a level as a target name
/// (`verbose` enables the events of a module called `verbose`, and nothing
/// else), and a filter of `target=level` directives alone turns every other
/// target, feedfold included, off.
fn check_log_filter(filter: &str) -> Result<(), String> {
    use tracing_subscriber::filter::LevelFilter;
    let directives: Vec<&str> = filter
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    let is_level = |d: &str| d.parse::<LevelFilter>().is_ok();
    if let Some(word) = directives
        .iter()
        .find(|d| !d.contains(['=', '[', '{']) && !is_level(d))
    {
        return Err(format!(
            "invalid log filter {filter:?}: {word:?} is not a level; use one of off, error, warn, info, debug, trace, or `target=level` (e.g. \"debug\", \"info,feedfold=debug\")"
        ));
    }
    let sets_default = directives.iter().any(|d| is_level(d));
    let names_feedfold = directives.iter().any(|d| {
        let target = d.split(['=', '[']).next().unwrap_or("");
        target == "feedfold" || target.starts_with("feedfold::")
    });
    if !directives.is_empty() && !sets_default && !names_feedfold {
        return Err(format!(
            "log filter {filter:?} sets no default level, so feedfold itself would log nothing; start it with a level, e.g. \"info,{filter}\""
        ));
    }
    Ok(())
}

/// The `[log]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// A `RUST_LOG`-style filter (`info`, `warn,feedfold=debug`, …);
    /// the `RUST_LOG` environment variable wins over it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: DEFAULT_LOG_LEVEL.to_string(),
        }
    }
}

/// The `[metrics]` table. Off unless `listen` is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Address of the HTTP endpoint serving `/metrics` and `/healthz`.
    pub listen: Option<SocketAddr>,
}

/// The `[poll]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollConfig {
    /// Cron expression (with seconds) for when the scheduler wakes up.
    pub schedule: String,
    /// Default refresh interval of a feed.
    pub interval: Duration,
    /// Number of feeds fetched at once.
    pub concurrency: usize,
    /// Floor of the adaptive refresh interval.
    pub min_interval: Duration,
    /// Ceiling of the adaptive refresh interval.
    pub max_interval: Duration,
    /// Ceiling of the delay after consecutive errors.
    pub max_backoff: Duration,
    /// Fetches in flight to one host at once (on top of `concurrency`).
    pub per_host: usize,
    /// Time allowed for one whole request, body included.
    pub timeout: Duration,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Redirects followed in one fetch.
    pub max_redirects: usize,
}

/// One feed: a `[[feed]]` table or an OPML outline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedConfig {
    /// The feed's URL.
    pub url: String,
    /// A title chosen by the user, shown instead of the feed's own.
    pub title: Option<String>,
    /// Per-feed refresh interval that overrides `[poll] interval`.
    pub interval: Option<Duration>,
    /// Tags (`tags = [...]`, or OPML folders and categories), without
    /// duplicates (compared ignoring case).
    pub tags: Vec<String>,
    /// Where it is listed.
    pub origin: Origin,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    database: Option<Spanned<String>>,
    #[serde(default)]
    include: Vec<Spanned<String>>,
    #[serde(default)]
    poll: RawPoll,
    #[serde(default)]
    fetch: FetchConfig,
    #[serde(default, rename = "feed")]
    feeds: Vec<RawFeed>,
    #[serde(default)]
    daemon: RawDaemon,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    metrics: RawMetrics,
    #[serde(default)]
    web: crate::web::RawWeb,
    #[serde(default)]
    dedup: DedupConfig,
    #[serde(default)]
    retention: RawRetention,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDaemon {
    shutdown_grace: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLog {
    level: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    days: Option<Spanned<i64>>,
    max_entries_per_feed: Option<Spanned<i64>>,
    schedule: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPoll {
    schedule: Option<Spanned<String>>,
    interval: Option<Spanned<String>>,
    concurrency: Option<Spanned<i64>>,
    min_interval: Option<Spanned<String>>,
    max_interval: Option<Spanned<String>>,
    max_backoff: Option<Spanned<String>>,
    per_host: Option<Spanned<i64>>,
    timeout: Option<Spanned<String>>,
    connect_timeout: Option<Spanned<String>>,
    max_redirects: Option<Spanned<i64>>,
}

/// An included `.toml` list: only `[[feed]]` tables.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawList {
    #[serde(default, rename = "feed")]
    feeds: Vec<RawFeed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeed {
    url: Spanned<String>,
    title: Option<String>,
    interval: Option<Spanned<String>>,
    tags: Option<Vec<Spanned<String>>>,
}

impl Config {
    /// Reads and validates the config file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Config::parse(path, &text)
    }

    /// Validates config text as if it had been read from `path`; included
    /// lists are read from disk, relative to `path`'s folder.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let ctx = Source::new(path, text);
        let raw: RawConfig = toml::from_str(text).map_err(|e| ctx.toml_error(&e))?;

        let base = path.parent().unwrap_or(Path::new(""));
        let database = match raw.database {
            Some(db) if db.get_ref().trim().is_empty() => {
                return Err(ctx.invalid(db.span(), "database", "must not be empty"))
            }
            Some(db) => base.join(db.into_inner()),
            None => base.join(DEFAULT_DATABASE),
        };

        let poll = ctx.poll(raw.poll)?;
        let retention = ctx.retention(raw.retention)?;
        let mut set = FeedSet::default();
        ctx.feeds(raw.feeds, &mut set)?;

        let mut include = Vec::new();
        let mut lists: Vec<PathBuf> = Vec::new();
        for (i, pattern) in raw.include.iter().enumerate() {
            let (inc, files) = ctx.include(base, pattern, &format!("include[{}]", i + 1))?;
            for file in files {
                if lists.contains(&file) || same_file(&file, path) {
                    continue;
                }
                load_list(&file, inc.line, &ctx, &mut set)?;
                lists.push(file);
            }
            include.push(inc);
        }
        let daemon = ctx.daemon(raw.daemon)?;
        let log = ctx.log(raw.log)?;
        let metrics = ctx.metrics(raw.metrics)?;
        let web = crate::web::WebConfig::from_raw(raw.web)
            .map_err(|e| ctx.invalid(e.span, e.key, &e.message))?;
        ctx.dedup(&raw.dedup)?;
        Ok(Config {
            path: path.to_path_buf(),
            database,
            poll,
            fetch: raw.fetch,
            feeds: set.feeds,
            include,
            lists,
            notes: set.notes,
            daemon,
            log,
            metrics,
            web,
            dedup: raw.dedup,
            retention,
        })
    }

    /// Looks a feed up by URL (normalised as the config stores it).
    pub fn feed(&self, url: &str) -> Option<&FeedConfig> {
        let url = normalize_feed_url(url).ok()?;
        self.feeds.iter().find(|f| f.url == url)
    }
}

/// Validates a feed URL and returns it the way feedfold stores it (parsed
/// and re-serialised by the `url` crate): `http` or `https` only.
pub fn normalize_feed_url(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let url = url::Url::parse(raw).map_err(|e| format!("invalid URL {raw:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "unsupported URL scheme {:?} (use http or https)",
            url.scheme()
        ));
    }
    Ok(url.to_string())
}

/// Checks a tag from a `tags = [...]` list: trimmed, not empty, and without
/// `,` or `/` (which separate tags and levels in OPML categories).
pub fn validate_tag(raw: &str) -> Result<String, String> {
    let tag = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if tag.is_empty() {
        return Err("a tag must not be empty".to_string());
    }
    if tag.contains([',', '/']) {
        return Err(format!("tag {tag:?} must not contain ',' or '/'"));
    }
    Ok(tag)
}

fn same_file(a: &Path, b: &Path) -> bool {
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
struct FeedSet {
    feeds: Vec<FeedConfig>,
    by_url: HashMap<String, (usize, bool)>,
    notes: Vec<String>,
}

impl FeedSet {
    /// Adds a feed. A URL listed twice is an error, except between OPML
    /// outlines: OPML can only put a feed in two folders by listing it twice,
    /// so the second listing adds its tags to the first.
    fn add(&mut self, feed: FeedConfig, from_opml: bool) -> Result<(), String> {
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
    let raw: RawList = toml::from_str(&text).map_err(|e| ctx.toml_error(&e))?;
    let mut set = FeedSet::default();
    ctx.feeds(raw.feeds, &mut set)?;
    Ok(set.feeds)
}

/// Reads one included list file into `set`.
fn load_list(
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
            let raw: RawList = toml::from_str(&text).map_err(|e| ctx.toml_error(&e))?;
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

/// The config text being validated, for turning byte spans into line numbers.
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
    /// Byte offsets where lines 2, 3, … start: a feed list of thousands of
    /// entries asks for a line per entry.
    line_starts: Vec<usize>,
}

impl<'a> Source<'a> {
    fn new(path: &'a Path, text: &'a str) -> Self {
        let line_starts = text.match_indices('\n').map(|(i, _)| i + 1).collect();
        Source {
            path,
            text,
            line_starts,
        }
    }

    /// Range checks serde cannot express; the line is where the key is written.
    fn dedup(&self, d: &DedupConfig) -> Result<(), ConfigError> {
        let ratios = [
            ("jaccard_min", d.jaccard_min),
            ("containment_min", d.containment_min),
            ("tie_margin", d.tie_margin),
        ];
        for (key, value) in ratios {
            if !(0.0..=1.0).contains(&value) {
                let at = self.text.find(key).unwrap_or(0);
                return Err(self.invalid(
                    at..at,
                    &format!("dedup.{key}"),
                    "must be between 0 and 1",
                ));
            }
        }
        if d.window < Duration::from_secs(60) {
            let at = self.text.find("window").unwrap_or(0);
            return Err(self.invalid(at..at, "dedup.window", "must be at least 1m"));
        }
        Ok(())
    }

    fn line(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset) + 1
    }

    fn invalid(&self, span: Range<usize>, key: &str, message: &str) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line: self.line(span.start),
            key: key.to_string(),
            message: message.to_string(),
        }
    }

    fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
        let line = e.span().map(|s| self.line(s.start)).unwrap_or(1);
        let key = e
            .span()
            .map(|s| self.key_at(s.start))
            .unwrap_or_else(|| "(file)".to_string());
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line,
            key,
            message: plain_type_words(e.message().trim()),
        }
    }

    /// The dotted key whose line contains `offset`, reconstructed from the
    /// text: toml's own error names the field but not the table it is in.
    fn key_at(&self, offset: usize) -> String {
        let end = offset.min(self.text.len());
        let before = &self.text[..end];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[line_start..]
            .find('\n')
            .map_or(self.text.len(), |i| line_start + i);
        let line = self.text[line_start..line_end].trim();
        let table = before[..line_start]
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('['))
            .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
        let key = line
            .split_once('=')
            .map(|(k, _)| k.trim().to_string())
            .filter(|k| !k.starts_with('['));
        match (table, key) {
            (Some(t), Some(k)) => format!("{t}.{k}"),
            (None, Some(k)) => k,
            (Some(t), None) => t,
            (None, None) => "(file)".to_string(),
        }
    }

    fn duration(&self, value: &Spanned<String>, key: &str) -> Result<Duration, ConfigError> {
        let d = humantime::parse_duration(value.get_ref().trim()).map_err(|e| {
            let msg = format!(
                "invalid duration {:?}: {e} (examples: \"90s\", \"10m\", \"1h 30m\")",
                value.get_ref()
            );
            self.invalid(value.span(), key, &msg)
        })?;
        if d < Duration::from_secs(1) {
            return Err(self.invalid(value.span(), key, "must be at least 1s"));
        }
        Ok(d)
    }

    fn feed_url(&self, value: &Spanned<String>, key: &str) -> Result<String, ConfigError> {
        normalize_feed_url(value.get_ref()).map_err(|m| self.invalid(value.span(), key, &m))
    }

    /// The `[[feed]]` tables of this file, validated, into `set`.
    fn feeds(&self, raw: Vec<RawFeed>, set: &mut FeedSet) -> Result<(), ConfigError> {
        for (i, feed) in raw.into_iter().enumerate() {
            let key = |field: &str| format!("feed[{}].{field}", i + 1);
            let span = feed.url.span();
            let url = self.feed_url(&feed.url, &key("url"))?;
            let interval = match &feed.interval {
                Some(s) => Some(self.duration(s, &key("interval"))?),
                None => None,
            };
            let mut tags = Vec::new();
            for tag in feed.tags.iter().flatten() {
                let t = validate_tag(tag.get_ref())
                    .map_err(|m| self.invalid(tag.span(), &key("tags"), &m))?;
                crate::opml::push_tag(&mut tags, t);
            }
            let origin = Origin {
                path: self.path.to_path_buf(),
                line: self.line(span.start),
            };
            let feed = FeedConfig {
                url,
                title: feed.title.filter(|t| !t.trim().is_empty()),
                interval,
                tags,
                origin,
            };
            set.add(feed, false)
                .map_err(|m| self.invalid(span.clone(), &key("url"), &m))?;
        }
        Ok(())
    }

    /// Resolves one `include` pattern to the files it names, in sorted order.
    fn include(
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

    fn poll(&self, raw: RawPoll) -> Result<PollConfig, ConfigError> {
        let schedule = match raw.schedule {
            Some(s) => {
                validate_cron(s.get_ref())
                    .map_err(|m| self.invalid(s.span(), "poll.schedule", &m))?;
                s.into_inner()
            }
            None => DEFAULT_SCHEDULE.to_string(),
        };
        let interval = match &raw.interval {
            Some(s) => self.duration(s, "poll.interval")?,
            None => DEFAULT_INTERVAL,
        };
        let concurrency = match raw.concurrency {
            Some(c) if (1..=1024).contains(c.get_ref()) => *c.get_ref() as usize,
            Some(c) => {
                return Err(self.invalid(
                    c.span(),
                    "poll.concurrency",
                    "must be between 1 and 1024",
                ))
            }
            None => DEFAULT_CONCURRENCY,
        };
        let duration_or = |value: &Option<Spanned<String>>, key: &str, default: Duration| {
            value
                .as_ref()
                .map_or(Ok(default), |v| self.duration(v, key))
        };
        let min_interval =
            duration_or(&raw.min_interval, "poll.min_interval", DEFAULT_MIN_INTERVAL)?;
        let max_interval =
            duration_or(&raw.max_interval, "poll.max_interval", DEFAULT_MAX_INTERVAL)?;
        if min_interval > max_interval {
            let (span, key) = match (&raw.max_interval, &raw.min_interval) {
                (Some(v), _) => (v.span(), "poll.max_interval"),
                (None, Some(v)) => (v.span(), "poll.min_interval"),
                (None, None) => (0..0, "poll"),
            };
            let msg = format!(
                "max_interval ({}) is shorter than min_interval ({})",
                humantime::format_duration(max_interval),
                humantime::format_duration(min_interval)
            );
            return Err(self.invalid(span, key, &msg));
        }
        Ok(PollConfig {
            schedule,
            interval,
            concurrency,
            min_interval,
            max_interval,
            max_backoff: duration_or(&raw.max_backoff, "poll.max_backoff", DEFAULT_MAX_BACKOFF)?,
            per_host: self.count(&raw.per_host, "poll.per_host", 1..=64, DEFAULT_PER_HOST)?,
            timeout: duration_or(&raw.timeout, "poll.timeout", DEFAULT_TIMEOUT)?,
            connect_timeout: duration_or(
                &raw.connect_timeout,
                "poll.connect_timeout",
                DEFAULT_CONNECT_TIMEOUT,
            )?,
            max_redirects: self.count(
                &raw.max_redirects,
                "poll.max_redirects",
                0..=20,
                DEFAULT_MAX_REDIRECTS,
            )?,
        })
    }

    /// A whole number in `range`, or `default` when the key is absent.
    fn count(
        &self,
        value: &Option<Spanned<i64>>,
        key: &str,
        range: std::ops::RangeInclusive<i64>,
        default: usize,
    ) -> Result<usize, ConfigError> {
        match value {
            None => Ok(default),
            Some(v) => usize::try_from(*v.get_ref())
                .ok()
                .filter(|_| range.contains(v.get_ref()))
                .ok_or_else(|| {
                    let msg = format!("must be between {} and {}", range.start(), range.end());
                    self.invalid(v.span(), key, &msg)
                }),
        }
    }
}

impl Source<'_> {
    fn daemon(&self, raw: RawDaemon) -> Result<DaemonConfig, ConfigError> {
        let shutdown_grace = match &raw.shutdown_grace {
            // Zero is allowed: it means "abandon fetches in flight at once".
            Some(s) => humantime::parse_duration(s.get_ref().trim()).map_err(|e| {
                let msg = format!(
                    "invalid duration {:?}: {e} (examples: \"10s\", \"1m\", \"0s\")",
                    s.get_ref()
                );
                self.invalid(s.span(), "daemon.shutdown_grace", &msg)
            })?,
            None => DEFAULT_SHUTDOWN_GRACE,
        };
        Ok(DaemonConfig { shutdown_grace })
    }

    fn log(&self, raw: RawLog) -> Result<LogConfig, ConfigError> {
        let Some(level) = raw.level else {
            return Ok(LogConfig::default());
        };
        // Parse with the same parser the logger uses, so that a typo fails at
        // start-up with a line number instead of silently logging nothing.
        tracing_subscriber::EnvFilter::builder()
            .parse(level.get_ref())
            .map_err(|e| {
                let msg = format!(
                    "invalid log filter {:?}: {e} (examples: \"info\", \"warn,feedfold=debug\")",
                    level.get_ref()
                );
                self.invalid(level.span(), "log.level", &msg)
            })?;
        if let Err(msg) = check_log_filter(level.get_ref()) {
            return Err(self.invalid(level.span(), "log.level", &msg));
        }
        Ok(LogConfig {
            level: level.into_inner(),
        })
    }

    fn metrics(&self, raw: RawMetrics) -> Result<MetricsConfig, ConfigError> {
        let Some(listen) = raw.listen else {
            return Ok(MetricsConfig::default());
        };
        let addr = listen.get_ref().trim().parse::<SocketAddr>().map_err(|e| {
            let msg = format!(
                "invalid listen address {:?}: {e} (expected IP:PORT, e.g. \"127.0.0.1:9464\" or \"[::1]:9464\")",
                listen.get_ref()
            );
            self.invalid(listen.span(), "metrics.listen", &msg)
        })?;
        Ok(MetricsConfig { listen: Some(addr) })
    }

    fn retention(&self, raw: RawRetention) -> Result<RetentionConfig, ConfigError> {
        let mut r = RetentionConfig::default();
        if let Some(d) = raw.days {
            r.days = u32::try_from(*d.get_ref())
                .ok()
                .filter(|d| (1..=36_500).contains(d))
                .ok_or_else(|| {
                    self.invalid(d.span(), "retention.days", "must be between 1 and 36500")
                })?;
        }
        if let Some(m) = raw.max_entries_per_feed {
            let max = u64::try_from(*m.get_ref()).ok().filter(|m| *m >= 1);
            r.max_entries_per_feed = Some(max.ok_or_else(|| {
                self.invalid(
                    m.span(),
                    "retention.max_entries_per_feed",
                    "must be at least 1 (leave it out for no cap)",
                )
            })?);
        }
        if let Some(s) = raw.schedule {
            validate_cron(s.get_ref())
                .map_err(|m| self.invalid(s.span(), "retention.schedule", &m))?;
            r.schedule = s.into_inner();
        }
        Ok(r)
    }
}

/// Checks a cron expression with the same parser the scheduler uses, so that a
/// bad expression fails at start-up and not at the first tick.
fn validate_cron(expr: &str) -> Result<(), String> {
    tokio_cron_scheduler::Job::new_async(expr, |_, _| Box::pin(async {}))
        .map(drop)
        .map_err(|_| {
            // The scheduler only says `ParseSchedule`; croner, which it
            // parses with (same settings), says what is wrong.
            let why = croner::parser::CronParser::builder()
                .seconds(croner::parser::Seconds::Required)
                .dom_and_dow(true)
                .build()
                .parse(expr)
                .err()
                .map(|e| {
                    let e = e.to_string();
                    let e = ["Invalid pattern: ", "Component error: "]
                        .iter()
                        .find_map(|p| e.strip_prefix(p))
                        .unwrap_or(&e);
                    format!(" ({})", e.trim_end_matches('.').to_lowercase())
                })
                .unwrap_or_default();
            format!(
                "invalid cron expression {expr:?}{why}; expected six fields with seconds first, e.g. \"0 */5 * * * *\""
            )
        })
}

/// A serde type error in the user's words: `invalid type: string "many",
/// expected i64` becomes `expected a whole number, found the text "many"`.
fn plain_type_words(message: &str) -> String {
    let mut m = message.to_string();
    for (rust, words) in [
        ("i64", "a whole number"),
        ("u64", "a whole number"),
        ("usize", "a whole number"),
        ("u32", "a whole number"),
        ("u16", "a whole number"),
        ("u8", "a whole number"),
        ("f64", "a number"),
        ("a sequence", "a list"),
    ] {
        m = m.replace(&format!("expected {rust}"), &format!("expected {words}"));
    }
    let Some((found, expected)) = m
        .strip_prefix("invalid type: ")
        .and_then(|rest| rest.split_once(", expected "))
    else {
        return m;
    };
    let found = found
        .replacen("string ", "the text ", 1)
        .replacen("floating point ", "the number ", 1)
        .replacen("integer ", "the number ", 1)
        .replace('`', "");
    format!("expected {expected}, found {found}")
}

impl FeedConfig {
    /// The feed's refresh interval: its own, else the default.
    pub fn interval_or(&self, default: Duration) -> Duration {
        self.interval.unwrap_or(default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/feedfold/feedfold.toml"), text)
    }

    fn err(text: &str) -> String {
        parse(text)
            .expect_err("config should be rejected")
            .to_string()
    }

    #[test]
    fn full_example_parses() {
        let c = parse(
            r#"
database = "data/ff.db"
[poll]
schedule = "0 */5 * * * *"
interval = "30m"
concurrency = 4
[[feed]]
url = "https://example.org/rss.xml"
title = "Example"
interval = "10m"
[[feed]]
url = "https://example.com/atom"
"#,
        )
        .expect("valid config");
        assert_eq!(c.database, PathBuf::from("/etc/feedfold/data/ff.db"));
        assert_eq!(c.poll.interval, Duration::from_secs(1800));
        assert_eq!(c.poll.concurrency, 4);
        assert_eq!(c.feeds.len(), 2);
        assert_eq!(c.feeds[0].interval, Some(Duration::from_secs(600)));
        assert_eq!(c.feeds[1].title, None);
    }

    #[test]
    fn defaults_apply() {
        let c = parse("").expect("empty config is valid");
        assert_eq!(c.database, PathBuf::from("/etc/feedfold/feedfold.db"));
        assert_eq!(c.poll.schedule, DEFAULT_SCHEDULE);
        assert_eq!(c.poll.concurrency, DEFAULT_CONCURRENCY);
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let e = err("[poll]\ninterval = \"5m\"\nintervall = \"5m\"\n");
        assert!(
            e.starts_with("/etc/feedfold/feedfold.toml:3: poll.intervall:"),
            "{e}"
        );
        assert!(e.contains("unknown field"), "{e}");
    }

    #[test]
    fn bad_duration_names_line_and_key() {
        let e = err("[[feed]]\nurl = \"https://a.example/\"\n[[feed]]\nurl = \"https://b.example/\"\ninterval = \"ten minutes\"\n");
        assert!(
            e.starts_with("/etc/feedfold/feedfold.toml:5: feed[2].interval:"),
            "{e}"
        );
        assert!(e.contains("invalid duration"), "{e}");
    }

    #[test]
    fn bad_cron_names_line() {
        let e = err("[poll]\n\nschedule = \"every five minutes\"\n");
        assert!(
            e.starts_with("/etc/feedfold/feedfold.toml:3: poll.schedule:"),
            "{e}"
        );
    }

    #[test]
    fn duplicate_url_names_both_lines() {
        let e = err("[[feed]]\nurl = \"https://a.example/rss\"\n[[feed]]\nurl = \"https://a.example/rss\"\n");
        assert!(
            e.starts_with("/etc/feedfold/feedfold.toml:4: feed[2].url:"),
            "{e}"
        );
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn bad_url_and_wrong_type_are_rejected() {
        assert!(err("[[feed]]\nurl = \"ftp://x/\"\n").contains("scheme"));
        assert!(err("[[feed]]\nurl = \"not a url\"\n").contains("invalid URL"));
        let e = err("[poll]\nconcurrency = \"many\"\n");
        assert!(e.contains(":2: poll.concurrency:"), "{e}");
        assert!(err("[poll]\nconcurrency = 0\n").contains("between 1 and 1024"));
    }

    #[test]
    fn poll_politeness_keys_parse_and_default() {
        let c = parse("").expect("valid");
        assert_eq!(c.poll.min_interval, DEFAULT_MIN_INTERVAL);
        assert_eq!(c.poll.max_interval, DEFAULT_MAX_INTERVAL);
        assert_eq!(c.poll.max_backoff, DEFAULT_MAX_BACKOFF);
        assert_eq!(c.poll.per_host, 2);
        assert_eq!(c.poll.timeout, Duration::from_secs(30));
        assert_eq!(c.poll.max_redirects, 5);
        let c = parse(
            "[poll]\nmin_interval = \"1m\"\nmax_interval = \"6h\"\nmax_backoff = \"2h\"\nper_host = 3\ntimeout = \"5s\"\nconnect_timeout = \"2s\"\nmax_redirects = 0\n",
        )
        .expect("valid");
        assert_eq!(c.poll.min_interval, Duration::from_secs(60));
        assert_eq!(c.poll.max_interval, Duration::from_secs(6 * 3600));
        assert_eq!(c.poll.max_backoff, Duration::from_secs(7200));
        assert_eq!(c.poll.per_host, 3);
        assert_eq!(c.poll.timeout, Duration::from_secs(5));
        assert_eq!(c.poll.connect_timeout, Duration::from_secs(2));
        assert_eq!(c.poll.max_redirects, 0);
    }

    #[test]
    fn bad_politeness_keys_name_line_and_key() {
        let e = err("[poll]\nper_host = 0\n");
        assert!(
            e.contains(":2: poll.per_host: must be between 1 and 64"),
            "{e}"
        );
        let e = err("[poll]\nconcurrency = 4\nmax_backoff = \"later\"\n");
        assert!(e.contains(":3: poll.max_backoff: invalid duration"), "{e}");
        let e = err("[poll]\nmin_interval = \"2h\"\nmax_interval = \"1h\"\n");
        assert!(
            e.contains(
                ":3: poll.max_interval: max_interval (1h) is shorter than min_interval (2h)"
            ),
            "{e}"
        );
        let e = err("[poll]\nmax_redirects = 21\n");
        assert!(e.contains(":2: poll.max_redirects:"), "{e}");
    }

    #[test]
    fn service_tables_parse_and_default() {
        let c = parse("").expect("empty config is valid");
        assert_eq!(c.daemon.shutdown_grace, DEFAULT_SHUTDOWN_GRACE);
        assert_eq!(c.log.level, DEFAULT_LOG_LEVEL);
        assert_eq!(c.metrics.listen, None);

        let c = parse(
            "[daemon]\nshutdown_grace = \"2s\"\n[log]\nlevel = \"warn,feedfold=debug\"\n[metrics]\nlisten = \"127.0.0.1:9464\"\n",
        )
        .expect("valid config");
        assert_eq!(c.daemon.shutdown_grace, Duration::from_secs(2));
        assert_eq!(c.log.level, "warn,feedfold=debug");
        assert_eq!(
            c.metrics.listen,
            Some("127.0.0.1:9464".parse().expect("addr"))
        );
        let c = parse("[daemon]\nshutdown_grace = \"0s\"\n").expect("zero grace");
        assert_eq!(c.daemon.shutdown_grace, Duration::ZERO);
    }

    #[test]
    fn bad_service_values_name_line_and_key() {
        let e = err("[metrics]\nlisten = \"localhost\"\n");
        assert!(
            e.starts_with("/etc/feedfold/feedfold.toml:2: metrics.listen:"),
            "{e}"
        );
        let e = err("[log]\n\nlevel = \"feedfold=loud\"\n");
        assert!(
            e.starts_with("/etc/feedfold/feedfold.toml:3: log.level:"),
            "{e}"
        );
        // Parsed by EnvFilter as a target named `verbose`: nothing logged.
        let e = err("[log]\nlevel = \"verbose\"\n");
        assert!(
            e.starts_with("/etc/feedfold/feedfold.toml:2: log.level:") && e.contains("not a level"),
            "{e}"
        );
        let e = err("[log]\nlevel = \"tokio=debug\"\n");
        assert!(e.contains("feedfold itself would log nothing"), "{e}");
        for ok in [
            "debug",
            "warn,feedfold=debug",
            "feedfold::schedule=trace",
            "OFF",
            "info,tokio_cron_scheduler=warn",
        ] {
            assert!(check_log_filter(ok).is_ok(), "{ok}");
        }
        let e = err("[daemon]\nshutdown_grace = \"a while\"\n");
        assert!(
            e.starts_with("/etc/feedfold/feedfold.toml:2: daemon.shutdown_grace:"),
            "{e}"
        );
        let e = err("[daemon]\ngrace = \"1s\"\n");
        assert!(e.contains(":2: daemon.grace:"), "{e}");
    }

    #[test]
    fn retention_defaults_and_values() {
        let c = parse("").expect("valid");
        assert_eq!(c.retention, RetentionConfig::default());
        assert_eq!(c.retention.days, 180);
        let c = parse(
            "[retention]\ndays = 30\nmax_entries_per_feed = 500\nschedule = \"0 0 4 * * *\"\n",
        )
        .expect("valid");
        assert_eq!(c.retention.days, 30);
        assert_eq!(c.retention.max_entries_per_feed, Some(500));
        assert_eq!(c.retention.schedule, "0 0 4 * * *");
    }

    #[test]
    fn bad_retention_values_name_line_and_key() {
        let e = err("[poll]\ninterval = \"5m\"\n[retention]\ndays = 0\n");
        assert!(
            e.starts_with("/etc/feedfold/feedfold.toml:4: retention.days:"),
            "{e}"
        );
        let e = err("[retention]\nmax_entries_per_feed = -3\n");
        assert!(
            e.starts_with("/etc/feedfold/feedfold.toml:2: retention.max_entries_per_feed:"),
            "{e}"
        );
        let e = err("[retention]\ndays = \"forever\"\n");
        assert!(e.contains(":2: retention.days:"), "{e}");
        let e = err("[retention]\nkeep = 3\n");
        assert!(e.contains(":2: retention.keep:"), "{e}");
        let e = err("[retention]\nschedule = \"daily\"\n");
        assert!(e.contains(":2: retention.schedule:"), "{e}");
    }

    #[test]
    fn unreadable_file_names_path() {
        let e = Config::load(Path::new("/nonexistent/feedfold.toml")).expect_err("missing");
        assert!(e.to_string().contains("/nonexistent/feedfold.toml"));
    }

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
