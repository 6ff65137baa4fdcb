//! Interop with BIRD 2.0: kroute's speaker in a node namespace, BIRD in a
//! peer namespace over a veth, one eBGP session over IPv4 and one over IPv6
//! (BIRD configured with kroute's IPv6 link address). BIRD holds exactly
//! the routes kroute announces over that family with the expected next hop,
//! AS path and community; a withdrawal reaches it; BIRD's static route
//! reaches kroute.

mod support;

use support::bgp::{Case, Link, Transport, session_case};
use support::bgp_daemons::Kind;

const LINK: Link = Link {
    node_ip: "10.97.0.1",
    peer_ip: "10.97.0.2",
    node_ip6: "fd00:97::1",
    peer_ip6: "fd00:97::2",
};

fn case(transport: Transport) -> Case {
    Case {
        kind: Kind::Bird,
        transport,
        local_asn: 64512,
        peer_asn: 65003,
        graceful_stop: false,
    }
}

#[test]
fn bird_over_ipv4_holds_what_kroute_announces_and_kroute_hears_bird() {
    session_case(&LINK, "brd4", &case(Transport::V4));
}

#[test]
fn bird_over_ipv6_holds_what_kroute_announces_and_kroute_hears_bird() {
    session_case(&LINK, "brd6", &case(Transport::V6));
}
