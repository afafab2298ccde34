//! Step 1b and 2: news-agency datelines, credit lines and credits.
//!
//! Every outlet that republishes a wire story writes its own dateline
//! (`ISTANBUL (AFP) -`, `Istanbul, (APP - UrduPoint … - 27th Feb, 2025)`,
//! `BEIJING, Feb. 27 (Xinhua) --`) and its own credit line at the end. Those
//! differ between copies of one story, so they are stripped before
//! fingerprinting; the agencies they name are recorded as *credits*.
//!
//! # Credit order (the chain)
//! [`Credits::chain`] lists agencies from the outermost *carrier* to the
//! *origin*, the agency that wrote the story: agencies named in the
//! dateline first, then those in end-of-text credit lines, then those named
//! in authorship phrases inside the body ("an AFP journalist saw", "told
//! Reuters"); within one kind, in order of appearance. The origin is the last
//! of the chain. For the seed story (APP dateline, "an AFP journalist saw"
//! in the body) the chain is `["APP", "AFP"]`, stored as `"APP>AFP"`, and
//! the origin is `AFP`. Agencies merely cited as sources ("Russia's state
//! TASS agency said") are not credits.

use std::sync::LazyLock;

use regex::Regex;

/// One news agency: the canonical short name stored in the database, the
/// names that text uses for it, and the hosts of its own feeds.
struct Agency {
    name: &'static str,
    aliases: &'static [&'static str],
    hosts: &'static [&'static str],
}

/// The agencies feedfold recognises. Aliases are matched case-sensitively
/// (as whole words): "AP" and "UNI" are everyday words in lower case.
/// Longer aliases come first in the combined pattern, so "Associated Press
/// of Pakistan" is APP and not AP.
const AGENCIES: &[Agency] = &[
    Agency {
        name: "AFP",
        aliases: &["AFP", "Agence France-Presse", "Agence France Presse"],
        hosts: &["afp.com"],
    },
    Agency {
        name: "APP",
        aliases: &["APP", "Associated Press of Pakistan"],
        hosts: &["app.com.pk"],
    },
    Agency {
        name: "AP",
        aliases: &["AP", "Associated Press"],
        hosts: &["apnews.com", "ap.org"],
    },
    Agency {
        name: "Reuters",
        aliases: &["Reuters", "REUTERS", "Thomson Reuters"],
        hosts: &["reuters.com"],
    },
    Agency {
        name: "PTI",
        aliases: &["PTI", "Press Trust of India"],
        hosts: &["ptinews.com"],
    },
    Agency {
        name: "ANI",
        aliases: &["ANI", "Asian News International"],
        hosts: &["aninews.in"],
    },
    Agency {
        name: "IANS",
        aliases: &["IANS", "Indo-Asian News Service"],
        hosts: &["ianslive.in", "ians.in"],
    },
    Agency {
        name: "UNI",
        aliases: &["UNI", "United News of India"],
        hosts: &["uniindia.com"],
    },
    Agency {
        name: "dpa",
        aliases: &["dpa", "DPA", "Deutsche Presse-Agentur"],
        hosts: &["dpa.com", "dpa-international.com"],
    },
    Agency {
        name: "EFE",
        aliases: &["EFE", "Agencia EFE"],
        hosts: &["efe.com"],
    },
    Agency {
        name: "ANSA",
        aliases: &["ANSA"],
        hosts: &["ansa.it"],
    },
    Agency {
        name: "Xinhua",
        aliases: &["Xinhua", "XINHUA"],
        hosts: &["xinhuanet.com", "news.cn"],
    },
    Agency {
        name: "TASS",
        aliases: &["TASS", "ITAR-TASS"],
        hosts: &["tass.com", "tass.ru"],
    },
    Agency {
        name: "RIA",
        aliases: &["RIA Novosti", "RIA"],
        hosts: &["ria.ru"],
    },
    Agency {
        name: "Anadolu",
        aliases: &["Anadolu Agency", "Anadolu", "AA"],
        hosts: &["aa.com.tr"],
    },
    Agency {
        name: "Kyodo",
        aliases: &["Kyodo News", "Kyodo"],
        hosts: &["kyodonews.net"],
    },
    Agency {
        name: "Yonhap",
        aliases: &["Yonhap"],
        hosts: &["yna.co.kr", "en.yna.co.kr"],
    },
    Agency {
        name: "Bernama",
        aliases: &["Bernama", "BERNAMA"],
        hosts: &["bernama.com"],
    },
    Agency {
        name: "WAM",
        aliases: &["WAM", "Emirates News Agency"],
        hosts: &["wam.ae"],
    },
    Agency {
        name: "SPA",
        aliases: &["SPA", "Saudi Press Agency"],
        hosts: &["spa.gov.sa"],
    },
    Agency {
        name: "QNA",
        aliases: &["QNA", "Qatar News Agency"],
        hosts: &["qna.org.qa"],
    },
    Agency {
        name: "KUNA",
        aliases: &["KUNA", "Kuwait News Agency"],
        hosts: &["kuna.net.kw"],
    },
    Agency {
        name: "IRNA",
        aliases: &["IRNA", "Islamic Republic News Agency"],
        hosts: &["irna.ir"],
    },
    Agency {
        name: "Bloomberg",
        aliases: &["Bloomberg News", "Bloomberg"],
        hosts: &["bloomberg.com"],
    },
];

