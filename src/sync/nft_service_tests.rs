//! Planner tests: which artifacts each kind of service produces.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::host::nft::Proto;
use crate::model::NodeInfo;
use crate::model::config::ProxyConfig;
use crate::model::fixtures::{node, service, service_from, slice};
use crate::model::projection::{Projection, project_service};

fn ctx(masquerade_all: bool) -> ProxyContext {
    let (node, _) = NodeInfo::from_node(&node("node-a", "192.168.50.1"));
    let proxy = ProxyConfig {
        cluster_cidrs: vec![
            "10.244.0.0/16".parse().unwrap(),
            "fd00:244::/64".parse().unwrap(),
        ],
        service_cidrs: vec!["10.96.0.0/12".parse().unwrap()],
        masquerade_all,
        ..ProxyConfig::default()
    };
    ProxyContext::new(&proxy, node)
}

fn plan(
    svc: k8s_openapi::api::core::v1::Service,
    slices: &[k8s_openapi::api::discovery::v1::EndpointSlice],
) -> BTreeMap<NftKey, NftValue> {
    let c = ctx(false);
    let (p, warnings) = project_service(&svc, slices, &c.node, None);
    assert!(warnings.is_empty());
    match p.unwrap() {
        Projection::Service(s) => plan_service(&s, &c),
        other => panic!("not projected: {other:?}"),
    }
}

fn elem(map: &str, key: ElementKey) -> NftKey {
    NftKey::element(Family::Ip, map, key)
}

fn app(ip: &str, proto: Proto, port: u16) -> ElementKey {
    ElementKey::AddrProtoPort(ip.parse().unwrap(), proto, port)
}

fn verdict(plan: &BTreeMap<NftKey, NftValue>, key: &NftKey) -> Option<Verdict> {
    match plan.get(key) {
        Some(NftValue::Element(v)) => v.clone(),
        other => panic!("{key} missing or not an element: {other:?}"),
    }
}

