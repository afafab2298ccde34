//! Step 6: folding. Which story a newcomer joins, and which copy of a story
//! represents it.

use std::collections::HashMap;

use super::config::DedupConfig;
use super::verify::{self, Prepared};
use super::{Analysis, Candidate, Relation, Verdict};

/// Word Jaccard of two headlines above which they witness a copy whose
/// text alone is too little ([`verify::verify_pair`]): the same headline,
/// give or take an outlet's kicker ("Explained:") or a word.
const HEADLINE_WITNESS: f64 = 0.6;

/// The best match found in one story.
struct StoryMatch {
    story_id: i64,
    similarity: f64,
    /// Most shingles shared with one of the story's copies.
    shared: usize,
    title_similarity: f64,
    exact: bool,
}

/// Picks the story a newcomer joins among the candidates, or `None` for a
/// new story.
///
/// A story is joined when the newcomer is a copy ([`verify::verify`]) of at
/// least one of its candidates **and** of the story's canonical copy, when
/// the canonical is among the candidates (the store should always include
/// it, flagged [`Candidate::is_canonical`]): otherwise a chain of small
/// edits (A→A'→A''…) could drift, one near-copy at a time, into a different
/// story. Between stories, the highest similarity wins; stories within
/// [`DedupConfig::tie_margin`] of the best are tied and the headline
/// decides. Title-only items (no body: their text is their title) fold
/// only on an identical normalised text. `feed` is the newcomer's feed (the
/// store's id): before any text is compared, the headline rules of
/// `may_be_one_story` rule candidates out.
pub fn decide(
    analysis: &Analysis,
    feed: i64,
    candidates: &[Candidate],
    cfg: &DedupConfig,
) -> Option<Verdict> {
    if analysis.signature.tokens < cfg.min_tokens as u32 {
        return None;
    }
    let me = &analysis.prepared;
    let mut matches: Vec<StoryMatch> = Vec::new();
    let mut canonical_ok: HashMap<i64, bool> = HashMap::new();
    let title_only = analysis.is_title_only();
    let about_my_headline =
        verify::body_is_about_headline(&analysis.title, &analysis.text, me.tokens);
    for c in candidates {
        let exact = c.exact == analysis.exact;
        let prepared = std::cell::OnceCell::new();
        let other = || prepared.get_or_init(|| Prepared::new(&c.text, &c.signature));
        let witnessed = || headlines_witness(analysis, c, other());
        let opened = || {
            verify::headline_opens(&analysis.title, other()) || verify::headline_opens(&c.title, me)
        };
        let verdict = if !may_be_one_story(analysis, about_my_headline, feed, c, opened, witnessed)
        {
            None
        } else if exact {
            Some((1.0, me.shingles.len()))
        } else if title_only && c.text == c.title {
            // A headline alone is the part outlets rewrite most, and a
            // rewritten one ("… files for bankruptcy again") may be another
            // day's report: with no body to compare, only identical text folds.
            None
        } else if title_only || c.text == c.title {
            // A text that is its headline (no body, or a body that is the
            // headline sentence: a summary feed's cut when the lede is the
            // headline) is a lede only where the other text opens with it.
            verify::verify_title_lede(me, other(), cfg)
        } else {
            verify::verify_pair(me, other(), cfg, witnessed)
        };
        if c.is_canonical {
            *canonical_ok.entry(c.story_id).or_insert(true) &= verdict.is_some();
        }
        let Some((similarity, shared)) = verdict else {
            continue;
        };
        let title_similarity = verify::title_similarity(&analysis.title, &c.title);
        match matches.iter_mut().find(|m| m.story_id == c.story_id) {
            Some(m) => {
                m.exact |= exact;
                if similarity > m.similarity {
                    m.similarity = similarity;
                }
                m.shared = m.shared.max(shared);
                m.title_similarity = m.title_similarity.max(title_similarity);
            }
            None => matches.push(StoryMatch {
                story_id: c.story_id,
                similarity,
                shared,
                title_similarity,
                exact,
            }),
        }
    }
    matches.retain(|m| canonical_ok.get(&m.story_id).copied().unwrap_or(true));
    // The most shared text wins, not the highest ratio: a story that holds
    // only a one-sentence cut of the newcomer contains it whole (similarity
    // 1.0) on far less evidence than the story of its full copies.
    let most = matches.iter().map(|m| m.shared).max().unwrap_or(0) as f64;
    let best = matches
        .iter()
        .filter(|m| m.shared as f64 >= most * (1.0 - cfg.tie_margin))
        .map(|m| m.similarity)
        .fold(f64::NAN, f64::max);
    let chosen = matches
        .iter()
        .filter(|m| m.shared as f64 >= most * (1.0 - cfg.tie_margin))
        .filter(|m| m.similarity >= best - cfg.tie_margin)
        .max_by(|a, b| {
            a.title_similarity
                .total_cmp(&b.title_similarity)
                .then(a.similarity.total_cmp(&b.similarity))
                // Equal on both: the older story (smaller id) wins, deterministically.
                .then(b.story_id.cmp(&a.story_id))
        })?;
    Some(Verdict {
        story_id: chosen.story_id,
        relation: if chosen.exact {
            Relation::Exact
        } else {
            Relation::Near
        },
        similarity: chosen.similarity,
    })
}

