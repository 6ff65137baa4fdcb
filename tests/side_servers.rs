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

/// In process: a real speaker on 127.0.0.1 peered with a second speaker
/// on 127.0.0.2 that the test drives, the agent's speaker in a slot, the
/// side servers on a temp admin socket; `kroute bgp`'s requests, the
/// status and the metrics answer from it, and stop answering when the
/// slot is emptied.
mod bgp_in_process {
    use std::net::{IpAddr, SocketAddr};
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use kroute::bgp::slot::SpeakerSlot;
    use kroute::bgp::{PeerSpec, RouteAttrs, Speaker, SpeakerConfig};
    use kroute::model::config::Config;
    use kroute::serve::ServeError;
    use kroute::serve::bgp_doc::{PeerRoutesDoc, PeersDoc, RibDoc};
    use kroute::serve::client::{BgpRequest, fetch_bgp, fetch_status, get};
    use kroute::telemetry::Telemetry;

    use super::support::bgp::route;

    fn speaker_config(asn: u32, listen: &str) -> SpeakerConfig {
        SpeakerConfig {
            asn,
            router_id: "10.0.0.1".parse().unwrap(),
            listen: vec![listen.parse().unwrap()],
            graceful_restart: None,
            connect_retry: Duration::from_secs(1),
            wait_for_routes: false,
        }
    }

    fn peer(address: &str, asn: u32, port: u16, local: &str) -> PeerSpec {
        PeerSpec {
            port,
            local_address: Some(local.parse().unwrap()),
            ..PeerSpec::new(address.parse().unwrap(), asn)
        }
    }

    fn port(s: &Speaker) -> u16 {
        s.listen_addrs().first().map(SocketAddr::port).unwrap()
    }

    async fn metrics(addr: SocketAddr) -> String {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let r = get(stream, "/metrics").await.unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    }

