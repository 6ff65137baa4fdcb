//! The reconciler over a second facet: healthCheckNodePort listeners against
//! `FakeHost`, refused artifacts (mockall contract), and the
//! no-local-endpoints count.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Service;
use serde_json::json;

use super::*;
use crate::host::facet::{Facet, HealthCheckFacet};
use crate::host::health_check::{HealthCheckKey, HealthCheckValue};
use crate::host::{Applied, FakeHost, MockHostNetwork, Refused};
use crate::model::fixtures::{node, service_from, slice};

fn settings() -> ReconcilerSettings {
    ReconcilerSettings {
        node_name: "node-a".into(),
        proxy: ProxyConfig::default(),
        proxy_name: None,
        bgp: Default::default(),
    }
}

/// A LoadBalancer with `externalTrafficPolicy` `etp` and a health check
/// node port (port 80, node port `np`).
fn lb(name: &str, ip: &str, etp: &str, np: u16, hcnp: u16) -> Service {
    service_from(json!({
        "metadata": {"namespace": "default", "name": name},
        "spec": {
            "type": "LoadBalancer",
            "clusterIP": ip,
            "clusterIPs": [ip],
            "externalTrafficPolicy": etp,
            "healthCheckNodePort": hcnp,
            "ports": [{"name": "http", "protocol": "TCP", "port": 80, "nodePort": np}],
        }
    }))
}

