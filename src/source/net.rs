//! Where HTTP and proxy sources may connect: the SSRF defence. Three checks, all before a byte is
//! sent: the URL (http/https only, no userinfo, host on the allow-list when there is one), every
//! address the host resolves to (never link-local/metadata, unspecified, multicast or broadcast;
//! loopback, private and CGNAT only with `--allow-private-sources`, or for the host of an origin
//! the operator configured, `--source PREFIX=http://10.0.0.5/`), and the same again for every
//! redirect hop. Resolution and checking happen in one place, the resolver the HTTP client
//! connects through, so a name cannot resolve to one address when checked and another when used.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

/// A fetch refused by the SSRF defence. Carried through the HTTP client's error chain so the
/// source can tell a refusal from a network failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// One `--allow-host` entry: an exact host name (or IP literal) and a port. Written without a
/// port it allows only the scheme's default port (80 for http, 443 for https).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AllowedHost {
    host: String,
    port: Option<u16>,
}

impl AllowedHost {
    /// Parse `HOST` or `HOST:PORT` (IPv6 literals in brackets: `[::1]:8080`).
    pub fn parse(s: &str) -> Result<AllowedHost, String> {
        let url = Url::parse(&format!("http://{}/", s.trim()))
            .map_err(|_| format!("--allow-host '{s}': expected HOST or HOST:PORT"))?;
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("--allow-host '{s}': no host"))?;
        if !url.username().is_empty() || url.password().is_some() || url.path() != "/" {
            return Err(format!("--allow-host '{s}': expected HOST or HOST:PORT"));
        }
        let port = url.port();
        // `Url` drops a port equal to the scheme default; keep what was written.
        let port = port.or_else(|| s.trim().ends_with(":80").then_some(80));
        Ok(AllowedHost {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// The entry for a URL's own host and port (used for a fixed-base HTTP source).
    pub fn of(url: &Url) -> Option<AllowedHost> {
        Some(AllowedHost {
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port(),
        })
    }

    fn matches(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        // `Url` stores no port when it is the scheme's default.
        host.eq_ignore_ascii_case(&self.host)
            && match self.port {
                Some(p) => url.port_or_known_default() == Some(p),
                None => url.port().is_none(),
            }
    }
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}:{p}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// The rules a connection must pass.
#[derive(Debug, Clone, Default)]
pub struct NetPolicy {
    /// Hosts that may be fetched from; empty means any host (fixed-base sources add their own).
    pub allow_hosts: Vec<AllowedHost>,
    /// Permit loopback, private (RFC 1918, ULA) and CGNAT addresses.
    pub allow_private: bool,
    /// `host → address` pins (like curl's `--resolve`), consulted before DNS.
    pub pins: HashMap<String, IpAddr>,
    /// Host names the operator configured as an origin (`--source
    /// PREFIX=http://10.0.0.5/`): their loopback and private addresses are trusted without
    /// `--allow-private-sources`. Link-local and metadata addresses stay refused, and a redirect
    /// to any other host is checked as strictly as ever.
    pub trusted_hosts: Vec<String>,
}

impl NetPolicy {
    /// Check a URL before fetching it or following a redirect to it.
    pub fn check_url(&self, url: &Url) -> Result<(), Refused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused(format!(
                "scheme '{}' is not http or https",
                url.scheme()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refused("credentials in the URL are not allowed".into()));
        }
        let host = url
            .host()
            .ok_or_else(|| Refused("the URL has no host".into()))?;
        if !self.allow_hosts.is_empty() && !self.allow_hosts.iter().any(|a| a.matches(url)) {
            let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
            return Err(Refused(format!(
                "host {host}{port} is not on the allow-list"
            )));
        }
        // The resolver is not consulted for IP literals: check them here.
        let literal = match host {
            url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            url::Host::Domain(_) => None,
        };
        if let Some(ip) = literal {
            let trusted = url.host_str().is_some_and(|h| self.trusts(h));
            self.check_ip(ip, trusted)?;
        }
        Ok(())
    }

    /// Whether `host` is an origin the operator configured (its private addresses are allowed).
    pub fn trusts(&self, host: &str) -> bool {
        // URLs bracket IPv6 literals; the resolver and the configuration may not.
        fn bare(h: &str) -> &str {
            h.trim_start_matches('[').trim_end_matches(']')
        }
        self.trusted_hosts
            .iter()
            .any(|t| bare(t).eq_ignore_ascii_case(bare(host)))
    }

    /// Check one resolved address; `trusted`: it belongs to a configured origin's host.
    pub fn check_ip(&self, ip: IpAddr, trusted: bool) -> Result<(), Refused> {
        match classify(ip) {
            AddressClass::Public => Ok(()),
            AddressClass::Private if self.allow_private || trusted => Ok(()),
            AddressClass::Private => Err(Refused(format!(
                "{ip} is a loopback or private address (see --allow-private-sources)"
            ))),
            AddressClass::Never => Err(Refused(format!(
                "{ip} is a link-local, metadata, unspecified or multicast address"
            ))),
        }
    }
}

/// How an address is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// Routable on the internet.
    Public,
    /// Loopback, RFC 1918, unique-local, CGNAT and similar: allowed by `--allow-private-sources`.
    Private,
    /// Link-local (cloud metadata endpoints live there), unspecified, multicast, broadcast,
    /// reserved: never fetched from.
    Never,
}

