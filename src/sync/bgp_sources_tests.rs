//! Peer definitions from each source: every form, and the ones left out.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::Node;
use serde_json::{Value, json};

use super::*;
use crate::model::fixtures::service_from;
use crate::sync::bgp_peers::tests::peer_config;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn node(annotations: Value) -> (NodeInfo, Node) {
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": "node-a", "annotations": annotations,
                     "creationTimestamp": "2026-01-02T03:04:05Z"},
    }))
    .unwrap();
    (NodeInfo::from_node(&node).0, node)
}

fn service(name: &str, annotations: Value, labels: Value) -> k8s_openapi::api::core::v1::Service {
    service_from(json!({
        "metadata": {"namespace": "default", "name": name,
                     "annotations": annotations, "labels": labels},
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"],
                 "ports": [{"port": 80, "protocol": "TCP"}]},
    }))
}

#[test]
fn config_peers_carry_every_field_and_read_the_password_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw");
    std::fs::write(&file, "from-file\n").unwrap();
    let mut a = peer_config("10.0.0.1", 65001);
    a.password_file = Some(file);
    a.multihop_ttl = 3;
    a.accept_prefixes = vec!["10.50.0.0/16".parse().unwrap()];
    a.max_prefixes = 100;
    let mut b = peer_config("10.0.0.2", 65002);
    b.password = Some("inline".into());
    let mut missing = peer_config("10.0.0.3", 65003);
    missing.password_file = Some(dir.path().join("absent"));
    let mut out = Definitions::default();
    config_peers(&[a, b, missing], &mut out);

    let specs: Vec<&PeerSpec> = out.peers.iter().map(|d| &d.spec).collect();
    assert_eq!(specs.len(), 2, "the unreadable one is left out");
    assert_eq!(specs[0].password, Some(PeerPassword("from-file".into())));
    assert_eq!(specs[0].multihop_ttl, Some(3));
    assert_eq!(specs[0].accept_prefixes, ["10.50.0.0/16".parse().unwrap()]);
    assert_eq!(specs[0].max_prefixes, 100);
    assert_eq!(specs[1].password, Some(PeerPassword("inline".into())));
    assert_eq!(
        specs[1].multihop_ttl, None,
        "1 is the session kind's default"
    );
    assert_eq!(out.errors.len(), 1);
    let text = out.errors[0].to_string();
    assert!(
        text.starts_with("bgp.peers[2] (10.0.0.3): cannot read passwordFile ")
            && text.contains("absent"),
        "{text}"
    );
}

#[test]
fn node_peers_in_both_forms_name_their_key_and_age() {
    let (info, obj) = node(json!({
        "kube-router.io/peers":
            "- {remoteip: 10.0.0.1, remoteasn: 65001, localip: 192.168.50.1, port: 1179, password: cHc=}",
    }));
    let mut out = Definitions::default();
    node_peers(&info, Some(&obj.metadata), &mut out);
    let [d] = out.peers.as_slice() else {
        panic!("{:?}", out.peers)
    };
    assert_eq!(
        d.source,
        PeerSource::Node {
            name: "node-a".into(),
            key: NODE_PEERS
        }
    );
    assert!(d.since.is_some());
    assert_eq!(
        (
            d.spec.address,
            d.spec.asn,
            d.spec.port,
            d.spec.local_address
        ),
        (ip("10.0.0.1"), 65001, 1179, Some(ip("192.168.50.1")))
    );
    assert_eq!(d.spec.password, Some(PeerPassword("pw".into())));

    let (info, obj) = node(json!({
        "kube-router.io/peer.ips": "10.0.0.1,10.0.0.2",
        "kube-router.io/peer.asns": "65001,65002",
        "kube-router.io/peer.ports": ",1790",
    }));
    let mut out = Definitions::default();
    node_peers(&info, Some(&obj.metadata), &mut out);
    let got: Vec<(IpAddr, u32, u16)> = (out.peers.iter())
        .map(|d| (d.spec.address, d.spec.asn, d.spec.port))
        .collect();
    assert_eq!(
        got,
        [(ip("10.0.0.1"), 65001, 179), (ip("10.0.0.2"), 65002, 1790)]
    );
    assert!(matches!(&out.peers[0].source, PeerSource::Node { key, .. } if *key == PEER_IPS));

    // A bad value is the node's invalid annotation and defines nothing.
    let (info, obj) = node(json!({"kube-router.io/peers": "- {remoteip: nope, remoteasn: 1}"}));
    let mut out = Definitions::default();
    node_peers(&info, Some(&obj.metadata), &mut out);
    assert!(out.peers.is_empty());
}

#[test]
fn service_peers_take_every_field_and_leave_out_secrets_and_bad_values() {
    let peers = "- {address: 10.0.0.1, asn: 65001, port: 1179, password: cHc=, localASN: 64999, multihopTTL: 4}\n\
                 - {address: 10.0.0.2, asn: 65002, passwordSecret: bgp}";
    let view = ClusterView::from_objects(
        [
            service("web", json!({"kroute.io/bgp.peers": peers}), json!({})),
            service(
                "bad",
                json!({"kroute.io/bgp.peers": "- {address: x}"}),
                json!({}),
            ),
            service(
                "other",
                json!({"kroute.io/bgp.peers": "- {address: 10.0.0.9, asn: 1}"}),
                json!({"service.kubernetes.io/service-proxy-name": "someone-else"}),
            ),
            service("plain", json!({}), json!({})),
        ],
        [],
        [],
    );
    let mut out = Definitions::default();
    service_peers(&view, None, &mut out);
    let [d] = out.peers.as_slice() else {
        panic!("{:?}", out.peers)
    };
    assert_eq!(
        d.source,
        PeerSource::Service {
            key: ObjectKey::new("default", "web")
        }
    );
    let s = &d.spec;
    assert_eq!(
        (s.address, s.asn, s.port, s.local_asn, s.multihop_ttl),
        (ip("10.0.0.1"), 65001, 1179, Some(64999), Some(4))
    );
    assert_eq!(s.password, Some(PeerPassword("pw".into())));
    let [PeerSourceError::PasswordSecret { service, index, .. }] = out.errors.as_slice() else {
        panic!("{:?}", out.errors)
    };
    assert_eq!(
        (service.to_string(), *index),
        ("default/web".to_string(), 1)
    );
    let bad = out.errors[0].on_object().expect("on the Service");
    assert_eq!((bad.kind, bad.key.as_str()), ("Service", BGP_PEERS));
}