/// The canonical short names of every agency feedfold recognises.
pub fn agency_names() -> impl Iterator<Item = &'static str> {
    AGENCIES.iter().map(|a| a.name)
}

/// The agency whose own feed lives at `host` (e.g. `www.afp.com` → `AFP`),
/// for the canonical-copy rule; `None` for every other outlet.
pub fn agency_for_host(host: &str) -> Option<&'static str> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    AGENCIES.iter().find_map(|a| {
        a.hosts
            .iter()
            .any(|h| host == *h || host.ends_with(&format!(".{h}")))
            .then_some(a.name)
    })
}

/// The canonical name of an alias as matched in text.
fn canonical(alias: &str) -> Option<&'static str> {
    AGENCIES
        .iter()
        .find(|a| a.aliases.contains(&alias))
        .map(|a| a.name)
}

/// Regex alternation of every alias, longest first.
static AGENCY_ALT: LazyLock<String> = LazyLock::new(|| {
    let mut aliases: Vec<&str> = AGENCIES
        .iter()
        .flat_map(|a| a.aliases.iter().copied())
        .collect();
    aliases.sort_by_key(|a| std::cmp::Reverse(a.len()));
    aliases
        .iter()
        .map(|a| regex::escape(a))
        .collect::<Vec<_>>()
        .join("|")
});

static AGENCY_RE: LazyLock<Regex> =
    LazyLock::new(|| compile(&format!(r"(?-u:\b)(?:{})(?-u:\b)", *AGENCY_ALT)));

/// Any alias, anywhere: a plain literal search (Aho-Corasick) that rules out
/// the paragraphs where [`AUTHORSHIP`] cannot match. Running that pattern on
/// every paragraph kept rebuilding its lazy DFA: a tenth of analysis time.
static ANY_AGENCY: LazyLock<Regex> = LazyLock::new(|| compile(&AGENCY_ALT));

/// A character of a place name after its first letter. Folded text (see
/// [`super::normalize::fold_keep_case`]) has ASCII quotes and dashes, so
/// whatever is not ASCII here is a letter in practice; "any non-ASCII"
/// compiles to a handful of automaton states where `\p{L}`, repeated forty
/// times, made an engine of megabytes per thread and forced the slowest
/// matcher (a measured 10 % of analysis time and ~10 MB per thread).
const PLACE: &str = r"A-Za-z.' \x{80}-\x{10FFFF}";

/// The same for an all-capitals place (`ISLAMABAD:`): ASCII and Latin-1
/// capitals.
const PLACE_UPPER: &str = r"A-Z.' \x{C0}-\x{D6}\x{D8}-\x{DE}";

/// Month names and abbreviations in English and the Romance languages of EFE and ANSA.
const MONTH: &str = r"(?i:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|ene(?:ro)?|abr(?:il)?|ago(?:sto)?|dic(?:iembre)?|gen(?:naio)?|febbraio|marzo|aprile|maggio|giugno|luglio|settembre|ottobre|novembre|dicembre)";

/// A date as datelines write it: `Feb. 27`, `February 27, 2025`,
/// `27th Feb, 2025`, `27 feb`, `3 March 2025`.
static DATE: LazyLock<String> = LazyLock::new(|| {
    format!(
        r"(?:\d{{1,2}}(?:st|nd|rd|th)?\s+{MONTH}\.?,?(?:\s+\d{{4}})?|{MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?)"
    )
});

