//! `KubeStore` against replayed watcher event sequences.

use kube::runtime::watcher::Event;

use super::store::{KubeEvent, KubeStore, Watched};
use crate::model::ObjectKey;
use crate::model::fixtures::{node, service, slice};

fn svc(name: &str, ip: &str) -> k8s_openapi::api::core::v1::Service {
    service(
        "default",
        name,
        "ClusterIP",
        ip,
        &[("http", "TCP", 80, None)],
    )
}

fn eps(
    svc: &str,
    slice_name: &str,
    ips: &[&str],
) -> k8s_openapi::api::discovery::v1::EndpointSlice {
    let endpoints: Vec<(&str, &str, bool)> = ips.iter().map(|ip| (*ip, "node-a", true)).collect();
    slice("default", svc, slice_name, ("http", "TCP", 80), &endpoints)
}

fn key(name: &str) -> ObjectKey {
    ObjectKey::new("default", name)
}

/// A store whose three watchers have listed `services`, `slices` and this node.
fn listed(
    services: Vec<k8s_openapi::api::core::v1::Service>,
    slices: Vec<k8s_openapi::api::discovery::v1::EndpointSlice>,
) -> KubeStore {
    let mut store = KubeStore::new(
        "node-a",
        [Watched::Services, Watched::Slices, Watched::ThisNode],
    );
    store.apply(KubeEvent::Service(Event::Init));
    for s in services {
        store.apply(KubeEvent::Service(Event::InitApply(s)));
    }
    store.apply(KubeEvent::Service(Event::InitDone));
    store.apply(KubeEvent::Slice(Event::Init));
    for s in slices {
        store.apply(KubeEvent::Slice(Event::InitApply(s)));
    }
    store.apply(KubeEvent::Slice(Event::InitDone));
    store.apply(KubeEvent::ThisNode(Event::Init));
    store.apply(KubeEvent::ThisNode(Event::InitApply(node(
        "node-a",
        "192.168.50.1",
    ))));
    let change = store.apply(KubeEvent::ThisNode(Event::InitDone));
    assert!(change.became_synced);
    store
}

#[test]
fn not_synced_until_every_watcher_has_listed() {
    let mut store = KubeStore::new(
        "node-a",
        [Watched::Services, Watched::Slices, Watched::ThisNode],
    );
    store.apply(KubeEvent::Service(Event::Init));
    store.apply(KubeEvent::Service(Event::InitApply(svc(
        "web",
        "10.96.0.10",
    ))));
    assert!(!store.is_synced());
    store.apply(KubeEvent::Service(Event::InitDone));
    store.apply(KubeEvent::Slice(Event::Init));
    store.apply(KubeEvent::Slice(Event::InitDone));
    assert!(!store.is_synced(), "this node's watch has not listed yet");
    store.apply(KubeEvent::ThisNode(Event::Init));
    let change = store.apply(KubeEvent::ThisNode(Event::InitDone));
    assert!(change.became_synced);
    assert!(store.view().synced);
    assert_eq!(store.view().services.len(), 1);
}

#[test]
fn objects_listed_during_a_relist_are_not_visible_before_init_done() {
    let mut store = listed(
        vec![svc("web", "10.96.0.10")],
        vec![eps("web", "web-1", &["10.244.1.1"])],
    );
    store.apply(KubeEvent::Service(Event::Init));
    store.apply(KubeEvent::Service(Event::InitApply(svc(
        "api",
        "10.96.0.11",
    ))));
    // Until InitDone the old list stands: web is still there, api not yet.
    assert!(store.view().services.contains_key(&key("web")));
    assert!(!store.view().services.contains_key(&key("api")));
    let change = store.apply(KubeEvent::Service(Event::InitDone));
    assert_eq!(change.dirty, [key("api"), key("web")].into());
    assert!(!store.view().services.contains_key(&key("web")));
    assert!(store.view().synced, "a relist never un-syncs the view");
}

#[test]
fn a_relist_that_finds_a_deleted_object_dirties_it_and_nothing_else() {
    let mut store = listed(
        vec![svc("web", "10.96.0.10"), svc("api", "10.96.0.11")],
        vec![
            eps("web", "web-1", &["10.244.1.1"]),
            eps("api", "api-1", &["10.244.1.2"]),
        ],
    );
    // Relist (410 Gone, reconnect): api's slice is gone, everything else unchanged.
    store.apply(KubeEvent::Slice(Event::Init));
    store.apply(KubeEvent::Slice(Event::InitApply(eps(
        "web",
        "web-1",
        &["10.244.1.1"],
    ))));
    let change = store.apply(KubeEvent::Slice(Event::InitDone));
    assert_eq!(change.dirty, [key("api")].into());
    assert!(store.view().slices_of(&key("api")).next().is_none());
    assert_eq!(store.view().slices_of(&key("web")).count(), 1);

    store.apply(KubeEvent::Service(Event::Init));
    store.apply(KubeEvent::Service(Event::InitApply(svc(
        "web",
        "10.96.0.10",
    ))));
    store.apply(KubeEvent::Service(Event::InitApply(svc(
        "api",
        "10.96.0.11",
    ))));
    let change = store.apply(KubeEvent::Service(Event::InitDone));
    assert!(
        change.is_empty(),
        "an unchanged relist wakes nothing: {change:?}"
    );
}

