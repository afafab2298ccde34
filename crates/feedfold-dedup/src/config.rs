//! Thresholds of the deduplicator: the `[dedup]` table of the configuration.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Deduplication settings. Every field has a default (the values measured
/// in `docs/DEDUP.md`); unknown keys are an error so that typos surface.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DedupConfig {
    /// How far back (by published time) the store looks for candidates, as
    /// a humantime string ("3d", "36h"). Wire copies appear within hours;
    /// a longer window costs index size and invites templated look-alikes.
    #[serde(deserialize_with = "humantime_duration")]
    pub window: Duration,
    /// Shingle Jaccard at or above which two texts are copies.
    pub jaccard_min: f64,
    /// Shingle containment (shared shingles / shingles of the smaller
    /// text) at or above which the smaller text is a cut of the larger: an
    /// RSS summary that is the first paragraph of the full text.
    pub containment_min: f64,
    /// Fewest shingles the smaller text needs for containment to count: a
    /// five-word text is "contained" in too many others.
    pub containment_min_shingles: usize,
    /// Texts with fewer tokens never fold, even when identical: generic
    /// headlines ("Business Highlights", "Titanfall review") repeat across
    /// unrelated items.
    pub min_tokens: usize,
    /// Length of the lead, in tokens, in which text in capitals is
    /// recognised (more than half of it capitalised: names are not judged).
    pub lead_tokens: usize,
    /// Places where two aligned texts carry different numbers that are
    /// still tolerated.
    pub max_number_mismatch: usize,
    /// Places where two aligned texts carry different names (capitalised
    /// tokens of the first 80) that are still tolerated.
    pub max_name_mismatch: usize,
    /// Stories whose best scores are within this margin are tied; the
    /// headline similarity breaks the tie.
    pub tie_margin: f64,
    /// Items of one feed a sentence must appear in to be learned as that
    /// feed's boilerplate (see `BoilerplateModel`).
    pub boilerplate_min_items: u32,
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig {
            window: Duration::from_secs(3 * 24 * 3600),
            jaccard_min: 0.5,
            containment_min: 0.8,
            containment_min_shingles: 10,
            min_tokens: 6,
            lead_tokens: 40,
            max_number_mismatch: 0,
            max_name_mismatch: 0,
            tie_margin: 0.02,
            boilerplate_min_items: super::boilerplate::DEFAULT_MIN_ITEMS,
        }
    }
}

fn humantime_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides_parse() {
        let c: DedupConfig = toml::from_str("").expect("empty table");
        assert_eq!(c, DedupConfig::default());
        let c: DedupConfig = toml::from_str("window = \"36h\"\njaccard_min = 0.6").expect("table");
        assert_eq!(c.window, Duration::from_secs(36 * 3600));
        assert_eq!(c.jaccard_min, 0.6);
        assert!(toml::from_str::<DedupConfig>("jacard_min = 0.6").is_err());
        assert!(toml::from_str::<DedupConfig>("window = \"soon\"").is_err());
    }
}
