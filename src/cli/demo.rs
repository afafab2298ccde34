//! `feedfold demo`: serves the bundled sample feeds on loopback, polls them
//! into a scratch database with the same code as `feedfold poll`, and prints
//! the folded stories with their lineage. Needs no config and no network.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tokio::sync::watch;

use super::{finish, print_story, start};
use crate::config::Config;
use crate::logging::Logging;
use crate::output;
use crate::store::{Store, StoryId, WriterOptions};

/// Where the demo's database lives and whether it is kept.
struct Scratch {
    database: PathBuf,
    /// A folder of our own, removed at the end; `None` when the user named
    /// the database (which is then kept).
    folder: Option<PathBuf>,
}

impl Scratch {
    fn new(database: Option<PathBuf>) -> Result<Scratch> {
        if let Some(database) = database {
            // Only the scheme is shown: the rest of a URL may hold a password.
            if let Some(prefix) = database
                .to_str()
                .and_then(crate::config::database_url_prefix)
            {
                bail!(
                    "--database \"{prefix}…\" is a URL; the demo writes an SQLite file: give it a new file name such as demo.db"
                );
            }
            // The demo adds its sample feeds to the database: never to one
            // that already holds someone's feeds.
            if database.exists() {
                bail!(
                    "{} already exists; give `feedfold demo --database` a new file name",
                    database.display()
                );
            }
            return Ok(Scratch {
                database,
                folder: None,
            });
        }
        let folder = std::env::temp_dir().join(format!("feedfold-demo-{}", std::process::id()));
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("creating a scratch folder {}", folder.display()))?;
        Ok(Scratch {
            database: folder.join("demo.db"),
            folder: Some(folder),
        })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(folder) = &self.folder {
            if let Err(e) = std::fs::remove_dir_all(folder) {
                tracing::warn!(
                    "could not remove the demo's scratch folder {}: {e}",
                    folder.display()
                );
            }
        }
    }
}

/// Runs the demo; `database` keeps the result in that (new) file.
pub(super) async fn demo(database: Option<PathBuf>, logging: &Logging) -> Result<()> {
    // Migrations and per-feed lines are noise here; RUST_LOG still wins.
    logging.apply_config("warn")?;
    let scratch = Scratch::new(database)?;
    let (addr, server) = crate::demo::serve()
        .await
        .context("starting the demo's feed server on 127.0.0.1")?;
    let result = poll_and_show(addr, &scratch.database).await;
    server.abort();
    result?;
    let mut out = std::io::stdout().lock();
    match scratch.folder {
        Some(_) => writeln!(
            out,
            "The scratch database is removed now; `feedfold demo --database demo.db` keeps it for sqlite3 or Datasette."
        )?,
        None => writeln!(
            out,
            "Kept in {}: try `sqlite3 {} 'SELECT story_id, source_count, title FROM stories'`.",
            scratch.database.display(),
            scratch.database.display()
        )?,
    }
    Ok(())
}

async fn poll_and_show(addr: std::net::SocketAddr, database: &Path) -> Result<()> {
    let folder = database.parent().unwrap_or(Path::new("."));
    let mut config = Config::parse(
        &folder.join("feedfold-demo.toml"),
        &crate::demo::config_text(addr),
    )?;
    config.database = crate::config::Database::Sqlite(database.to_path_buf());
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Serving {} sample feeds on http://{addr}/ and polling them into {}…",
        crate::demo::SAMPLES.len(),
        database.display()
    )?;
    let (poller, writer) = start(&config, WriterOptions::one_shot())?;
    let (_stop_tx, stop) = watch::channel(false);
    let summary = poller.poll_once(true, &stop).await;
    finish(poller, writer).await;
    let summary = summary?;
    writeln!(out, "{summary}\n")?;

    let store = Store::open_read_only(database)?;
    let stories = store.stories(None, 100)?;
    let folded: Vec<_> = stories.iter().filter(|s| s.source_count > 1).collect();
    let intro = format!(
        "{} from {}; {} folded from copies in several feeds. Each copy's relation: \
         `canonical` represents the story, `exact` has the same text under another \
         dateline or headline, `near` is cut or edited.",
        output::count(stories.len() as u64, "story"),
        output::count(summary.ingest.new_entries as u64, "item"),
        folded.len()
    );
    writeln!(out, "{}\n", output::wrap(&intro, output::text_width()))?;
    for story in &folded {
        if let Some((story, sources)) = store.story(StoryId(story.story_id))? {
            print_story(&mut out, &story, &sources)?;
            writeln!(out)?;
        }
    }
    writeln!(out, "Stories carried by one feed only:")?;
    for story in stories.iter().filter(|s| s.source_count == 1) {
        writeln!(
            out,
            "  {:>3}  {}",
            story.story_id,
            story.title.as_deref().unwrap_or("(untitled)")
        )?;
    }
    writeln!(out)?;
    Ok(())
}