/// Headline rules that hold whatever the bodies say.
///
/// * Items of one feed are one story only under the same headline (an
///   agency's "UPDATE 1" re-issue): a feed lists two items under two
///   identities and two headlines because they are two stories, and text
///   it repeats under both (show notes, a product blurb) is its own
///   boilerplate, not a copy.
/// * Headlines that are the same words with other numbers or dates are two
///   items of a series (episodes, daily reports).
/// * A body that is not about its headline (a registration wall, a consent
///   notice, a standing blurb: text an outlet puts under any headline) says
///   nothing about the story: such items are one story only under the
///   same headline.
///
/// A short body that names nothing of its headline is such a wall only
/// when nothing else ties it to a story. When the other item's body is
/// about its own headline, and either one headline is the other text's
/// opening words (`opened`, [`verify::headline_opens`]) or the short body
/// is a cut of the other (at most 80 % of its length) under headlines that
/// witness each other (`witnessed`, [`headlines_witness`]), the short body
/// is a lede or a copy that happens not to repeat its headline's words (a
/// one-sentence summary under a rewritten headline), and the texts decide.
/// Two bodies of one length under headlines merely alike (two outlets'
/// "<name> headline about its own news") are not tied so.
fn may_be_one_story(
    analysis: &Analysis,
    about_my_headline: bool,
    feed: i64,
    c: &Candidate,
    opened: impl FnOnce() -> bool,
    witnessed: impl FnOnce() -> bool,
) -> bool {
    if verify::same_headline(&analysis.title, &c.title) {
        return true;
    }
    if c.feed == feed || verify::headlines_differ_in_numbers(&analysis.title, &c.title) {
        return false;
    }
    // Another outlet signing the headline with its name prints the same
    // headline (items of one feed were ruled above: a feed's own suffixes,
    // "- Part 2", mark other items).
    if verify::same_headline_signed(&analysis.title, &c.title) {
        return true;
    }
    let about_theirs =
        verify::body_is_about_headline(&c.title, &c.text, c.signature.tokens as usize);
    // A lede is a cut: markedly shorter than the story it opens.
    let is_cut = |short: u32, long: u32| 5 * short <= 4 * long;
    let (mine, theirs) = (analysis.signature.tokens, c.signature.tokens);
    match (about_my_headline, about_theirs) {
        (true, true) => true,
        (false, true) => opened() || is_cut(mine, theirs) && witnessed(),
        (true, false) => opened() || is_cut(theirs, mine) && witnessed(),
        (false, false) => false,
    }
}

/// Do the two items' headlines witness one story: the same headline as the
/// headline rules read it (re-issue marks, an outlet's name or kicker),
/// alike (word Jaccard ≥ `HEADLINE_WITNESS`), or one made of the other
/// text's opening words ([`verify::headline_opens`])? Two missing
/// headlines witness nothing.
fn headlines_witness(analysis: &Analysis, c: &Candidate, other: &Prepared) -> bool {
    let named = |t: &str| t.chars().any(char::is_alphanumeric);
    if !named(&analysis.title) || !named(&c.title) {
        return false;
    }
    verify::same_headline(&analysis.title, &c.title)
        || verify::same_headline_signed(&analysis.title, &c.title)
        || verify::title_similarity(&analysis.title, &c.title) >= HEADLINE_WITNESS
        || verify::headline_opens(&analysis.title, other)
        || verify::headline_opens(&c.title, &analysis.prepared)
}

