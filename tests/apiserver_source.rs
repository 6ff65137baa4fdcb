//! API-server tier: `kroute run` against a real kube-apiserver + etcd, with
//! the ServiceAccount token `deploy/` provides. Service, EndpointSlice and
//! Node changes reach the kernel (real traffic); cut watches resume; the
//! API server going away and coming back leaves the dataplane in place; a
//! relist that finds a deleted object sweeps exactly that object; SIGTERM
//! exits 0 and leaves the dataplane.
mod support;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use support::clients::{backends_answering, request};
use support::kube_scene::KubeScene;
use support::scene::TestService;
use support::servers::Transport;
use support::topology::NODE_IP;

fn available() -> bool {
    support::kernel_tier_available(&["nft", "ip"]) && support::apiserver::apiserver_tier_available()
}

fn answers(scene: &KubeScene, svc: &TestService) -> bool {
    request(
        &scene.topo.client.path(),
        Transport::Tcp,
        svc.cluster_addr(),
    )
    .is_ok()
}

fn backends(scene: &KubeScene, addr: SocketAddr) -> BTreeSet<String> {
    backends_answering(&scene.topo.client.path(), Transport::Tcp, addr, 20)
}

#[test]
fn services_slices_and_nodes_from_the_api_reach_the_kernel() {
    if !available() {
        return;
    }
    let mut scene = KubeScene::new("kapi", 2);
    let web = TestService::web(
        "web",
        Ipv4Addr::new(10, 96, 0, 10),
        Some(30080),
        &["backend-1", "backend-2"],
    );
    scene.put_service(&web);
    // No Node object yet: kroute starts, warns, and still serves ClusterIPs.
    scene.start_kroute();
    scene.wait_until("the ClusterIP from the initial list answers", |s| {
        answers(s, &web)
    });
    assert_eq!(backends(&scene, web.cluster_addr()).len(), 2);
    support::wait::wait_until("a warning about the missing Node", || {
        scene.log().contains("no Node named")
    });
    let node_port = SocketAddr::new(IpAddr::V4(NODE_IP), 30080);
    assert!(
        request(&scene.topo.client.path(), Transport::Tcp, node_port).is_err(),
        "no NodePort on the primary address before the Node exists"
    );

    // Node added: its primary address carries the NodePort.
    scene.put_node(&[IpAddr::V4(NODE_IP)]);
    scene.wait_until("the NodePort answers on the Node's address", |s| {
        request(&s.topo.client.path(), Transport::Tcp, node_port).is_ok()
    });

    // EndpointSlice modified: backend-2 leaves.
    let mut one = web.clone();
    one.backends = vec!["backend-1".into()];
    scene.put_service(&one);
    scene.wait_until("only backend-1 answers", |s| {
        backends(s, web.cluster_addr()) == BTreeSet::from(["backend-1".to_string()])
    });

    // Service added, then deleted.
    let api = TestService::web("api", Ipv4Addr::new(10, 96, 0, 11), None, &["backend-2"]);
    scene.put_service(&api);
    scene.wait_until("the new Service answers", |s| answers(s, &api));
    scene.delete_service(&api);
    scene.wait_until("the deleted Service is gone", |s| !answers(s, &api));
    assert!(answers(&scene, &web), "the other Service kept working");

    // Node modified (its address moves away), then deleted: the NodePort
    // leaves the old address; ClusterIPs keep working.
    scene.put_node(&[IpAddr::V4(Ipv4Addr::new(192, 168, 50, 9))]);
    scene.wait_until("the NodePort left the old address", |s| {
        request(&s.topo.client.path(), Transport::Tcp, node_port).is_err()
    });
    scene.put_node(&[IpAddr::V4(NODE_IP)]);
    scene.wait_until("the NodePort is back", |s| {
        request(&s.topo.client.path(), Transport::Tcp, node_port).is_ok()
    });
    scene
        .api
        .kubectl_ok(&["delete", "node", support::scene::NODE_NAME]);
    scene.wait_until("the NodePort is gone with the Node", |s| {
        request(&s.topo.client.path(), Transport::Tcp, node_port).is_err()
    });
    assert!(answers(&scene, &web));
}

#[test]
fn cut_watches_resume_and_an_api_server_restart_keeps_the_dataplane() {
    if !available() {
        return;
    }
    let mut scene = KubeScene::new("kcut", 2);
    scene.put_node(&[IpAddr::V4(NODE_IP)]);
    let web = TestService::web("web", Ipv4Addr::new(10, 96, 0, 10), None, &["backend-1"]);
    scene.put_service(&web);
    scene.start_kroute();
    scene.wait_until("the ClusterIP answers", |s| answers(s, &web));

    // Every watch connection cut: kroute re-watches and follows changes.
    scene.proxy.cut();
    let mut both = web.clone();
    both.backends = vec!["backend-1".into(), "backend-2".into()];
    scene.put_service(&both);
    scene.wait_until("both backends answer after the cut", |s| {
        backends(s, web.cluster_addr()).len() == 2
    });

    // The API server stops: traffic keeps flowing through several full syncs.
    scene.api.stop_apiserver();
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        backends(&scene, web.cluster_addr()).len(),
        2,
        "the dataplane stays while the API server is down"
    );
    let kroute = scene.kroute.as_mut().unwrap();
    kroute.wait_until("kroute is still running", || true);

    // Back up: a change made afterwards reaches the kernel.
    scene.api.start_apiserver();
    scene.put_service(&web);
    scene.wait_until("kroute converged after the restart", |s| {
        backends(s, web.cluster_addr()) == BTreeSet::from(["backend-1".to_string()])
    });

    // SIGTERM: kroute stops watching and exits 0; the dataplane stays.
    let status = scene.kroute.take().unwrap().stop_with_status();
    assert!(status.success(), "kroute exits 0 on SIGTERM: {status}");
    assert_eq!(
        backends(&scene, web.cluster_addr()),
        BTreeSet::from(["backend-1".to_string()]),
        "the dataplane stays after kroute stopped"
    );
}