/// Datelines that credit an agency, at the start of the body:
/// `ISTANBUL (AFP) -`, `Istanbul, (APP - UrduPoint … - 27th Feb, 2025)`,
/// `NEW DELHI, March 3 (PTI):`, `BEIJING, Feb. 27 (Xinhua) --`,
/// `Madrid, 27 feb (EFE).-`, `MOSCOW, February 27. /TASS/.`,
/// `Riyadh, February 27, 2025, SPA --`, `Tehran, IRNA --`,
/// `(ANSA) - ROME, FEB 27 -`, `(Reuters) -`, `By AFP`.
static AGENCY_DATELINE: LazyLock<Regex> =
    LazyLock::new(|| compile(&agency_dateline(Some((40, 30, 80)))));

/// [`AGENCY_DATELINE`] without its length bounds: it matches wherever that
/// pattern does (and more), and is the one run on every item's opening. The
/// bounded repetitions (place names up to 40 characters, …) made the
/// bounded pattern's lazy DFA outgrow its cache and fall back to slower
/// engines: run on every first paragraph, that was ~9 % of analysis time.
/// So the bounded pattern now runs only where this one matched.
static AGENCY_DATELINE_LOOSE: LazyLock<Regex> = LazyLock::new(|| compile(&agency_dateline(None)));

/// The dateline pattern; `bounds` caps the place name, a second place
/// name and the text in parentheses after the agency, in characters.
fn agency_dateline(bounds: Option<(u32, u32, u32)>) -> String {
    let ag = &*AGENCY_ALT;
    let date = &*DATE;
    let (place, place2, par) = match bounds {
        Some((a, b, c)) => (
            format!("{{1,{a}}}?"),
            format!("{{1,{b}}}?"),
            format!("{{0,{c}}}"),
        ),
        None => ("+?".to_string(), "+?".to_string(), "*".to_string()),
    };
    format!(
        r"^\s*(?:(?:By\s+)?(?P<lead>{ag})(?:\s+Staff)?\s*$|\((?P<pre>{ag})\)\s*-+\s*(?:[\p{{Lu}}][{PLACE}]{place},?\s*(?:{date})?\s*-+\s*)?|(?:[\p{{Lu}}][{PLACE}]{place}(?:\s*/\s*[\p{{Lu}}][{PLACE}]{place2})?\s*,?\s*(?:{date})?\.?\s*,?\s*)?(?:\((?P<par>(?:{ag})(?-u:\b)[^)]{par})\)|/(?P<slash>{ag})/|(?P<bare>{ag})\s*(?:-+|:)))\s*(?:\.?\s*-+|:|\.)?\s*"
    )
}

/// Datelines without an agency: an upper-case place, optionally a date, then
/// a colon or dash (`ISLAMABAD:`, `KARACHI, Feb 27 -`, `NEW YORK —`).
static PLAIN_DATELINE: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        r"^\s*\p{{Lu}}[{PLACE_UPPER}]{{2,30}}(?:\s*/\s*\p{{Lu}}[{PLACE_UPPER}]{{2,30}})?(?:,\s*(?:{}))?\s*(?::|-+)\s+",
        *DATE
    ))
});

/// End-of-text credit lines: `— AFP`, `(dpa)`, `© AFP 2025`,
/// `Copyright Reuters`, `Source: Xinhua`, `with AFP`, `mit dpa`,
/// `(With inputs from PTI)`.
static TRAILER_CREDIT: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        r"(?i:^\s*(?:-+\s*|©\s*|\(c\)\s*|copyright\s+(?:\(c\)\s*|©\s*)?(?:\d{{4}}\s+)?|source\s*:\s*|with\s+|mit\s+|\(?\s*with\s+inputs?\s+from\s+|\(?\s*additional\s+reporting\s+by\s+)?[(/]?\s*)(?P<ag>{})\s*[)/]?\s*(?:\d{{4}})?[.\s)]*$",
        *AGENCY_ALT
    ))
});

/// Reuters' and AP's sign-off lines, which name reporters rather than the agency.
static SIGNOFF: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)^\s*(?:\((?P<reuters>(?:additional\s+)?reporting\s+by(?-u:\b)[^)]*)\)|(?P<ap>associated\s+press\s+writers?(?-u:\b).*(?-u:\b)contributed(?-u:\b).*))\s*\.?\s*$",
    )
});

