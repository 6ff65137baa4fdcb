//! The speaker's configuration (`SpeakerConfig`) and one peer's
//! (`PeerSpec`), as the facet hands them over, and the session parameters
//! derived from both.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::fsm::SessionConfig;
use super::open::{GracefulRestart, LocalOpen, MAX_RESTART_TIME};
pub use crate::host::bgp::PeerSpec;
use crate::model::config::{BgpConfig, PeerConfig};

/// The RFC 4271 suggestion for ConnectRetryTime is 120 s; kroute caps its
/// back-off lower so a peer that was away is found again sooner.
pub const DEFAULT_CONNECT_RETRY: Duration = Duration::from_secs(30);

/// What the whole speaker is: a change restarts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpeakerConfig {
    pub asn: u32,
    pub router_id: Ipv4Addr,
    /// Addresses to accept sessions on (port 0: any free port, for tests).
    pub listen: Vec<SocketAddr>,
    pub graceful_restart: Option<GracefulRestart>,
    /// The connect-retry back-off's cap.
    pub connect_retry: Duration,
    /// Send peers no table and no End-of-RIB until `release_table` says the
    /// local RIB is complete (after a restart, so peers keep our stale
    /// routes until then).
    pub wait_for_routes: bool,
}

impl SpeakerConfig {
    /// From the `bgp:` block; the router ID is resolved by the caller (the
    /// config's, else the node's IPv4 address). `restarting`: this process
    /// follows a graceful stop.
    pub fn from_config(bgp: &BgpConfig, router_id: Ipv4Addr, restarting: bool) -> Self {
        let graceful_restart = bgp.graceful_restart.enabled.then(|| GracefulRestart {
            restart_time: u16::try_from(bgp.graceful_restart.restart_time.as_secs())
                .unwrap_or(MAX_RESTART_TIME)
                .min(MAX_RESTART_TIME),
            restarting,
        });
        let addrs = if bgp.listen_addresses.is_empty() {
            vec![IpAddr::from(std::net::Ipv6Addr::UNSPECIFIED)]
        } else {
            bgp.listen_addresses.clone()
        };
        SpeakerConfig {
            asn: bgp.asn,
            router_id,
            listen: addrs
                .into_iter()
                .map(|a| SocketAddr::new(a, bgp.listen_port))
                .collect(),
            graceful_restart,
            connect_retry: DEFAULT_CONNECT_RETRY,
            wait_for_routes: restarting,
        }
    }
}

impl PeerSpec {
    /// The session parameters of this peer on `speaker`.
    pub fn session_config(&self, speaker: &SpeakerConfig) -> SessionConfig {
        let secs = |d: Duration| u16::try_from(d.as_secs()).unwrap_or(u16::MAX);
        SessionConfig {
            local: LocalOpen {
                asn: speaker.asn,
                router_id: speaker.router_id,
                hold_time: secs(self.hold_time),
                graceful_restart: speaker.graceful_restart,
            },
            peer_asn: self.asn,
            keepalive: secs(self.keepalive),
            passive: self.passive,
            connect_retry: speaker.connect_retry,
        }
    }

    /// The TTL (IPv6: hop limit) of what this session sends: 255 with GTSM,
    /// else `multihop_ttl`, else 1 for eBGP (a directly connected peer, as
    /// FRR and GoBGP default) and 255 for iBGP.
    pub fn ttl(&self, ibgp: bool) -> u8 {
        if self.gtsm {
            return u8::MAX;
        }
        match self.multihop_ttl {
            Some(ttl) => ttl.max(1),
            None if ibgp => u8::MAX,
            None => 1,
        }
    }

    /// With GTSM (RFC 5082), the lowest TTL a packet from the peer may
    /// arrive with: 255 for a direct peer, 255 - (hops - 1) for one
    /// `multihop_ttl` hops away.
    pub fn min_ttl(&self) -> Option<u8> {
        let hops = self.multihop_ttl.unwrap_or(1).max(1);
        self.gtsm.then(|| u8::MAX - (hops - 1))
    }

    /// Whether a change from `old` to `self` needs the session's sockets
    /// made anew (a new connection, so a reset): the MD5 key, TTL, GTSM or
    /// the source address changed.
    pub fn transport_changed(&self, old: &PeerSpec) -> bool {
        (
            &self.password,
            self.multihop_ttl,
            self.gtsm,
            self.local_address,
            self.port,
        ) != (
            &old.password,
            old.multihop_ttl,
            old.gtsm,
            old.local_address,
            old.port,
        )
    }
}

impl From<&PeerConfig> for PeerSpec {
    /// The password (a file read at plan time) and multihop TTL are set by
    /// the planner (`sync::bgp_sources`).
    fn from(p: &PeerConfig) -> Self {
        PeerSpec {
            address: p.address,
            asn: p.asn,
            port: p.port,
            passive: p.passive,
            hold_time: p.hold_time,
            keepalive: p.keepalive_time,
            local_address: None,
            ..PeerSpec::new(p.address, p.asn)
        }
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