/// What the canonical-copy rule needs to know about one copy of a story.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyInfo<'a> {
    /// The copy's entry.
    pub entry_id: i64,
    /// Its published time (any monotonic unit, e.g. Unix seconds); `None` sorts last.
    pub published: Option<i64>,
    /// The agency whose own feed carried this copy, if any
    /// (see [`super::credit::agency_for_host`]).
    pub feed_agency: Option<&'a str>,
    /// The feed that carried it (the store's feed id): of copies published
    /// at the same second, the first listed feed's is canonical, whichever
    /// was fetched first.
    pub feed: i64,
}

/// The canonical copy of a story: the copy from the origin agency's own
/// feed if there is one (the agency's text is the reference the others
/// edit), else the earliest published; ties go to the feed listed first
/// (the smaller feed id: the same whatever order the fetches finished in,
/// and so on any store and with any number of workers), then to the
/// smaller entry id.
/// Returns an index into `copies`, `None` only when `copies` is empty.
pub fn choose_canonical(copies: &[CopyInfo<'_>], origin_agency: Option<&str>) -> Option<usize> {
    let from_origin = |c: &CopyInfo<'_>| match (c.feed_agency, origin_agency) {
        (Some(f), Some(o)) => f.eq_ignore_ascii_case(o),
        _ => false,
    };
    copies
        .iter()
        .enumerate()
        .min_by_key(|(_, c)| {
            (
                !from_origin(c),
                c.published.is_none(),
                c.published,
                c.feed,
                c.entry_id,
            )
        })
        .map(|(i, _)| i)
}

