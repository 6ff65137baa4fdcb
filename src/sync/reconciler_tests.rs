//! Reconciler against `FakeHost` (state) and `MockHostNetwork` (call contracts).

use std::collections::BTreeSet;

use super::*;
use crate::host::nft::{Chain, ElementKey, Family, NftKey, NftValue, Rule, Stmt, Verdict};
use crate::host::{Applied, FakeHost, MockHostNetwork};
use crate::model::fixtures::{node, service, slice};

pub(super) fn settings() -> ReconcilerSettings {
    ReconcilerSettings {
        node_name: "node-a".into(),
        proxy: ProxyConfig {
            cluster_cidrs: vec!["10.244.0.0/16".parse().unwrap()],
            service_cidrs: vec!["10.96.0.0/12".parse().unwrap()],
            ..ProxyConfig::default()
        },
        proxy_name: None,
        bgp: Default::default(),
    }
}

/// Two services: `web` (NodePort, two endpoints) and `db` (ClusterIP, one endpoint).
pub(super) fn view() -> ClusterView {
    let mut v = ClusterView::from_objects(
        [
            service(
                "default",
                "web",
                "NodePort",
                "10.96.0.10",
                &[("http", "TCP", 80, Some(30080))],
            ),
            service(
                "default",
                "db",
                "ClusterIP",
                "10.96.0.20",
                &[("pg", "TCP", 5432, None)],
            ),
        ],
        [
            slice(
                "default",
                "web",
                "web-1",
                ("http", "TCP", 8080),
                &[
                    ("10.244.1.2", "node-a", true),
                    ("10.244.2.2", "node-b", true),
                ],
            ),
            slice(
                "default",
                "db",
                "db-1",
                ("pg", "TCP", 5432),
                &[("10.244.1.3", "node-a", true)],
            ),
        ],
        [node("node-a", "192.168.50.1")],
    );
    v.synced = true;
    v
}

fn key(name: &str) -> ObjectKey {
    ObjectKey::new("default", name)
}

fn dirty(names: &[&str]) -> BTreeSet<ObjectKey> {
    names.iter().map(|n| key(n)).collect()
}

fn service_ip_element(ip: &str, port: u16) -> NftKey {
    NftKey::element(
        Family::Ip,
        "service-ips",
        ElementKey::AddrProtoPort(ip.parse().unwrap(), crate::host::nft::Proto::Tcp, port),
    )
}

fn chains_containing(snap: &HostSnapshot, needle: &str) -> usize {
    snap.nft
        .keys()
        .filter(|k| matches!(k, NftKey::Chain { name, .. } if name.contains(needle)))
        .count()
}

#[test]
fn first_sync_is_full_and_creates_everything() {
    let mut r = Reconciler::new(FakeHost::new(), settings());
    let report = r.sync(&view(), &BTreeSet::new(), false).unwrap();
    assert_eq!(report.kind, SyncKind::Full);
    assert_eq!(r.host().snapshots, 1);
    let kernel = &r.host().kernel;
    assert!(kernel.nft.contains_key(&NftKey::Table(Family::Ip)));
    assert!(kernel.nft.contains_key(&NftKey::Table(Family::Ip6)));
    assert!(
        kernel
            .nft
            .contains_key(&service_ip_element("10.96.0.10", 80))
    );
    assert!(
        kernel
            .nft
            .contains_key(&service_ip_element("10.96.0.20", 5432))
    );
    // web: svc + ext + 2 endpoints; db: svc + 1 endpoint
    assert_eq!(chains_containing(kernel, "default/web/"), 4);
    assert_eq!(chains_containing(kernel, "default/db/"), 2);
    assert_eq!(report.creates, r.host().applied[0].nft.creates.len());
}

#[test]
fn converged_full_sync_applies_nothing() {
    let mut r = Reconciler::new(FakeHost::new(), settings());
    r.sync(&view(), &BTreeSet::new(), true).unwrap();
    let report = r.sync(&view(), &BTreeSet::new(), true).unwrap();
    assert_eq!((report.creates, report.updates, report.deletes), (0, 0, 0));
    assert_eq!(r.host().applied.len(), 1, "no apply when nothing changes");
}

#[test]
fn unchanged_service_causes_no_operations_on_incremental_sync() {
    let mut r = Reconciler::new(FakeHost::new(), settings());
    r.sync(&view(), &BTreeSet::new(), false).unwrap();
    let report = r.sync(&view(), &dirty(&["web", "db"]), false).unwrap();
    assert_eq!(report.kind, SyncKind::Incremental);
    assert_eq!(report.services_planned, 2);
    assert_eq!((report.creates, report.updates, report.deletes), (0, 0, 0));
    assert_eq!(r.host().applied.len(), 1);
    assert_eq!(
        r.host().snapshots,
        1,
        "incremental sync must not read the kernel"
    );
}

