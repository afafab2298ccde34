//! Live reload: on SIGHUP (delivered by `service::Signals` through a
//! [`Trigger`]), or when the config file or a list file changes on disk, the
//! daemon re-reads the config and its lists and applies the result.
//!
//! - A config or list with an error is rejected as a whole (the error names
//!   file and line) and the running feed list stays as it was.
//! - Otherwise the database is synced to the new list (new feeds added,
//!   removed ones marked inactive with their data kept, changed titles,
//!   intervals and tags written), the `[poll]` settings are swapped in, and
//!   when feeds were added or came back a pass is started at once.
//! - What changed is logged, feed by feed.
//!
//! Files are watched with `notify` through `notify-debouncer-full`: editors
//! save in bursts (write, rename, chmod), and one reload per burst is enough.
//! The watch is on folders, not files, because most editors replace a file
//! by renaming a new one over it, and because a glob can match files that do
//! not exist yet.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use notify_debouncer_full::notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{new_debouncer, DebounceEventResult, Debouncer, RecommendedCache};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::{Config, FeedConfig};
use crate::schedule::Poller;

/// How long the watcher waits for a burst of file events to settle.
const DEBOUNCE: Duration = Duration::from_millis(400);

/// Feed URLs logged one per line per kind of change; the rest are counted.
const LOG_FEEDS: usize = 25;

/// Asks the reloader for a reload (cloneable; SIGHUP handling holds one).
#[derive(Clone)]
pub struct Trigger {
    tx: mpsc::UnboundedSender<&'static str>,
}

impl Trigger {
    /// Requests a reload; `reason` is logged with its outcome.
    pub fn request(&self, reason: &'static str) {
        if self.tx.send(reason).is_err() {
            tracing::warn!("{reason}: reload requested, but the daemon is stopping");
        }
    }
}

/// Starts the reloader: watches the config's files, and reloads on each
/// [`Trigger::request`], until `stop` turns true. Returns the task (await it
/// before waiting for the database writer: it holds a handle) and the trigger.
pub fn spawn(
    config: Config,
    poller: Arc<Poller>,
    stop: watch::Receiver<bool>,
) -> (JoinHandle<()>, Trigger) {
    let (trigger, requests) = mpsc::unbounded_channel();
    let (tx, events) = mpsc::unbounded_channel();
    let watcher = match new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| {
        forward_changes(result, &tx)
    }) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!("cannot watch files, reload on SIGHUP only: {e}");
            None
        }
    };
    let mut reloader = Reloader {
        current: config,
        poller,
        watcher,
        watched: Vec::new(),
    };
    reloader.rewatch();
    let task = tokio::spawn(reloader.run(requests, events, stop));
    (task, Trigger { tx: trigger })
}

/// Runs on the debouncer's thread: passes on the paths of events that change
/// files (reads and opens, including feedfold's own, are not changes).
fn forward_changes(result: DebounceEventResult, tx: &mpsc::UnboundedSender<Vec<PathBuf>>) {
    match result {
        Ok(events) => {
            let paths: Vec<PathBuf> = events
                .iter()
                .filter(|e| {
                    matches!(
                        e.kind,
                        EventKind::Create(_)
                            | EventKind::Modify(_)
                            | EventKind::Remove(_)
                            | EventKind::Any
                    )
                })
                .flat_map(|e| e.paths.iter().cloned())
                .collect();
            if !paths.is_empty() {
                let _ = tx.send(paths);
            }
        }
        Err(errors) => {
            for e in errors {
                tracing::warn!("file watcher: {e}");
            }
        }
    }
}

struct Reloader {
    current: Config,
    poller: Arc<Poller>,
    watcher: Option<Debouncer<notify_debouncer_full::notify::RecommendedWatcher, RecommendedCache>>,
    watched: Vec<(PathBuf, RecursiveMode)>,
}

