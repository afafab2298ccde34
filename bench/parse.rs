//! Parse throughput: feed bytes → parsed entries → normalised and
//! fingerprinted, in process, on one core. Used by `bench/run.sh` (scenario d).
//!
//! Usage: `bench-parse LIST [ROUNDS] [--split]` where LIST holds one file
//! path per line. Prints one JSON object: bytes, files, entries, seconds,
//! MB/s, entries/s, and the seconds of parsing and of analysis. With
//! `--split`, after that measurement, a second pass times the markup-to-text
//! step alone (`html_to_text_seconds`): parsing plus that step is the floor
//! under the whole.

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(list) = args.get(1) else {
        eprintln!("usage: bench-parse LIST [ROUNDS] [--split]");
        std::process::exit(2);
    };
    let rounds: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(5);
    let text = std::fs::read_to_string(list).unwrap_or_else(|e| {
        eprintln!("{list}: {e}");
        std::process::exit(2)
    });
    let docs: Vec<Vec<u8>> = text.lines().filter_map(|p| std::fs::read(p).ok()).collect();
    let bytes: usize = docs.iter().map(Vec::len).sum();
    let mut entries = 0usize;
    let mut failed = 0usize;
    let started = Instant::now();
    let mut analyze_secs = 0.0;
    for _ in 0..rounds {
        for doc in &docs {
            match feedfold::parse::parse(doc, None, "http://127.0.0.1/") {
                Ok(feed) => {
                    let t = Instant::now();
                    for e in &feed.entries {
                        let a = feedfold::dedup::analyze(e.title.as_deref(), e.body());
                        std::hint::black_box(a);
                        entries += 1;
                    }
                    analyze_secs += t.elapsed().as_secs_f64();
                }
                Err(_) => failed += 1,
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let html_secs = if args.iter().any(|a| a == "--split") {
        html_to_text_seconds(&docs, rounds)
    } else {
        0.0
    };
    let total = (bytes * rounds) as f64;
    println!(
        "{{\"files\": {}, \"bytes\": {}, \"rounds\": {rounds}, \"entries\": {entries}, \"failed\": {failed}, \"seconds\": {secs:.4}, \"mb_per_s\": {:.2}, \"entries_per_s\": {:.0}, \"parse_seconds\": {:.4}, \"analyze_seconds\": {analyze_secs:.4}, \"html_to_text_seconds\": {html_secs:.4}}}",
        docs.len(),
        bytes,
        total / secs / 1e6,
        entries as f64 / secs,
        secs - analyze_secs
    );
}

/// Seconds spent turning every item's title and body into plain text, over
/// `rounds` rounds. Each document is parsed untimed just before its items
/// are converted, so that no more than one parsed feed is held at a time.
fn html_to_text_seconds(docs: &[Vec<u8>], rounds: usize) -> f64 {
    let mut secs = 0.0;
    for _ in 0..rounds {
        for doc in docs {
            let Ok(feed) = feedfold::parse::parse(doc, None, "http://127.0.0.1/") else {
                continue;
            };
            let t = Instant::now();
            for e in &feed.entries {
                std::hint::black_box(e.title.as_deref().map(feedfold::dedup::html_to_text));
                std::hint::black_box(e.body().map(feedfold::dedup::html_to_text));
            }
            secs += t.elapsed().as_secs_f64();
        }
    }
    secs
}
