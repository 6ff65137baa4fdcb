//! Addresses facet: service VIPs on kroute's dummy interface (IPVS mode).

use std::net::IpAddr;

/// kroute's dummy interface for IPVS VIPs.
pub const DUMMY_INTERFACE: &str = "kroute0";

/// An address on `kroute0`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct AddrKey {
    pub addr: IpAddr,
    pub prefix_len: u8,
}

/// Addresses carry no value beyond their presence.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct AddrValue;

impl std::fmt::Display for AddrKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "address {}/{} dev {DUMMY_INTERFACE}",
            self.addr, self.prefix_len
        )
    }
}