/// The origin agency of a story from its copies' origins (in published
/// order): the most often credited, ties to the first credited.
pub fn story_origin<'a>(origins: impl IntoIterator<Item = Option<&'a str>>) -> Option<&'a str> {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for o in origins.into_iter().flatten() {
        match counts.iter_mut().find(|(n, _)| *n == o) {
            Some((_, c)) => *c += 1,
            None => counts.push((o, 1)),
        }
    }
    // max_by_key keeps the last maximum: reverse so ties go to the first credited.
    counts
        .into_iter()
        .rev()
        .max_by_key(|&(_, c)| c)
        .map(|(n, _)| n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{analyze, Candidate};

    fn candidate(
        story_id: i64,
        entry_id: i64,
        title: &str,
        body: &str,
        is_canonical: bool,
    ) -> Candidate {
        let a = analyze(Some(title), Some(body));
        Candidate::from_analysis(story_id, entry_id, entry_id, &a, None, is_canonical)
    }

    const LEDE: &str = "Russian and US officials met in Istanbul on Thursday for talks on resolving embassy issues as the two countries aimed to restore ties.";
    const MORE: &str = "The talks at the US consul general's residence came after this month's first high-level meeting between the two nuclear powers since the start of Russia's Ukraine offensive.";

    #[test]
    fn exact_near_and_new() {
        let cfg = DedupConfig::default();
        let full = format!("{LEDE}\n{MORE}");
        let cands = [candidate(7, 70, "Russia, US hold talks", &full, true)];
        let exact = analyze(
            Some("Talks in Istanbul"),
            Some(&format!("ISTANBUL (AFP) - {LEDE}\n{MORE}")),
        );
        let v = decide(&exact, 0, &cands, &cfg).expect("exact copy folds");
        assert_eq!(
            (v.story_id, v.relation, v.similarity),
            (7, Relation::Exact, 1.0)
        );
        let lede = analyze(Some("Talks"), Some(LEDE));
        let v = decide(&lede, 0, &cands, &cfg).expect("lede folds");
        assert_eq!(v.relation, Relation::Near);
        let other = analyze(Some("x"), Some("Stocks fell in Tokyo on Friday as investors weighed weak data from China and a stronger yen."));
        assert_eq!(decide(&other, 0, &cands, &cfg), None);
    }

    /// A byline, an editor's note, a caption and a dateline: 40-odd tokens
    /// of an outlet's own before a one-sentence lede, a trailer after it.
    fn wrapped(lede: &str) -> String {
        format!(
            "By Samuel Chen, The Island Tribune\n\
             [Editor's note: The views of the people quoted do not necessarily reflect those of this publication.]\n\
             A general view of the Bosphorus at dusk. Photo: The Island Tribune\n\
             Istanbul [Turkey], Feb. 27 (Newsdesk) -- {lede}\n\
             (With inputs from agencies)"
        )
    }

    /// A one-sentence lede, the story opening with it and that story stored
    /// as story 7's canonical copy (entry 70 of feed 70).
    fn opening_with_short_lede() -> (&'static str, String, [Candidate; 1]) {
        let lede = "Russian and US officials met in Istanbul on Thursday.";
        let full = format!("{lede}\n{MORE}\nThe talks ended after almost six and a half hours.");
        let cands = [candidate(
            7,
            70,
            "Russia and US hold embassy talks",
            &full,
            true,
        )];
        (lede, full, cands)
    }

    #[test]
    fn a_short_lede_in_longer_wrapping_folds_under_its_headline() {
        let cfg = DedupConfig::default();
        let (lede, full, cands) = opening_with_short_lede();
        let copy = analyze(Some("Russia, US hold embassy talks"), Some(&wrapped(lede)));
        let v = decide(&copy, 1, &cands, &cfg).expect("a wrapped lede folds");
        assert_eq!((v.story_id, v.relation), (7, Relation::Near));
        // The text alone is too little: nine shared tokens inside fifty of
        // the outlet's own. Under another headline it stays apart.
        let retitled = analyze(
            Some("Diplomats meet on the Bosphorus"),
            Some(&wrapped(lede)),
        );
        assert_eq!(decide(&retitled, 1, &cands, &cfg), None);
        // The same headline signed by an outlet with a long name: alike by
        // the headline rules, if not by word Jaccard (6 of 11 words).
        let signed = analyze(
            Some("Russia and US hold embassy talks - The Daily Tribune of Island"),
            Some(&wrapped(lede)),
        );
        assert!(
            verify::title_similarity(&signed.title, "russia and us hold embassy talks")
                < HEADLINE_WITNESS
        );
        assert_eq!(
            decide(&signed, 1, &cands, &cfg).map(|v| v.story_id),
            Some(7)
        );
        // Two items without a headline have no witness.
        let untitled = [candidate(8, 80, "", &full, true)];
        let copy = analyze(None, Some(&wrapped(lede)));
        assert_eq!(decide(&copy, 1, &untitled, &cfg), None);
    }

    #[test]
    fn a_lede_that_is_its_headline_folds_with_the_story_opening_with_it() {
        let cfg = DedupConfig::default();
        let headline = "Meet the first baby of the decade at Lewis Gale Hospital Montgomery!";
        let full = format!("{headline}\n{LEDE}\n{MORE}");
        let cands = [candidate(7, 70, headline, &full, true)];
        // A summary feed cut the story to its lede, which is its headline:
        // the text left is the title, as for an item without a body.
        let cut = analyze(Some(headline), Some(&format!("<p>{headline}</p>")));
        assert!(cut.is_title_only());
        assert_eq!(decide(&cut, 1, &cands, &cfg).map(|v| v.story_id), Some(7));
        let stored = [candidate(8, 80, headline, headline, true)];
        let story = analyze(Some(headline), Some(&full));
        assert_eq!(
            decide(&story, 1, &stored, &cfg).map(|v| v.story_id),
            Some(8),
            "either way round"
        );
        // A headline the story only mentions further down is no lede of it.
        let later = format!("{LEDE}\n{MORE}\n{headline}");
        let cands = [candidate(9, 90, "Russia, US hold talks", &later, true)];
        assert_eq!(decide(&cut, 1, &cands, &cfg), None);
        // Two headlines alone still fold only when identical.
        let other = analyze(
            Some("Meet the first baby of the decade at Lewis Gale Hospital"),
            None,
        );
        assert_eq!(decide(&other, 1, &stored, &cfg), None);
    }

    #[test]
    fn a_headline_made_of_the_lede_s_first_words_witnesses_it() {
        let cfg = DedupConfig::default();
        let (lede, _, cands) = opening_with_short_lede();
        // The outlet titles its item with its lede's first words: the
        // headline names the sentence the item is about.
        let copy = analyze(
            Some("Russian and US officials met in Istanbul"),
            Some(&wrapped(lede)),
        );
        assert_eq!(decide(&copy, 1, &cands, &cfg).map(|v| v.story_id), Some(7));
        // Words from inside the lede are not its opening.
        let inside = analyze(
            Some("US officials met in Istanbul on Thursday"),
            Some(&wrapped(lede)),
        );
        assert_eq!(decide(&inside, 1, &cands, &cfg), None);
    }

    #[test]
    fn a_shared_opening_under_another_headline_stays_apart() {
        let cfg = DedupConfig::default();
        // Two outlets' stories open with one editor's note (a phrase many
        // outlets use); each then has a lede of its own, longer than the
        // note. The texts alone look like a wrapped lede and the story
        // opening with it.
        let note = "Editor's note: the people quoted in this report spoke on condition of anonymity for their safety.";
        let body = format!("{note}\nHeavy rain closed hundreds of schools in the north on Monday, officials said.\n{MORE}");
        let stored = candidate(7, 70, "Floods close schools across the north", &body, true);
        let text = format!("By Samuel Chen, The Island Tribune\n{note}\nThe central bank kept its main rate at 42.5 percent on Thursday. Economists polled last week had expected a cut of half a point.");
        let other = analyze(Some("Central bank holds rates"), Some(&text));
        let (a, b) = (
            Prepared::new(&other.text, &other.signature),
            Prepared::new(&stored.text, &stored.signature),
        );
        assert!(verify::verify_pair(&a, &b, &cfg, || true).is_some());
        assert_eq!(decide(&other, 1, &[stored], &cfg), None);
    }

    #[test]
    fn a_headline_signed_by_another_outlet_is_the_same_headline() {
        let cfg = DedupConfig::default();
        // A two-sentence cut whose body names nothing of its headline (a
        // teaser): compared only under the same headline, which an outlet
        // signing it with its name does not change.
        let body = "The substances could leach into food when heated, the agency said. It advised against using such dishes for hot meals.";
        let full = format!("{body}\n{MORE}");
        let cands = [candidate(7, 70, "Bamboo tableware: beware", &full, true)];
        let signed = analyze(
            Some("Bamboo tableware: beware - EasternMonitor.com"),
            Some(body),
        );
        assert_eq!(
            decide(&signed, 1, &cands, &cfg).map(|v| v.story_id),
            Some(7)
        );
        let other = analyze(Some("Bamboo tableware: beware of it at home"), Some(body));
        assert_eq!(decide(&other, 1, &cands, &cfg), None, "not a signature");
        // An outlet's kicker before the headline signs it too.
        let kicker = analyze(Some("Explained: Bamboo tableware: beware"), Some(body));
        assert_eq!(
            decide(&kicker, 1, &cands, &cfg).map(|v| v.story_id),
            Some(7)
        );
        let preface = analyze(
            Some("Health and garden tips for you: Bamboo tableware: beware"),
            Some(body),
        );
        assert_eq!(decide(&preface, 1, &cands, &cfg), None, "not a kicker");
        // Within one feed a suffix marks another item.
        let part = analyze(Some("Bamboo tableware: beware - Part 2"), Some(body));
        assert_eq!(decide(&part, 70, &cands, &cfg), None);
        let part = analyze(Some("Part 2: Bamboo tableware: beware"), Some(body));
        assert_eq!(decide(&part, 70, &cands, &cfg), None);
    }

    #[test]
    fn canonical_stops_drift() {
        let cfg = DedupConfig::default();
        let joined = format!("{LEDE} {MORE}");
        let words: Vec<&str> = joined.split(' ').collect();
        let n = words.len();
        // Three overlapping windows of one text: the newcomer shares 5/7 of
        // the middle link's words but only a third of the canonical's.
        let first = words[..n * 6 / 10].join(" ");
        let middle = words[n * 3 / 10..n * 9 / 10].join(" ");
        let tail = words[n * 4 / 10..].join(" ");
        let canonical = candidate(1, 10, "t", &first, true);
        let link = candidate(1, 11, "t", &middle, false);
        let newcomer = analyze(Some("t"), Some(&tail));
        assert!(
            decide(&newcomer, 0, std::slice::from_ref(&link), &cfg).is_some(),
            "matches the link alone"
        );
        assert_eq!(decide(&newcomer, 0, &[link, canonical], &cfg), None);
    }

    #[test]
    fn items_of_one_feed_fold_only_under_one_headline() {
        let cfg = DedupConfig::default();
        let notes = "News in slow German: every weekday the day's main stories, read slowly and clearly, with a glossary and the full transcript on our website.";
        let monday = candidate(
            1,
            10,
            "13.01.2022 – Langsam gesprochene Nachrichten",
            notes,
            true,
        );
        let tuesday = analyze(
            Some("14.01.2022 – Langsam gesprochene Nachrichten"),
            Some(notes),
        );
        assert_eq!(
            decide(&tuesday, 10, std::slice::from_ref(&monday), &cfg),
            None,
            "episodes of one feed"
        );
        let sketch = analyze(Some("Comedy hour: the sketch about the cat"), Some(notes));
        assert_eq!(
            decide(&sketch, 10, std::slice::from_ref(&monday), &cfg),
            None,
            "another item of the feed"
        );
        // The same text in another feed is a copy, whatever its headline.
        let full = format!("{LEDE} {MORE}");
        let original = candidate(2, 20, "Russia, US hold talks in Istanbul", &full, true);
        let update = analyze(
            Some("UPDATE 1-Russia, US hold talks in Istanbul"),
            Some(&full),
        );
        assert_eq!(
            decide(&update, 20, std::slice::from_ref(&original), &cfg).map(|v| v.story_id),
            Some(2),
            "an agency's own update"
        );
        let rewritten = analyze(Some("Moscow and Washington talk embassies"), Some(&full));
        assert_eq!(
            decide(&rewritten, 30, std::slice::from_ref(&original), &cfg).map(|v| v.story_id),
            Some(2)
        );
        assert_eq!(
            decide(&rewritten, 20, std::slice::from_ref(&original), &cfg),
            None
        );
    }

    #[test]
    fn headlines_of_a_series_differ_in_numbers() {
        let cfg = DedupConfig::default();
        let notes = "Microcast: a short daily recording of what happened in the lab today, with links to every paper and tool mentioned in the episode.";
        let first = candidate(1, 10, "Microcast 06-01-2009 AM", notes, true);
        let second = analyze(Some("Microcast 06-02-2009 AM"), Some(notes));
        assert_eq!(
            decide(&second, 99, std::slice::from_ref(&first), &cfg),
            None
        );
    }

    #[test]
    fn a_body_that_is_a_wall_is_judged_on_its_headline() {
        let cfg = DedupConfig::default();
        let wall = "Once registered, you can: read free articles, get our newsletters, take part in comment threads and save stories to read later.";
        let a = candidate(1, 10, "Karachi stocks rise on strong earnings", wall, true);
        let b = analyze(
            Some("Flood relief reaches villages in Sindh province"),
            Some(wall),
        );
        assert_eq!(decide(&b, 20, std::slice::from_ref(&a), &cfg), None);
        let same = analyze(Some("Karachi stocks rise on strong earnings"), Some(wall));
        assert_eq!(
            decide(&same, 20, std::slice::from_ref(&a), &cfg).map(|v| v.story_id),
            Some(1)
        );
    }

    #[test]
    fn a_lede_naming_nothing_of_its_headline_folds_under_a_like_headline() {
        let cfg = DedupConfig::default();
        let lede = "Diplomats from both countries spent six hours behind closed doors at the consul's residence on Thursday.";
        let full = format!("{lede}\n{MORE}\nThe talks in Istanbul ended without a statement.");
        let cands = [candidate(
            7,
            70,
            "Russia, US hold embassy talks in Istanbul",
            &full,
            true,
        )];
        // A one-sentence summary under the story's headline with a kicker:
        // its lede repeats none of the headline's words, as a wall would not.
        let cut = analyze(
            Some("Explained: Russia, US hold embassy talks in Istanbul"),
            Some(lede),
        );
        assert!(!verify::body_is_about_headline(
            &cut.title,
            &cut.text,
            cut.signature.tokens as usize
        ));
        assert_eq!(decide(&cut, 1, &cands, &cfg).map(|v| v.story_id), Some(7));
        // Under another headline nothing ties it to the story.
        let other = analyze(
            Some("Floods cut power across the northern region"),
            Some(lede),
        );
        assert_eq!(decide(&other, 1, &cands, &cfg), None);
        // Two one-line bodies of one length, one naming nothing of its
        // headline, under headlines alike but for the outlet: no lede and
        // its story, but two outlets' own items.
        let dawn = [candidate(
            8,
            80,
            "dawn headline about its own news",
            "A story only dawn carried, with words of its own.",
            true,
        )];
        let bbc = analyze(
            Some("bbc headline about its own news"),
            Some("A story only bbc carried, with words of its own."),
        );
        assert_eq!(decide(&bbc, 1, &dawn, &cfg), None);
    }

    #[test]
    fn the_story_sharing_most_text_wins() {
        let cfg = DedupConfig::default();
        let third = "The talks ended after almost six and a half hours with the departure of the Russian delegates, who did not speak to media outside.";
        // Story 1 holds only a cut to the lede (which the newcomer contains
        // whole); story 2 holds the full text with a sentence edited.
        let cut = candidate(1, 10, "Talks", LEDE, true);
        let edited = format!("{LEDE} {MORE} The talks ended after six and a half hours.");
        let full = candidate(2, 20, "Russia, US hold talks", &edited, true);
        let newcomer = analyze(
            Some("Embassy talks"),
            Some(&format!("{LEDE} {MORE} {third}")),
        );
        assert_eq!(
            decide(&newcomer, 0, std::slice::from_ref(&cut), &cfg).map(|v| v.similarity),
            Some(1.0)
        );
        assert_eq!(
            decide(&newcomer, 0, &[cut, full], &cfg).map(|v| v.story_id),
            Some(2)
        );
    }

    #[test]
    fn headline_breaks_ties() {
        let cfg = DedupConfig::default();
        let a = candidate(1, 10, "Stocks fall in Tokyo", LEDE, false);
        let b = candidate(2, 20, "Russia, US hold talks in Istanbul", LEDE, false);
        let newcomer = analyze(Some("Russia and US hold talks in Istanbul"), Some(LEDE));
        assert_eq!(
            decide(&newcomer, 0, &[a, b], &cfg).map(|v| v.story_id),
            Some(2)
        );
    }

    #[test]
    fn canonical_rule() {
        let copies = [
            CopyInfo {
                entry_id: 1,
                published: Some(100),
                feed_agency: None,
                feed: 0,
            },
            CopyInfo {
                entry_id: 2,
                published: Some(50),
                feed_agency: None,
                feed: 0,
            },
            CopyInfo {
                entry_id: 3,
                published: Some(300),
                feed_agency: Some("AFP"),
                feed: 0,
            },
            CopyInfo {
                entry_id: 4,
                published: None,
                feed_agency: None,
                feed: 0,
            },
        ];
        assert_eq!(choose_canonical(&copies, Some("AFP")), Some(2));
        assert_eq!(choose_canonical(&copies, Some("Reuters")), Some(1));
        assert_eq!(choose_canonical(&copies, None), Some(1));
        assert_eq!(choose_canonical(&[], None), None);
        // Published at the same second: the feed listed first, whichever
        // copy was stored first.
        let tie = [
            CopyInfo {
                entry_id: 7,
                published: Some(100),
                feed_agency: None,
                feed: 3,
            },
            CopyInfo {
                entry_id: 9,
                published: Some(100),
                feed_agency: None,
                feed: 2,
            },
        ];
        assert_eq!(choose_canonical(&tie, None), Some(1));
        assert_eq!(
            story_origin([Some("AFP"), None, Some("APP"), Some("APP")]),
            Some("APP")
        );
        assert_eq!(story_origin([Some("AFP"), Some("APP")]), Some("AFP"));
        assert_eq!(story_origin([None]), None);
    }
}
