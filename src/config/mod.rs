//! Configuration: the TOML file that names the database, the poll settings
//! and the feeds, plus the feed lists it includes (`include = [...]`: more
//! TOML files of `[[feed]]` tables, and OPML subscription lists).
//!
//! The files' shape is a public contract (see README.md, "Configuration").
//! Every error names the file, the line and the key, because the person
//! reading it is editing that file by hand. Loading is all-or-nothing: a list
//! with an error rejects the whole configuration, so a half-saved edit never
//! makes the daemon drop feeds.
//!
//! `raw` holds the serde shapes of the files as written, `span` turns byte
//! spans into lines, `check` validates each table into the public types
//! below, and `include` reads the feed lists the config includes.

mod check;
mod database;
mod include;
mod raw;
mod span;
mod web;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::dedup::DedupConfig;

pub use check::url_prefix as database_url_prefix;
pub use database::{Database, PgUrl, DATABASE_ENV};
pub use include::read_toml_list;
pub use web::WebConfig;

use include::{load_list, same_file, FeedSet};
use raw::{RawConfig, CONFIG_TABLES};
use span::Source;

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
/// Default lifetime of a PostgreSQL host or role lease without renewal.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
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
    /// An environment variable that overrides the config holds a wrong value.
    #[error("{name} (environment): {message}")]
    Env {
        /// The variable.
        name: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

/// The whole configuration, validated, with paths resolved.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config file this was read from.
    pub path: PathBuf,
    /// Where the data lives: an SQLite file (absolute or relative to the
    /// working directory) or PostgreSQL; `FEEDFOLD_DATABASE` overrides the
    /// file's `database` key when the config is [`Config::load`]ed.
    pub database: Database,
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
    pub web: WebConfig,
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
    /// On PostgreSQL: how long a host or role lease lasts without renewal,
    /// so how soon a dead process's hosts and roles move to the others.
    /// Renewed every couple of seconds; a process paused longer than this
    /// loses its leases and its writes are refused.
    pub lease: Duration,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            lease: DEFAULT_LEASE,
        }
    }
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
/// `FEEDFOLD_DATABASE`: a PostgreSQL URL or a file path relative to the
/// working directory, like any path given on the command line.
fn database_from_env(value: &std::ffi::OsStr) -> Result<Database, ConfigError> {
    let invalid = |message: String| ConfigError::Env {
        name: DATABASE_ENV,
        message,
    };
    let value = value
        .to_str()
        .ok_or_else(|| invalid("is not valid UTF-8".into()))?;
    Database::from_setting(value, Path::new("")).map_err(invalid)
}

impl Config {
    /// Reads and validates the config file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        let mut config = Config::parse(path, &text)?;
        if let Some(value) = std::env::var_os(DATABASE_ENV) {
            config.database = database_from_env(&value)?;
        }
        Ok(config)
    }

    /// Validates config text as if it had been read from `path`; included
    /// lists are read from disk, relative to `path`'s folder.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let ctx = Source::new(path, text);
        let raw: RawConfig = ctx.deserialize(CONFIG_TABLES)?;

        let base = path.parent().unwrap_or(Path::new(""));
        let database = ctx.database(raw.database, base)?;

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
        let web =
            WebConfig::from_raw(raw.web).map_err(|e| ctx.invalid(e.span, e.key, &e.message))?;
        let dedup = ctx.dedup(raw.dedup)?;
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
            dedup,
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
impl FeedConfig {
    /// The feed's refresh interval: its own, else the default.
    pub fn interval_or(&self, default: Duration) -> Duration {
        self.interval.unwrap_or(default)
    }
}

