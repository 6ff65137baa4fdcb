//! BGP facets: the speaker itself, its peers, and the routes this node
//! originates into the speaker's local RIB. The embedded speaker
//! (`crate::bgp`) is their backend and re-exports these types.
//!
//! Three facets, applied in this order:
//! - `bgp-speaker`: one artifact ([`BgpSpeakerKey`] → [`BgpSpeakerSettings`]);
//!   a change (ASN, router ID, listen addresses or port, graceful restart)
//!   restarts the speaker, which keeps its peers and routes;
//! - `bgp-peers`: [`BgpPeerKey`] → [`PeerSpec`], applied to live sessions;
//! - `bgp`: [`OriginatedRoute`] → [`RouteAttrs`], originated and withdrawn
//!   by difference.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;

/// The speaker, a single artifact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct BgpSpeakerKey;

impl std::fmt::Display for BgpSpeakerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("bgp speaker")
    }
}

/// What the whole speaker is: a change restarts it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BgpSpeakerSettings {
    /// Local AS (`bgp.asn`, or the Node's `kube-router.io/node.asn`).
    pub asn: u32,
    /// `bgp.routerId`, else the node's primary IPv4 address.
    pub router_id: Ipv4Addr,
    /// Addresses and port sessions are accepted on (port 0: any, in tests).
    pub listen: Vec<SocketAddr>,
    /// Graceful restart's Restart Time in seconds, when enabled.
    pub graceful_restart_time: Option<u16>,
    /// Route-reflector cluster ID (`kube-router.io/rr.server`), when this
    /// node reflects routes to its `rr_client` peers.
    pub cluster_id: Option<Ipv4Addr>,
}

/// One peer, by address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct BgpPeerKey(pub IpAddr);

impl std::fmt::Display for BgpPeerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bgp peer {}", self.0)
    }
}

/// One peer, as the speaker's API takes it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PeerSpec {
    pub address: IpAddr,
    pub asn: u32,
    /// The peer's port (we connect to it).
    pub port: u16,
    /// Never connect, only accept.
    pub passive: bool,
    pub hold_time: Duration,
    pub keepalive: Duration,
    /// Our source address for outgoing connections.
    pub local_address: Option<IpAddr>,
    /// TCP MD5 signature key (RFC 2385), never logged or serialized.
    pub password: Option<PeerPassword>,
    /// eBGP multihop: the IP TTL of our packets (`None`: 1 for eBGP, 255
    /// for iBGP, as routers do).
    pub multihop_ttl: Option<u8>,
    /// GTSM (RFC 5082): send with TTL 255 and accept only packets that
    /// arrive with TTL >= 255 - (hops - 1).
    pub gtsm: bool,
    /// Our ASN on this session when not the speaker's (a service peer's
    /// `localASN`).
    pub local_asn: Option<u32>,
    /// Import: routes inside one of these are accepted from this peer
    /// (empty: none from an eBGP peer).
    pub accept_prefixes: Vec<IpNet>,
    /// Most prefixes accepted from this peer (0: no limit); exceeded:
    /// Cease / Maximum Number of Prefixes Reached, session down, retried.
    pub max_prefixes: u32,
    /// This peer is our route-reflector client (we reflect iBGP routes to
    /// it, RFC 4456); the cluster ID is the speaker's.
    pub rr_client: bool,
}

/// A TCP MD5 key: compared and carried, never shown (`Debug` and
/// `Serialize` print `<redacted>`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PeerPassword(pub String);

impl std::fmt::Debug for PeerPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl serde::Serialize for PeerPassword {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

impl PeerSpec {
    /// An active peer on port 179, hold time 90 s, keepalive 30 s.
    pub fn new(address: IpAddr, asn: u32) -> Self {
        PeerSpec {
            address,
            asn,
            port: 179,
            passive: false,
            hold_time: Duration::from_secs(90),
            keepalive: Duration::from_secs(30),
            local_address: None,
            password: None,
            multihop_ttl: None,
            gtsm: false,
            local_asn: None,
            accept_prefixes: Vec::new(),
            max_prefixes: 0,
            rr_client: false,
        }
    }
}

/// A route this node originates.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct OriginatedRoute {
    pub prefix: IpNet,
}

/// Attributes and targets of an originated route.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RouteAttrs {
    /// `None`: our address on each session.
    pub next_hop: Option<IpAddr>,
    /// Standard communities as `(asn << 16) | value`.
    pub communities: Vec<u32>,
    /// Large communities (RFC 8092): global administrator, two data parts.
    pub large_communities: Vec<[u32; 3]>,
    /// LOCAL_PREF sent to iBGP peers (`None`: 100).
    pub local_pref: Option<u32>,
    /// AS-path prepend (`kube-router.io/path-prepend.*`: the ASN repeated
    /// `repeat-n` times): the AS_PATH is `[our ASN, prepend..]` on eBGP
    /// sessions and `[prepend..]` on iBGP ones.
    pub prepend: Vec<u32>,
    /// Restrict to these peers (service `bgp.peers-only`); empty: all peers.
    pub only_peers: Vec<IpAddr>,
    /// Never to these peers (the peers only other Services define).
    pub except_peers: Vec<IpAddr>,
}

impl std::fmt::Display for OriginatedRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bgp route {}", self.prefix)
    }
}
