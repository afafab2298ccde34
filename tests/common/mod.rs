//! Test support: a real HTTP server on 127.0.0.1 (port 0) serving fixture
//! feeds, a config writer, and helpers to run the `feedfold` binary.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, Request, Response, StatusCode};
use chrono::{DateTime, Utc};

/// What the server answers on one path.
#[derive(Clone, Debug)]
pub struct Route {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When set, the route answers conditional GETs: 304 if If-None-Match matches.
    pub etag: Option<String>,
    /// When set, sent as Last-Modified, and a matching If-Modified-Since gets 304.
    pub last_modified: Option<String>,
    /// Wait this long before answering (slow headers, or to overlap requests).
    pub delay: Option<Duration>,
    /// How the body is sent.
    pub delivery: Delivery,
}

/// How a route sends its body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Delivery {
    /// All at once.
    #[default]
    Whole,
    /// One byte per interval.
    Trickle(Duration),
    /// The body repeated forever (chunked, no end).
    Endless,
    /// Content-Length of the whole body, but the connection closes after this many bytes.
    CutAfter(usize),
}

impl Route {
    pub fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Route {
        Route {
            status: 200,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
            etag: None,
            last_modified: None,
            delay: None,
            delivery: Delivery::Whole,
        }
    }

    pub fn status(status: u16) -> Route {
        Route {
            status,
            headers: vec![],
            body: Vec::new(),
            etag: None,
            last_modified: None,
            delay: None,
            delivery: Delivery::Whole,
        }
    }

    pub fn redirect(status: u16, to: &str) -> Route {
        Route {
            status,
            headers: vec![("location".into(), to.into())],
            body: Vec::new(),
            etag: None,
            last_modified: None,
            delay: None,
            delivery: Delivery::Whole,
        }
    }

    pub fn with_etag(mut self, etag: &str) -> Route {
        self.etag = Some(etag.to_string());
        self
    }

    pub fn with_last_modified(mut self, date: &str) -> Route {
        self.last_modified = Some(date.to_string());
        self
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Route {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn with_delay(mut self, delay: Duration) -> Route {
        self.delay = Some(delay);
        self
    }

    pub fn with_delivery(mut self, delivery: Delivery) -> Route {
        self.delivery = delivery;
        self
    }
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub status: u16,
    /// When the request arrived.
    pub at: Instant,
}

#[derive(Default)]
struct State {
    routes: HashMap<String, Route>,
    seen: Vec<Seen>,
    /// Requests being answered now, per Host header (without port).
    in_flight: HashMap<String, usize>,
    /// The most requests answered at once, per Host header (without port).
    max_in_flight: HashMap<String, usize>,
    /// Paths of requests as they arrive (before any delay).
    arrived: Vec<String>,
    /// How long the server waits before answering a path.
    delays: HashMap<String, std::time::Duration>,
}

/// Serves every request with `handler` on 127.0.0.1 (a free port), from a
/// thread and runtime of its own; returns the address. [`Server`] is this
/// with fixed routes; a test whose answers change over time brings its own
/// handler.
pub fn serve<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(Request<Body>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<Body>> + Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("test runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr"))
                .expect("send addr");
            let app = axum::Router::new().fallback(handler);
            axum::serve(listener, app).await.expect("serve");
        });
    });
    rx.recv().expect("server address")
}