/// Classify an address; IPv4-mapped and IPv4-compatible IPv6 addresses count as their IPv4 form.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, ..] = ip.octets();
    if ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || a == 0
        || a >= 240
    {
        AddressClass::Never
    } else if ip.is_loopback()
        || ip.is_private()
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64.0.0/10
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19))
    // benchmarking
    {
        AddressClass::Private
    } else {
        AddressClass::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    let first = ip.segments()[0];
    if ip.is_unspecified() || ip.is_multicast() || (first & 0xffc0) == 0xfe80 {
        AddressClass::Never
    } else if ip.is_loopback()
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfec0 // deprecated site-local
        || first == 0x0064 // NAT64 64:ff9b::/96 can reach anything
        || (ip.segments()[..6] == [0, 0, 0, 0, 0, 0])
    // IPv4-compatible
    {
        AddressClass::Private
    } else {
        AddressClass::Public
    }
}

/// The resolver HTTP sources connect through: pins first, then the system resolver, then every
/// address is checked; a name with any refused address is refused whole (an attacker's DNS must
/// not be able to mix a public decoy with a private target).
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: Arc<NetPolicy>,
}

impl GuardedResolver {
    /// A resolver enforcing `policy`.
    pub fn new(policy: Arc<NetPolicy>) -> GuardedResolver {
        GuardedResolver { policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_ascii_lowercase();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = match policy.pins.get(&host) {
                Some(ip) => vec![SocketAddr::new(*ip, 0)],
                None => tokio::net::lookup_host((host.as_str(), 0))
                    .await
                    .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?
                    .collect(),
            };
            let trusted = policy.trusts(&host);
            for addr in &addrs {
                policy
                    .check_ip(addr.ip(), trusted)
                    .map_err(|e| Refused(format!("{host}: {e}")))?;
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The [`Refused`] somewhere in an error's chain, if the failure was a refusal.
pub fn find_refusal<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e Refused> {
    super::causes(error).find_map(|e| e.downcast_ref::<Refused>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_are_classified() {
        for s in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "93.184.216.34"] {
            assert_eq!(classify(ip(s)), AddressClass::Public, "{s}");
        }
        for s in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert_eq!(classify(ip(s)), AddressClass::Private, "{s}");
        }
        for s in [
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "fe80::1",
            "::ffff:169.254.169.254",
            "ff02::1",
        ] {
            assert_eq!(classify(ip(s)), AddressClass::Never, "{s}");
        }
    }

    #[test]
    fn allow_list_is_exact_never_a_substring() {
        let policy = NetPolicy {
            allow_hosts: vec![
                AllowedHost::parse("example.com").unwrap(),
                AllowedHost::parse("img.test:8080").unwrap(),
            ],
            allow_private: false,
            ..NetPolicy::default()
        };
        let ok = |u: &str| policy.check_url(&Url::parse(u).unwrap()).is_ok();
        assert!(ok("https://example.com/a.jpg"));
        assert!(ok("http://EXAMPLE.com/a.jpg"));
        assert!(ok("https://example.com:443/a.jpg"));
        assert!(!ok("https://ample.com/a.jpg"));
        assert!(!ok("https://example.com.evil.test/a.jpg"));
        assert!(!ok("https://sub.example.com/a.jpg"));
        assert!(!ok("https://example.com:8443/a.jpg"));
        assert!(ok("http://img.test:8080/a.jpg"));
        assert!(!ok("http://img.test/a.jpg"));
        assert!(!ok("https://user:pw@example.com/a.jpg"));
        assert!(!ok("ftp://example.com/a.jpg"));
        assert!(!ok("file:///etc/passwd"));
    }

    #[test]
    fn ip_literals_are_checked_without_dns() {
        let open = NetPolicy::default();
        let refused = |u: &str| open.check_url(&Url::parse(u).unwrap()).is_err();
        assert!(refused("http://169.254.169.254/latest/meta-data/"));
        assert!(refused("http://127.0.0.1/"));
        assert!(refused("http://[::ffff:127.0.0.1]/"));
        assert!(refused("http://[::1]/"));
        assert!(refused("http://0.0.0.0/"));
        assert!(!refused("http://8.8.8.8/"));
        let private = NetPolicy {
            allow_private: true,
            ..NetPolicy::default()
        };
        assert!(private
            .check_url(&Url::parse("http://127.0.0.1/").unwrap())
            .is_ok());
        assert!(private
            .check_url(&Url::parse("http://169.254.169.254/").unwrap())
            .is_err());
        // A configured origin's own host is trusted, nothing else; metadata never.
        let trusting = NetPolicy {
            trusted_hosts: vec!["10.0.0.5".into(), "::1".into(), "169.254.169.254".into()],
            ..NetPolicy::default()
        };
        let ok = |u: &str| trusting.check_url(&Url::parse(u).unwrap()).is_ok();
        assert!(ok("http://10.0.0.5/a.jpg"));
        assert!(ok("http://[::1]:8080/a.jpg"));
        assert!(!ok("http://10.0.0.6/a.jpg"));
        assert!(!ok("http://169.254.169.254/"));
    }

    #[tokio::test]
    async fn resolver_trusts_a_configured_origins_private_addresses_only() {
        let mut pins = HashMap::new();
        pins.insert("images.internal".to_owned(), ip("10.0.0.5"));
        pins.insert("other.internal".to_owned(), ip("10.0.0.6"));
        pins.insert("meta.internal".to_owned(), ip("169.254.169.254"));
        let resolver = GuardedResolver::new(Arc::new(NetPolicy {
            pins,
            trusted_hosts: vec!["images.internal".into(), "meta.internal".into()],
            ..NetPolicy::default()
        }));
        let name = |s: &str| -> Name { s.parse().unwrap() };
        assert!(resolver.resolve(name("images.internal")).await.is_ok());
        assert!(resolver.resolve(name("other.internal")).await.is_err());
        assert!(resolver.resolve(name("meta.internal")).await.is_err());
    }

    #[tokio::test]
    async fn resolver_refuses_pinned_private_names() {
        let mut pins = HashMap::new();
        pins.insert("metadata.test".to_owned(), ip("169.254.169.254"));
        pins.insert("intranet.test".to_owned(), ip("10.0.0.7"));
        let policy = Arc::new(NetPolicy {
            allow_private: true,
            pins,
            ..NetPolicy::default()
        });
        let resolver = GuardedResolver::new(policy);
        let name = |s: &str| -> Name { s.parse().unwrap() };
        assert!(resolver.resolve(name("metadata.test")).await.is_err());
        let addrs: Vec<_> = resolver
            .resolve(name("intranet.test"))
            .await
            .unwrap()
            .collect();
        assert_eq!(addrs[0].ip(), ip("10.0.0.7"));
    }
}
