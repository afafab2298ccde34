//! Locating errors: byte spans to lines, and toml's own errors to the
//! file, line and dotted key the person editing the file needs.

use std::ops::Range;
use std::path::Path;

use super::ConfigError;

/// The config text being validated, for turning byte spans into line numbers.
pub(super) struct Source<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
    /// Byte offsets where lines 2, 3, … start: a feed list of thousands of
    /// entries asks for a line per entry.
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

    pub(super) fn line(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset) + 1
    }

    pub(super) fn invalid(&self, span: Range<usize>, key: &str, message: &str) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line: self.line(span.start),
            key: key.to_string(),
            message: message.to_string(),
        }
    }

    pub(super) fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
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
    pub(super) fn key_at(&self, offset: usize) -> String {
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
