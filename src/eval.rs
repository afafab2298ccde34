//! The folding engine's evaluation harness (`feedfold_eval`), plus
//! the real-feeds check wired to this crate's feed parser: the engine crate
//! knows no feed formats, and the check is meant to exercise the parser the
//! daemon uses.

use std::path::Path;

pub use feedfold_eval::*;

use crate::dedup::DedupConfig;

/// [`feeds::real_feeds`] with feedfold's own parser: every feed file under
/// `corpora_dir` replayed at once with `cfg`.
pub fn real_feeds(corpora_dir: &Path, cfg: &DedupConfig) -> Result<feeds::FeedsReport, EvalError> {
    feeds::real_feeds(corpora_dir, cfg, parse_entries)
}

/// A feed file's entries as the check reads them; `None` when the parser
/// rejects the file.
fn parse_entries(bytes: &[u8], url: &str) -> Option<Vec<feeds::FeedEntry>> {
    let feed = crate::parse::parse(bytes, None, url).ok()?;
    let entries = feed
        .entries
        .into_iter()
        .map(|e| feeds::FeedEntry {
            published: e.published.map(|t| t.timestamp()),
            body: e.body().map(str::to_string),
            identity: e.identity,
            title: e.title,
        })
        .collect();
    Some(entries)
}
