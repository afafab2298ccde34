//! The deduplication quality gate: replays the labelled corpora built from
//! `../shared/dedup` and asserts the targets of docs/DEDUP.md; replays the
//! real feeds of `../shared/corpora` and asserts that no story joins
//! different items of one feed.

mod common;

use std::path::PathBuf;

use feedfold::dedup::DedupConfig;
use feedfold::eval::grammar::{run_grammar, Element};
use feedfold::eval::real_feeds;
use feedfold::eval::run_eval;

/// Generator seed of the recorded figures (docs/DEDUP.md): the TUNING seed.
/// Every corpus of `run_eval`, `grammar` included, is printed for it.
const SEED: u64 = 20250227;

/// The HELD-OUT seed of the `grammar` corpus: its targets are asserted on
/// this seed only, and only aggregate figures are printed for it. Do not
/// tune on it, read its items, or print its per-item output; tune on
/// [`SEED`] (`cargo run --release --example dedup-grammar`). Changing it
/// after tuning defeats its purpose.
const HELD_OUT_SEED: u64 = 107176144;

/// Two more HELD-OUT seeds (same rules as [`HELD_OUT_SEED`]), drawn from
/// the clock by algorithm 5's author once that seed had been read: the
/// first before the last tuning round, the second on the final algorithm,
/// neither run while tuning (docs/DEDUP.md).
const NEW_HELD_OUT_SEEDS: [u64; 2] = [666841786, 198380076];

/// `$VAR` when set, else `../shared/NAME` (see `common::require_shared`).
fn shared(var: &str, name: &str) -> Option<PathBuf> {
    if let Ok(dir) = std::env::var(var) {
        return Some(PathBuf::from(dir));
    }
    common::require_shared(name)
}

fn shared_dedup() -> Option<PathBuf> {
    shared("FEEDFOLD_SHARED_DEDUP", "dedup")
}

#[test]
fn dedup_quality_meets_targets() {
    let Some(dir) = shared_dedup() else {
        return;
    };
    let report = match run_eval(&dir, SEED) {
        Ok(r) => r,
        Err(e) => panic!("harness failed on {}: {e}", dir.display()),
    };
    println!("{report}");

    let wire = report.corpus("wire").expect("wire corpus");
    assert!(
        wire.bcubed.f1 >= 0.99,
        "wire B-cubed F1 {:.4} < 0.99",
        wire.bcubed.f1
    );
    assert!(
        wire.false_merge_rate <= 0.001,
        "wire false-merge rate {:.4} > 0.001",
        wire.false_merge_rate
    );
    for k in &wire.kinds {
        let name = k.kind.to_string();
        let target = match name.as_str() {
            "dateline" | "boilerplate" | "headline" => 0.95,
            "lede-1-sentence" | "lede-2-sentences" => 0.90,
            _ => continue,
        };
        assert!(
            k.recall() >= target,
            "recall of {name} copies {:.4} < {target}",
            k.recall()
        );
    }

    let uci = report.corpus("uci-titles").expect("uci corpus");
    // UCI STORY labels split some events in two: the adjudicated rate
    // excuses only merges between STORY ids that share an identical title,
    // so this guards against title-only items folding on *different*
    // headlines across events (0.84 % when near-identical titles folded).
    assert!(
        uci.adjudicated_false_merge_rate <= 0.005,
        "UCI adjudicated false-merge rate {:.4} > 0.005",
        uci.adjudicated_false_merge_rate
    );
}

// ===================== GRAMMAR TARGETS (issue 18) =====================
// Asserted on the HELD-OUT seeds. Only aggregates are printed.

#[test]
fn grammar_held_out_meets_targets() {
    let Some(dir) = shared_dedup() else {
        return;
    };
    let mut failures: Vec<String> = Vec::new();
    for seed in std::iter::once(HELD_OUT_SEED).chain(NEW_HELD_OUT_SEEDS) {
        failures.extend(
            grammar_misses(&dir, seed)
                .into_iter()
                .map(|f| format!("seed {seed}: {f}")),
        );
    }
    assert!(
        failures.is_empty(),
        "grammar corpus (held-out seeds) misses its targets:\n  {}",
        failures.join("\n  ")
    );
}

