//! Builders for Service, EndpointSlice and Node objects, shared by unit tests,
//! integration tests and benches. Not part of kroute's API.
#![doc(hidden)]

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::{Value, json};

/// A service port: (name, protocol, port, nodePort).
pub type PortSpec<'a> = (&'a str, &'a str, u16, Option<u16>);

/// A Service of `type_` with one cluster IP and the given ports.
pub fn service(ns: &str, name: &str, type_: &str, cluster_ip: &str, ports: &[PortSpec]) -> Service {
    service_from(json!({
        "metadata": {"namespace": ns, "name": name},
        "spec": {
            "type": type_,
            "clusterIP": cluster_ip,
            "clusterIPs": [cluster_ip],
            "ports": ports_json(ports),
        }
    }))
}

/// A Service from JSON (for the odd field the builders don't cover).
pub fn service_from(value: Value) -> Service {
    serde_json::from_value(value).expect("valid Service")
}

fn ports_json(ports: &[PortSpec]) -> Value {
    Value::Array(
        ports
            .iter()
            .map(|(name, proto, port, node_port)| {
                let mut p = json!({"name": name, "protocol": proto, "port": port});
                if let Some(np) = node_port {
                    p["nodePort"] = json!(np);
                }
                p
            })
            .collect(),
    )
}

/// An endpoint: (address, nodeName, ready).
pub type EndpointSpec<'a> = (&'a str, &'a str, bool);

/// An IPv4 EndpointSlice of `svc` with one port (`port_name`, `proto`, `port`).
pub fn slice(
    ns: &str,
    svc: &str,
    slice_name: &str,
    port: (&str, &str, u16),
    endpoints: &[EndpointSpec],
) -> EndpointSlice {
    let family = if endpoints.first().is_some_and(|e| e.0.contains(':')) {
        "IPv6"
    } else {
        "IPv4"
    };
    serde_json::from_value(json!({
        "metadata": {
            "namespace": ns,
            "name": slice_name,
            "labels": {"kubernetes.io/service-name": svc},
        },
        "addressType": family,
        "ports": [{"name": port.0, "protocol": port.1, "port": port.2}],
        "endpoints": endpoints.iter().map(|(ip, node, ready)| json!({
            "addresses": [ip],
            "nodeName": node,
            "conditions": {"ready": ready, "serving": ready, "terminating": false},
        })).collect::<Vec<_>>(),
    }))
    .expect("valid EndpointSlice")
}

/// A Node with one InternalIP.
pub fn node(name: &str, internal_ip: &str) -> Node {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": "zone-a"}},
        "spec": {"podCIDRs": ["10.244.1.0/24"]},
        "status": {"addresses": [{"type": "InternalIP", "address": internal_ip}]},
    }))
    .expect("valid Node")
}
