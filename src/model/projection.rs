//! Projection of a Service + its EndpointSlices + this Node into a `KubeRouterService`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::annotations::{InvalidAnnotation, ServiceAnnotations};
use super::cluster_view::key_of;
use super::endpoints::{Endpoint, PortEndpoints};
use super::service::{
    Frontends, KubeRouterService, ServicePort, ServiceType, SessionAffinity, TrafficPolicy,
};
use super::{Family, Proto};
use super::{NodeInfo, ObjectKey};

/// Label that hands a Service to a specific proxy.
pub const SERVICE_PROXY_NAME_LABEL: &str = "service.kubernetes.io/service-proxy-name";

/// Default ClientIP affinity timeout (Kubernetes' default, 3 hours).
pub const DEFAULT_AFFINITY_TIMEOUT: Duration = Duration::from_secs(10800);

/// A Service field kroute cannot use. The service is not (re)programmed; what
/// was programmed for it before is kept.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Service {object}: invalid {field}={value:?}: {reason}")]
pub struct ProjectionError {
    pub object: ObjectKey,
    /// JSON path of the field, e.g. `spec.clusterIPs[0]`.
    pub field: String,
    pub value: String,
    pub reason: String,
}

/// Why a Service is not handled by kroute at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    Headless,
    ExternalName,
    /// Labelled for another proxy.
    OtherProxy,
}

/// Result of projecting one Service.
#[derive(Clone, Debug, PartialEq)]
pub enum Projection {
    Service(Box<KubeRouterService>),
    Skipped(SkipReason),
}

/// Projects one Service. `proxy_name` is the service-proxy-name kroute answers
/// to (`None`: only services without the label). Annotation errors are
/// returned beside the result; the annotations they concern count as absent.
pub fn project_service<'a>(
    svc: &Service,
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
    node: &NodeInfo,
    proxy_name: Option<&str>,
) -> (Result<Projection, ProjectionError>, Vec<InvalidAnnotation>) {
    let key = key_of(&svc.metadata);
    let label = svc
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SERVICE_PROXY_NAME_LABEL));
    if let Some(label) = label
        && Some(label.as_str()) != proxy_name
    {
        return (Ok(Projection::Skipped(SkipReason::OtherProxy)), Vec::new());
    }
    let empty = BTreeMap::new();
    let (annotations, warnings) =
        ServiceAnnotations::parse(&key, svc.metadata.annotations.as_ref().unwrap_or(&empty));
    (project(key, svc, slices, node, annotations), warnings)
}

