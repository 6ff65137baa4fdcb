//! What one service (or the fixed skeleton) wants on the host: its artifacts
//! for every facet at once, one `key → value` map per facet. Each facet's
//! planner fills its own map; the reconciler treats them all alike.

use super::ProxyContext;
use super::bgp_plan;
use super::health_check::plan_health_check;
use super::nft_service;
use super::nft_skeleton;
use crate::host::facet::{Facets, Maps};
use crate::model::{Family, KubeRouterService};

/// A service's (or the skeleton's) desired artifacts, per facet.
pub type ServiceArtifacts = Facets<Maps>;

/// Desired artifacts of one service, every facet.
pub fn plan_service(svc: &KubeRouterService, ctx: &ProxyContext) -> ServiceArtifacts {
    if !ctx.proxy {
        return ServiceArtifacts {
            bgp: bgp_plan::plan_routes(svc, ctx),
            ..ServiceArtifacts::default()
        };
    }
    ServiceArtifacts {
        nft: nft_service::plan_service(svc, ctx),
        health_checks: plan_health_check(svc, ctx),
        bgp: bgp_plan::plan_routes(svc, ctx),
        ..ServiceArtifacts::default()
    }
}

/// Desired artifacts of the fixed part of the host: both `kroute` tables,
/// and the BGP speaker, its peers and this node's pod CIDRs.
pub fn plan_skeleton(ctx: &ProxyContext) -> ServiceArtifacts {
    let mut out = ServiceArtifacts::default();
    for family in Family::ALL.into_iter().filter(|_| ctx.proxy) {
        out.nft.extend(nft_skeleton::plan_skeleton(ctx, family));
    }
    bgp_plan::plan_skeleton(ctx, &mut out);
    out
}
