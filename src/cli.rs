//! Command-line interface: argument parsing and the commands. Errors are
//! reported here, with context, as one line; the exit code is 2 for usage,
//! config and database errors.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Local, Utc};
use clap::{Parser, Subcommand};
use serde::Serialize;
use tokio::sync::watch;

mod demo;
mod lists;

use crate::config::Config;
use crate::daemon::{self, finish, start};
use crate::logging::{LogFormat, Logging};
use crate::output::{self, local_time as local, or_empty, table, Listing};
use crate::service::{Signal, Signals};
use crate::store::{
    parse_time, retention, FeedRow, Reader, RetentionPolicy, SearchHit, SearchQuery, Store,
    StoreHandle, StoryId, TimeFilter, WriterOptions,
};

/// feedfold: polls RSS, Atom and JSON feeds into SQLite and folds syndicated
/// copies of a story into one.
#[derive(Debug, Parser)]
#[command(name = "feedfold", version, about)]
pub struct Cli {
    /// Config file.
    #[arg(
        short,
        long,
        global = true,
        env = "FEEDFOLD_CONFIG",
        default_value = "config/feedfold.toml"
    )]
    pub config: PathBuf,
    /// Log line format: `auto` is `plain` under systemd, else `human`.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "FEEDFOLD_LOG_FORMAT",
        default_value = "auto"
    )]
    pub log_format: LogFormat,
    /// Print tables at full width instead of wrapping them to the terminal.
    #[arg(long, global = true)]
    pub wide: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: poll on schedule until SIGINT/SIGTERM.
    Run,
    /// Poll the due feeds once (every feed with --all), print a summary, exit.
    Poll {
        /// Poll every feed, due or not.
        #[arg(long)]
        all: bool,
    },
    /// List feeds with their fetch status, or manage the feed list.
    Feeds {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// Manage the feed list instead of listing feeds.
        #[command(subcommand)]
        action: Option<FeedsAction>,
    },
    /// Validate the config and every list it includes, without touching the
    /// database; exit 0 when valid, 2 when not.
    Check,
    /// List canonical stories, newest first, with how many sources carried each.
    Stories {
        /// Only stories published since: a duration back (24h, 7d), a date
        /// (2025-02-27) or an RFC 3339 time. Undated items count from when
        /// they were first seen.
        #[arg(long, value_parser = crate::when::parse_since)]
        since: Option<DateTime<Utc>>,
        /// Only stories feedfold first saw since (same forms as --since).
        #[arg(long, value_parser = crate::when::parse_since)]
        seen_since: Option<DateTime<Utc>>,
        /// Most stories to list.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Only stories carried by a feed with this tag (repeatable: any of them).
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Show one story and its lineage: every copy, with why it was folded.
    Story {
        /// The story id.
        id: i64,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Recompute fingerprints and stories after an algorithm or threshold
    /// change, in batches, without losing entries.
    Refold {
        /// Only entries published since this date (2025-02-27), time (RFC 3339) or duration back (7d).
        #[arg(long, value_parser = crate::when::parse_since)]
        since: Option<DateTime<Utc>>,
    },
    /// Measure folding quality on the labelled corpus built from DIR (the
    /// shared `dedup/` folder): precision, recall, F1, false-merge rate.
    Eval {
        /// The folder with seed/, semeval2022_task8/ and uci_news_aggregator_sample/.
        dir: PathBuf,
        /// Seed of the copy generator.
        #[arg(long, default_value_t = 20250227)]
        seed: u64,
    },
    /// Show a dashboard: feed health, today's items and stories, the most
    /// syndicated stories of the last 24 h, database size.
    Status {
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Full-text search: canonical stories whose copies match, best first.
    Search {
        /// Words to find (all of them; "quoted phrase", prefix*).
        #[arg(required = true, num_args = 1..)]
        query: Vec<String>,
        /// Only stories published since (as for `stories --since`).
        #[arg(long, value_parser = crate::when::parse_since)]
        since: Option<DateTime<Utc>>,
        /// Only stories feedfold first saw since (same forms as --since).
        #[arg(long, value_parser = crate::when::parse_since)]
        seen_since: Option<DateTime<Utc>>,
        /// Most stories to list.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Read the query as FTS5 syntax (AND, OR, NOT, NEAR, title:…).
        #[arg(long)]
        fts: bool,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Fold a few bundled sample feeds, served on 127.0.0.1, into a scratch
    /// database and show the result: no config and no network needed.
    Demo {
        /// Keep the database in this new file instead of a scratch folder.
        #[arg(long, value_name = "PATH")]
        database: Option<PathBuf>,
    },
    /// Delete what `[retention]` no longer keeps, then free the space.
    Prune {
        /// Also rewrite the whole file once (VACUUM): frees all space now and
        /// turns on incremental vacuum in files created before it existed.
        #[arg(long)]
        vacuum: bool,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// `feedfold feeds …` subcommands: the list files are the source of truth,
/// so these edit files; a running daemon picks the change up by itself.
#[derive(Debug, Subcommand)]
pub enum FeedsAction {
    /// Append a feed to a list file (the main config unless --into).
    Add {
        /// The feed's URL (http or https).
        url: String,
        /// Display title.
        #[arg(long)]
        title: Option<String>,
        /// A tag (repeatable).
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
        /// The .toml list file to append to.
        #[arg(long, value_name = "FILE")]
        into: Option<PathBuf>,
    },
    /// Remove a feed from the .toml file that lists it; its entries and
    /// stories stay in the database.
    Remove {
        /// The feed's URL.
        url: String,
    },
    /// Import the feeds of an OPML file (the main config unless --into).
    Import {
        /// The OPML file.
        file: PathBuf,
        /// The .toml list file to append to.
        #[arg(long, value_name = "FILE")]
        into: Option<PathBuf>,
    },
    /// Print the active feed list: `[[feed]]` tables, or OPML 2.0 with `--opml`.
    #[command(about = "Print the active feed list: [[feed]] tables, or OPML 2.0 with --opml.")]
    Export {
        /// OPML 2.0 instead of TOML.
        #[arg(long)]
        opml: bool,
    },
}

/// Runs the parsed command; `logging` takes the config's log filter once read.
pub async fn run(cli: Cli, logging: &Logging) -> Result<()> {
    output::set_wide(cli.wide);
    match cli.command {
        Command::Run => run_daemon(&cli.config, logging).await,
        Command::Poll { all } => poll(&cli.config, all, logging).await,
        Command::Feeds { json, action: None } => feeds(&cli.config, json).await,
        Command::Feeds {
            action: Some(action),
            ..
        } => lists::feeds_action(&cli.config, action),
        Command::Check => lists::check(&cli.config),
        Command::Stories {
            since,
            seen_since,
            limit,
            tags,
            json,
        } => {
            let filter = TimeFilter {
                published_since: since,
                seen_since,
            };
            stories(&cli.config, &filter, limit, &tags, json).await
        }
        Command::Story { id, json } => story(&cli.config, id, json).await,
        Command::Status { json } => status(&cli.config, json).await,
        Command::Refold { since } => refold(&cli.config, since, logging).await,
        Command::Eval { dir, seed } => eval(&dir, seed),
        Command::Search {
            query,
            since,
            seen_since,
            limit,
            fts,
            json,
        } => {
            let filter = TimeFilter {
                published_since: since,
                seen_since,
            };
            search(&cli.config, &query.join(" "), &filter, limit, fts, json).await
        }
        Command::Prune { vacuum, json } => prune(&cli.config, vacuum, json, logging).await,
        Command::Demo { database } => demo::demo(database, logging).await,
    }
}

async fn refold(config_path: &Path, since: Option<DateTime<Utc>>, logging: &Logging) -> Result<()> {
    let config = load_config(config_path, logging)?;
    if config.database.sqlite().is_none() {
        let started = std::time::Instant::now();
        let report = daemon::pg::refold(&config, since, |done, total| {
            eprint!("\rrefolding: {done}/{total} entries");
        })
        .await?;
        eprintln!();
        println!(
            "refolded {} entries in {:.1}s: {} stories before, {} after, {} of them new groupings with new ids",
            report.entries,
            started.elapsed().as_secs_f64(),
            report.stories_before,
            report.stories_after,
            report.new_ids
        );
        return Ok(());
    }
    let mut store = Store::open(daemon::sqlite_file(&config, "`feedfold refold`")?)?;
    store.set_dedup_config(config.dedup.clone());
    let started = std::time::Instant::now();
    let report = store.refold(since, |done, total| {
        eprint!("\rrefolding: {done}/{total} entries");
    })?;
    eprintln!();
    let trimmed = store.trim_band_index(Utc::now())?;
    println!(
        "refolded {} entries in {:.1}s: {} stories before, {} after, {} of them new groupings with new ids ({trimmed} expired band keys dropped)",
        report.entries,
        started.elapsed().as_secs_f64(),
        report.stories_before,
        report.stories_after,
        report.new_ids
    );
    Ok(())
}

fn eval(dir: &Path, seed: u64) -> Result<()> {
    let report = crate::eval::run_eval(dir, seed)
        .with_context(|| format!("evaluating on {}", dir.display()))?;
    println!("{report}");
    Ok(())
}

/// Reads the config and applies its log filter.
fn load_config(path: &Path, logging: &Logging) -> Result<Config> {
    let config = Config::load(path)?;
    logging
        .apply_config(&config.log.level)
        .with_context(|| format!("{}: log.level", path.display()))?;
    Ok(config)
}

async fn run_daemon(config_path: &Path, logging: &Logging) -> Result<()> {
    // Handlers first: a SIGHUP (`systemctl reload`) or SIGTERM arriving
    // during start-up must not kill the process with the default action.
    let signals = Signals::install().context("installing signal handlers")?;
    let config = load_config(config_path, logging)?;
    Ok(daemon::run(config, signals).await?)
}

async fn poll(config_path: &Path, all: bool, logging: &Logging) -> Result<()> {
    // Handlers first, as for the daemon: a SIGTERM from a timer unit or a
    // Ctrl-C stops the pass cleanly instead of killing it mid-write.
    let signals = Signals::install().context("installing signal handlers")?;
    let config = load_config(config_path, logging)?;
    let (stop_tx, stop) = watch::channel(false);
    let interrupted = Arc::new(std::sync::OnceLock::new());
    let watcher = tokio::spawn(stop_poll_on_signal(
        signals,
        stop_tx,
        Arc::clone(&interrupted),
    ));
    let summary = if config.database.sqlite().is_some() {
        let (poller, writer) = start(&config, WriterOptions::one_shot())?;
        let summary = poller.poll_once(all, &stop).await;
        finish(poller, writer).await;
        summary?
    } else {
        daemon::pg::poll_once(&config, &stop).await?
    };
    watcher.abort();
    println!("{summary}");
    if let Some(&(name, number)) = interrupted.get() {
        eprintln!("feedfold: {name}: the poll stopped early; feeds not started were left for the next poll");
        std::process::exit(128 + number);
    }
    if summary.failed > 0 && summary.ok + summary.not_modified == 0 {
        // A timer unit only sees the exit code: a pass in which every feed
        // failed (no network, a dead proxy) must show as a failed run.
        eprintln!(
            "feedfold: no feed could be polled ({} failed); `feedfold feeds` shows why",
            summary.failed
        );
        std::process::exit(1);
    }
    if summary.ok + summary.failed + summary.not_modified + summary.deferred == 0
        && config.database.sqlite().is_some()
    {
        println!("{}", nothing_due(&config)?);
    }
    Ok(())
}

/// What `poll` says when no feed was due: which feed is due next, and when.
fn nothing_due(config: &Config) -> Result<String> {
    let next =
        Store::open_read_only(daemon::sqlite_file(config, "`feedfold poll`")?)?.next_due()?;
    Ok(match next {
        None => "nothing to poll: no active feed in the config".to_string(),
        Some((feed, at)) => {
            let when = match at.as_deref().and_then(parse_time) {
                Some(t) => format!(
                    "at {} (in {})",
                    local(at.as_deref()),
                    output::rough_duration((t - Utc::now()).to_std().unwrap_or_default())
                ),
                None => "now".to_string(),
            };
            format!("nothing was due; next due: {feed}, {when} (`feedfold poll --all` polls every feed now)")
        }
    })
}

/// A one-shot poll's signals. First SIGTERM/SIGINT: start no more feeds,
/// let those in flight finish and be committed (recorded in `interrupted`).
/// Second: exit at once; SQLite rolls back an unfinished transaction at the
/// next open. SIGHUP is logged and ignored: the poll read its config once.
async fn stop_poll_on_signal(
    mut signals: Signals,
    stop: watch::Sender<bool>,
    interrupted: Arc<std::sync::OnceLock<(&'static str, i32)>>,
) {
    loop {
        match signals.next().await {
            Signal::Reload => tracing::info!("SIGHUP ignored: a one-shot poll does not reload"),
            Signal::Shutdown { name, number } if interrupted.set((name, number)).is_ok() => {
                tracing::info!("{name}: stopping; finishing the feeds in flight (send it again to exit at once)");
                let _ = stop.send(true);
            }
            Signal::Shutdown { name, number } => {
                tracing::warn!("{name} again: exiting at once; the database stays consistent");
                std::process::exit(128 + number);
            }
        }
    }
}

async fn search(
    config_path: &Path,
    query: &str,
    filter: &TimeFilter,
    limit: usize,
    fts: bool,
    json: bool,
) -> Result<()> {
    let query = if fts {
        SearchQuery::Fts(query.to_string())
    } else {
        SearchQuery::Words(query.to_string())
    };
    let store = reader(config_path).await?;
    let rows = store.search(&query, filter, limit).await?;
    output::print(&rows, json)?;
    // Every hit carries the lag it was searched at; without hits, ask.
    let lag = match rows.first() {
        Some(hit) => hit.index_lag,
        None => store.index_lag().await?,
    };
    if lag.entries > 0 {
        eprintln!(
            "note: the search index is behind: {} not searchable yet (the oldest stored {} s ago); the writer indexes them within seconds",
            output::count(u64::try_from(lag.entries).unwrap_or(0), "entry"),
            lag.oldest_seconds
        );
    }
    Ok(())
}

async fn prune(config_path: &Path, vacuum: bool, json: bool, logging: &Logging) -> Result<()> {
    let config = load_config(config_path, logging)?;
    if config.database.sqlite().is_none() {
        let report = daemon::pg::prune(&config).await?;
        if json {
            output::json_line(&mut std::io::stdout().lock(), &report)?;
            return Ok(());
        }
        println!("{report}");
        if vacuum {
            println!("note: on PostgreSQL the server's autovacuum reclaims freed space; --vacuum does nothing");
        }
        return Ok(());
    }
    let mut store = Store::open(daemon::sqlite_file(&config, "`feedfold prune`")?)?;
    store.set_dedup_config(config.dedup.clone());
    let incremental = store.incremental_vacuum_enabled()?;
    let (handle, writer) = StoreHandle::spawn(store);
    let policy = RetentionPolicy::new(config.retention.days, config.retention.max_entries_per_feed);
    let (_stop_tx, stop) = watch::channel(false);
    let result = retention::prune(&handle, &policy, &stop).await;
    let vacuumed = match (&result, vacuum) {
        (Ok(_), true) => Some(handle.call(|s| s.vacuum_full()).await),
        _ => None,
    };
    drop(handle);
    if tokio::task::spawn_blocking(move || writer.join())
        .await
        .is_err()
    {
        tracing::error!("waiting for the database writer failed");
    }
    let report = result?;
    vacuumed.transpose()?;
    if json {
        output::json_line(&mut std::io::stdout().lock(), &report)?;
        return Ok(());
    }
    println!("{report}");
    if !incremental && !vacuum {
        println!(
            "note: this database predates incremental vacuum; run `feedfold prune --vacuum` once to hand freed space back"
        );
    }
    Ok(())
}

impl Listing for SearchHit {
    const HEADER: &'static [&'static str] = &["ID", "PUBLISHED", "SOURCES", "TITLE", "MATCH"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.story_id.to_string(),
            local(Some(&self.published_at)),
            self.source_count.to_string(),
            or_empty(self.title.as_deref()),
            self.snippet.replace(['\n', '\r'], " "),
        ]
    }
}

/// The configured store, opened for reading.
async fn reader(config_path: &Path) -> Result<Reader> {
    let config = Config::load(config_path)?;
    Ok(Reader::open(&config.database).await?)
}

fn print_json_lines<T: Serialize>(rows: &[T]) -> Result<()> {
    Ok(output::json_lines(&mut std::io::stdout().lock(), rows)?)
}

async fn feeds(config_path: &Path, json: bool) -> Result<()> {
    let config = Config::load(config_path)?;
    let mut rows = match Reader::open(&config.database).await {
        Ok(store) => store.feeds().await?,
        // Before the first poll the config is all there is to list.
        Err(crate::store::StoreError::Missing(_)) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    // Feeds listed since the database last read the lists (a `feeds add` or
    // `import` with no daemon running) are not in it yet.
    let known: std::collections::HashSet<String> = rows.iter().map(|r| r.url.clone()).collect();
    for f in config.feeds.iter().filter(|f| !known.contains(&f.url)) {
        rows.push(FeedRow::never_polled(&f.url, f.title.clone()));
    }
    // Failing feeds first (stable: by URL within each group): they are what
    // a person runs `feeds` to find.
    rows.sort_by_key(|r| (!r.active, r.status != "failing"));
    Ok(output::print(&rows, json)?)
}

impl Listing for FeedRow {
    const HEADER: &'static [&'static str] = &[
        "FEED",
        "LAST FETCH",
        "STATUS",
        "ERRORS",
        "INTERVAL",
        "NEXT DUE",
        "ENTRIES",
        "LAST ERROR / NOTES",
    ];
    fn cells(&self) -> Vec<String> {
        feed_cells(self)
    }
}

/// One row of the human `feeds` table: the state a person needs to see why
/// a feed is (not) being polled.
fn feed_cells(r: &crate::store::FeedRow) -> Vec<String> {
    let mut name = match &r.title {
        Some(title) => format!("{title} <{}>", r.url),
        None => r.url.clone(),
    };
    if let Some(fetch_url) = &r.fetch_url {
        name.push_str(&format!("\n  fetched from {fetch_url}"));
    }
    if !r.active {
        name.push_str(" (inactive)");
    }
    let every = |secs: i64| output::frequency(Duration::from_secs(secs.unsigned_abs()));
    let interval = match (r.interval_secs, &r.interval_reason) {
        // Reasons written since issue 22 say how often ("…; checked daily");
        // older ones and the pinned note do not.
        (Some(_), Some(why)) if why.contains("checked ") => why.clone(),
        (Some(secs), Some(why)) => format!("{} ({why})", every(secs)),
        (Some(secs), None) => every(secs),
        (None, _) => "-".to_string(),
    };
    let next_due = if r.disabled {
        "disabled".to_string()
    } else if r.backoff_until.is_some() {
        format!("{} (backoff)", local(r.next_due_at.as_deref()))
    } else {
        local(r.next_due_at.as_deref())
    };
    let mut notes: Vec<String> = Vec::new();
    if let Some(reason) = r.disabled_reason.as_ref().filter(|_| r.disabled) {
        notes.push(reason.clone());
    } else if let Some(e) = &r.last_error {
        notes.push(e.clone());
    }
    if let Some(t) = &r.retry_after_until {
        notes.push(format!("Retry-After until {}", local(Some(t))));
    }
    if let Some(t) = &r.host_throttled_until {
        notes.push(format!("host throttled until {}", local(Some(t))));
    }
    if let Some(to) = &r.pending_redirect {
        notes.push(format!(
            "permanent redirect to {to} seen {} of 3 times",
            r.pending_redirect_count
        ));
    }
    vec![
        name,
        match r.last_fetch_at.as_deref() {
            None => "never polled".to_string(),
            at => local(at),
        },
        r.last_status.map_or("-".into(), |s| s.to_string()),
        r.error_count.to_string(),
        interval,
        next_due,
        r.entries.to_string(),
        notes.join("; "),
    ]
}

async fn stories(
    config_path: &Path,
    filter: &TimeFilter,
    limit: usize,
    tags: &[String],
    json: bool,
) -> Result<()> {
    let rows = reader(config_path)
        .await?
        .stories_tagged(filter, limit, tags)
        .await?;
    if json {
        return print_json_lines(&rows);
    }
    let mut t = table(&["ID", "PUBLISHED", "SOURCES", "AGENCY", "TITLE"]);
    for r in &rows {
        t.add_row(vec![
            r.story_id.to_string(),
            local(Some(&r.published_at)),
            r.source_count.to_string(),
            r.origin_agency.clone().unwrap_or_default(),
            r.title.clone().unwrap_or_default(),
        ]);
    }
    writeln!(std::io::stdout().lock(), "{}", output::fitted(t))?;
    Ok(())
}

async fn story(config_path: &Path, id: i64, json: bool) -> Result<()> {
    let Some((story, sources)) = reader(config_path).await?.story(StoryId(id)).await? else {
        bail!("no story with id {id}");
    };
    if json {
        #[derive(Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            story: &'a crate::store::StoryRow,
            /// The canonical copy's plain text.
            text: Option<&'a str>,
            sources: &'a [crate::store::SourceRow],
        }
        println!(
            "{}",
            serde_json::to_string(&Out {
                story: &story,
                text: canonical_text(&sources),
                sources: &sources
            })?
        );
        return Ok(());
    }
    print_story(&mut std::io::stdout().lock(), &story, &sources)
}

/// The story's text: its canonical copy's.
fn canonical_text(sources: &[crate::store::SourceRow]) -> Option<&str> {
    sources
        .iter()
        .find(|s| s.relation == "canonical")
        .and_then(|s| s.text.as_deref())
}

/// One story for people: its headline and facts, its text wrapped to the
/// terminal, and its lineage as a table.
fn print_story(
    out: &mut impl Write,
    story: &crate::store::StoryRow,
    sources: &[crate::store::SourceRow],
) -> Result<()> {
    writeln!(
        out,
        "Story {}: {}",
        story.story_id,
        story.title.as_deref().unwrap_or("(untitled)")
    )?;
    writeln!(out, "URL:       {}", story.url.as_deref().unwrap_or("-"))?;
    writeln!(out, "Published: {}", local(Some(&story.published_at)))?;
    writeln!(out, "Sources:   {}", story.source_count)?;
    if let Some(a) = &story.origin_agency {
        writeln!(out, "Agency:    {a}")?;
    }
    if let Some(text) = canonical_text(sources).filter(|t| !t.trim().is_empty()) {
        writeln!(out, "\n{}", output::wrap(text, output::text_width()))?;
    }
    writeln!(out)?;
    let mut t = table(&[
        "RELATION",
        "SCORE",
        "PUBLISHED",
        "FETCHED",
        "FEED",
        "HEADLINE",
        "URL",
    ]);
    for s in sources {
        t.add_row(vec![
            s.relation.clone(),
            format!("{:.3}", s.similarity),
            local(s.published_at.as_deref()),
            local(Some(&s.fetched_at)),
            s.feed_title.clone().unwrap_or_else(|| s.feed_url.clone()),
            s.entry_title.clone().unwrap_or_default(),
            s.entry_url.clone().unwrap_or_default(),
        ]);
    }
    writeln!(out, "{}", output::fitted(t))?;
    Ok(())
}

async fn status(config_path: &Path, json: bool) -> Result<()> {
    let store = reader(config_path).await?;
    let now = Utc::now();
    let today = Local::now()
        .date_naive()
        .and_time(chrono::NaiveTime::MIN)
        .and_local_timezone(Local)
        .earliest()
        .map_or(now, |t| t.with_timezone(&Utc));
    let report = store.status(now, today).await?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    let last = match report.last_fetch_at.as_deref().and_then(parse_time) {
        Some(t) => format!(
            "{} ({} ago)",
            local(report.last_fetch_at.as_deref()),
            ago(now - t)
        ),
        None => "never".to_string(),
    };
    writeln!(
        out,
        "Database  {} ({})",
        report.database,
        size(report.database_bytes)
    )?;
    writeln!(out, "Polled    {last}")?;
    let f = &report.feeds;
    writeln!(
        out,
        "Feeds     {} active: {} ok, {} failing ({} waiting to retry), {} new, {} disabled; {} inactive",
        f.active, f.ok, f.failing, f.backoff, f.new, f.disabled, f.inactive
    )?;
    let n = |count: i64, noun: &str| output::count(count.unsigned_abs(), noun);
    writeln!(
        out,
        "Today     {}, {}",
        n(report.entries_today, "item"),
        n(report.stories_today, "story")
    )?;
    writeln!(
        out,
        "Last 24h  {}, {}, {}",
        n(report.entries_24h, "item"),
        n(report.stories_24h, "story"),
        n(report.folded_24h, "folded copy")
    )?;
    let lag = report.search_index;
    if lag.entries > 0 {
        writeln!(
            out,
            "Search    {} waiting for the index (the oldest for {} s)",
            n(lag.entries, "item"),
            lag.oldest_seconds
        )?;
    } else {
        writeln!(out, "Search    every item indexed")?;
    }
    if !report.top_stories.is_empty() {
        writeln!(out, "\nMost syndicated stories, last 24 h")?;
        let mut t = table(&["SOURCES", "PUBLISHED", "ID", "TITLE"]);
        for s in &report.top_stories {
            t.add_row(vec![
                s.source_count.to_string(),
                local(Some(&s.published_at)),
                s.story_id.to_string(),
                s.title.clone().unwrap_or_default(),
            ]);
        }
        writeln!(out, "{}", output::fitted(t))?;
    }
    if !report.failing_feeds.is_empty() {
        writeln!(out, "\nFailing feeds")?;
        let mut t = table(&["ERRORS", "NEXT TRY", "FEED", "LAST ERROR"]);
        for r in &report.failing_feeds {
            t.add_row(vec![
                r.error_count.to_string(),
                local(r.next_due_at.as_deref()),
                r.title.clone().unwrap_or_else(|| r.url.clone()),
                r.last_error.clone().unwrap_or_default(),
            ]);
        }
        writeln!(out, "{}", output::fitted(t))?;
        let more = f.failing - report.failing_feeds.len() as i64;
        if more > 0 {
            writeln!(out, "and {more} more (`feedfold feeds` lists them all)")?;
        }
    }
    Ok(())
}

/// "3m", "2h 5m": a time span rounded for people.
fn ago(span: chrono::TimeDelta) -> String {
    let secs = span.num_seconds().max(0) as u64;
    let rounded = if secs >= 3600 { secs / 60 * 60 } else { secs };
    humantime::format_duration(Duration::from_secs(rounded)).to_string()
}

/// Bytes in binary units, one decimal.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
