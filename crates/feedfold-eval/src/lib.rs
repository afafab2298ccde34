//! The deduplication quality harness: builds labelled corpora from the real
//! texts under `shared/dedup/`, replays them through the daemon's code path
//! and scores the stories it folds.
//!
//! Corpora:
//! * `wire`: every SemEval-2022 Task 8 text (and the seed story) as a story,
//!   published by an agency and copied by 2–5 outlets with one
//!   transformation each (see [`gen::Kind`]); stories are 10 minutes apart,
//!   so every SemEval pair about one event meets inside the window (hard
//!   negatives). Plus templated items that differ only in numbers and
//!   paywalled teasers that share only their paywall text.
//! * `uci-titles`: the UCI News Aggregator titles (title-only items), whose
//!   STORY ids are event clusters: a merge across STORY ids is a false merge,
//!   while recall against them is not a goal (outlets' own headlines are not
//!   copies).
//! * `grammar`: the same texts copied by outlets whose house styles are
//!   drawn from a grammar (see [`grammar`]), with registration walls,
//!   episodes, templated reports and same-event pairs as hard negatives;
//!   recall is reported per house-style element.
//!
//! The texts stay in `shared/`: nothing here copies them into the repository.

pub mod data;
pub mod feeds;
pub mod gen;
pub mod grammar;
pub mod metrics;
pub mod replay;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use feedfold_dedup::DedupConfig;
use gen::{Item, Kind, Rng, Source};
use metrics::{PairCounts, Prf};

/// Why the harness could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A data file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A data file is not in the expected shape.
    #[error("bad data: {0}")]
    Format(String),
}

/// recalled / copies (1 when there are none).
fn recall(recalled: usize, copies: usize) -> f64 {
    if copies == 0 {
        1.0
    } else {
        recalled as f64 / copies as f64
    }
}

/// Recall of one kind of copy: how many copies joined their original's story.
#[derive(Debug, Clone, PartialEq)]
pub struct KindRecall {
    /// The transformation.
    pub kind: Kind,
    /// Copies of that kind.
    pub copies: usize,
    /// Copies folded into the same story as their original.
    pub recalled: usize,
}

impl KindRecall {
    /// recalled / copies (1 when there are none).
    pub fn recall(&self) -> f64 {
        recall(self.recalled, self.copies)
    }
}

/// Recall of copies carrying one house-style element (a copy counts toward
/// every element it carries), or of copies carrying a number of them at once.
#[derive(Debug, Clone, PartialEq)]
pub struct ElementRecall {
    /// The element's name (or "N elements at once").
    pub element: String,
    /// Copies carrying it.
    pub copies: usize,
    /// Copies folded into the same story as their original.
    pub recalled: usize,
    /// A row about combinations (how many elements at once), not one element.
    pub combination: bool,
    /// Copies carrying this element and no other (0 for combination rows).
    pub alone: usize,
    /// Of those, copies folded with their original.
    pub alone_recalled: usize,
}

impl ElementRecall {
    /// recalled / copies (1 when there are none).
    pub fn recall(&self) -> f64 {
        recall(self.recalled, self.copies)
    }
}

/// A family of hard negatives and how many of them were merged.
#[derive(Debug, Clone, PartialEq)]
pub struct NegativeMerges {
    /// The family ("templated reports", "same-event pairs", …).
    pub family: String,
    /// Items (or pairs, for same-event pairs) in the corpus.
    pub total: usize,
    /// Of those, items merged with another gold story (pairs merged).
    pub merged: usize,
}

/// Scores of one corpus.
#[derive(Debug, Clone, PartialEq)]
pub struct CorpusReport {
    /// Corpus name.
    pub name: String,
    /// Items replayed.
    pub items: usize,
    /// Gold stories.
    pub gold_stories: usize,
    /// Stories the engine formed.
    pub predicted_stories: usize,
    /// Pairwise precision/recall/F1.
    pub pairwise: Prf,
    /// B-cubed precision/recall/F1.
    pub bcubed: Prf,
    /// Pair counts.
    pub pairs: PairCounts,
    /// Merged pairs that belong to different gold stories / merged pairs.
    pub false_merge_rate: f64,
    /// The false-merge rate after adjudicating known label noise (UCI:
    /// STORY ids split from one event); equal to `false_merge_rate` elsewhere.
    pub adjudicated_false_merge_rate: f64,
    /// Recall per kind of copy.
    pub kinds: Vec<KindRecall>,
    /// Recall per house-style element (`grammar` corpus; empty elsewhere).
    pub elements: Vec<ElementRecall>,
    /// Hard negatives merged, per family (`grammar` corpus; empty elsewhere).
    pub negatives: Vec<NegativeMerges>,
    /// Candidates verified per item.
    pub candidates_per_item: f64,
    /// Replay throughput (items/s) in this build.
    pub items_per_second: f64,
    /// Remarks: label noise handled, adjudications.
    pub notes: Vec<String>,
    /// A few false merges, for reading.
    pub false_merge_examples: Vec<String>,
}

