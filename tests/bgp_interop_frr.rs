//! Interop with FRR 8.4's bgpd: kroute's speaker in a node namespace, FRR
//! in a peer namespace over a veth, one eBGP session over IPv4 and one over
//! IPv6 (FRR configured with kroute's IPv6 link address). FRR holds exactly
//! the routes kroute announces over that family with the expected next hop
//! (the node's address on the session; for IPv6 routes over IPv4 their own
//! global IPv6 next hop), AS path and communities; a withdrawal reaches it;
//! FRR's route reaches kroute; and a graceful stop (graceful restart, no
//! NOTIFICATION) leaves FRR holding kroute's routes as stale.

mod support;

use support::bgp::{Case, Link, Transport, session_case};
use support::bgp_daemons::Kind;

const LINK: Link = Link {
    node_ip: "10.98.0.1",
    peer_ip: "10.98.0.2",
    node_ip6: "fd00:98::1",
    peer_ip6: "fd00:98::2",
};

fn case(transport: Transport) -> Case {
    Case {
        kind: Kind::Frr,
        transport,
        local_asn: 64512,
        peer_asn: 65002,
        graceful_stop: true,
    }
}

#[test]
fn frr_over_ipv4_holds_what_kroute_announces_and_keeps_it_over_a_graceful_stop() {
    session_case(&LINK, "frr4", &case(Transport::V4));
}

#[test]
fn frr_over_ipv6_holds_what_kroute_announces_and_keeps_it_over_a_graceful_stop() {
    session_case(&LINK, "frr6", &case(Transport::V6));
}