/// Phrases by which a text says an agency's own staff did the reporting.
static AUTHORSHIP: LazyLock<Regex> = LazyLock::new(|| {
    let ag = &*AGENCY_ALT;
    compile(&format!(
        r"(?-u:\b)(?:(?:an?|the)\s+(?P<a>{ag})\s+(?:journalist|correspondent|reporter|photographer|videographer|team|tally|count|crew|stringer)s?(?-u:\b)|(?P<b>{ag})\s+(?:journalist|correspondent|reporter|photographer)s?\s+(?:saw|said|witnessed|counted|reported|observed)(?-u:\b)|(?-u:\b)(?:told|telling|tells|interview\s+with|seen\s+by|obtained\s+by|contacted\s+by|interviewed\s+by|asked\s+by)\s+(?:an?\s+)?(?P<c>{ag})(?-u:\b))"
    ))
});

/// Compiles a constant pattern. Word boundaries in these patterns are
/// ASCII (`(?-u:\b)`): a Unicode `\b` keeps the regex crate off its fast
/// DFA on non-ASCII text, which made analysis of non-English items several
/// times slower; agency names and the words around them are ASCII anyway.
fn compile(pattern: &str) -> Regex {
    // The patterns are constants checked by the unit tests: a failure here is
    // a programming error, not bad input.
    Regex::new(pattern).unwrap_or_else(|e| panic!("dedup pattern does not compile: {e}"))
}

/// Agencies a text credits, in chain order (carrier first, origin last).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credits {
    /// Canonical agency names, carrier(s) first, origin last, no repeats.
    pub chain: Vec<String>,
}

impl Credits {
    /// The agency that wrote the story (the last of the chain).
    pub fn origin(&self) -> Option<&str> {
        self.chain.last().map(String::as_str)
    }

    /// The form stored in an entry's `credited_agency` column: `"APP>AFP"`,
    /// or `None` when the text credits no agency.
    pub fn to_column(&self) -> Option<String> {
        (!self.chain.is_empty()).then(|| self.chain.join(">"))
    }

