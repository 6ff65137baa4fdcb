//! Keeps only the fields kroute reads, so the store stays small (no
//! managedFields, no last-applied copy, no Node images or conditions) and a
//! change kroute does not read (a Node heartbeat, a resourceVersion bump)
//! compares equal and wakes nothing.

use k8s_openapi::api::core::v1::{Node, NodeSpec, NodeStatus, Service, ServiceStatus};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// kubectl's copy of the whole object, often the largest annotation.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

fn trim_meta(meta: &mut ObjectMeta) {
    meta.managed_fields = None;
    meta.resource_version = None;
    meta.generation = None;
    meta.owner_references = None;
    meta.finalizers = None;
    meta.generate_name = None;
    meta.self_link = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
        if annotations.is_empty() {
            meta.annotations = None;
        }
    }
}

/// A Service: spec, labels, annotations and the load-balancer ingress.
pub fn service(svc: &mut Service) {
    trim_meta(&mut svc.metadata);
    if let Some(spec) = svc.spec.as_mut() {
        // The selector picks pods for the EndpointSlice controller; kroute
        // reads the slices.
        spec.selector = None;
    }
    let ingress = svc
        .status
        .take()
        .and_then(|s| s.load_balancer)
        .filter(|lb| lb.ingress.as_ref().is_some_and(|i| !i.is_empty()));
    svc.status = ingress.map(|lb| ServiceStatus {
        load_balancer: Some(lb),
        conditions: None,
    });
}

/// An EndpointSlice: its ports and, per endpoint, addresses, conditions,
/// node, zone and hints.
pub fn endpoint_slice(slice: &mut EndpointSlice) {
    trim_meta(&mut slice.metadata);
    for ep in slice.endpoints.iter_mut().flatten() {
        ep.target_ref = None;
        ep.deprecated_topology = None;
        ep.hostname = None;
    }
}

/// A Node: labels, annotations, deletion mark, pod CIDRs, taints, addresses.
pub fn node(node: &mut Node) {
    trim_meta(&mut node.metadata);
    if let Some(spec) = node.spec.take() {
        node.spec = Some(NodeSpec {
            pod_cidr: spec.pod_cidr,
            pod_cidrs: spec.pod_cidrs,
            taints: spec.taints,
            ..NodeSpec::default()
        });
    }
    node.status = node.status.take().map(|s| NodeStatus {
        addresses: s.addresses,
        ..NodeStatus::default()
    });
}
