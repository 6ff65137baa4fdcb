//! The BGP facets through the reconciler against `FakeHost`: routes follow
//! services, endpoints and the Node, incrementally; disabling BGP or
//! deleting a service sweeps them; a route two services announce stays
//! while either wants it.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Service;
use serde_json::{Value, json};

use super::tests::{enabled, node_with, peer};
use crate::host::bgp::{OriginatedRoute, RouteAttrs};
use crate::host::facet::{BgpFacet, Facet};
use crate::host::{FakeHost, HostNetwork};
use crate::model::config::{BgpConfig, ProxyConfig};
use crate::model::fixtures::{service_from, slice};
use crate::model::{ClusterView, ObjectKey};
use crate::sync::reconciler::{Reconciler, ReconcilerSettings};
use crate::sync::{SyncKind, SyncReport};

fn settings(bgp: BgpConfig) -> ReconcilerSettings {
    ReconcilerSettings {
        node_name: "node-a".into(),
        proxy: ProxyConfig::default(),
        proxy_name: None,
        bgp,
    }
}

/// A LoadBalancer on port `port` at LB IP `lb_ip`, policy `etp`, with
/// `annotations`.
fn lb(
    name: &str,
    cluster_ip: &str,
    lb_ip: &str,
    port: u16,
    etp: &str,
    annotations: Value,
) -> Service {
    service_from(json!({
        "metadata": {"namespace": "default", "name": name, "annotations": annotations},
        "spec": {
            "type": "LoadBalancer",
            "clusterIP": cluster_ip,
            "clusterIPs": [cluster_ip],
            "externalTrafficPolicy": etp,
            "ports": [{"name": "http", "protocol": "TCP", "port": port}],
        },
        "status": {"loadBalancer": {"ingress": [{"ip": lb_ip}]}},
    }))
}

/// `web` at LB IP 203.0.113.10, policy Cluster.
fn web() -> Service {
    lb(
        "web",
        "10.96.0.10",
        "203.0.113.10",
        80,
        "Cluster",
        json!({}),
    )
}

/// `web`, and `db` at LB IP 203.0.113.20.
fn web_and_db() -> Vec<Service> {
    let db = lb(
        "db",
        "10.96.0.20",
        "203.0.113.20",
        5432,
        "Cluster",
        json!({}),
    );
    vec![web(), db]
}

/// One ready endpoint of `svc` on `node`.
fn endpoint(svc: &str, ip: &str, node: &str) -> k8s_openapi::api::discovery::v1::EndpointSlice {
    slice(
        "default",
        svc,
        &format!("{svc}-1"),
        ("http", "TCP", 8080),
        &[(ip, node, true)],
    )
}

struct Scene {
    services: Vec<Service>,
    slices: Vec<k8s_openapi::api::discovery::v1::EndpointSlice>,
    node: Value,
}

impl Scene {
    fn view(&self) -> ClusterView {
        let mut v = ClusterView::from_objects(
            self.services.clone(),
            self.slices.clone(),
            [node_with(self.node.clone())],
        );
        v.synced = true;
        v
    }
}

fn key(name: &str) -> ObjectKey {
    ObjectKey::new("default", name)
}

fn route(prefix: &str) -> OriginatedRoute {
    OriginatedRoute {
        prefix: prefix.parse().unwrap(),
    }
}

fn routes(r: &Reconciler<FakeHost>) -> BTreeSet<String> {
    (r.host().kernel.bgp.keys())
        .map(|k| k.prefix.to_string())
        .collect()
}

fn attrs<'a>(r: &'a Reconciler<FakeHost>, prefix: &str) -> Option<&'a RouteAttrs> {
    r.host().kernel.bgp.get(&route(prefix))
}