#[test]
fn deleted_service_is_swept_incrementally() {
    let mut r = Reconciler::new(FakeHost::new(), settings());
    r.sync(&view(), &BTreeSet::new(), false).unwrap();
    let mut v = view();
    v.services.remove(&key("web"));
    v.slices.remove(&key("web"));
    let report = r.sync(&v, &dirty(&["web"]), false).unwrap();
    assert_eq!(report.kind, SyncKind::Incremental);
    let kernel = &r.host().kernel;
    assert_eq!(chains_containing(kernel, "default/web/"), 0);
    assert!(
        !kernel
            .nft
            .contains_key(&service_ip_element("10.96.0.10", 80))
    );
    assert_eq!(
        chains_containing(kernel, "default/db/"),
        2,
        "other service untouched"
    );
    let last = r.host().applied.last().unwrap();
    assert!(last.nft.creates.is_empty() && last.nft.updates.is_empty());
    assert!(
        last.nft
            .deletes
            .iter()
            .all(|k| k.to_string().contains("web")
                || k.to_string().contains("10.96.0.10")
                || k.to_string().contains("30080"))
    );
}

#[test]
fn endpoint_change_rewrites_only_that_service() {
    let mut r = Reconciler::new(FakeHost::new(), settings());
    r.sync(&view(), &BTreeSet::new(), false).unwrap();
    let mut v = view();
    v.slices.get_mut(&key("web")).unwrap().insert(
        "web-1".into(),
        slice(
            "default",
            "web",
            "web-1",
            ("http", "TCP", 8080),
            &[("10.244.1.2", "node-a", true)],
        ),
    );
    r.sync(&v, &dirty(&["web"]), false).unwrap();
    let plan = r.host().applied.last().unwrap();
    // The endpoint chain of 10.244.2.2 goes, the service chain is rewritten.
    assert_eq!(plan.nft.deletes.len(), 1);
    assert!(
        plan.nft
            .deletes
            .iter()
            .next()
            .unwrap()
            .to_string()
            .contains("10.244.2.2")
    );
    assert_eq!(plan.nft.updates.len(), 1);
    assert!(plan.nft.creates.is_empty());
    assert_eq!(r.host().kernel, *r.host().mirror());
}

#[test]
fn full_sync_repairs_drift_and_sweeps_foreign_artifacts_in_the_table() {
    let mut r = Reconciler::new(FakeHost::new(), settings());
    r.sync(&view(), &BTreeSet::new(), false).unwrap();
    let expected = r.host().kernel.clone();
    // By hand: an element and a chain added, one element removed.
    let kernel = &mut r.host_mut().kernel;
    kernel.nft.insert(
        service_ip_element("10.96.99.99", 1),
        NftValue::Element(Some(Verdict::Drop)),
    );
    kernel.nft.insert(
        NftKey::chain(Family::Ip, "handmade"),
        NftValue::Chain(Chain::regular(vec![Rule::new(vec![Stmt::Reject])])),
    );
    kernel.nft.remove(&service_ip_element("10.96.0.20", 5432));

    // An incremental sync does not look at the kernel...
    r.sync(&view(), &dirty(&["web"]), false).unwrap();
    assert!(
        r.host()
            .kernel
            .nft
            .contains_key(&NftKey::chain(Family::Ip, "handmade"))
    );
    // ...the periodic full sync repairs it.
    let report = r.sync(&view(), &BTreeSet::new(), true).unwrap();
    assert_eq!((report.creates, report.deletes), (1, 2));
    assert_eq!(r.host().kernel, expected);
}

#[test]
fn injected_apply_failure_leads_to_a_full_sync_that_converges() {
    let mut r = Reconciler::new(FakeHost::new(), settings());
    r.sync(&view(), &BTreeSet::new(), false).unwrap();
    let mut v = view();
    v.services.remove(&key("db"));
    r.host_mut().fail_applies(1);
    assert!(matches!(
        r.sync(&v, &dirty(&["db"]), false),
        Err(SyncError::Apply(_))
    ));
    assert!(r.needs_full());
    assert_eq!(
        chains_containing(&r.host().kernel, "default/db/"),
        2,
        "failed apply changed nothing"
    );

    let report = r.sync(&v, &BTreeSet::new(), false).unwrap();
    assert_eq!(report.kind, SyncKind::Full);
    assert_eq!(r.host().snapshots, 2);
    assert_eq!(chains_containing(&r.host().kernel, "default/db/"), 0);
    // Converged: another full sync finds nothing to do.
    let report = r.sync(&v, &BTreeSet::new(), true).unwrap();
    assert_eq!((report.creates, report.updates, report.deletes), (0, 0, 0));
}

#[test]
fn nothing_is_swept_before_the_sources_have_synced() {
    let mut host = FakeHost::new();
    host.kernel.nft.insert(
        NftKey::chain(Family::Ip, "left-from-last-run"),
        NftValue::Chain(Chain::regular(vec![])),
    );
    let mut r = Reconciler::new(host, settings());
    let mut partial = view();
    partial.synced = false;
    let report = r.sync(&partial, &BTreeSet::new(), false).unwrap();
    assert_eq!(report.deletes, 0);
    assert_eq!(report.deletes_withheld, 1);
    assert!(
        r.host()
            .kernel
            .nft
            .contains_key(&NftKey::chain(Family::Ip, "left-from-last-run"))
    );
    // The first synced view triggers a full sync that sweeps.
    let report = r.sync(&view(), &BTreeSet::new(), false).unwrap();
    assert_eq!(report.kind, SyncKind::Full);
    assert!(
        !r.host()
            .kernel
            .nft
            .contains_key(&NftKey::chain(Family::Ip, "left-from-last-run"))
    );
}

