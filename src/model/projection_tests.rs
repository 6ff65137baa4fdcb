//! Projection table tests: every KubeRouterService field from Service,
//! EndpointSlice and Node inputs, and the errors for bad values.

use serde_json::{Value, json};

use super::*;
use crate::model::fixtures::{node, service_from};

fn this_node() -> NodeInfo {
    NodeInfo::from_node(&node("node-a", "192.168.50.1")).0
}

fn project_json(svc: Value, slices: &[Value]) -> Result<Projection, ProjectionError> {
    let slices: Vec<EndpointSlice> = slices
        .iter()
        .map(|s| serde_json::from_value(s.clone()).unwrap())
        .collect();
    project_service(&service_from(svc), &slices, &this_node(), None).0
}

fn projected(svc: Value, slices: &[Value]) -> KubeRouterService {
    match project_json(svc, slices) {
        Ok(Projection::Service(s)) => *s,
        other => panic!("expected a service, got {other:?}"),
    }
}

fn svc(spec: Value) -> Value {
    json!({"metadata": {"namespace": "ns", "name": "s"}, "spec": spec})
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn skipped_services() {
    let cases = [
        (
            svc(json!({"clusterIP": "None", "ports": [{"port": 80}]})),
            SkipReason::Headless,
        ),
        (
            svc(json!({"type": "ExternalName", "externalName": "x.example"})),
            SkipReason::ExternalName,
        ),
        (
            json!({"metadata": {"namespace": "ns", "name": "s",
                    "labels": {SERVICE_PROXY_NAME_LABEL: "other-proxy"}},
                   "spec": {"clusterIP": "10.96.0.1", "ports": [{"port": 80}]}}),
            SkipReason::OtherProxy,
        ),
    ];
    for (input, reason) in cases {
        assert_eq!(project_json(input, &[]), Ok(Projection::Skipped(reason)));
    }
}

#[test]
fn frontends_are_split_per_family() {
    let s = projected(
        json!({"metadata": {"namespace": "ns", "name": "s"},
               "spec": {"type": "LoadBalancer",
                        "clusterIPs": ["10.96.0.1", "fd00::1"],
                        "externalIPs": ["203.0.113.1", "2001:db8::1"],
                        "ports": [{"name": "h", "port": 80, "nodePort": 30001}]},
               "status": {"loadBalancer": {"ingress": [
                    {"ip": "198.51.100.1"},
                    {"ip": "198.51.100.2", "ipMode": "Proxy"},
                    {"ip": "2001:db8::2", "ipMode": "VIP"},
                    {"hostname": "lb.example"}]}}}),
        &[],
    );
    assert_eq!(s.service_type, ServiceType::LoadBalancer);
    let v4 = &s.frontends[&Family::Ip];
    assert_eq!(v4.cluster_ips, [ip("10.96.0.1")]);
    assert_eq!(v4.external_ips, [ip("203.0.113.1")]);
    assert_eq!(
        v4.load_balancer_ips,
        [ip("198.51.100.1")],
        "ipMode Proxy is skipped"
    );
    let v6 = &s.frontends[&Family::Ip6];
    assert_eq!(v6.cluster_ips, [ip("fd00::1")]);
    assert_eq!(v6.external_ips, [ip("2001:db8::1")]);
    assert_eq!(v6.load_balancer_ips, [ip("2001:db8::2")]);
    assert_eq!(s.ports[0].node_port, Some(30001));
}

#[test]
fn external_ips_outside_the_service_families_are_ignored() {
    let s = projected(
        svc(
            json!({"clusterIP": "10.96.0.1", "externalIPs": ["2001:db8::1"], "ports": [{"port": 80}]}),
        ),
        &[],
    );
    assert!(s.frontends[&Family::Ip].external_ips.is_empty());
    assert!(!s.frontends.contains_key(&Family::Ip6));
}

#[test]
fn skiplbips_annotation_drops_lb_ips() {
    let s = projected(
        json!({"metadata": {"namespace": "ns", "name": "s",
                 "annotations": {"kube-router.io/service.skiplbips": ""}},
               "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.1", "ports": [{"port": 80}]},
               "status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.1"}]}}}),
        &[],
    );
    assert!(s.frontends[&Family::Ip].load_balancer_ips.is_empty());
}