/// Replays the grammar corpus of a held-out `seed`, prints its aggregates
/// (only those) and returns the targets it misses.
fn grammar_misses(dir: &std::path::Path, seed: u64) -> Vec<String> {
    let g = match run_grammar(dir, seed, &DedupConfig::default()) {
        Ok(r) => r,
        Err(e) => panic!("grammar harness failed on {}: {e}", dir.display()),
    };
    // Aggregates only: no items, no false-merge examples.
    println!(
        "grammar, HELD-OUT seed {seed} (aggregates only): {} items, {} gold stories, {} predicted",
        g.items, g.gold_stories, g.predicted_stories
    );
    println!(
        "  pairwise P {:.4} R {:.4} F1 {:.4}; B-cubed P {:.4} R {:.4} F1 {:.4}",
        g.pairwise.precision,
        g.pairwise.recall,
        g.pairwise.f1,
        g.bcubed.precision,
        g.bcubed.recall,
        g.bcubed.f1
    );
    for e in &g.elements {
        println!(
            "  {:<22} {:>7} {:>9} {:>7.4}",
            e.element,
            e.copies,
            e.recalled,
            e.recall()
        );
    }
    let merged: Vec<String> = g
        .negatives
        .iter()
        .map(|n| format!("{} {} merged (of {})", n.merged, n.family, n.total))
        .collect();
    println!("  hard negatives: {}", merged.join("; "));

    let mut failures: Vec<String> = Vec::new();
    // GRAMMAR TARGET: B-cubed F1 >= 0.97 (issue 18); algorithm 5 meets
    // 0.99 on every held-out seed.
    if g.bcubed.f1 < 0.98 {
        failures.push(format!("B-cubed F1 {:.4} < 0.98", g.bcubed.f1));
    }
    // GRAMMAR TARGET: pairwise precision >= 0.995 (issue 18); algorithm 5
    // meets 1.000.
    if g.pairwise.precision < 0.999 {
        failures.push(format!(
            "pairwise precision {:.4} < 0.999",
            g.pairwise.precision
        ));
    }
    // GRAMMAR TARGET (issue 18): recall >= 0.95 for every single element
    // (`cut-lede` included since v4's fourth round: 1.000 on every held-out
    // seed), and no hard negative merged.
    let names: Vec<String> = Element::ALL.iter().map(ToString::to_string).collect();
    for e in g.elements.iter().filter(|e| !e.combination) {
        assert!(names.contains(&e.element), "unknown element {}", e.element);
        if e.recall() < 0.95 {
            failures.push(format!("recall of {} {:.4} < 0.95", e.element, e.recall()));
        }
    }
    for n in &g.negatives {
        // GRAMMAR TARGET: no templated report, same-event pair,
        // registration-wall item or episode merged.
        if n.merged > 0 {
            failures.push(format!("{} {} merged (target 0)", n.merged, n.family));
        }
    }
    failures
}

// GRAMMAR TARGET (real feeds): no story joins different items of one feed
// under different titles (an agency's "UPDATE n-" of its own headline
// excepted). The list is printed for human reading: every multi-copy story
// whose titles differ should be a true copy across feeds.
#[test]
fn real_feeds_fold_no_items_of_one_feed() {
    let Some(dir) = shared("FEEDFOLD_SHARED_CORPORA", "corpora") else {
        return;
    };
    let report = match real_feeds(&dir, &DedupConfig::default()) {
        Ok(r) => r,
        Err(e) => panic!("real feeds check failed on {}: {e}", dir.display()),
    };
    println!("{report}");
    let bad: Vec<String> = report
        .violations()
        .map(|s| {
            let titles: Vec<&str> = s.members.iter().map(|m| m.title.as_str()).collect();
            format!("[{}] {}", s.members[0].feed, titles.join(" / "))
        })
        .collect();
    assert!(
        bad.is_empty(),
        "{} stories join different items of one feed under different titles:\n  {}",
        bad.len(),
        bad.join("\n  ")
    );
}
