//! Per-item cost of the dedup engine: normalise + fingerprint + in-memory
//! candidate lookup + verify + fold, replaying the `wire` evaluation corpus
//! (built from `../shared/dedup`). Run with `cargo bench --bench dedup`.
//! The store-backed figures (SQLite band index, 10k–1M entries in the
//! window) come with the store.

use std::path::PathBuf;
use std::time::Instant;

use feedfold::dedup::{analyze, DedupConfig};
use feedfold::eval::{replay::replay, wire_items};

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i] as f64 / 1000.0
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
        "dedup bench: {} items, mean {} bytes of title+body",
        items.len(),
        bytes / items.len().max(1)
    );

    // analyze() alone: normalise + datelines/credits + boilerplate + fingerprint.
    let mut analyze_ns = Vec::with_capacity(items.len());
    for _ in 0..3 {
        analyze_ns.clear();
        for it in &items {
            let t = Instant::now();
            let a = analyze(it.title.as_deref(), it.body.as_deref());
            std::hint::black_box(&a);
            analyze_ns.push(t.elapsed().as_nanos() as u64);
        }
    }
    analyze_ns.sort_unstable();

    // The whole path, three runs; the last one is reported.
    let mut total = 0.0;
    let mut outcome = replay(&items, &cfg);
    for _ in 0..2 {
        let t = Instant::now();
        outcome = replay(&items, &cfg);
        total = t.elapsed().as_secs_f64();
    }
    let mut full = outcome.nanos.clone();
    full.sort_unstable();

    println!(
        "{:<44} {:>10} {:>10} {:>10}",
        "per item (µs)", "median", "p99", "mean"
    );
    for (label, v) in [
        ("analyze (normalise+credit+fingerprint)", &analyze_ns),
        ("analyze+lookup+verify+fold (in-memory)", &full),
    ] {
        let mean = v.iter().sum::<u64>() as f64 / v.len().max(1) as f64 / 1000.0;
        println!(
            "{label:<44} {:>10.1} {:>10.1} {:>10.1}",
            percentile(v, 0.5),
            percentile(v, 0.99),
            mean
        );
    }
    println!(
        "throughput: {:.0} items/s single-threaded ({} candidates verified, {:.1}/item)",
        items.len() as f64 / total,
        outcome.candidates,
        outcome.candidates as f64 / items.len().max(1) as f64
    );
}
