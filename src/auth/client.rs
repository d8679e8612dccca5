//! Who the client is: the TCP peer's address, or — only when that peer is a configured
//! reverse proxy — the address the proxy reports.
//!
//! A forwarding header is a list of hops, each appended by the proxy that received the
//! request; everything left of the first proxy's entry is whatever the client sent. So the
//! client is the **rightmost hop that is not a trusted proxy**, and a request from a peer that
//! is not a trusted proxy has its headers ignored entirely.

use std::net::{IpAddr, SocketAddr};

use axum::http::{HeaderMap, header::FORWARDED};

/// An IP network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `addr/prefix` or a bare address (a /32 or /128).
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{s}` is not an address or CIDR"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}`: the prefix must be 0-{max}"))?,
        };
        Ok(Self { addr, prefix })
    }

    /// Whether `ip` is in this network. IPv4-mapped IPv6 addresses count as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr.to_canonical(), ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The forwarding header the trusted proxies set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ProxyHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2`.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

/// Which peers may report the client address, and in which header.
#[derive(Debug, Clone, Default)]
pub struct Proxies {
    /// Trusted proxy networks; empty = trust no header.
    pub trusted: Vec<Cidr>,
    /// The header they set.
    pub header: ProxyHeader,
}

impl Proxies {
    /// Whether `ip` (a TCP peer) is one of the trusted proxies.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|c| c.contains(ip))
    }

    /// The client address of a request from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let name = match self.header {
            ProxyHeader::XForwardedFor => "x-forwarded-for",
            ProxyHeader::Forwarded => FORWARDED.as_str(),
        };
        // Every instance of the header, in order, as one list of hops.
        let mut hops = Vec::new();
        for value in headers.get_all(name) {
            let Ok(text) = value.to_str() else {
                return peer;
            };
            for element in text.split(',') {
                let hop = match self.header {
                    ProxyHeader::XForwardedFor => parse_node(element),
                    ProxyHeader::Forwarded => forwarded_for(element),
                };
                hops.push(hop);
            }
        }
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            // A hop that is no address (`unknown`, an obfuscated name, garbage) ends the
            // walk at the last trusted proxy: nothing left of it can be checked.
            let Some(ip) = hop else {
                return client;
            };
            client = ip;
            if !self.trusts(ip) {
                return ip;
            }
        }
        client
    }
}

/// The `for=` node of one `Forwarded` element (`for=192.0.2.1;proto=https`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("for")
            .then(|| parse_node(v))
            .flatten()
    })
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:8080`, `2001:db8::1`,
/// `"[2001:db8::1]:4711"`.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    node.parse::<SocketAddr>().ok().map(|s| s.ip())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn proxies(header: ProxyHeader) -> Proxies {
        Proxies {
            trusted: vec![
                Cidr::parse("10.0.0.0/8").expect("cidr"),
                Cidr::parse("::1").expect("cidr"),
            ],
            header,
        }
    }

    fn headers(name: &'static str, values: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(name, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn cidrs_parse_and_match_by_prefix() {
        let table = [
            ("10.0.0.0/8", "10.255.1.2", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("192.0.2.7", "192.0.2.7", true),
            ("192.0.2.7", "192.0.2.8", false),
            ("0.0.0.0/0", "203.0.113.9", true),
            ("2001:db8::/32", "2001:db8:ffff::1", true),
            ("2001:db8::/32", "2001:db9::1", false),
            ("10.0.0.0/8", "::ffff:10.1.2.3", true),
            ("10.0.0.0/8", "2001:db8::1", false),
            ("::/0", "::1", true),
        ];
        for (cidr, addr, expected) in table {
            assert_eq!(
                Cidr::parse(cidr).expect("cidr").contains(ip(addr)),
                expected,
                "{cidr} contains {addr}"
            );
        }
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "x",
            "10.0.0.0/-1",
            "10.0.0.0/",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn headers_from_a_peer_that_is_no_trusted_proxy_are_ignored() {
        let p = proxies(ProxyHeader::XForwardedFor);
        let h = headers("x-forwarded-for", &["198.51.100.1"]);
        assert_eq!(p.client(ip("203.0.113.5"), &h), ip("203.0.113.5"));
        assert_eq!(
            Proxies::default().client(ip("10.0.0.1"), &h),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn the_client_is_the_rightmost_hop_that_is_no_trusted_proxy() {
        let p = proxies(ProxyHeader::XForwardedFor);
        let table: [(&[&'static str], &str); 6] = [
            (&["198.51.100.1"], "198.51.100.1"),
            (&["6.6.6.6, 198.51.100.1"], "198.51.100.1"),
            (&["6.6.6.6, 198.51.100.1, 10.0.0.2"], "198.51.100.1"),
            (&["6.6.6.6", "198.51.100.1, 10.0.0.2"], "198.51.100.1"),
            (&["6.6.6.6, unknown, 10.0.0.2"], "10.0.0.2"),
            (&["10.0.0.3, 10.0.0.2"], "10.0.0.3"),
        ];
        for (values, expected) in table {
            let h = headers("x-forwarded-for", values);
            assert_eq!(p.client(ip("10.0.0.1"), &h), ip(expected), "{values:?}");
        }
        assert_eq!(p.client(ip("10.0.0.1"), &HeaderMap::new()), ip("10.0.0.1"));
    }

    #[test]
    fn forwarded_for_nodes_are_read_with_ports_brackets_and_quotes() {
        let p = proxies(ProxyHeader::Forwarded);
        let table: [(&'static str, &str); 5] = [
            ("for=198.51.100.1", "198.51.100.1"),
            (
                "for=6.6.6.6, for=198.51.100.1:8080;proto=https",
                "198.51.100.1",
            ),
            (r#"for="[2001:db8::7]:4711", for=10.0.0.2"#, "2001:db8::7"),
            ("proto=https;For=198.51.100.9", "198.51.100.9"),
            ("for=_hidden, for=10.0.0.2", "10.0.0.2"),
        ];
        for (value, expected) in table {
            let h = headers("forwarded", &[value]);
            assert_eq!(p.client(ip("::1"), &h), ip(expected), "{value}");
        }
        // the configured header only: an X-Forwarded-For is the client's own text here
        let h = headers("x-forwarded-for", &["198.51.100.1"]);
        assert_eq!(p.client(ip("::1"), &h), ip("::1"));
    }
}
