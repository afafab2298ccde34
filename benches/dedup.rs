//! Per-item cost of the dedup engine: normalise + fingerprint + in-memory
//! candidate lookup + verify + fold, replaying the `wire` evaluation corpus
//! (built from `../shared/dedup`). Run with `cargo bench --bench dedup`.
//!
//! Each measurement is repeated [`RUNS`] times and each item keeps its
//! fastest run: on a shared machine a preempted item would otherwise show
//! the scheduler's delay, not the engine's cost. The store-backed figures
//! (SQLite band index, 10k–1M entries in the window) come with the store.

use std::path::PathBuf;
use std::time::Instant;

use feedfold::dedup::{analyze, DedupConfig};
use feedfold::eval::{replay::replay, wire_items};

const RUNS: usize = 5;

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// Per-item minimum over runs.
fn fastest(runs: &[Vec<u64>]) -> Vec<u64> {
    let n = runs.first().map_or(0, Vec::len);
    (0..n)
        .map(|i| runs.iter().map(|r| r[i]).min().unwrap_or(0))
        .collect()
}

fn main() {
    let dir = std::env::var("FEEDFOLD_SHARED_DEDUP")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/dedup"));
    let items = match wire_items(&dir, 20250227) {
        Ok(items) => items,
        Err(e) => {
            eprintln!("SKIPPED dedup bench: {e} (needs ../shared/dedup or FEEDFOLD_SHARED_DEDUP)");
            return;
        }
    };
    let cfg = DedupConfig::default();
    let bytes: usize = items
        .iter()
        .map(|i| i.title.as_deref().map_or(0, str::len) + i.body.as_deref().map_or(0, str::len))
        .sum();
    println!(
        "dedup bench: {} items, mean {} bytes of title+body, fastest of {RUNS} runs per item",
        items.len(),
        bytes / items.len().max(1)
    );

    // analyze() alone: normalise + datelines/credits + boilerplate + fingerprint.
    let runs: Vec<Vec<u64>> = (0..RUNS)
        .map(|_| {
            items
                .iter()
                .map(|it| {
                    let t = Instant::now();
                    std::hint::black_box(analyze(it.title.as_deref(), it.body.as_deref()));
                    t.elapsed().as_nanos() as u64
                })
                .collect()
        })
        .collect();
    let analyze_ns = fastest(&runs);
    let is_html = |i: usize| items[i].body.as_deref().is_some_and(|b| b.contains('<'));
    let mut html_ns: Vec<u64> = (0..items.len())
        .filter(|&i| is_html(i))
        .map(|i| analyze_ns[i])
        .collect();
    let mut plain_ns: Vec<u64> = (0..items.len())
        .filter(|&i| !is_html(i))
        .map(|i| analyze_ns[i])
        .collect();

    // The whole path: replay is deterministic, so runs see the same state per item.
    let mut outcomes = Vec::new();
    let mut best_total = f64::MAX;
    for _ in 0..RUNS {
        let t = Instant::now();
        outcomes.push(replay(&items, &cfg));
        best_total = best_total.min(t.elapsed().as_secs_f64());
    }
    let candidates = outcomes.last().map_or(0, |o| o.candidates);
    let mut full = fastest(&outcomes.into_iter().map(|o| o.nanos).collect::<Vec<_>>());

    let mut all = analyze_ns.clone();
    all.sort_unstable();
    html_ns.sort_unstable();
    plain_ns.sort_unstable();
    full.sort_unstable();
    println!(
        "{:<46} {:>8} {:>8} {:>8}",
        "per item (µs)", "median", "p99", "mean"
    );
    for (label, v) in [
        ("analyze (normalise+credit+fingerprint)", &all),
        ("  items with plain-text bodies", &plain_ns),
        ("  items with HTML bodies (HTML to text)", &html_ns),
        ("analyze+lookup+verify+fold (in-memory index)", &full),
    ] {
        let mean = v.iter().sum::<u64>() as f64 / v.len().max(1) as f64 / 1000.0;
        println!(
            "{label:<46} {:>8.1} {:>8.1} {:>8.1}",
            percentile(v, 0.5),
            percentile(v, 0.99),
            mean
        );
    }
    println!(
        "throughput: {:.0} items/s single-threaded, best whole run ({candidates} candidates verified, {:.1}/item)",
        items.len() as f64 / best_total,
        candidates as f64 / items.len().max(1) as f64
    );
}
