//! Benchmark corpus and loopback server (`bench/run.sh` starts it).
//!
//! Generates N feeds × M items deterministically from a seed — RSS 2.0, Atom
//! and JSON Feed mixed, item bodies of 0.5–5 KB of HTML, 15 % of items
//! syndicated copies of shared "wire" stories with their own headline and
//! dateline — and serves them on 127.0.0.1 with ETag and Last-Modified,
//! answering 304 to a repeat. Documents are generated on request from
//! (seed, feed, version), so memory does not grow with the number of feeds.
//!
//! Routes:
//! - `GET /f/{i}` — feed i (format: i % 3 → RSS, Atom, JSON Feed)
//! - `GET /rw/{k}` — the k-th real-world feed of `--realworld FILE` (paths, one per line)
//! - `POST /_bump?pct=10&new=5` — 10 % of feeds (seeded choice) gain 5 new items
//! - `GET /_urls?n=N` — the first N feed URLs, one per line
//!
//! Usage: `bench-server --feeds 2000 --items 50 [--port 0] [--seed 1] [--realworld LIST]
//! [--hosts H]` (H ≤ 254: feeds spread over 127.0.0.1 … 127.0.0.H, for the
//! multi-worker PostgreSQL scenario, `bench/pg.sh`);
//! prints `listening on http://127.0.0.1:PORT` on stdout.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, RwLock};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

const WORDS: &[&str] = &[
    "government",
    "minister",
    "officials",
    "talks",
    "agreement",
    "security",
    "economy",
    "market",
    "prices",
    "inflation",
    "growth",
    "election",
    "parliament",
    "opposition",
    "court",
    "ruling",
    "police",
    "protest",
    "capital",
    "province",
    "region",
    "border",
    "trade",
    "exports",
    "imports",
    "energy",
    "oil",
    "gas",
    "power",
    "water",
    "flood",
    "drought",
    "harvest",
    "farmers",
    "workers",
    "union",
    "strike",
    "company",
    "shares",
    "investors",
    "bank",
    "interest",
    "rates",
    "budget",
    "deficit",
    "debt",
    "loan",
    "fund",
    "reform",
    "policy",
    "president",
    "prime",
    "spokesman",
    "statement",
    "meeting",
    "summit",
    "delegation",
    "embassy",
    "foreign",
    "defence",
    "military",
    "troops",
    "ceasefire",
    "conflict",
    "peace",
    "negotiations",
    "sanctions",
    "aid",
    "hospital",
    "health",
    "vaccine",
    "school",
    "students",
    "university",
    "research",
    "technology",
    "internet",
    "mobile",
    "digital",
    "climate",
    "emissions",
    "carbon",
    "renewable",
    "solar",
    "wind",
    "transport",
    "railway",
    "airport",
    "flights",
    "tourism",
    "visitors",
    "cricket",
    "match",
    "team",
    "coach",
    "players",
    "tournament",
    "league",
    "final",
    "victory",
    "defeat",
    "record",
    "season",
    "the",
    "a",
    "of",
    "in",
    "on",
    "for",
    "with",
    "and",
    "to",
    "said",
    "on",
    "Thursday",
    "Monday",
    "week",
    "year",
    "month",
    "after",
    "before",
    "during",
    "while",
    "amid",
    "over",
    "under",
    "new",
    "first",
    "second",
    "last",
    "major",
    "key",
    "senior",
    "local",
    "national",
    "international",
    "public",
    "private",
    "official",
    "reported",
    "announced",
    "confirmed",
    "denied",
    "expected",
    "planned",
    "agreed",
    "rejected",
    "warned",
    "urged",
    "called",
    "added",
    "told",
];
const CITIES: &[&str] = &[
    "ISLAMABAD",
    "KARACHI",
    "LAHORE",
    "NEW DELHI",
    "DHAKA",
    "COLOMBO",
    "KABUL",
    "DUBAI",
    "RIYADH",
    "DOHA",
    "ISTANBUL",
    "MOSCOW",
    "BEIJING",
    "TOKYO",
    "WASHINGTON",
    "LONDON",
    "PARIS",
    "BERLIN",
    "GENEVA",
    "CAIRO",
];
const AGENCIES: &[&str] = &[
    "AFP", "Reuters", "AP", "APP", "PTI", "Xinhua", "Anadolu", "dpa",
];

/// splitmix64: a tiny, fast, well-distributed PRNG; determinism is all we need.
struct Rng(u64);
impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn sentence(rng: &mut Rng, out: &mut String) {
    let n = 8 + rng.below(14) as usize;
    for i in 0..n {
        let w = WORDS[rng.below(WORDS.len() as u64) as usize];
        if i == 0 {
            let mut c = w.chars();
            if let Some(f) = c.next() {
                out.extend(f.to_uppercase());
                out.push_str(c.as_str());
            }
        } else {
            out.push(' ');
            out.push_str(w);
        }
        if rng.below(12) == 0 {
            let _ = write!(out, " {}", rng.below(10_000));
        }
    }
    out.push_str(". ");
}

