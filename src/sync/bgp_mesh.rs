//! iBGP among the cluster's Nodes, as kube-router forms it: with
//! `bgp.nodesFullMesh`, every other Node is a peer; route reflection from
//! the `kube-router.io/rr.server` / `rr.client` annotations replaces the
//! mesh where they are set:
//! - a node with `rr.server=<id>` reflects: its cluster ID is `<id>`, it
//!   peers with every other node (mesh or not) except clients of another
//!   cluster, and the nodes with `rr.client=<id>` are its clients;
//! - a node with `rr.client=<id>` peers only with the `rr.server=<id>` nodes;
//! - a plain node meshes (with `bgp.nodesFullMesh`) with every node that is
//!   not a route-reflector client.
//!
//! A peer's address is the other node's primary address (first InternalIP,
//! else ExternalIP) in each family this node also has; its ASN is that
//! node's `kube-router.io/node.asn`, else `bgp.asn`.

use std::net::Ipv4Addr;

use super::bgp_peers::{PeerDefinition, PeerSource};
use super::bgp_sources::created;
use crate::host::bgp::PeerSpec;
use crate::model::annotations::RouteReflectorClusterId;
use crate::model::config::BgpConfig;
use crate::model::{ClusterView, NodeInfo};

/// This node's part of the cluster's iBGP.
#[derive(Debug, Default)]
pub struct Mesh {
    /// The route-reflector cluster ID, when this node reflects.
    pub cluster_id: Option<Ipv4Addr>,
    pub peers: Vec<PeerDefinition>,
}

/// Whom this node peers with, and how, by the roles of both nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Server(RouteReflectorClusterId),
    Client(RouteReflectorClusterId),
    Plain,
}

fn role(node: &NodeInfo) -> Role {
    match (node.annotations.rr_server, node.annotations.rr_client) {
        (Some(id), _) => Role::Server(id),
        (None, Some(id)) => Role::Client(id),
        (None, None) => Role::Plain,
    }
}

/// `Some(rr_client)` when `me` peers with `other`.
fn pairing(me: Role, other: Role, full_mesh: bool) -> Option<bool> {
    match (me, other) {
        (Role::Server(id), Role::Client(theirs)) => (id == theirs).then_some(true),
        (Role::Server(_), _) => Some(false),
        (Role::Client(id), Role::Server(theirs)) => (id == theirs).then_some(false),
        (Role::Client(_), _) => None,
        (Role::Plain, Role::Client(_)) => None,
        (Role::Plain, _) => full_mesh.then_some(false),
    }
}

/// The iBGP peers of `me` among the view's Nodes.
pub fn mesh(bgp: &BgpConfig, me: &NodeInfo, view: &ClusterView) -> Mesh {
    let my_role = role(me);
    let mut out = Mesh {
        cluster_id: match my_role {
            Role::Server(id) => Some(Ipv4Addr::from(id.0)),
            _ => None,
        },
        peers: Vec::new(),
    };
    for (name, node) in &view.nodes {
        if *name == me.name {
            continue;
        }
        // Other nodes' bad annotations are theirs to report.
        let other = NodeInfo::from_node(node).0;
        let Some(rr_client) = pairing(my_role, role(&other), bgp.nodes_full_mesh) else {
            continue;
        };
        let since = created(&node.metadata);
        for (family, ip) in &other.primary_ips {
            if !me.primary_ips.contains_key(family) || me.addresses.contains(ip) {
                continue;
            }
            let mut spec = PeerSpec::new(*ip, other.annotations.asn.unwrap_or(bgp.asn));
            spec.rr_client = rr_client;
            out.peers.push(PeerDefinition {
                source: PeerSource::Mesh { node: name.clone() },
                since,
                spec,
            });
        }
    }
    out
}

#[cfg(test)]
#[path = "bgp_mesh_tests.rs"]
mod tests;
