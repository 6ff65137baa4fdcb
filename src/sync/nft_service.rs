//! Desired nftables artifacts of one service (kube-proxy's nftables layout):
//! per port a service chain choosing a random endpoint, an external chain for
//! NodePort / external IPs / LB IPs, a local chain for `Local` policies, one
//! chain per endpoint, and the map elements that dispatch to them.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use super::ProxyContext;
use super::nft_names::PortChains;
use super::nft_skeleton::{
    CLUSTER_IPS, MARK_FOR_MASQUERADE, NO_ENDPOINT_NODEPORTS, NO_ENDPOINT_SERVICES, REJECT_CHAIN,
    SERVICE_IPS, SERVICE_NODEPORTS,
};
use crate::host::nft::{Chain, ElementKey, Family, Match, NftKey, NftValue, Rule, Stmt, Verdict};
use crate::model::endpoints::Endpoint;
use crate::model::service::{KubeRouterService, ServicePort, TrafficPolicy};

/// Up to this many endpoints, a random endpoint is picked by successive
/// `numgen random mod N-i == 0` rules; above, by one anonymous verdict map.
/// Rules cost up to N evaluations on a connection's first packet, but every
/// anonymous map costs the kernel a scan of all the table's anonymous sets
/// when it is created: 15,000 of them took 23 s to load here, the same
/// ruleset with rules 1.3 s (see BENCHMARKS.md).
pub const RULE_PICK_MAX_ENDPOINTS: usize = 32;

/// Rules that jump to one of `targets` uniformly at random.
fn pick_endpoint(targets: Vec<Verdict>) -> Vec<Rule> {
    let n = targets.len();
    if n > RULE_PICK_MAX_ENDPOINTS {
        return vec![Rule::new(vec![Stmt::NumgenVmap(targets)])];
    }
    targets
        .into_iter()
        .enumerate()
        .map(|(i, target)| {
            let remaining = (n - i) as u32;
            if remaining == 1 {
                Rule::verdict(target)
            } else {
                Rule::new(vec![
                    Stmt::Match(Match::NumgenOneIn(remaining)),
                    Stmt::Verdict(target),
                ])
            }
        })
        .collect()
}

/// Desired artifacts of one service, both families.
pub fn plan_service(svc: &KubeRouterService, ctx: &ProxyContext) -> BTreeMap<NftKey, NftValue> {
    let mut out = ServicePlan::default();
    for (family, frontends) in &svc.frontends {
        let family = *family;
        for ip in &frontends.cluster_ips {
            out.element(family, CLUSTER_IPS, ElementKey::Net(IpNet::from(*ip)), None);
        }
        for port in &svc.ports {
            plan_port(svc, port, family, ctx, &mut out);
        }
    }
    out.0
}

#[derive(Default)]
struct ServicePlan(BTreeMap<NftKey, NftValue>);

impl ServicePlan {
    fn chain(&mut self, family: Family, name: String, rules: Vec<Rule>) {
        self.0.insert(
            NftKey::chain(family, name),
            NftValue::Chain(Chain::regular(rules)),
        );
    }

    fn element(&mut self, family: Family, set: &str, key: ElementKey, value: Option<Verdict>) {
        self.0
            .insert(NftKey::element(family, set, key), NftValue::Element(value));
    }
}

