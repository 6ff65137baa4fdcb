//! Kernel tier: kroute's nf_tables netlink encoder against `nft -f`. The
//! same plans (a skeleton and services of every shape, then updates, then
//! deletes) go through `nft -f` into one namespace and through netlink into
//! another; `nft -j list table` of both must be the same after each step.
mod support;

use std::collections::BTreeSet;

use kroute::host::linux::nft_netlink::NftNetlink;
use kroute::host::linux::nft_script::render;
use kroute::host::linux::nft_txn::{NftOp, TxnInput, build};
use kroute::host::nft::{Family, NftKey, NftValue, Rule, Stmt, Verdict};
use kroute::host::{FacetPlan, FakeHost, HostNetwork};
use kroute::model::ClusterView;
use kroute::model::config::ProxyConfig;
use kroute::model::fixtures::{node, service, service_from, slice};
use kroute::sync::Reconciler;
use kroute::sync::reconciler::ReconcilerSettings;
use serde_json::{Value, json};
use support::netns::NetNs;
use support::{nft, ns_thread};

type Mirror = std::collections::BTreeMap<NftKey, NftValue>;

fn settings() -> ReconcilerSettings {
    ReconcilerSettings {
        node_name: "node-a".into(),
        proxy: ProxyConfig {
            cluster_cidrs: vec![
                "10.244.0.0/16".parse().unwrap(),
                "fd00:244::/64".parse().unwrap(),
            ],
            service_cidrs: vec![
                "10.96.0.0/12".parse().unwrap(),
                "fd00:96::/108".parse().unwrap(),
            ],
            ..ProxyConfig::default()
        },
        proxy_name: None,
        bgp: Default::default(),
    }
}

/// Services of each shape; `step` 1 changes endpoints and drops one.
fn view(step: u32) -> ClusterView {
    let mut services = vec![
        service(
            "demo",
            "web",
            "ClusterIP",
            "10.96.0.80",
            &[("http", "TCP", 80, None)],
        ),
        service(
            "demo",
            "np",
            "NodePort",
            "10.96.0.81",
            &[("http", "TCP", 80, Some(30080))],
        ),
        service(
            "demo",
            "dns",
            "ClusterIP",
            "10.96.0.10",
            &[("dns", "UDP", 53, None), ("dns-tcp", "TCP", 53, None)],
        ),
        service(
            "demo",
            "empty",
            "ClusterIP",
            "10.96.0.99",
            &[("http", "TCP", 80, None)],
        ),
        service_from(json!({
            "metadata": {"namespace": "demo", "name": "lb"},
            "spec": {
                "type": "LoadBalancer", "clusterIP": "10.96.0.90", "clusterIPs": ["10.96.0.90"],
                "ports": [{"name": "https", "protocol": "TCP", "port": 443, "nodePort": 30443}],
                "externalIPs": ["192.168.50.100"],
                "sessionAffinity": "ClientIP",
                "loadBalancerSourceRanges": ["203.0.113.0/24", "198.51.100.0/24"],
                "externalTrafficPolicy": "Local",
            },
            "status": {"loadBalancer": {"ingress": [{"ip": "192.168.50.200"}]}},
        })),
        service_from(json!({
            "metadata": {"namespace": "demo", "name": "dual"},
            "spec": {
                "type": "ClusterIP", "clusterIP": "10.96.0.70", "clusterIPs": ["10.96.0.70", "fd00:96::70"],
                "ipFamilies": ["IPv4", "IPv6"], "ipFamilyPolicy": "PreferDualStack",
                "ports": [{"name": "http", "protocol": "SCTP", "port": 80}],
            },
        })),
    ];
    let many: Vec<String> = (1..=if step == 0 { 40 } else { 3 })
        .map(|n| format!("10.244.2.{n}"))
        .collect();
    let many: Vec<(&str, &str, bool)> = many
        .iter()
        .map(|ip| (ip.as_str(), "node-b", true))
        .collect();
    let mut slices = vec![
        slice("demo", "web", "web-1", ("http", "TCP", 8080), &many),
        slice(
            "demo",
            "np",
            "np-1",
            ("http", "TCP", 8080),
            &[("10.244.1.12", "node-a", true)],
        ),
        slice(
            "demo",
            "lb",
            "lb-1",
            ("https", "TCP", 8443),
            &[
                ("10.244.1.21", "node-a", true),
                ("10.244.1.22", "node-b", true),
            ],
        ),
        slice(
            "demo",
            "dual",
            "dual-4",
            ("http", "SCTP", 8080),
            &[("10.244.1.40", "node-a", true)],
        ),
        slice(
            "demo",
            "dual",
            "dual-6",
            ("http", "SCTP", 8080),
            &[("fd00:244::40", "node-a", true)],
        ),
        slice(
            "demo",
            "dns",
            "dns-1",
            ("dns", "UDP", 5353),
            &[("10.244.1.31", "node-a", true)],
        ),
        slice(
            "demo",
            "dns",
            "dns-2",
            ("dns-tcp", "TCP", 5353),
            &[("10.244.1.31", "node-a", true)],
        ),
    ];
    if step >= 1 {
        services.retain(|s| s.metadata.name.as_deref() != Some("np"));
        slices.retain(|s| s.metadata.name.as_deref() != Some("np-1"));
    }
    if step >= 2 {
        services.clear();
        slices.clear();
    }
    let mut view = ClusterView::from_objects(services, slices, [node("node-a", "192.168.50.1")]);
    view.synced = true;
    view
}

