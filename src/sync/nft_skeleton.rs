//! The fixed part of each `kroute` table: base chains at kube-proxy's hooks and
//! priorities, the dispatch maps and sets, the no-endpoint, firewall and
//! cluster-IP checks.

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::ProxyContext;
use crate::host::nft::{
    BaseHook, Chain, ChainKind, ElementKey, Family, Hook, Match, NftKey, NftValue, Rule, SetDef,
    SetKeyType, Stmt, Verdict, VmapKey,
};

/// Set of every live ClusterIP.
pub const CLUSTER_IPS: &str = "cluster-ips";
/// Set of the addresses NodePorts answer on.
pub const NODEPORT_IPS: &str = "nodeport-ips";
/// `addr . proto . port : verdict` for ClusterIPs, external IPs and LB IPs.
pub const SERVICE_IPS: &str = "service-ips";
/// `proto . port : verdict` for NodePorts.
pub const SERVICE_NODEPORTS: &str = "service-nodeports";
/// Frontends of services without usable endpoints (reject or drop).
pub const NO_ENDPOINT_SERVICES: &str = "no-endpoint-services";
/// NodePorts of services without usable endpoints.
pub const NO_ENDPOINT_NODEPORTS: &str = "no-endpoint-nodeports";
/// `lb-ip . proto . port : goto firewall-…` for services with
/// `loadBalancerSourceRanges`.
pub const FIREWALL_IPS: &str = "firewall-ips";

pub const MARK_FOR_MASQUERADE: &str = "mark-for-masquerade";
pub const MASQUERADING: &str = "masquerading";
pub const SERVICES: &str = "services";
pub const SERVICE_ENDPOINTS_CHECK: &str = "service-endpoints-check";
pub const NODEPORT_ENDPOINTS_CHECK: &str = "nodeport-endpoints-check";
pub const CLUSTER_IPS_CHECK: &str = "cluster-ips-check";
pub const FIREWALL_CHECK: &str = "firewall-check";
pub const REJECT_CHAIN: &str = "reject-chain";

/// kube-proxy's priorities: filter checks at dstnat-10 and dstnat+10 (output),
/// nat at dstnat / srcnat.
const DSTNAT: i32 = -100;
const SRCNAT: i32 = 100;