/// A loopback HTTP server running on its own thread and runtime.
pub struct Server {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl Server {
    pub fn start() -> Server {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let addr = serve(move |req: Request<Body>| {
            let state = shared.clone();
            async move { answer_slowly(&state, req).await }
        });
        Server { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn route(&self, path: &str, route: Route) {
        self.state
            .lock()
            .expect("lock")
            .routes
            .insert(path.to_string(), route);
    }

    /// Makes the server wait `delay` before answering `path` (a slow feed).
    pub fn delay(&self, path: &str, delay: std::time::Duration) {
        self.state
            .lock()
            .expect("lock")
            .delays
            .insert(path.to_string(), delay);
    }

    /// How many requests for `path` have arrived, answered or not.
    pub fn arrived(&self, path: &str) -> usize {
        self.state
            .lock()
            .expect("lock")
            .arrived
            .iter()
            .filter(|p| *p == path)
            .count()
    }

    pub fn seen(&self, path: &str) -> Vec<Seen> {
        self.state
            .lock()
            .expect("lock")
            .seen
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }
}

/// The most requests to `host` (a Host header without port) answered at once.
impl Server {
    pub fn max_in_flight(&self, host: &str) -> usize {
        self.state
            .lock()
            .expect("lock")
            .max_in_flight
            .get(host)
            .copied()
            .unwrap_or(0)
    }

    /// Every request seen, in arrival order.
    pub fn all_seen(&self) -> Vec<Seen> {
        self.state.lock().expect("lock").seen.clone()
    }

    /// The same server under another host name (`localhost` also reaches
    /// 127.0.0.1): a second "host" for per-host politeness tests.
    pub fn url_as(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{}", self.addr.port(), path)
    }
}

async fn answer_slowly(state: &Arc<Mutex<State>>, req: Request<Body>) -> Response<Body> {
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(|h| h.rsplit_once(':').map_or(h, |(name, _)| name).to_string())
        .unwrap_or_default();
    let (before, after) = {
        let mut st = state.lock().expect("lock");
        let n = st.in_flight.entry(host.clone()).or_default();
        *n += 1;
        let n = *n;
        let max = st.max_in_flight.entry(host.clone()).or_default();
        *max = (*max).max(n);
        let path = req.uri().path().to_string();
        let before = st.delays.get(&path).copied();
        let after = st.routes.get(&path).and_then(|r| r.delay);
        st.arrived.push(path);
        (before, after)
    };
    // `Server::delay` waits before answering (the request is not `seen`
    // yet); `Route::with_delay` answers, then holds the response back.
    if let Some(d) = before {
        tokio::time::sleep(d).await;
    }
    let response = answer(state, req);
    if let Some(d) = after {
        tokio::time::sleep(d).await;
    }
    if let Some(n) = state.lock().expect("lock").in_flight.get_mut(&host) {
        *n -= 1;
    }
    response
}

fn stream_body(body: Vec<u8>, delivery: &Delivery) -> Body {
    use futures::StreamExt;
    type Chunk = Result<Vec<u8>, std::io::Error>;
    match delivery {
        Delivery::Whole => Body::from(body),
        Delivery::Trickle(every) => {
            let every = *every;
            let s = futures::stream::iter(body).then(move |b| async move {
                tokio::time::sleep(every).await;
                Ok::<_, std::io::Error>(vec![b])
            });
            Body::from_stream(s)
        }
        Delivery::Endless => {
            let chunk = if body.is_empty() {
                vec![b' '; 64 * 1024]
            } else {
                body
            };
            Body::from_stream(futures::stream::repeat_with(move || {
                Ok::<_, std::io::Error>(chunk.clone())
            }))
        }
        Delivery::CutAfter(n) => {
            let head = body[..(*n).min(body.len())].to_vec();
            // Send the head, give it time to leave, then drop the connection.
            let s = futures::stream::iter([0u8, 1]).then(move |i| {
                let head = head.clone();
                async move {
                    if i == 0 {
                        return Ok(head);
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "cut",
                    ))
                }
            });
            Body::from_stream(s.map(|c: Chunk| c))
        }
    }
}

fn answer(state: &Mutex<State>, req: Request<Body>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let headers: HashMap<String, String> = header_map(req.headers());
    let mut state = state.lock().expect("lock");
    let route = state.routes.get(&path).cloned();
    let (status, response) = match route {
        None => (
            404,
            builder(404)
                .body(Body::from("not found"))
                .expect("response"),
        ),
        Some(r) => {
            let not_modified = r
                .etag
                .as_ref()
                .is_some_and(|e| headers.get("if-none-match") == Some(e))
                || r.last_modified
                    .as_ref()
                    .is_some_and(|d| headers.get("if-modified-since") == Some(d));
            let status = if not_modified { 304 } else { r.status };
            let mut b = builder(status);
            for (k, v) in &r.headers {
                b = b.header(k, v);
            }
            if let Some(e) = &r.etag {
                b = b.header("etag", e);
            }
            if let (Some(d), false) = (&r.last_modified, not_modified) {
                b = b.header("last-modified", d);
            }
            if not_modified {
                (status, b.body(Body::empty()).expect("response"))
            } else {
                if let Delivery::CutAfter(_) = r.delivery {
                    b = b.header("content-length", r.body.len().to_string());
                }
                (
                    status,
                    b.body(stream_body(r.body.clone(), &r.delivery))
                        .expect("response"),
                )
            }
        }
    };
    state.seen.push(Seen {
        path,
        headers,
        status,
        at: Instant::now(),
    });
    response
}

fn builder(status: u16) -> axum::http::response::Builder {
    Response::builder().status(StatusCode::from_u16(status).expect("status"))
}

fn header_map(h: &HeaderMap) -> HashMap<String, String> {
    h.iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect()
}

/// A temporary folder with a config file in it.
pub struct Setup {
    pub dir: tempfile::TempDir,
}

impl Setup {
    /// Writes a config listing `feeds` (URL, optional title).
    pub fn new(feeds: &[(&str, Option<&str>)]) -> Setup {
        Setup::with_poll(feeds, "")
    }

