//! Planner tests of the per-port extras: session affinity sets and the
//! `loadBalancerSourceRanges` firewall, planned alone and driven through the
//! reconciler against `FakeHost` (created, recognised unchanged, swept when
//! the behaviour is switched off).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::*;
use crate::host::FakeHost;
use crate::host::nft::{Proto, SetKeyType};
use crate::model::config::ProxyConfig;
use crate::model::fixtures::{node, service_from, slice};
use crate::model::projection::{Projection, project_service};
use crate::model::{ClusterView, NodeInfo, ObjectKey};
use crate::sync::nft_skeleton::FIREWALL_CHECK;
use crate::sync::reconciler::{Reconciler, ReconcilerSettings};

fn proxy() -> ProxyConfig {
    ProxyConfig {
        cluster_cidrs: vec![
            "10.244.0.0/16".parse().unwrap(),
            "fd00:244::/64".parse().unwrap(),
        ],
        service_cidrs: vec!["10.96.0.0/12".parse().unwrap()],
        ..ProxyConfig::default()
    }
}

/// The node has 192.168.50.1 and fd00:50::1.
fn the_node() -> k8s_openapi::api::core::v1::Node {
    let mut n = node("node-a", "192.168.50.1");
    let addresses = &mut n.status.as_mut().unwrap().addresses;
    addresses.as_mut().unwrap().push(
        serde_json::from_value(json!({"type": "InternalIP", "address": "fd00:50::1"})).unwrap(),
    );
    n
}

fn ctx() -> ProxyContext {
    ProxyContext::new(&proxy(), NodeInfo::from_node(&the_node()).0)
}

/// A dual-stack LoadBalancer `web` (TCP 80, node port 30080) with `extra`
/// merged into its spec.
fn web(extra: Value) -> k8s_openapi::api::core::v1::Service {
    let mut spec = json!({
        "type": "LoadBalancer", "clusterIP": "10.96.0.10",
        "clusterIPs": ["10.96.0.10", "fd00:96::10"],
        "ports": [{"name": "http", "protocol": "TCP", "port": 80, "nodePort": 30080}]
    });
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    service_from(json!({
        "metadata": {"namespace": "default", "name": "web"},
        "spec": spec,
        "status": {"loadBalancer": {"ingress": [
            {"ip": "198.51.100.7"}, {"ip": "2001:db8:198::7"}]}}
    }))
}

/// Two endpoints per family: one local, one on node-b.
fn web_slices() -> Vec<k8s_openapi::api::discovery::v1::EndpointSlice> {
    vec![
        slice(
            "default",
            "web",
            "v4",
            ("http", "TCP", 8080),
            &[
                ("10.244.1.2", "node-a", true),
                ("10.244.2.2", "node-b", true),
            ],
        ),
        slice(
            "default",
            "web",
            "v6",
            ("http", "TCP", 8080),
            &[
                ("fd00:244::2", "node-a", true),
                ("fd00:244::3", "node-b", true),
            ],
        ),
    ]
}

fn plan(svc: &k8s_openapi::api::core::v1::Service) -> BTreeMap<NftKey, NftValue> {
    let c = ctx();
    let slices = web_slices();
    let (p, warnings) = project_service(svc, &slices, &c.node, None);
    assert!(warnings.is_empty(), "{warnings:?}");
    match p.unwrap() {
        Projection::Service(s) => plan_service(&s, &c),
        other => panic!("not projected: {other:?}"),
    }
}

fn sets(p: &BTreeMap<NftKey, NftValue>, family: Family) -> BTreeMap<String, SetDef> {
    p.iter()
        .filter_map(|(k, v)| match (k, v) {
            (NftKey::Set { family: f, name }, NftValue::Set(def)) if *f == family => {
                Some((name.clone(), def.clone()))
            }
            _ => None,
        })
        .collect()
}

