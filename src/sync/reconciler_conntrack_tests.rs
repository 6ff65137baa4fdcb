//! The reconciler's UDP conntrack cleanup against `FakeHost`'s simulated
//! table: when it runs, what it deletes, and that a failure never fails a sync.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use super::tests::settings;
use super::*;
use crate::host::FakeHost;
use crate::host::conntrack::UdpFlow;
use crate::model::fixtures::{node, service, slice};

/// `dns` (UDP 53 → 5353 on `endpoints`) and `web` (TCP only).
fn view(endpoints: &[&str]) -> ClusterView {
    let eps: Vec<(&str, &str, bool)> = endpoints.iter().map(|e| (*e, "node-b", true)).collect();
    let mut v = ClusterView::from_objects(
        [
            service(
                "default",
                "dns",
                "ClusterIP",
                "10.96.0.10",
                &[("dns", "UDP", 53, None)],
            ),
            service(
                "default",
                "web",
                "ClusterIP",
                "10.96.0.20",
                &[("http", "TCP", 80, None)],
            ),
        ],
        [
            slice("default", "dns", "dns-1", ("dns", "UDP", 5353), &eps),
            slice(
                "default",
                "web",
                "web-1",
                ("http", "TCP", 8080),
                &[("10.244.1.9", "node-b", true)],
            ),
        ],
        [node("node-a", "192.168.50.1")],
    );
    v.synced = true;
    v
}

fn dirty(names: &[&str]) -> BTreeSet<ObjectKey> {
    names
        .iter()
        .map(|n| ObjectKey::new("default", *n))
        .collect()
}

/// A client flow to `dst` DNATed to `to`.
fn flow(dst: &str, to: &str) -> UdpFlow {
    let client: SocketAddr = "192.168.50.2:40000".parse().unwrap();
    UdpFlow {
        orig_src: client,
        orig_dst: dst.parse().unwrap(),
        reply_src: to.parse().unwrap(),
        reply_dst: client,
    }
}

#[test]
fn a_replaced_endpoint_loses_its_flows_after_the_sync() {
    let mut r = Reconciler::new(FakeHost::new(), settings());
    r.sync(&view(&["10.244.1.11"]), &BTreeSet::new(), false)
        .unwrap();
    let to_old = flow("10.96.0.10:53", "10.244.1.11:5353");
    let other = flow("10.96.0.99:53", "10.244.1.11:5353");
    r.host_mut().conntrack = vec![to_old, other];

    let report = r
        .sync(&view(&["10.244.1.12"]), &dirty(&["dns"]), false)
        .unwrap();
    assert_eq!(report.kind, SyncKind::Incremental);
    assert_eq!(report.conntrack.as_ref().map(|c| c.deleted), Some(1));
    assert_eq!(r.host().conntrack, [other], "only the stale flow goes");
    let flush = r.host().conntrack_flushes.last().unwrap();
    assert_eq!(flush.filters.len(), 1, "{flush:?}");
}

#[test]
fn a_cleanup_runs_only_when_a_udp_service_changed() {
    let mut r = Reconciler::new(FakeHost::new(), settings());
    r.sync(&view(&["10.244.1.11"]), &BTreeSet::new(), false)
        .unwrap();
    assert_eq!(r.host().conntrack_flushes.len(), 1, "the first sync cleans");
    r.sync(&view(&["10.244.1.11"]), &dirty(&["dns", "web"]), false)
        .unwrap();
    r.sync(&view(&["10.244.1.11"]), &BTreeSet::new(), true)
        .unwrap();
    assert_eq!(
        r.host().conntrack_flushes.len(),
        1,
        "unchanged, incremental or full"
    );
    let mut v = view(&["10.244.1.11"]);
    v.slices
        .get_mut(&ObjectKey::new("default", "web"))
        .unwrap()
        .clear();
    r.sync(&v, &dirty(&["web"]), false).unwrap();
    assert_eq!(r.host().conntrack_flushes.len(), 1, "a TCP service changed");
    r.sync(&view(&[]), &dirty(&["dns"]), false).unwrap();
    assert_eq!(r.host().conntrack_flushes.len(), 2, "dns lost its endpoint");
}

#[test]
fn a_service_gaining_its_first_endpoint_releases_unnated_flows() {
    let mut r = Reconciler::new(FakeHost::new(), settings());
    r.sync(&view(&[]), &BTreeSet::new(), false).unwrap();
    // Made while nothing served: never DNATed, the reply is the VIP's.
    let stuck = flow("10.96.0.10:53", "10.96.0.10:53");
    r.host_mut().conntrack = vec![stuck];
    r.sync(&view(&["10.244.1.11"]), &dirty(&["dns"]), false)
        .unwrap();
    assert!(r.host().conntrack.is_empty());
}

#[test]
fn a_failed_cleanup_is_reported_and_retried_but_the_sync_succeeds() {
    let mut r = Reconciler::new(FakeHost::new(), settings());
    r.host_mut().fail_next_conntrack = 1;
    let report = r
        .sync(&view(&["10.244.1.11"]), &BTreeSet::new(), false)
        .unwrap();
    assert!(report.conntrack_error.is_some(), "{report:?}");
    assert!(report.conntrack.is_none());
    assert!(!r.needs_full(), "a conntrack failure is no apply failure");
    let report = r
        .sync(&view(&["10.244.1.11"]), &BTreeSet::new(), false)
        .unwrap();
    assert!(report.conntrack_error.is_none());
    assert!(report.conntrack.is_some(), "retried at the next sync");
    assert_eq!(r.host().conntrack_flushes.len(), 2);
}

#[test]
fn nothing_is_cleaned_before_the_sources_have_synced() {
    let mut r = Reconciler::new(FakeHost::new(), settings());
    let mut partial = view(&["10.244.1.11"]);
    partial.synced = false;
    r.sync(&partial, &BTreeSet::new(), false).unwrap();
    assert!(r.host().conntrack_flushes.is_empty());
    r.sync(&view(&["10.244.1.11"]), &BTreeSet::new(), false)
        .unwrap();
    assert_eq!(r.host().conntrack_flushes.len(), 1, "once synced");
}

#[test]
fn a_failed_apply_cleans_nothing_and_the_next_sync_does() {
    let mut r = Reconciler::new(FakeHost::new(), settings());
    r.host_mut().fail_applies(1);
    assert!(
        r.sync(&view(&["10.244.1.11"]), &BTreeSet::new(), false)
            .is_err()
    );
    assert!(r.host().conntrack_flushes.is_empty());
    r.sync(&view(&["10.244.1.11"]), &BTreeSet::new(), false)
        .unwrap();
    assert_eq!(r.host().conntrack_flushes.len(), 1);
}