    /// Reads the `credited_agency` column back.
    pub fn from_column(column: Option<&str>) -> Self {
        Credits {
            chain: column
                .map(|c| {
                    c.split('>')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// Rank of a credit in the chain: lower ranks are carriers, the highest is the origin.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    Dateline,
    Trailer,
    Authorship,
}

/// Collects credits as they are found, then orders them into a chain.
#[derive(Default)]
struct CreditLog(Vec<(Rank, usize, &'static str)>);

impl CreditLog {
    fn add(&mut self, rank: Rank, alias: &str) {
        if let Some(name) = canonical(alias) {
            let seq = self.0.len();
            self.0.push((rank, seq, name));
        }
    }

    fn add_all_in(&mut self, rank: Rank, text: &str) {
        for m in AGENCY_RE.find_iter(text) {
            self.add(rank, m.as_str());
        }
    }

    fn into_credits(mut self) -> Credits {
        // An agency keeps its highest rank: "(AFP)" in the dateline plus
        // "an AFP journalist" in the body is one credit, as the origin.
        self.0.sort_by_key(|&(rank, seq, _)| (rank, seq));
        let mut chain: Vec<String> = Vec::new();
        for &(_, _, name) in self.0.iter().rev() {
            if !chain.iter().any(|c| c == name) {
                chain.push(name.to_string());
            }
        }
        chain.reverse();
        Credits { chain }
    }
}

/// The result of removing datelines and credit lines from a body.
#[derive(Debug, Clone, Default)]
pub struct Stripped {
    /// The paragraphs left, case kept.
    pub paragraphs: Vec<String>,
    /// The agencies the text credits.
    pub credits: Credits,
}

/// Strips the dateline from the first paragraph and credit/sign-off lines
/// from the end, and records the credits. Input: folded paragraphs (see
/// [`super::normalize::fold_keep_case`]), case kept.
pub fn strip_and_credit(mut paragraphs: Vec<String>) -> Stripped {
    let mut log = CreditLog::default();
    // Byline-only lines ("By AFP") and the dateline itself.
    while let Some(first) = paragraphs.first_mut() {
        match strip_dateline(first, &mut log) {
            Some(rest) if rest.is_empty() => {
                paragraphs.remove(0);
            }
            Some(rest) => {
                *first = rest;
                break;
            }
            None => break,
        }
    }
    // Credit and sign-off lines at the end (at most three, innermost last).
    for _ in 0..3 {
        let Some(last) = paragraphs.last() else { break };
        if let Some(c) = TRAILER_CREDIT.captures(last) {
            if let Some(m) = c.name("ag") {
                log.add(Rank::Trailer, m.as_str());
            }
        } else if let Some(c) = SIGNOFF.captures(last) {
            if c.name("reuters").is_some() {
                log.add(Rank::Trailer, "Reuters");
            } else if c.name("ap").is_some() {
                log.add(Rank::Trailer, "AP");
            }
        } else {
            break;
        }
        paragraphs.pop();
    }
    for p in paragraphs.iter().filter(|p| ANY_AGENCY.is_match(p)) {
        for c in AUTHORSHIP.captures_iter(p) {
            if let Some(m) = c.name("a").or_else(|| c.name("b")).or_else(|| c.name("c")) {
                log.add(Rank::Authorship, m.as_str());
            }
        }
    }
    Stripped {
        paragraphs,
        credits: log.into_credits(),
    }
}

/// Removes a dateline from the start of `paragraph`; returns the rest, or
/// `None` when the paragraph does not start with a dateline.
fn strip_dateline(paragraph: &str, log: &mut CreditLog) -> Option<String> {
    let dateline = AGENCY_DATELINE_LOOSE
        .is_match(paragraph)
        .then(|| AGENCY_DATELINE.captures(paragraph))
        .flatten();
    if let Some(c) = dateline {
        for name in ["lead", "pre", "slash", "bare"] {
            if let Some(m) = c.name(name) {
                log.add(Rank::Dateline, m.as_str());
            }
        }
        if let Some(m) = c.name("par") {
            log.add_all_in(Rank::Dateline, m.as_str());
        }
        let end = c.get(0).map_or(0, |m| m.end());
        return Some(paragraph[end..].to_string());
    }
    PLAIN_DATELINE
        .find(paragraph)
        .filter(|m| m.end() < paragraph.len())
        .map(|m| paragraph[m.end()..].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::fold_keep_case;

    fn strip1(text: &str) -> (String, Vec<String>) {
        let s = strip_and_credit(vec![fold_keep_case(text)]);
        (s.paragraphs.join("\n"), s.credits.chain)
    }

    #[test]
    fn real_datelines_from_many_agencies() {
        let cases: &[(&str, &[&str])] = &[
            ("Istanbul, (APP - UrduPoint / Pakistan Point News - 27th Feb, 2025) Russian officials met.", &["APP"]),
            ("ISTANBUL (AFP) - Russian officials met.", &["AFP"]),
            ("ISTANBUL (AFP) \u{2014} Russian officials met.", &["AFP"]),
            ("WASHINGTON (Reuters) - Russian officials met.", &["Reuters"]),
            ("NEW DELHI, March 3 (PTI): Russian officials met.", &["PTI"]),
            ("BEIJING, Feb. 27 (Xinhua) -- Russian officials met.", &["Xinhua"]),
            ("ISLAMABAD, Feb 27 (APP): Russian officials met.", &["APP"]),
            ("WASHINGTON (AP) \u{2014} Russian officials met.", &["AP"]),
            ("New Delhi, Feb 27 (IANS) Russian officials met.", &["IANS"]),
            ("Berlin (dpa) - Russian officials met.", &["dpa"]),
            ("Madrid, 27 feb (EFE).- Russian officials met.", &["EFE"]),
            ("(ANSA) - ROME, FEB 27 - Russian officials met.", &["ANSA"]),
            ("MOSCOW, February 27. /TASS/. Russian officials met.", &["TASS"]),
            ("MOSCOW, Feb 27 (RIA Novosti) - Russian officials met.", &["RIA"]),
            ("ANKARA (AA) - Russian officials met.", &["Anadolu"]),
            ("TOKYO, Feb. 27 (Kyodo) -- Russian officials met.", &["Kyodo"]),
            ("SEOUL, Feb. 27 (Yonhap) -- Russian officials met.", &["Yonhap"]),
            ("KUALA LUMPUR, Feb 27 (Bernama) -- Russian officials met.", &["Bernama"]),
            ("ABU DHABI, 27th February, 2025 (WAM) -- Russian officials met.", &["WAM"]),
            ("Riyadh, February 27, 2025, SPA -- Russian officials met.", &["SPA"]),
            ("DOHA (QNA) - Russian officials met.", &["QNA"]),
            ("Kuwait, Feb 27 (KUNA) -- Russian officials met.", &["KUNA"]),
            ("Tehran, IRNA -- Russian officials met.", &["IRNA"]),
            ("(Bloomberg) -- Russian officials met.", &["Bloomberg"]),
            ("Mumbai, Feb 27 (ANI): Russian officials met.", &["ANI"]),
            ("Chennai, Feb 27 (UNI) Russian officials met.", &["UNI"]),
            ("ISLAMABAD: Russian officials met.", &[]),
            ("KARACHI, Feb 27 - Russian officials met.", &[]),
        ];
        for (input, credits) in cases {
            let (text, chain) = strip1(input);
            assert_eq!(
                text, "Russian officials met.",
                "dateline not stripped: {input}"
            );
            assert_eq!(chain, *credits, "credits of {input}");
        }
    }

    #[test]
    fn ordinary_openings_are_kept() {
        for input in [
            "Russian and US officials met in Istanbul on Thursday.",
            "Turkey, a NATO member, has sought a role.",
            "The talks ended, AFP reported on Thursday.",
            "US President Donald Trump has sought to reset relations.",
        ] {
            assert_eq!(strip1(input).0, input);
        }
    }

    #[test]
    fn seed_story_credits_app_then_afp() {
        let s = strip_and_credit(vec![
            fold_keep_case("Istanbul, (APP - UrduPoint / Pakistan Point News - 27th Feb, 2025) Russian and US officials met in Istanbul."),
            fold_keep_case("The talks ended with the departure of the Russian delegates, who did not speak to media outside, an AFP journalist saw."),
            fold_keep_case("Neither country has identified the participants, but Russia's state TASS agency said the Russian delegation included \"foreign ministry representatives\"."),
        ]);
        assert_eq!(s.credits.chain, ["APP", "AFP"]);
        assert_eq!(s.credits.origin(), Some("AFP"));
        assert_eq!(s.credits.to_column().as_deref(), Some("APP>AFP"));
        assert_eq!(Credits::from_column(Some("APP>AFP")), s.credits);
        assert!(s.paragraphs[0].starts_with("Russian and US officials"));
    }

    #[test]
    fn trailer_lines_are_stripped_and_credited() {
        let s = strip_and_credit(
            [
                "ISLAMABAD: Officials met.",
                "They talked.",
                "(Reporting by Jane Doe; Editing by John Roe)",
            ]
            .map(String::from)
            .to_vec(),
        );
        assert_eq!(s.paragraphs, ["Officials met.", "They talked."]);
        assert_eq!(s.credits.chain, ["Reuters"]);
        for trailer in [
            "\u{2014} AFP",
            "(dpa)",
            "\u{a9} AFP 2025",
            "Copyright Reuters 2025",
            "Source: Xinhua",
            "mit dpa",
            "(With inputs from PTI)",
        ] {
            let s = strip_and_credit(vec!["Officials met.".into(), fold_keep_case(trailer)]);
            assert_eq!(s.paragraphs, ["Officials met."], "{trailer}");
            assert_eq!(s.credits.chain.len(), 1, "{trailer}");
        }
    }

    #[test]
    fn carrier_then_origin_when_both_in_dateline_and_trailer() {
        let s = strip_and_credit(vec![
            "KARACHI, Feb 27 (APP): Officials met.".into(),
            "- AFP".into(),
        ]);
        assert_eq!(s.credits.chain, ["APP", "AFP"]);
        let s = strip_and_credit(vec![
            "PARIS (AFP) - Officials met, an AFP reporter saw.".into()
        ]);
        assert_eq!(s.credits.chain, ["AFP"]);
    }

    #[test]
    fn cited_agencies_are_not_credits() {
        let (_, chain) = strip1("Officials met, Russia's state TASS agency said, citing Reuters.");
        assert!(chain.is_empty());
        let (_, chain) = strip1("He told Reuters the talks went well.");
        assert_eq!(chain, ["Reuters"]);
    }

    #[test]
    fn hosts_map_to_agencies() {
        assert_eq!(agency_for_host("www.afp.com"), Some("AFP"));
        assert_eq!(agency_for_host("en.yna.co.kr"), Some("Yonhap"));
        assert_eq!(agency_for_host("notafp.com"), None);
        assert_eq!(agency_names().count(), AGENCIES.len());
    }
}
