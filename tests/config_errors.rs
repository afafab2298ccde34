//! Config errors through the real binary: `feedfold check` exits 2 with one
//! line naming the file, the line and the key of the mistake.

mod common;

use std::path::PathBuf;

/// A config folder holding `feedfold.toml` with `text`.
struct Folder {
    dir: tempfile::TempDir,
}

impl Folder {
    fn new(text: &str) -> Folder {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("feedfold.toml"), text).expect("write config");
        Folder { dir }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("feedfold.toml")
    }

    /// Runs `feedfold -c CONFIG args…`, expecting exit code 2 and one line
    /// on stderr; returns that line.
    fn error(&self, args: &[&str]) -> String {
        let out = common::feedfold(&self.config(), args);
        let stderr = String::from_utf8_lossy(&out.stderr).trim_end().to_string();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        stderr
    }
}

/// The main config, with `[dedup]` on line 8: the keys it holds are named
/// earlier in the file too (a comment, a feed title), where a text search
/// would find them first.
fn with_dedup(dedup_lines: &str) -> String {
    format!(
        "# window, jaccard_min and tie_margin are explained in docs/DEDUP.md\n\
         database = \"ff.db\"\n\
         [poll]\n\
         interval = \"30m\"\n\
         [[feed]]\n\
         url = \"https://a.example/rss\"\n\
         title = \"The window\"\n\
         [dedup]\n\
         {dedup_lines}"
    )
}

#[test]
fn a_dedup_error_names_the_line_of_its_key() {
    let f = Folder::new(&with_dedup("min_tokens = 6\nwindow = \"30s\"\n"));
    let e = f.error(&["check"]);
    assert!(
        e.ends_with("feedfold.toml:10: dedup.window: must be at least 1m"),
        "{e}"
    );

    let f = Folder::new(&with_dedup("\njaccard_min = 0.5\ntie_margin = 1.5\n"));
    let e = f.error(&["check"]);
    assert!(
        e.ends_with("feedfold.toml:11: dedup.tie_margin: must be between 0 and 1"),
        "{e}"
    );

    let f = Folder::new(&with_dedup("window = \"soon\"\n"));
    let e = f.error(&["check"]);
    assert!(
        e.contains("feedfold.toml:9: dedup.window: invalid duration \"soon\""),
        "{e}"
    );

    let f = Folder::new(&with_dedup("window = \"2d\"\njacard_min = 0.6\n"));
    let e = f.error(&["check"]);
    assert!(
        e.contains("feedfold.toml:10: dedup.jacard_min: unknown field `jacard_min`"),
        "{e}"
    );
}

#[test]
fn an_unknown_table_is_named_with_its_line_and_the_known_tables() {
    let f = Folder::new(
        "database = \"ff.db\"\n[poll]\ninterval = \"30m\"\n\n[webhooks]\nlisten = \"127.0.0.1:8080\"\n",
    );
    let e = f.error(&["check"]);
    assert!(
        e.ends_with(
            "feedfold.toml:5: webhooks: unknown table [webhooks]; the known tables are [poll], \
             [fetch], [[feed]], [daemon], [log], [metrics], [web], [dedup] and [retention]"
        ),
        "{e}"
    );
    assert!(!e.contains(": poll:"), "not blamed on the table above: {e}");
}

#[test]
fn a_database_url_other_than_postgres_is_a_config_error_and_creates_nothing() {
    for (value, prefix) in [
        ("mysql://feedfold:secret@db.example/news", "mysql://"),
        ("sqlite://ff.db", "sqlite://"),
        ("file:ff.db", "file:"),
    ] {
        let f = Folder::new(&format!(
            "# the store\n\ndatabase = \"{value}\"\n[[feed]]\nurl = \"https://a.example/rss\"\n"
        ));
        for command in ["check", "poll", "stories"] {
            let e = f.error(&[command]);
            assert!(
                e.contains(&format!(
                    "feedfold.toml:3: database: \"{prefix}…\" is a URL feedfold cannot use; \
                     give a file path (SQLite), e.g. \"feedfold.db\", or a postgres://"
                )),
                "{command}: {e}"
            );
            assert!(!e.contains("secret"), "{e}");
        }
        let entries: Vec<_> = std::fs::read_dir(f.dir.path())
            .expect("read config folder")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(entries, ["feedfold.toml"], "nothing created for {value}");
    }
    // A PostgreSQL URL is valid, and `check` never shows its password.
    let f = Folder::new(
        "database = \"postgres://feedfold:secret@db.example/news\"\n[[feed]]\nurl = \"https://a.example/rss\"\n",
    );
    let out = common::feedfold(&f.config(), &["check"]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(!all.contains("secret"), "{all}");
}
