//! The SSRF guard end to end: with `[fetch] allow_private_networks = false`,
//! a feed listed on a loopback address (by number or by name) is refused
//! with a clear error and the other feeds carry on; by default (true) it is
//! fetched. (A redirect from a
//! public address to a private one cannot be staged on loopback; the address
//! rules are unit-tested in `src/fetch/guard.rs`.)

mod common;

use common::{rss, Item, Route, Server, Setup};

fn feed() -> String {
    rss(
        "Local",
        &[Item::new("l-1")
            .title("Local item")
            .link("https://l.example/1")
            .html("<p>local</p>")],
    )
}

/// Polls `url` with `allow_private_networks = false`, expecting a refusal;
/// returns the feed's error.
fn refused_poll(url: &str) -> String {
    let refused = Setup::new(&[(url, None)]);
    let mut text = std::fs::read_to_string(refused.config()).expect("config");
    text.push_str("\n[fetch]\nallow_private_networks = false\n");
    std::fs::write(refused.config(), text).expect("write config");
    let out = refused.poll_all_failing(&["poll"]);
    assert!(out.contains("0 ok, 1 failed"), "{out}");
    let rows = refused.json_lines(&["feeds", "--json"]);
    rows[0]["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn private_feeds_are_refused_only_when_the_admin_says_so() {
    let server = Server::start();
    server.route("/feed", Route::ok("application/rss+xml", feed()));
    let url = server.url("/feed");

    let allowed = Setup::new(&[(&url, None)]);
    assert!(allowed.ok(&["poll"]).contains("1 ok, 0 failed"));

    let error = refused_poll(&url);
    assert!(
        error.contains("refused") && error.contains("allow_private_networks"),
        "{error}"
    );
    // Refused before any request was sent.
    assert_eq!(server.seen("/feed").len(), 1);
}

/// A feed named by a host name is checked on the addresses the name
/// resolves to, and fetched through the client's resolver, which answers
/// from that check. (That the connection uses the checked addresses, not a
/// fresh DNS answer, is unit-tested in `src/fetch/guard.rs`: loopback cannot
/// stage a DNS answer that changes.)
#[test]
fn a_named_host_is_checked_on_its_addresses_and_fetched() {
    let server = Server::start();
    server.route("/feed", Route::ok("application/rss+xml", feed()));
    let url = server.url_as("localhost", "/feed");

    let allowed = Setup::new(&[(&url, None)]);
    assert!(allowed.ok(&["poll"]).contains("1 ok, 0 failed"));
    assert_eq!(server.seen("/feed").len(), 1);

    let error = refused_poll(&url);
    assert!(error.contains("localhost is a loopback"), "{error}");
    assert_eq!(server.seen("/feed").len(), 1, "refused before any request");
}
