//! feedfold's folding engine: turns an article's text into fingerprints and
//! decides whether it is a copy of a story already stored, so that the
//! syndicated copies of one wire story fold into one story while different
//! stories about the same event stay apart.
//!
//! The crate is pure: no network, no database, no files, no async runtime.
//! The feedfold daemon (`feedfold::dedup` re-exports this crate) fetches,
//! stores and looks up candidates; anyone else can do the same with their
//! own storage. The pipeline, one file per step:
//! 1. [`normalize`], [`credit`], [`boilerplate`]: markup to text, folding,
//!    datelines, credit lines and boilerplate stripped, credits recorded;
//! 2. [`fingerprint`]: exact hash, MinHash [`Signature`], LSH band keys;
//! 3. the store looks up [`Candidate`]s sharing a band key (or the exact
//!    fingerprint) within [`DedupConfig::window`], plus each candidate
//!    story's canonical copy;
//! 4. [`verify`] and [`fold`]: [`decide`] which story (if any) the entry joins.
//!
//! See `docs/DEDUP.md` for the design and measured quality.
//!
//! ```
//! use feedfold_dedup::{analyze, decide, Candidate, DedupConfig};
//!
//! let wire = "<p>ISTANBUL (AFP) - Turkey's central bank raised its main interest \
//!     rate to 42.5 percent on Thursday, its eighth increase in a row, citing \
//!     persistent inflation that reached 61 percent in November.</p>";
//! let copy = "<p>Istanbul, (APP - UrduPoint / Pakistan Point News - 27th Feb, 2025) \
//!     Turkey's central bank raised its main interest rate to 42.5 percent on \
//!     Thursday, its eighth increase in a row, citing persistent inflation that \
//!     reached 61 percent in November.</p>";
//! let stored = analyze(Some("Turkey raises rates again"), Some(wire));
//! let newcomer = analyze(Some("Turkish central bank hikes rate to 42.5pc"), Some(copy));
//!
//! // Story 7 holds the wire copy (entry 70 of feed 1) as its canonical copy.
//! let candidates = [Candidate::from_analysis(7, 70, 1, &stored, None, true)];
//! let verdict = decide(&newcomer, 2, &candidates, &DedupConfig::default());
//! assert_eq!(verdict.map(|v| v.story_id), Some(7));
//!
//! // Another story about the same bank stays apart.
//! let other = analyze(
//!     Some("Turkish lira slides after rate decision"),
//!     Some("<p>ANKARA (Reuters) - The Turkish lira fell to a record low against the \
//!         dollar on Friday as investors weighed the central bank's decision and \
//!         the finance minister's comments on the budget deficit.</p>"),
//! );
//! assert!(decide(&other, 3, &candidates, &DedupConfig::default()).is_none());
//! ```

pub mod boilerplate;
pub mod canon;
pub mod config;
pub mod credit;
pub mod fingerprint;
pub mod fold;
pub mod html;
pub mod normalize;
pub mod template;
pub mod verify;

pub use boilerplate::BoilerplateModel;
pub use config::DedupConfig;
pub use credit::{agency_for_host, Credits};
pub use fingerprint::{Fingerprint, Signature, SignatureError};
pub use fold::{choose_canonical, decide, story_origin, CopyInfo};
pub use normalize::{html_to_text, normalize_text};

use normalize::{fold_keep_case, lowercase, lowercase_into, split_sentences};
use verify::Prepared;

/// Version of the normalisation + fingerprint algorithm. Stored with every
/// fingerprint so that `refold` can tell stale rows after an algorithm change.
pub const ALGORITHM_VERSION: i64 = 4;

/// How an entry relates to the story it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// The copy that represents the story.
    Canonical,
    /// Same normalised text as a copy already in the story.
    Exact,
    /// A near-duplicate: same story, edited or cut text.
    Near,
}

impl Relation {
    /// The name stored in the database and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Canonical => "canonical",
            Relation::Exact => "exact",
            Relation::Near => "near",
        }
    }
}

