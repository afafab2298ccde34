//! A synthetic newsroom on loopback: an agency feed and several outlets that
//! republish its wire stories (same words, their own links and times), plus
//! stories of their own and two broken feeds. Polled with the real binary,
//! it fills a database the way real feeds would, for the schema, search,
//! retention and Datasette tests.
#![allow(dead_code)]

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};

use super::{atom, feedfold, rss, Item, Route, Server};

const RSS_TYPE: &str = "application/rss+xml";
const ATOM_TYPE: &str = "application/atom+xml";

/// One outlet: path on the server, display title, format.
pub struct Outlet {
    pub path: &'static str,
    pub title: &'static str,
    pub atom: bool,
}

/// The outlets, the agency feed first.
pub const OUTLETS: &[Outlet] = &[
    Outlet {
        path: "/afp.rss",
        title: "AFP World",
        atom: false,
    },
    Outlet {
        path: "/dawn.rss",
        title: "Dawn",
        atom: false,
    },
    Outlet {
        path: "/nation.rss",
        title: "The Nation",
        atom: false,
    },
    Outlet {
        path: "/urdupoint.atom",
        title: "UrduPoint",
        atom: true,
    },
    Outlet {
        path: "/arabnews.rss",
        title: "Arab News",
        atom: false,
    },
];

/// Feeds that fail: a server error and a missing page.
pub const BROKEN: &[&str] = &["/broken.rss", "/gone.rss"];

const AGENCIES: &[&str] = &["AFP", "Reuters", "APP"];
const CITIES: &[&str] = &[
    "ISLAMABAD",
    "ISTANBUL",
    "GENEVA",
    "BEIJING",
    "DUBAI",
    "KARACHI",
    "NEW DELHI",
    "CAIRO",
];
const SUBJECTS: &[&str] = &[
    "Foreign ministers",
    "Central bank",
    "Opposition leaders",
    "Trade envoys",
    "Climate negotiators",
    "Health officials",
    "Cricket board",
    "Energy regulators",
];
const ACTIONS: &[&str] = &[
    "resume embassy talks",
    "announce new measures",
    "meet over border dispute",
    "agree on grain corridor",
    "warn of flood risk",
    "sign energy pact",
    "delay budget vote",
    "report record exports",
];

/// The wire story number `i`: headline and body paragraphs.
pub fn wire_story(i: usize) -> (String, Vec<String>) {
    let agency = AGENCIES[i % AGENCIES.len()];
    let city = CITIES[i % CITIES.len()];
    let subject = SUBJECTS[(i / 3) % SUBJECTS.len()];
    let action = ACTIONS[(i * 5 + 1) % ACTIONS.len()];
    let headline = format!("{subject} {action} (story {i})");
    let paragraphs = vec![
        format!("{city} ({agency}) - {subject} said on day {i} that they would {action}, officials told reporters after a meeting that lasted {} hours.", 2 + i % 7),
        format!("The decision follows weeks of negotiations in which delegations from {} countries took part, according to a statement seen by {agency}.", 3 + i % 11),
        format!("Analysts said item {i} could shape markets for months; the next round is planned for {}.", ["Monday", "Friday", "next month"][i % 3]),
    ];
    (headline, paragraphs)
}

/// Which outlets carry wire story `i`, and how many minutes after the first
/// publication each did. AFP stories start in the agency feed; one in five
/// is published by an outlet *before* the agency feed's copy (the canonical
/// copy must then be the outlet's).
pub fn carriers(i: usize) -> Vec<(usize, i64)> {
    let agency = AGENCIES[i % AGENCIES.len()];
    let copies = 1 + i % 4; // 1..=4 outlets besides the first
    let mut out = Vec::new();
    if agency == "AFP" {
        out.push((0, if i % 5 == 0 { 7 } else { 0 }));
        for k in 0..copies {
            let outlet = 1 + (i + k) % (OUTLETS.len() - 1);
            let delay = if i % 5 == 0 && k == 0 {
                0
            } else {
                10 + 13 * k as i64
            };
            out.push((outlet, delay));
        }
    } else {
        let first = 1 + i % (OUTLETS.len() - 1);
        out.push((first, 0));
        for k in 1..copies.min(OUTLETS.len() - 1) {
            let outlet = 1 + (i + k) % (OUTLETS.len() - 1);
            out.push((outlet, 5 + 20 * k as i64));
        }
    }
    out.sort();
    out.dedup_by_key(|(o, _)| *o);
    out
}

