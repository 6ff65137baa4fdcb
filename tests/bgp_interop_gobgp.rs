//! Interop with gobgpd (GoBGP 3.10): kroute's speaker in a node namespace,
//! GoBGP in a peer namespace over a veth, one eBGP session over IPv4 and
//! one over IPv6 (GoBGP configured with kroute's IPv6 link address). GoBGP
//! holds exactly the routes kroute announces over that family with the
//! expected next hop, AS path and communities; a withdrawal reaches it; a
//! route added to GoBGP over its API reaches kroute.

mod support;

use support::bgp::{Case, Link, Transport, session_case};
use support::bgp_daemons::Kind;

const LINK: Link = Link {
    node_ip: "10.99.0.1",
    peer_ip: "10.99.0.2",
    node_ip6: "fd00:99::1",
    peer_ip6: "fd00:99::2",
};

fn case(transport: Transport) -> Case {
    Case {
        kind: Kind::Gobgp,
        transport,
        local_asn: 64512,
        peer_asn: 65001,
        graceful_stop: false,
    }
}

#[test]
fn gobgp_over_ipv4_holds_what_kroute_announces_and_kroute_hears_gobgp() {
    session_case(&LINK, "gob4", &case(Transport::V4));
}

#[test]
fn gobgp_over_ipv6_holds_what_kroute_announces_and_kroute_hears_gobgp() {
    session_case(&LINK, "gob6", &case(Transport::V6));
}