fn chain_rules<'a>(plan: &'a BTreeMap<NftKey, NftValue>, prefix: &str) -> &'a [Rule] {
    plan.iter()
        .find_map(|(k, v)| match (k, v) {
            (NftKey::Chain { name, .. }, NftValue::Chain(c)) if name.starts_with(prefix) => {
                Some(c.rules.as_slice())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no chain starting with {prefix}"))
}

fn goto_prefix(v: &Option<Verdict>, prefix: &str) -> bool {
    matches!(v, Some(Verdict::Goto(c)) if c.starts_with(prefix))
}

#[test]
fn service_without_endpoints_is_rejected_on_every_frontend() {
    let svc = service_from(json!({
        "metadata": {"namespace": "ns", "name": "empty"},
        "spec": {"type": "NodePort", "clusterIP": "10.96.0.5", "externalIPs": ["203.0.113.5"],
                 "ports": [{"name": "http", "protocol": "TCP", "port": 80, "nodePort": 30005}]}
    }));
    let p = plan(svc, &[]);
    let reject = Some(Verdict::Goto(REJECT_CHAIN.into()));
    assert_eq!(
        verdict(
            &p,
            &elem(NO_ENDPOINT_SERVICES, app("10.96.0.5", Proto::Tcp, 80))
        ),
        reject
    );
    assert_eq!(
        verdict(
            &p,
            &elem(NO_ENDPOINT_SERVICES, app("203.0.113.5", Proto::Tcp, 80))
        ),
        reject
    );
    assert_eq!(
        verdict(
            &p,
            &elem(
                NO_ENDPOINT_NODEPORTS,
                ElementKey::ProtoPort(Proto::Tcp, 30005)
            )
        ),
        reject
    );
    assert!(
        !p.keys().any(|k| matches!(k, NftKey::Chain { .. })),
        "no chains without endpoints"
    );
    assert!(
        !p.keys()
            .any(|k| matches!(k, NftKey::Element { set, .. } if set == SERVICE_IPS))
    );
}

#[test]
fn cluster_ip_picks_a_random_endpoint_and_masquerades_off_cluster_sources() {
    let p = plan(
        service(
            "ns",
            "web",
            "ClusterIP",
            "10.96.0.10",
            &[("http", "TCP", 80, None)],
        ),
        &[slice(
            "ns",
            "web",
            "s",
            ("http", "TCP", 8080),
            &[
                ("10.244.1.2", "node-a", true),
                ("10.244.2.2", "node-b", true),
                ("10.244.3.2", "node-c", false),
            ],
        )],
    );
    let v = verdict(&p, &elem(SERVICE_IPS, app("10.96.0.10", Proto::Tcp, 80)));
    assert!(goto_prefix(&v, "svc-"));
    let rules = chain_rules(&p, "svc-");
    assert_eq!(
        rules[0].stmts[0],
        Stmt::Match(Match::SaddrNotIn(vec!["10.244.0.0/16".parse().unwrap()]))
    );
    // Two ready endpoints (the not-ready one is excluded): 1-in-2, then the other.
    assert_eq!(rules.len(), 3);
    assert_eq!(rules[1].stmts[0], Stmt::Match(Match::NumgenOneIn(2)));
    assert!(
        matches!(&rules[2].stmts[..], [Stmt::Verdict(Verdict::Goto(c))] if c.starts_with("ep-"))
    );
    let ep = chain_rules(&p, "ep-");
    assert_eq!(
        ep[1],
        Rule::dnat(Proto::Tcp, "10.244.1.2:8080".parse().unwrap())
    );
    assert!(p.contains_key(&elem(
        CLUSTER_IPS,
        ElementKey::Net("10.96.0.10/32".parse().unwrap())
    )));
}

#[test]
fn masquerade_all_marks_every_cluster_ip_packet() {
    let svc = service(
        "ns",
        "web",
        "ClusterIP",
        "10.96.0.10",
        &[("http", "TCP", 80, None)],
    );
    let eps = [slice(
        "ns",
        "web",
        "s",
        ("http", "TCP", 80),
        &[("10.244.1.2", "node-a", true)],
    )];
    let c = ctx(true);
    let (p, _) = project_service(&svc, &eps, &c.node, None);
    let Projection::Service(s) = p.unwrap() else {
        panic!()
    };
    let p = plan_service(&s, &c);
    // ClusterIP traffic only, as kube-proxy: external traffic that reaches
    // the service chain follows its own policy.
    assert_eq!(
        chain_rules(&p, "svc-")[0],
        Rule::new(vec![
            Stmt::Match(Match::DaddrInSet(CLUSTER_IPS.into())),
            Stmt::Verdict(Verdict::Jump(MARK_FOR_MASQUERADE.into())),
        ])
    );
}

#[test]
fn external_traffic_policy_cluster_masquerades_external_traffic() {
    let p = plan(
        service(
            "ns",
            "web",
            "NodePort",
            "10.96.0.10",
            &[("http", "TCP", 80, Some(30080))],
        ),
        &[slice(
            "ns",
            "web",
            "s",
            ("http", "TCP", 80),
            &[("10.244.2.2", "node-b", true)],
        )],
    );
    let v = verdict(
        &p,
        &elem(SERVICE_NODEPORTS, ElementKey::ProtoPort(Proto::Tcp, 30080)),
    );
    assert!(goto_prefix(&v, "ext-"));
    let ext = chain_rules(&p, "ext-");
    assert_eq!(
        ext[0],
        Rule::verdict(Verdict::Jump(MARK_FOR_MASQUERADE.into()))
    );
    assert!(matches!(&ext[1].stmts[0], Stmt::Verdict(Verdict::Goto(c)) if c.starts_with("svc-")));
}

#[test]
fn external_traffic_policy_local_keeps_source_and_drops_without_local_endpoints() {
    let lb = |local_ready: bool| {
        let svc = service_from(json!({
            "metadata": {"namespace": "ns", "name": "lb"},
            "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.30",
                     "externalTrafficPolicy": "Local", "healthCheckNodePort": 32000,
                     "ports": [{"name": "http", "protocol": "TCP", "port": 80, "nodePort": 30030}]},
            "status": {"loadBalancer": {"ingress": [
                {"ip": "198.51.100.7"}, {"ip": "198.51.100.8", "ipMode": "Proxy"}]}}
        }));
        plan(
            svc,
            &[slice(
                "ns",
                "lb",
                "s",
                ("http", "TCP", 80),
                &[
                    ("10.244.1.2", "node-a", local_ready),
                    ("10.244.2.2", "node-b", true),
                ],
            )],
        )
    };
    let p = lb(true);
    let v = verdict(&p, &elem(SERVICE_IPS, app("198.51.100.7", Proto::Tcp, 80)));
    assert!(goto_prefix(&v, "ext-"));
    assert!(
        !p.contains_key(&elem(SERVICE_IPS, app("198.51.100.8", Proto::Tcp, 80))),
        "ipMode Proxy skipped"
    );
    let ext = chain_rules(&p, "ext-");
    assert!(
        !ext.iter()
            .any(|r| r.stmts == [Stmt::Verdict(Verdict::Jump(MARK_FOR_MASQUERADE.into()))]),
        "no unconditional masquerade under Local"
    );
    assert!(
        matches!(&ext.last().unwrap().stmts[0], Stmt::Verdict(Verdict::Goto(c)) if c.starts_with("local-"))
    );
    // One local endpoint: a plain goto.
    let local = chain_rules(&p, "local-");
    assert_eq!(local.len(), 1);
    assert!(
        matches!(&local[0].stmts[..], [Stmt::Verdict(Verdict::Goto(c))] if c.contains("10.244.1.2"))
    );

    let p = lb(false);
    let ext = chain_rules(&p, "ext-");
    assert_eq!(
        ext.last().unwrap(),
        &Rule::verdict(Verdict::Drop),
        "drop, not reject"
    );
    // Pods and the node itself still short-circuit to the cluster set.
    assert!(matches!(&ext[0].stmts[0], Stmt::Match(Match::SaddrIn(_))));
}

#[test]
fn internal_traffic_policy_local_without_local_endpoints_drops() {
    let svc = service_from(json!({
        "metadata": {"namespace": "ns", "name": "itp"},
        "spec": {"clusterIP": "10.96.0.40", "internalTrafficPolicy": "Local",
                 "ports": [{"name": "dns", "protocol": "UDP", "port": 53}]}
    }));
    let remote = [slice(
        "ns",
        "itp",
        "s",
        ("dns", "UDP", 53),
        &[("10.244.2.2", "node-b", true)],
    )];
    let p = plan(svc.clone(), &remote);
    assert_eq!(
        verdict(
            &p,
            &elem(NO_ENDPOINT_SERVICES, app("10.96.0.40", Proto::Udp, 53))
        ),
        Some(Verdict::Drop)
    );
    let local = [slice(
        "ns",
        "itp",
        "s",
        ("dns", "UDP", 53),
        &[("10.244.1.2", "node-a", true)],
    )];
    let p = plan(svc, &local);
    let v = verdict(&p, &elem(SERVICE_IPS, app("10.96.0.40", Proto::Udp, 53)));
    assert!(goto_prefix(&v, "local-"));
}

#[test]
fn same_port_with_two_protocols_and_dual_stack() {
    let svc = service_from(json!({
        "metadata": {"namespace": "ns", "name": "dns"},
        "spec": {"clusterIP": "10.96.0.53", "clusterIPs": ["10.96.0.53", "fd00:96::53"],
                 "ports": [{"name": "dns-udp", "protocol": "UDP", "port": 53},
                           {"name": "dns-tcp", "protocol": "TCP", "port": 53},
                           {"name": "sctp", "protocol": "SCTP", "port": 9999}]}
    }));
    let slices = [
        slice(
            "ns",
            "dns",
            "v4u",
            ("dns-udp", "UDP", 53),
            &[("10.244.1.5", "node-a", true)],
        ),
        slice(
            "ns",
            "dns",
            "v4t",
            ("dns-tcp", "TCP", 53),
            &[("10.244.1.5", "node-a", true)],
        ),
        slice(
            "ns",
            "dns",
            "v6u",
            ("dns-udp", "UDP", 53),
            &[("fd00:244::5", "node-a", true)],
        ),
    ];
    let p = plan(svc, &slices);
    assert!(goto_prefix(
        &verdict(&p, &elem(SERVICE_IPS, app("10.96.0.53", Proto::Udp, 53))),
        "svc-"
    ));
    assert!(goto_prefix(
        &verdict(&p, &elem(SERVICE_IPS, app("10.96.0.53", Proto::Tcp, 53))),
        "svc-"
    ));
    let v6 = NftKey::element(Family::Ip6, SERVICE_IPS, app("fd00:96::53", Proto::Udp, 53));
    assert!(goto_prefix(&verdict(&p, &v6), "svc-"));
    // IPv6 TCP and SCTP have no endpoints: rejected in the ip6 / ip table.
    let v6_tcp = NftKey::element(
        Family::Ip6,
        NO_ENDPOINT_SERVICES,
        app("fd00:96::53", Proto::Tcp, 53),
    );
    assert!(p.contains_key(&v6_tcp));
    assert!(p.contains_key(&elem(
        NO_ENDPOINT_SERVICES,
        app("10.96.0.53", Proto::Sctp, 9999)
    )));
    // Endpoint chains of the two v4 protocols are distinct.
    let v4_ep_chains = p
        .keys()
        .filter(
            |k| matches!(k, NftKey::Chain { family: Family::Ip, name } if name.starts_with("ep-")),
        )
        .count();
    assert_eq!(v4_ep_chains, 2);
}

fn targets(n: usize) -> Vec<Verdict> {
    (0..n).map(|i| Verdict::Goto(format!("ep-{i}"))).collect()
}

#[test]
fn small_endpoint_sets_are_picked_by_successive_one_in_n_rules() {
    let rules = pick_endpoint(targets(3));
    assert_eq!(
        rules,
        [
            Rule::new(vec![
                Stmt::Match(Match::NumgenOneIn(3)),
                Stmt::Verdict(Verdict::Goto("ep-0".into()))
            ]),
            Rule::new(vec![
                Stmt::Match(Match::NumgenOneIn(2)),
                Stmt::Verdict(Verdict::Goto("ep-1".into()))
            ]),
            Rule::verdict(Verdict::Goto("ep-2".into())),
        ]
    );
    assert_eq!(
        pick_endpoint(targets(1)),
        [Rule::verdict(Verdict::Goto("ep-0".into()))]
    );
}

#[test]
fn one_in_n_rules_are_uniform() {
    // P(endpoint i) = prod_{j<i} (1 - 1/(n-j)) * 1/(n-i) = 1/n for every i.
    let n = RULE_PICK_MAX_ENDPOINTS;
    let rules = pick_endpoint(targets(n));
    let mut reach = 1.0f64;
    for rule in &rules {
        let p_here = match rule.stmts[0] {
            Stmt::Match(Match::NumgenOneIn(k)) => 1.0 / f64::from(k),
            _ => 1.0,
        };
        assert!((reach * p_here - 1.0 / n as f64).abs() < 1e-12);
        reach *= 1.0 - p_here;
    }
}

#[test]
fn large_endpoint_sets_use_one_verdict_map() {
    let rules = pick_endpoint(targets(RULE_PICK_MAX_ENDPOINTS + 1));
    assert_eq!(rules.len(), 1);
    assert!(
        matches!(&rules[0].stmts[..], [Stmt::NumgenVmap(t)] if t.len() == RULE_PICK_MAX_ENDPOINTS + 1)
    );
}
