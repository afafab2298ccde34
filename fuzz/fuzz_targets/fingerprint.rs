//! The fingerprinter: two texts get the same fingerprint exactly when they
//! normalise to the same text, and the stored (SQLite) form round-trips.
#![no_main]

use feedfold::dedup::{self, Fingerprint};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, &str, &str)| {
    let (title, body_a, body_b) = input;
    let a = dedup::analyze(Some(title), Some(body_a));
    let b = dedup::analyze(Some(title), Some(body_b));
    assert_eq!(
        a.text == b.text,
        a.exact == b.exact,
        "fingerprints agree with texts: {:?} / {:?}",
        a.text,
        b.text
    );
    assert_eq!(Fingerprint::from_sql(a.exact.to_sql()), a.exact);
    // The same words with different markup around them fold together.
    let marked = dedup::analyze(Some(title), Some(&format!("<p>{}</p>", html_escape(body_a))));
    let plain = dedup::analyze(Some(title), Some(&html_escape(body_a)));
    assert_eq!(marked.exact == plain.exact, marked.text == plain.text);
});

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
