//! Routes facet: routes kroute installs, tagged with its route protocol number.

use std::net::IpAddr;

use ipnet::IpNet;

/// Route protocol number on every route kroute installs (`ip route ... proto 254`
/// is "static"; 0xb6 = 182 is unassigned in /etc/iproute2/rt_protos).
pub const ROUTE_PROTOCOL: u8 = 182;

/// A route: destination in a routing table.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct RouteKey {
    pub table: u32,
    pub dst: IpNet,
}

/// Where a route sends traffic (ECMP when several next hops).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RouteValue {
    pub next_hops: Vec<IpAddr>,
}

impl std::fmt::Display for RouteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "route {} table {}", self.dst, self.table)
    }
}
