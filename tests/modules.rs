//! Module edges that were cut to break dependency cycles stay cut: a module
//! that is used by another must not use it back. Read from the sources, as
//! the edges are `use` lines and paths.

use std::path::{Path, PathBuf};

/// The `.rs` files of module `name`: `src/name.rs` and everything under `src/name/`.
fn files_of(name: &str) -> Vec<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let single = src.join(format!("{name}.rs"));
    if single.is_file() {
        files.push(single);
    }
    let mut dirs = vec![src.join(name)];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    assert!(!files.is_empty(), "no sources for module {name}");
    files
}

/// Where module `from` names module `to` (`crate::to`; any module when `to`
/// is empty), as `file:line`.
fn uses(from: &str, to: &str) -> Vec<String> {
    let needle = format!("crate::{to}");
    let mut found = Vec::new();
    for file in files_of(from) {
        let text = std::fs::read_to_string(&file).expect("read a source file");
        for (i, line) in text.lines().enumerate() {
            let rest = line.split(&needle).skip(1);
            for after in rest {
                // `crate::store` must not match `crate::storefront`; a bare
                // `crate::` (empty `to`) matches any path into the crate.
                if to.is_empty() || !after.starts_with(|c: char| c.is_alphanumeric() || c == '_') {
                    found.push(format!("{}:{}", file.display(), i + 1));
                }
            }
        }
    }
    found
}

#[test]
fn cut_edges_stay_cut() {
    // (user, used): the used module must not name its user.
    for (user, used) in [
        ("metrics", "service"),
        ("schedule", "store"),
        ("schedule", "config"),
        ("daemon", "schedule"),
        ("cli", "daemon"),
    ] {
        let back = uses(used, user);
        assert!(
            back.is_empty(),
            "{used} uses {user}, which uses it: {back:?}"
        );
    }
}

#[test]
fn shared_plain_modules_depend_on_nothing_in_the_crate() {
    for module in ["model", "cron"] {
        let found = uses(module, "");
        assert!(found.is_empty(), "{module} uses the crate: {found:?}");
    }
}
