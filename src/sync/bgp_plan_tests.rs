//! The BGP planner on its own: which addresses a service announces, with
//! which attributes, and the skeleton's speaker, peers and pod CIDRs.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::{Value, json};

use super::*;
use crate::host::bgp::{BgpPeerKey, BgpSpeakerSettings, PeerSpec};
use crate::model::NodeInfo;
use crate::model::config::{BgpConfig, ProxyConfig};
use crate::model::fixtures::{service_from, slice};
use crate::model::projection::{Projection, project_service};
use crate::sync::bgp_context::BgpContextError;
pub(super) use crate::sync::bgp_peers::tests::peer_config as peer;
use crate::sync::service_plan::plan_skeleton as plan_all_skeleton;

pub(super) fn enabled() -> BgpConfig {
    BgpConfig {
        enabled: true,
        ..BgpConfig::default()
    }
}

/// node-a (192.168.50.1, fd00::50:1), pod CIDR 10.244.1.0/24, annotated.
pub(super) fn node_with(annotations: Value) -> Node {
    serde_json::from_value(json!({
        "metadata": {"name": "node-a", "annotations": annotations},
        "spec": {"podCIDRs": ["10.244.1.0/24"]},
        "status": {"addresses": [
            {"type": "InternalIP", "address": "192.168.50.1"},
            {"type": "InternalIP", "address": "fd00::50:1"},
        ]},
    }))
    .expect("valid Node")
}

/// The context on `node`, with `services` (their peers) in the view.
pub(super) fn ctx_with(bgp: &BgpConfig, node: &Node, services: &[Service]) -> ProxyContext {
    let view = crate::model::ClusterView::from_objects(services.to_vec(), [], [node.clone()]);
    ProxyContext::new(&ProxyConfig::default(), NodeInfo::from_node(node).0)
        .with_bgp(bgp, &view, None)
}

fn ctx_on(bgp: &BgpConfig, node: &Node) -> ProxyContext {
    ctx_with(bgp, node, &[])
}

fn ctx(bgp: &BgpConfig) -> ProxyContext {
    ctx_on(bgp, &node_with(json!({})))
}

