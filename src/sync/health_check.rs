//! Planner of the health-check facet, and the count behind
//! `kubeproxy_sync_proxy_rules_no_local_endpoints_total`: both are about a
//! service's `Local` traffic policies and its endpoints on this node.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::ProxyContext;
use crate::host::health_check::{HealthCheckKey, HealthCheckValue};
use crate::model::service::{KubeRouterService, ServiceType, TrafficPolicy};

/// The healthCheckNodePort listener of a LoadBalancer service with
/// `externalTrafficPolicy: Local` (kube-proxy's `NeedsHealthCheck`), none
/// otherwise. It listens, per family of the service, where
/// [`ProxyContext::health_check_nets`] says, and counts the service's
/// distinct local *ready* endpoint addresses (over all ports; the larger of
/// the two families for a dual-stack service, where kube-proxy answers per
/// family).
pub fn plan_health_check(
    svc: &KubeRouterService,
    ctx: &ProxyContext,
) -> BTreeMap<HealthCheckKey, HealthCheckValue> {
    let wanted = svc.service_type == ServiceType::LoadBalancer
        && svc.external_traffic_policy == TrafficPolicy::Local;
    let Some(port) = svc.health_check_node_port.filter(|_| wanted) else {
        return BTreeMap::new();
    };
    let mut listen = Vec::new();
    let mut local_endpoints = 0;
    for family in svc.frontends.keys() {
        listen.extend(ctx.health_check_nets(*family));
        let ready: BTreeSet<IpAddr> = svc
            .endpoints
            .iter()
            .filter(|((_, f), _)| f == family)
            .flat_map(|(_, eps)| eps.local.iter().filter(|e| e.ready).map(|e| e.ip))
            .collect();
        local_endpoints = local_endpoints.max(ready.len());
    }
    let value = HealthCheckValue {
        service: svc.key.clone(),
        local_endpoints,
        listen,
    };
    BTreeMap::from([(HealthCheckKey { port }, value)])
}

/// Service ports (per family) with a `Local` policy whose service has
/// endpoints, none of them on this node (kube-proxy counts them in its
/// sync, where it installs the `drop`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoLocalEndpoints {
    /// `internalTrafficPolicy: Local`.
    pub internal: usize,
    /// `externalTrafficPolicy: Local`, on an externally reachable service.
    pub external: usize,
}

impl NoLocalEndpoints {
    /// Counts one service.
    pub fn of(svc: &KubeRouterService) -> NoLocalEndpoints {
        let externally_reachable = match svc.service_type {
            ServiceType::NodePort | ServiceType::LoadBalancer => true,
            ServiceType::ClusterIP => svc.frontends.values().any(|f| !f.external_ips.is_empty()),
        };
        let internal_local = svc.internal_traffic_policy == TrafficPolicy::Local;
        let external_local =
            externally_reachable && svc.external_traffic_policy == TrafficPolicy::Local;
        let mut out = NoLocalEndpoints::default();
        for port in &svc.ports {
            for family in svc.frontends.keys() {
                let eps = svc.endpoints_of(port, *family);
                if eps.cluster.is_empty() || !eps.local.is_empty() {
                    continue;
                }
                out.internal += usize::from(internal_local);
                out.external += usize::from(external_local);
            }
        }
        out
    }

    /// The sum of `counts`.
    pub fn total<'a>(counts: impl IntoIterator<Item = &'a NoLocalEndpoints>) -> NoLocalEndpoints {
        counts
            .into_iter()
            .fold(NoLocalEndpoints::default(), |a, c| NoLocalEndpoints {
                internal: a.internal + c.internal,
                external: a.external + c.external,
            })
    }
}

#[cfg(test)]
#[path = "health_check_tests.rs"]
mod tests;
