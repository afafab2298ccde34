//! Command-line interface: argument parsing and the commands. Errors are
//! reported here, with context, as one line; the exit code is 2 for usage,
//! config and database errors.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use serde::Serialize;
use tokio::sync::watch;

use crate::config::Config;
use crate::fetch::{FetchOptions, Fetcher};
use crate::output::{self, local_time as local, or_empty, Listing};
use crate::schedule::{self, Poller};
use crate::store::{
    retention, FeedRow, RetentionPolicy, SearchHit, SearchQuery, SourceRow, Store, StoreHandle,
    StoryId, StoryRow,
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
    /// List feeds with their fetch status.
    Feeds {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// List canonical stories, newest first, with how many sources carried each.
    Stories {
        /// Only stories from this far back (e.g. 24h, 7d).
        #[arg(long, value_parser = parse_duration)]
        since: Option<Duration>,
        /// Most stories to list.
        #[arg(long, default_value_t = 50)]
        limit: usize,
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
    /// Full-text search: canonical stories whose copies match, best first.
    Search {
        /// Words to find (all of them; "quoted phrase", prefix*).
        #[arg(required = true, num_args = 1..)]
        query: Vec<String>,
        /// Only stories from this far back (e.g. 24h, 7d).
        #[arg(long, value_parser = parse_duration)]
        since: Option<Duration>,
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

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 24h, 7d, 90m)"))
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run => run_daemon(&cli.config).await,
        Command::Poll { all } => poll(&cli.config, all).await,
        Command::Feeds { json } => feeds(&cli.config, json),
        Command::Stories { since, limit, json } => stories(&cli.config, since, limit, json),
        Command::Story { id, json } => story(&cli.config, id, json),
        Command::Search {
            query,
            since,
            limit,
            fts,
            json,
        } => search(&cli.config, &query.join(" "), since, limit, fts, json),
        Command::Prune { vacuum, json } => prune(&cli.config, vacuum, json).await,
    }
}

/// Opens the database, syncs the feed list and starts the writer thread.
fn start(config: &Config) -> Result<(Arc<Poller>, crate::store::WriterThread)> {
    let mut store = Store::open(&config.database)?;
    let sync = store.sync_feeds(&config.feeds, Utc::now())?;
    tracing::info!(
        database = %config.database.display(),
        feeds = config.feeds.len(),
        added = sync.added,
        deactivated = sync.deactivated,
        "database ready"
    );
    let fetcher = Fetcher::new(&FetchOptions::default()).context("starting the HTTP client")?;
    let (handle, writer) = StoreHandle::spawn(store);
    let poller =
        Poller::new(handle, fetcher, config.poll.clone()).with_retention(config.retention.clone());
    Ok((Arc::new(poller), writer))
}

async fn finish(poller: Arc<Poller>, writer: crate::store::WriterThread) {
    drop(poller);
    if tokio::task::spawn_blocking(move || writer.join())
        .await
        .is_err()
    {
        tracing::error!("waiting for the database writer failed");
    }
}

async fn run_daemon(config_path: &Path) -> Result<()> {
    let config = Config::load(config_path)?;
    let (poller, writer) = start(&config)?;
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_shutdown_signal().await;
        tracing::info!("shutting down: finishing fetches in flight");
        let _ = stop_tx.send(true);
    });
    schedule::run(poller.clone(), stop).await?;
    finish(poller, writer).await;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot listen for SIGTERM: {e}");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}

async fn poll(config_path: &Path, all: bool) -> Result<()> {
    let config = Config::load(config_path)?;
    let (poller, writer) = start(&config)?;
    let (_stop_tx, stop) = watch::channel(false);
    let summary = poller.poll_once(all, &stop).await?;
    finish(poller, writer).await;
    println!("{summary}");
    Ok(())
}

fn open_read_only(config_path: &Path) -> Result<Store> {
    let config = Config::load(config_path)?;
    Ok(Store::open_read_only(&config.database)?)
}

