//! The SSRF guard: a feed's content decides where feedfold connects (its
//! redirects), so a public feed must not be able to point feedfold at the
//! machine itself, the local network or a cloud metadata service
//! (169.254.169.254). The same guard Miniflux and CommaFeed ship.
//!
//! Rules, checked before every hop:
//! - a redirect from a public address to a non-public one is refused;
//! - with `[fetch] allow_private_networks = false`, a feed whose own URL is
//!   on a non-public address is refused too (the default allows it: the
//!   admin wrote the list).
//!
//! The check resolves the host itself; reqwest resolves it again to connect,
//! so a DNS answer that changes in between (rebinding) is not caught.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// Whether an address is reachable only locally: loopback, private (RFC 1918,
/// unique local), link-local, CGNAT, unspecified, multicast, documentation
/// and benchmarking ranges.
pub fn is_non_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => non_public_v4(v4),
            None => non_public_v6(v6),
        },
    }
}

fn non_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 198 && (18..20).contains(&b)) // benchmarking 198.18/15
}

fn non_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
}

/// The addresses a URL's host stands for (the literal, or a DNS lookup).
pub async fn addresses(url: &Url) -> std::io::Result<Vec<IpAddr>> {
    let port = url.port_or_known_default().unwrap_or(80);
    match url.host() {
        Some(Host::Ipv4(ip)) => Ok(vec![IpAddr::V4(ip)]),
        Some(Host::Ipv6(ip)) => Ok(vec![IpAddr::V6(ip)]),
        Some(Host::Domain(name)) => Ok(tokio::net::lookup_host((name, port))
            .await?
            .map(|a| a.ip())
            .collect()),
        None => Ok(Vec::new()),
    }
}

/// True when any of the addresses is non-public: one is enough to be
/// reachable, so one is enough to refuse.
pub fn any_non_public(addresses: &[IpAddr]) -> bool {
    addresses.iter().any(|ip| is_non_public(*ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn classifies_addresses() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(is_non_public(ip(private)), "{private} is not public");
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            assert!(!is_non_public(ip(public)), "{public} is public");
        }
    }

    #[tokio::test]
    async fn literal_hosts_need_no_lookup() {
        let url = Url::parse("http://169.254.169.254/latest/meta-data/").expect("url");
        assert_eq!(
            addresses(&url).await.expect("addresses"),
            vec![ip("169.254.169.254")]
        );
        let url = Url::parse("http://[::1]:8080/feed").expect("url");
        assert!(any_non_public(&addresses(&url).await.expect("addresses")));
    }
}
