//! The reference case of issue 3, end to end through a local HTTP server:
//! four outlets carry the same AFP story (from `../shared/dedup/seed/`) with
//! their own headlines, datelines, boilerplate, markup and cuts; they fold
//! into one story whose lineage lists all four and credits AFP. A Reuters
//! report on the same talks, written independently, stays its own story.

mod common;

use common::{atom, require_shared, rss, Item, Route, Server, Setup};

const RSS_TYPE: &str = "application/rss+xml";

struct Seed {
    paragraphs: Vec<String>,
}

fn seed() -> Option<Seed> {
    let path = require_shared("dedup/seed/app-urdupoint-2025-02-27-istanbul-talks.txt")?;
    let text = std::fs::read_to_string(path).expect("read seed");
    // Line 1: date and headline; line 2: the summary; then the article,
    // whose first paragraph carries the APP dateline.
    let paragraphs = text
        .lines()
        .skip(2)
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    Some(Seed { paragraphs })
}

fn paras(ps: &[String]) -> String {
    ps.iter().map(|p| format!("<p>{p}</p>\n")).collect()
}

/// The first paragraph without the APP dateline, as AFP's own wording starts.
fn lede_body(first: &str) -> String {
    match first.find(") ") {
        Some(i) if first.starts_with("Istanbul, (APP") => first[i + 2..].to_string(),
        _ => first.to_string(),
    }
}

const REUTERS: &str = "<p>ISTANBUL, Feb 27 (Reuters) - Russian and American diplomats held more than six hours of \
closed-door talks in Istanbul on Thursday about the operations of their embassies, Russia's foreign ministry said, \
in the latest sign of a thaw between Moscow and Washington.</p>\
<p>The meeting, held at the residence of the U.S. consul general, focused on visas, staffing and the property of the \
two countries' missions, according to two sources familiar with the agenda who spoke on condition of anonymity.</p>\
<p>Washington has said any broader rapprochement depends on progress towards ending the war in Ukraine, and European \
officials have voiced concern that they were not consulted.</p>\
<p>The State Department did not immediately respond to a request for comment. (Reporting by Reuters staff; Editing by \
the Reuters desk)</p>";