/// `nft -j list table FAMILY kroute` without handles (kernel-assigned).
fn listing(ns: &NetNs, family: &str) -> Option<Value> {
    let out = nft::nft(ns, &["-j", "list", "table", family, "kroute"]);
    if !out.status.success() {
        return None;
    }
    let mut v: Value = serde_json::from_slice(&out.stdout).expect("nft JSON");
    strip_handles(&mut v);
    Some(v)
}

fn strip_handles(v: &mut Value) {
    match v {
        Value::Object(o) => {
            o.remove("handle");
            o.values_mut().for_each(strip_handles);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_handles),
        _ => {}
    }
}

fn apply_netlink(
    ns: &NetNs,
    plan: &FacetPlan<NftKey, NftValue>,
    current: &Mirror,
) -> Result<(), String> {
    let (plan, current) = (plan.clone(), current.clone());
    ns_thread::run(&ns.path(), move || {
        let txn = build(&TxnInput {
            plan: &plan,
            current: &current,
            defer_chain_deletes: false,
            due_chain_deletes: &[],
        })
        .map_err(|e| e.to_string())?;
        let mut nl = NftNetlink::open().map_err(|e| e.to_string())?;
        nl.apply(&txn.ops, &current).map_err(|e| e.to_string())
    })
}

#[test]
fn netlink_and_nft_build_the_same_tables_through_creates_updates_and_deletes() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let by_nft = NetNs::new("nl-nft");
    let by_netlink = NetNs::new("nl-own");
    let mut reconciler = Reconciler::new(FakeHost::new(), settings());
    for step in 0..3 {
        let current = reconciler.host().mirror().clone();
        let planned = reconciler.plan_full(&view(step), &current);
        assert!(
            !planned.plan.nft.is_empty(),
            "step {step} changes something"
        );
        let txn = build(&TxnInput {
            plan: &planned.plan.nft,
            current: &current.nft,
            defer_chain_deletes: false,
            due_chain_deletes: &[],
        })
        .unwrap();
        nft::load(&by_nft, &render(&txn.ops));
        apply_netlink(&by_netlink, &planned.plan.nft, &current.nft)
            .unwrap_or_else(|e| panic!("step {step}: {e}"));
        reconciler.host_mut().apply(&planned.plan).unwrap();
        for family in ["ip", "ip6"] {
            let (want, got) = (listing(&by_nft, family), listing(&by_netlink, family));
            assert!(want.is_some(), "step {step}: table {family} kroute exists");
            assert_eq!(
                got, want,
                "step {step}: table {family} kroute (netlink, then nft)"
            );
        }
    }
    // And the teardown: both tables deleted in one batch.
    let mut plan = FacetPlan::default();
    let families: BTreeSet<Family> = Family::ALL.into_iter().collect();
    for f in &families {
        plan.deletes.insert(NftKey::Table(*f));
    }
    apply_netlink(&by_netlink, &plan, &reconciler.host().mirror().nft).unwrap();
    for family in ["ip", "ip6"] {
        assert_eq!(
            listing(&by_netlink, family),
            None,
            "table {family} kroute deleted"
        );
    }
}

#[test]
fn a_refused_batch_names_the_op_and_changes_nothing() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let ns = NetNs::new("nl-err");
    let rule = Rule::new(vec![Stmt::Verdict(Verdict::Jump("nowhere".into()))]);
    let ns_path = ns.path();
    let err = ns_thread::run(&ns_path, move || {
        let ops = [
            NftOp::AddTable(Family::Ip),
            NftOp::AddChain {
                family: Family::Ip,
                name: "a",
                hook: None,
            },
            NftOp::AddRule {
                family: Family::Ip,
                chain: "a",
                rule: &rule,
                comment: None,
            },
        ];
        let mut nl = NftNetlink::open().unwrap();
        nl.apply(&ops, &Mirror::new()).unwrap_err().to_string()
    });
    assert!(err.contains("add rule ip kroute a jump nowhere"), "{err}");
    assert_eq!(listing(&ns, "ip"), None, "nothing of the batch was applied");
}