impl Reloader {
    async fn run(
        mut self,
        mut requests: mpsc::UnboundedReceiver<&'static str>,
        mut events: mpsc::UnboundedReceiver<Vec<PathBuf>>,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            let reason = tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                Some(reason) = requests.recv() => reason.to_string(),
                Some(paths) = events.recv() => {
                    let mut changed: BTreeSet<PathBuf> = paths.into_iter().filter(|p| self.is_relevant(p)).collect();
                    // Coalesce what else has queued up meanwhile.
                    while let Ok(more) = events.try_recv() {
                        changed.extend(more.into_iter().filter(|p| self.is_relevant(p)));
                    }
                    if changed.is_empty() {
                        continue;
                    }
                    let names: Vec<String> = changed.iter().map(|p| p.display().to_string()).collect();
                    format!("{} changed", names.join(", "))
                }
            };
            self.reload(&reason).await;
        }
        tracing::debug!("reloader stopped");
    }

    /// Re-reads the config and applies it, or keeps the running one.
    async fn reload(&mut self, reason: &str) {
        // Reading and parsing lists (a large OPML file) is blocking work.
        let path = self.current.path.clone();
        let loaded = tokio::task::spawn_blocking(move || Config::load(&path)).await;
        let new = match loaded {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                tracing::error!("reload ({reason}) rejected, the running feed list stays: {e}");
                return;
            }
            Err(e) => {
                tracing::error!("reload ({reason}) failed, the running feed list stays: {e}");
                return;
            }
        };
        for note in new.notes.iter().filter(|n| !self.current.notes.contains(n)) {
            tracing::warn!("{note}");
        }
        if (
            &new.daemon,
            &new.log,
            &new.metrics,
            &new.web,
            &new.fetch,
            &new.retention,
        ) != (
            &self.current.daemon,
            &self.current.log,
            &self.current.metrics,
            &self.current.web,
            &self.current.fetch,
            &self.current.retention,
        ) {
            tracing::warn!(
                "changes to [daemon], [log], [metrics], [web], [fetch] and [retention] apply at the next start"
            );
        }
        if new.dedup != self.current.dedup {
            let dedup = new.dedup.clone();
            let applied = self
                .poller
                .store()
                .call(move |s| {
                    s.set_dedup_config(dedup);
                    Ok(())
                })
                .await;
            match applied {
                Ok(()) => tracing::info!(
                    "[dedup] settings changed: items stored from now on fold with them"
                ),
                Err(e) => {
                    tracing::error!("reload ({reason}): cannot apply the [dedup] settings: {e}")
                }
            }
        }
        if new.database != self.current.database {
            tracing::warn!(
                running = %self.current.database,
                configured = %new.database,
                "the database setting changed; restart feedfold to use the new one"
            );
        }
        let feeds = new.feeds.clone();
        let synced = self
            .poller
            .store()
            .call(move |s| s.sync_feeds(&feeds, Utc::now()))
            .await;
        let report = match synced {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("reload ({reason}): cannot update the database, the running feed list stays: {e}");
                return;
            }
        };
        let diff = FeedDiff::between(&self.current.feeds, &new.feeds);
        let poll_changed = self.poller.poll_config() != new.poll;
        if poll_changed {
            tracing::info!(old = ?self.poller.poll_config(), new = ?new.poll, "poll settings changed");
            self.poller.set_poll_config(new.poll.clone());
        }
        if diff.is_empty() && !poll_changed {
            tracing::info!("reload ({reason}): no changes; {} feeds", new.feeds.len());
        } else {
            tracing::info!(
                feeds = new.feeds.len(),
                added = diff.added.len(),
                removed = diff.removed.len(),
                changed = diff.changed.len(),
                "reloaded ({reason})"
            );
            diff.log();
        }
        if report.added + report.reactivated > 0 {
            self.poller.wake();
        }
        let rewatch = new.include != self.current.include || new.lists != self.current.lists;
        self.current = new;
        if rewatch {
            self.rewatch();
        }
    }

    /// Whether a changed path is the config file, a list file, or a file an
    /// include pattern would pick up.
    fn is_relevant(&self, path: &Path) -> bool {
        let path = absolute(path);
        if path == absolute(&self.current.path)
            || self.current.lists.iter().any(|l| absolute(l) == path)
        {
            return true;
        }
        let options = glob::MatchOptions {
            require_literal_leading_dot: true,
            ..glob::MatchOptions::new()
        };
        self.current.include.iter().any(|inc| {
            absolute(&inc.resolved)
                .to_str()
                .and_then(|p| glob::Pattern::new(p).ok())
                .is_some_and(|p| p.matches_path_with(&path, options))
        })
    }

    /// Watches the folders that hold the config and its lists.
    fn rewatch(&mut self) {
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        let wanted = watch_plan(&self.current);
        for (dir, _) in self.watched.iter().filter(|w| !wanted.contains(w)) {
            let _ = watcher.unwatch(dir);
        }
        let mut now_watched = Vec::new();
        for (dir, mode) in wanted {
            if self.watched.contains(&(dir.clone(), mode)) {
                now_watched.push((dir, mode));
                continue;
            }
            match watcher.watch(&dir, mode) {
                Ok(()) => {
                    tracing::debug!(dir = %dir.display(), ?mode, "watching for list changes");
                    now_watched.push((dir, mode));
                }
                Err(e) => tracing::warn!(
                    "cannot watch {} for changes (send SIGHUP to reload): {e}",
                    dir.display()
                ),
            }
        }
        self.watched = now_watched;
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The folders to watch: the config's own, and for each include pattern the
/// deepest folder without glob characters (recursively when the pattern goes
/// deeper than one level). Folders that do not exist are left out: SIGHUP
/// picks up lists created there later.
fn watch_plan(config: &Config) -> Vec<(PathBuf, RecursiveMode)> {
    let mut plan: Vec<(PathBuf, RecursiveMode)> = Vec::new();
    let mut add = |dir: PathBuf, mode: RecursiveMode| {
        if !dir.is_dir() {
            return;
        }
        match plan.iter_mut().find(|(d, _)| *d == dir) {
            // One watch per folder; recursive covers non-recursive.
            Some(entry) if mode == RecursiveMode::Recursive => entry.1 = mode,
            Some(_) => {}
            None => plan.push((dir, mode)),
        }
    };
    let config_dir = absolute(&config.path)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    add(config_dir, RecursiveMode::NonRecursive);
    for inc in &config.include {
        let resolved = absolute(&inc.resolved);
        let mut base = PathBuf::new();
        let mut rest = 0;
        for part in resolved.components() {
            let text = part.as_os_str().to_string_lossy();
            if rest > 0 || text.contains(['*', '?', '[']) {
                rest += 1;
            } else {
                base.push(part);
            }
        }
        if rest == 0 {
            // A plain file name: watch the folder it is in.
            base.pop();
        }
        let mode = if rest > 1 {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        add(base, mode);
    }
    plan
}

/// How two feed lists differ, by URL.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FeedDiff {
    /// URLs listed now and not before.
    pub added: Vec<String>,
    /// URLs listed before and not now.
    pub removed: Vec<String>,
    /// URLs listed in both whose settings differ, with what changed.
    pub changed: Vec<(String, Vec<&'static str>)>,
}

impl FeedDiff {
    /// Compares the running list with a newly read one.
    pub fn between(old: &[FeedConfig], new: &[FeedConfig]) -> FeedDiff {
        let before: HashMap<&str, &FeedConfig> = old.iter().map(|f| (f.url.as_str(), f)).collect();
        let after: HashMap<&str, &FeedConfig> = new.iter().map(|f| (f.url.as_str(), f)).collect();
        let mut diff = FeedDiff::default();
        for f in new {
            let Some(was) = before.get(f.url.as_str()) else {
                diff.added.push(f.url.clone());
                continue;
            };
            let mut what = Vec::new();
            if was.title != f.title {
                what.push("title");
            }
            if was.interval != f.interval {
                what.push("interval");
            }
            if lower_set(&was.tags) != lower_set(&f.tags) {
                what.push("tags");
            }
            if !what.is_empty() {
                diff.changed.push((f.url.clone(), what));
            }
        }
        diff.removed = old
            .iter()
            .filter(|f| !after.contains_key(f.url.as_str()))
            .map(|f| f.url.clone())
            .collect();
        diff
    }

    /// No feed added, removed or changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    fn log(&self) {
        for url in self.added.iter().take(LOG_FEEDS) {
            tracing::info!(feed = %url, "feed added");
        }
        for url in self.removed.iter().take(LOG_FEEDS) {
            tracing::info!(feed = %url, "feed removed (now inactive; its entries and stories are kept)");
        }
        for (url, what) in self.changed.iter().take(LOG_FEEDS) {
            tracing::info!(feed = %url, changed = %what.join(", "), "feed settings changed");
        }
        let unlisted = self.added.len().saturating_sub(LOG_FEEDS)
            + self.removed.len().saturating_sub(LOG_FEEDS)
            + self.changed.len().saturating_sub(LOG_FEEDS);
        if unlisted > 0 {
            tracing::info!("… and {unlisted} more feed changes");
        }
    }
}

fn lower_set(tags: &[String]) -> BTreeSet<String> {
    tags.iter().map(|t| t.to_lowercase()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(url: &str, title: Option<&str>, tags: &[&str]) -> FeedConfig {
        FeedConfig {
            url: url.to_string(),
            title: title.map(str::to_string),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            ..FeedConfig::default()
        }
    }

    #[test]
    fn diff_names_added_removed_and_changed_feeds() {
        let old = [
            feed("https://a/", None, &["x"]),
            feed("https://b/", Some("B"), &[]),
            feed("https://c/", None, &["News"]),
        ];
        let mut interval = feed("https://b/", Some("B"), &[]);
        interval.interval = Some(Duration::from_secs(60));
        let new = [
            feed("https://a/", None, &["x", "y"]),
            interval,
            feed("https://c/", None, &["news"]),
            feed("https://d/", None, &[]),
        ];
        let d = FeedDiff::between(&old, &new);
        assert_eq!(d.added, ["https://d/"]);
        assert!(d.removed.is_empty());
        assert_eq!(
            d.changed,
            [
                ("https://a/".to_string(), vec!["tags"]),
                ("https://b/".to_string(), vec!["interval"]),
            ],
            "a change of case in a tag is no change"
        );
        let d = FeedDiff::between(&new, &old[..1]);
        assert_eq!(d.removed, ["https://b/", "https://c/", "https://d/"]);
        assert!(FeedDiff::between(&old, &old).is_empty());
    }

    #[test]
    fn watch_plan_covers_the_config_folder_and_include_bases() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("feeds.d/deep")).expect("mkdir");
        let config_path = dir.path().join("feedfold.toml");
        std::fs::write(
            &config_path,
            "include = [\"feeds.d/*.toml\", \"feeds.d/**/*.opml\", \"missing/*.toml\"]\n",
        )
        .expect("write");
        let config = Config::load(&config_path).expect("valid");
        let plan = watch_plan(&config);
        assert_eq!(
            plan,
            [
                (dir.path().to_path_buf(), RecursiveMode::NonRecursive),
                (dir.path().join("feeds.d"), RecursiveMode::Recursive),
            ]
        );
    }
}