/// Everything the matcher needs to know about one entry's text.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// Normalised headline (kept apart from `text`: outlets rewrite
    /// headlines, so it only breaks ties).
    pub title: String,
    /// Normalised body: datelines, credit lines and boilerplate removed,
    /// NFKC, folded quotes and dashes, lower case, single spaces. For an item
    /// without a body, the normalised title.
    pub text: String,
    /// Exact hash of `text`.
    pub exact: Fingerprint,
    /// News agencies the text credits, carrier first, origin last
    /// (e.g. `["APP", "AFP"]`); see [`credit`] for the rule.
    pub credits: Vec<String>,
    /// Near-duplicate signature of `text`.
    pub signature: Signature,
    /// LSH band keys of `signature`, for the store's band index.
    pub bands: Vec<u64>,
    /// Keys of the head and tail sentences, for [`BoilerplateModel::observe`].
    pub boilerplate_keys: Vec<u64>,
    /// The title as plain text ([`html_to_text`]), before normalisation:
    /// what the full-text index stores, so the writer need not convert again.
    pub plain_title: Option<String>,
    /// The body as plain text ([`html_to_text`]), before normalisation.
    pub plain_body: Option<String>,
    /// `text` prepared for verification (computed once per newcomer).
    prepared: Prepared,
}

impl Analysis {
    /// The value of an entry's `credited_agency` column: `"APP>AFP"`.
    pub fn credited_agency(&self) -> Option<String> {
        (!self.credits.is_empty()).then(|| self.credits.join(">"))
    }

    /// The agency that wrote the story, if the text credits one.
    pub fn origin_agency(&self) -> Option<&str> {
        self.credits.last().map(String::as_str)
    }

    /// True when the entry had no body (or only boilerplate): its text is its title.
    pub fn is_title_only(&self) -> bool {
        self.text == self.title
    }

    /// An analysis as a store persisted it (normalised title and text,
    /// credits, signature), for deciding in another process than the one
    /// that analysed: the verification data is rebuilt from `text` and
    /// `signature` exactly as a [`Candidate`]'s is, so [`decide`] judges a
    /// restored newcomer as it judges the original. The plain texts and the
    /// boilerplate keys are not kept.
    pub fn restore(
        title: String,
        text: String,
        credits: Vec<String>,
        signature: Signature,
    ) -> Analysis {
        let prepared = Prepared::new(&text, &signature);
        Analysis {
            title,
            exact: Fingerprint::of(&text),
            bands: signature.band_keys(),
            text,
            credits,
            signature,
            boilerplate_keys: Vec::new(),
            plain_title: None,
            plain_body: None,
            prepared,
        }
    }
}

/// A stored entry that might be a copy of the newcomer, as the store
/// rebuilds it from its columns.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The story the candidate belongs to.
    pub story_id: i64,
    /// The candidate entry itself.
    pub entry_id: i64,
    /// The feed that carried it (the store's feed id): items of one feed
    /// fold only under the same headline.
    pub feed: i64,
    /// Its exact fingerprint.
    pub exact: Fingerprint,
    /// Its normalised title ([`Analysis::title`]).
    pub title: String,
    /// Its normalised text ([`Analysis::text`]); equal to `title` for a
    /// title-only entry, which is how `decide` recognises one.
    pub text: String,
    /// Its signature ([`Analysis::signature`], from the BLOB).
    pub signature: Signature,
    /// Its published time (Unix seconds), if known.
    pub published: Option<i64>,
    /// True if it is its story's canonical copy.
    pub is_canonical: bool,
}

impl Candidate {
    /// A candidate from an entry's analysis (what the store persisted).
    pub fn from_analysis(
        story_id: i64,
        entry_id: i64,
        feed: i64,
        analysis: &Analysis,
        published: Option<i64>,
        is_canonical: bool,
    ) -> Self {
        Candidate {
            story_id,
            entry_id,
            feed,
            exact: analysis.exact,
            title: analysis.title.clone(),
            text: analysis.text.clone(),
            signature: analysis.signature.clone(),
            published,
            is_canonical,
        }
    }
}

/// The decision to fold an entry into an existing story.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// Story the entry joins.
    pub story_id: i64,
    /// Relation of the entry to that story.
    pub relation: Relation,
    /// Similarity to the story's closest copy, 0..=1.
    pub similarity: f64,
}

/// Normalises an entry's title and HTML body and fingerprints the result,
/// with no per-feed boilerplate knowledge.
pub fn analyze(title: Option<&str>, body_html: Option<&str>) -> Analysis {
    analyze_with(title, body_html, &BoilerplateModel::default())
}