fn sync(r: &mut Reconciler<FakeHost>, scene: &Scene, dirty: &[&str]) -> SyncReport {
    let dirty: BTreeSet<ObjectKey> = dirty.iter().map(|n| key(n)).collect();
    let report = r.sync(&scene.view(), &dirty, false).unwrap();
    assert_eq!(r.host().kernel, *r.host().mirror());
    report
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

const POD_CIDR: &str = "10.244.1.0/24";

#[test]
fn a_local_services_route_follows_its_local_endpoint_incrementally() {
    let mut scene = Scene {
        services: vec![lb(
            "web",
            "10.96.0.10",
            "203.0.113.10",
            80,
            "Local",
            json!({}),
        )],
        slices: vec![endpoint("web", "10.244.1.5", "node-a")],
        node: json!({}),
    };
    let mut r = Reconciler::new(FakeHost::new(), settings(enabled()));
    sync(&mut r, &scene, &[]);
    assert_eq!(routes(&r), set(&[POD_CIDR, "203.0.113.10/32"]));

    // The local endpoint moves away: withdrawn, by exactly one delete.
    scene.slices = vec![endpoint("web", "10.244.2.5", "node-b")];
    let report = sync(&mut r, &scene, &["web"]);
    assert_eq!(report.kind, SyncKind::Incremental);
    let plan = r.host().applied.last().unwrap();
    assert_eq!(plan.bgp.deletes, BTreeSet::from([route("203.0.113.10/32")]));
    assert!(plan.bgp.creates.is_empty() && plan.bgp.updates.is_empty());
    assert_eq!(routes(&r), set(&[POD_CIDR]));

    // Back on this node: announced again.
    scene.slices = vec![endpoint("web", "10.244.1.6", "node-a")];
    sync(&mut r, &scene, &["web"]);
    let plan = r.host().applied.last().unwrap();
    assert_eq!(plan.bgp.creates.len(), 1);
    assert_eq!(routes(&r), set(&[POD_CIDR, "203.0.113.10/32"]));
}

#[test]
fn one_service_change_is_exactly_its_route_in_the_plan() {
    let mut scene = Scene {
        services: web_and_db(),
        slices: vec![],
        node: json!({}),
    };
    let mut r = Reconciler::new(FakeHost::new(), settings(enabled()));
    sync(&mut r, &scene, &[]);
    let communities =
        json!({"kroute.io/bgp.communities": "65000:80", "kroute.io/bgp.local-pref": "300"});
    scene.services[0] = lb(
        "web",
        "10.96.0.10",
        "203.0.113.10",
        80,
        "Cluster",
        communities,
    );
    let report = sync(&mut r, &scene, &["web"]);
    assert_eq!(
        (report.kind, report.services_planned),
        (SyncKind::Incremental, 1)
    );
    let plan = r.host().applied.last().unwrap();
    assert_eq!(plan.facets_changed(), [BgpFacet::NAME]);
    let updated: Vec<_> = plan.bgp.updates.keys().cloned().collect();
    assert_eq!(updated, [route("203.0.113.10/32")]);
    assert!(plan.bgp.creates.is_empty() && plan.bgp.deletes.is_empty());
    let web = attrs(&r, "203.0.113.10/32").unwrap();
    assert_eq!(
        (web.communities.clone(), web.local_pref),
        (vec![65000 << 16 | 80], Some(300))
    );
    assert_eq!(attrs(&r, "203.0.113.20/32"), Some(&RouteAttrs::default()));
}

#[test]
fn a_deleted_service_is_swept_from_nftables_and_bgp() {
    let mut scene = Scene {
        services: web_and_db(),
        slices: vec![endpoint("web", "10.244.1.5", "node-a")],
        node: json!({}),
    };
    let mut r = Reconciler::new(FakeHost::new(), settings(enabled()));
    sync(&mut r, &scene, &[]);
    let web_nft = |r: &Reconciler<FakeHost>| {
        (r.host().kernel.nft.keys())
            .filter(|k| {
                k.to_string().contains("default/web/") || k.to_string().contains("203.0.113.10")
            })
            .count()
    };
    assert!(web_nft(&r) > 0);
    scene.services.remove(0);
    scene.slices.clear();
    sync(&mut r, &scene, &["web"]);
    assert_eq!(web_nft(&r), 0, "web's nftables artifacts are swept");
    assert_eq!(routes(&r), set(&[POD_CIDR, "203.0.113.20/32"]));
}

#[test]
fn disabling_bgp_sweeps_every_bgp_artifact_and_nothing_else() {
    let scene = Scene {
        services: vec![web()],
        slices: vec![],
        node: json!({}),
    };
    let mut bgp = enabled();
    bgp.peers = vec![peer("10.0.0.1", 65000)];
    let mut r = Reconciler::new(FakeHost::new(), settings(bgp));
    sync(&mut r, &scene, &[]);
    let kernel = &r.host().kernel;
    assert_eq!(
        (
            kernel.bgp_speaker.len(),
            kernel.bgp_peers.len(),
            kernel.bgp.len()
        ),
        (1, 1, 2)
    );
    let nft = kernel.nft.clone();

    // kroute restarted with bgp.enabled false, on the same host.
    let host = std::mem::take(r.host_mut());
    let mut r = Reconciler::new(host, settings(BgpConfig::default()));
    let report = sync(&mut r, &scene, &[]);
    assert_eq!(report.kind, SyncKind::Full);
    let kernel = &r.host().kernel;
    assert!(kernel.bgp_speaker.is_empty() && kernel.bgp_peers.is_empty() && kernel.bgp.is_empty());
    assert_eq!(kernel.nft, nft, "nftables untouched");
}

#[test]
fn a_node_change_replans_every_route() {
    let mut scene = Scene {
        services: vec![web()],
        slices: vec![],
        node: json!({}),
    };
    let mut r = Reconciler::new(FakeHost::new(), settings(enabled()));
    sync(&mut r, &scene, &[]);
    scene.node = json!({
        "kube-router.io/node.bgp.communities": "65000:9",
        "kube-router.io/path-prepend.as": "65100",
        "kube-router.io/path-prepend.repeat-n": "2",
        "kube-router.io/node.asn": "65200",
    });
    // Nothing dirty: the Node's change alone re-plans everything.
    let report = sync(&mut r, &scene, &[]);
    assert_eq!(report.kind, SyncKind::Full);
    let want = RouteAttrs {
        communities: vec![65000 << 16 | 9],
        prepend: vec![65100, 65100],
        ..RouteAttrs::default()
    };
    assert_eq!(attrs(&r, "203.0.113.10/32"), Some(&want));
    assert_eq!(attrs(&r, POD_CIDR), Some(&want));
    let speaker = r.host().kernel.bgp_speaker.values().next().unwrap();
    assert_eq!(speaker.asn, 65200);
}

/// `a` and `b` share LB IP 203.0.113.50 on different ports, each with
/// its own community.
fn shared(names: &[&str]) -> Scene {
    let svc = |name: &str, ip: &str, port: u16, community: &str| {
        lb(
            name,
            ip,
            "203.0.113.50",
            port,
            "Cluster",
            json!({"kroute.io/bgp.communities": community}),
        )
    };
    let all = [
        svc("a", "10.96.0.1", 80, "65000:1"),
        svc("b", "10.96.0.2", 443, "65000:2"),
    ];
    Scene {
        services: (all.into_iter())
            .filter(|s| names.contains(&s.metadata.name.as_deref().unwrap()))
            .collect(),
        slices: vec![],
        node: json!({}),
    }
}

fn shared_community(r: &Reconciler<FakeHost>) -> Option<u32> {
    attrs(r, "203.0.113.50/32").map(|a| a.communities[0] & 0xFFFF)
}

#[test]
fn a_route_two_services_announce_stays_while_either_wants_it() {
    let mut r = Reconciler::new(FakeHost::new(), settings(enabled()));
    let report = sync(&mut r, &shared(&["a", "b"]), &[]);
    assert_eq!(
        report.conflicts,
        Vec::<String>::new(),
        "sharing a route is no conflict"
    );
    assert_eq!(shared_community(&r), Some(1), "the first by name has it");

    // Its owner goes: the other keeps it announced, with its attributes.
    let report = sync(&mut r, &shared(&["b"]), &["a"]);
    assert_eq!(report.kind, SyncKind::Incremental);
    let plan = r.host().applied.last().unwrap();
    assert!(plan.bgp.deletes.is_empty(), "{:?}", plan.bgp);
    assert_eq!(plan.bgp.updates.len(), 1);
    assert_eq!(shared_community(&r), Some(2));

    // It comes back: b keeps the route, a waits for it.
    let report = sync(&mut r, &shared(&["a", "b"]), &["a"]);
    assert_eq!(report.conflicts, Vec::<String>::new());
    assert_eq!(shared_community(&r), Some(2));

    // b goes: a, waiting, is planned with it and takes the route over.
    let report = sync(&mut r, &shared(&["a"]), &["b"]);
    assert_eq!(
        (report.kind, report.services_planned),
        (SyncKind::Incremental, 2)
    );
    assert!(r.host().applied.last().unwrap().bgp.deletes.is_empty());
    assert_eq!(shared_community(&r), Some(1));

    // The last one goes: withdrawn.
    sync(&mut r, &shared(&[]), &["a"]);
    assert_eq!(shared_community(&r), None);
    assert_eq!(routes(&r), set(&[POD_CIDR]));
}

#[test]
fn a_waiting_service_takes_the_route_when_the_owner_stops_announcing_it() {
    let mut r = Reconciler::new(FakeHost::new(), settings(enabled()));
    let mut scene = shared(&["b"]);
    sync(&mut r, &scene, &[]);
    scene = shared(&["a", "b"]);
    sync(&mut r, &scene, &["a"]);
    assert_eq!(shared_community(&r), Some(2), "b had it first");

    // b stops announcing LB IPs (still exists): a takes over in the same sync.
    scene.services[1] = lb(
        "b",
        "10.96.0.2",
        "203.0.113.50",
        443,
        "Cluster",
        json!({"kube-router.io/service.advertise.loadbalancerip": "false"}),
    );
    let report = sync(&mut r, &scene, &["b"]);
    assert_eq!(report.services_planned, 2);
    assert_eq!(shared_community(&r), Some(1));
    // A full sync agrees with what the incremental ones built.
    let report = r.sync(&scene.view(), &BTreeSet::new(), true).unwrap();
    assert_eq!((report.creates, report.updates, report.deletes), (0, 0, 0));
}

#[test]
fn a_shared_nftables_artifact_is_still_a_conflict() {
    // Same LB IP and port: the nftables element is one, a real conflict;
    // the route is shared.
    let same_port = |name: &str, ip: &str| lb(name, ip, "203.0.113.50", 80, "Cluster", json!({}));
    let scene = Scene {
        services: vec![same_port("a", "10.96.0.1"), same_port("b", "10.96.0.2")],
        slices: vec![],
        node: json!({}),
    };
    let mut r = Reconciler::new(FakeHost::new(), settings(enabled()));
    let report = sync(&mut r, &scene, &[]);
    assert!(!report.conflicts.is_empty());
    assert!(
        report
            .conflicts
            .iter()
            .all(|c| c.contains("default/b") && !c.contains("bgp route")),
        "{:?}",
        report.conflicts
    );
}

#[test]
fn disagreeing_peers_are_reported_as_conflicts() {
    let mut bgp = enabled();
    bgp.peers = vec![peer("10.0.0.1", 65000), peer("10.0.0.1", 65001)];
    let mut r = Reconciler::new(FakeHost::new(), settings(bgp));
    let report = sync(&mut r, &shared(&[]), &[]);
    let conflicts = &report.bgp_peer_conflicts;
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert!(conflicts[0].contains("bgp.peers[1]"), "{}", conflicts[0]);
    let peers = &r.host().kernel.bgp_peers;
    assert_eq!(peers.values().map(|p| p.asn).collect::<Vec<_>>(), [65000]);
}

/// A Service created at `created` (seconds) with `kroute.io/bgp.peers`.
fn peering(name: &str, created: u64, peers: &str) -> Service {
    let mut svc = lb(
        name,
        "10.96.0.30",
        "203.0.113.30",
        80,
        "Cluster",
        json!({"kroute.io/bgp.peers": peers}),
    );
    svc.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::from_second(created as i64).unwrap(),
    ));
    svc
}

