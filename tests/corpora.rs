//! Peers' test corpora (`../shared/corpora`, about 8,000 files) through the
//! whole ingest path: parse (with recovery) → normalise and fingerprint →
//! store, into one temporary database. Asserts zero panics, zero hangs (a
//! time budget per file), a typed error naming the file for every failure,
//! and a consistent database at the end.
//!
//! With `FEEDFOLD_CORPUS_REPORT=PATH` it also writes the per-corpus figures
//! and the comparison with the feed-rs and gofeed expected outputs as
//! Markdown (the source of the tables in docs/ROBUSTNESS.md).

mod common;

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use chrono::Utc;
use feedfold::config::FeedConfig;
use feedfold::fetch::{Exchange, Validators};
use feedfold::parse::{self, ParseError, ParsedFeed, Warning};
use feedfold::store::{FeedOutcome, FeedUpdate, Store};

/// Longest one file may take through the whole path (debug build, shared
/// 2-core machine); the largest file is 2.7 MB.
const FILE_BUDGET: Duration = Duration::from_secs(60);

#[derive(Debug)]
enum Outcome {
    Parsed(ParsedFeed),
    Failed(ParseError),
}

struct Processed {
    rel: String,
    outcome: Result<Outcome, String>,
}

fn corpora() -> Option<PathBuf> {
    common::require_shared("corpora")
}

fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("dir entry").path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn url_for(rel: &str) -> String {
    let base = url::Url::parse("https://corpus.example/").expect("base");
    base.join(rel).expect("corpus path as URL").to_string()
}

/// The corpus a file belongs to: its top folder (two levels for feedparser
/// and jsonfeed, which hold sets of different origin).
fn corpus_of(rel: &str) -> String {
    let parts: Vec<&str> = rel.split('/').collect();
    match parts.as_slice() {
        [top @ ("feedparser" | "jsonfeed" | "opml"), second, _, ..] => format!("{top}/{second}"),
        [top, ..] => top.to_string(),
        [] => String::new(),
    }
}

