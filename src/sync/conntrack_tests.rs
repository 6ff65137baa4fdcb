//! Which UDP conntrack entries each kind of service keeps, and when the
//! tracker asks for a cleanup.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::{Value, json};

use super::*;
use crate::host::conntrack::UdpFlow;
use crate::model::fixtures::{node, service_from, slice};
use crate::model::projection::{Projection, project_service};
use crate::model::{Family, NodeInfo};

fn project(svc: &Service, slices: &[EndpointSlice]) -> KubeRouterService {
    let (node, _) = NodeInfo::from_node(&node("node-a", "192.168.50.1"));
    match project_service(svc, slices, &node, None).0.unwrap() {
        Projection::Service(s) => *s,
        other => panic!("not projected: {other:?}"),
    }
}

fn svc(spec: Value) -> Service {
    service_from(json!({"metadata": {"namespace": "ns", "name": "dns"}, "spec": spec}))
}

/// A ClusterIP service `dns` on 10.96.0.10 with UDP and TCP port 53 → 5353.
fn dns() -> Service {
    svc(json!({
        "type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
        "ports": [
            {"name": "udp", "protocol": "UDP", "port": 53, "targetPort": 5353},
            {"name": "tcp", "protocol": "TCP", "port": 53, "targetPort": 5353},
        ],
    }))
}

fn udp_slice(name: &str, ips: &[&str]) -> EndpointSlice {
    let eps: Vec<(&str, &str, bool)> = ips.iter().map(|ip| (*ip, "node-b", true)).collect();
    slice("ns", "dns", name, ("udp", "UDP", 5353), &eps)
}

