//! Kernel tier, real binary: `kroute run` (standalone) serves `/healthz`,
//! `/metrics` and the admin socket, and `kroute status` reads the socket.
//! Health and metrics bind ephemeral 127.0.0.1 ports in the node namespace
//! (the config asks for port 0); the status tells where they listen.
mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use serde_json::Value;
use support::http::get as http_get;
use support::kroute_process::kroute_once;
use support::netns::NetNs;
use support::scene::{Scene, TestService};

/// `kroute status --json --config FILE` in `ns`; `None` unless it answered.
fn status_json(ns: &NetNs, config: &Path) -> Option<Value> {
    let config = config.to_str().expect("utf-8 path");
    let out = kroute_once(ns, &["status", "--json", "--config", config]);
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

fn listening(status: &Value, server: &str) -> SocketAddr {
    status["listening"][server]
        .as_str()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no {server} address in {status}"))
}

/// The value of an unlabelled sample `name` in a Prometheus exposition.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(series, _)| *series == name)
        .and_then(|(_, v)| v.parse().ok())
}

#[test]
fn a_running_agent_serves_health_metrics_and_its_status() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let mut scene = Scene::new("kside", 1);
    let web = TestService::web(
        "web",
        Ipv4Addr::new(10, 96, 0, 10),
        Some(30080),
        &["backend-1"],
    );
    scene.put_service(&web);
    scene.start_kroute();
    let mut status = Value::Null;
    scene.wait_until(
        "kroute status reports a successful sync",
        |s| match status_json(&s.topo.node, &s.config) {
            Some(doc) if doc["lastSync"]["ok"] == Value::Bool(true) => {
                status = doc;
                true
            }
            _ => false,
        },
    );
    let node = &scene.topo.node;
    let nft = status["artifacts"]["nftables"].as_u64().unwrap_or(0);
    assert!(nft > 0, "no nftables artifacts owned: {status}");
    assert_eq!(status["sourceSynced"], Value::Bool(true), "{status}");
    assert_eq!(status["nodeName"], "node-a", "{status}");
    assert!(status["lastSuccessfulSync"].is_string(), "{status}");

    let (code, body) = http_get(node, listening(&status, "health"), "/healthz");
    assert_eq!(code, 200, "{body}");
    let health: Value = serde_json::from_str(&body).expect("health JSON");
    assert_eq!(health["healthy"], Value::Bool(true), "{body}");
    assert_eq!(health["nodeEligible"], Value::Bool(true), "{body}");
    assert!(health["lastUpdated"].is_string() && health["currentTime"].is_string());

    let (code, metrics) = http_get(node, listening(&status, "metrics"), "/metrics");
    assert_eq!(code, 200);
    let last = sample(
        &metrics,
        "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
    )
    .unwrap_or_else(|| panic!("no last-sync timestamp in\n{metrics}"));
    assert!(last > 0.0, "{last}");
    let owned = sample(&metrics, "kroute_artifacts{facet=\"nftables\"}").unwrap_or(0.0);
    assert!(owned > 0.0, "kroute_artifacts: {owned}");

    // The human summary says the same.
    let cfg = scene.config.to_str().expect("utf-8 path").to_string();
    let out = kroute_once(node, &["status", "--config", &cfg]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("last sync:") && text.contains("nftables"),
        "{text}"
    );

    // No agent: exit 1, naming the socket.
    scene.stop_kroute();
    let out = kroute_once(&scene.topo.node, &["status", "--config", &cfg]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let socket = scene.manifests.scratch().join("kroute.sock");
    assert!(err.contains(&socket.display().to_string()), "{err}");
}