#[test]
fn four_outlets_fold_into_one_afp_story_and_a_reuters_report_stays_apart() {
    let Some(seed) = seed() else {
        return;
    };
    let p = &seed.paragraphs;
    let server = Server::start();

    // 1. UrduPoint / APP: the text as published, with the APP dateline.
    let app = paras(p);
    // 2. A Gulf outlet: AFP dateline, its own headline, last paragraph cut,
    //    WordPress boilerplate.
    let mut gulf = vec![format!("ISTANBUL (AFP) - {}", lede_body(&p[0]))];
    gulf.extend(p[1..p.len() - 1].iter().cloned());
    let gulf = format!(
        "{}<p>The post <a href=\"https://gulf.example/x\">Russia and US meet over embassies</a> appeared first on Gulf Daily.</p>",
        paras(&gulf)
    );
    // 3. An aggregator whose feed carries only the lede, under a rewritten headline.
    let lede = format!("<p>ISTANBUL: {} (AFP)</p>", lede_body(&p[0]));
    // 4. An Atom feed: curly quotes, markup wrappers, a "Read more" link.
    let curly: Vec<String> = p
        .iter()
        .map(|s| s.replace('"', "\u{201c}").replace('\'', "\u{2019}"))
        .collect();
    let atom_body = format!(
        "<div class=\"article\">{}<p><a href=\"https://asia.example/more\">Read more</a></p></div>",
        paras(&curly)
    );

    server.route(
        "/urdupoint.rss",
        Route::ok(
            RSS_TYPE,
            rss(
                "UrduPoint",
                &[Item::new("up-1")
                    .title("Russia, US Hold Talks In Istanbul On Easing Embassy Curbs")
                    .link("https://www.urdupoint.com/en/world/russia-us-hold-talks.html")
                    .published("Thu, 27 Feb 2025 16:40:00 GMT")
                    .html(&app)],
            ),
        ),
    );
    server.route(
        "/gulf.rss",
        Route::ok(
            RSS_TYPE,
            rss(
                "Gulf Daily",
                &[
                    Item::new("gulf-77")
                        .title("Russia, US diplomats meet in Istanbul to ease embassy rows")
                        .link("https://gulf.example/world/77")
                        .published("Thu, 27 Feb 2025 15:05:00 GMT")
                        .html(&gulf),
                    Item::new("gulf-78")
                        .title("Reuters: Russia, US hold six hours of embassy talks")
                        .link("https://gulf.example/world/78")
                        .published("Thu, 27 Feb 2025 17:30:00 GMT")
                        .html(REUTERS),
                ],
            ),
        ),
    );
    server.route(
        "/lede.rss",
        Route::ok(
            RSS_TYPE,
            rss(
                "Headline Wire",
                &[Item::new("hw-5")
                    .title("RUSSIA AND US TALK EMBASSIES IN ISTANBUL")
                    .link("https://headlines.example/5")
                    .published("Thu, 27 Feb 2025 14:55:00 GMT")
                    .html(&lede)],
            ),
        ),
    );
    server.route(
        "/asia.atom",
        Route::ok(
            "application/atom+xml",
            atom(
                "Asia Times Online",
                &[Item::new("urn:asia:9")
                    .title("Moscow, Washington talk embassy curbs in Istanbul")
                    .link("https://asia.example/9")
                    .published("2025-02-27T15:20:00Z")
                    .html(&atom_body)],
            ),
        ),
    );
    let setup = Setup::new(&[
        (&server.url("/urdupoint.rss"), Some("UrduPoint")),
        (&server.url("/gulf.rss"), Some("Gulf Daily")),
        (&server.url("/lede.rss"), Some("Headline Wire")),
        (&server.url("/asia.atom"), Some("Asia Times")),
    ]);
    let out = setup.ok(&["poll"]);
    assert!(
        out.contains("5 new entries, 2 new stories, 3 folded copies"),
        "{out}"
    );

    let stories = setup.json_lines(&["stories", "--json"]);
    assert_eq!(stories.len(), 2, "{stories:#?}");
    let afp = stories
        .iter()
        .find(|s| s["source_count"] == 4)
        .expect("the AFP story with four sources");
    assert_eq!(afp["origin_agency"], "AFP");
    let reuters = stories
        .iter()
        .find(|s| s["source_count"] == 1)
        .expect("the Reuters report");
    assert_eq!(reuters["origin_agency"], "Reuters");
    assert_eq!(reuters["url"], "https://gulf.example/world/78");

    let id = afp["story_id"].as_i64().expect("id").to_string();
    let story = &setup.json_lines(&["story", &id, "--json"])[0];
    let sources = story["sources"].as_array().expect("sources");
    let feeds: Vec<&str> = sources
        .iter()
        .map(|s| s["feed_title"].as_str().unwrap_or(""))
        .collect();
    for name in ["UrduPoint", "Gulf Daily", "Headline Wire", "Asia Times"] {
        assert!(
            feeds.contains(&name),
            "{name} missing from lineage {feeds:?}"
        );
    }
    // Lineage in time order; the earliest published copy is canonical, and
    // every other copy says how it relates and how similar it is.
    assert_eq!(sources[0]["feed_title"], "Headline Wire");
    assert_eq!(sources[0]["relation"], "canonical");
    for s in &sources[1..] {
        let score = s["similarity"].as_f64().expect("score");
        match s["relation"].as_str() {
            Some("near") => assert!(score > 0.0 && score < 1.0, "{s}"),
            Some("exact") => assert_eq!(score, 1.0, "{s}"),
            other => panic!("unexpected relation {other:?}: {s}"),
        }
    }
    let relation = |feed: &str| {
        sources
            .iter()
            .find(|s| s["feed_title"] == feed)
            .map(|s| s["relation"].as_str().unwrap_or("").to_string())
    };
    // Curly quotes, wrappers and "Read more" normalise away: the same text as APP's.
    assert_eq!(relation("Asia Times").as_deref(), Some("exact"));
    // A new dateline, a cut paragraph and WordPress boilerplate: a near copy.
    assert_eq!(relation("Gulf Daily").as_deref(), Some("near"));
    let app_copy = sources
        .iter()
        .find(|s| s["feed_title"] == "UrduPoint")
        .expect("APP copy");
    assert_eq!(app_copy["credited_agency"], "APP>AFP");

    // `feedfold story` shows each copy's relation and score.
    let human = setup.ok(&["story", &id]);
    assert!(
        human.contains("canonical") && human.contains("near"),
        "{human}"
    );
    assert!(human.contains("Agency:    AFP"), "{human}");

    // Refolding recomputes the same stories without losing an entry.
    let out = setup.ok(&["refold"]);
    assert!(
        out.contains("refolded 5 entries") && out.contains("2 stories before, 2 after"),
        "{out}"
    );
    assert_eq!(setup.sql::<i64>("SELECT COUNT(*) FROM entry"), 5);
    let n: i64 = setup.sql("SELECT source_count FROM stories WHERE origin_agency = 'AFP'");
    assert_eq!(n, 4);
}