fn project<'a>(
    key: ObjectKey,
    svc: &Service,
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
    node: &NodeInfo,
    annotations: ServiceAnnotations,
) -> Result<Projection, ProjectionError> {
    let err = |field: String, value: &str, reason: &str| ProjectionError {
        object: key.clone(),
        field,
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let Some(spec) = svc.spec.as_ref() else {
        return Err(err("spec".into(), "", "missing"));
    };
    let service_type = match spec.type_.as_deref().unwrap_or("ClusterIP") {
        "ClusterIP" => ServiceType::ClusterIP,
        "NodePort" => ServiceType::NodePort,
        "LoadBalancer" => ServiceType::LoadBalancer,
        "ExternalName" => return Ok(Projection::Skipped(SkipReason::ExternalName)),
        other => return Err(err("spec.type".into(), other, "unknown service type")),
    };

    // Cluster IPs: clusterIPs wins over the legacy clusterIP field.
    let raw_ips: Vec<String> = match (&spec.cluster_ips, &spec.cluster_ip) {
        (Some(ips), _) if !ips.is_empty() => ips.clone(),
        (_, Some(ip)) => vec![ip.clone()],
        _ => Vec::new(),
    };
    if raw_ips.first().is_some_and(|ip| ip == "None") {
        return Ok(Projection::Skipped(SkipReason::Headless));
    }
    let mut frontends: BTreeMap<Family, Frontends> = BTreeMap::new();
    for (i, raw) in raw_ips.iter().enumerate() {
        let ip: IpAddr = raw
            .parse()
            .map_err(|_| err(format!("spec.clusterIPs[{i}]"), raw, "not an IP address"))?;
        frontends
            .entry(Family::of(&ip))
            .or_default()
            .cluster_ips
            .push(ip);
    }
    if frontends.is_empty() {
        return Err(err("spec.clusterIP".into(), "", "no cluster IP allocated"));
    }
    // External IPs are handled only in families the service has a cluster IP in.
    for (i, raw) in spec.external_ips.iter().flatten().enumerate() {
        let ip: IpAddr = raw
            .parse()
            .map_err(|_| err(format!("spec.externalIPs[{i}]"), raw, "not an IP address"))?;
        if let Some(f) = frontends.get_mut(&Family::of(&ip)) {
            f.external_ips.push(ip);
        }
    }
    if service_type == ServiceType::LoadBalancer && !annotations.skip_lb_ips {
        let ingress = svc
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref());
        for (i, entry) in ingress.into_iter().flatten().enumerate() {
            if entry.ip_mode.as_deref() == Some("Proxy") {
                continue;
            }
            let Some(raw) = entry.ip.as_deref() else {
                continue; // hostname-only ingress: nothing to program
            };
            let ip: IpAddr = raw.parse().map_err(|_| {
                err(
                    format!("status.loadBalancer.ingress[{i}].ip"),
                    raw,
                    "not an IP address",
                )
            })?;
            if let Some(f) = frontends.get_mut(&Family::of(&ip)) {
                f.load_balancer_ips.push(ip);
            }
        }
    }

    let mut ports = Vec::new();
    for (i, p) in spec.ports.iter().flatten().enumerate() {
        let proto_raw = p.protocol.as_deref().unwrap_or("TCP");
        let protocol = Proto::parse(proto_raw).ok_or_else(|| {
            err(
                format!("spec.ports[{i}].protocol"),
                proto_raw,
                "not TCP, UDP or SCTP",
            )
        })?;
        let port = u16::try_from(p.port)
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| {
                err(
                    format!("spec.ports[{i}].port"),
                    &p.port.to_string(),
                    "not a port",
                )
            })?;
        let node_port = match (service_type, p.node_port) {
            (ServiceType::ClusterIP, _) | (_, None) => None,
            (_, Some(np)) => Some(u16::try_from(np).ok().filter(|p| *p != 0).ok_or_else(|| {
                err(
                    format!("spec.ports[{i}].nodePort"),
                    &np.to_string(),
                    "not a port",
                )
            })?),
        };
        ports.push(ServicePort {
            name: p.name.clone().unwrap_or_default(),
            protocol,
            port,
            node_port,
        });
    }

    let session_affinity = match spec.session_affinity.as_deref() {
        Some("ClientIP") => {
            let secs = spec
                .session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds);
            let timeout = match secs {
                Some(s) if s > 0 => Duration::from_secs(s as u64),
                _ => DEFAULT_AFFINITY_TIMEOUT,
            };
            SessionAffinity::ClientIp { timeout }
        }
        _ => SessionAffinity::None,
    };
    let policy = |p: Option<&str>| match p {
        Some("Local") => TrafficPolicy::Local,
        _ => TrafficPolicy::Cluster,
    };
    let mut external_traffic_policy = policy(spec.external_traffic_policy.as_deref());
    if annotations.local {
        external_traffic_policy = TrafficPolicy::Local;
    }
    let internal_traffic_policy = policy(spec.internal_traffic_policy.as_deref());

    let mut load_balancer_source_ranges = Vec::new();
    for (i, raw) in spec
        .load_balancer_source_ranges
        .iter()
        .flatten()
        .enumerate()
    {
        let net = raw.trim().parse().map_err(|_| {
            err(
                format!("spec.loadBalancerSourceRanges[{i}]"),
                raw,
                "not a CIDR",
            )
        })?;
        load_balancer_source_ranges.push(net);
    }
    let health_check_node_port = spec
        .health_check_node_port
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0 && external_traffic_policy == TrafficPolicy::Local);

    let raw_endpoints = collect_endpoints(slices, &ports, node);
    let mut endpoints = BTreeMap::new();
    for port in &ports {
        for family in frontends.keys() {
            let raw = raw_endpoints
                .get(&(port.name.clone(), *family))
                .cloned()
                .unwrap_or_default();
            endpoints.insert(
                (port.name.clone(), *family),
                PortEndpoints::categorize(raw, node),
            );
        }
    }

    Ok(Projection::Service(Box::new(KubeRouterService {
        key,
        service_type,
        frontends,
        ports,
        session_affinity,
        external_traffic_policy,
        internal_traffic_policy,
        health_check_node_port,
        load_balancer_source_ranges,
        endpoints,
        annotations,
    })))
}

/// Raw endpoints per (service port name, family), from every slice. A slice
/// port is matched to a service port by name (and protocol).
fn collect_endpoints<'a>(
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
    ports: &[ServicePort],
    node: &NodeInfo,
) -> BTreeMap<(String, Family), Vec<Endpoint>> {
    let mut out: BTreeMap<(String, Family), Vec<Endpoint>> = BTreeMap::new();
    for slice in slices {
        let family = match slice.address_type.as_str() {
            "IPv4" => Family::Ip,
            "IPv6" => Family::Ip6,
            _ => continue, // FQDN slices are ignored
        };
        for sp in slice.ports.iter().flatten() {
            let name = sp.name.clone().unwrap_or_default();
            let proto = sp
                .protocol
                .as_deref()
                .and_then(Proto::parse)
                .unwrap_or(Proto::Tcp);
            let Some(port) = sp
                .port
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p != 0)
            else {
                continue;
            };
            if !ports.iter().any(|p| p.name == name && p.protocol == proto) {
                continue;
            }
            for e in slice.endpoints.iter().flatten() {
                let cond = e.conditions.as_ref();
                let ready = cond.and_then(|c| c.ready).unwrap_or(true);
                let serving = cond.and_then(|c| c.serving).unwrap_or(true);
                let terminating = cond.and_then(|c| c.terminating).unwrap_or(false);
                let hints = e.hints.as_ref();
                let hint_zones = hints
                    .and_then(|h| h.for_zones.as_ref())
                    .map(|z| z.iter().map(|z| z.name.clone()).collect());
                let hint_nodes = hints
                    .and_then(|h| h.for_nodes.as_ref())
                    .map(|n| n.iter().map(|n| n.name.clone()).collect());
                for addr in &e.addresses {
                    let Ok(ip) = addr.parse::<IpAddr>() else {
                        continue;
                    };
                    if Family::of(&ip) != family {
                        continue;
                    }
                    out.entry((name.clone(), family))
                        .or_default()
                        .push(Endpoint {
                            ip,
                            port,
                            node_name: e.node_name.clone(),
                            zone: e.zone.clone(),
                            ready,
                            serving,
                            terminating,
                            is_local: e.node_name.as_deref() == Some(node.name.as_str()),
                            hint_zones: hint_zones.clone(),
                            hint_nodes: hint_nodes.clone(),
                        });
                }
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "projection_tests.rs"]
mod tests;
