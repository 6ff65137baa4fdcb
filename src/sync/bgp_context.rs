//! `BgpContext`: what BGP planning needs of the `bgp:` configuration and of
//! this Node, derived once per sync (it is part of [`ProxyContext`], so a
//! change of the Node's annotations or addresses re-plans everything).
//!
//! [`ProxyContext`]: super::ProxyContext

use std::net::{IpAddr, Ipv4Addr};

use super::bgp_peers::{PeerDefinition, PeerSet};
use crate::bgp::SpeakerConfig;
use crate::host::bgp::BgpSpeakerSettings;
use crate::model::annotations::Community;
use crate::model::config::{AdvertiseConfig, BgpConfig};
use crate::model::{Family, NodeInfo};

/// Why BGP cannot run on this node; nothing BGP is planned then.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BgpContextError {
    /// `bgp.routerId` is `auto` and the Node has no IPv4 address.
    #[error(
        "Node {node}: bgp.routerId is auto but the node has no IPv4 address (InternalIP or ExternalIP) to use as router ID; set bgp.routerId. Nothing is announced over BGP"
    )]
    NoRouterId { node: String },
}

/// BGP as this node runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BgpContext {
    /// The speaker, or why it cannot run.
    pub speaker: Result<BgpSpeakerSettings, BgpContextError>,
    /// `bgp.advertise`.
    pub advertise: AdvertiseConfig,
    /// Every peer, merged from all sources.
    pub peers: PeerSet,
    /// `kube-router.io/node.bgp.communities` (standard ones), sorted.
    pub node_communities: Vec<u32>,
    /// `kube-router.io/path-prepend.as` repeated `path-prepend.repeat-n` times.
    pub prepend: Vec<u32>,
}

impl BgpContext {
    /// BGP on `node` per `bgp`; `None` when `bgp.enabled` is false.
    pub fn new(bgp: &BgpConfig, node: &NodeInfo) -> Option<BgpContext> {
        if !bgp.enabled {
            return None;
        }
        Some(BgpContext {
            speaker: speaker(bgp, node),
            advertise: bgp.advertise.clone(),
            peers: PeerSet::merge(PeerDefinition::from_config(&bgp.peers)),
            node_communities: standard_communities(&node.annotations.communities),
            prepend: (node.annotations.path_prepend)
                .map(|p| vec![p.asn; usize::from(p.repeat)])
                .unwrap_or_default(),
        })
    }

    /// True when the speaker can run (BGP artifacts are planned).
    pub fn runs(&self) -> bool {
        self.speaker.is_ok()
    }
}

/// The speaker's settings: the Node's `kube-router.io/node.asn` over
/// `bgp.asn`, `bgp.routerId` else the node's primary IPv4 address, listen
/// addresses and graceful restart as the speaker's own config reads them.
fn speaker(bgp: &BgpConfig, node: &NodeInfo) -> Result<BgpSpeakerSettings, BgpContextError> {
    let primary_v4 = match node.primary_ips.get(&Family::Ip) {
        Some(IpAddr::V4(ip)) => Some(*ip),
        _ => None,
    };
    let router_id: Ipv4Addr =
        (bgp.router_id)
            .or(primary_v4)
            .ok_or_else(|| BgpContextError::NoRouterId {
                node: node.name.clone(),
            })?;
    let config = SpeakerConfig::from_config(bgp, router_id, false);
    Ok(BgpSpeakerSettings {
        asn: node.annotations.asn.unwrap_or(bgp.asn),
        router_id,
        listen: config.listen,
        graceful_restart_time: config.graceful_restart.map(|g| g.restart_time),
    })
}

/// The standard communities of `list` as 32-bit values, sorted, without
/// duplicates. Large communities are not carried by routes yet.
pub fn standard_communities<'a>(list: impl IntoIterator<Item = &'a Community>) -> Vec<u32> {
    let mut out: Vec<u32> = (list.into_iter())
        .filter_map(|c| match c {
            Community::Standard(v) => Some(*v),
            Community::Large(_) => None,
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}