#[test]
fn a_relist_that_finds_a_deleted_service_sweeps_it_and_nothing_else() {
    if !available() {
        return;
    }
    let mut scene = KubeScene::new("krelist", 2);
    scene.put_node(&[IpAddr::V4(NODE_IP)]);
    let keep = TestService::web("keep", Ipv4Addr::new(10, 96, 0, 10), None, &["backend-1"]);
    let gone = TestService::web("gone", Ipv4Addr::new(10, 96, 0, 11), None, &["backend-2"]);
    scene.put_service(&keep);
    scene.put_service(&gone);
    scene.start_kroute();
    scene.wait_until("both services answer", |s| {
        answers(s, &keep) && answers(s, &gone)
    });
    let keep_chains = scene
        .kroute_table()
        .unwrap()
        .chains_reached_from_elements(&keep.cluster_ip.to_string());
    assert!(!keep_chains.is_empty());

    // kroute loses the API server; meanwhile `gone` is deleted and the API
    // server restarts with a fresh watch cache, so kroute's resourceVersion
    // is too old (410 Gone) when it comes back: it must relist.
    scene.proxy.pause();
    scene.delete_service(&gone);
    scene.api.stop_apiserver();
    scene.api.start_apiserver();
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        answers(&scene, &gone),
        "nothing is swept while kroute cannot see the API server"
    );
    scene.proxy.resume();
    // The Service and its slice may be relisted one after the other (for a
    // moment the Service is left without endpoints: rejected): wait for both.
    scene.wait_until("the deleted service is swept", |s| {
        s.kroute_table().is_some_and(|t| {
            t.elements_mentioning(&gone.cluster_ip.to_string())
                .is_empty()
        })
    });
    assert!(
        !answers(&scene, &gone),
        "the deleted service no longer answers"
    );
    let table = scene.kroute_table().unwrap();
    assert_eq!(
        table.chains_reached_from_elements(&keep.cluster_ip.to_string()),
        keep_chains,
        "the other service's chains are untouched"
    );
    assert_eq!(
        backends(&scene, keep.cluster_addr()),
        BTreeSet::from(["backend-1".to_string()])
    );
}

/// The `InvalidAnnotation` Events on one object, as kubectl reads them back.
fn invalid_annotation_events(scene: &KubeScene, kind: &str, name: &str) -> Vec<serde_json::Value> {
    let out = scene.api.kubectl_ok(&[
        "get",
        "events.events.k8s.io",
        "--all-namespaces",
        "--field-selector",
        "reason=InvalidAnnotation",
        "-o",
        "json",
    ]);
    let list: serde_json::Value = serde_json::from_str(&out).expect("kubectl JSON");
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["regarding"]["kind"] == kind && e["regarding"]["name"] == name)
        .cloned()
        .collect()
}

#[test]
fn a_bad_annotation_becomes_one_warning_event_on_its_object() {
    if !available() {
        return;
    }
    let mut scene = KubeScene::new("kevent", 1);
    scene.put_node(&[IpAddr::V4(NODE_IP)]);
    let web = TestService::web("web", Ipv4Addr::new(10, 96, 0, 10), None, &["backend-1"]);
    scene.put_service(&web);
    scene.api.kubectl_ok(&[
        "annotate",
        "service",
        "-n",
        "default",
        "web",
        "kroute.io/bgp.local-pref=high",
    ]);
    scene.api.kubectl_ok(&[
        "annotate",
        "node",
        support::scene::NODE_NAME,
        "kube-router.io/node.asn=not-a-number",
    ]);
    scene.start_kroute();
    scene.wait_until("the service answers despite its bad annotation", |s| {
        answers(s, &web)
    });
    support::wait::wait_until("an Event on the Service and one on the Node", || {
        invalid_annotation_events(&scene, "Service", "web").len() == 1
            && invalid_annotation_events(&scene, "Node", support::scene::NODE_NAME).len() == 1
    });
    // Several full syncs later (syncPeriod 2 s) it is still one Event, not a series.
    std::thread::sleep(Duration::from_secs(7));
    for (kind, name) in [("Service", "web"), ("Node", support::scene::NODE_NAME)] {
        let events = invalid_annotation_events(&scene, kind, name);
        assert_eq!(events.len(), 1, "{kind} {name}: {events:#?}");
        let e = &events[0];
        assert_eq!(e["type"], "Warning");
        assert!(e["series"].is_null(), "reported once, not repeated: {e:#}");
        assert_eq!(e["reportingController"], "kroute");
        assert!(
            e["regarding"]["uid"]
                .as_str()
                .is_some_and(|u| !u.is_empty()),
            "the Event names the object's uid: {e:#}"
        );
    }
    let note = invalid_annotation_events(&scene, "Service", "web")[0]["note"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        note.contains("kroute.io/bgp.local-pref") && note.contains("high"),
        "the Event names the key and the value: {note}"
    );
}
