//! `BgpContext`: what BGP planning needs of the `bgp:` configuration, of
//! this Node, of the other Nodes (the iBGP mesh) and of the Services' peer
//! annotations, derived once per sync (it is part of [`ProxyContext`], so a
//! change of any peer, of the Node's annotations or addresses re-plans
//! everything).
//!
//! [`ProxyContext`]: super::ProxyContext

use std::net::{IpAddr, Ipv4Addr};

use super::bgp_mesh::mesh;
use super::bgp_peers::{PeerSet, PeerSetError, PeerSource};
use super::bgp_sources::{Definitions, PeerSourceError, config_peers, node_peers, service_peers};
use super::report::SyncReport;
use crate::bgp::SpeakerConfig;
use crate::host::bgp::BgpSpeakerSettings;
use crate::model::annotations::{BGP_PEERS, Community, InvalidAnnotation};
use crate::model::config::{AdvertiseConfig, BgpConfig};
use crate::model::{ClusterView, Family, NodeInfo};

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
    /// Peers only Services define (see [`PeerSet::service_only`]).
    pub service_only_peers: Vec<IpAddr>,
    /// Peer definitions left out, and why.
    pub peer_errors: Vec<PeerSourceError>,
    /// `kube-router.io/node.bgp.communities` (standard ones), sorted.
    pub node_communities: Vec<u32>,
    /// The same annotation's large communities, sorted.
    pub node_large_communities: Vec<[u32; 3]>,
    /// `kube-router.io/path-prepend.as` repeated `path-prepend.repeat-n` times.
    pub prepend: Vec<u32>,
}

impl BgpContext {
    /// BGP on `node` per `bgp`, with the mesh among `view`'s Nodes and the
    /// peers of its Services (those `proxy_name` serves); `None` when
    /// `bgp.enabled` is false.
    pub fn new(
        bgp: &BgpConfig,
        node: &NodeInfo,
        view: &ClusterView,
        proxy_name: Option<&str>,
    ) -> Option<BgpContext> {
        if !bgp.enabled {
            return None;
        }
        // Definitions in age order for ties: config, mesh, node, services.
        let mut defs = Definitions::default();
        config_peers(&bgp.peers, &mut defs);
        let mesh = mesh(bgp, node, view);
        defs.peers.extend(mesh.peers);
        let meta = view.nodes.get(&node.name).map(|n| &n.metadata);
        node_peers(node, meta, &mut defs);
        service_peers(view, proxy_name, &mut defs);
        let peers = PeerSet::merge(defs.peers);
        let speaker = speaker(bgp, node).map(|mut s| {
            s.cluster_id = mesh.cluster_id;
            s
        });
        Some(BgpContext {
            speaker,
            advertise: bgp.advertise.clone(),
            service_only_peers: peers.service_only().into_iter().collect(),
            peers,
            peer_errors: defs.errors,
            node_communities: standard_communities(&node.annotations.communities),
            node_large_communities: large_communities(&node.annotations.communities),
            prepend: (node.annotations.path_prepend)
                .map(|p| vec![p.asn; usize::from(p.repeat)])
                .unwrap_or_default(),
        })
    }

    /// True when the speaker can run (BGP artifacts are planned).
    pub fn runs(&self) -> bool {
        self.speaker.is_ok()
    }

    /// This context's problems into `report`: a speaker that cannot run and
    /// peers left out (`bgp_errors`), peer conflicts (`bgp_peer_conflicts`),
    /// and on each annotated object involved an invalid annotation (a
    /// Kubernetes Event with the API source).
    pub fn report(&self, report: &mut SyncReport) {
        if let Err(e) = &self.speaker {
            report.bgp_errors.push(e.to_string());
        }
        for e in &self.peer_errors {
            match e.on_object() {
                Some(bad) => report.invalid_annotations.push(bad),
                None => report.bgp_errors.push(e.to_string()),
            }
        }
        for conflict in self.peers.conflicts() {
            let PeerSetError::Conflict {
                address,
                kept,
                ignored,
                ..
            } = conflict;
            report.bgp_peer_conflicts.push(conflict.to_string());
            for source in [kept, ignored] {
                if let Some(bad) = on_object(source, *address, conflict) {
                    report.invalid_annotations.push(bad);
                }
            }
        }
    }
}

/// A conflict as a problem of the annotated object `source` is, if it is one.
fn on_object(
    source: &PeerSource,
    address: IpAddr,
    conflict: &PeerSetError,
) -> Option<InvalidAnnotation> {
    let (kind, object, key) = match source {
        PeerSource::Node { name, key } => ("Node", name.clone(), key.to_string()),
        PeerSource::Service { key } => ("Service", key.to_string(), BGP_PEERS.to_string()),
        PeerSource::Config { .. } | PeerSource::Mesh { .. } => return None,
    };
    Some(InvalidAnnotation {
        kind,
        object,
        key,
        value: address.to_string(),
        reason: format!("conflicting BGP peer definitions: {conflict}"),
    })
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
        cluster_id: None,
    })
}

/// The large communities of `list`, sorted, without duplicates.
pub fn large_communities<'a>(list: impl IntoIterator<Item = &'a Community>) -> Vec<[u32; 3]> {
    let mut out: Vec<[u32; 3]> = (list.into_iter())
        .filter_map(|c| match c {
            Community::Large(l) => Some([l.global_admin, l.local_data1, l.local_data2]),
            Community::Standard(_) => None,
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The standard communities of `list` as 32-bit values, sorted, without
/// duplicates.
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
