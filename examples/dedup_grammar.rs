//! Replays the `grammar` corpus of one seed and prints its report.
//!
//! `cargo run --release --example dedup-grammar -- [SEED] [--items N]`
//! (default seed: the tuning seed 20250227; `FEEDFOLD_SHARED_DEDUP`
//! overrides `../shared/dedup`). `--items N` also prints the first N items
//! of the corpus as generated, for reading the house styles.

use std::path::PathBuf;

use feedfold::dedup::DedupConfig;
use feedfold::eval::grammar::{grammar_corpus, run_grammar, Element};

/// The seed the engine is tuned on (tests/dedup_quality.rs).
const TUNING_SEED: u64 = 20250227;

fn main() {
    let mut seed = TUNING_SEED;
    let mut show = 0usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--items" => show = args.next().and_then(|n| n.parse().ok()).unwrap_or(20),
            s => seed = s.parse().expect("usage: dedup-grammar [SEED] [--items N]"),
        }
    }
    let dir = std::env::var("FEEDFOLD_SHARED_DEDUP").map_or_else(
        |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/dedup"),
        PathBuf::from,
    );
    if show > 0 {
        let corpus = grammar_corpus(&dir, seed).expect("grammar corpus");
        for (i, item) in corpus.items.iter().take(show).enumerate() {
            let elements: Vec<String> = Element::ALL
                .iter()
                .filter(|&&e| corpus.carries(i, e))
                .map(ToString::to_string)
                .collect();
            println!(
                "--- #{i} gold {} [{}] {} {{{}}}\nTITLE: {}\n{}\n",
                item.gold,
                item.feed,
                item.kind,
                elements.join(", "),
                item.title.as_deref().unwrap_or(""),
                item.body.as_deref().unwrap_or("")
            );
        }
    }
    let report = run_grammar(&dir, seed, &DedupConfig::default()).expect("grammar harness");
    let report = feedfold::eval::EvalReport {
        seed,
        config: DedupConfig::default(),
        corpora: vec![report],
    };
    print!("{report}");
}
