//! The checks serde cannot express, table by table: ranges, durations,
//! URLs, cron expressions and log filters, each error at the value's line.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::include::FeedSet;
use super::raw::{RawDaemon, RawDedup, RawFeed, RawLog, RawMetrics, RawPoll, RawRetention};
use super::span::Source;
use super::{
    normalize_feed_url, validate_tag, ConfigError, DaemonConfig, Database, FeedConfig, LogConfig,
    MetricsConfig, Origin, PollConfig, RetentionConfig,
};
use super::{
    DEFAULT_CONCURRENCY, DEFAULT_CONNECT_TIMEOUT, DEFAULT_DATABASE, DEFAULT_INTERVAL,
    DEFAULT_LEASE, DEFAULT_MAX_BACKOFF, DEFAULT_MAX_INTERVAL, DEFAULT_MAX_REDIRECTS,
    DEFAULT_MIN_INTERVAL, DEFAULT_PER_HOST, DEFAULT_SCHEDULE, DEFAULT_SHUTDOWN_GRACE,
    DEFAULT_TIMEOUT,
};
use crate::dedup::DedupConfig;

impl Source<'_> {
    /// The `database` key: a SQLite file relative to the config's folder,
    /// or a PostgreSQL URL.
    pub(super) fn database(
        &self,
        raw: Option<Spanned<String>>,
        base: &Path,
    ) -> Result<Database, ConfigError> {
        let Some(db) = raw else {
            return Ok(Database::Sqlite(base.join(DEFAULT_DATABASE)));
        };
        Database::from_setting(db.get_ref(), base)
            .map_err(|msg| self.invalid(db.span(), "database", &msg))
    }

    /// The `[dedup]` table: every key optional, with `DedupConfig`'s defaults.
    pub(super) fn dedup(&self, raw: RawDedup) -> Result<DedupConfig, ConfigError> {
        let d = DedupConfig::default();
        let ratio = |value: Option<Spanned<f64>>, key: &str, default: f64| match value {
            None => Ok(default),
            Some(v) if (0.0..=1.0).contains(v.get_ref()) => Ok(v.into_inner()),
            Some(v) => {
                Err(self.invalid(v.span(), &format!("dedup.{key}"), "must be between 0 and 1"))
            }
        };
        let jaccard_min = ratio(raw.jaccard_min, "jaccard_min", d.jaccard_min)?;
        let containment_min = ratio(raw.containment_min, "containment_min", d.containment_min)?;
        let tie_margin = ratio(raw.tie_margin, "tie_margin", d.tie_margin)?;
        let window = match &raw.window {
            Some(w) => self.duration_min(w, "dedup.window", Duration::from_secs(60))?,
            None => d.window,
        };
        let or =
            |value: Option<Spanned<usize>>, default| value.map_or(default, Spanned::into_inner);
        Ok(DedupConfig {
            window,
            jaccard_min,
            containment_min,
            containment_min_shingles: or(raw.containment_min_shingles, d.containment_min_shingles),
            min_tokens: or(raw.min_tokens, d.min_tokens),
            lead_tokens: or(raw.lead_tokens, d.lead_tokens),
            max_number_mismatch: or(raw.max_number_mismatch, d.max_number_mismatch),
            max_name_mismatch: or(raw.max_name_mismatch, d.max_name_mismatch),
            tie_margin,
            boilerplate_min_items: raw
                .boilerplate_min_items
                .map_or(d.boilerplate_min_items, Spanned::into_inner),
        })
    }

    /// A duration of at least 1s.
    pub(super) fn duration(
        &self,
        value: &Spanned<String>,
        key: &str,
    ) -> Result<Duration, ConfigError> {
        self.duration_min(value, key, Duration::from_secs(1))
    }

    /// A duration of at least `min`.
    pub(super) fn duration_min(
        &self,
        value: &Spanned<String>,
        key: &str,
        min: Duration,
    ) -> Result<Duration, ConfigError> {
        let d = humantime::parse_duration(value.get_ref().trim()).map_err(|e| {
            let msg = format!(
                "invalid duration {:?}: {e} (examples: \"90s\", \"10m\", \"1h 30m\")",
                value.get_ref()
            );
            self.invalid(value.span(), key, &msg)
        })?;
        if d < min {
            let msg = format!("must be at least {}", humantime::format_duration(min));
            return Err(self.invalid(value.span(), key, &msg));
        }
        Ok(d)
    }

    pub(super) fn feed_url(
        &self,
        value: &Spanned<String>,
        key: &str,
    ) -> Result<String, ConfigError> {
        normalize_feed_url(value.get_ref()).map_err(|m| self.invalid(value.span(), key, &m))
    }

    /// The `[[feed]]` tables of this file, validated, into `set`.
    pub(super) fn feeds(&self, raw: Vec<RawFeed>, set: &mut FeedSet) -> Result<(), ConfigError> {
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

    pub(super) fn poll(&self, raw: RawPoll) -> Result<PollConfig, ConfigError> {
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
    pub(super) fn count(
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

    pub(super) fn daemon(&self, raw: RawDaemon) -> Result<DaemonConfig, ConfigError> {
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
        // Renewal runs every 2 s: a shorter lease would expire between two.
        let lease = match &raw.lease {
            Some(l) => self.duration_min(l, "daemon.lease", Duration::from_secs(5))?,
            None => DEFAULT_LEASE,
        };
        Ok(DaemonConfig {
            shutdown_grace,
            lease,
        })
    }

    pub(super) fn log(&self, raw: RawLog) -> Result<LogConfig, ConfigError> {
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

    pub(super) fn metrics(&self, raw: RawMetrics) -> Result<MetricsConfig, ConfigError> {
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

    pub(super) fn retention(&self, raw: RawRetention) -> Result<RetentionConfig, ConfigError> {
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

/// Catches the filters `EnvFilter` accepts but that log nothing useful.
/// EnvFilter reads a bare word that is not a level as a target name
/// (`verbose` enables the events of a module called `verbose`, and nothing
/// else), and a filter of `target=level` directives alone turns every other
/// target, feedfold included, off.
pub(super) fn check_log_filter(filter: &str) -> Result<(), String> {
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

/// The scheme part (`postgres://`, `file:`) of a value written as a URL:
/// `scheme://…`, or SQLite's own `file:…`. Taken as a file name, it would
/// create a folder called `postgres:`. A one-letter scheme is a Windows
/// drive (`C:/data/ff.db`), not a URL.
pub fn url_prefix(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_once(':')?;
    let is_scheme = scheme.len() > 1
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let slashes = if rest.starts_with("//") { 2 } else { 0 };
    let is_url = slashes == 2 || scheme.eq_ignore_ascii_case("file");
    (is_scheme && is_url).then(|| &value[..scheme.len() + 1 + slashes])
}

/// Checks a cron expression with the same parser the scheduler uses, so that a
/// bad expression fails at start-up and not at the first tick.
fn validate_cron(expr: &str) -> Result<(), String> {
    crate::cron::parse(expr)
        .map(drop)
        .map_err(|e| e.to_string())
}
