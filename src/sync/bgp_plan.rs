//! Planner of the BGP facets (bgp.md, "What a node announces"): per
//! service, the routes it originates (`bgp`); for the skeleton, the
//! speaker (`bgp-speaker`), its peers (`bgp-peers`) and this node's pod
//! CIDRs. With BGP disabled, or unable to run, nothing is planned, so every
//! BGP artifact is swept (routes withdrawn, sessions closed).
//!
//! A service announces, as /32 or /128 routes, its ClusterIPs, external IPs
//! and LB ingress IPs, each kind by `bgp.advertise` unless the Service's
//! `kube-router.io/service.advertise.*` annotation says otherwise. The
//! projection has already left out what is not announced at all: headless
//! and ExternalName services (no projection), LB ingress entries with
//! `ipMode: Proxy`, and every LB IP under `kube-router.io/service.skiplbips`.
//! A service with `externalTrafficPolicy: Local` (or `service.local`) is
//! announced, per IP family, only while this node has a ready local
//! endpoint in that family.
//!
//! Targets: a service's routes go to the global, node and mesh peers and to
//! its own `kroute.io/bgp.peers`; with `kroute.io/bgp.peers-only` only to
//! its own. A peer only Services define gets their routes and nothing else
//! (`except_peers` on every other route).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::IpNet;

use super::ProxyContext;
use super::bgp_context::{BgpContext, large_communities, standard_communities};
use super::service_plan::ServiceArtifacts;
use crate::host::bgp::{BgpSpeakerKey, OriginatedRoute, RouteAttrs};
use crate::model::Family;
use crate::model::service::{KubeRouterService, TrafficPolicy};

/// Routes one service originates (empty when BGP does not run).
pub fn plan_routes(
    svc: &KubeRouterService,
    ctx: &ProxyContext,
) -> BTreeMap<OriginatedRoute, RouteAttrs> {
    let mut out = BTreeMap::new();
    let Some(bgp) = running(ctx) else {
        return out;
    };
    let ann = &svc.annotations;
    // Only to its own peers, and it has none: announced to nobody.
    let Some(attrs) = service_attrs(svc, bgp) else {
        return out;
    };
    let adv = &bgp.advertise;
    let cluster = ann.advertise_cluster_ip.unwrap_or(adv.cluster_ip);
    let external = ann.advertise_external_ip.unwrap_or(adv.external_ip);
    let lb = ann
        .advertise_load_balancer_ip
        .unwrap_or(adv.load_balancer_ip)
        && !ann.skip_lb_ips;
    for (family, frontends) in &svc.frontends {
        if svc.external_traffic_policy == TrafficPolicy::Local
            && !has_ready_local_endpoint(svc, *family)
        {
            continue;
        }
        let ips = [
            (cluster, &frontends.cluster_ips),
            (external, &frontends.external_ips),
            (lb, &frontends.load_balancer_ips),
        ];
        for ip in ips.iter().filter(|(on, _)| *on).flat_map(|(_, ips)| *ips) {
            out.insert(host_route(*ip), attrs.clone());
        }
    }
    out
}

/// The skeleton's BGP artifacts: the speaker, its peers, and this node's
/// pod CIDRs under `bgp.advertise.podCIDR`.
pub fn plan_skeleton(ctx: &ProxyContext, out: &mut ServiceArtifacts) {
    let Some(bgp) = &ctx.bgp else {
        return;
    };
    let Ok(speaker) = &bgp.speaker else {
        return;
    };
    out.bgp_speaker.insert(BgpSpeakerKey, speaker.clone());
    out.bgp_peers.extend(bgp.peers.specs());
    if bgp.advertise.pod_cidr {
        let attrs = node_attrs(bgp);
        for net in &ctx.node.pod_cidrs {
            let route = OriginatedRoute {
                prefix: net.trunc(),
            };
            out.bgp.insert(route, attrs.clone());
        }
    }
}

/// The BGP context when BGP is enabled and can run.
fn running(ctx: &ProxyContext) -> Option<&BgpContext> {
    ctx.bgp.as_ref().filter(|b| b.runs())
}

/// This node has a ready endpoint of `svc` in `family` (any port): the
/// endpoints' own `local_ready`, as the health check counts them.
fn has_ready_local_endpoint(svc: &KubeRouterService, family: Family) -> bool {
    (svc.endpoints.iter()).any(|((_, f), eps)| *f == family && eps.local_ready > 0)
}

/// A host route: /32 or /128.
fn host_route(ip: IpAddr) -> OriginatedRoute {
    OriginatedRoute {
        prefix: IpNet::from(ip),
    }
}

/// Attributes of this node's own routes: node communities, AS-path
/// prepend; not to the peers only Services define.
fn node_attrs(bgp: &BgpContext) -> RouteAttrs {
    RouteAttrs {
        next_hop: None,
        communities: bgp.node_communities.clone(),
        large_communities: bgp.node_large_communities.clone(),
        local_pref: None,
        prepend: bgp.prepend.clone(),
        only_peers: Vec::new(),
        except_peers: bgp.service_only_peers.clone(),
    }
}

/// Attributes of a service's routes: its communities with the node's,
/// its LOCAL_PREF, the node's prepend; to its own peers (those with a
/// session) besides the others, or under `kroute.io/bgp.peers-only` to its
/// own only (`None`: it has none, announced to nobody).
fn service_attrs(svc: &KubeRouterService, bgp: &BgpContext) -> Option<RouteAttrs> {
    let ann = &svc.annotations;
    let mut attrs = node_attrs(bgp);
    attrs
        .communities
        .extend(standard_communities(&ann.bgp_communities));
    attrs.communities.sort_unstable();
    attrs.communities.dedup();
    attrs
        .large_communities
        .extend(large_communities(&ann.bgp_communities));
    attrs.large_communities.sort_unstable();
    attrs.large_communities.dedup();
    attrs.local_pref = ann.bgp_local_pref;
    let own: BTreeSet<IpAddr> = (ann.bgp_peers.iter())
        .map(|p| p.address)
        .filter(|a| bgp.peers.contains(*a))
        .collect();
    if ann.bgp_peers_only {
        if own.is_empty() {
            return None;
        }
        attrs.only_peers = own.into_iter().collect();
        attrs.except_peers.clear();
    } else {
        attrs.except_peers.retain(|p| !own.contains(p));
    }
    Some(attrs)
}

#[cfg(test)]
#[path = "bgp_plan_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "bgp_targets_tests.rs"]
mod targets_tests;

#[cfg(test)]
#[path = "bgp_sync_tests.rs"]
mod sync_tests;
