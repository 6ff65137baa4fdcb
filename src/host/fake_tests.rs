//! `FakeHost` takes every facet: through the reconciler, a service that
//! disappears is swept from nftables and from BGP alike, and what stays is
//! exactly what a fresh node with the remaining service gets.

use std::collections::BTreeSet;

use serde_json::json;

use super::*;
use crate::model::config::{BgpConfig, ProxyConfig};
use crate::model::fixtures::{node, service_from, slice};
use crate::model::{ClusterView, ObjectKey};
use crate::sync::Reconciler;
use crate::sync::reconciler::ReconcilerSettings;

fn settings() -> ReconcilerSettings {
    ReconcilerSettings {
        node_name: "node-a".into(),
        proxy: ProxyConfig::default(),
        proxy_name: None,
        bgp: BgpConfig {
            enabled: true,
            ..BgpConfig::default()
        },
    }
}

/// A LoadBalancer `name` with cluster IP `ip` and LB IP `lb` (announced by
/// default), one ready endpoint on node-a.
fn lb(
    name: &str,
    ip: &str,
    lb: &str,
    node_port: u16,
) -> (
    k8s_openapi::api::core::v1::Service,
    k8s_openapi::api::discovery::v1::EndpointSlice,
) {
    let svc = service_from(json!({
        "metadata": {"namespace": "default", "name": name},
        "spec": {
            "type": "LoadBalancer",
            "clusterIP": ip,
            "clusterIPs": [ip],
            "ports": [{"name": "http", "protocol": "TCP", "port": 80, "nodePort": node_port}],
        },
        "status": {"loadBalancer": {"ingress": [{"ip": lb}]}},
    }));
    let eps = slice(
        "default",
        name,
        &format!("{name}-1"),
        ("http", "TCP", 8080),
        &[("10.244.1.5", "node-a", true)],
    );
    (svc, eps)
}

fn view(names: &[&str]) -> ClusterView {
    let all = [
        lb("web", "10.96.0.10", "203.0.113.10", 30080),
        lb("db", "10.96.0.20", "203.0.113.20", 30081),
    ];
    let (services, slices): (Vec<_>, Vec<_>) = all
        .into_iter()
        .filter(|(s, _)| names.contains(&s.metadata.name.as_deref().unwrap()))
        .unzip();
    let mut v = ClusterView::from_objects(services, slices, [node("node-a", "192.168.50.1")]);
    v.synced = true;
    v
}

fn synced(names: &[&str]) -> Reconciler<FakeHost> {
    let mut r = Reconciler::new(FakeHost::new(), settings());
    r.sync(&view(names), &BTreeSet::new(), true).unwrap();
    r
}

fn prefixes(host: &FakeHost) -> Vec<String> {
    host.kernel
        .bgp
        .keys()
        .map(|r| r.prefix.to_string())
        .collect()
}

#[test]
fn a_service_that_disappears_is_swept_from_nftables_and_bgp() {
    let mut r = synced(&["web", "db"]);
    let both = r.host().kernel.clone();
    assert!(
        prefixes(r.host()).contains(&"203.0.113.10/32".to_string()),
        "web's LB IP is announced: {:?}",
        prefixes(r.host())
    );
    assert_eq!(both.bgp_speaker.len(), 1, "the speaker is planned");

    let dirty = BTreeSet::from([ObjectKey::new("default", "web")]);
    r.sync(&view(&["db"]), &dirty, false).unwrap();
    let fresh = synced(&["db"]);
    let after = &r.host().kernel;
    assert_eq!(after.nft, fresh.host().kernel.nft, "web's rules are gone");
    assert_eq!(
        after.bgp,
        fresh.host().kernel.bgp,
        "web's route is withdrawn"
    );
    assert!(!prefixes(r.host()).contains(&"203.0.113.10/32".to_string()));
    assert!(prefixes(r.host()).contains(&"203.0.113.20/32".to_string()));
    assert!(after.nft.len() < both.nft.len());
    assert_eq!(after.bgp_speaker, both.bgp_speaker, "the speaker stays");
    assert_eq!(after.bgp_peers, both.bgp_peers);
}
