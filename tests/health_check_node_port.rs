//! Kernel tier, real binary: the healthCheckNodePort listeners of
//! LoadBalancer services with `externalTrafficPolicy: Local`, asked from the
//! client namespace like a load balancer would, at the node's IP (the
//! default `nodePortAddresses: [primary]`).
mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;

use serde_json::Value;
use support::http::{Answer, try_get};
use support::kroute_process::kroute_once;
use support::manifests::{LbIngress, ServicePort, ServiceSpec};
use support::netns::NetNs;
use support::ns_thread;
use support::scene::{BACKEND_PORT, Backend, Scene};
use support::servers::Transport;
use support::topology::NODE_IP;

/// A LoadBalancer `name` (port 80 → the backends, node port `np`, an LB
/// IP) with its `healthCheckNodePort` and `externalTrafficPolicy` `etp`.
fn lb(name: &str, last: u8, np: u16, hcnp: u16, etp: &str) -> (ServiceSpec, u16) {
    let port = ServicePort::new("http", Transport::Tcp, 80, BACKEND_PORT).with_node_port(np);
    let mut spec = ServiceSpec::new(
        name,
        &[IpAddr::V4(Ipv4Addr::new(10, 96, 0, last))],
        vec![port],
    );
    spec.type_ = Some("LoadBalancer".into());
    spec.external_traffic_policy = Some(etp.into());
    spec.lb_ingress = vec![LbIngress {
        ip: IpAddr::V4(Ipv4Addr::new(203, 0, 113, last)),
        ip_mode: None,
    }];
    (spec, hcnp)
}

/// Writes the service with its health check node port (the API server
/// allocates one for every Local LoadBalancer, also after a switch to
/// Cluster it may keep it; kroute must ignore it then).
fn put(scene: &Scene, (spec, hcnp): &(ServiceSpec, u16), backends: &[Backend]) {
    scene.put_spec(spec, backends);
    let file = format!("{}.yaml", spec.name);
    let path = scene.manifests.path().join(&file);
    let yaml = std::fs::read_to_string(&path).expect("the manifest just written");
    let with_port = yaml.replacen(
        "  ports:\n",
        &format!("  healthCheckNodePort: {hcnp}\n  ports:\n"),
        1,
    );
    assert_ne!(yaml, with_port, "a ports: line in {yaml}");
    scene.manifests.write(&file, &with_port);
}

fn health(scene: &Scene, hcnp: u16) -> Result<Answer, String> {
    try_get(&scene.topo.client, SocketAddr::from((NODE_IP, hcnp)), "/")
}

fn answers(scene: &Scene, hcnp: u16, code: u16) -> bool {
    health(scene, hcnp).is_ok_and(|a| a.code == code)
}

/// `kroute status --json` in `ns`; `None` unless it answered.
fn status(ns: &NetNs, config: &Path) -> Option<Value> {
    let config = config.to_str().expect("utf-8 path");
    let out = kroute_once(ns, &["status", "--json", "--config", config]);
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

#[test]
fn a_local_lb_answers_on_its_health_check_node_port_until_it_goes() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let mut scene = Scene::new("khcnp", 1);
    let web = lb("web", 40, 30480, 32400, "Local");
    put(&scene, &web, &[Backend::local("backend-1")]);
    scene.start_kroute();
    scene.wait_until("the health check answers 200", |s| answers(s, 32400, 200));
    let answer = health(&scene, 32400).expect("an answer");
    assert_eq!(answer.header("X-Load-Balancing-Endpoint-Weight"), Some("1"));
    assert_eq!(answer.header("Content-Type"), Some("application/json"));
    let body: Value = serde_json::from_str(&answer.body).expect("JSON body");
    assert_eq!(body["service"]["namespace"], "default", "{body}");
    assert_eq!(body["service"]["name"], "web", "{body}");
    assert_eq!(body["localEndpoints"], 1, "{body}");
    assert_eq!(body["serviceProxyHealthy"], true, "{body}");

    // The endpoint on another node: 503, zero local endpoints.
    put(&scene, &web, &[Backend::remote("backend-1")]);
    scene.wait_until("the health check answers 503", |s| answers(s, 32400, 503));
    let answer = health(&scene, 32400).expect("an answer");
    assert_eq!(answer.header("X-Load-Balancing-Endpoint-Weight"), Some("0"));
    let body: Value = serde_json::from_str(&answer.body).expect("JSON body");
    assert_eq!(body["localEndpoints"], 0, "{body}");

    // Switched to Cluster: the listener goes.
    let cluster = lb("web", 40, 30480, 32400, "Cluster");
    put(&scene, &cluster, &[Backend::local("backend-1")]);
    scene.wait_until("the listener is closed (Cluster)", |s| {
        health(s, 32400).is_err()
    });

    // Local again, then deleted: it comes back, then goes.
    put(&scene, &web, &[Backend::local("backend-1")]);
    scene.wait_until("the health check is back", |s| answers(s, 32400, 200));
    scene.manifests.remove("web.yaml");
    scene.wait_until("the listener is closed (deleted)", |s| {
        health(s, 32400).is_err()
    });
}

#[test]
fn a_taken_port_is_an_error_naming_the_service_and_other_listeners_work() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let mut scene = Scene::new("khctaken", 1);
    // Another process's listener on db's port, in the node namespace.
    let taken: TcpListener = ns_thread::run(&scene.topo.node.path(), || {
        TcpListener::bind((Ipv4Addr::UNSPECIFIED, 32411)).expect("bind the port to take")
    });
    let db = lb("db", 41, 30481, 32411, "Local");
    let web = lb("web", 42, 30482, 32412, "Local");
    put(&scene, &db, &[Backend::local("backend-1")]);
    put(&scene, &web, &[Backend::local("backend-1")]);
    scene.start_kroute();
    scene.wait_until("web's health check answers", |s| answers(s, 32412, 200));

    let mut refused = Vec::new();
    scene.wait_until("the status names the refused listener", |s| {
        let doc = status(&s.topo.node, &s.config);
        refused = doc
            .as_ref()
            .and_then(|d| d["lastSync"]["refused"].as_array().cloned())
            .unwrap_or_default();
        !refused.is_empty()
    });
    let text = refused[0].as_str().unwrap_or_default();
    assert!(
        text.contains("default/db") && text.contains("32411"),
        "{refused:?}"
    );
    assert!(
        scene.kroute().log().contains("default/db"),
        "the log names the service"
    );
    // db's rules are programmed all the same.
    let table = scene.kroute_table().expect("ip kroute");
    assert!(
        !table.elements_mentioning("10.96.0.41").is_empty(),
        "db's nftables elements"
    );

    // Freed: retried at a full sync (syncPeriod 2 s).
    drop(taken);
    scene.wait_until("db's health check answers once the port is free", |s| {
        answers(s, 32411, 200)
    });
}
