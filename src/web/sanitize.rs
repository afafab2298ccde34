//! Feed HTML is hostile: every piece of it passes through `ammonia` before
//! it reaches a page or an outgoing feed.

use std::collections::HashSet;

use ammonia::{Builder, UrlRelative};

/// Link schemes kept; anything else (`javascript:`, `data:`, `vbscript:`)
/// loses its link.
const SCHEMES: &[&str] = &["http", "https", "mailto"];

/// `html` made safe to show: no script, no style, no event handlers, no
/// forms or frames, links only to [`SCHEMES`] (opening without a referrer).
/// Relative links resolve against `base` (the copy's own link), since on
/// feedfold's pages they would point at feedfold; without a base they go.
pub fn clean(html: &str, base: Option<&str>) -> String {
    let mut b = Builder::default();
    b.url_schemes(SCHEMES.iter().copied().collect::<HashSet<_>>())
        .link_rel(Some("noopener noreferrer nofollow"));
    match base.and_then(|u| url::Url::parse(u).ok()) {
        Some(base) => b.url_relative(UrlRelative::RewriteWithBase(base)),
        None => b.url_relative(UrlRelative::Deny),
    };
    b.clean(html).to_string()
}

/// `url` when it is an absolute `http`/`https` URL, the only links feedfold
/// puts in its own markup (a feed's `<link>` may hold `javascript:`).
pub fn safe_url(url: &str) -> Option<&str> {
    let parsed = url::Url::parse(url).ok()?;
    matches!(parsed.scheme(), "http" | "https").then_some(url)
}

/// Drops the characters XML 1.0 cannot carry (most C0 controls, lone
/// surrogates cannot occur in a `str`, U+FFFE/U+FFFF), which a feed may
/// have sent and an XML parser would refuse.
pub fn xml_chars(s: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}');
    if s.chars().any(bad) {
        s.chars().filter(|&c| !bad(c)).collect::<String>().into()
    } else {
        s.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_markup_is_made_inert() {
        let html = r#"<p onclick="x()">Hi<script>document.title='pwned'</script>
            <img src="x.png" onerror="alert(1)"><a href="javascript:alert(1)">j</a>
            <style>body{display:none}</style><a href="/rel">r</a></p>"#;
        let out = clean(html, Some("https://outlet.example/news/1"));
        for bad in [
            "script",
            "onerror",
            "onclick",
            "javascript:",
            "style",
            "display:none",
        ] {
            assert!(!out.contains(bad), "{bad} in {out}");
        }
        assert!(out.contains("https://outlet.example/rel"), "{out}");
        assert!(out.contains("https://outlet.example/news/x.png"), "{out}");
        assert!(out.contains("Hi"), "{out}");
        assert!(!clean("<a href=\"/rel\">r</a>", None).contains("href"));
    }

    #[test]
    fn only_web_links_are_linked() {
        assert_eq!(safe_url("https://a.example/x"), Some("https://a.example/x"));
        assert_eq!(safe_url("javascript:alert(1)"), None);
        assert_eq!(safe_url("/relative"), None);
    }

    #[test]
    fn control_characters_go() {
        assert_eq!(xml_chars("a\u{1}b\tc\u{ffff}"), "ab\tc");
        assert!(matches!(xml_chars("plain"), std::borrow::Cow::Borrowed(_)));
    }
}
