//! The feed-list commands: `feeds add/remove/import/export` and `check`.
//!
//! Every edit starts from a valid config, edits one `.toml` file in place
//! (see [`crate::listedit`]) and loads the config again; if the edit made it
//! invalid, the file is put back as it was and the command fails.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};

use super::FeedsAction;
use crate::config::{
    normalize_feed_url, read_toml_list, validate_tag, Config, FeedConfig, ListFormat,
};
use crate::listedit::{self, NewFeed};
use crate::opml;
use crate::output::count;

/// Lists at least this long get a progress bar while they are checked.
const PROGRESS_FROM: usize = 50;

/// Runs one `feedfold feeds …` subcommand.
pub fn feeds_action(config_path: &Path, action: FeedsAction) -> Result<()> {
    match action {
        FeedsAction::Add {
            url,
            title,
            tags,
            into,
        } => add(config_path, &url, title, &tags, into),
        FeedsAction::Remove { url } => remove(config_path, &url),
        FeedsAction::Import { file, into } => import(config_path, &file, into),
        FeedsAction::Export { opml } => export(config_path, opml),
    }
}

/// `feedfold check`: loads the config and its lists, reports, touches nothing.
pub fn check(config_path: &Path) -> Result<()> {
    let config = Config::load(config_path)?;
    for note in &config.notes {
        eprintln!("note: {note}");
    }
    let mut out = std::io::stdout().lock();
    let from_lists = config
        .feeds
        .iter()
        .filter(|f| f.origin.path != config.path)
        .count();
    writeln!(
        out,
        "{}: valid; {} ({} in the file, {} from {})",
        config.path.display(),
        count(config.feeds.len() as u64, "feed"),
        config.feeds.len() - from_lists,
        from_lists,
        count(config.lists.len() as u64, "list file")
    )?;
    for list in &config.lists {
        let n = config
            .feeds
            .iter()
            .filter(|f| &f.origin.path == list)
            .count();
        writeln!(out, "  {}: {}", list.display(), count(n as u64, "feed"))?;
    }
    for inc in &config.include {
        let matched = config.lists.iter().any(|l| {
            l.to_str()
                .zip(inc.resolved.to_str())
                .and_then(|(l, p)| glob::Pattern::new(p).ok().map(|p| p.matches(l)))
                .unwrap_or(false)
        });
        if !matched {
            eprintln!(
                "note: {}:{}: include {:?} matches no file",
                config.path.display(),
                inc.line,
                inc.pattern
            );
        }
    }
    Ok(())
}

fn load(config_path: &Path) -> Result<Config> {
    Config::load(config_path).context("the config must be valid before feedfold edits it")
}

/// The file to append to: `--into`, else the main config; never OPML.
fn target(config: &Config, into: Option<PathBuf>) -> Result<PathBuf> {
    let target = into.unwrap_or_else(|| config.path.clone());
    if ListFormat::of(&target) != Some(ListFormat::Toml) {
        bail!(
            "{}: feedfold edits .toml lists only (OPML files are read, not rewritten)",
            target.display()
        );
    }
    Ok(target)
}

/// The file's text before an edit, to put back if the edit breaks the config.
struct Backup {
    path: PathBuf,
    text: Option<Vec<u8>>,
}

impl Backup {
    fn of(path: &Path) -> Result<Backup> {
        let text = match std::fs::read(path) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Ok(Backup {
            path: path.to_path_buf(),
            text,
        })
    }

    /// Loads the config after the edit; undoes the edit if it is invalid.
    fn verify(self, config_path: &Path) -> Result<Config> {
        let err = match Config::load(config_path) {
            Ok(c) => return Ok(c),
            Err(e) => e,
        };
        let restored = match &self.text {
            Some(t) => listedit::write_atomically(&self.path, t).map_err(anyhow::Error::from),
            None => std::fs::remove_file(&self.path).map_err(anyhow::Error::from),
        };
        match restored {
            Ok(()) => bail!("the edit would make the config invalid, so it was undone: {err}"),
            Err(e) => bail!(
                "the edit made the config invalid ({err}) and undoing it failed: {e:#}; fix {} by hand",
                self.path.display()
            ),
        }
    }
}

