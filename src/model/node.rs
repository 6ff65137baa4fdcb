//! `NodeInfo`: what the proxy needs of this node.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use k8s_openapi::api::core::v1::Node;

use super::Family;
use super::annotations::{InvalidAnnotation, NodeAnnotations};

/// Label with the node's zone (topology hints).
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// This node, projected.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    pub zone: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// Primary address per family: the first InternalIP, else the first ExternalIP.
    pub primary_ips: BTreeMap<Family, IpAddr>,
    /// All InternalIP and ExternalIP addresses.
    pub addresses: Vec<IpAddr>,
    /// `spec.podCIDRs`, unless the `kube-router.io/pod-cidrs` annotation overrides them.
    pub pod_cidrs: Vec<IpNet>,
    pub annotations: NodeAnnotations,
}

impl NodeInfo {
    /// A node we know only by name (no Node object seen yet).
    pub fn named(name: impl Into<String>) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            ..NodeInfo::default()
        }
    }

    /// Projects a Node. Bad annotation values are returned, not fatal.
    pub fn from_node(node: &Node) -> (NodeInfo, Vec<InvalidAnnotation>) {
        let name = node.metadata.name.clone().unwrap_or_default();
        let labels: BTreeMap<String, String> = node.metadata.labels.clone().unwrap_or_default();
        let empty = BTreeMap::new();
        let (annotations, errors) =
            NodeAnnotations::parse(&name, node.metadata.annotations.as_ref().unwrap_or(&empty));

        let mut internal = Vec::new();
        let mut external = Vec::new();
        for addr in node
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .into_iter()
            .flatten()
        {
            let Ok(ip) = addr.address.parse::<IpAddr>() else {
                continue;
            };
            match addr.type_.as_str() {
                "InternalIP" => internal.push(ip),
                "ExternalIP" => external.push(ip),
                _ => {}
            }
        }
        let mut primary_ips = BTreeMap::new();
        for ip in internal.iter().chain(&external) {
            primary_ips.entry(Family::of(ip)).or_insert(*ip);
        }
        let spec_cidrs: Vec<IpNet> = node
            .spec
            .as_ref()
            .and_then(|s| {
                s.pod_cidrs
                    .clone()
                    .or_else(|| s.pod_cidr.clone().map(|c| vec![c]))
            })
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c.parse().ok())
            .collect();
        let pod_cidrs = annotations.pod_cidrs.clone().unwrap_or(spec_cidrs);

        let info = NodeInfo {
            zone: labels.get(ZONE_LABEL).cloned(),
            name,
            labels,
            primary_ips,
            addresses: internal.into_iter().chain(external).collect(),
            pod_cidrs,
            annotations,
        };
        (info, errors)
    }
}