fn tcp_slice(ips: &[&str]) -> EndpointSlice {
    let eps: Vec<(&str, &str, bool)> = ips.iter().map(|ip| (*ip, "node-b", true)).collect();
    slice("ns", "dns", "dns-tcp", ("tcp", "TCP", 5353), &eps)
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn set(addrs: &[&str]) -> BTreeSet<SocketAddr> {
    addrs.iter().map(|a| sa(a)).collect()
}

fn addr_filter(frontend: &str, allowed: &[&str]) -> StaleUdpFilter {
    let frontend = sa(frontend);
    StaleUdpFilter {
        family: Family::of(&frontend.ip()),
        frontend: FlowFrontend::Address(frontend),
        allowed: set(allowed),
    }
}

fn node_port_filter(family: Family, port: u16, allowed: &[&str]) -> StaleUdpFilter {
    StaleUdpFilter {
        family,
        frontend: FlowFrontend::NodePort(port),
        allowed: set(allowed),
    }
}

/// A flow from the client to `dst`, DNATed to `reply_src`.
fn flow(dst: &str, reply_src: &str) -> UdpFlow {
    let client = if dst.starts_with('[') {
        sa("[fd00:50::2]:40000")
    } else {
        sa("192.168.50.2:40000")
    };
    UdpFlow {
        orig_src: client,
        orig_dst: sa(dst),
        reply_src: sa(reply_src),
        reply_dst: client,
    }
}

fn key() -> ObjectKey {
    ObjectKey::new("ns", "dns")
}

/// Commits one incremental plan for `dns` as `service`; true when a cleanup became due.
fn commit(tracker: &mut ConntrackTracker, service: Option<&KubeRouterService>) -> bool {
    let mut plan = ConntrackPlan::incremental();
    plan.planned(&key(), service);
    tracker.commit(plan);
    let due = tracker.due();
    tracker.cleaned();
    due
}

#[test]
fn a_udp_cluster_ip_keeps_only_entries_to_its_serving_endpoints() {
    let s = project(
        &dns(),
        &[udp_slice("dns-udp", &["10.244.1.11", "10.244.1.12"])],
    );
    assert_eq!(
        udp_filters(&s),
        [addr_filter(
            "10.96.0.10:53",
            &["10.244.1.11:5353", "10.244.1.12:5353"]
        )]
    );
}

#[test]
fn tcp_ports_get_no_filter() {
    let s = project(
        &dns(),
        &[
            udp_slice("dns-udp", &["10.244.1.11"]),
            tcp_slice(&["10.244.1.11"]),
        ],
    );
    let filters = udp_filters(&s);
    assert_eq!(filters.len(), 1, "{filters:?}");
    assert_eq!(filters[0].allowed, set(&["10.244.1.11:5353"]));

    let tcp_only = svc(json!({
        "type": "NodePort", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
        "ports": [{"name": "tcp", "protocol": "TCP", "port": 53, "nodePort": 30053}],
    }));
    assert!(udp_filters(&project(&tcp_only, &[tcp_slice(&["10.244.1.11"])])).is_empty());
}

#[test]
fn a_removed_or_replaced_endpoint_is_no_longer_allowed() {
    let before = project(
        &dns(),
        &[udp_slice("dns-udp", &["10.244.1.11", "10.244.1.12"])],
    );
    let removed = project(&dns(), &[udp_slice("dns-udp", &["10.244.1.12"])]);
    let replaced = project(&dns(), &[udp_slice("dns-udp", &["10.244.1.13"])]);
    let m = |s: &KubeRouterService| {
        ConntrackFlush {
            filters: udp_filters(s),
        }
        .matcher(Family::Ip)
    };
    let to_11 = flow("10.96.0.10:53", "10.244.1.11:5353");
    let to_12 = flow("10.96.0.10:53", "10.244.1.12:5353");
    assert!(!m(&before).is_stale(&to_11));
    assert!(m(&removed).is_stale(&to_11));
    assert!(!m(&removed).is_stale(&to_12));
    assert!(m(&replaced).is_stale(&to_11));
    assert!(m(&replaced).is_stale(&to_12));
    assert!(!m(&replaced).is_stale(&flow("10.96.0.10:53", "10.244.1.13:5353")));
}

#[test]
fn a_service_gaining_its_first_endpoint_releases_flows_that_were_never_dnated() {
    let empty = project(&dns(), &[]);
    assert_eq!(udp_filters(&empty), [addr_filter("10.96.0.10:53", &[])]);
    let served = project(&dns(), &[udp_slice("dns-udp", &["10.244.1.11"])]);
    let m = ConntrackFlush {
        filters: udp_filters(&served),
    }
    .matcher(Family::Ip);
    // An entry made while nothing served: its reply comes from the VIP itself.
    assert!(m.is_stale(&flow("10.96.0.10:53", "10.96.0.10:53")));

    let mut tracker = ConntrackTracker::default();
    assert!(commit(&mut tracker, Some(&empty)), "a new UDP service");
    assert!(commit(&mut tracker, Some(&served)), "0 → 1 endpoints");
}

#[test]
fn every_address_of_the_service_and_its_node_port_get_a_filter() {
    let lb = svc(json!({
        "type": "LoadBalancer", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
        "externalIPs": ["203.0.113.7"],
        "ports": [{"name": "udp", "protocol": "UDP", "port": 53, "targetPort": 5353, "nodePort": 30053}],
    }));
    let mut lb = lb;
    lb.status = serde_json::from_value(json!({
        "loadBalancer": {"ingress": [{"ip": "198.51.100.9"}, {"ip": "198.51.100.10", "ipMode": "Proxy"}]}
    }))
    .unwrap();
    let s = project(&lb, &[udp_slice("dns-udp", &["10.244.1.11"])]);
    let ep = ["10.244.1.11:5353"];
    assert_eq!(
        udp_filters(&s),
        [
            addr_filter("10.96.0.10:53", &ep),
            addr_filter("198.51.100.9:53", &ep),
            addr_filter("203.0.113.7:53", &ep),
            node_port_filter(Family::Ip, 30053, &ep),
        ],
        "an ipMode: Proxy ingress is not ours"
    );
}

#[test]
fn a_node_port_without_serving_endpoints_gets_no_filter() {
    let np = svc(json!({
        "type": "NodePort", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
        "ports": [{"name": "udp", "protocol": "UDP", "port": 53, "nodePort": 30053}],
    }));
    assert_eq!(
        udp_filters(&project(&np, &[])),
        [addr_filter("10.96.0.10:53", &[])]
    );
}

#[test]
fn both_families_get_their_own_filters_and_endpoints() {
    let dual = svc(json!({
        "type": "NodePort", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10", "fd00:96::10"],
        "ipFamilies": ["IPv4", "IPv6"],
        "ports": [{"name": "udp", "protocol": "UDP", "port": 53, "targetPort": 5353, "nodePort": 30053}],
    }));
    let v6 = slice(
        "ns",
        "dns",
        "dns-v6",
        ("udp", "UDP", 5353),
        &[("fd00:244:1::11", "node-b", true)],
    );
    let s = project(&dual, &[udp_slice("dns-v4", &["10.244.1.11"]), v6]);
    assert_eq!(
        udp_filters(&s),
        [
            addr_filter("10.96.0.10:53", &["10.244.1.11:5353"]),
            node_port_filter(Family::Ip, 30053, &["10.244.1.11:5353"]),
            addr_filter("[fd00:96::10]:53", &["[fd00:244:1::11]:5353"]),
            node_port_filter(Family::Ip6, 30053, &["[fd00:244:1::11]:5353"]),
        ]
    );
    let flush = ConntrackFlush {
        filters: udp_filters(&s),
    };
    let v6 = flush.matcher(Family::Ip6);
    assert!(v6.is_stale(&flow("[fd00:96::10]:53", "[fd00:244:1::12]:5353")));
    assert!(!v6.is_stale(&flow("[fd00:96::10]:53", "[fd00:244:1::11]:5353")));
    assert!(v6.is_stale(&flow("[fd00:50::1]:30053", "[fd00:244:1::12]:5353")));
}

#[test]
fn terminating_and_other_zone_endpoints_still_serve_their_flows() {
    let slice: EndpointSlice = serde_json::from_value(json!({
        "metadata": {"namespace": "ns", "name": "dns-udp", "labels": {"kubernetes.io/service-name": "dns"}},
        "addressType": "IPv4",
        "ports": [{"name": "udp", "protocol": "UDP", "port": 5353}],
        "endpoints": [
            {"addresses": ["10.244.1.11"], "conditions": {"ready": true}, "nodeName": "node-a",
             "hints": {"forZones": [{"name": "zone-a"}]}},
            {"addresses": ["10.244.1.12"], "conditions": {"ready": true}, "nodeName": "node-b",
             "hints": {"forZones": [{"name": "zone-b"}]}},
            {"addresses": ["10.244.1.13"], "conditions": {"ready": false, "serving": true, "terminating": true}},
            {"addresses": ["10.244.1.14"], "conditions": {"ready": false, "serving": false, "terminating": true}},
        ],
    }))
    .unwrap();
    let s = project(&dns(), &[slice]);
    assert_eq!(
        udp_filters(&s)[0].allowed,
        set(&["10.244.1.11:5353", "10.244.1.12:5353", "10.244.1.13:5353"]),
        "not serving: 10.244.1.14"
    );
}

#[test]
fn the_tracker_is_due_only_when_a_udp_service_changed() {
    let one = project(&dns(), &[udp_slice("dns-udp", &["10.244.1.11"])]);
    let mut tracker = ConntrackTracker::default();
    assert!(!tracker.due());
    assert!(commit(&mut tracker, Some(&one)), "first sight");
    assert!(!commit(&mut tracker, Some(&one)), "unchanged");
    let tcp_changed = project(
        &dns(),
        &[
            udp_slice("dns-udp", &["10.244.1.11"]),
            tcp_slice(&["10.244.1.99"]),
        ],
    );
    assert!(!commit(&mut tracker, Some(&tcp_changed)), "a TCP port only");
    let replaced = project(&dns(), &[udp_slice("dns-udp", &["10.244.1.12"])]);
    assert!(commit(&mut tracker, Some(&replaced)));
    assert_eq!(tracker.flush().filters, udp_filters(&replaced));
    assert!(commit(&mut tracker, None), "deleted");
    assert!(tracker.is_empty());
    assert!(tracker.flush().is_empty());
    assert!(!commit(&mut tracker, None));
}

#[test]
fn a_tcp_only_service_never_makes_a_cleanup_due() {
    let tcp = svc(json!({
        "type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
        "ports": [{"name": "tcp", "protocol": "TCP", "port": 53}],
    }));
    let mut tracker = ConntrackTracker::default();
    assert!(!commit(&mut tracker, Some(&project(&tcp, &[]))));
    assert!(!commit(
        &mut tracker,
        Some(&project(&tcp, &[tcp_slice(&["10.244.1.11"])]))
    ));
    assert!(!commit(&mut tracker, None));
    assert!(tracker.is_empty());
}

#[test]
fn a_full_sync_drops_services_gone_from_the_view_and_keeps_unplannable_ones() {
    let one = project(&dns(), &[udp_slice("dns-udp", &["10.244.1.11"])]);
    let other_key = ObjectKey::new("ns", "other");
    let broken_key = ObjectKey::new("ns", "broken");
    let mut tracker = ConntrackTracker::default();
    let mut plan = ConntrackPlan::full();
    plan.planned(&key(), Some(&one));
    plan.planned(&other_key, Some(&one));
    plan.planned(&broken_key, Some(&one));
    tracker.commit(plan);
    tracker.cleaned();
    assert_eq!(tracker.len(), 3);

    // `other` is gone from the view, `broken` cannot be projected.
    let mut plan = ConntrackPlan::full();
    plan.planned(&key(), Some(&one));
    plan.kept(&broken_key);
    tracker.commit(plan);
    assert!(tracker.due(), "a UDP service went away");
    assert_eq!(tracker.len(), 2);
    tracker.cleaned();

    let mut plan = ConntrackPlan::full();
    plan.planned(&key(), Some(&one));
    plan.kept(&broken_key);
    tracker.commit(plan);
    assert!(!tracker.due(), "nothing changed");
    assert_eq!(
        tracker.flush().filters.len(),
        2,
        "dns and broken's kept filters"
    );
}

#[test]
fn an_incremental_sync_touches_only_the_services_it_planned() {
    let one = project(&dns(), &[udp_slice("dns-udp", &["10.244.1.11"])]);
    let mut tracker = ConntrackTracker::default();
    let mut plan = ConntrackPlan::full();
    plan.planned(&key(), Some(&one));
    plan.planned(&ObjectKey::new("ns", "other"), Some(&one));
    tracker.commit(plan);
    tracker.cleaned();

    let mut plan = ConntrackPlan::incremental();
    plan.kept(&key());
    tracker.commit(plan);
    assert!(!tracker.due());
    assert_eq!(tracker.len(), 2);
}
