//! How to store an item's HTML: measured, not guessed. For every item of a
//! set of feed files (or of a pre-0013 feedfold database), compares the
//! bytes of the HTML stored raw, as a plain zstd frame, as a zstd frame with
//! a dictionary trained on other items, and as a zstd frame with the item's
//! own plain text as dictionary (what `src/store/text.rs` does), plus the
//! time each takes. Also the normalised text against the plain text.
//!
//! Usage: `bench-text --feeds DIR` (every file under DIR, parsed by
//! feedfold) or `bench-text --db FILE` (a database from before schema 13:
//! its `summary`/`content` and `norm_text` columns). Prints a Markdown table.

use std::time::Instant;

use zstd::bulk::{Compressor, Decompressor};

/// One item: its HTML, its plain text and dedup's normalised text.
struct Item {
    html: String,
    plain: String,
    norm: String,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let items = match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("--feeds"), Some(dir)) => from_feeds(dir),
        (Some("--db"), Some(file)) => from_db(file),
        _ => {
            eprintln!("usage: bench-text --feeds DIR | --db FILE");
            std::process::exit(2);
        }
    };
    if items.len() < 20 {
        eprintln!("too few items with a body: {}", items.len());
        std::process::exit(1);
    }
    // Train on every other item, measure on the rest, so the dictionary
    // never saw what it compresses.
    let (train, test): (Vec<&Item>, Vec<&Item>) = {
        let (a, b): (Vec<_>, Vec<_>) = items.iter().enumerate().partition(|(i, _)| i % 2 == 0);
        (
            a.into_iter().map(|x| x.1).collect(),
            b.into_iter().map(|x| x.1).collect(),
        )
    };
    let samples: Vec<&[u8]> = train.iter().map(|i| i.html.as_bytes()).collect();
    let dict = zstd::dict::from_samples(&samples, 64 * 1024).unwrap_or_default();
    let raw: usize = test.iter().map(|i| i.html.len()).sum();
    let n = test.len() as f64;
    println!("{} items measured ({} used to train the dictionary), HTML {:.0} bytes per item on average\n", test.len(), train.len(), raw as f64 / n);
    println!(
        "| HTML stored as | bytes per item | of raw | compress µs/item | decompress µs/item |"
    );
    println!("|---|---:|---:|---:|---:|");
    println!("| raw text | {:.0} | 100 % | — | — |", raw as f64 / n);
    // `shared`: one dictionary for every item, loaded once; otherwise each
    // item's own, loaded per item.
    let row =
        |name: &str, level: i32, shared: Option<&[u8]>, dict_of: &dyn Fn(&Item) -> Vec<u8>| {
            let mut c = Compressor::new(level).expect("zstd context");
            let mut d = Decompressor::new().expect("zstd context");
            if let Some(dict) = shared {
                c.set_dictionary(level, dict).expect("dictionary");
                d.set_dictionary(dict).expect("dictionary");
            }
            let (mut bytes, mut frames) = (0usize, Vec::with_capacity(test.len()));
            let t = Instant::now();
            for item in &test {
                if shared.is_none() {
                    c.set_dictionary(level, &dict_of(item)).expect("dictionary");
                }
                let f = c.compress(item.html.as_bytes()).expect("compress");
                bytes += f.len();
                frames.push(f);
            }
            let ct = t.elapsed().as_secs_f64() * 1e6 / n;
            let t = Instant::now();
            for (item, f) in test.iter().zip(&frames) {
                if shared.is_none() {
                    d.set_dictionary(&dict_of(item)).expect("dictionary");
                }
                let out = d.decompress(f, item.html.len() + 64).expect("decompress");
                assert_eq!(out.len(), item.html.len());
            }
            let dt = t.elapsed().as_secs_f64() * 1e6 / n;
            println!(
                "| {name} | {:.0} | {:.1} % | {ct:.1} | {dt:.1} |",
                bytes as f64 / n,
                100.0 * bytes as f64 / raw as f64
            );
        };
    row("zstd -3", 3, Some(&[]), &|_| Vec::new());
    row(
        "zstd -3, trained 64 KiB dictionary",
        3,
        Some(&dict),
        &|_| Vec::new(),
    );
    row(
        "zstd -1, the item's plain text as dictionary",
        1,
        None,
        &|i| i.plain.as_bytes().to_vec(),
    );
    row(
        "zstd -3, the item's plain text as dictionary (feedfold)",
        3,
        None,
        &|i| i.plain.as_bytes().to_vec(),
    );
    let norm_raw: usize = test.iter().map(|i| i.norm.len()).sum();
    let mut c = Compressor::new(3).expect("zstd context");
    let (mut plain_z, mut against) = (0usize, 0usize);
    for item in &test {
        c.set_dictionary(3, &[]).expect("no dictionary");
        plain_z += c.compress(item.norm.as_bytes()).expect("compress").len();
        c.set_dictionary(3, item.plain.to_ascii_lowercase().as_bytes())
            .expect("dictionary");
        against += c.compress(item.norm.as_bytes()).expect("compress").len();
    }
    println!("\nnormalised text: raw {:.0} bytes per item, zstd -3 {:.0}, against the lowered plain text {:.0} (feedfold)", norm_raw as f64 / n, plain_z as f64 / n, against as f64 / n);
}

fn from_feeds(dir: &str) -> Vec<Item> {
    let mut files = Vec::new();
    let mut stack = vec![std::path::PathBuf::from(dir)];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut items = Vec::new();
    for f in files {
        let Ok(bytes) = std::fs::read(&f) else {
            continue;
        };
        let Ok(feed) = feedfold::parse::parse(&bytes, None, "http://127.0.0.1/") else {
            continue;
        };
        for e in &feed.entries {
            let Some(html) = e.body() else { continue };
            let a = feedfold::dedup::analyze(e.title.as_deref(), Some(html));
            let Some(plain) = a.plain_body.clone() else {
                continue;
            };
            items.push(Item {
                html: html.to_string(),
                plain,
                norm: a.text,
            });
        }
    }
    items
}

fn from_db(file: &str) -> Vec<Item> {
    let conn =
        rusqlite::Connection::open_with_flags(file, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap_or_else(|e| {
                eprintln!("{file}: {e}");
                std::process::exit(2)
            });
    let mut stmt = conn
        .prepare("SELECT COALESCE(content, summary), norm_text FROM entry WHERE COALESCE(content, summary) IS NOT NULL")
        .unwrap_or_else(|e| {
            eprintln!("{file}: not a database from before schema 13: {e}");
            std::process::exit(2)
        });
    let rows = stmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .unwrap_or_else(|e| {
            eprintln!("{file}: {e}");
            std::process::exit(2)
        });
    rows.into_iter()
        .map(|(html, norm)| Item {
            plain: feedfold::dedup::html_to_text(&html),
            html,
            norm: norm.unwrap_or_default(),
        })
        .collect()
}
