//! Memory stays bounded against hostile servers: endless bodies and gzip
//! bombs that would each need hundreds of megabytes if read whole. The
//! bound is the body cap (10 MiB, counted after decompression) times the
//! fetches in flight. This is a safety check, not a measurement: it only
//! asserts that the peak stays far below what an unbounded read would take.
//! Its own test binary, so that the peak RSS of waited-for children
//! (`getrusage(RUSAGE_CHILDREN)`) covers only the feedfold run below.

mod common;

use std::io::Write;

use common::{rss, Delivery, Item, Route, Server, Setup};

#[test]
fn endless_bodies_and_gzip_bombs_keep_memory_bounded() {
    let server = Server::start();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..128 {
        gz.write_all(&zeros).expect("gzip");
    }
    let bomb = gz.finish().expect("gzip");
    let mut urls = Vec::new();
    for i in 0..4 {
        let endless = format!("/endless{i}");
        server.route(
            &endless,
            Route::ok("application/rss+xml", "<!-- more -->".repeat(5000))
                .with_delivery(Delivery::Endless),
        );
        let gzip = format!("/bomb{i}");
        server.route(
            &gzip,
            Route::ok("application/rss+xml", bomb.clone()).with_header("content-encoding", "gzip"),
        );
        urls.push(server.url(&endless));
        urls.push(server.url(&gzip));
    }
    let good = rss(
        "Good",
        &[Item::new("g1")
            .title("Fine")
            .link("https://example.org/g1")
            .html("<p>x</p>")],
    );
    server.route("/good", Route::ok("application/rss+xml", good));
    urls.push(server.url("/good"));
    let list: Vec<(&str, Option<&str>)> = urls.iter().map(|u| (u.as_str(), None)).collect();
    let setup = Setup::with_poll(&list, "per_host = 8\ntimeout = \"20s\"");

    let out = setup.ok(&["poll"]);
    assert!(out.contains("1 ok, 8 failed"), "{out}");
    let rows = setup.json_lines(&["feeds", "--json"]);
    for r in &rows {
        if r["url"].as_str().is_some_and(|u| !u.ends_with("/good")) {
            let e = r["last_error"].as_str().unwrap_or_default();
            assert!(e.contains("larger than the 10485760-byte limit"), "{e}");
        }
    }

    // SAFETY: getrusage only writes into the struct we pass.
    let peak_kib = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage), 0);
        usage.ru_maxrss
    };
    let peak_mib = peak_kib / 1024;
    eprintln!("peak RSS of feedfold: {peak_mib} MiB");
    // 4 fetches in flight × a 10 MiB cap (vector growth up to 16 MiB each)
    // plus the runtime: well under 160 MiB. Reading whole bodies would take
    // 4 × 128 MiB for the bombs alone, and the endless bodies have no end.
    assert!(peak_mib < 160, "peak RSS {peak_mib} MiB");
}