fn feeds(config_path: &Path, json: bool) -> Result<()> {
    let rows = open_read_only(config_path)?.feeds()?;
    Ok(output::print(&rows, json)?)
}

/// The cut-off time `--since` asks for.
fn cutoff(since: Option<Duration>) -> Result<Option<DateTime<Utc>>> {
    since
        .map(|d| Ok(Utc::now() - chrono::TimeDelta::from_std(d).context("--since is too large")?))
        .transpose()
}

fn stories(config_path: &Path, since: Option<Duration>, limit: usize, json: bool) -> Result<()> {
    let rows = open_read_only(config_path)?.stories(cutoff(since)?, limit)?;
    Ok(output::print(&rows, json)?)
}

fn search(
    config_path: &Path,
    query: &str,
    since: Option<Duration>,
    limit: usize,
    fts: bool,
    json: bool,
) -> Result<()> {
    let query = if fts {
        SearchQuery::Fts(query.to_string())
    } else {
        SearchQuery::Words(query.to_string())
    };
    let rows = open_read_only(config_path)?.search(&query, cutoff(since)?, limit)?;
    Ok(output::print(&rows, json)?)
}

async fn prune(config_path: &Path, vacuum: bool, json: bool) -> Result<()> {
    let config = Config::load(config_path)?;
    let store = Store::open(&config.database)?;
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

impl Listing for FeedRow {
    const HEADER: &'static [&'static str] = &[
        "FEED",
        "STATUS",
        "LAST FETCH",
        "HTTP",
        "ERRORS",
        "NEXT DUE",
        "ENTRIES",
        "LAST ERROR",
    ];
    fn cells(&self) -> Vec<String> {
        let name = match &self.title {
            Some(title) => format!("{title} <{}>", self.url),
            None => self.url.clone(),
        };
        vec![
            name,
            self.status.clone(),
            local(self.last_fetch_at.as_deref()),
            self.last_status.map_or("-".into(), |s| s.to_string()),
            self.error_count.to_string(),
            local(self.next_due_at.as_deref()),
            self.entries.to_string(),
            or_empty(self.last_error.as_deref()),
        ]
    }
}

impl Listing for StoryRow {
    const HEADER: &'static [&'static str] = &["ID", "PUBLISHED", "SOURCES", "AGENCY", "TITLE"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.story_id.to_string(),
            local(Some(&self.published_at)),
            self.source_count.to_string(),
            or_empty(self.origin_agency.as_deref()),
            or_empty(self.title.as_deref()),
        ]
    }
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

impl Listing for SourceRow {
    const HEADER: &'static [&'static str] = &[
        "RELATION",
        "SCORE",
        "PUBLISHED",
        "FETCHED",
        "FEED",
        "HEADLINE",
        "URL",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.relation.clone(),
            format!("{:.3}", self.similarity),
            local(self.published_at.as_deref()),
            local(Some(&self.fetched_at)),
            self.feed_title
                .clone()
                .unwrap_or_else(|| self.feed_url.clone()),
            or_empty(self.entry_title.as_deref()),
            or_empty(self.entry_url.as_deref()),
        ]
    }
}

fn story(config_path: &Path, id: i64, json: bool) -> Result<()> {
    let Some((story, sources)) = open_read_only(config_path)?.story(StoryId(id))? else {
        bail!("no story with id {id}");
    };
    if json {
        #[derive(Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            story: &'a StoryRow,
            sources: &'a [SourceRow],
        }
        output::json_line(
            &mut std::io::stdout().lock(),
            &Out {
                story: &story,
                sources: &sources,
            },
        )?;
        return Ok(());
    }
    println!(
        "Story {}: {}",
        story.story_id,
        story.title.as_deref().unwrap_or("(untitled)")
    );
    println!("URL:       {}", story.url.as_deref().unwrap_or("-"));
    println!("Published: {}", local(Some(&story.published_at)));
    println!("Sources:   {}", story.source_count);
    if let Some(a) = &story.origin_agency {
        println!("Agency:    {a}");
    }
    println!();
    output::print(&sources, false)?;
    Ok(())
}