    fn sample(text: &str, series: &str) -> Option<f64> {
        super::sample(text, series)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bgp_peers_routes_status_and_metrics_come_from_the_speaker_in_the_slot() {
        let agent = Speaker::start(speaker_config(64512, "127.0.0.1:0"))
            .await
            .unwrap();
        let remote = Speaker::start(speaker_config(65000, "127.0.0.2:0"))
            .await
            .unwrap();
        let (ours, theirs): (IpAddr, IpAddr) =
            ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
        let (a, r) = (agent.handle(), remote.handle());
        a.set_peer(peer("127.0.0.2", 65000, port(&remote), "127.0.0.1"))
            .await
            .unwrap();
        r.set_peer(peer("127.0.0.1", 64512, port(&agent), "127.0.0.2"))
            .await
            .unwrap();
        a.originate(vec![(
            route("10.96.0.10/32"),
            RouteAttrs {
                communities: vec![(64512 << 16) | 100],
                ..RouteAttrs::default()
            },
        )])
        .await
        .unwrap();
        r.originate(vec![(route("10.244.9.0/24"), RouteAttrs::default())])
            .await
            .unwrap();

        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            health_address: "127.0.0.1:0".parse().unwrap(),
            metrics_address: "127.0.0.1:0".parse().unwrap(),
            admin_socket: dir.path().join("kroute.sock"),
            ..Config::default()
        };
        config.bgp.enabled = true;
        let telemetry = Arc::new(Telemetry::new(SystemTime::now(), Duration::from_secs(30)));
        let slot = SpeakerSlot::new();
        slot.set(Some(agent.handle()));
        let servers = kroute::serve::spawn_side_servers(&config, telemetry, slot.clone())
            .await
            .unwrap();
        let socket = servers.admin_socket.clone();

        // Wait (30 s at most: a bound for a busy machine) for the session,
        // both routes and the remote's End-of-RIB, which follows its route.
        let mut peers = None;
        for _ in 0..3000 {
            let doc: PeersDoc = fetch_bgp(&socket, &BgpRequest::Peers).await.unwrap();
            if doc.peers.first().is_some_and(|p| {
                p.state == "established"
                    && p.routes_sent == 1
                    && p.routes_received == 1
                    && !p.end_of_rib_received.is_empty()
            }) {
                peers = Some(doc);
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let peers = peers.expect("the session up with one route and End-of-RIB each way");
        let p = &peers.peers[0];
        assert_eq!((p.address, p.asn), (theirs, 65000));
        assert!(p.uptime_seconds.is_some() && p.updates_sent >= 2, "{p:?}");
        let negotiated = p.negotiated.as_ref().expect("negotiated");
        assert_eq!(negotiated.peer_asn, 65000);
        assert!(p.end_of_rib_received.contains(&"ipv4-unicast".to_string()));
        assert!(peers.render_text().contains("established"));

        let rib: RibDoc = fetch_bgp(&socket, &BgpRequest::Routes).await.unwrap();
        assert_eq!(rib.routes.len(), 1, "{rib:?}");
        assert_eq!(rib.routes[0].prefix.to_string(), "10.96.0.10/32");
        assert_eq!(rib.routes[0].communities, ["64512:100"]);
        assert_eq!(rib.routes[0].peers, [theirs]);

        let request = BgpRequest::PeerRoutes {
            peer: theirs,
            received: false,
        };
        let routes: PeerRoutesDoc = fetch_bgp(&socket, &request).await.unwrap();
        let advertised = routes.advertised.as_ref().expect("advertised");
        assert_eq!(advertised.len(), 1);
        assert_eq!(
            advertised[0].next_hop, ours,
            "next hop: our session address"
        );
        assert_eq!(advertised[0].as_path, [64512]);
        assert_eq!(advertised[0].communities, ["64512:100"]);
        assert_eq!(routes.received.len(), 1);
        assert_eq!(routes.received[0].prefix.to_string(), "10.244.9.0/24");
        assert_eq!(routes.received[0].as_path, [65000]);
        let request = BgpRequest::PeerRoutes {
            peer: theirs,
            received: true,
        };
        let received: PeerRoutesDoc = fetch_bgp(&socket, &request).await.unwrap();
        assert!(received.advertised.is_none() && received.received.len() == 1);

        let unknown = BgpRequest::PeerRoutes {
            peer: "192.0.2.9".parse().unwrap(),
            received: false,
        };
        match fetch_bgp::<PeerRoutesDoc>(&socket, &unknown).await {
            Err(ServeError::BgpRefused { message }) => {
                assert!(message.contains("192.0.2.9"), "{message}")
            }
            other => panic!("an unknown peer: {other:?}"),
        }

        let status = fetch_status(&socket).await.unwrap();
        let bgp = status.bgp.clone().expect("BGP in the status");
        assert!(bgp.running);
        assert_eq!(
            (bgp.peers, bgp.peers_established, bgp.routes_originated),
            (1, 1, 1)
        );
        assert!(status_text_has_bgp(&status.render_human()));

        let text = metrics(servers.metrics_address).await;
        let peer_series = |name: &str| sample(&text, &format!("{name}{{peer=\"127.0.0.2\"}}"));
        assert_eq!(
            peer_series("kroute_bgp_peer_session_state"),
            Some(6.0),
            "{text}"
        );
        assert_eq!(peer_series("kroute_bgp_peer_up"), Some(1.0));
        assert_eq!(peer_series("kroute_bgp_peer_routes_sent"), Some(1.0));
        assert_eq!(peer_series("kroute_bgp_peer_routes_received"), Some(1.0));
        assert!(peer_series("kroute_bgp_peer_updates_sent_total").unwrap() >= 2.0);
        assert!(peer_series("kroute_bgp_peer_updates_received_total").unwrap() >= 2.0);
        assert_eq!(sample(&text, "kroute_bgp_speaker_running"), Some(1.0));
        assert_eq!(sample(&text, "kroute_bgp_routes_originated"), Some(1.0));

        // The speaker leaves the slot: "not running", and no peer series.
        slot.set(None);
        match fetch_bgp::<PeersDoc>(&socket, &BgpRequest::Peers).await {
            Err(e @ ServeError::BgpNotRunning { .. }) => {
                assert!(e.to_string().contains("not running"), "{e}")
            }
            other => panic!("an empty slot: {other:?}"),
        }
        let text = metrics(servers.metrics_address).await;
        assert_eq!(sample(&text, "kroute_bgp_speaker_running"), Some(0.0));
        assert!(!text.contains("kroute_bgp_peer_up{"), "{text}");
        let status = fetch_status(&socket).await.unwrap();
        assert!(!status.bgp.expect("BGP enabled").running);

        drop(servers);
        agent.shutdown(false).await.unwrap();
        remote.shutdown(false).await.unwrap();
    }

    fn status_text_has_bgp(text: &str) -> bool {
        text.lines()
            .any(|l| l.starts_with("bgp:") && l.contains("1/1 peers established"))
    }

    #[tokio::test]
    async fn with_bgp_disabled_the_bgp_requests_say_so_and_the_status_has_no_bgp() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            health_address: "127.0.0.1:0".parse().unwrap(),
            metrics_address: "127.0.0.1:0".parse().unwrap(),
            admin_socket: dir.path().join("kroute.sock"),
            ..Config::default()
        };
        let telemetry = Arc::new(Telemetry::new(SystemTime::now(), Duration::from_secs(30)));
        let servers = kroute::serve::spawn_side_servers(&config, telemetry, SpeakerSlot::new())
            .await
            .unwrap();
        for request in [BgpRequest::Peers, BgpRequest::Routes] {
            match fetch_bgp::<serde_json::Value>(&servers.admin_socket, &request).await {
                Err(e @ ServeError::BgpNotRunning { .. }) => {
                    assert!(e.to_string().contains("bgp.enabled"), "{e}")
                }
                other => panic!("{request:?} with BGP disabled: {other:?}"),
            }
        }
        let status = fetch_status(&servers.admin_socket).await.unwrap();
        assert_eq!(status.bgp, None);
    }
}