#[test]
fn service_and_node_peers_open_and_close_sessions_live_and_conflicts_name_both_objects() {
    let peer_asns = |r: &Reconciler<FakeHost>| -> Vec<(String, u32)> {
        (r.host().kernel.bgp_peers.values())
            .map(|p| (p.address.to_string(), p.asn))
            .collect()
    };
    let mut r = Reconciler::new(FakeHost::new(), settings(enabled()));
    let mut scene = Scene {
        services: vec![
            peering("old", 100, "- {address: 10.0.0.7, asn: 65007}"),
            peering("new", 200, "- {address: 10.0.0.7, asn: 65099, port: 1179}"),
        ],
        slices: vec![],
        node: json!({"kube-router.io/peers": "- {remoteip: 10.0.0.8, remoteasn: 65008}"}),
    };
    let report = sync(&mut r, &scene, &[]);
    assert_eq!(
        peer_asns(&r),
        [
            ("10.0.0.7".to_string(), 65007),
            ("10.0.0.8".to_string(), 65008)
        ],
        "the older Service's definition is in force"
    );
    assert_eq!(report.bgp_peer_conflicts.len(), 1);
    let on: Vec<(String, String, String)> = (report.invalid_annotations.iter())
        .map(|a| (a.object.clone(), a.key.clone(), a.value.clone()))
        .collect();
    let both = ["default/old", "default/new"].map(|o| {
        (
            o.to_string(),
            "kroute.io/bgp.peers".to_string(),
            "10.0.0.7".to_string(),
        )
    });
    assert_eq!(on, both, "reported on every object involved");

    // The older Service goes: the newer one's definition takes over.
    scene.services.remove(0);
    let report = sync(&mut r, &scene, &["old"]);
    assert_eq!(
        report.kind,
        SyncKind::Full,
        "a peer change re-plans everything"
    );
    assert!(report.bgp_peer_conflicts.is_empty());
    let spec = &r.host().kernel.bgp_peers.values().next().unwrap().clone();
    assert_eq!((spec.asn, spec.port), (65099, 1179));

    // The last source of each peer goes: its session is closed.
    scene.services.clear();
    scene.node = json!({});
    sync(&mut r, &scene, &["new"]);
    assert!(r.host().kernel.bgp_peers.is_empty());
}

#[test]
fn a_bgp_only_node_announces_and_sweeps_its_dataplane() {
    let scene = Scene {
        services: web_and_db(),
        slices: vec![endpoint("web", "10.244.1.5", "node-a")],
        node: json!({}),
    };
    let mut r = Reconciler::new(FakeHost::new(), settings(enabled()));
    sync(&mut r, &scene, &[]);
    assert!(!r.host().kernel.nft.is_empty());
    let announced = routes(&r);

    // kroute restarted with proxy.enabled false, on the same host.
    let host = std::mem::take(r.host_mut());
    let mut only_bgp = settings(enabled());
    only_bgp.proxy.enabled = false;
    let mut r = Reconciler::new(host, only_bgp);
    sync(&mut r, &scene, &[]);
    let kernel = &r.host().kernel;
    assert!(kernel.nft.is_empty(), "no nftables on a BGP-only node");
    assert!(kernel.health_checks.is_empty());
    assert_eq!(kernel.bgp_speaker.len(), 1);
    assert_eq!(routes(&r), announced, "the same routes announced");
}