/// Runs every file through parse → store on a worker thread, in order, and
/// hands back each result; the caller enforces the per-file budget.
fn process_all(root: PathBuf, db: PathBuf) -> Vec<Processed> {
    let paths = files(&root);
    let rels: Vec<String> = paths
        .iter()
        .map(|p| {
            p.strip_prefix(&root)
                .expect("under root")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let (tx, rx) = mpsc::channel::<(usize, Result<Outcome, String>)>();
    let worker_rels = rels.clone();
    std::thread::spawn(move || {
        let mut store = Store::open(&db).expect("open temp db");
        let feeds: Vec<FeedConfig> = worker_rels
            .iter()
            .map(|r| FeedConfig {
                url: url_for(r),
                title: None,
                interval: None,
                tags: Vec::new(),
                origin: Default::default(),
            })
            .collect();
        store.sync_feeds(&feeds, Utc::now()).expect("sync");
        let ids: BTreeMap<String, _> = store
            .due_feeds(Utc::now(), true)
            .expect("feeds")
            .into_iter()
            .map(|f| (f.url, f.id))
            .collect();
        for (i, path) in paths.iter().enumerate() {
            let url = url_for(&worker_rels[i]);
            let id = ids[&url];
            let result = catch_unwind(AssertUnwindSafe(|| {
                let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
                let outcome = match parse::parse(&bytes, None, &url) {
                    Ok(feed) => {
                        let update = FeedUpdate {
                            feed: id,
                            fetched_at: Utc::now(),
                            exchange: Exchange::default(),
                            next_due: Utc::now(),
                            fetch: Default::default(),
                            outcome: FeedOutcome::Parsed {
                                feed: feed.clone(),
                                validators: Validators::default(),
                                analyses: Vec::new(),
                            },
                        };
                        store.record(update).map_err(|e| format!("store: {e}"))?;
                        Outcome::Parsed(feed)
                    }
                    Err(e) => Outcome::Failed(e),
                };
                Ok(outcome)
            }))
            .unwrap_or_else(|p| {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                Err(format!("panicked: {msg}"))
            });
            if tx.send((i, result)).is_err() {
                return;
            }
        }
        let problems = store.check_consistency().expect("consistency check");
        assert!(problems.is_empty(), "database inconsistent: {problems:?}");
    });
    let mut out = Vec::with_capacity(rels.len());
    for (expected, rel) in rels.iter().enumerate() {
        match rx.recv_timeout(FILE_BUDGET) {
            Ok((i, outcome)) => {
                assert_eq!(i, expected);
                out.push(Processed {
                    rel: rel.clone(),
                    outcome,
                });
            }
            Err(_) => panic!("{rel}: no result within {FILE_BUDGET:?} (hang or crash)"),
        }
    }
    out
}

#[test]
fn every_corpus_file_goes_through_ingest_without_panic_or_hang() {
    let Some(root) = corpora() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let results = process_all(root.clone(), dir.path().join("corpus.db"));
    assert!(results.len() > 1000, "only {} files found", results.len());

    // Every failure is typed and named; nothing panicked or failed to store.
    let broken: Vec<String> = results
        .iter()
        .filter_map(|p| match &p.outcome {
            Err(e) => Some(format!("{}: {e}", p.rel)),
            Ok(Outcome::Failed(ParseError::Panicked)) => {
                Some(format!("{}: feed-rs panicked", p.rel))
            }
            _ => None,
        })
        .collect();
    assert!(
        broken.is_empty(),
        "{} files broke ingest:\n{}",
        broken.len(),
        broken.join("\n")
    );
    for p in &results {
        if let Ok(Outcome::Failed(e)) = &p.outcome {
            let named = format!("{}: {e}", p.rel);
            assert!(!e.to_string().is_empty() && named.starts_with(&p.rel));
        }
    }

    // The real-world breakage the corpora document is recovered.
    let get = |rel: &str| -> &ParsedFeed {
        match results.iter().find(|p| p.rel == rel).map(|p| &p.outcome) {
            Some(Ok(Outcome::Parsed(f))) => f,
            other => panic!("{rel}: expected to parse, got {other:?}"),
        }
    };
    let guardian = get("feeder/model/rss_theguardian.xml");
    assert!(guardian
        .warnings
        .iter()
        .any(|w| matches!(w, Warning::BareAmpersands(_))));
    assert!(guardian.entries.len() >= 50, "{}", guardian.entries.len());
    // Cut off after </channel>'s items: both complete items are kept.
    let cut = get("feedjira/sample_feeds/InvalidDateFormat.xml");
    assert!(cut.warnings.contains(&Warning::Truncated));
    assert_eq!(cut.entries.len(), 2);
    // Cut off before its first item: a typed error, not an empty feed.
    let reuters = results
        .iter()
        .find(|p| p.rel == "feed-rs/fixture/rss2/rss_2.0_invalid_1.xml")
        .map(|p| &p.outcome);
    assert!(
        matches!(reuters, Some(Ok(Outcome::Failed(ParseError::Malformed(m)))) if m.contains("truncated")),
        "{reuters:?}"
    );
    let uol = get("rss-parser-js/test/input/uolNoticias.rss");
    assert!(uol
        .warnings
        .iter()
        .any(|w| matches!(w, Warning::CharsetRepaired(_))));
    assert!(uol
        .entries
        .iter()
        .all(|e| !e.title.as_deref().unwrap_or("").contains('\u{fffd}')));
    let dbengines = get("feed-rs/fixture/rss2/rss_2.0_dbengines.xml");
    assert!(dbengines
        .warnings
        .iter()
        .any(|w| matches!(w, Warning::HtmlEntities(_))));

    if let Ok(path) = std::env::var("FEEDFOLD_CORPUS_REPORT") {
        std::fs::write(&path, report(&root, &results)).expect("write report");
        eprintln!("report written to {path}");
    }
}

// ---- the report -------------------------------------------------------------

#[derive(Default)]
struct Tally {
    files: usize,
    feeds: usize,
    parsed: usize,
    recovered: usize,
    entries: usize,
    failures: BTreeMap<String, usize>,
}

fn failure_kind(e: &ParseError) -> String {
    match e {
        ParseError::Html => "HTML page".into(),
        ParseError::NoFeed => "no feed root".into(),
        ParseError::Panicked => "panic (contained)".into(),
        ParseError::Malformed(m) => {
            let m = m.split(':').next().unwrap_or(m);
            format!("malformed ({})", m.trim())
        }
    }
}

/// The format `tools/sniff_report.tsv` gives each file (rss, atom, rdf,
/// jsonfeed, json, opml, html, xml-other).
fn sniffed_formats(root: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(root.join("tools/sniff_report.tsv")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            Some((cols.get(1)?.to_string(), cols.get(3)?.to_string()))
        })
        .collect()
}

fn report(root: &Path, results: &[Processed]) -> String {
    let formats = sniffed_formats(root);
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut repairs: BTreeMap<String, usize> = BTreeMap::new();
    for p in results {
        let t = tallies.entry(corpus_of(&p.rel)).or_default();
        t.files += 1;
        let is_feed = formats
            .get(&p.rel)
            .is_some_and(|f| matches!(f.as_str(), "rss" | "atom" | "rdf" | "jsonfeed"));
        if !is_feed {
            continue;
        }
        t.feeds += 1;
        match &p.outcome {
            Ok(Outcome::Parsed(f)) => {
                t.parsed += 1;
                t.entries += f.entries.len();
                if f.recovered() {
                    t.recovered += 1;
                }
                for w in &f.warnings {
                    let kind = format!("{w:?}");
                    let kind = kind.split(['(', ' ']).next().unwrap_or("").to_string();
                    *repairs.entry(kind).or_default() += 1;
                }
            }
            Ok(Outcome::Failed(e)) => *t.failures.entry(failure_kind(e)).or_default() += 1,
            Err(e) => *t.failures.entry(format!("ingest error: {e}")).or_default() += 1,
        }
    }
    let mut md = String::from(
        "Every file is walked; the share counts the files `tools/sniff_report.tsv` classifies as a feed (rss, atom, rdf, jsonfeed), leaving out expected-output JSON, OPML, HTML and other XML.\n\n| corpus | files walked | feed documents | parsed | share | of which recovered | entries | failures among feed documents (kind: files) |\n|---|---|---|---|---|---|---|---|\n",
    );
    let mut total = Tally::default();
    for (name, t) in &tallies {
        let fails: Vec<String> = t
            .failures
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        if t.feeds == 0 {
            continue;
        }
        md.push_str(&format!(
            "| {name} | {} | {} | {} | {:.1} % | {} | {} | {} |\n",
            t.files,
            t.feeds,
            t.parsed,
            100.0 * t.parsed as f64 / t.feeds as f64,
            t.recovered,
            t.entries,
            fails.join(", ")
        ));
        total.files += t.files;
        total.feeds += t.feeds;
        total.parsed += t.parsed;
        total.recovered += t.recovered;
        total.entries += t.entries;
    }
    md.push_str(&format!(
        "| **total** | {} | {} | {} | {:.1} % | {} | {} | |\n\nRepairs applied (documents): {}\n\n",
        results.len(),
        total.feeds,
        total.parsed,
        100.0 * total.parsed as f64 / total.feeds.max(1) as f64,
        total.recovered,
        total.entries,
        repairs
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    md.push_str(&compare_feed_rs(root, results));
    md.push_str(&compare_gofeed(root, results));
    md
}

fn parsed<'a>(results: &'a [Processed], rel: &str) -> Option<&'a ParsedFeed> {
    match results.iter().find(|p| p.rel == rel).map(|p| &p.outcome) {
        Some(Ok(Outcome::Parsed(f))) => Some(f),
        _ => None,
    }
}

/// Mismatch lines for one document; `expected` entries are
/// (id, title, link, published-or-updated RFC 3339).
#[allow(clippy::type_complexity)]
fn compare(
    rel: &str,
    ours: Option<&ParsedFeed>,
    title: Option<String>,
    entries: &[(
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    )],
    checked: &mut usize,
) -> Vec<String> {
    let Some(ours) = ours else {
        return vec![format!(
            "`{rel}`: expected a feed, feedfold failed to parse it"
        )];
    };
    *checked += 1;
    let mut out = Vec::new();
    let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some(t) = title.filter(|t| !t.trim().is_empty()) {
        if ours.title.as_deref().map(norm) != Some(norm(&t)) {
            out.push(format!(
                "`{rel}` feed title: expected {t:?}, got {:?}",
                ours.title
            ));
        }
    }
    if ours.entries.len() != entries.len() {
        out.push(format!(
            "`{rel}`: expected {} entries, got {}",
            entries.len(),
            ours.entries.len()
        ));
    }
    for (i, (e, o)) in entries.iter().zip(&ours.entries).enumerate() {
        let (id, t, link, date) = e;
        if let (Some(id), Some(g)) = (id, &o.guid) {
            if id.trim() != g {
                out.push(format!("`{rel}` entry {i} id: expected {id:?}, got {g:?}"));
            }
        }
        if let Some(t) = t.as_deref().filter(|t| !t.trim().is_empty()) {
            if o.title.as_deref().map(norm) != Some(norm(t)) {
                out.push(format!(
                    "`{rel}` entry {i} title: expected {t:?}, got {:?}",
                    o.title
                ));
            }
        }
        if let Some(l) = link {
            if o.url.as_deref() != Some(l.trim()) {
                out.push(format!(
                    "`{rel}` entry {i} link: expected {l:?}, got {:?}",
                    o.url
                ));
            }
        }
        if let Some(d) = date {
            let expected = chrono::DateTime::parse_from_rfc3339(d)
                .ok()
                .map(|d| d.to_utc());
            let got = o.published.or(o.updated);
            if expected.is_some() && expected != got {
                out.push(format!("`{rel}` entry {i} date: expected {d}, got {got:?}"));
            }
        }
    }
    out
}

fn json(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn s(v: &serde_json::Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

fn compare_feed_rs(root: &Path, results: &[Processed]) -> String {
    let mut lines = Vec::new();
    let mut checked = 0;
    let mut goldens = 0;
    for p in results
        .iter()
        .filter(|p| p.rel.starts_with("feed-rs/") && p.rel.ends_with(".serde.json"))
    {
        let input = results.iter().find(|q| {
            q.rel != p.rel
                && q.rel.starts_with(p.rel.trim_end_matches(".serde.json"))
                && q.rel.rsplit_once('.').map(|(stem, _)| stem)
                    == Some(p.rel.trim_end_matches(".serde.json"))
        });
        let (Some(input), Some(expected)) = (input, json(&root.join(&p.rel))) else {
            continue;
        };
        goldens += 1;
        let entries: Vec<_> = expected["entries"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        (
                            s(&e["id"]),
                            s(&e["title"]["content"]),
                            s(&e["links"][0]["href"]),
                            s(&e["published"]).or_else(|| s(&e["updated"])),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        lines.extend(compare(
            &input.rel,
            parsed(results, &input.rel),
            s(&expected["title"]["content"]),
            &entries,
            &mut checked,
        ));
    }
    format!(
        "### feed-rs fixtures against their `.serde.json` expected output\n\n{goldens} documents with expected output, {checked} parsed by feedfold; {} mismatches in titles, links, ids and dates:\n\n{}\n\n",
        lines.len(),
        bullet(&lines)
    )
}

fn compare_gofeed(root: &Path, results: &[Processed]) -> String {
    let mut lines = Vec::new();
    let mut checked = 0;
    let mut goldens = 0;
    for p in results
        .iter()
        .filter(|p| p.rel.starts_with("gofeed/testdata/translator/") && p.rel.ends_with(".json"))
    {
        let stem = p.rel.trim_end_matches(".json");
        let Some(input) = results
            .iter()
            .find(|q| q.rel != p.rel && q.rel.rsplit_once('.').map(|(st, _)| st) == Some(stem))
        else {
            continue;
        };
        let Some(expected) = json(&root.join(&p.rel)) else {
            continue;
        };
        goldens += 1;
        let entries: Vec<_> = expected["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        (
                            s(&e["guid"]),
                            s(&e["title"]),
                            s(&e["link"]),
                            s(&e["publishedParsed"]).or_else(|| s(&e["updatedParsed"])),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        lines.extend(compare(
            &input.rel,
            parsed(results, &input.rel),
            s(&expected["title"]),
            &entries,
            &mut checked,
        ));
    }
    format!(
        "### gofeed translator fixtures against their expected JSON\n\n{goldens} documents with expected output, {checked} parsed by feedfold; {} mismatches in titles, links, ids and dates:\n\n{}\n",
        lines.len(),
        bullet(&lines)
    )
}

fn bullet(lines: &[String]) -> String {
    if lines.is_empty() {
        return "(none)".into();
    }
    lines
        .iter()
        .map(|l| format!("- {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
