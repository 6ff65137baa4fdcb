//! The iBGP mesh and route reflection among the Nodes.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::Node;
use serde_json::{Value, json};

use super::*;

/// `name` at 192.168.50.`n` (and fd00::50:`n`), annotated.
fn node(name: &str, n: u8, annotations: Value) -> Node {
    serde_json::from_value(json!({
        "metadata": {"name": name, "annotations": annotations},
        "status": {"addresses": [
            {"type": "InternalIP", "address": format!("192.168.50.{n}")},
            {"type": "InternalIP", "address": format!("fd00::50:{n}")},
        ]},
    }))
    .unwrap()
}

/// `me`'s mesh in a cluster of `nodes` (the first is `me`): (address,
/// asn, rr_client) per peer, and the cluster ID.
fn mesh_of(full_mesh: bool, nodes: &[Node]) -> (Vec<(String, u32, bool)>, Option<Ipv4Addr>) {
    let bgp = BgpConfig {
        enabled: true,
        nodes_full_mesh: full_mesh,
        ..BgpConfig::default()
    };
    let me = NodeInfo::from_node(&nodes[0]).0;
    let view = ClusterView::from_objects([], [], nodes.to_vec());
    let m = mesh(&bgp, &me, &view);
    for p in &m.peers {
        assert!(matches!(&p.source, PeerSource::Mesh { .. }));
    }
    let peers = (m.peers.iter())
        .map(|p| (p.spec.address.to_string(), p.spec.asn, p.spec.rr_client))
        .collect();
    (peers, m.cluster_id)
}

fn v4(peers: &[(String, u32, bool)]) -> Vec<(String, u32, bool)> {
    (peers.iter())
        .filter(|(a, ..)| a.parse::<IpAddr>().unwrap().is_ipv4())
        .cloned()
        .collect()
}

fn p(n: u8, asn: u32, client: bool) -> (String, u32, bool) {
    (format!("192.168.50.{n}"), asn, client)
}

#[test]
fn the_full_mesh_peers_with_every_other_node_in_each_family() {
    let nodes = [
        node("a", 1, json!({})),
        node("b", 2, json!({"kube-router.io/node.asn": "65002"})),
        node("c", 3, json!({})),
    ];
    let (peers, cluster) = mesh_of(true, &nodes);
    assert_eq!(cluster, None);
    assert_eq!(peers.len(), 4, "two nodes, two families: {peers:?}");
    assert!(peers.contains(&("fd00::50:2".to_string(), 65002, false)));
    assert_eq!(v4(&peers), [p(2, 65002, false), p(3, 64512, false)]);
    // Without the mesh and without route reflection: no node peers.
    assert!(mesh_of(false, &nodes).0.is_empty());
}

#[test]
fn route_reflection_follows_rr_server_and_rr_client() {
    let server = |n: &str, i: u8, id: &str| node(n, i, json!({"kube-router.io/rr.server": id}));
    let client = |n: &str, i: u8, id: &str| node(n, i, json!({"kube-router.io/rr.client": id}));
    let plain = node("p", 9, json!({}));
    let cluster = [
        server("s1", 1, "1"),
        server("s2", 2, "1"),
        client("c1", 3, "1"),
        client("c2", 4, "2"),
        plain.clone(),
    ];
    // A server: every node but another cluster's clients; its own are clients.
    let (peers, id) = mesh_of(false, &cluster);
    assert_eq!(id, Some(Ipv4Addr::new(0, 0, 0, 1)));
    assert_eq!(
        v4(&peers),
        [p(3, 64512, true), p(9, 64512, false), p(2, 64512, false)]
    );
    // A client: only its cluster's servers.
    let mut order = cluster.clone();
    order.swap(0, 2);
    let (peers, id) = mesh_of(true, &order);
    assert_eq!(id, None);
    assert_eq!(v4(&peers), [p(1, 64512, false), p(2, 64512, false)]);
    // A plain node in the mesh: every node but the clients.
    let mut order = cluster.to_vec();
    order.rotate_right(1);
    let (peers, _) = mesh_of(true, &order);
    assert_eq!(v4(&peers), [p(1, 64512, false), p(2, 64512, false)]);
}
