//! Replays every feed file of `../shared/corpora` at once and lists the
//! stories that folded more than one entry (see `feedfold::eval::real_feeds`).
//!
//! `cargo run --release --example dedup-feeds -- [CORPORA_DIR]`

use std::path::PathBuf;

use feedfold::dedup::DedupConfig;
use feedfold::eval::real_feeds;

fn main() {
    let dir = std::env::args().nth(1).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora"),
        PathBuf::from,
    );
    let report = real_feeds(&dir, &DedupConfig::default()).expect("real feeds check");
    print!("{report}");
}