fn rules<'a>(p: &'a BTreeMap<NftKey, NftValue>, family: Family, prefix: &str) -> &'a [Rule] {
    p.iter()
        .find_map(|(k, v)| match (k, v) {
            (NftKey::Chain { family: f, name }, NftValue::Chain(c))
                if *f == family && name.starts_with(prefix) =>
            {
                Some(c.rules.as_slice())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {family} chain starting with {prefix}"))
}

fn chain_names(p: &BTreeMap<NftKey, NftValue>, family: Family, prefix: &str) -> Vec<String> {
    p.keys()
        .filter_map(|k| match k {
            NftKey::Chain { family: f, name } if *f == family && name.starts_with(prefix) => {
                Some(name.clone())
            }
            _ => None,
        })
        .collect()
}

fn net(s: &str) -> IpNet {
    s.parse()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .unwrap()
}

/// `sessionAffinity: ClientIP`, with this timeout or the default.
fn affinity(timeout: Option<u32>) -> Value {
    match timeout {
        Some(t) => json!({"sessionAffinity": "ClientIP",
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": t}}}),
        None => json!({"sessionAffinity": "ClientIP"}),
    }
}

#[test]
fn client_ip_affinity_plans_one_dynamic_set_per_endpoint_in_each_family() {
    let p = plan(&web(affinity(Some(2))));
    for family in Family::ALL {
        let sets = sets(&p, family);
        assert_eq!(sets.len(), 2, "{family}: one set per endpoint: {sets:?}");
        for (name, def) in &sets {
            assert!(name.starts_with("affinity-"), "{name}");
            assert_eq!(*def, SetDef::dynamic_addrs(2));
        }
        // Each endpoint chain records the client before the DNAT.
        for ep in chain_names(&p, family, "ep-") {
            let r = rules(&p, family, &ep);
            assert_eq!(r.len(), 3, "{ep}: hairpin, update, dnat");
            let Stmt::UpdateSaddrSet(set) = &r[1].stmts[0] else {
                panic!("{ep}: {:?}", r[1]);
            };
            assert!(sets.contains_key(set), "{ep} updates {set}");
            assert!(matches!(r[2].stmts[1], Stmt::Dnat(_)));
        }
        // The service chain: masquerade check, a lookup per endpoint that
        // goes back to it, then the random pick.
        let svc = rules(&p, family, "svc-");
        assert_eq!(svc.len(), 1 + 2 + 2, "{svc:?}");
        let stuck: BTreeSet<&String> = svc[1..3]
            .iter()
            .map(|r| match &r.stmts[..] {
                [
                    Stmt::Match(Match::SaddrInSet(set)),
                    Stmt::Verdict(Verdict::Goto(ep)),
                ] => {
                    let update = &rules(&p, family, ep)[1].stmts[0];
                    assert_eq!(update, &Stmt::UpdateSaddrSet(set.clone()));
                    set
                }
                other => panic!("not an affinity lookup: {other:?}"),
            })
            .collect();
        assert_eq!(stuck.len(), 2);
        assert_eq!(svc[3].stmts[0], Stmt::Match(Match::NumgenOneIn(2)));
    }
}

#[test]
fn affinity_defaults_to_three_hours_and_covers_the_local_chain() {
    let mut svc = web(affinity(None));
    svc.spec.as_mut().unwrap().external_traffic_policy = Some("Local".into());
    let p = plan(&svc);
    for def in sets(&p, Family::Ip).values() {
        assert_eq!(*def, SetDef::dynamic_addrs(10800));
    }
    // One local endpoint: its lookup, then the plain goto.
    let local = rules(&p, Family::Ip, "local-");
    assert_eq!(local.len(), 2, "{local:?}");
    assert!(matches!(
        &local[0].stmts[0],
        Stmt::Match(Match::SaddrInSet(s)) if s.contains("10.244.1.2")
    ));
}

#[test]
fn a_new_affinity_timeout_is_a_new_set_and_no_affinity_no_set() {
    let two = sets(&plan(&web(affinity(Some(2)))), Family::Ip);
    let three = sets(&plan(&web(affinity(Some(3)))), Family::Ip);
    assert!(two.keys().all(|name| !three.contains_key(name)));
    let none = plan(&web(json!({})));
    assert!(sets(&none, Family::Ip).is_empty());
    assert!(sets(&none, Family::Ip6).is_empty());
    for ep in chain_names(&none, Family::Ip, "ep-") {
        assert_eq!(
            rules(&none, Family::Ip, &ep).len(),
            2,
            "no update without affinity"
        );
    }
}

fn firewall_element(family: Family, ip: &str) -> NftKey {
    NftKey::element(
        family,
        FIREWALL_IPS,
        ElementKey::AddrProtoPort(ip.parse().unwrap(), Proto::Tcp, 80),
    )
}

fn firewall_allowed(p: &BTreeMap<NftKey, NftValue>, family: Family) -> Vec<IpNet> {
    match rules(p, family, "firewall-") {
        [rule] => match &rule.stmts[..] {
            [
                Stmt::Match(Match::SaddrNotIn(allowed)),
                Stmt::Verdict(Verdict::Drop),
            ] => allowed.clone(),
            other => panic!("not a source filter: {other:?}"),
        },
        other => panic!("firewall chain: {other:?}"),
    }
}

#[test]
fn source_ranges_filter_lb_ips_only_per_family() {
    let p = plan(&web(json!({
        "loadBalancerSourceRanges": ["203.0.113.0/24", " 2001:db8:5::/48"]
    })));
    for (family, lb, range) in [
        (Family::Ip, "198.51.100.7", "203.0.113.0/24"),
        (Family::Ip6, "2001:db8:198::7", "2001:db8:5::/48"),
    ] {
        let v = match p.get(&firewall_element(family, lb)) {
            Some(NftValue::Element(v)) => v.clone(),
            other => panic!("{family} {lb}: {other:?}"),
        };
        assert!(matches!(&v, Some(Verdict::Goto(c)) if c.starts_with("firewall-")));
        assert_eq!(firewall_allowed(&p, family), [net(range)]);
    }
    // Only the LB IPs: nothing for the ClusterIP or the node port.
    let filtered: Vec<&NftKey> = p
        .keys()
        .filter(|k| matches!(k, NftKey::Element { set, .. } if set == FIREWALL_IPS))
        .collect();
    assert_eq!(filtered.len(), 2, "{filtered:?}");
}

#[test]
fn a_range_holding_a_node_address_also_allows_the_lb_ips() {
    let p = plan(&web(json!({
        "loadBalancerSourceRanges": ["192.168.50.0/24", "10.1.2.3/8"]
    })));
    assert_eq!(
        firewall_allowed(&p, Family::Ip),
        [
            net("192.168.50.0/24"),
            net("10.0.0.0/8"),
            net("198.51.100.7")
        ]
    );
    // No IPv6 range: IPv6 is not filtered (kube-proxy filters per family).
    assert!(chain_names(&p, Family::Ip6, "firewall-").is_empty());
    assert!(!p.contains_key(&firewall_element(Family::Ip6, "2001:db8:198::7")));
}

#[test]
fn no_firewall_without_lb_ips_or_with_an_all_addresses_range() {
    for (extra, why) in [
        (
            json!({"loadBalancerSourceRanges": ["0.0.0.0/0", "203.0.113.0/24"]}),
            "0.0.0.0/0 allows everyone",
        ),
        (json!({}), "no ranges"),
    ] {
        let p = plan(&web(extra));
        assert!(chain_names(&p, Family::Ip, "firewall-").is_empty(), "{why}");
    }
    let mut no_lb = web(json!({"loadBalancerSourceRanges": ["203.0.113.0/24"]}));
    no_lb.metadata.annotations = Some(
        [(
            "kube-router.io/service.skiplbips".to_string(),
            String::new(),
        )]
        .into(),
    );
    let p = plan(&no_lb);
    assert!(
        !p.keys()
            .any(|k| matches!(k, NftKey::Chain { name, .. } if name.starts_with("firewall-"))),
        "skiplbips: no LB IP, nothing to filter"
    );
}

// Through the reconciler and FakeHost.

fn settings() -> ReconcilerSettings {
    ReconcilerSettings {
        node_name: "node-a".into(),
        proxy: proxy(),
        proxy_name: None,
        bgp: Default::default(),
    }
}

fn view(svc: k8s_openapi::api::core::v1::Service) -> ClusterView {
    let mut v = ClusterView::from_objects([svc], web_slices(), [the_node()]);
    v.synced = true;
    v
}

fn web_key() -> BTreeSet<ObjectKey> {
    [ObjectKey::new("default", "web")].into()
}

fn kernel_keys(r: &Reconciler<FakeHost>, what: impl Fn(&NftKey) -> bool) -> Vec<NftKey> {
    r.host()
        .kernel
        .nft
        .keys()
        .filter(|k| what(k))
        .cloned()
        .collect()
}

fn is_affinity_set(k: &NftKey) -> bool {
    matches!(k, NftKey::Set { name, .. } if name.starts_with("affinity-"))
}

fn is_firewall(k: &NftKey) -> bool {
    matches!(k, NftKey::Chain { name, .. } if name.starts_with("firewall-") && name != FIREWALL_CHECK)
        || matches!(k, NftKey::Element { set, .. } if set == FIREWALL_IPS)
}

#[test]
fn affinity_sets_are_kept_while_wanted_and_swept_when_affinity_is_switched_off() {
    let mut r = Reconciler::new(FakeHost::new(), settings());
    r.sync(&view(web(affinity(Some(2)))), &BTreeSet::new(), true)
        .unwrap();
    assert_eq!(kernel_keys(&r, is_affinity_set).len(), 4, "2 per family");
    let def = r
        .host()
        .kernel
        .nft
        .iter()
        .find_map(|(k, v)| is_affinity_set(k).then_some(v));
    assert!(matches!(def, Some(NftValue::Set(d)) if d.key == SetKeyType::Addr));

    // A full sync of the same view recognises the sets: nothing to do.
    let report = r
        .sync(&view(web(affinity(Some(2)))), &BTreeSet::new(), true)
        .unwrap();
    assert_eq!((report.creates, report.updates, report.deletes), (0, 0, 0));

    // Affinity off: the sets go, the chains that used them are rewritten.
    let report = r.sync(&view(web(json!({}))), &web_key(), false).unwrap();
    assert_eq!(report.kind, crate::sync::SyncKind::Incremental);
    assert!(kernel_keys(&r, is_affinity_set).is_empty());
    let last = r.host().applied.last().unwrap();
    assert_eq!(
        last.nft
            .deletes
            .iter()
            .filter(|k| is_affinity_set(k))
            .count(),
        4
    );
    assert!(
        last.nft
            .updates
            .keys()
            .any(|k| matches!(k, NftKey::Chain { name, .. } if name.starts_with("svc-")))
    );
}

#[test]
fn a_changed_timeout_replaces_the_sets_and_a_deleted_service_takes_them_along() {
    let mut r = Reconciler::new(FakeHost::new(), settings());
    r.sync(&view(web(affinity(Some(2)))), &BTreeSet::new(), true)
        .unwrap();
    let before = kernel_keys(&r, is_affinity_set);
    r.sync(&view(web(affinity(Some(60)))), &web_key(), false)
        .unwrap();
    let after = kernel_keys(&r, is_affinity_set);
    assert_eq!(after.len(), 4);
    assert!(
        before.iter().all(|k| !after.contains(k)),
        "renamed with the timeout"
    );

    let mut empty = ClusterView::from_objects([], [], [the_node()]);
    empty.synced = true;
    r.sync(&empty, &web_key(), false).unwrap();
    assert!(kernel_keys(&r, is_affinity_set).is_empty());
}

#[test]
fn firewall_is_swept_when_the_ranges_are_removed() {
    let ranged = || web(json!({"loadBalancerSourceRanges": ["203.0.113.0/24", "2001:db8:5::/48"]}));
    let mut r = Reconciler::new(FakeHost::new(), settings());
    r.sync(&view(ranged()), &BTreeSet::new(), true).unwrap();
    // Per family: the firewall chain and the LB IP's element.
    assert_eq!(kernel_keys(&r, is_firewall).len(), 4);
    let report = r.sync(&view(ranged()), &BTreeSet::new(), true).unwrap();
    assert_eq!((report.creates, report.updates, report.deletes), (0, 0, 0));

    r.sync(&view(web(json!({}))), &web_key(), false).unwrap();
    assert!(kernel_keys(&r, is_firewall).is_empty());
    // The skeleton's map and check chain stay.
    assert!(
        r.host()
            .kernel
            .nft
            .contains_key(&NftKey::set(Family::Ip, FIREWALL_IPS))
    );
}
