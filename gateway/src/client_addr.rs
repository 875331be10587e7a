//! The client's address, for throttles and logs: the TCP peer, or — when the
//! peer is one of the `TRUSTED_PROXIES` — the address that proxy saw, read from
//! `X-Forwarded-For`. One function for REST and the Socket.IO handshake alike.
//!
//! `X-Forwarded-For` is a list each proxy appends its own peer to, so only its
//! right end can be believed: walking from the right, every hop that is a
//! trusted proxy is skipped, and the first address that is not one is the
//! client. Anything to its left was written by the client and is ignored. With
//! no trusted proxies (the default) the header is never read: a client could
//! otherwise pick any address and escape every per-address limit.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use ipnet::IpNet;

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// The address of the client behind `peer`.
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let mut client = canonical(peer.ip());
    if !is_trusted(client, trusted) {
        return client;
    }
    // Several headers count as one comma-separated list, in order.
    let hops: Vec<&str> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            // Garbage from a trusted hop's side: keep the last address we believe.
            break;
        };
        client = ip;
        if !is_trusted(ip, trusted) {
            break;
        }
    }
    client
}

/// The client of a request whose extensions carry the TCP peer (the accept
/// loop's `ConnectInfo`): REST extractors and the Socket.IO handshake alike.
pub fn of_request(
    extensions: &http::Extensions,
    headers: &HeaderMap,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let axum::extract::ConnectInfo(peer) =
        extensions.get::<axum::extract::ConnectInfo<SocketAddr>>()?;
    Some(client_ip(*peer, headers, trusted))
}

/// Whether `ip` is one of the `TRUSTED_PROXIES` (its connections carry many
/// clients).
pub fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    let ip = canonical(ip);
    trusted.iter().any(|net| net.contains(&ip))
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:80`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    let ip = hop
        .parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()?;
    Some(canonical(ip))
}

/// An IPv4 client reached over an IPv6 socket (`::ffff:1.2.3.4`) is `1.2.3.4`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(X_FORWARDED_FOR, v.parse().unwrap());
        }
        h
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 4000)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let h = headers(&["6.6.6.6"]);
        assert_eq!(client_ip(peer("1.2.3.4"), &h, &[]), ip("1.2.3.4"));
    }

    #[test]
    fn an_untrusted_peer_cannot_forward() {
        let h = headers(&["6.6.6.6"]);
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(client_ip(peer("1.2.3.4"), &h, &trusted), ip("1.2.3.4"));
    }

    #[test]
    fn the_first_untrusted_hop_from_the_right_is_the_client() {
        let trusted = nets(&["10.0.0.0/8"]);
        // The client wrote 6.6.6.6 itself; the proxy appended what it saw.
        let h = headers(&["6.6.6.6, 203.0.113.7, 10.0.0.2"]);
        assert_eq!(client_ip(peer("10.0.0.1"), &h, &trusted), ip("203.0.113.7"));
        // Split over two headers, with ports and IPv6.
        let h = headers(&["6.6.6.6", "[2001:db8::5]:443, 10.1.1.1:80"]);
        assert_eq!(client_ip(peer("10.0.0.1"), &h, &trusted), ip("2001:db8::5"));
    }

    #[test]
    fn all_trusted_hops_give_the_leftmost_and_garbage_stops_the_walk() {
        let trusted = nets(&["10.0.0.0/8"]);
        let h = headers(&["10.0.0.9, 10.0.0.8"]);
        assert_eq!(client_ip(peer("10.0.0.1"), &h, &trusted), ip("10.0.0.9"));
        let h = headers(&["6.6.6.6, not-an-ip, 10.0.0.8"]);
        assert_eq!(client_ip(peer("10.0.0.1"), &h, &trusted), ip("10.0.0.8"));
        // No header at all: the proxy itself.
        assert_eq!(
            client_ip(peer("10.0.0.1"), &HeaderMap::new(), &trusted),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn ipv4_mapped_peers_are_ipv4() {
        let trusted = nets(&["127.0.0.1/32"]);
        let h = headers(&["::ffff:198.51.100.2"]);
        assert_eq!(
            client_ip(peer("::ffff:127.0.0.1"), &h, &trusted),
            ip("198.51.100.2")
        );
    }
}