/// Items per outlet for `stories` wire stories, the newest published
/// `newest_age` before `now`, one every 47 minutes going back.
pub fn items(stories: usize, now: DateTime<Utc>, newest_age: Duration) -> Vec<Vec<Item>> {
    let mut per_outlet: Vec<Vec<Item>> = vec![Vec::new(); OUTLETS.len()];
    for i in 0..stories {
        let (headline, paragraphs) = wire_story(i);
        let html: String = paragraphs.iter().map(|p| format!("<p>{p}</p>")).collect();
        let first = now - newest_age - Duration::minutes(47 * i as i64);
        for (outlet, delay) in carriers(i) {
            let slug = OUTLETS[outlet].title.to_lowercase().replace(' ', "-");
            per_outlet[outlet].push(Item {
                guid: format!("{slug}-{i}"),
                title: headline.clone(),
                link: format!("https://{slug}.example/news/{i}"),
                published: (first + Duration::minutes(delay)).min(now),
                html: html.clone(),
            });
        }
    }
    // Each outlet also has stories of its own, not syndicated.
    for (o, outlet) in OUTLETS.iter().enumerate().skip(1) {
        for j in 0..3 {
            let slug = outlet.title.to_lowercase().replace(' ', "-");
            per_outlet[o].push(Item {
                guid: format!("{slug}-own-{j}"),
                title: format!("{} local report {j}", outlet.title),
                link: format!("https://{slug}.example/local/{j}"),
                published: now - newest_age - Duration::minutes(30 + 61 * j as i64),
                html: format!(
                    "<p>Only {} covered local matter number {j} in the city council.</p>",
                    outlet.title
                ),
            });
        }
    }
    per_outlet
}

/// The feed document of one outlet.
pub fn document(outlet: &Outlet, items: &[Item]) -> String {
    if outlet.atom {
        atom(outlet.title, items)
    } else {
        rss(outlet.title, items)
    }
}

/// A folder with a config (database `feedfold.db`) listing the newsroom's
/// feeds on `server`, plus `extra` lines appended to the config.
pub struct Newsroom {
    pub dir: tempfile::TempDir,
    pub server: Server,
}

impl Newsroom {
    /// Starts the server with `stories` wire stories and writes the config.
    pub fn start(stories: usize, extra_config: &str) -> Newsroom {
        let server = Server::start();
        let now = Utc::now();
        let items = items(stories, now, Duration::minutes(2));
        for (outlet, items) in OUTLETS.iter().zip(&items) {
            let kind = if outlet.atom { ATOM_TYPE } else { RSS_TYPE };
            server.route(outlet.path, Route::ok(kind, document(outlet, items)));
        }
        server.route(BROKEN[0], Route::status(500));
        server.route(BROKEN[1], Route::status(404));
        let dir = tempfile::tempdir().expect("tempdir");
        let room = Newsroom { dir, server };
        room.write_config(extra_config);
        room
    }

    pub fn write_config(&self, extra: &str) {
        let mut text = String::from(
            "database = \"feedfold.db\"\n[poll]\ninterval = \"30m\"\nconcurrency = 4\n",
        );
        for o in OUTLETS {
            text.push_str(&format!(
                "[[feed]]\nurl = \"{}\"\ntitle = \"{}\"\n",
                self.server.url(o.path),
                o.title
            ));
            if matches!(o.title, "Dawn" | "The Nation" | "UrduPoint") {
                text.push_str("tags = [\"pakistan\"]\n");
            }
        }
        for p in BROKEN {
            text.push_str(&format!("[[feed]]\nurl = \"{}\"\n", self.server.url(p)));
        }
        text.push_str(extra);
        std::fs::write(self.config(), text).expect("write config");
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("feedfold.toml")
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("feedfold.db")
    }

    /// Runs `feedfold -c CONFIG args…`, which must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = feedfold(&self.config(), args);
        assert!(
            out.status.success(),
            "feedfold {args:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Polls every feed once.
    pub fn poll(&self) -> String {
        self.ok(&["poll", "--all"])
    }

    pub fn conn(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.db()).expect("open db")
    }
}