/// The harness result: one report per corpus.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalReport {
    /// Seed of the generator.
    pub seed: u64,
    /// Configuration evaluated.
    pub config: DedupConfig,
    /// Per-corpus scores.
    pub corpora: Vec<CorpusReport>,
}

impl EvalReport {
    /// The report of the corpus named `name`.
    pub fn corpus(&self, name: &str) -> Option<&CorpusReport> {
        self.corpora.iter().find(|c| c.name == name)
    }
}

/// Runs the harness on `shared_dedup_dir` (the `shared/dedup` folder) with
/// the default configuration and a generator seed.
pub fn run_eval(shared_dedup_dir: &Path, seed: u64) -> Result<EvalReport, EvalError> {
    run_eval_with(shared_dedup_dir, seed, &DedupConfig::default())
}

/// [`run_eval`] with a given configuration (for tuning).
pub fn run_eval_with(
    shared_dedup_dir: &Path,
    seed: u64,
    cfg: &DedupConfig,
) -> Result<EvalReport, EvalError> {
    let mut rng = Rng::new(seed);
    let (wire, wire_notes) = wire_corpus(shared_dedup_dir, &mut rng)?;
    let (mut wire_report, _) = evaluate("wire", &wire, cfg, wire_notes);
    wire_report.notes.sort();
    let (uci, uci_titles) = uci_corpus(shared_dedup_dir)?;
    let (mut uci_report, predicted) = evaluate("uci-titles", &uci, cfg, Vec::new());
    adjudicate_uci(&mut uci_report, &uci, &uci_titles, &predicted, cfg);
    let grammar_report = grammar::run_grammar(shared_dedup_dir, seed, cfg)?;
    Ok(EvalReport {
        seed,
        config: cfg.clone(),
        corpora: vec![wire_report, uci_report, grammar_report],
    })
}

/// The `wire` corpus's items, in generation order (for benchmarks).
pub fn wire_items(shared_dedup_dir: &Path, seed: u64) -> Result<Vec<Item>, EvalError> {
    wire_corpus(shared_dedup_dir, &mut Rng::new(seed)).map(|(items, _)| items)
}

/// Pairs of texts (by index, smaller first) whose raw word Jaccard is at
/// least 0.5: label noise to adjudicate before the texts are used as
/// distinct stories.
fn overlapping_texts(texts: &[data::SemevalText]) -> Vec<(usize, usize)> {
    let sets: Vec<Vec<u32>> = texts
        .iter()
        .map(|t| {
            let mut v: Vec<u32> = t
                .text
                .split_whitespace()
                .map(|w| feedfold_dedup::fingerprint::token_hash(&w.to_lowercase()) as u32)
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        })
        .collect();
    let mut out = Vec::new();
    for i in 0..sets.len() {
        for j in i + 1..sets.len() {
            let (a, b) = (&sets[i], &sets[j]);
            // Jaccard <= min/max: most pairs are ruled out by their sizes.
            if 2 * a.len().min(b.len()) < a.len().max(b.len()) {
                continue;
            }
            let inter = feedfold_dedup::verify::intersection(a, b);
            if 2 * inter >= a.len() + b.len() - inter {
                out.push((i, j));
            }
        }
    }
    out
}

/// Start of the replayed period (2025-02-20T00:00:00Z).
const T0: i64 = 1_740_009_600;

/// The Overall label of each labelled SemEval pair, keyed by the two
/// texts' indices (smaller first).
fn overall_by_pair(
    texts: &[data::SemevalText],
    pairs: &[data::SemevalPair],
) -> HashMap<(usize, usize), f64> {
    let index: HashMap<&str, usize> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id.as_str(), i))
        .collect();
    pairs
        .iter()
        .filter_map(|p| {
            let (a, b) = (*index.get(p.a.as_str())?, *index.get(p.b.as_str())?);
            Some(((a.min(b), a.max(b)), p.overall))
        })
        .collect()
}