/// Desired skeleton artifacts of one family's table.
pub fn plan_skeleton(ctx: &ProxyContext, family: Family) -> BTreeMap<NftKey, NftValue> {
    let mut out = BTreeMap::new();
    out.insert(NftKey::Table(family), NftValue::Table);

    let sets = [
        (CLUSTER_IPS, SetKeyType::Addr, false, false),
        (NODEPORT_IPS, SetKeyType::Addr, false, true),
        (SERVICE_IPS, SetKeyType::AddrProtoPort, true, false),
        (SERVICE_NODEPORTS, SetKeyType::ProtoPort, true, false),
        (NO_ENDPOINT_SERVICES, SetKeyType::AddrProtoPort, true, false),
        (NO_ENDPOINT_NODEPORTS, SetKeyType::ProtoPort, true, false),
        (FIREWALL_IPS, SetKeyType::AddrProtoPort, true, false),
    ];
    for (name, key, verdict_map, interval) in sets {
        out.insert(
            NftKey::set(family, name),
            NftValue::Set(SetDef::new(key, verdict_map, interval)),
        );
    }
    for net in ctx.node_port_nets(family) {
        out.insert(
            NftKey::element(family, NODEPORT_IPS, ElementKey::Net(net)),
            NftValue::Element(None),
        );
    }

    let new_jump = |chain: &str| {
        Rule::new(vec![
            Stmt::Match(Match::CtStateNew),
            Stmt::Verdict(Verdict::Jump(chain.into())),
        ])
    };
    let base = |kind, hook, priority| {
        Some(BaseHook {
            kind,
            hook,
            priority,
        })
    };
    let mut chain = |name: &str, hook: Option<BaseHook>, rules: Vec<Rule>| {
        out.insert(
            NftKey::chain(family, name),
            NftValue::Chain(Chain::new(hook, rules)),
        );
    };

    use ChainKind::{Filter, Nat};
    // Source ranges are checked before DNAT, on the LB IP itself.
    chain(
        "filter-prerouting",
        base(Filter, Hook::Prerouting, DSTNAT - 10),
        vec![new_jump(FIREWALL_CHECK)],
    );
    chain(
        "filter-input",
        base(Filter, Hook::Input, DSTNAT - 10),
        vec![
            new_jump(NODEPORT_ENDPOINTS_CHECK),
            new_jump(SERVICE_ENDPOINTS_CHECK),
        ],
    );
    chain(
        "filter-forward",
        base(Filter, Hook::Forward, DSTNAT - 10),
        vec![
            new_jump(SERVICE_ENDPOINTS_CHECK),
            new_jump(CLUSTER_IPS_CHECK),
        ],
    );
    chain(
        "filter-output",
        base(Filter, Hook::Output, DSTNAT - 10),
        vec![new_jump(FIREWALL_CHECK), new_jump(SERVICE_ENDPOINTS_CHECK)],
    );
    chain(
        "filter-output-post-dnat",
        base(Filter, Hook::Output, DSTNAT + 10),
        vec![new_jump(CLUSTER_IPS_CHECK)],
    );
    let jump = |c: &str| Rule::verdict(Verdict::Jump(c.into()));
    // `ip daddr . meta l4proto . th dport vmap @map`
    let daddr_vmap = |map: &str| {
        Rule::new(vec![Stmt::VmapLookup {
            key: VmapKey::DaddrProtoPort,
            map: map.into(),
        }])
    };
    chain(
        "nat-prerouting",
        base(Nat, Hook::Prerouting, DSTNAT),
        vec![jump(SERVICES)],
    );
    chain(
        "nat-output",
        base(Nat, Hook::Output, DSTNAT),
        vec![jump(SERVICES)],
    );
    chain(
        "nat-postrouting",
        base(Nat, Hook::Postrouting, SRCNAT),
        vec![jump(MASQUERADING)],
    );

    chain(
        MARK_FOR_MASQUERADE,
        None,
        vec![Rule::new(vec![Stmt::SetMasqueradeMark])],
    );
    chain(
        MASQUERADING,
        None,
        vec![
            Rule::new(vec![
                Stmt::Match(Match::MasqueradeMarkUnset),
                Stmt::Verdict(Verdict::Return),
            ]),
            Rule::new(vec![Stmt::ClearMasqueradeMark]),
            Rule::new(vec![Stmt::Masquerade]),
        ],
    );
    let local_nodeport = || {
        vec![
            Stmt::Match(Match::DaddrInSet(NODEPORT_IPS.into())),
            Stmt::Match(Match::FibDaddrLocal),
        ]
    };
    let mut nodeport_dispatch = local_nodeport();
    nodeport_dispatch.push(Stmt::VmapLookup {
        key: VmapKey::ProtoPort,
        map: SERVICE_NODEPORTS.into(),
    });
    chain(
        SERVICES,
        None,
        vec![daddr_vmap(SERVICE_IPS), Rule::new(nodeport_dispatch)],
    );
    chain(
        SERVICE_ENDPOINTS_CHECK,
        None,
        vec![daddr_vmap(NO_ENDPOINT_SERVICES)],
    );
    let mut nodeport_check = local_nodeport();
    nodeport_check.push(Stmt::VmapLookup {
        key: VmapKey::ProtoPort,
        map: NO_ENDPOINT_NODEPORTS.into(),
    });
    chain(
        NODEPORT_ENDPOINTS_CHECK,
        None,
        vec![Rule::new(nodeport_check)],
    );
    chain(FIREWALL_CHECK, None, vec![daddr_vmap(FIREWALL_IPS)]);
    chain(REJECT_CHAIN, None, vec![Rule::new(vec![Stmt::Reject])]);

    // A live ClusterIP on a port no service uses is rejected; an unallocated
    // address inside the service CIDRs is dropped.
    let mut checks = vec![Rule::new(vec![
        Stmt::Match(Match::DaddrInSet(CLUSTER_IPS.into())),
        Stmt::Reject,
    ])];
    let service_cidrs: Vec<IpNet> = ctx.service_cidrs(family);
    if !service_cidrs.is_empty() {
        checks.push(Rule::new(vec![
            Stmt::Match(Match::DaddrIn(service_cidrs)),
            Stmt::Verdict(Verdict::Drop),
        ]));
    }
    chain(CLUSTER_IPS_CHECK, None, checks);
    out
}