/// Normalises an entry's title and HTML body, strips the boilerplate its
/// feed's `model` has learned, and fingerprints the result.
pub fn analyze_with(
    title: Option<&str>,
    body_html: Option<&str>,
    model: &BoilerplateModel,
) -> Analysis {
    let plain_title = title.map(html_to_text);
    let title_plain = plain_title.as_deref().unwrap_or_default();
    let title_norm = normalize_text(title_plain);
    let plain_body = body_html.map(html_to_text);
    let body_plain = plain_body.as_deref().unwrap_or_default();
    let paragraphs: Vec<String> = body_plain
        .lines()
        .map(fold_keep_case)
        .filter(|p| !p.is_empty())
        .collect();
    let credit::Stripped {
        mut paragraphs,
        credits,
    } = credit::strip_and_credit(paragraphs);
    boilerplate::strip_known(&mut paragraphs);
    let template_keys = template::strip_learned(&mut paragraphs, model);

    let sentences: Vec<&str> = paragraphs.iter().flat_map(|p| split_sentences(p)).collect();
    let mut buf = String::new();
    let keys: Vec<u64> = sentences
        .iter()
        .map(|s| sentence_key(s, &mut buf))
        .collect();
    let n = sentences.len();
    let boilerplate_keys = keys
        .iter()
        .enumerate()
        .filter(|&(i, _)| i < boilerplate::HEAD_SENTENCES || i + boilerplate::TAIL_SENTENCES >= n)
        .map(|(_, &k)| k)
        .chain(template_keys)
        .collect();
    let mut body_cased = String::with_capacity(body_plain.len());
    let mut starts: Vec<usize> = Vec::new();
    for (s, k) in sentences.iter().zip(&keys) {
        if !model.is_boilerplate(*k) {
            if !body_cased.is_empty() {
                body_cased.push(' ');
            }
            if body_cased.len() < fingerprint::START_BYTES {
                starts.push(body_cased.len());
            }
            body_cased.push_str(s);
        }
    }
    if body_cased.is_empty() {
        // Title-only items (and bodies that were all boilerplate) are matched on the title.
        body_cased = fold_keep_case(title_plain);
    }
    let text = lowercase(&body_cased);
    // Facts come from the lead only (the iterator stops there), and from
    // the cased text: the stored one has lost the capitals of names.
    let facts = fingerprint::lead_facts(canon::canonical_tokens_cased(&body_cased));
    let mut prepared = Prepared::with_offsets(&text, facts.clone());
    let mut signature = fingerprint::signature(&prepared.hashes, &prepared.shingles, facts);
    signature.starts = if text.len() == body_cased.len() {
        // Lower-casing kept every offset: the tokens are those just read.
        fingerprint::start_keys(&text, &starts, &prepared.hashes, &prepared.offsets)
    } else {
        let (hashes, offsets): (Vec<u64>, Vec<u32>) = canon::canonical_tokens_cased(&body_cased)
            .map(|t| (t.hash, t.start.min(u32::MAX as usize) as u32))
            .unzip();
        fingerprint::start_keys(&body_cased, &starts, &hashes, &offsets)
    };
    prepared.starts.clone_from(&signature.starts);
    Analysis {
        title: title_norm,
        exact: Fingerprint::of(&text),
        bands: signature.band_keys(),
        text,
        credits: credits.chain,
        signature,
        boilerplate_keys,
        plain_title,
        plain_body,
        prepared,
    }
}

