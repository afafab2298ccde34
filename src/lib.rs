//! feedfold: an RSS/Atom/JSON Feed aggregator daemon that folds syndicated
//! wire copies into one canonical story.
//!
//! The pipeline is fetch → parse → normalize → fingerprint → match → store;
//! see `ARCHITECTURE.md` for the map of modules.

pub mod dedup;
pub mod eval;
