//! BGP facet: routes this node originates into the speaker's local RIB, with
//! their attributes and target peers. The speaker (`crate::bgp`) is this
//! facet's backend and re-exports these types.

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

impl std::fmt::Display for OriginatedRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bgp route {}", self.prefix)
    }
}