#[test]
fn ports_protocols_and_node_ports() {
    let s = projected(
        svc(
            json!({"type": "NodePort", "clusterIP": "10.96.0.1", "ports": [
            {"name": "a", "port": 53, "protocol": "UDP", "nodePort": 30053},
            {"name": "b", "port": 53, "nodePort": 30054},
            {"name": "c", "port": 9, "protocol": "SCTP", "nodePort": 30055}]}),
        ),
        &[],
    );
    let got: Vec<_> = s
        .ports
        .iter()
        .map(|p| (p.name.as_str(), p.protocol, p.port, p.node_port))
        .collect();
    assert_eq!(
        got,
        [
            ("a", Proto::Udp, 53, Some(30053)),
            ("b", Proto::Tcp, 53, Some(30054)),
            ("c", Proto::Sctp, 9, Some(30055)),
        ]
    );
    // A ClusterIP service never has node ports, even if the field is set.
    let s = projected(
        svc(json!({"clusterIP": "10.96.0.1", "ports": [{"port": 80, "nodePort": 30080}]})),
        &[],
    );
    assert_eq!(s.ports[0].node_port, None);
}

#[test]
fn affinity_policies_health_check_and_source_ranges() {
    let s = projected(
        svc(
            json!({"type": "LoadBalancer", "clusterIP": "10.96.0.1", "ports": [{"port": 80, "nodePort": 30080}],
                   "sessionAffinity": "ClientIP",
                   "externalTrafficPolicy": "Local", "internalTrafficPolicy": "Local",
                   "healthCheckNodePort": 32100,
                   "loadBalancerSourceRanges": ["203.0.113.0/24", " 198.51.100.0/24 "]}),
        ),
        &[],
    );
    assert_eq!(
        s.session_affinity,
        SessionAffinity::ClientIp {
            timeout: DEFAULT_AFFINITY_TIMEOUT
        }
    );
    assert_eq!(s.external_traffic_policy, TrafficPolicy::Local);
    assert_eq!(s.internal_traffic_policy, TrafficPolicy::Local);
    assert_eq!(s.health_check_node_port, Some(32100));
    assert_eq!(s.load_balancer_source_ranges.len(), 2);

    let s = projected(
        svc(
            json!({"clusterIP": "10.96.0.1", "ports": [{"port": 80}], "sessionAffinity": "ClientIP",
                   "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
                   "healthCheckNodePort": 32100}),
        ),
        &[],
    );
    assert_eq!(
        s.session_affinity,
        SessionAffinity::ClientIp {
            timeout: Duration::from_secs(60)
        }
    );
    assert_eq!(s.external_traffic_policy, TrafficPolicy::Cluster);
    assert_eq!(
        s.health_check_node_port, None,
        "only with externalTrafficPolicy Local"
    );
}

#[test]
fn service_local_annotation_forces_external_policy_local() {
    let s = projected(
        json!({"metadata": {"namespace": "ns", "name": "s",
                 "annotations": {"kube-router.io/service.local": "true"}},
               "spec": {"type": "NodePort", "clusterIP": "10.96.0.1", "ports": [{"port": 80, "nodePort": 30080}]}}),
        &[],
    );
    assert_eq!(s.external_traffic_policy, TrafficPolicy::Local);
}