fn same_path(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Whether the config reads `target` (the main file or an included list).
fn is_read(config: &Config, target: &Path) -> bool {
    same_path(&config.path, target) || config.lists.iter().any(|l| same_path(l, target))
}

/// The feeds the edit must not list again: the config's, plus those already
/// in `target` when the config does not read it yet (a list written by an
/// earlier `--into` and not included since).
fn listed_feeds(config: &Config, target: &Path) -> Result<Vec<FeedConfig>> {
    let mut feeds = config.feeds.clone();
    if !is_read(config, target) {
        feeds.extend(read_toml_list(target)?);
    }
    Ok(feeds)
}

/// Says so when the file just edited is not one the config reads, with the
/// exact `include` line that would make it read.
fn warn_if_not_included(config: &Config, target: &Path) {
    if is_read(config, target) {
        return;
    }
    eprintln!(
        "note: {} is not included by {}, so feedfold does not read it; put this line in {} (before its first table): {}",
        target.display(),
        config.path.display(),
        config.path.display(),
        include_line(config, target)
    );
}

/// `include = [...]` with the config's patterns and `target`, relative to
/// the config's folder when it lies inside it (as patterns are read).
fn include_line(config: &Config, target: &Path) -> String {
    let folder = config.path.parent().unwrap_or(Path::new(""));
    let absolute = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let target = absolute(target);
    let shown = match target.strip_prefix(absolute(folder)) {
        Ok(relative) => relative.to_path_buf(),
        Err(_) => target.clone(),
    };
    let mut patterns: Vec<String> = config.include.iter().map(|i| i.pattern.clone()).collect();
    patterns.push(shown.to_string_lossy().into_owned());
    let quoted: Vec<String> = patterns
        .into_iter()
        .map(|p| toml::Value::String(p).to_string())
        .collect();
    format!("include = [{}]", quoted.join(", "))
}

fn add(
    config_path: &Path,
    url: &str,
    title: Option<String>,
    tags: &[String],
    into: Option<PathBuf>,
) -> Result<()> {
    let config = load(config_path)?;
    let url = normalize_feed_url(url).map_err(anyhow::Error::msg)?;
    let mut checked = Vec::new();
    for tag in tags {
        opml::push_tag(&mut checked, validate_tag(tag).map_err(anyhow::Error::msg)?);
    }
    let target = target(&config, into)?;
    if let Some(f) = listed_feeds(&config, &target)?
        .iter()
        .find(|f| f.url == url)
    {
        bail!("{url} is already listed at {}", f.origin);
    }
    let backup = Backup::of(&target)?;
    let feed = NewFeed {
        url: url.clone(),
        title: title.filter(|t| !t.trim().is_empty()),
        tags: checked,
    };
    listedit::append_feeds(&target, &[feed])?;
    let config = backup.verify(config_path)?;
    println!("added {url} to {}", target.display());
    warn_if_not_included(&config, &target);
    Ok(())
}

fn remove(config_path: &Path, url: &str) -> Result<()> {
    let config = load(config_path)?;
    let url = normalize_feed_url(url).map_err(anyhow::Error::msg)?;
    let Some(feed) = config.feed(&url) else {
        bail!(
            "{url} is not listed in {} or the lists it includes",
            config.path.display()
        );
    };
    let origin = feed.origin.clone();
    if ListFormat::of(&origin.path) != Some(ListFormat::Toml) {
        bail!("{url} is listed in an OPML file at {origin}; remove it from that file");
    }
    let backup = Backup::of(&origin.path)?;
    if !listedit::remove_feed(&origin.path, &url)? {
        bail!("{origin}: cannot find the [[feed]] table of {url}");
    }
    backup.verify(config_path)?;
    println!(
        "removed {url} from {origin}; it is no longer polled, and its entries and stories stay in the database"
    );
    Ok(())
}

fn import(config_path: &Path, file: &Path, into: Option<PathBuf>) -> Result<()> {
    let config = load(config_path)?;
    let target = target(&config, into)?;
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let doc = opml::read(&bytes);

    let bar = if doc.feeds.len() >= PROGRESS_FROM {
        ProgressBar::new(doc.feeds.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} outlines") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(format!("checking {}", file.display()));
    let mut seen = config.clone();
    seen.feeds = listed_feeds(&config, &target)?;
    let plan = listedit::plan_import(&doc, &seen, || bar.inc(1));
    bar.finish_and_clear();

    if !plan.feeds.is_empty() {
        let backup = Backup::of(&target)?;
        let feeds: Vec<NewFeed> = plan.feeds.iter().map(|(_, f)| f.clone()).collect();
        listedit::append_feeds(&target, &feeds)?;
        let config = backup.verify(config_path)?;
        warn_if_not_included(&config, &target);
    }

    let mut out = std::io::stdout().lock();
    for note in doc.repairs.iter().filter(|n| n.line == 0) {
        writeln!(out, "{}: {}", file.display(), note.message)?;
    }
    for (line, message) in &plan.report {
        writeln!(out, "{}:{line}: {message}", file.display())?;
    }
    let repaired_lines = doc.repairs.iter().filter(|n| n.line > 0).count();
    let n = |n: usize, noun: &str| count(n as u64, noun);
    writeln!(
        out,
        "imported {} into {}; {} skipped, {}, {} recovered from damaged outlines, {} lost; {} repaired",
        n(plan.feeds.len(), "feed"),
        target.display(),
        n(plan.duplicates, "duplicate"),
        n(plan.invalid, "invalid URL"),
        doc.recovered.len(),
        n(plan.lost, "outline"),
        n(repaired_lines, "line")
    )?;
    Ok(())
}

fn export(config_path: &Path, as_opml: bool) -> Result<()> {
    let config = Config::load(config_path)?;
    let text = if as_opml {
        let feeds: Vec<opml::ExportFeed<'_>> = config
            .feeds
            .iter()
            .map(|f| opml::ExportFeed {
                url: &f.url,
                title: f.title.as_deref(),
                tags: &f.tags,
            })
            .collect();
        opml::write("feedfold feeds", &Utc::now().to_rfc2822(), &feeds)?
    } else {
        listedit::to_toml(&config.feeds)
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}