    /// Like [`Setup::new`], with more `[poll]` lines (e.g. `per_host = 8`).
    pub fn with_poll(feeds: &[(&str, Option<&str>)], poll: &str) -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut text =
            format!("database = \"ff.db\"\n[poll]\ninterval = \"30m\"\nconcurrency = 4\n{poll}\n");
        for (url, title) in feeds {
            text.push_str(&format!("[[feed]]\nurl = \"{url}\"\n"));
            if let Some(t) = title {
                text.push_str(&format!("title = \"{t}\"\n"));
            }
        }
        std::fs::write(dir.path().join("feedfold.toml"), text).expect("write config");
        Setup { dir }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("feedfold.toml")
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("ff.db")
    }

    /// Runs `feedfold -c CONFIG args…`.
    pub fn run(&self, args: &[&str]) -> Output {
        feedfold(&self.config(), args)
    }

    /// Runs a command that must succeed and returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "feedfold {args:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs a `poll` in which every feed must fail: exit code 1 (so that a
    /// timer unit notices), the summary still on stdout.
    pub fn poll_all_failing(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "feedfold {args:?} should fail: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    pub fn sql<T: rusqlite::types::FromSql>(&self, sql: &str) -> T {
        let conn = rusqlite::Connection::open(self.db()).expect("open db");
        conn.query_row(sql, [], |r| r.get(0)).expect(sql)
    }

    pub fn json_lines(&self, args: &[&str]) -> Vec<serde_json::Value> {
        self.ok(args)
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect()
    }
}

pub fn feedfold(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_feedfold"))
        .arg("-c")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "warn")
        // Tables wrap to $COLUMNS; tests read whole rows.
        .env_remove("COLUMNS")
        .output()
        .expect("run feedfold")
}

/// Whether the tests run under CI (`CI` set, as `.ci/run` and CI services
/// set it): there, everything a test needs must be present.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Gives up on a test that cannot run here: says why, or fails under CI,
/// where a missing folder or right would otherwise pass unnoticed. The
/// caller returns right after.
pub fn skip(why: &str) {
    assert!(!under_ci(), "cannot run under CI: {why}");
    eprintln!("skipped: {why}");
}