#[test]
fn slice_events_dirty_their_service() {
    let mut store = listed(vec![svc("web", "10.96.0.10")], vec![]);
    let change = store.apply(KubeEvent::Slice(Event::Apply(eps(
        "web",
        "web-1",
        &["10.244.1.1"],
    ))));
    assert_eq!(change.dirty, [key("web")].into());
    // The same object again (a resourceVersion bump only) changes nothing.
    let mut again = eps("web", "web-1", &["10.244.1.1"]);
    again.metadata.resource_version = Some("42".into());
    let change = store.apply(KubeEvent::Slice(Event::Apply(again)));
    assert!(change.is_empty(), "{change:?}");
    let change = store.apply(KubeEvent::Slice(Event::Delete(eps("web", "web-1", &[]))));
    assert_eq!(change.dirty, [key("web")].into());
    assert!(store.view().slices.is_empty());
}

#[test]
fn a_slice_that_changes_owner_leaves_its_old_service() {
    let mut store = listed(
        vec![svc("web", "10.96.0.10"), svc("api", "10.96.0.11")],
        vec![eps("web", "shared", &["10.244.1.1"])],
    );
    let change = store.apply(KubeEvent::Slice(Event::Apply(eps(
        "api",
        "shared",
        &["10.244.1.1"],
    ))));
    assert_eq!(change.dirty, [key("api"), key("web")].into());
    assert!(store.view().slices_of(&key("web")).next().is_none());
    assert_eq!(store.view().slices_of(&key("api")).count(), 1);
}

#[test]
fn a_slice_without_the_service_name_label_is_ignored() {
    let mut store = listed(vec![svc("web", "10.96.0.10")], vec![]);
    let mut orphan = eps("web", "orphan", &["10.244.1.1"]);
    orphan.metadata.labels = None;
    let change = store.apply(KubeEvent::Slice(Event::Apply(orphan)));
    assert!(change.is_empty());
    assert!(store.view().slices.is_empty());
}

#[test]
fn a_node_heartbeat_is_trimmed_away_and_wakes_nothing() {
    let mut store = listed(vec![], vec![]);
    let mut beat = node("node-a", "192.168.50.1");
    beat.metadata.resource_version = Some("7".into());
    beat.status.as_mut().unwrap().conditions = Some(vec![Default::default()]);
    let change = store.apply(KubeEvent::ThisNode(Event::Apply(beat)));
    assert!(change.is_empty(), "{change:?}");
    let change = store.apply(KubeEvent::ThisNode(Event::Apply(node(
        "node-a",
        "192.168.50.2",
    ))));
    assert!(change.nodes);
}

#[test]
fn unused_fields_are_dropped() {
    let mut big = svc("web", "10.96.0.10");
    big.metadata.managed_fields = Some(vec![Default::default()]);
    big.metadata.annotations = Some(
        [(
            "kubectl.kubernetes.io/last-applied-configuration".to_string(),
            "{...}".to_string(),
        )]
        .into(),
    );
    let store = listed(vec![big], vec![]);
    let kept = &store.view().services[&key("web")];
    assert!(kept.metadata.managed_fields.is_none());
    assert!(kept.metadata.annotations.is_none());
    assert!(kept.spec.as_ref().unwrap().cluster_ip.is_some());
}

#[test]
fn all_nodes_watch_keeps_other_nodes_and_defers_to_the_own_watch() {
    let mut store = KubeStore::new(
        "node-a",
        [
            Watched::Services,
            Watched::Slices,
            Watched::ThisNode,
            Watched::Nodes,
        ],
    );
    for ev in [Event::Init, Event::InitDone] {
        store.apply(KubeEvent::Service(ev.clone()));
        store.apply(KubeEvent::Slice(match ev {
            Event::Init => Event::Init,
            _ => Event::InitDone,
        }));
    }
    store.apply(KubeEvent::ThisNode(Event::Init));
    store.apply(KubeEvent::ThisNode(Event::InitApply(node(
        "node-a",
        "192.168.50.1",
    ))));
    store.apply(KubeEvent::ThisNode(Event::InitDone));
    assert!(!store.is_synced());
    store.apply(KubeEvent::Nodes(Event::Init));
    store.apply(KubeEvent::Nodes(Event::InitApply(node(
        "node-a",
        "10.0.0.99",
    ))));
    store.apply(KubeEvent::Nodes(Event::InitApply(node(
        "node-b",
        "192.168.50.2",
    ))));
    let change = store.apply(KubeEvent::Nodes(Event::InitDone));
    assert!(change.became_synced && change.nodes);
    let nodes = &store.view().nodes;
    assert_eq!(nodes.len(), 2);
    let own_ip = nodes["node-a"]
        .status
        .as_ref()
        .unwrap()
        .addresses
        .as_ref()
        .unwrap()[0]
        .address
        .clone();
    assert_eq!(own_ip, "192.168.50.1", "this node comes from its own watch");
    // node-b deleted, seen by a relist of all Nodes.
    store.apply(KubeEvent::Nodes(Event::Init));
    store.apply(KubeEvent::Nodes(Event::InitApply(node(
        "node-a",
        "10.0.0.99",
    ))));
    let change = store.apply(KubeEvent::Nodes(Event::InitDone));
    assert!(change.nodes);
    assert_eq!(store.view().nodes.keys().collect::<Vec<_>>(), ["node-a"]);
}