/// HTML body of roughly `bytes` bytes, in paragraphs.
fn body(rng: &mut Rng, bytes: usize) -> String {
    let mut out = String::with_capacity(bytes + 256);
    while out.len() < bytes {
        out.push_str("<p>");
        for _ in 0..(2 + rng.below(3)) {
            sentence(rng, &mut out);
        }
        out.push_str("</p>");
    }
    out
}

fn headline(rng: &mut Rng) -> String {
    let mut s = String::new();
    sentence(rng, &mut s);
    s.trim_end_matches(". ").to_string()
}

struct Item {
    guid: String,
    title: String,
    link: String,
    published: i64,
    html: String,
}

#[derive(Clone)]
struct Corpus {
    seed: u64,
    feeds: usize,
    items: usize,
    base: String,
}

const EPOCH: i64 = 1_740_650_000; // 2025-02-27, when the reference story ran

impl Corpus {
    /// Item `n` of feed `f`. 15 % of items are copies of wire story `w`,
    /// which several feeds carry, each with its own headline and dateline.
    fn item(&self, f: usize, n: usize) -> Item {
        let mut rng = Rng::new(self.seed ^ ((f as u64) << 32) ^ n as u64);
        let published = EPOCH + (n as i64) * 600 + rng.below(600) as i64;
        let link = format!("https://outlet{f}.example/news/{n}");
        let guid = format!("outlet{f}-{n}");
        if rng.below(100) < 15 {
            // Wire story id from a small pool per time slot so copies collide across feeds.
            let w = (n as u64) * 64 + rng.below(64);
            let mut wire = Rng::new(self.seed ^ 0xABCD ^ w);
            let size = 500 + wire.below(4500) as usize;
            let text = body(&mut wire, size);
            let agency = AGENCIES[wire.below(AGENCIES.len() as u64) as usize];
            let city = CITIES[wire.below(CITIES.len() as u64) as usize];
            let html = format!("<p>{city} ({agency}) - </p>{text}");
            return Item {
                guid,
                title: headline(&mut rng),
                link,
                published,
                html,
            };
        }
        let size = 500 + rng.below(4500) as usize;
        let html = body(&mut rng, size);
        Item {
            guid,
            title: headline(&mut rng),
            link,
            published,
            html,
        }
    }

    fn render(&self, f: usize, version: u32, extra: usize) -> String {
        let total = self.items + extra;
        // Newest first, as feeds list them; a bump adds items at the top.
        let items: Vec<Item> = (0..self.items.max(1))
            .map(|k| self.item(f, total - 1 - k))
            .collect();
        let _ = version;
        match f % 3 {
            0 => rss(f, &items),
            1 => atom(f, &items),
            _ => json(f, &items),
        }
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn rfc2822(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc2822())
        .unwrap_or_default()
}

fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339())
        .unwrap_or_default()
}

fn rss(f: usize, items: &[Item]) -> String {
    let mut s = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>Outlet {f}</title><link>https://outlet{f}.example/</link><description>Bench feed {f}</description>\n");
    for i in items {
        let _ = writeln!(s, "<item><title>{}</title><link>{}</link><guid isPermaLink=\"false\">{}</guid><pubDate>{}</pubDate><description>{}</description></item>",
            esc(&i.title), i.link, i.guid, rfc2822(i.published), esc(&i.html));
    }
    s.push_str("</channel></rss>\n");
    s
}

fn atom(f: usize, items: &[Item]) -> String {
    let mut s = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>Outlet {f}</title><id>urn:outlet:{f}</id><updated>{}</updated><link href=\"https://outlet{f}.example/\"/>\n",
        rfc3339(items.first().map_or(EPOCH, |i| i.published)));
    for i in items {
        let _ = writeln!(s, "<entry><title>{}</title><id>{}</id><link href=\"{}\"/><published>{}</published><updated>{}</updated><content type=\"html\">{}</content></entry>",
            esc(&i.title), i.guid, i.link, rfc3339(i.published), rfc3339(i.published), esc(&i.html));
    }
    s.push_str("</feed>\n");
    s
}

fn json(f: usize, items: &[Item]) -> String {
    let items: Vec<serde_json::Value> = items
        .iter()
        .map(|i| serde_json::json!({"id": i.guid, "url": i.link, "title": i.title, "date_published": rfc3339(i.published), "content_html": i.html}))
        .collect();
    serde_json::json!({"version": "https://jsonfeed.org/version/1.1", "title": format!("Outlet {f}"),
        "home_page_url": format!("https://outlet{f}.example/"), "items": items}).to_string()
}

struct App {
    corpus: Corpus,
    /// Feed → (version, extra items) after bumps.
    bumped: RwLock<HashMap<usize, (u32, usize)>>,
    bumps: RwLock<u64>,
    realworld: Vec<(String, Vec<u8>)>,
    /// Host addresses the feeds are spread over (127.0.0.1 …), one
    /// listener each on the same port: separate hosts to a scheduler.
    hosts: usize,
    port: u16,
}

type Shared = Arc<App>;

