//! Configuration: the TOML file that lists the database, the poll settings
//! and the feeds.
//!
//! The file's shape is a public contract (see README.md, "Configuration").
//! Every error names the file, the line and the key, because the person
//! reading it is editing that file by hand.

use std::collections::HashMap;
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
    /// The feeds to poll, in file order.
    pub feeds: Vec<FeedConfig>,
    /// Daemon settings (`[daemon]`).
    pub daemon: DaemonConfig,
    /// Logging settings (`[log]`).
    pub log: LogConfig,
    /// Metrics and health endpoint (`[metrics]`).
    pub metrics: MetricsConfig,
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
#[derive(Debug, Clone)]
pub struct PollConfig {
    /// Cron expression (with seconds) for when the scheduler wakes up.
    pub schedule: String,
    /// Default refresh interval of a feed.
    pub interval: Duration,
    /// Number of feeds fetched at once.
    pub concurrency: usize,
}

/// One `[[feed]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedConfig {
    /// The feed's URL.
    pub url: String,
    /// A title chosen by the user, shown instead of the feed's own.
    pub title: Option<String>,
    /// Per-feed refresh interval that overrides `[poll] interval`.
    pub interval: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    database: Option<Spanned<String>>,
    #[serde(default)]
    poll: RawPoll,
    #[serde(default, rename = "feed")]
    feeds: Vec<RawFeed>,
    #[serde(default)]
    daemon: RawDaemon,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    metrics: RawMetrics,
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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeed {
    url: Spanned<String>,
    title: Option<String>,
    interval: Option<Spanned<String>>,
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

    /// Validates config text as if it had been read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let ctx = Source { path, text };
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
        let mut feeds = Vec::with_capacity(raw.feeds.len());
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, feed) in raw.feeds.into_iter().enumerate() {
            let key = |field: &str| format!("feed[{}].{field}", i + 1);
            let span = feed.url.span();
            let url = ctx.feed_url(&feed.url, &key("url"))?;
            if let Some(first) = seen.insert(url.clone(), ctx.line(span.start)) {
                let msg = format!("duplicate feed URL {url} (first listed on line {first})");
                return Err(ctx.invalid(span, &key("url"), &msg));
            }
            let interval = match &feed.interval {
                Some(s) => Some(ctx.duration(s, &key("interval"))?),
                None => None,
            };
            feeds.push(FeedConfig {
                url,
                title: feed.title.filter(|t| !t.trim().is_empty()),
                interval,
            });
        }
        let daemon = ctx.daemon(raw.daemon)?;
        let log = ctx.log(raw.log)?;
        let metrics = ctx.metrics(raw.metrics)?;
        ctx.dedup(&raw.dedup)?;
        Ok(Config {
            path: path.to_path_buf(),
            database,
            poll,
            feeds,
            daemon,
            log,
            metrics,
            dedup: raw.dedup,
            retention,
        })
    }
}

/// The config text being validated, for turning byte spans into line numbers.
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
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
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
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
            message: e.message().trim().to_string(),
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
        let raw = value.get_ref().trim();
        let url = url::Url::parse(raw)
            .map_err(|e| self.invalid(value.span(), key, &format!("invalid URL {raw:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            let msg = format!(
                "unsupported URL scheme {:?} (use http or https)",
                url.scheme()
            );
            return Err(self.invalid(value.span(), key, &msg));
        }
        Ok(url.to_string())
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
        Ok(PollConfig {
            schedule,
            interval,
            concurrency,
        })
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
        .map_err(|e| {
            format!(
                "invalid cron expression {expr:?} ({e:?}); expected six fields with seconds first, e.g. \"0 */5 * * * *\""
            )
        })
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
}
