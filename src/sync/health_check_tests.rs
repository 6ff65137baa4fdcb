//! The health-check planner and the no-local-endpoints count.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::{Value, json};

use super::*;
use crate::model::config::{NodePortAddress, ProxyConfig};
use crate::model::fixtures::{node, service_from, slice};
use crate::model::projection::{Projection, project_service};
use crate::model::{NodeInfo, ObjectKey};

fn ctx(node_port_addresses: Vec<NodePortAddress>) -> ProxyContext {
    let (node, _) = NodeInfo::from_node(&node("node-a", "192.168.50.1"));
    let proxy = ProxyConfig {
        node_port_addresses,
        ..ProxyConfig::default()
    };
    ProxyContext::new(&proxy, node)
}

/// A LoadBalancer `web` with port 80/TCP (node port 30080) and `spec` merged in.
fn lb(spec: Value) -> Service {
    let mut v = json!({
        "metadata": {"namespace": "default", "name": "web"},
        "spec": {
            "type": "LoadBalancer",
            "clusterIP": "10.96.0.10",
            "clusterIPs": ["10.96.0.10"],
            "ports": [{"name": "http", "protocol": "TCP", "port": 80, "nodePort": 30080}],
        }
    });
    for (k, val) in spec.as_object().expect("an object") {
        v["spec"][k] = val.clone();
    }
    service_from(v)
}

fn local_lb() -> Service {
    lb(json!({"externalTrafficPolicy": "Local", "healthCheckNodePort": 32000}))
}

/// Endpoints of `web`: (address, node, ready).
fn eps(list: &[(&str, &str, bool)]) -> Vec<EndpointSlice> {
    vec![slice(
        "default",
        "web",
        "web-1",
        ("http", "TCP", 8080),
        list,
    )]
}

fn project(svc: &Service, slices: &[EndpointSlice], c: &ProxyContext) -> KubeRouterService {
    match project_service(svc, slices, &c.node, None).0.unwrap() {
        Projection::Service(s) => *s,
        other => panic!("not projected: {other:?}"),
    }
}

fn plan(svc: &Service, slices: &[EndpointSlice]) -> BTreeMap<HealthCheckKey, HealthCheckValue> {
    let c = ctx(vec![NodePortAddress::Primary]);
    plan_health_check(&project(svc, slices, &c), &c)
}

#[test]
fn a_local_lb_with_a_health_check_node_port_gets_a_listener() {
    let got = plan(
        &local_lb(),
        &eps(&[
            ("10.244.1.2", "node-a", true),
            ("10.244.1.3", "node-a", false),
            ("10.244.2.2", "node-b", true),
        ]),
    );
    let want = HealthCheckValue {
        service: ObjectKey::new("default", "web"),
        local_endpoints: 1,
        // `primary`: the node's IP; no IPv6 primary, but the service is IPv4 only.
        listen: vec!["192.168.50.1/32".parse().unwrap()],
    };
    assert_eq!(
        got,
        BTreeMap::from([(HealthCheckKey { port: 32000 }, want)])
    );
}

#[test]
fn no_listener_for_cluster_policy_without_a_port_or_for_other_types() {
    let endpoints = eps(&[("10.244.1.2", "node-a", true)]);
    let cluster = lb(json!({"externalTrafficPolicy": "Cluster", "healthCheckNodePort": 32000}));
    assert!(plan(&cluster, &endpoints).is_empty());
    let no_port = lb(json!({"externalTrafficPolicy": "Local"}));
    assert!(plan(&no_port, &endpoints).is_empty());
    let node_port = lb(json!({
        "type": "NodePort", "externalTrafficPolicy": "Local", "healthCheckNodePort": 32000
    }));
    assert!(plan(&node_port, &endpoints).is_empty());
}

#[test]
fn no_local_ready_endpoint_is_a_count_of_zero() {
    let got = plan(
        &local_lb(),
        &eps(&[
            ("10.244.2.2", "node-b", true),
            ("10.244.1.3", "node-a", false),
        ]),
    );
    assert_eq!(got[&HealthCheckKey { port: 32000 }].local_endpoints, 0);
}

#[test]
fn listen_addresses_follow_node_port_addresses() {
    let svc = local_lb();
    let slices = eps(&[]);
    let listen = |npa: Vec<NodePortAddress>| {
        let c = ctx(npa);
        let got = plan_health_check(&project(&svc, &slices, &c), &c);
        got[&HealthCheckKey { port: 32000 }]
            .listen
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
    };
    let cidr = |s: &str| NodePortAddress::Cidr(s.parse().unwrap());
    // Matching everything: the wildcard, like kube-proxy's 0.0.0.0.
    assert_eq!(listen(vec![cidr("0.0.0.0/0")]), ["0.0.0.0/0"]);
    // Only IPv6 prefixes given: IPv4 matches everything.
    assert_eq!(listen(vec![cidr("fd00::/8")]), ["0.0.0.0/0"]);
    assert_eq!(listen(vec![cidr("192.168.0.0/16")]), ["192.168.0.0/16"]);
}

#[test]
fn no_local_endpoints_counts_local_policies_per_port_when_endpoints_are_elsewhere() {
    let c = ctx(vec![NodePortAddress::Primary]);
    let count = |svc: Service, list: &[(&str, &str, bool)]| {
        NoLocalEndpoints::of(&project(&svc, &eps(list), &c))
    };
    let remote = [("10.244.2.2", "node-b", true)];
    let both = lb(json!({"externalTrafficPolicy": "Local", "internalTrafficPolicy": "Local"}));
    assert_eq!(
        count(both.clone(), &remote),
        NoLocalEndpoints {
            internal: 1,
            external: 1
        }
    );
    // A local endpoint, or none at all (then it is rejected, not dropped).
    assert_eq!(
        count(both.clone(), &[("10.244.1.2", "node-a", true)]),
        NoLocalEndpoints::default()
    );
    assert_eq!(count(both, &[]), NoLocalEndpoints::default());
    // Cluster policies count nothing; external Local needs external reach.
    assert_eq!(count(lb(json!({})), &remote), NoLocalEndpoints::default());
    let internal_only = lb(json!({"type": "ClusterIP", "externalTrafficPolicy": "Local"}));
    assert_eq!(count(internal_only, &remote), NoLocalEndpoints::default());
    assert_eq!(
        NoLocalEndpoints::total(&[
            NoLocalEndpoints {
                internal: 1,
                external: 2
            },
            NoLocalEndpoints {
                internal: 0,
                external: 3
            },
        ]),
        NoLocalEndpoints {
            internal: 1,
            external: 5
        }
    );
}