fn wire_corpus(dir: &Path, rng: &mut Rng) -> Result<(Vec<Item>, Vec<String>), EvalError> {
    let (texts, pairs) = data::load_semeval(dir)?;
    // Label noise: pairs whose raw texts overlap heavily. With Overall <= 2
    // they are one text carried twice (copies: same gold story); above, the
    // overlap is scraped boilerplate (consent walls, a paywall, a bot-block
    // page) around texts that carry no story: excluded.
    let mut gold_of: Vec<usize> = (0..texts.len()).collect();
    let mut excluded: HashSet<usize> = HashSet::new();
    let mut notes = Vec::new();
    let (mut copies, mut dropped) = (0, 0);
    let overall = overall_by_pair(&texts, &pairs);
    for (a, b) in overlapping_texts(&texts) {
        match overall.get(&(a, b)) {
            Some(&o) if o <= 2.0 => {
                let (ga, gb) = (gold_of[a], gold_of[b]);
                for g in gold_of.iter_mut().filter(|g| **g == gb) {
                    *g = ga;
                }
                copies += 1;
            }
            _ => {
                excluded.extend([a, b]);
                dropped += 1;
            }
        }
    }
    notes.push(format!(
        "SemEval: {} unique texts, {} labelled pairs. Text pairs (all, labelled or not) with raw word Jaccard >= 0.5: {copies} labelled Overall <= 2, kept as one story (genuine copies); {dropped} labelled Overall > 2 or unlabelled, excluded ({} texts: scraped consent/paywall/bot-block pages, one site's navigation, the same article under two ids)",
        texts.len(),
        pairs.len(),
        excluded.len()
    ));

    let mut items = Vec::new();
    // Gold 0: the seed story, with the real APP/UrduPoint copy and its summary.
    let seed = data::load_seed(dir)?;
    let mut paragraphs = seed.paragraphs.clone();
    if let Some(first) = paragraphs.first_mut() {
        if let Some((_, rest)) = first.split_once(") ") {
            *first = rest.to_string();
        }
    }
    let seed_source = Source {
        title: seed.title.clone(),
        paragraphs,
    };
    gen::story_items(rng, &seed_source, 0, T0, &mut items);
    for body in [seed.paragraphs.join("\n"), seed.summary.clone()] {
        items.push(Item {
            feed: "Pakistan Point News".into(),
            feed_agency: None,
            published: T0 + 3 * 3600,
            title: Some(seed.title.clone()),
            body: Some(body),
            gold: 0,
            kind: Kind::Seed,
        });
    }

    // Every 25th text is a paywalled teaser instead of a story.
    let mut teasers = Vec::new();
    let mut stories = 0;
    for (i, t) in texts.iter().enumerate() {
        if excluded.contains(&i) {
            continue;
        }
        let src = Source::from_semeval(&t.text, rng);
        if i % 25 == 24 {
            teasers.push(src);
            continue;
        }
        gen::story_items(rng, &src, 1 + gold_of[i], T0 + 600 * i as i64, &mut items);
        stories += 1;
    }
    let next_gold = 1 + texts.len();
    let after_templates = gen::templated_items(rng, next_gold, T0, 10, &mut items);
    let after_paywall = gen::paywall_items(rng, &teasers, after_templates, T0, &mut items);
    notes.push(format!(
        "generated: 1 seed story, {stories} SemEval stories with 2-5 copies each, {} templated reports (+ reposts), {} paywalled teasers",
        after_templates - next_gold,
        after_paywall - after_templates
    ));
    Ok((items, notes))
}

fn uci_corpus(dir: &Path) -> Result<(Vec<Item>, Vec<String>), EvalError> {
    let titles = data::load_uci(dir)?;
    let mut story_ids: HashMap<&str, usize> = HashMap::new();
    let mut items = Vec::with_capacity(titles.len());
    for t in &titles {
        let n = story_ids.len();
        let gold = *story_ids.entry(t.story.as_str()).or_insert(n);
        items.push(Item {
            feed: t.publisher.clone(),
            feed_agency: None,
            published: t.timestamp_ms / 1000,
            title: Some(t.title.clone()),
            body: None,
            gold,
            kind: Kind::Single,
        });
    }
    let titles = titles.into_iter().map(|t| t.title).collect();
    Ok((items, titles))
}