fn plan_port(
    svc: &KubeRouterService,
    port: &ServicePort,
    family: Family,
    ctx: &ProxyContext,
    out: &mut ServicePlan,
) {
    let frontends = &svc.frontends[&family];
    let eps = svc.endpoints_of(port, family);
    let names = PortChains::new(&svc.key, port);
    let cluster_cidrs = ctx.cluster_cidrs(family);
    let goto = Verdict::Goto;
    let reject = || Some(goto(REJECT_CHAIN.to_string()));

    // Endpoint chains (union of the cluster and local sets).
    let mut endpoint_chains: BTreeMap<(IpAddr, u16), String> = BTreeMap::new();
    for ep in eps.cluster.iter().chain(&eps.local) {
        endpoint_chains.entry((ep.ip, ep.port)).or_insert_with(|| {
            let name = names.endpoint(ep.ip, ep.port, port.protocol);
            out.chain(
                family,
                name.clone(),
                vec![
                    // Hairpin: an endpoint reaching itself through the service.
                    Rule::mark_if_saddr(ep.ip, MARK_FOR_MASQUERADE),
                    Rule::dnat(port.protocol, SocketAddr::new(ep.ip, ep.port)),
                ],
            );
            name
        });
    }
    let pick = |set: &[Endpoint]| {
        pick_endpoint(
            set.iter()
                .map(|ep| goto(endpoint_chains[&(ep.ip, ep.port)].clone()))
                .collect(),
        )
    };

    let has_cluster = !eps.cluster.is_empty();
    let uses_local = svc.internal_traffic_policy == TrafficPolicy::Local
        || svc.external_traffic_policy == TrafficPolicy::Local;
    let has_local = !eps.local.is_empty();

    if has_cluster {
        let mut rules = Vec::new();
        if ctx.masquerade_all {
            rules.push(Rule::verdict(Verdict::Jump(MARK_FOR_MASQUERADE.into())));
        } else if !cluster_cidrs.is_empty() {
            // ClusterIP traffic from outside the cluster CIDRs is masqueraded.
            rules.push(Rule::new(vec![
                Stmt::Match(Match::SaddrNotIn(cluster_cidrs.clone())),
                Stmt::Verdict(Verdict::Jump(MARK_FOR_MASQUERADE.into())),
            ]));
        }
        rules.extend(pick(&eps.cluster));
        out.chain(family, names.service(), rules);
    }
    if uses_local && has_local {
        out.chain(family, names.local(), pick(&eps.local));
    }

    // ClusterIP dispatch, by internalTrafficPolicy.
    let internal: Option<(&str, Option<Verdict>)> = match svc.internal_traffic_policy {
        _ if !has_cluster => Some((NO_ENDPOINT_SERVICES, reject())),
        TrafficPolicy::Cluster => Some((SERVICE_IPS, Some(goto(names.service())))),
        TrafficPolicy::Local if has_local => Some((SERVICE_IPS, Some(goto(names.local())))),
        // Local policy, endpoints elsewhere only: drop, don't reject.
        TrafficPolicy::Local => Some((NO_ENDPOINT_SERVICES, Some(Verdict::Drop))),
    };
    for ip in &frontends.cluster_ips {
        if let Some((map, verdict)) = internal.clone() {
            let key = ElementKey::AddrProtoPort(*ip, port.protocol, port.port);
            out.element(family, map, key, verdict);
        }
    }

    // External dispatch: NodePort, external IPs, LB IPs.
    let has_external = port.node_port.is_some() || frontends.external().next().is_some();
    if !has_external {
        return;
    }
    let (ip_map, np_map, verdict) = if has_cluster {
        let mut rules = Vec::new();
        match svc.external_traffic_policy {
            TrafficPolicy::Cluster => {
                rules.push(Rule::verdict(Verdict::Jump(MARK_FOR_MASQUERADE.into())));
                rules.push(Rule::verdict(goto(names.service())));
            }
            TrafficPolicy::Local => {
                // Pods and the node itself may use any endpoint (short-circuit);
                // the node's own traffic is masqueraded. Outside clients keep
                // their source IP and reach local endpoints only, else drop.
                if !cluster_cidrs.is_empty() {
                    rules.push(Rule::new(vec![
                        Stmt::Match(Match::SaddrIn(cluster_cidrs.clone())),
                        Stmt::Verdict(goto(names.service())),
                    ]));
                }
                rules.push(Rule::new(vec![
                    Stmt::Match(Match::FibSaddrLocal),
                    Stmt::Verdict(Verdict::Jump(MARK_FOR_MASQUERADE.into())),
                ]));
                rules.push(Rule::new(vec![
                    Stmt::Match(Match::FibSaddrLocal),
                    Stmt::Verdict(goto(names.service())),
                ]));
                rules.push(Rule::verdict(if has_local {
                    goto(names.local())
                } else {
                    Verdict::Drop
                }));
            }
        }
        out.chain(family, names.external(), rules);
        (SERVICE_IPS, SERVICE_NODEPORTS, Some(goto(names.external())))
    } else {
        (NO_ENDPOINT_SERVICES, NO_ENDPOINT_NODEPORTS, reject())
    };
    for ip in frontends.external() {
        let key = ElementKey::AddrProtoPort(*ip, port.protocol, port.port);
        out.element(family, ip_map, key, verdict.clone());
    }
    if let Some(np) = port.node_port {
        out.element(
            family,
            np_map,
            ElementKey::ProtoPort(port.protocol, np),
            verdict,
        );
    }
}

#[cfg(test)]
#[path = "nft_service_tests.rs"]
mod tests;