fn conditional(headers: &HeaderMap, etag: &str, last_modified: &str) -> bool {
    let inm = headers.get("if-none-match").and_then(|v| v.to_str().ok());
    let ims = headers
        .get("if-modified-since")
        .and_then(|v| v.to_str().ok());
    match (inm, ims) {
        (Some(t), _) => t == etag,
        (None, Some(d)) => d == last_modified,
        (None, None) => false,
    }
}

async fn feed(State(app): State<Shared>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let Ok(f) = id.trim_end_matches(".xml").parse::<usize>() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if f >= app.corpus.feeds {
        return StatusCode::NOT_FOUND.into_response();
    }
    let (version, extra) = app
        .bumped
        .read()
        .map(|b| b.get(&f).copied().unwrap_or((0, 0)))
        .unwrap_or((0, 0));
    let etag = format!("\"f{f}v{version}\"");
    let last_modified = rfc2822(EPOCH + 86_400 + version as i64 * 3600).replace("+0000", "GMT");
    if conditional(&headers, &etag, &last_modified) {
        return (StatusCode::NOT_MODIFIED, [("etag", etag)]).into_response();
    }
    let ct = match f % 3 {
        0 => "application/rss+xml; charset=utf-8",
        1 => "application/atom+xml; charset=utf-8",
        _ => "application/feed+json",
    };
    let body = app.corpus.render(f, version, extra);
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static(ct));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert("etag", v);
    }
    if let Ok(v) = HeaderValue::from_str(&last_modified) {
        h.insert("last-modified", v);
    }
    r
}

async fn realworld_feed(
    State(app): State<Shared>,
    Path(k): Path<usize>,
    headers: HeaderMap,
) -> Response {
    let Some((_, bytes)) = app.realworld.get(k) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let etag = format!("\"rw{k}\"");
    if conditional(&headers, &etag, "") {
        return (StatusCode::NOT_MODIFIED, [("etag", etag)]).into_response();
    }
    (StatusCode::OK, [("etag", etag)], bytes.clone()).into_response()
}

async fn bump(State(app): State<Shared>, Query(q): Query<HashMap<String, String>>) -> String {
    let pct: u64 = q.get("pct").and_then(|v| v.parse().ok()).unwrap_or(10);
    let new: usize = q.get("new").and_then(|v| v.parse().ok()).unwrap_or(5);
    let round = {
        let mut b = app.bumps.write().expect("lock");
        *b += 1;
        *b
    };
    let mut rng = Rng::new(app.corpus.seed ^ 0xB0B0 ^ round);
    let mut bumped = app.bumped.write().expect("lock");
    let mut count = 0;
    for f in 0..app.corpus.feeds {
        if rng.below(100) < pct {
            let e = bumped.entry(f).or_insert((0, 0));
            e.0 += 1;
            e.1 += new;
            count += 1;
        }
    }
    format!("bumped {count} feeds\n")
}

async fn urls(State(app): State<Shared>, Query(q): Query<HashMap<String, String>>) -> String {
    let n: usize = q
        .get("n")
        .and_then(|v| v.parse().ok())
        .unwrap_or(app.corpus.feeds)
        .min(app.corpus.feeds);
    let realworld = q.contains_key("realworld");
    let mut s = String::new();
    if realworld {
        for k in 0..app.realworld.len() {
            let _ = writeln!(s, "{}/rw/{k}", app.corpus.base);
        }
    } else {
        for f in 0..n {
            if app.hosts > 1 {
                let _ = writeln!(s, "http://127.0.0.{}:{}/f/{f}", f % app.hosts + 1, app.port);
            } else {
                let _ = writeln!(s, "{}/f/{f}", app.corpus.base);
            }
        }
    }
    s
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let feeds = arg(&args, "--feeds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let items = arg(&args, "--items")
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let seed = arg(&args, "--seed")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let port: u16 = arg(&args, "--port")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let realworld = arg(&args, "--realworld")
        .map(|list| {
            let text = std::fs::read_to_string(&list).unwrap_or_default();
            text.lines()
                .filter_map(|p| std::fs::read(p).ok().map(|b| (p.to_string(), b)))
                .collect()
        })
        .unwrap_or_default();
    let hosts: usize = arg(&args, "--hosts")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .clamp(1, 254);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("local address");
    let port = addr.port();
    let base = format!("http://{addr}");
    let app = Arc::new(App {
        corpus: Corpus {
            seed,
            feeds,
            items,
            base: base.clone(),
        },
        bumped: RwLock::new(HashMap::new()),
        bumps: RwLock::new(0),
        realworld,
        hosts,
        port,
    });
    let router = Router::new()
        .route("/f/{id}", get(feed))
        .route("/rw/{k}", get(realworld_feed))
        .route("/_bump", post(bump))
        .route("/_urls", get(urls))
        .with_state(app);
    for h in 2..=hosts {
        let ip = std::net::Ipv4Addr::new(127, 0, 0, h as u8);
        let extra = tokio::net::TcpListener::bind((ip, port))
            .await
            .expect("bind another loopback address");
        let router = router.clone();
        tokio::spawn(async move { axum::serve(extra, router).await });
    }
    println!("listening on {base}");
    axum::serve(listener, router).await.expect("serve");
}
