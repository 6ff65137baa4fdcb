//! Desired nftables artifacts of one service (kube-proxy's nftables layout):
//! per port a service chain choosing a random endpoint, an external chain for
//! NodePort / external IPs / LB IPs, a local chain for `Local` policies, one
//! chain per endpoint, the map elements that dispatch to them, and for the
//! ports that need them a firewall chain (`loadBalancerSourceRanges`) and one
//! affinity set per endpoint (`sessionAffinity: ClientIP`).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use super::ProxyContext;
use super::nft_names::PortChains;
use super::nft_skeleton::{
    CLUSTER_IPS, FIREWALL_IPS, MARK_FOR_MASQUERADE, NO_ENDPOINT_NODEPORTS, NO_ENDPOINT_SERVICES,
    REJECT_CHAIN, SERVICE_IPS, SERVICE_NODEPORTS,
};
use crate::host::nft::{
    Chain, ElementKey, Family, Match, NftKey, NftValue, Rule, SetDef, Stmt, Verdict,
};
use crate::model::endpoints::Endpoint;
use crate::model::service::{KubeRouterService, ServicePort, SessionAffinity, TrafficPolicy};

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

    fn set(&mut self, family: Family, name: String, def: SetDef) {
        self.0.insert(NftKey::set(family, name), NftValue::Set(def));
    }
}

/// Where the service chains send one endpoint's connections.
struct EndpointTarget {
    chain: String,
    /// The endpoint's affinity set (`sessionAffinity: ClientIP`).
    affinity_set: Option<String>,
}

/// The affinity timeout in seconds, when the service has ClientIP affinity.
fn affinity_timeout(svc: &KubeRouterService) -> Option<u32> {
    match svc.session_affinity {
        SessionAffinity::None => None,
        SessionAffinity::ClientIp { timeout } => {
            Some(u32::try_from(timeout.as_secs()).unwrap_or(u32::MAX).max(1))
        }
    }
}

/// Rules that send a connection to one of `targets`: a client address
/// found in an endpoint's affinity set goes back to that endpoint, any
/// other to a random one.
fn pick_target(targets: &[&EndpointTarget]) -> Vec<Rule> {
    let mut rules: Vec<Rule> = targets
        .iter()
        .filter_map(|t| {
            let set = t.affinity_set.as_ref()?;
            Some(Rule::new(vec![
                Stmt::Match(Match::SaddrInSet(set.clone())),
                Stmt::Verdict(Verdict::Goto(t.chain.clone())),
            ]))
        })
        .collect();
    rules.extend(pick_endpoint(
        targets
            .iter()
            .map(|t| Verdict::Goto(t.chain.clone()))
            .collect(),
    ));
    rules
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

    plan_firewall(svc, port, family, ctx, &names, out);

    // Endpoint chains (union of the cluster and local sets), each with its
    // affinity set under ClientIP affinity.
    let affinity = affinity_timeout(svc);
    let mut endpoint_chains: BTreeMap<(IpAddr, u16), EndpointTarget> = BTreeMap::new();
    for ep in eps.cluster.iter().chain(&eps.local) {
        endpoint_chains.entry((ep.ip, ep.port)).or_insert_with(|| {
            let name = names.endpoint(ep.ip, ep.port, port.protocol);
            // Hairpin: an endpoint reaching itself through the service.
            let mut rules = vec![Rule::mark_if_saddr(ep.ip, MARK_FOR_MASQUERADE)];
            let affinity_set = affinity.map(|secs| {
                let set = names.affinity_set(ep.ip, ep.port, secs);
                out.set(family, set.clone(), SetDef::dynamic_addrs(secs));
                rules.push(Rule::new(vec![Stmt::UpdateSaddrSet(set.clone())]));
                set
            });
            rules.push(Rule::dnat(port.protocol, SocketAddr::new(ep.ip, ep.port)));
            out.chain(family, name.clone(), rules);
            EndpointTarget {
                chain: name,
                affinity_set,
            }
        });
    }
    let pick = |set: &[Endpoint]| {
        let targets: Vec<&EndpointTarget> = set
            .iter()
            .map(|ep| &endpoint_chains[&(ep.ip, ep.port)])
            .collect();
        pick_target(&targets)
    };

    let has_cluster = !eps.cluster.is_empty();
    let uses_local = svc.internal_traffic_policy == TrafficPolicy::Local
        || svc.external_traffic_policy == TrafficPolicy::Local;
    let has_local = !eps.local.is_empty();

    if has_cluster {
        let mut rules = Vec::new();
        if ctx.masquerade_all {
            // Only ClusterIP traffic (kube-proxy's `masqueradeAll`): external
            // traffic that reaches this chain follows its own policy.
            rules.push(Rule::new(vec![
                Stmt::Match(Match::DaddrInSet(CLUSTER_IPS.into())),
                Stmt::Verdict(Verdict::Jump(MARK_FOR_MASQUERADE.into())),
            ]));
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

/// `loadBalancerSourceRanges`: connections to an LB IP go through a chain
/// that drops sources outside the ranges of this family (kube-proxy's
/// `firewall-ips`, checked before DNAT). A family without ranges, or with an
/// all-addresses range, is not filtered. When a range holds one of the
/// node's addresses, the LB IPs are allowed as sources too: a VIP-style LB
/// address on the node makes the node's own requests to it come from it.
fn plan_firewall(
    svc: &KubeRouterService,
    port: &ServicePort,
    family: Family,
    ctx: &ProxyContext,
    names: &PortChains,
    out: &mut ServicePlan,
) {
    let lb_ips = &svc.frontends[&family].load_balancer_ips;
    let ranges: Vec<IpNet> = svc
        .load_balancer_source_ranges
        .iter()
        .filter(|r| Family::of(&r.addr()) == family)
        .map(IpNet::trunc)
        .collect();
    if lb_ips.is_empty() || ranges.is_empty() || ranges.iter().any(|r| r.prefix_len() == 0) {
        return;
    }
    let mut allowed = ranges.clone();
    let node_in_range = ranges
        .iter()
        .any(|r| ctx.node.addresses.iter().any(|a| r.contains(a)));
    if node_in_range {
        allowed.extend(lb_ips.iter().map(|ip| IpNet::from(*ip)));
    }
    let chain = names.firewall();
    out.chain(
        family,
        chain.clone(),
        vec![Rule::new(vec![
            Stmt::Match(Match::SaddrNotIn(allowed)),
            Stmt::Verdict(Verdict::Drop),
        ])],
    );
    for ip in lb_ips {
        let key = ElementKey::AddrProtoPort(*ip, port.protocol, port.port);
        out.element(
            family,
            FIREWALL_IPS,
            key,
            Some(Verdict::Goto(chain.clone())),
        );
    }
}

#[cfg(test)]
#[path = "nft_service_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "nft_service_features_tests.rs"]
mod features_tests;
