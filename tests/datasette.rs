//! Datasette against a populated database, the way docs/SCHEMA.md says to
//! run it: every canned query of docs/datasette/metadata.json answers over
//! HTTP with rows, and the public views are browsable. CI installs Datasette
//! from PyPI (.ci/run) and points `FEEDFOLD_DATASETTE` at it; elsewhere the
//! test runs when `datasette` is on the PATH.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::newsroom::Newsroom;

fn datasette() -> Option<PathBuf> {
    let candidates = std::env::var_os("FEEDFOLD_DATASETTE")
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from("datasette")]);
    for c in candidates {
        let works = Command::new(&c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if works {
            return Some(c);
        }
    }
    None
}

/// Kills the server when the test ends, pass or fail.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn get_json(client: &reqwest::Client, url: &str) -> serde_json::Value {
    let response = client
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status();
    let body = response.text().await.expect("body");
    assert!(status.is_success(), "GET {url}: {status}\n{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: {e}\n{body}"))
}

#[tokio::test]
async fn datasette_serves_the_canned_queries_over_http() {
    let Some(datasette) = datasette() else {
        common::skip(
            "datasette is not installed (.ci/run installs it and sets FEEDFOLD_DATASETTE)",
        );
        return;
    };
    let room = Newsroom::start(30, "");
    room.poll();
    let metadata = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/datasette/metadata.json");
    let port = free_port();
    let server = Server(
        Command::new(&datasette)
            .arg("serve")
            .arg(room.db())
            .arg("--metadata")
            .arg(&metadata)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start datasette"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while client
        .get(format!("{base}/-/versions.json"))
        .send()
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "datasette did not start in 60 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&metadata).expect("read metadata"))
            .expect("metadata JSON");
    let queries = meta["databases"]["feedfold"]["queries"]
        .as_object()
        .expect("canned queries");
    let story_id = room
        .conn()
        .query_row(
            "SELECT story_id FROM stories ORDER BY source_count DESC LIMIT 1",
            [],
            |r| r.get::<_, i64>(0),
        )
        .expect("a story");
    for name in queries.keys() {
        let url = format!(
            "{base}/feedfold/{name}.json?_shape=array&story_id={story_id}&q=embassy%20talks"
        );
        let rows = get_json(&client, &url).await;
        let rows = rows.as_array().unwrap_or_else(|| panic!("{name}: {rows}"));
        assert!(!rows.is_empty(), "canned query {name} returned no rows");
    }
    // The lineage query returns the story's copies, canonical first.
    let lineage = get_json(
        &client,
        &format!("{base}/feedfold/story_lineage.json?_shape=array&story_id={story_id}"),
    )
    .await;
    let relations: Vec<&str> = lineage
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["relation"].as_str().expect("relation"))
        .collect();
    assert!(relations.len() >= 3, "{relations:?}");
    assert_eq!(relations.iter().filter(|r| **r == "canonical").count(), 1);
    // The views browse like tables, with the documented descriptions.
    let stories = get_json(
        &client,
        &format!("{base}/feedfold/stories.json?_shape=array"),
    )
    .await;
    assert!(!stories.as_array().expect("rows").is_empty());
    let page = client
        .get(format!("{base}/feedfold/stories"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("one row per canonical story"),
        "table description missing"
    );
    drop(server);
}