/// `web` (port 32000) with endpoints on `web_nodes`, and `db` (port 32001)
/// with one endpoint on node-a.
fn view(web_etp: &str, web_nodes: &[&str]) -> ClusterView {
    let web_eps: Vec<(String, &str, bool)> = web_nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (format!("10.244.1.{}", i + 2), *n, true))
        .collect();
    let web_eps: Vec<(&str, &str, bool)> = web_eps
        .iter()
        .map(|(ip, n, r)| (ip.as_str(), *n, *r))
        .collect();
    let mut v = ClusterView::from_objects(
        [
            lb("web", "10.96.0.10", web_etp, 30080, 32000),
            lb("db", "10.96.0.20", "Local", 30081, 32001),
        ],
        [
            slice("default", "web", "web-1", ("http", "TCP", 8080), &web_eps),
            slice(
                "default",
                "db",
                "db-1",
                ("http", "TCP", 5432),
                &[("10.244.1.9", "node-a", true)],
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

fn listener(r: &Reconciler<FakeHost>, port: u16) -> Option<&HealthCheckValue> {
    r.host().kernel.health_checks.get(&HealthCheckKey { port })
}

#[test]
fn a_listener_is_created_updated_in_place_and_swept_with_its_service() {
    let mut r = Reconciler::new(FakeHost::new(), settings());
    r.sync(&view("Local", &["node-a"]), &BTreeSet::new(), false)
        .unwrap();
    let web = listener(&r, 32000).expect("web's listener");
    assert_eq!((web.service.clone(), web.local_endpoints), (key("web"), 1));
    assert_eq!(listener(&r, 32001).map(|v| v.local_endpoints), Some(1));
    assert_eq!(r.owned_artifacts()[HealthCheckFacet::NAME], 2);

    // A second local endpoint: an update of the value, nothing else.
    let dirty = BTreeSet::from([key("web")]);
    r.sync(&view("Local", &["node-a", "node-a"]), &dirty, false)
        .unwrap();
    let plan = r.host().applied.last().unwrap();
    assert_eq!(plan.health_checks.updates.len(), 1);
    assert!(plan.health_checks.creates.is_empty() && plan.health_checks.deletes.is_empty());
    assert_eq!(listener(&r, 32000).unwrap().local_endpoints, 2);

    // Endpoints only elsewhere: still listening, answering 0.
    r.sync(&view("Local", &["node-b"]), &dirty, false).unwrap();
    assert_eq!(listener(&r, 32000).unwrap().local_endpoints, 0);

    // Cluster policy: swept; db's stays.
    r.sync(&view("Cluster", &["node-a"]), &dirty, false)
        .unwrap();
    assert!(listener(&r, 32000).is_none());
    assert!(listener(&r, 32001).is_some());

    // The service deleted: swept.
    let mut gone = view("Local", &["node-a"]);
    gone.services.remove(&key("db"));
    gone.slices.remove(&key("db"));
    r.sync(&gone, &BTreeSet::from([key("db")]), false).unwrap();
    assert!(listener(&r, 32001).is_none());
    assert_eq!(r.host().kernel, *r.host().mirror());
}

#[test]
fn a_full_sync_sweeps_a_listener_nobody_wants() {
    let mut host = FakeHost::new();
    host.kernel.health_checks.insert(
        HealthCheckKey { port: 31999 },
        HealthCheckValue {
            service: key("gone"),
            local_endpoints: 1,
            listen: vec![],
        },
    );
    let mut r = Reconciler::new(host, settings());
    r.sync(&view("Local", &["node-a"]), &BTreeSet::new(), true)
        .unwrap();
    assert!(listener(&r, 31999).is_none());
    assert!(listener(&r, 32000).is_some());
}

#[test]
fn a_taken_port_is_reported_other_facets_and_listeners_are_applied_and_a_full_sync_retries() {
    let mut host = FakeHost::new();
    host.taken_ports.insert(32000);
    let mut r = Reconciler::new(host, settings());
    let report = r
        .sync(&view("Local", &["node-a"]), &BTreeSet::new(), false)
        .unwrap();
    assert_eq!(report.refused.len(), 1, "{:?}", report.refused);
    let refused = &report.refused[0];
    assert_eq!(refused.facet, HealthCheckFacet::NAME);
    assert!(
        refused.message.contains("default/web") && refused.message.contains("32000"),
        "{}",
        refused.message
    );
    assert!(listener(&r, 32000).is_none());
    assert!(listener(&r, 32001).is_some(), "db's listener is up");
    let web_chains = r
        .host()
        .kernel
        .nft
        .keys()
        .filter(|k| k.to_string().contains("default/web/"))
        .count();
    assert!(web_chains > 0, "web's nftables artifacts are applied");
    assert!(r.needs_full(), "retried at the next full sync");

    // Still taken: refused again, nothing else changes.
    let report = r
        .sync(&view("Local", &["node-a"]), &BTreeSet::new(), false)
        .unwrap();
    assert_eq!((report.kind, report.refused.len()), (SyncKind::Full, 1));

    // Freed: the next (full) sync creates it.
    r.host_mut().taken_ports.clear();
    let report = r
        .sync(&view("Local", &["node-a"]), &BTreeSet::new(), false)
        .unwrap();
    assert_eq!(report.kind, SyncKind::Full);
    assert!(report.refused.is_empty());
    assert_eq!(listener(&r, 32000).map(|v| v.local_endpoints), Some(1));
    assert!(!r.needs_full());
}

#[test]
fn mock_a_refused_artifact_forces_a_full_sync() {
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
        .returning(|_| {
            Ok(Applied {
                refused: vec![Refused {
                    facet: HealthCheckFacet::NAME,
                    error: HostError::Injected("port taken".into()),
                }],
            })
        });
    // Asked as incremental, the next sync re-reads the host.
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
    let report = r
        .sync(&view("Local", &["node-a"]), &BTreeSet::new(), false)
        .unwrap();
    assert_eq!(report.refused.len(), 1);
    let report = r
        .sync(
            &view("Local", &["node-a"]),
            &BTreeSet::from([key("web")]),
            false,
        )
        .unwrap();
    assert_eq!(report.kind, SyncKind::Full);
}

#[test]
fn no_local_endpoints_is_recomputed_by_full_syncs_and_kept_current_by_incremental_ones() {
    let mut r = Reconciler::new(FakeHost::new(), settings());
    let report = r
        .sync(&view("Local", &["node-b"]), &BTreeSet::new(), false)
        .unwrap();
    assert_eq!(
        report.no_local_endpoints.external, 1,
        "web, endpoints elsewhere"
    );
    assert_eq!(report.no_local_endpoints.internal, 0);

    let dirty = BTreeSet::from([key("web")]);
    let report = r.sync(&view("Local", &["node-a"]), &dirty, false).unwrap();
    assert_eq!(report.kind, SyncKind::Incremental);
    assert_eq!(report.no_local_endpoints.external, 0);

    let report = r.sync(&view("Local", &["node-b"]), &dirty, false).unwrap();
    assert_eq!(report.no_local_endpoints.external, 1);
    // A change of another service leaves web's count in the total.
    let other = BTreeSet::from([key("db")]);
    let report = r.sync(&view("Local", &["node-b"]), &other, false).unwrap();
    assert_eq!(report.no_local_endpoints.external, 1);
    let report = r
        .sync(&view("Cluster", &["node-b"]), &BTreeSet::new(), true)
        .unwrap();
    assert_eq!(report.no_local_endpoints.external, 0);
}