#[cfg(test)]
mod tests {
    use super::check::check_log_filter;
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
        assert_eq!(
            c.database.sqlite(),
            Some(Path::new("/etc/feedfold/data/ff.db"))
        );
        assert_eq!(c.poll.interval, Duration::from_secs(1800));
        assert_eq!(c.poll.concurrency, 4);
        assert_eq!(c.feeds.len(), 2);
        assert_eq!(c.feeds[0].interval, Some(Duration::from_secs(600)));
        assert_eq!(c.feeds[1].title, None);
    }

    #[test]
    fn defaults_apply() {
        let c = parse("").expect("empty config is valid");
        assert_eq!(
            c.database.sqlite(),
            Some(Path::new("/etc/feedfold/feedfold.db"))
        );
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
    fn dedup_keys_default_and_override() {
        let c = parse("").expect("valid");
        assert_eq!(c.dedup, DedupConfig::default());
        let c = parse("[dedup]\nwindow = \"36h\"\njaccard_min = 1\nmin_tokens = 3\nboilerplate_min_items = 7\n")
            .expect("valid");
        assert_eq!(c.dedup.window, Duration::from_secs(36 * 3600));
        assert_eq!(c.dedup.jaccard_min, 1.0);
        assert_eq!(c.dedup.min_tokens, 3);
        assert_eq!(c.dedup.boilerplate_min_items, 7);
        assert_eq!(c.dedup.tie_margin, DedupConfig::default().tie_margin);
    }

    #[test]
    fn dedup_errors_name_the_line_of_their_key_not_its_first_mention() {
        let e = err("# tie_margin: see docs\n[dedup]\n\ntie_margin = -0.1\n");
        assert!(
            e.starts_with(
                "/etc/feedfold/feedfold.toml:4: dedup.tie_margin: must be between 0 and 1"
            ),
            "{e}"
        );
        let e = err("[[feed]]\nurl = \"https://a.example/window\"\n[dedup]\nwindow = \"59s\"\n");
        assert!(
            e.starts_with("/etc/feedfold/feedfold.toml:4: dedup.window: must be at least 1m"),
            "{e}"
        );
        let e = err("[dedup]\nmin_tokens = -1\n");
        assert!(
            e.starts_with("/etc/feedfold/feedfold.toml:2: dedup.min_tokens:"),
            "{e}"
        );
    }

    #[test]
    fn a_database_url_other_than_postgres_is_refused_without_repeating_it() {
        for (value, shown) in [
            ("mysql://feedfold:secret@db.example/news", "mysql://…"),
            ("sqlite:///var/lib/feedfold/ff.db", "sqlite://…"),
            ("FILE:ff.db?mode=ro", "FILE:…"),
        ] {
            let e = err(&format!("\ndatabase = \"{value}\"\n"));
            assert!(
                e.starts_with(&format!(
                    "/etc/feedfold/feedfold.toml:2: database: {shown:?} is a URL feedfold cannot use"
                )),
                "{e}"
            );
            assert!(!e.contains("secret"), "{e}");
        }
        for path in ["data/ff.db", "/var/lib/ff.db", "C:/ff.db", "notes:2024.db"] {
            let c = parse(&format!("database = \"{path}\"\n")).expect(path);
            assert_eq!(
                c.database,
                Database::Sqlite(Path::new("/etc/feedfold").join(path))
            );
        }
        let c = parse("database = \"postgres://ff@db.example/news\"\n").expect("postgres");
        assert!(
            matches!(c.database, Database::Postgres(_)),
            "{:?}",
            c.database
        );
    }

    #[test]
    fn an_unknown_table_is_named_with_the_known_ones() {
        let e = err("[poll]\ninterval = \"5m\"\n\n[webhooks]\nport = 8080\n");
        assert_eq!(
            e,
            "/etc/feedfold/feedfold.toml:4: webhooks: unknown table [webhooks]; the known tables are \
             [poll], [fetch], [[feed]], [daemon], [log], [metrics], [web], [dedup] and [retention]"
        );
        let e = err("[[feed]]\nurl = \"https://a.example/\"\n[[hooks]]\nurl = \"x\"\n");
        assert!(
            e.starts_with("/etc/feedfold/feedfold.toml:3: hooks: unknown table [[hooks]];"),
            "{e}"
        );
        // A key that is not a table keeps serde's word for it.
        let e = err("webhooks = 3\n");
        assert!(
            e.starts_with("/etc/feedfold/feedfold.toml:1: webhooks: unknown field `webhooks`"),
            "{e}"
        );
    }

    #[test]
    fn unreadable_file_names_path() {
        let e = Config::load(Path::new("/nonexistent/feedfold.toml")).expect_err("missing");
        assert!(e.to_string().contains("/nonexistent/feedfold.toml"));
    }
}
