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
