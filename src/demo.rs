//! `feedfold demo`: a few bundled sample feeds served on loopback, so that a
//! newcomer sees folding work in seconds without the internet.
//!
//! The samples (`src/demo/`) are text written for feedfold, not any
//! outlet's: an agency wire story carried by a national agency (cut to its
//! lede, its own dateline and headline), a news site (its own dateline,
//! title-cased headline and footer) and a newspaper (JSON Feed, a credit
//! line at the end), plus stories of their own. They cover RSS, Atom and
//! JSON Feed.
//!
//! HTTP lives in `fetch` everywhere else; this module serves (it never
//! fetches), like a test fixture shipped in the binary, so it keeps its tiny
//! server to itself instead of making `fetch` a server too.

use std::net::{Ipv4Addr, SocketAddr};

use axum::http::header;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One bundled sample feed.
pub struct Sample {
    /// Path on the demo server.
    pub path: &'static str,
    /// Content-Type it is served with.
    pub content_type: &'static str,
    /// The document.
    pub body: &'static str,
}

/// The sample feeds: the agency first (its copy is the earliest, so it is
/// the canonical one).
pub const SAMPLES: &[Sample] = &[
    Sample {
        path: "/afp.xml",
        content_type: "application/rss+xml",
        body: include_str!("demo/afp.xml"),
    },
    Sample {
        path: "/app.xml",
        content_type: "application/rss+xml",
        body: include_str!("demo/app.xml"),
    },
    Sample {
        path: "/urdupoint.atom",
        content_type: "application/atom+xml",
        body: include_str!("demo/urdupoint.atom"),
    },
    Sample {
        path: "/ledger.json",
        content_type: "application/feed+json",
        body: include_str!("demo/ledger.json"),
    },
];

/// Serves [`SAMPLES`] on 127.0.0.1 at a port the system picks, on a task
/// that runs until aborted. Returns the address.
pub async fn serve() -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let app = SAMPLES.iter().fold(Router::new(), |app, s| {
        app.route(
            s.path,
            get(move || async move { ([(header::CONTENT_TYPE, s.content_type)], s.body) }),
        )
    });
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("demo server stopped: {e}");
        }
    });
    Ok((addr, task))
}

/// A config listing the sample feeds served at `addr`, polled as one pass.
pub fn config_text(addr: SocketAddr) -> String {
    SAMPLES
        .iter()
        .map(|s| format!("[[feed]]\nurl = \"http://{addr}{}\"\n", s.path))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_parses_with_the_agency_story_in_each() {
        for s in SAMPLES {
            let parsed = feed_rs::parser::parse(s.body.as_bytes())
                .unwrap_or_else(|e| panic!("{}: {e}", s.path));
            assert!(parsed.entries.len() >= 2, "{}", s.path);
            assert!(
                s.body
                    .contains("Officials from five Black Sea states agreed on Wednesday"),
                "{}",
                s.path
            );
        }
    }
}
