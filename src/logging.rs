//! Logging: where log lines go and what they look like.
//!
//! Three formats, chosen by `--log-format` (default `auto`):
//! - `human`: tracing's default lines with timestamps, coloured on a terminal;
//! - `plain`: no colours and no timestamps, for journald, which stamps lines
//!   itself. When stderr is a journal stream (`JOURNAL_STREAM` is set) each
//!   line starts with its syslog priority (`<3>` error … `<7>` debug), which
//!   journald turns into the entry's priority, so `journalctl -p warning`
//!   works;
//! - `json`: one JSON object per line, event fields at the top level.
//!
//! `auto` picks `plain` under systemd (`JOURNAL_STREAM` or `INVOCATION_ID`
//! set) and `human` otherwise.
//!
//! The filter starts as `RUST_LOG` if set, else `info`; once the config is
//! read, [`Logging::apply_config`] switches to `[log] level` unless `RUST_LOG`
//! was set: the environment wins, so that one run can be made chatty without
//! editing the file.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Layer, Registry};

use crate::config::DEFAULT_LOG_LEVEL;

/// The log line format, as `--log-format` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `plain` under systemd, else `human`.
    Auto,
    /// Timestamps, levels, colours on a terminal.
    Human,
    /// No colours, no timestamps (journald adds its own).
    Plain,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// Resolves `auto` from the environment systemd gives its services.
    pub fn resolve(self) -> LogFormat {
        match self {
            LogFormat::Auto if under_systemd() => LogFormat::Plain,
            LogFormat::Auto => LogFormat::Human,
            other => other,
        }
    }
}

fn under_systemd() -> bool {
    std::env::var_os("JOURNAL_STREAM").is_some() || std::env::var_os("INVOCATION_ID").is_some()
}

/// A log filter that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// The filter text did not parse.
    #[error("invalid log filter {filter:?}: {message}")]
    Filter {
        /// The filter text.
        filter: String,
        /// Why it was refused.
        message: String,
    },
    /// The logger is gone (cannot happen while the process runs).
    #[error("cannot change the log filter: {0}")]
    Reload(String),
}

/// The installed logger; lets the config replace the starting filter.
pub struct Logging {
    filter: reload::Handle<EnvFilter, Registry>,
    from_env: bool,
}

impl Logging {
    /// Applies `[log] level` unless `RUST_LOG` already chose the filter.
    pub fn apply_config(&self, level: &str) -> Result<(), LoggingError> {
        if self.from_env {
            return Ok(());
        }
        let filter = parse_filter(level)?;
        self.filter
            .reload(filter)
            .map_err(|e| LoggingError::Reload(e.to_string()))
    }
}

fn parse_filter(text: &str) -> Result<EnvFilter, LoggingError> {
    EnvFilter::builder()
        .parse(text)
        .map_err(|e| LoggingError::Filter {
            filter: text.to_string(),
            message: e.to_string(),
        })
}

type Filtered = tracing_subscriber::layer::Layered<reload::Layer<EnvFilter, Registry>, Registry>;
type BoxedLayer = Box<dyn Layer<Filtered> + Send + Sync>;

/// Installs the global logger writing to stderr. Call once, before anything logs.
pub fn init(format: LogFormat) -> Logging {
    let env = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let (filter, env_error) = match env.as_deref().map(parse_filter) {
        Some(Ok(f)) => (f, None),
        Some(Err(e)) => (EnvFilter::new(DEFAULT_LOG_LEVEL), Some(e)),
        None => (EnvFilter::new(DEFAULT_LOG_LEVEL), None),
    };
    let from_env = env.is_some() && env_error.is_none();
    let (filter_layer, handle) = reload::Layer::new(filter);
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let fmt_layer: BoxedLayer = match format.resolve() {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Plain => {
            let base = tracing_subscriber::fmt::format()
                .without_time()
                .with_ansi(false);
            tracing_subscriber::fmt::layer()
                .event_format(SyslogPrefix {
                    inner: base,
                    enabled: journal,
                })
                .with_ansi(false)
                .with_writer(std::io::stderr)
                .boxed()
        }
        LogFormat::Human | LogFormat::Auto => tracing_subscriber::fmt::layer()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .boxed(),
    };
    // A second init (only possible in tests) keeps the first logger.
    let _ = tracing_subscriber::registry()
        .with(filter_layer)
        .with(fmt_layer)
        .try_init();
    if let Some(e) = env_error {
        tracing::warn!("RUST_LOG ignored: {e}");
    }
    Logging {
        filter: handle,
        from_env,
    }
}

/// Prefixes each line with its syslog priority in the `<N>` form journald
/// reads from a service's stderr (sd-daemon(3)).
struct SyslogPrefix<F> {
    inner: F,
    enabled: bool,
}

impl<S, N, F> FormatEvent<S, N> for SyslogPrefix<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if self.enabled {
            write!(writer, "<{}>", syslog_priority(*event.metadata().level()))?;
        }
        self.inner.format_event(ctx, writer, event)
    }
}

fn syslog_priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_filters_are_refused_with_the_text() {
        let e = parse_filter("feedfold=loud").expect_err("refused");
        assert!(e.to_string().contains("feedfold=loud"), "{e}");
        assert!(parse_filter("warn,feedfold::schedule=debug").is_ok());
    }
}