/// The key of one (folded) sentence for boilerplate learning; `buf` is
/// scratch space, reused so that no sentence allocates.
fn sentence_key(sentence: &str, buf: &mut String) -> u64 {
    buf.clear();
    lowercase_into(sentence, buf);
    Fingerprint::of(buf).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_text_in_different_markup_has_one_fingerprint() {
        let a = analyze(
            Some("Talks in Istanbul"),
            Some("<p>Russian and US officials&nbsp;met.</p>"),
        );
        let b = analyze(
            Some("TALKS IN ISTANBUL"),
            Some("Russian and US officials met."),
        );
        assert_eq!(a.text, b.text);
        assert_eq!(a.exact, b.exact);
        assert_eq!(a.title, b.title);
    }

    #[test]
    fn different_text_differs() {
        let a = analyze(Some("a"), Some("one"));
        let b = analyze(Some("a"), Some("two"));
        assert_ne!(a.exact, b.exact);
    }

    #[test]
    fn datelines_credits_and_boilerplate_do_not_change_the_fingerprint() {
        let body = "Russian and US officials met in Istanbul on Thursday.\nThe talks ended after six hours, an AFP journalist saw.";
        let plain = analyze(Some("Talks"), Some(body));
        let wrapped = analyze(
            Some("Russia, US Hold Talks In Istanbul"),
            Some(
                "<div><p>Istanbul, (APP - UrduPoint / Pakistan Point News - 27th Feb, 2025) Russian and US officials met in Istanbul on Thursday.</p>\
                 <p>The talks ended after six hours, an AFP journalist saw.</p>\
                 <p>The post Russia, US Hold Talks appeared first on Pakistan Point News.</p></div>",
            ),
        );
        assert_eq!(plain.text, wrapped.text);
        assert_eq!(plain.exact, wrapped.exact);
        assert_eq!(plain.credits, ["AFP"]);
        assert_eq!(wrapped.credits, ["APP", "AFP"]);
        assert_eq!(wrapped.credited_agency().as_deref(), Some("APP>AFP"));
        assert_eq!(wrapped.origin_agency(), Some("AFP"));
    }

    #[test]
    fn learned_boilerplate_is_stripped() {
        let mut model = BoilerplateModel::new(2);
        let footer =
            "Pakistan Point News brings you the latest from Islamabad and the world every day.";
        for body in [
            "Officials met in Istanbul on Thursday.",
            "Stocks fell in Karachi on Friday.",
        ] {
            let a = analyze_with(None, Some(&format!("{body}\n{footer}")), &model);
            model.observe(&a.boilerplate_keys);
        }
        let a = analyze_with(
            None,
            Some(&format!("Rain hit Lahore on Monday.\n{footer}")),
            &model,
        );
        assert_eq!(a.text, "rain hit lahore on monday.");
    }

    #[test]
    fn a_lede_wrapped_in_text_of_its_own_shares_a_band_key() {
        let full = "Russian and US officials met in Istanbul on Thursday for talks on resolving embassy issues.\n\
            The talks at the US consul general's residence came after this month's first high-level meeting between the two nuclear powers.\n\
            The talks ended after almost six and a half hours with the departure of the Russian delegates.";
        // A house style nobody described, around a cut to the lede.
        let wrapped = "By Samuel Chen, The Island Tribune [Editor's note: the views of the people quoted do not necessarily reflect those of this publication.]\n\
            A general view of Istanbul. Photo: The Island Tribune\n\
            Istanbul, feb. 27 (Xinhua) -- Russian and US officials met in Istanbul on Thursday for talks on resolving embassy issues.\n\
            (With inputs from agencies)";
        let a = analyze(Some("Talks"), Some(full));
        let b = analyze(Some("Russia, US meet"), Some(wrapped));
        let sketches = fingerprint::FULL_BANDS + fingerprint::LEAD_BANDS;
        let shared = |n: usize| {
            a.bands[..n.min(a.bands.len())]
                .iter()
                .any(|k| b.bands[..n.min(b.bands.len())].contains(k))
        };
        assert!(!shared(sketches), "the sketches alone do not collide");
        assert!(shared(usize::MAX), "a start key does");
        assert!(b.bands.len() <= sketches + fingerprint::MAX_STARTS);
    }

    #[test]
    fn title_only_items_use_the_title() {
        let a = analyze(Some("EBay rejects Icahn slate of directors"), None);
        assert_eq!(a.text, "ebay rejects icahn slate of directors");
        assert!(a.is_title_only());
        let cfg = DedupConfig::default();
        let same = Candidate::from_analysis(
            1,
            1,
            1,
            &analyze(Some("eBay rejects Icahn slate of directors"), None),
            None,
            true,
        );
        let edited = Candidate::from_analysis(
            2,
            2,
            2,
            &analyze(Some("EBay rejects Icahn slate of directors again"), None),
            None,
            true,
        );
        assert_eq!(decide(&a, 0, std::slice::from_ref(&edited), &cfg), None);
        assert_eq!(
            decide(&a, 0, &[edited, same], &cfg).map(|v| v.story_id),
            Some(1)
        );
        assert_eq!(a.bands.len(), 24);
        assert!(analyze(None, None).bands.is_empty());
    }

    #[test]
    fn hostile_input_does_not_panic() {
        for s in [
            "<",
            "&",
            "&#xFFFFFFFF;",
            "&#;",
            "<p>",
            "\u{0}",
            "(AFP)",
            "ISTANBUL (AFP) -",
            "...",
            "\u{2026}",
        ] {
            let a = analyze(Some(s), Some(s));
            let _ = decide(&a, 0, &[], &DedupConfig::default());
        }
    }
}
