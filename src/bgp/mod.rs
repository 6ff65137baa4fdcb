//! BGP: the speaker comes in a later issue; this issue defines the facet's types,
//! what the planner hands to the speaker's local RIB.

use std::net::IpAddr;

use ipnet::IpNet;

/// A route this node originates.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct OriginatedRoute {
    pub prefix: IpNet,
}

/// Attributes and targets of an originated route.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RouteAttrs {
    pub next_hop: Option<IpAddr>,
    /// Standard communities as `(asn << 16) | value`.
    pub communities: Vec<u32>,
    pub local_pref: Option<u32>,
    /// Restrict to these peers (service `bgp.peers-only`); empty: all peers.
    pub only_peers: Vec<IpAddr>,
}
