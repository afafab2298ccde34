//! The boundaries ARCHITECTURE.md promises, checked on the source text:
//! SQL only in `store`, the HTTP client only in `fetch`, no I/O in the
//! folding engine's crate, and no cycle between the daemon's top-level
//! modules. A grep would do for a reviewer; a test keeps doing it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The file's lines that are code, not comments (doc comments mention SQL
/// and crates freely).
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(i, l)| (i + 1, l.to_string()))
        .collect()
}

/// `path` relative to the repository, for messages.
fn rel(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Lines of files outside `allowed` (a folder under `src/`) that contain
/// any of `needles`.
fn offenders(allowed: &str, needles: &[&str]) -> Vec<String> {
    let allowed = root().join("src").join(allowed);
    let mut found = Vec::new();
    for file in rust_files(&root().join("src")) {
        if file.starts_with(&allowed) {
            continue;
        }
        for (n, line) in code_lines(&file) {
            if needles.iter().any(|needle| line.contains(needle)) {
                found.push(format!("{}:{n}: {}", rel(&file), line.trim()));
            }
        }
    }
    found
}

#[test]
fn sql_lives_only_in_store() {
    let found = offenders(
        "store",
        &[
            "rusqlite",
            "\"SELECT ",
            "\"INSERT ",
            "\"UPDATE ",
            "\"DELETE ",
            "\"CREATE ",
            "\"PRAGMA ",
            "\"BEGIN",
        ],
    );
    assert!(
        found.is_empty(),
        "SQL outside src/store:\n{}",
        found.join("\n")
    );
}

#[test]
fn http_client_lives_only_in_fetch() {
    let found = offenders("fetch", &["reqwest", "hyper::client", "hyper_util::client"]);
    assert!(
        found.is_empty(),
        "an HTTP client outside src/fetch:\n{}",
        found.join("\n")
    );
}

#[test]
fn folding_engine_does_no_io() {
    let krate = root().join("crates/feedfold-dedup");
    let banned = [
        "std::fs",
        "std::net",
        "std::process",
        "std::env",
        "std::io::stdin",
        "std::io::stdout",
        "File::",
        "tokio",
        "println!",
        "eprintln!",
    ];
    let mut found = Vec::new();
    for file in rust_files(&krate.join("src")) {
        for (n, line) in code_lines(&file) {
            if banned.iter().any(|b| line.contains(b)) {
                found.push(format!("{}:{n}: {}", rel(&file), line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "I/O in the folding engine:\n{}",
        found.join("\n")
    );

    let manifest = fs::read_to_string(krate.join("Cargo.toml")).expect("engine manifest");
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .expect("a [dependencies] table");
    for io_crate in ["rusqlite", "reqwest", "tokio", "hyper", "axum", "feed-rs"] {
        assert!(
            !deps.lines().any(|l| l.starts_with(io_crate)),
            "the folding engine depends on {io_crate}"
        );
    }
}

/// The top-level module a file under `src/` belongs to (`store` for
/// `src/store/bands.rs`, `cli` for `src/cli/demo.rs`).
fn module_of(file: &Path) -> Option<String> {
    let under = file.strip_prefix(root().join("src")).ok()?;
    let first = under.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main")).then(|| name.to_string())
}

/// Which top-level modules each module uses through `crate::`.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let files = rust_files(&root().join("src"));
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some(from) = module_of(file) else {
            continue;
        };
        let uses = graph.entry(from.clone()).or_default();
        for (_, line) in code_lines(file) {
            for (at, _) in line.match_indices("crate::") {
                let rest = &line[at + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if name != from && modules.contains(&name) {
                    uses.insert(name);
                }
            }
        }
    }
    graph
}

/// A cycle through `start`, if any, as the list of modules along it.
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((at, path)) = stack.pop() {
        for next in graph.get(&at).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(start.to_string());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn top_level_modules_form_no_cycle() {
    let graph = module_graph();
    assert!(
        graph.contains_key("store") && graph.contains_key("schedule"),
        "{graph:?}"
    );
    let cycles: BTreeSet<String> = graph
        .keys()
        .filter_map(|m| cycle_from(&graph, m))
        .map(|c| c.join(" → "))
        .collect();
    assert!(
        cycles.is_empty(),
        "module cycles (a shared type belongs in `model`, a metric in the stage's report):\n{}",
        cycles.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn shared_plain_modules_use_nothing_in_the_crate() {
    let graph = module_graph();
    for module in ["model", "cron", "when"] {
        let uses = graph
            .get(module)
            .unwrap_or_else(|| panic!("no module {module}"));
        assert!(uses.is_empty(), "{module} uses {uses:?}");
    }
}
