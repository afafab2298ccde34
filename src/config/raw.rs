//! The serde shapes of the files as written: every value that can be wrong
//! is `Spanned`, so that the checks in `check` can name its line.

use serde::Deserialize;
use toml::Spanned;

use super::FetchConfig;

/// The tables of the main config, as written, in the order of `RawConfig`.
pub(super) const CONFIG_TABLES: &[&str] = &[
    "[poll]",
    "[fetch]",
    "[[feed]]",
    "[daemon]",
    "[log]",
    "[metrics]",
    "[web]",
    "[dedup]",
    "[retention]",
];

/// The tables of an included `.toml` list.
pub(super) const LIST_TABLES: &[&str] = &["[[feed]]"];

/// The main config file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) database: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) include: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) poll: RawPoll,
    #[serde(default)]
    pub(super) fetch: FetchConfig,
    #[serde(default, rename = "feed")]
    pub(super) feeds: Vec<RawFeed>,
    #[serde(default)]
    pub(super) daemon: RawDaemon,
    #[serde(default)]
    pub(super) log: RawLog,
    #[serde(default)]
    pub(super) metrics: RawMetrics,
    #[serde(default)]
    pub(super) web: super::web::RawWeb,
    #[serde(default)]
    pub(super) dedup: RawDedup,
    #[serde(default)]
    pub(super) retention: RawRetention,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDaemon {
    pub(super) shutdown_grace: Option<Spanned<String>>,
    pub(super) lease: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    pub(super) level: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    pub(super) listen: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetention {
    pub(super) days: Option<Spanned<i64>>,
    pub(super) max_entries_per_feed: Option<Spanned<i64>>,
    pub(super) schedule: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPoll {
    pub(super) schedule: Option<Spanned<String>>,
    pub(super) interval: Option<Spanned<String>>,
    pub(super) concurrency: Option<Spanned<i64>>,
    pub(super) min_interval: Option<Spanned<String>>,
    pub(super) max_interval: Option<Spanned<String>>,
    pub(super) max_backoff: Option<Spanned<String>>,
    pub(super) per_host: Option<Spanned<i64>>,
    pub(super) timeout: Option<Spanned<String>>,
    pub(super) connect_timeout: Option<Spanned<String>>,
    pub(super) max_redirects: Option<Spanned<i64>>,
}

/// The `[dedup]` table, read here rather than as `DedupConfig` itself so
/// that a range error names the line of its key. `check` builds the
/// `DedupConfig` naming every field, so a field added there fails to compile
/// until it is read here too.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDedup {
    pub(super) window: Option<Spanned<String>>,
    pub(super) jaccard_min: Option<Spanned<f64>>,
    pub(super) containment_min: Option<Spanned<f64>>,
    pub(super) containment_min_shingles: Option<Spanned<usize>>,
    pub(super) min_tokens: Option<Spanned<usize>>,
    pub(super) lead_tokens: Option<Spanned<usize>>,
    pub(super) max_number_mismatch: Option<Spanned<usize>>,
    pub(super) max_name_mismatch: Option<Spanned<usize>>,
    pub(super) tie_margin: Option<Spanned<f64>>,
    pub(super) boilerplate_min_items: Option<Spanned<u32>>,
}

/// An included `.toml` list: only `[[feed]]` tables.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawList {
    #[serde(default, rename = "feed")]
    pub(super) feeds: Vec<RawFeed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFeed {
    pub(super) url: Spanned<String>,
    pub(super) title: Option<String>,
    pub(super) interval: Option<Spanned<String>>,
    pub(super) tags: Option<Vec<Spanned<String>>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// serde's own list of the fields, from its error for an unknown one.
    fn fields<T: serde::de::DeserializeOwned>() -> String {
        let e = toml::from_str::<T>("zzz = 1").err().expect("unknown field");
        let message = e.message().to_string();
        let (_, list) = message.split_once("expected ").expect("a list");
        list.replace('`', "")
    }

    #[test]
    fn the_table_lists_match_the_shapes() {
        let tables: Vec<_> = CONFIG_TABLES
            .iter()
            .map(|t| t.trim_matches(['[', ']']))
            .collect();
        assert_eq!(
            fields::<RawConfig>(),
            format!("one of database, include, {}", tables.join(", "))
        );
        assert_eq!(fields::<RawList>(), "feed");
        assert_eq!(LIST_TABLES, ["[[feed]]"]);
    }
}
