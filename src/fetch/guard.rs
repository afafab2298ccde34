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
//! The check resolves the host itself and remembers what it vetted
//! ([`Vetted`]); the client's resolver ([`VettedResolver`]) answers the
//! connection that follows from that memory, so the connection goes to an
//! address that was checked, and a DNS answer that changes in between
//! (rebinding) is never asked for.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// How long a vetted answer serves connections. The connection follows the
/// check at once; this only bounds how long an unused answer is kept.
const VETTED_FOR: Duration = Duration::from_secs(30);

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
        Some(Host::Domain(name)) => lookup(name, port).await,
        None => Ok(Vec::new()),
    }
}

/// The system resolver's addresses for `name`.
async fn lookup(name: &str, port: u16) -> std::io::Result<Vec<IpAddr>> {
    Ok(tokio::net::lookup_host((name, port))
        .await?
        .map(|a| a.ip())
        .collect())
}

/// True when any of the addresses is non-public: one is enough to be
/// reachable, so one is enough to refuse.
pub fn any_non_public(addresses: &[IpAddr]) -> bool {
    addresses.iter().any(|ip| is_non_public(*ip))
}

/// The addresses the guard checked, by host name, for the connections that
/// follow the checks.
#[derive(Debug, Default)]
pub struct Vetted {
    hosts: Mutex<VettedHosts>,
}

#[derive(Debug, Default)]
struct VettedHosts {
    answers: HashMap<String, (Instant, Vec<IpAddr>)>,
    pruned: Option<Instant>,
}

impl Vetted {
    /// Records that `host` was checked as standing for `addresses`.
    pub fn remember(&self, host: &str, addresses: &[IpAddr]) {
        let now = Instant::now();
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        // Old answers go once per lifetime, not at every check.
        if hosts
            .pruned
            .is_none_or(|t| now.duration_since(t) >= VETTED_FOR)
        {
            hosts
                .answers
                .retain(|_, (at, _)| now.duration_since(*at) < VETTED_FOR);
            hosts.pruned = Some(now);
        }
        hosts
            .answers
            .insert(host.to_ascii_lowercase(), (now, addresses.to_vec()));
    }

    /// The addresses `host` was recently checked as standing for.
    fn recall(&self, host: &str) -> Option<Vec<IpAddr>> {
        let hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        let (at, addresses) = hosts.answers.get(&host.to_ascii_lowercase())?;
        (at.elapsed() < VETTED_FOR && !addresses.is_empty()).then(|| addresses.clone())
    }
}

/// The HTTP client's resolver: a host the guard has just checked resolves
/// to the addresses it checked; any other name (a proxy's) is looked up by
/// the system resolver, as reqwest's own resolver would.
#[derive(Debug, Clone)]
pub struct VettedResolver {
    vetted: Arc<Vetted>,
}

impl VettedResolver {
    /// A resolver answering from `vetted` first.
    pub fn new(vetted: Arc<Vetted>) -> VettedResolver {
        VettedResolver { vetted }
    }
}

impl Resolve for VettedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        // Port 0: the client puts the URL's port in.
        let to_addrs = |ips: Vec<IpAddr>| -> Addrs {
            Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)))
        };
        if let Some(ips) = self.vetted.recall(name.as_str()) {
            return Box::pin(std::future::ready(Ok(to_addrs(ips))));
        }
        let host = name.as_str().to_string();
        Box::pin(async move { Ok(to_addrs(lookup(&host, 0).await?)) })
    }
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

    async fn resolved(resolver: &VettedResolver, host: &str) -> Vec<SocketAddr> {
        let name: Name = host.parse().expect("name");
        match resolver.resolve(name).await {
            Ok(addrs) => addrs.collect(),
            Err(e) => panic!("{host} did not resolve: {e}"),
        }
    }

    #[tokio::test]
    async fn a_checked_host_connects_to_the_addresses_that_were_checked() {
        let vetted = Arc::new(Vetted::default());
        let resolver = VettedResolver::new(vetted.clone());
        // `.invalid` never resolves (RFC 6761): only the memory can answer,
        // as it must when DNS would now give another answer.
        vetted.remember(
            "Feeds.Example.invalid",
            &[ip("93.184.216.34"), ip("2606:4700::1111")],
        );
        assert_eq!(
            resolved(&resolver, "feeds.example.invalid").await,
            vec![
                SocketAddr::new(ip("93.184.216.34"), 0),
                SocketAddr::new(ip("2606:4700::1111"), 0)
            ]
        );
        // Any other name goes to the system resolver.
        let name: Name = "other.example.invalid".parse().expect("name");
        assert!(resolver.resolve(name).await.is_err());
        assert!(resolved(&resolver, "localhost")
            .await
            .iter()
            .all(|a| a.ip().is_loopback()));
    }
}
