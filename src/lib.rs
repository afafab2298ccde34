//! feedfold: an RSS/Atom/JSON Feed aggregator daemon that folds syndicated
//! wire copies into one canonical story.
//!
//! The pipeline is fetch → parse → normalize → fingerprint → match → store;
//! see `ARCHITECTURE.md` for the map of modules.

pub mod cli;
pub mod config;
pub mod cron;
pub mod daemon;
pub use feedfold_dedup as dedup;
pub mod demo;
pub mod eval;
pub mod fetch;
pub mod listedit;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod opml;
pub mod output;
pub mod parse;
pub mod reload;
pub mod schedule;
pub mod service;
pub mod store;
pub mod web;
pub mod when;
pub mod xmltext;