#[test]
fn an_invalid_service_keeps_what_was_programmed_for_it() {
    let mut r = Reconciler::new(FakeHost::new(), settings());
    r.sync(&view(), &BTreeSet::new(), false).unwrap();
    let before = r.host().kernel.clone();
    let mut v = view();
    let web = v.services.get_mut(&key("web")).unwrap();
    web.spec.as_mut().unwrap().cluster_ips = Some(vec!["not-an-ip".into()]);
    let report = r.sync(&v, &dirty(&["web"]), false).unwrap();
    assert_eq!(report.invalid_services.len(), 1);
    let err = report.invalid_services[0].to_string();
    assert!(
        err.contains("default/web") && err.contains("not-an-ip"),
        "{err}"
    );
    let report = r.sync(&v, &BTreeSet::new(), true).unwrap();
    assert_eq!(
        report.deletes, 0,
        "full sync keeps the invalid service's artifacts"
    );
    assert_eq!(r.host().kernel, before);
}

#[test]
fn node_change_triggers_a_full_replan() {
    let mut r = Reconciler::new(FakeHost::new(), settings());
    r.sync(&view(), &BTreeSet::new(), false).unwrap();
    let mut v = view();
    v.nodes
        .insert("node-a".into(), node("node-a", "192.168.50.9"));
    let report = r.sync(&v, &BTreeSet::new(), false).unwrap();
    assert_eq!(report.kind, SyncKind::Full);
    let np = |ip: &str| {
        NftKey::element(
            Family::Ip,
            "nodeport-ips",
            ElementKey::Net(ip.parse().unwrap()),
        )
    };
    assert!(r.host().kernel.nft.contains_key(&np("192.168.50.9/32")));
    assert!(!r.host().kernel.nft.contains_key(&np("192.168.50.1/32")));
}

#[test]
fn mock_one_apply_per_sync() {
    let mut host = MockHostNetwork::new();
    host.expect_synced_view_applied().return_const(());
    host.expect_snapshot()
        .times(1)
        .returning(|| Ok(HostSnapshot::default()));
    host.expect_apply()
        .times(1)
        .returning(|_| Ok(Applied::default()));
    let mut r = Reconciler::new(host, settings());
    r.sync(&view(), &BTreeSet::new(), false).unwrap();
}

#[test]
fn mock_no_deletes_before_the_source_is_ready() {
    let mut stale = HostSnapshot::default();
    stale.nft.insert(
        NftKey::chain(Family::Ip, "stale"),
        NftValue::Chain(Chain::regular(vec![])),
    );
    let mut host = MockHostNetwork::new();
    host.expect_snapshot()
        .times(1)
        .returning(move || Ok(stale.clone()));
    host.expect_apply()
        .times(1)
        .withf(|plan| plan.delete_count() == 0 && !plan.nft.creates.is_empty())
        .returning(|_| Ok(Applied::default()));
    let mut r = Reconciler::new(host, settings());
    let mut partial = view();
    partial.synced = false;
    r.sync(&partial, &BTreeSet::new(), false).unwrap();
}

#[test]
fn mock_failed_apply_forces_a_full_sync() {
    let mut host = MockHostNetwork::new();
    host.expect_synced_view_applied().return_const(());
    let mut seq = mockall::Sequence::new();
    host.expect_snapshot()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| Ok(HostSnapshot::default()));
    host.expect_apply()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Err(HostError::Injected("boom".into())));
    // The next sync, though asked as incremental, re-reads the host.
    host.expect_snapshot()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| Ok(HostSnapshot::default()));
    host.expect_apply()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(Applied::default()));
    host.expect_mirror().never();
    let mut r = Reconciler::new(host, settings());
    assert!(r.sync(&view(), &BTreeSet::new(), false).is_err());
    r.sync(&view(), &dirty(&["web"]), false).unwrap();
}

#[test]
fn a_full_sync_reports_this_nodes_invalid_annotations() {
    let mut v = view();
    let node = v.nodes.get_mut("node-a").unwrap();
    node.metadata.annotations = Some(
        [(
            "kube-router.io/node.asn".to_string(),
            "not-a-number".to_string(),
        )]
        .into(),
    );
    let mut r = Reconciler::new(FakeHost::new(), settings());
    let report = r.sync(&v, &BTreeSet::new(), true).unwrap();
    let bad: Vec<_> = report
        .invalid_annotations
        .iter()
        .filter(|a| a.kind == "Node")
        .collect();
    assert_eq!(bad.len(), 1, "{:?}", report.invalid_annotations);
    assert_eq!(
        (
            bad[0].object.as_str(),
            bad[0].key.as_str(),
            bad[0].value.as_str()
        ),
        ("node-a", "kube-router.io/node.asn", "not-a-number")
    );
}
