//! `KubeRouterService`: one Service as the planner needs it, with annotations
//! parsed and endpoints already chosen per port and family.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use super::ObjectKey;
use super::annotations::ServiceAnnotations;
use super::endpoints::PortEndpoints;
use super::{Family, Proto};

/// `spec.type`
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceType {
    ClusterIP,
    NodePort,
    LoadBalancer,
}

/// `Cluster` or `Local` (internal and external traffic policies).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TrafficPolicy {
    #[default]
    Cluster,
    Local,
}

/// `spec.sessionAffinity`
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SessionAffinity {
    #[default]
    None,
    /// Stick a client IP to one endpoint for this long (default 10800 s).
    ClientIp { timeout: Duration },
}

/// One `spec.ports[]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePort {
    /// Port name ("" for the single unnamed port); endpoints are matched by it.
    pub name: String,
    pub protocol: Proto,
    pub port: u16,
    /// `nodePort`, for NodePort and LoadBalancer services.
    pub node_port: Option<u16>,
}

/// The addresses a service is reached at, for one IP family.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontends {
    /// `spec.clusterIPs` of this family.
    pub cluster_ips: Vec<IpAddr>,
    /// `spec.externalIPs` of this family.
    pub external_ips: Vec<IpAddr>,
    /// `status.loadBalancer.ingress[].ip` of this family, minus `ipMode: Proxy`
    /// entries (and all of them when `service.skiplbips` is set).
    pub load_balancer_ips: Vec<IpAddr>,
}

impl Frontends {
    /// External frontends: external IPs and LB IPs.
    pub fn external(&self) -> impl Iterator<Item = &IpAddr> {
        self.external_ips.iter().chain(&self.load_balancer_ips)
    }
}

/// A Service projected for this node.
#[derive(Clone, Debug, PartialEq)]
pub struct KubeRouterService {
    pub key: ObjectKey,
    pub service_type: ServiceType,
    /// Frontends per family (families the service has a ClusterIP in).
    pub frontends: BTreeMap<Family, Frontends>,
    pub ports: Vec<ServicePort>,
    pub session_affinity: SessionAffinity,
    /// After the `kube-router.io/service.local` override.
    pub external_traffic_policy: TrafficPolicy,
    pub internal_traffic_policy: TrafficPolicy,
    pub health_check_node_port: Option<u16>,
    pub load_balancer_source_ranges: Vec<IpNet>,
    /// Endpoints per (port name, family).
    pub endpoints: BTreeMap<(String, Family), PortEndpoints>,
    pub annotations: ServiceAnnotations,
}

impl KubeRouterService {
    /// Endpoints of a port in a family (empty when there are none).
    pub fn endpoints_of(&self, port: &ServicePort, family: Family) -> PortEndpoints {
        self.endpoints
            .get(&(port.name.clone(), family))
            .cloned()
            .unwrap_or_default()
    }
}