#[test]
fn bad_values_are_errors_naming_field_and_value() {
    let cases = [
        (
            svc(json!({"clusterIP": "10.96.0.300", "ports": [{"port": 80}]})),
            "spec.clusterIPs[0]",
            "10.96.0.300",
        ),
        (
            svc(
                json!({"clusterIP": "10.96.0.1", "externalIPs": ["nope"], "ports": [{"port": 80}]}),
            ),
            "spec.externalIPs[0]",
            "nope",
        ),
        (
            svc(json!({"clusterIP": "10.96.0.1", "ports": [{"port": 80, "protocol": "ICMP"}]})),
            "spec.ports[0].protocol",
            "ICMP",
        ),
        (
            svc(json!({"clusterIP": "10.96.0.1", "ports": [{"port": 70000}]})),
            "spec.ports[0].port",
            "70000",
        ),
        (
            svc(json!({"clusterIP": "10.96.0.1", "ports": [{"port": 80}],
                       "loadBalancerSourceRanges": ["10.0.0.0/40"]})),
            "spec.loadBalancerSourceRanges[0]",
            "10.0.0.0/40",
        ),
        (
            svc(json!({"type": "Weird", "clusterIP": "10.96.0.1"})),
            "spec.type",
            "Weird",
        ),
        (svc(json!({"ports": [{"port": 80}]})), "spec.clusterIP", ""),
    ];
    for (input, field, value) in cases {
        let err = project_json(input, &[]).unwrap_err();
        assert_eq!((err.field.as_str(), err.value.as_str()), (field, value));
        let text = err.to_string();
        assert!(text.contains("ns/s") && text.contains(field), "{text}");
    }
}

fn slice(name: &str, family: &str, ports: Value, endpoints: Value) -> Value {
    json!({"metadata": {"namespace": "ns", "name": name,
             "labels": {"kubernetes.io/service-name": "s"}},
           "addressType": family, "ports": ports, "endpoints": endpoints})
}

#[test]
fn endpoints_are_matched_by_port_name_and_family() {
    let spec = svc(json!({"clusterIPs": ["10.96.0.1", "fd00::1"], "ports": [
        {"name": "http", "port": 80}, {"name": "metrics", "port": 9090}]}));
    let slices = [
        slice(
            "a",
            "IPv4",
            json!([{"name": "http", "port": 8080}, {"name": "metrics", "port": 9100}]),
            json!([{"addresses": ["10.244.1.2"], "nodeName": "node-a"},
                     {"addresses": ["10.244.2.2"], "nodeName": "node-b",
                      "conditions": {"ready": false, "serving": true, "terminating": true}}]),
        ),
        slice(
            "b",
            "IPv6",
            json!([{"name": "http", "port": 8080}]),
            json!([{"addresses": ["fd00:244::2"], "nodeName": "node-b"}]),
        ),
        slice(
            "c",
            "FQDN",
            json!([{"name": "http", "port": 8080}]),
            json!([{"addresses": ["backend.example"]}]),
        ),
        slice(
            "d",
            "IPv4",
            json!([{"name": "unrelated", "port": 1}]),
            json!([{"addresses": ["10.244.9.9"]}]),
        ),
    ];
    let s = projected(spec, &slices);
    let http = &s.ports[0];
    let v4 = s.endpoints_of(http, Family::Ip);
    assert_eq!(
        v4.cluster
            .iter()
            .map(|e| (e.ip, e.port))
            .collect::<Vec<_>>(),
        [(ip("10.244.1.2"), 8080)]
    );
    assert!(v4.cluster[0].is_local, "nodeName matches this node");
    assert_eq!(v4.local.len(), 1);
    assert_eq!(v4.local_ready, 1);
    let metrics = s.endpoints_of(&s.ports[1], Family::Ip);
    assert_eq!(metrics.cluster[0].port, 9100);
    let v6 = s.endpoints_of(http, Family::Ip6);
    assert_eq!(v6.cluster.len(), 1);
    assert!(v6.local.is_empty());
    assert!(
        !v6.cluster_is_fallback && v6.cluster[0].ready,
        "missing conditions mean ready"
    );
}

#[test]
fn no_slices_means_no_endpoints() {
    let s = projected(
        svc(json!({"clusterIP": "10.96.0.1", "ports": [{"port": 80}]})),
        &[],
    );
    let e = s.endpoints_of(&s.ports[0], Family::Ip);
    assert!(e.cluster.is_empty() && e.local.is_empty());
}
