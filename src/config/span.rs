//! Locating errors: byte spans to lines, and toml's own errors to the
//! file, line and dotted key the person editing the file needs.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use serde::de::DeserializeOwned;
use toml::Spanned;

use super::ConfigError;

/// The config text being validated, for turning byte spans into line numbers.
pub(super) struct Source<'a> {
    pub(super) path: &'a Path,
    text: &'a str,
    /// Byte offsets where lines 2, 3, … start, so that finding a line is a
    /// binary search: a list of thousands of feeds asks for one per feed.
    line_starts: Vec<usize>,
}

impl<'a> Source<'a> {
    pub(super) fn new(path: &'a Path, text: &'a str) -> Self {
        let line_starts = text.match_indices('\n').map(|(i, _)| i + 1).collect();
        Source {
            path,
            text,
            line_starts,
        }
    }

    /// The 1-based line holding byte `offset`.
    pub(super) fn line(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset) + 1
    }

    /// An error at the line of `span`.
    pub(super) fn invalid(&self, span: Range<usize>, key: &str, message: &str) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line: self.line(span.start),
            key: key.to_string(),
            message: message.to_string(),
        }
    }

    /// The whole text read as `T`, a shape whose tables are `tables` (as
    /// written: `[poll]`, `[[feed]]`).
    pub(super) fn deserialize<T: DeserializeOwned>(
        &self,
        tables: &[&str],
    ) -> Result<T, ConfigError> {
        toml::from_str(self.text).map_err(|e| {
            self.unknown_table(tables)
                .unwrap_or_else(|| self.toml_error(&e))
        })
    }

    /// The first top-level table that is not one of `tables`, as an error
    /// naming it and listing them. toml reports an unknown table at its
    /// header, where `key_at` would name the table above it instead.
    fn unknown_table(&self, tables: &[&str]) -> Option<ConfigError> {
        let top: BTreeMap<Spanned<String>, toml::Value> = toml::from_str(self.text).ok()?;
        let is_known = |name: &str| tables.iter().any(|t| t.trim_matches(['[', ']']) == name);
        let is_tables = |v: &toml::Value| {
            v.as_array()
                .is_some_and(|a| !a.is_empty() && a.iter().all(toml::Value::is_table))
        };
        let (name, value) = top
            .iter()
            .filter(|(name, value)| {
                !is_known(name.get_ref()) && (value.is_table() || is_tables(value))
            })
            .min_by_key(|(name, _)| name.span().start)?;
        let written = if value.is_table() {
            format!("[{}]", name.get_ref())
        } else {
            format!("[[{}]]", name.get_ref())
        };
        let message = match tables {
            [only] => format!("unknown table {written}; the only table here is {only}"),
            [first @ .., last] => format!(
                "unknown table {written}; the known tables are {} and {last}",
                first.join(", ")
            ),
            [] => format!("unknown table {written}"),
        };
        Some(self.invalid(name.span(), name.get_ref(), &message))
    }

    /// toml's own error, at its line, with the dotted key and in plain words.
    fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
        let line = e.span().map(|s| self.line(s.start)).unwrap_or(1);
        let key = e
            .span()
            .map(|s| self.key_at(s.start))
            .unwrap_or_else(|| "(file)".to_string());
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line,
            key,
            message: plain_type_words(e.message().trim()),
        }
    }

    /// The dotted key whose line contains `offset`, reconstructed from the
    /// text: toml's own error names the field but not the table it is in.
    fn key_at(&self, offset: usize) -> String {
        let end = offset.min(self.text.len());
        let before = &self.text[..end];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[line_start..]
            .find('\n')
            .map_or(self.text.len(), |i| line_start + i);
        let line = self.text[line_start..line_end].trim();
        let table = before[..line_start]
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('['))
            .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
        let key = line
            .split_once('=')
            .map(|(k, _)| k.trim().to_string())
            .filter(|k| !k.starts_with('['));
        match (table, key) {
            (Some(t), Some(k)) => format!("{t}.{k}"),
            (None, Some(k)) => k,
            (Some(t), None) => t,
            (None, None) => "(file)".to_string(),
        }
    }
}

/// A serde type error in the user's words: `invalid type: string "many",
/// expected i64` becomes `expected a whole number, found the text "many"`.
fn plain_type_words(message: &str) -> String {
    let mut m = message.to_string();
    for (rust, words) in [
        ("i64", "a whole number"),
        ("u64", "a whole number"),
        ("usize", "a whole number"),
        ("u32", "a whole number"),
        ("u16", "a whole number"),
        ("u8", "a whole number"),
        ("f64", "a number"),
        ("a sequence", "a list"),
    ] {
        m = m.replace(&format!("expected {rust}"), &format!("expected {words}"));
    }
    let Some((found, expected)) = m
        .strip_prefix("invalid type: ")
        .and_then(|rest| rest.split_once(", expected "))
    else {
        return m;
    };
    let found = found
        .replacen("string ", "the text ", 1)
        .replacen("floating point ", "the number ", 1)
        .replacen("integer ", "the number ", 1)
        .replace('`', "");
    format!("expected {expected}, found {found}")
}
