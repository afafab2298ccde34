//! Plain data types that more than one module passes around. They live here,
//! with no behaviour and no dependencies, so that the module which decides a
//! value and the module which stores it need not depend on each other.

/// What a fetch does to a feed's pending permanent redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectStep {
    /// No permanent redirect in a row: forget any pending one.
    Clear,
    /// The same permanent redirect seen `count` times in a row so far.
    Pending {
        /// Where it points.
        target: String,
        /// Consecutive sightings.
        count: u32,
    },
    /// Seen `schedule::policy::REDIRECTS_TO_MOVE` times in a row: move the
    /// feed there.
    Move {
        /// The new fetch URL.
        target: String,
    },
}

/// The host part of a URL, lower-case, without port: the unit of
/// politeness, and on PostgreSQL the unit a worker leases.
pub fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_default()
}
