//! Replays items in published order through the daemon's code path
//! (analyze → band lookup in a time window → decide → fold), with an
//! in-memory index that mirrors the store's SQLite band table.

use std::collections::HashMap;
use std::time::Instant;

use super::gen::Item;
use feedfold_dedup::{
    analyze_with, choose_canonical, decide, story_origin, BoilerplateModel, Candidate, CopyInfo,
    DedupConfig,
};

/// One stored entry, as the store keeps it.
struct Stored {
    story: usize,
    published: i64,
    feed_agency: Option<&'static str>,
    origin: Option<String>,
    candidate: Candidate,
}

/// A story: its members (in arrival order) and its canonical entry.
struct Story {
    members: Vec<usize>,
    canonical: usize,
}

/// The in-memory mirror of the store: band and exact indexes, stories.
struct MemIndex {
    window: i64,
    entries: Vec<Stored>,
    stories: Vec<Story>,
    bands: HashMap<u64, Vec<usize>>,
    exact: HashMap<u64, Vec<usize>>,
}

/// What the replay decided, per item (indexes follow the input order).
pub struct Outcome {
    /// Predicted story of each item.
    pub predicted: Vec<usize>,
    /// Whether each item joined an existing story (rather than starting one).
    pub joined: Vec<bool>,
    /// Candidates verified, in all.
    pub candidates: usize,
    /// Wall time of each item's analyze + lookup + decide + insert, in
    /// nanoseconds (input order): the per-item cost the daemon pays, less SQL.
    pub nanos: Vec<u64>,
}

impl MemIndex {
    /// Entries sharing a band key or the exact fingerprint with the
    /// newcomer and published within the window, plus every candidate
    /// story's canonical copy, as `Candidate`s.
    fn candidates(&self, bands: &[u64], exact: u64, published: i64) -> Vec<Candidate> {
        let mut hits: Vec<usize> = bands
            .iter()
            .filter_map(|k| self.bands.get(k))
            .chain(self.exact.get(&exact))
            .flatten()
            .copied()
            .filter(|&e| (self.entries[e].published - published).abs() <= self.window)
            .collect();
        hits.sort_unstable();
        hits.dedup();
        let mut stories: Vec<usize> = hits.iter().map(|&e| self.entries[e].story).collect();
        stories.sort_unstable();
        stories.dedup();
        for s in stories {
            let c = self.stories[s].canonical;
            if let Err(i) = hits.binary_search(&c) {
                hits.insert(i, c);
            }
        }
        hits.iter()
            .map(|&e| {
                let stored = &self.entries[e];
                let mut c = stored.candidate.clone();
                c.is_canonical = self.stories[stored.story].canonical == e;
                c
            })
            .collect()
    }

    /// Re-elects a story's canonical copy after a member joined.
    fn elect(&mut self, story: usize) {
        let members = &self.stories[story].members;
        let origin = story_origin(members.iter().map(|&e| self.entries[e].origin.as_deref()));
        let copies: Vec<CopyInfo<'_>> = members
            .iter()
            .map(|&e| CopyInfo {
                entry_id: e as i64,
                published: Some(self.entries[e].published),
                feed_agency: self.entries[e].feed_agency,
                feed: self.entries[e].candidate.feed,
            })
            .collect();
        if let Some(i) = choose_canonical(&copies, origin) {
            self.stories[story].canonical = members[i];
        }
    }
}

/// Replays `items` in published order (ties in input order).
pub fn replay(items: &[Item], cfg: &DedupConfig) -> Outcome {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| (items[i].published, i));
    let mut index = MemIndex {
        window: cfg.window.as_secs() as i64,
        entries: Vec::with_capacity(items.len()),
        stories: Vec::new(),
        bands: HashMap::new(),
        exact: HashMap::new(),
    };
    let mut models: HashMap<&str, BoilerplateModel> = HashMap::new();
    let mut feeds: HashMap<&str, i64> = HashMap::new();
    let mut predicted = vec![0; items.len()];
    let mut joined = vec![false; items.len()];
    let mut checked = 0;
    let mut nanos = vec![0; items.len()];
    for &i in &order {
        let started = Instant::now();
        let item = &items[i];
        let model = models
            .entry(item.feed.as_str())
            .or_insert_with(|| BoilerplateModel::new(cfg.boilerplate_min_items));
        let analysis = analyze_with(item.title.as_deref(), item.body.as_deref(), model);
        model.observe(&analysis.boilerplate_keys);
        let candidates = index.candidates(&analysis.bands, analysis.exact.0, item.published);
        checked += candidates.len();
        let next_feed = feeds.len() as i64;
        let feed = *feeds.entry(item.feed.as_str()).or_insert(next_feed);
        let verdict = decide(&analysis, feed, &candidates, cfg);
        let entry = index.entries.len();
        let story = match verdict {
            Some(v) => v.story_id as usize,
            None => {
                index.stories.push(Story {
                    members: Vec::new(),
                    canonical: entry,
                });
                index.stories.len() - 1
            }
        };
        joined[i] = verdict.is_some();
        predicted[i] = story;
        for &k in &analysis.bands {
            index.bands.entry(k).or_default().push(entry);
        }
        index.exact.entry(analysis.exact.0).or_default().push(entry);
        let origin = analysis.origin_agency().map(str::to_string);
        index.entries.push(Stored {
            story,
            published: item.published,
            feed_agency: item.feed_agency,
            origin,
            candidate: Candidate::from_analysis(
                story as i64,
                entry as i64,
                feed,
                &analysis,
                Some(item.published),
                false,
            ),
        });
        index.stories[story].members.push(entry);
        index.elect(story);
        nanos[i] = started.elapsed().as_nanos().min(u64::MAX as u128) as u64;
    }
    Outcome {
        predicted,
        joined,
        candidates: checked,
        nanos,
    }
}