/// `../shared/REL`, the read-only test data beside this checkout; `None`
/// (the test [`skip`]s) when it is not there.
pub fn require_shared(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(rel);
    if p.exists() {
        return Some(p);
    }
    skip(&format!("../shared/{rel} is not beside this checkout"));
    None
}

/// Waits up to `within` for `done`, failing with `what` past it.
pub fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what} within {within:?}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One feed item for [`rss`] and [`atom`], built field by field from
/// plain defaults: `Item::new("g1").title("Talks resume").html("<p>…</p>")`.
#[derive(Clone, Debug)]
pub struct Item {
    pub guid: String,
    pub title: String,
    pub link: String,
    pub published: DateTime<Utc>,
    /// The description (RSS) or content (Atom), as HTML.
    pub html: String,
}

impl Item {
    /// An item titled "GUID item", linked at `https://example.org/GUID`,
    /// published Thu, 27 Feb 2025 10:00:00 GMT, reading `<p>text</p>`.
    pub fn new(guid: &str) -> Item {
        Item {
            guid: guid.to_string(),
            title: format!("{guid} item"),
            link: format!("https://example.org/{guid}"),
            published: "2025-02-27T10:00:00Z".parse().expect("date"),
            html: "<p>text</p>".to_string(),
        }
    }

    pub fn title(mut self, title: &str) -> Item {
        self.title = title.to_string();
        self
    }

    pub fn link(mut self, link: &str) -> Item {
        self.link = link.to_string();
        self
    }

    /// Publication time as RFC 3339 (`2025-02-27T10:00:00Z`) or RFC 2822.
    pub fn published(mut self, date: &str) -> Item {
        self.published = DateTime::parse_from_rfc3339(date)
            .or_else(|_| DateTime::parse_from_rfc2822(date))
            .unwrap_or_else(|e| panic!("{date}: {e}"))
            .with_timezone(&Utc);
        self
    }

    pub fn published_at(mut self, at: DateTime<Utc>) -> Item {
        self.published = at;
        self
    }

    pub fn html(mut self, html: &str) -> Item {
        self.html = html.to_string();
        self
    }
}

/// An RSS feed titled `title` of one item, `Item::new(guid)` titled
/// "TITLE item".
pub fn one_item(title: &str, guid: &str) -> String {
    rss(title, &[Item::new(guid).title(&format!("{title} item"))])
}

/// An RSS 2.0 document of `items`.
pub fn rss(title: &str, items: &[Item]) -> String {
    let mut s = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>{}</title><link>https://example.org/</link>\n", xml_escape(title));
    for i in items {
        s.push_str(&format!(
            "<item><guid isPermaLink=\"false\">{}</guid><title>{}</title><link>{}</link><pubDate>{}</pubDate><description>{}</description></item>\n",
            xml_escape(&i.guid), xml_escape(&i.title), xml_escape(&i.link), i.published.to_rfc2822(), xml_escape(&i.html)
        ));
    }
    s.push_str("</channel></rss>\n");
    s
}

/// An Atom document of `items`.
pub fn atom(title: &str, items: &[Item]) -> String {
    let mut s = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>{}</title><id>urn:test:{}</id><updated>2025-02-27T12:00:00Z</updated>\n", xml_escape(title), xml_escape(title));
    for i in items {
        let date = i.published.to_rfc3339();
        s.push_str(&format!(
            "<entry><id>{}</id><title>{}</title><link href=\"{}\"/><published>{date}</published><updated>{date}</updated><content type=\"html\">{}</content></entry>\n",
            xml_escape(&i.guid), xml_escape(&i.title), xml_escape(&i.link), xml_escape(&i.html)
        ));
    }
    s.push_str("</feed>\n");
    s
}
pub mod daemon;
pub mod newsroom;
pub mod pg;

// Not every test file starts a daemon.
#[allow(unused_imports)]
pub use daemon::Daemon;