/// Replays one corpus and scores it; also returns the predicted story of each item.
fn evaluate(
    name: &str,
    items: &[Item],
    cfg: &DedupConfig,
    notes: Vec<String>,
) -> (CorpusReport, Vec<usize>) {
    let start = Instant::now();
    let outcome = replay::replay(items, cfg);
    let elapsed = start.elapsed().as_secs_f64();
    let gold: Vec<usize> = items.iter().map(|i| i.gold).collect();
    let (pairwise, bcubed, pairs) = metrics::score(&gold, &outcome.predicted);

    // Per kind: did the copy land in the story of its gold story's original?
    let mut original_story: HashMap<usize, usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        if matches!(item.kind, Kind::Original | Kind::Single) {
            original_story
                .entry(item.gold)
                .or_insert(outcome.predicted[i]);
        }
    }
    let mut kinds: BTreeMap<Kind, KindRecall> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        if matches!(item.kind, Kind::Original | Kind::Single) {
            continue;
        }
        let k = kinds.entry(item.kind).or_insert(KindRecall {
            kind: item.kind,
            copies: 0,
            recalled: 0,
        });
        k.copies += 1;
        if original_story.get(&item.gold) == Some(&outcome.predicted[i]) {
            k.recalled += 1;
        }
    }

    // A few false merges to read: items in one predicted story with different gold.
    let mut by_story: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, &p) in outcome.predicted.iter().enumerate() {
        by_story.entry(p).or_default().push(i);
    }
    let mut examples = Vec::new();
    let mut stories: Vec<&Vec<usize>> = by_story.values().collect();
    stories.sort();
    for members in stories {
        let first = members[0];
        if let Some(&other) = members
            .iter()
            .find(|&&m| items[m].gold != items[first].gold)
        {
            if examples.len() < 8 {
                let show = |i: usize| {
                    let it = &items[i];
                    let text = it.body.as_deref().or(it.title.as_deref()).unwrap_or("");
                    let short: String = text.chars().take(90).collect();
                    format!("[{} {}] {}", it.feed, it.kind, short.replace('\n', " / "))
                };
                examples.push(format!("{}  <>  {}", show(first), show(other)));
            }
        }
    }
    let predicted_stories = by_story.len();
    let false_merge_rate = if pairs.merged == 0 {
        0.0
    } else {
        pairs.false_merged as f64 / pairs.merged as f64
    };
    let gold_stories = gold.iter().collect::<HashSet<_>>().len();
    let report = CorpusReport {
        name: name.to_string(),
        items: items.len(),
        gold_stories,
        predicted_stories,
        pairwise,
        bcubed,
        pairs,
        false_merge_rate,
        adjudicated_false_merge_rate: false_merge_rate,
        kinds: kinds.into_values().collect(),
        elements: Vec::new(),
        negatives: Vec::new(),
        candidates_per_item: outcome.candidates as f64 / items.len().max(1) as f64,
        items_per_second: items.len() as f64 / elapsed.max(1e-9),
        notes,
        false_merge_examples: examples,
    };
    (report, outcome.predicted)
}

