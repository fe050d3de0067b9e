//! Who the client is. Behind a load balancer every connection comes from
//! the balancer, so the client's address travels in `X-Forwarded-For`; but
//! anyone can send that header. It is believed only from the configured
//! `trusted_proxies`, and only as far as the chain of trusted hops goes:
//! read from the right, the first address that is not a trusted proxy is
//! the client. The HAProxy configuration we ship replaces whatever a client
//! sent with the address it saw (`set-header`, not `add-header`).

use std::net::IpAddr;

use actix_web::HttpRequest;

use crate::config::cidr::{canonical, Cidr};

/// The client's address: the peer, or, when the peer is a trusted proxy,
/// the right-most address in `X-Forwarded-For` that is not one.
pub fn client_ip(req: &HttpRequest, trusted: &[Cidr]) -> Option<IpAddr> {
    let peer = canonical(req.peer_addr()?.ip());
    if !trusted.iter().any(|c| c.contains(peer)) {
        return Some(peer);
    }
    let hops: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            // Garbage: what lies left of it cannot be trusted either.
            break;
        };
        client = canonical(ip);
        if !trusted.iter().any(|c| c.contains(client)) {
            break;
        }
    }
    Some(client)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn from(peer: &str, xff: &[&str], trusted: &str) -> IpAddr {
        let mut r = TestRequest::default().peer_addr(format!("{peer}:40000").parse().unwrap());
        for h in xff {
            r = r.append_header(("X-Forwarded-For", *h));
        }
        client_ip(&r.to_http_request(), &Cidr::parse_list(trusted).unwrap()).unwrap()
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        // Nobody trusted: the header is anyone's to forge.
        assert_eq!(from("203.0.113.9", &["127.0.0.2"], ""), ip("203.0.113.9"));
        // Not from a trusted proxy: ignored.
        assert_eq!(
            from("203.0.113.9", &["127.0.0.2"], "127.0.0.1"),
            ip("203.0.113.9")
        );
        // From the proxy: the client it saw.
        assert_eq!(
            from("127.0.0.1", &["198.51.100.7"], "127.0.0.1"),
            ip("198.51.100.7")
        );
        // A forged entry left of what the proxy appended is not believed.
        assert_eq!(
            from("127.0.0.1", &["6.6.6.6, 198.51.100.7"], "127.0.0.1"),
            ip("198.51.100.7")
        );
        // Two trusted hops, across header lines.
        assert_eq!(
            from(
                "127.0.0.1",
                &["198.51.100.7", "10.0.0.5"],
                "127.0.0.1, 10.0.0.0/8"
            ),
            ip("198.51.100.7")
        );
        // From the proxy without a header, or with garbage: the proxy.
        assert_eq!(from("127.0.0.1", &[], "127.0.0.1"), ip("127.0.0.1"));
        assert_eq!(
            from("127.0.0.1", &["not-an-ip"], "127.0.0.1"),
            ip("127.0.0.1")
        );
    }
}
