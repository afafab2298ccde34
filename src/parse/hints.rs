//! How often a feed says it changes, from the document itself: RSS `<ttl>`
//! (read by feed-rs) and the RSS 1.0 Syndication module's
//! `sy:updatePeriod` / `sy:updateFrequency`, which feed-rs ignores and this
//! module reads with quick-xml (namespace-aware: any prefix bound to the
//! Syndication namespace works). The scan stops at the first item, because
//! the module's elements belong to the channel, so it costs a few hundred
//! bytes of a large feed.

use std::time::Duration;

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

/// The RSS 1.0 Syndication module namespace.
const SY: &str = "http://purl.org/rss/1.0/modules/syndication/";

/// `sy:updatePeriod` divided by `sy:updateFrequency` (default 1), when the
/// document declares an update period.
pub fn update_period(text: &str) -> Option<Duration> {
    let mut reader = NsReader::from_str(text);
    let mut period: Option<Duration> = None;
    let mut frequency: u32 = 1;
    let mut current: Option<&'static str> = None;
    // Bounded: the channel's own elements come before the first item.
    for _ in 0..10_000 {
        let Ok((ns, event)) = reader.read_resolved_event() else {
            break;
        };
        let in_sy = matches!(ns, ResolveResult::Bound(n) if n.as_ref() == SY);
        match event {
            Event::Start(e) => {
                let local = e.local_name();
                let local = local.as_ref();
                if !in_sy && (local == "item" || local == "entry") {
                    break;
                }
                current = match (in_sy, local) {
                    (true, "updatePeriod") => Some("period"),
                    (true, "updateFrequency") => Some("frequency"),
                    _ => None,
                };
            }
            Event::Text(t) => {
                let value = t.xml10_content();
                let value = value.trim();
                match current {
                    Some("period") => period = period_of(value),
                    Some("frequency") => {
                        frequency = value.parse::<u32>().ok().filter(|f| *f > 0).unwrap_or(1)
                    }
                    _ => {}
                }
            }
            Event::End(_) => current = None,
            Event::Eof => break,
            _ => {}
        }
    }
    period.map(|p| p / frequency)
}

fn period_of(value: &str) -> Option<Duration> {
    const DAY: u64 = 24 * 3600;
    let secs = match value.to_ascii_lowercase().as_str() {
        "hourly" => 3600,
        "daily" => DAY,
        "weekly" => 7 * DAY,
        "monthly" => 30 * DAY,
        "yearly" => 365 * DAY,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_period_and_frequency_under_any_prefix() {
        let doc = r#"<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
   xmlns:syn="http://purl.org/rss/1.0/modules/syndication/">
 <channel><title>x</title><syn:updatePeriod> Hourly </syn:updatePeriod><syn:updateFrequency>2</syn:updateFrequency></channel>
 <item><title>a</title></item></rdf:RDF>"#;
        assert_eq!(update_period(doc), Some(Duration::from_secs(1800)));
    }

    #[test]
    fn defaults_frequency_and_ignores_other_namespaces_and_items() {
        let doc = r#"<rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"
            xmlns:fake="urn:not-sy"><channel><fake:updatePeriod>hourly</fake:updatePeriod>
            <sy:updatePeriod>daily</sy:updatePeriod><sy:updateFrequency>zero</sy:updateFrequency>
            </channel></rss>"#;
        assert_eq!(update_period(doc), Some(Duration::from_secs(24 * 3600)));
        let after_item = r#"<rss xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"><channel>
            <item><sy:updatePeriod>hourly</sy:updatePeriod></item></channel></rss>"#;
        assert_eq!(update_period(after_item), None);
        assert_eq!(update_period("not xml at all <<<"), None);
        assert_eq!(
            update_period("{\"version\":\"https://jsonfeed.org/version/1.1\"}"),
            None
        );
    }
}