/// UCI labels are noisy: Google News sometimes split one event into two
/// STORY ids, and the same wire headline then appears under both (the
/// dataset README counts 38 such titles in this sample). Two STORY ids are
/// treated as one event when an identical normalised title of at least
/// `min_tokens` tokens occurs under both; merges across such a pair are
/// reported as label noise, every other cross-STORY merge stays a false
/// merge. Sets [`CorpusReport::adjudicated_false_merge_rate`].
///
/// Since title-only items fold only on identical text, this rule excuses
/// every merge the current engine can make here: the adjudicated figure is a
/// regression guard (a looser title rule shows up as merges of different
/// titles across STORY ids), not an independent measurement. The raw rate
/// and the excused titles are printed for reading.
fn adjudicate_uci(
    report: &mut CorpusReport,
    items: &[Item],
    titles: &[String],
    predicted: &[usize],
    cfg: &DedupConfig,
) {
    let norm: Vec<String> = titles
        .iter()
        .map(|t| feedfold_dedup::normalize::normalize_text(t))
        .collect();
    // Ordered maps: the report must not depend on hash iteration order.
    let mut stories_of_title: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, t) in norm.iter().enumerate() {
        if feedfold_dedup::normalize::tokenize(t).len() >= cfg.min_tokens {
            let v = stories_of_title.entry(t.as_str()).or_default();
            if !v.contains(&items[i].gold) {
                v.push(items[i].gold);
            }
        }
    }
    let mut split: BTreeMap<(usize, usize), &str> = BTreeMap::new();
    for (title, stories) in &stories_of_title {
        for (x, &a) in stories.iter().enumerate() {
            for &b in &stories[x + 1..] {
                split.entry((a.min(b), a.max(b))).or_insert(title);
            }
        }
    }
    let mut by_story: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, &p) in predicted.iter().enumerate() {
        by_story.entry(p).or_default().push(i);
    }
    let (mut noise, mut false_merges) = (0u64, 0u64);
    let mut excused: Vec<String> = Vec::new();
    let mut unexcused: Vec<String> = Vec::new();
    for members in by_story.values() {
        for (x, &a) in members.iter().enumerate() {
            for &b in &members[x + 1..] {
                let (ga, gb) = (items[a].gold, items[b].gold);
                if ga == gb {
                    continue;
                }
                match split.get(&(ga.min(gb), ga.max(gb))) {
                    Some(title) => {
                        noise += 1;
                        let e = format!("\"{title}\"");
                        if !excused.contains(&e) {
                            excused.push(e);
                        }
                    }
                    None => {
                        false_merges += 1;
                        if unexcused.len() < 8 {
                            unexcused.push(format!("{}  <>  {}", titles[a], titles[b]));
                        }
                    }
                }
            }
        }
    }
    excused.sort();
    unexcused.sort();
    // The merges left after adjudication are the ones worth reading.
    report.false_merge_examples = unexcused;
    report.adjudicated_false_merge_rate = if report.pairs.merged == 0 {
        0.0
    } else {
        false_merges as f64 / report.pairs.merged as f64
    };
    report.notes.push(format!(
        "{} STORY-id pairs share an identical title (split events); {noise} cross-STORY merged pairs fall between such ids (label noise), {false_merges} do not (false merges): adjudicated false-merge rate {:.4}",
        split.len(),
        report.adjudicated_false_merge_rate
    ));
    report.notes.push(format!(
        "split events, by the title proving it: {}",
        excused.join("; ")
    ));
    report.notes.push("STORY ids are event clusters, not copies: pairwise/B-cubed recall against them is not a target".into());
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "dedup quality (seed {}, algorithm v{})",
            self.seed,
            feedfold_dedup::ALGORITHM_VERSION
        )?;
        for c in &self.corpora {
            writeln!(f)?;
            writeln!(
                f,
                "== {}: {} items, {} gold stories, {} predicted stories",
                c.name, c.items, c.gold_stories, c.predicted_stories
            )?;
            writeln!(
                f,
                "  {:<22} {:>9} {:>9} {:>9}",
                "", "precision", "recall", "F1"
            )?;
            for (label, p) in [("pairwise", c.pairwise), ("B-cubed", c.bcubed)] {
                writeln!(
                    f,
                    "  {label:<22} {:>9.4} {:>9.4} {:>9.4}",
                    p.precision, p.recall, p.f1
                )?;
            }
            writeln!(
                f,
                "  false-merge rate       {:.4} ({} of {} merged pairs); adjudicated {:.4}",
                c.false_merge_rate,
                c.pairs.false_merged,
                c.pairs.merged,
                c.adjudicated_false_merge_rate
            )?;
            writeln!(
                f,
                "  candidates/item {:.1}, replay {:.0} items/s",
                c.candidates_per_item, c.items_per_second
            )?;
            if !c.kinds.is_empty() {
                writeln!(
                    f,
                    "  {:<22} {:>7} {:>9} {:>7}",
                    "recall by kind", "copies", "recalled", "recall"
                )?;
                for k in &c.kinds {
                    writeln!(
                        f,
                        "  {:<22} {:>7} {:>9} {:>7.4}",
                        k.kind.to_string(),
                        k.copies,
                        k.recalled,
                        k.recall()
                    )?;
                }
            }
            if !c.elements.is_empty() {
                writeln!(
                    f,
                    "  {:<22} {:>7} {:>9} {:>7}   {:>6} {:>7}",
                    "recall by element", "copies", "recalled", "recall", "alone", "recall"
                )?;
                for e in &c.elements {
                    let alone = if e.alone == 0 {
                        String::new()
                    } else {
                        format!(
                            "   {:>6} {:>7.4}",
                            e.alone,
                            e.alone_recalled as f64 / e.alone as f64
                        )
                    };
                    writeln!(
                        f,
                        "  {:<22} {:>7} {:>9} {:>7.4}{alone}",
                        e.element,
                        e.copies,
                        e.recalled,
                        e.recall()
                    )?;
                }
            }
            if !c.negatives.is_empty() {
                let merged: Vec<String> = c
                    .negatives
                    .iter()
                    .map(|n| format!("{} {} merged (of {})", n.merged, n.family, n.total))
                    .collect();
                writeln!(f, "  hard negatives: {}", merged.join("; "))?;
            }
            for n in &c.notes {
                writeln!(f, "  note: {n}")?;
            }
            for e in &c.false_merge_examples {
                writeln!(f, "  false merge: {e}")?;
            }
        }
        Ok(())
    }
}
