//! Test support: a real HTTP server on 127.0.0.1 (port 0) serving fixture
//! feeds, a config writer, and helpers to run the `feedfold` binary.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, Request, Response, StatusCode};

/// What the server answers on one path.
#[derive(Clone, Debug)]
pub struct Route {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When set, the route answers conditional GETs: 304 if If-None-Match matches.
    pub etag: Option<String>,
}

impl Route {
    pub fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Route {
        Route {
            status: 200,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
            etag: None,
        }
    }

    pub fn status(status: u16) -> Route {
        Route {
            status,
            headers: vec![],
            body: Vec::new(),
            etag: None,
        }
    }

    pub fn redirect(status: u16, to: &str) -> Route {
        Route {
            status,
            headers: vec![("location".into(), to.into())],
            body: Vec::new(),
            etag: None,
        }
    }

    pub fn with_etag(mut self, etag: &str) -> Route {
        self.etag = Some(etag.to_string());
        self
    }
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub status: u16,
}

#[derive(Default)]
struct State {
    routes: HashMap<String, Route>,
    seen: Vec<Seen>,
    /// Paths of requests as they arrive (before any delay).
    arrived: Vec<String>,
    /// How long the server waits before answering a path.
    delays: HashMap<String, std::time::Duration>,
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
                let app = axum::Router::new().fallback(move |req: Request<Body>| {
                    let state = shared.clone();
                    async move {
                        let delay = {
                            let mut s = state.lock().expect("lock");
                            let path = req.uri().path().to_string();
                            let delay = s.delays.get(&path).copied();
                            s.arrived.push(path);
                            delay
                        };
                        if let Some(d) = delay {
                            tokio::time::sleep(d).await;
                        }
                        answer(&state, req)
                    }
                });
                axum::serve(listener, app).await.expect("serve");
            });
        });
        let addr = rx.recv().expect("server address");
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
                .is_some_and(|e| headers.get("if-none-match") == Some(e));
            let status = if not_modified { 304 } else { r.status };
            let mut b = builder(status);
            for (k, v) in &r.headers {
                b = b.header(k, v);
            }
            if let Some(e) = &r.etag {
                b = b.header("etag", e);
            }
            let body = if not_modified {
                Vec::new()
            } else {
                r.body.clone()
            };
            (status, b.body(Body::from(body)).expect("response"))
        }
    };
    state.seen.push(Seen {
        path,
        headers,
        status,
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
        let dir = tempfile::tempdir().expect("tempdir");
        let mut text =
            String::from("database = \"ff.db\"\n[poll]\ninterval = \"30m\"\nconcurrency = 4\n");
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
        .output()
        .expect("run feedfold")
}

/// `../shared/dedup/seed/…` if this checkout has the shared folder beside it.
pub fn shared(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(rel);
    p.exists().then_some(p)
}

pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An RSS 2.0 document with (guid, title, link, pubDate RFC 2822, html description) items.
pub fn rss(title: &str, items: &[(&str, &str, &str, &str, &str)]) -> String {
    let mut s = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>{}</title><link>https://example.org/</link>\n", xml_escape(title));
    for (guid, t, link, date, html) in items {
        s.push_str(&format!(
            "<item><guid isPermaLink=\"false\">{}</guid><title>{}</title><link>{}</link><pubDate>{}</pubDate><description>{}</description></item>\n",
            xml_escape(guid), xml_escape(t), xml_escape(link), date, xml_escape(html)
        ));
    }
    s.push_str("</channel></rss>\n");
    s
}

/// An Atom document with (id, title, link, updated RFC 3339, html content) entries.
pub fn atom(title: &str, entries: &[(&str, &str, &str, &str, &str)]) -> String {
    let mut s = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>{}</title><id>urn:test:{}</id><updated>2025-02-27T12:00:00Z</updated>\n", xml_escape(title), xml_escape(title));
    for (id, t, link, date, html) in entries {
        s.push_str(&format!(
            "<entry><id>{}</id><title>{}</title><link href=\"{}\"/><published>{date}</published><updated>{date}</updated><content type=\"html\">{}</content></entry>\n",
            xml_escape(id), xml_escape(t), xml_escape(link), xml_escape(html)
        ));
    }
    s.push_str("</feed>\n");
    s
}
pub mod newsroom;