/// A LoadBalancer: cluster IP 10.96.0.10, external IP 198.51.100.10, LB
/// IP 203.0.113.10, `extra` merged into the Service.
pub(super) fn lb_service(name: &str, extra: Value) -> Service {
    let mut svc = json!({
        "metadata": {"namespace": "default", "name": name, "annotations": {}},
        "spec": {
            "type": "LoadBalancer",
            "clusterIP": "10.96.0.10",
            "clusterIPs": ["10.96.0.10"],
            "externalIPs": ["198.51.100.10"],
            "ports": [{"name": "http", "protocol": "TCP", "port": 80, "nodePort": 30080}],
        },
        "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}},
    });
    merge(&mut svc, extra);
    service_from(svc)
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

pub(super) fn annotated(pairs: &[(&str, &str)]) -> Service {
    let map: serde_json::Map<String, Value> = (pairs.iter())
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    lb_service("web", json!({"metadata": {"annotations": map}}))
}

/// One ready endpoint of `web` on `node`.
pub(super) fn web_slice(ip: &str, node: &str) -> EndpointSlice {
    slice(
        "default",
        "web",
        "web-1",
        ("http", "TCP", 8080),
        &[(ip, node, true)],
    )
}

pub(super) fn routes_with(
    svc: &Service,
    slices: &[EndpointSlice],
    ctx: &ProxyContext,
) -> BTreeMap<OriginatedRoute, RouteAttrs> {
    let (projected, warnings) = project_service(svc, slices, &ctx.node, None);
    assert_eq!(warnings, vec![]);
    match projected.expect("projects") {
        Projection::Service(s) => plan_routes(&s, ctx),
        Projection::Skipped(_) => BTreeMap::new(),
    }
}

fn prefixes(routes: &BTreeMap<OriginatedRoute, RouteAttrs>) -> BTreeSet<String> {
    routes.keys().map(|r| r.prefix.to_string()).collect()
}

fn announced(svc: &Service, bgp: &BgpConfig) -> BTreeSet<String> {
    prefixes(&routes_with(
        svc,
        &[web_slice("10.244.1.5", "node-b")],
        &ctx(bgp),
    ))
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

const CLUSTER: &str = "10.96.0.10/32";
const EXTERNAL: &str = "198.51.100.10/32";
const LB: &str = "203.0.113.10/32";

#[test]
fn by_default_only_lb_ips_are_announced() {
    assert_eq!(announced(&annotated(&[]), &enabled()), set(&[LB]));
}

#[test]
fn each_advertise_flag_and_each_annotation_override() {
    // (clusterIP, externalIP, loadBalancerIP) in the config, annotations,
    // what is announced.
    type Case<'a> = ((bool, bool, bool), &'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: &[Case] = &[
        ((true, false, false), &[], &[CLUSTER]),
        ((false, true, false), &[], &[EXTERNAL]),
        ((false, false, true), &[], &[LB]),
        ((true, true, true), &[], &[CLUSTER, EXTERNAL, LB]),
        ((false, false, false), &[], &[]),
        (
            (false, false, false),
            &[("kube-router.io/service.advertise.clusterip", "true")],
            &[CLUSTER],
        ),
        (
            (false, false, false),
            &[("kube-router.io/service.advertise.externalip", "true")],
            &[EXTERNAL],
        ),
        (
            (false, false, false),
            &[("kube-router.io/service.advertise.loadbalancerip", "true")],
            &[LB],
        ),
        (
            (true, true, true),
            &[
                ("kube-router.io/service.advertise.clusterip", "false"),
                ("kube-router.io/service.advertise.externalip", "false"),
            ],
            &[LB],
        ),
        (
            (true, true, true),
            &[("kube-router.io/service.advertise.loadbalancerip", "false")],
            &[CLUSTER, EXTERNAL],
        ),
        // kroute.io/ spellings, winning over kube-router.io/.
        (
            (false, false, true),
            &[
                ("kroute.io/service.advertise.clusterip", "true"),
                ("kube-router.io/service.advertise.loadbalancerip", "true"),
                ("kroute.io/service.advertise.loadbalancerip", "false"),
            ],
            &[CLUSTER],
        ),
    ];
    for ((cluster_ip, external_ip, load_balancer_ip), annotations, want) in cases {
        let mut bgp = enabled();
        bgp.advertise.cluster_ip = *cluster_ip;
        bgp.advertise.external_ip = *external_ip;
        bgp.advertise.load_balancer_ip = *load_balancer_ip;
        assert_eq!(
            announced(&annotated(annotations), &bgp),
            set(want),
            "{:?} {annotations:?}",
            (cluster_ip, external_ip, load_balancer_ip)
        );
    }
}

#[test]
fn skiplbips_and_ip_mode_proxy_are_not_announced() {
    let mut bgp = enabled();
    bgp.advertise.external_ip = true;
    let skip = annotated(&[("kube-router.io/service.skiplbips", "")]);
    assert_eq!(announced(&skip, &bgp), set(&[EXTERNAL]));
    let skip = annotated(&[("kroute.io/service.skiplbips", "")]);
    assert_eq!(announced(&skip, &bgp), set(&[EXTERNAL]));

    let proxy_mode = lb_service(
        "web",
        json!({"status": {"loadBalancer": {"ingress": [
            {"ip": "203.0.113.10", "ipMode": "Proxy"},
            {"ip": "203.0.113.11", "ipMode": "VIP"},
        ]}}}),
    );
    assert_eq!(
        announced(&proxy_mode, &bgp),
        set(&[EXTERNAL, "203.0.113.11/32"])
    );
}

#[test]
fn headless_and_external_name_services_announce_nothing() {
    let mut bgp = enabled();
    bgp.advertise.cluster_ip = true;
    let headless = lb_service(
        "web",
        json!({"spec": {"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"]}}),
    );
    assert_eq!(announced(&headless, &bgp), set(&[]));
    let external_name = service_from(json!({
        "metadata": {"namespace": "default", "name": "web"},
        "spec": {"type": "ExternalName", "externalName": "example.com"},
    }));
    assert_eq!(announced(&external_name, &bgp), set(&[]));
}

#[test]
fn ipv6_addresses_are_announced_as_128s() {
    let mut bgp = enabled();
    bgp.advertise.cluster_ip = true;
    let svc = lb_service(
        "web",
        json!({
            "spec": {
                "ipFamilies": ["IPv4", "IPv6"],
                "clusterIPs": ["10.96.0.10", "fd00:96::10"],
                "externalIPs": [],
            },
            "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}, {"ip": "2001:db8::10"}]}},
        }),
    );
    assert_eq!(
        announced(&svc, &bgp),
        set(&[CLUSTER, LB, "fd00:96::10/128", "2001:db8::10/128"])
    );
}

#[test]
fn a_local_service_is_announced_only_with_a_ready_local_endpoint() {
    let mut bgp = enabled();
    bgp.advertise.cluster_ip = true;
    let ctx = ctx(&bgp);
    let local = lb_service("web", json!({"spec": {"externalTrafficPolicy": "Local"}}));
    let forced = annotated(&[("kube-router.io/service.local", "true")]);
    for svc in [&local, &forced] {
        let here = [web_slice("10.244.1.5", "node-a")];
        assert_eq!(
            prefixes(&routes_with(svc, &here, &ctx)),
            set(&[CLUSTER, LB])
        );
        let elsewhere = [web_slice("10.244.2.5", "node-b")];
        assert_eq!(prefixes(&routes_with(svc, &elsewhere, &ctx)), set(&[]));
        assert_eq!(prefixes(&routes_with(svc, &[], &ctx)), set(&[]));
        let not_ready = [slice(
            "default",
            "web",
            "web-1",
            ("http", "TCP", 8080),
            &[("10.244.1.5", "node-a", false)],
        )];
        assert_eq!(prefixes(&routes_with(svc, &not_ready, &ctx)), set(&[]));
    }
    // Cluster policy: announced wherever the endpoints are.
    let cluster = annotated(&[]);
    assert_eq!(
        prefixes(&routes_with(&cluster, &[], &ctx)),
        set(&[CLUSTER, LB])
    );
}

#[test]
fn a_local_dual_stack_service_is_announced_per_family_with_a_local_endpoint() {
    let svc = lb_service(
        "web",
        json!({
            "spec": {
                "externalTrafficPolicy": "Local",
                "ipFamilies": ["IPv4", "IPv6"],
                "clusterIPs": ["10.96.0.10", "fd00:96::10"],
                "externalIPs": [],
            },
            "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}, {"ip": "2001:db8::10"}]}},
        }),
    );
    let v6_here = slice(
        "default",
        "web",
        "web-6",
        ("http", "TCP", 8080),
        &[("fd00:244::5", "node-a", true)],
    );
    let v4_elsewhere = web_slice("10.244.2.5", "node-b");
    let routes = routes_with(&svc, &[v4_elsewhere, v6_here], &ctx(&enabled()));
    assert_eq!(prefixes(&routes), set(&["2001:db8::10/128"]));
}

#[test]
fn attributes_come_from_the_service_and_the_node() {
    let node = node_with(json!({
        "kube-router.io/node.bgp.communities": "65000:2, 65000:1",
        "kube-router.io/path-prepend.as": "65100",
        "kube-router.io/path-prepend.repeat-n": "3",
    }));
    let ctx = ctx_on(&enabled(), &node);
    let svc = annotated(&[
        ("kroute.io/bgp.communities", "65000:1, no-export, 1:2:3"),
        ("kroute.io/bgp.local-pref", "200"),
    ]);
    let routes = routes_with(&svc, &[], &ctx);
    let attrs = &routes[&OriginatedRoute {
        prefix: LB.parse().unwrap(),
    }];
    assert_eq!(
        *attrs,
        RouteAttrs {
            next_hop: None,
            // Deduplicated and sorted.
            communities: vec![65000 << 16 | 1, 65000 << 16 | 2, 0xFFFF_FF01],
            large_communities: vec![[1, 2, 3]],
            local_pref: Some(200),
            prepend: vec![65100; 3],
            only_peers: vec![],
            except_peers: vec![],
        }
    );
}

#[test]
fn bgp_disabled_plans_nothing_bgp() {
    let disabled = BgpConfig::default();
    assert!(!disabled.enabled);
    assert_eq!(announced(&annotated(&[]), &disabled), set(&[]));
    let skel = plan_all_skeleton(&ctx(&disabled));
    assert!(skel.bgp_speaker.is_empty() && skel.bgp_peers.is_empty() && skel.bgp.is_empty());
    assert!(!skel.nft.is_empty());
}

fn speaker_of(ctx: &ProxyContext) -> Option<BgpSpeakerSettings> {
    plan_all_skeleton(ctx).bgp_speaker.remove(&BgpSpeakerKey)
}

#[test]
fn the_speaker_from_the_config_and_the_node() {
    let speaker = speaker_of(&ctx(&enabled())).expect("a speaker");
    assert_eq!(
        speaker,
        BgpSpeakerSettings {
            asn: 64512,
            router_id: "192.168.50.1".parse().unwrap(),
            listen: vec!["[::]:179".parse().unwrap()],
            graceful_restart_time: Some(90),
            cluster_id: None,
        }
    );

    let bgp = BgpConfig {
        asn: 65010,
        router_id: Some("1.1.1.1".parse().unwrap()),
        listen_addresses: vec![
            "192.168.50.1".parse().unwrap(),
            "fd00::50:1".parse().unwrap(),
        ],
        listen_port: 1179,
        graceful_restart: crate::model::config::GracefulRestartConfig {
            enabled: false,
            restart_time: Duration::from_secs(120),
        },
        ..enabled()
    };
    let speaker = speaker_of(&ctx(&bgp)).expect("a speaker");
    assert_eq!(speaker.asn, 65010);
    assert_eq!(
        speaker.router_id,
        "1.1.1.1".parse::<std::net::Ipv4Addr>().unwrap()
    );
    let listen: Vec<SocketAddr> = vec![
        "192.168.50.1:1179".parse().unwrap(),
        "[fd00::50:1]:1179".parse().unwrap(),
    ];
    assert_eq!(speaker.listen, listen);
    assert_eq!(speaker.graceful_restart_time, None);

    // The Node's ASN wins over bgp.asn.
    let node = node_with(json!({"kube-router.io/node.asn": "65123"}));
    assert_eq!(speaker_of(&ctx_on(&bgp, &node)).unwrap().asn, 65123);
}

#[test]
fn without_a_router_id_nothing_bgp_is_planned_and_the_error_names_node_and_key() {
    let v6_only: Node = serde_json::from_value(json!({
        "metadata": {"name": "node-6"},
        "spec": {"podCIDRs": ["fd00:244::/64"]},
        "status": {"addresses": [{"type": "InternalIP", "address": "fd00::50:6"}]},
    }))
    .unwrap();
    let mut bgp = enabled();
    bgp.peers = vec![peer("10.0.0.1", 65000)];
    let ctx = ctx_on(&bgp, &v6_only);
    let Some(Err(e)) = ctx.bgp.as_ref().map(|b| b.speaker.clone()) else {
        panic!("{:?}", ctx.bgp);
    };
    assert_eq!(
        e,
        BgpContextError::NoRouterId {
            node: "node-6".into()
        }
    );
    let text = e.to_string();
    assert!(
        text.contains("node-6") && text.contains("bgp.routerId"),
        "{text}"
    );
    let skel = plan_all_skeleton(&ctx);
    assert!(skel.bgp_speaker.is_empty() && skel.bgp_peers.is_empty() && skel.bgp.is_empty());
    assert!(routes_with(&annotated(&[]), &[], &ctx).is_empty());

    // A configured router ID needs no IPv4 address.
    bgp.router_id = Some("10.10.10.10".parse().unwrap());
    let ctx = ctx_on(&bgp, &v6_only);
    assert!(speaker_of(&ctx).is_some());
    let pods: Vec<String> = (plan_all_skeleton(&ctx).bgp.keys())
        .map(|r| r.prefix.to_string())
        .collect();
    assert_eq!(pods, ["fd00:244::/64"]);
}

#[test]
fn peers_come_from_the_config() {
    let mut bgp = enabled();
    bgp.peers = vec![peer("10.0.0.1", 65000), peer("fd00::1", 65001)];
    let peers = plan_all_skeleton(&ctx(&bgp)).bgp_peers;
    let want: BTreeMap<BgpPeerKey, PeerSpec> = (bgp.peers.iter())
        .map(|p| (BgpPeerKey(p.address), PeerSpec::from(p)))
        .collect();
    assert_eq!(peers, want);
}

#[test]
fn pod_cidrs_are_announced_with_the_node_attributes() {
    let node = node_with(json!({
        "kube-router.io/node.bgp.communities": "65000:7",
        "kube-router.io/path-prepend.as": "65100",
        "kube-router.io/path-prepend.repeat-n": "2",
        "kube-router.io/pod-cidrs": "10.244.9.0/24,fd00:244:9::/64",
    }));
    let routes = plan_all_skeleton(&ctx_on(&enabled(), &node)).bgp;
    let want = RouteAttrs {
        communities: vec![65000 << 16 | 7],
        prepend: vec![65100, 65100],
        ..RouteAttrs::default()
    };
    let got: Vec<(String, &RouteAttrs)> = (routes.iter())
        .map(|(r, a)| (r.prefix.to_string(), a))
        .collect();
    assert_eq!(
        got,
        [
            ("10.244.9.0/24".to_string(), &want),
            ("fd00:244:9::/64".to_string(), &want)
        ]
    );

    let mut off = enabled();
    off.advertise.pod_cidr = false;
    assert!(plan_all_skeleton(&ctx_on(&off, &node)).bgp.is_empty());
}
