//! Interop smoke test: kroute's speaker in a node namespace, a real gobgpd
//! (GoBGP 3.10) in a peer namespace over a veth. The session comes up, GoBGP
//! holds the announced IPv4 and IPv6 routes with the expected next hop, AS
//! path and communities, a withdrawal reaches it, and a route GoBGP
//! announces reaches kroute.

mod support;

use std::net::IpAddr;
use std::time::Duration;

use kroute::bgp::{OriginatedRoute, PeerSpec, RouteAttrs, Speaker, SpeakerConfig, SpeakerHandle};
use serde_json::Value;
use support::netns::{NetNs, veth};
use support::ns_process::NsProcess;
use support::ns_thread;
use support::wait::wait_until;

const NODE_IP: &str = "10.99.0.1";
const PEER_IP: &str = "10.99.0.2";
const NODE_IP6: &str = "fd00:99::1";
const LOCAL_ASN: u32 = 64512;
const PEER_ASN: u32 = 65001;
const API: &str = "127.0.0.1:50551";

fn gobgpd_config(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("gobgpd.toml");
    let conf = format!(
        r#"[global.config]
  as = {PEER_ASN}
  router-id = "{PEER_IP}"
  local-address-list = ["{PEER_IP}"]

[[neighbors]]
  [neighbors.config]
    neighbor-address = "{NODE_IP}"
    peer-as = {LOCAL_ASN}
  [neighbors.timers.config]
    connect-retry = 1
    hold-time = 9
    keepalive-interval = 3
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
"#
    );
    std::fs::write(&path, conf).expect("write gobgpd config");
    path
}

/// `gobgp ARGS -j` in the peer namespace, parsed.
fn gobgp(peer: &NetNs, args: &[&str]) -> Value {
    let (host, port) = API.split_once(':').unwrap_or_default();
    let mut argv = vec!["gobgp", "-u", host, "-p", port];
    argv.extend_from_slice(args);
    argv.push("-j");
    let out = peer.exec_unchecked(&argv);
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// The paths GoBGP holds for `prefix` (its `global rib` JSON: prefix →
/// list of paths, each with `attrs` of `{"type": code, ...}`).
fn paths(peer: &NetNs, family: &str, prefix: &str) -> Vec<Value> {
    gobgp(peer, &["global", "rib", "-a", family])
        .get(prefix)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn attr(path: &Value, code: u64) -> Option<&Value> {
    path.get("attrs")?
        .as_array()?
        .iter()
        .find(|a| a.get("type").and_then(Value::as_u64) == Some(code))
}

fn route(prefix: &str) -> OriginatedRoute {
    OriginatedRoute {
        prefix: prefix.parse().expect("prefix"),
    }
}

/// The speaker on a runtime whose threads live in the node namespace.
fn start_speaker(node: &NetNs) -> (SpeakerHandle, std::thread::JoinHandle<()>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = ns_thread::spawn(&node.path(), "speaker", move || {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let config = SpeakerConfig {
            asn: LOCAL_ASN,
            router_id: NODE_IP.parse().expect("router id"),
            listen: vec![format!("{NODE_IP}:179").parse().expect("listen")],
            graceful_restart: None,
            connect_retry: Duration::from_secs(2),
            wait_for_routes: false,
        };
        let speaker = rt.block_on(Speaker::start(config)).expect("speaker starts");
        let handle = speaker.handle();
        tx.send(handle.clone()).expect("hand over");
        // Runs until the test shuts the speaker down.
        rt.block_on(async move {
            while handle.peers().await.is_ok() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
    });
    (rx.recv().expect("speaker handle"), thread)
}

#[test]
fn gobgp_holds_what_kroute_announces_and_kroute_hears_gobgp() {
    if !support::kernel_tier_available(&["ip", "gobgpd", "gobgp"]) {
        return;
    }
    let node = NetNs::new("bgpn");
    let peer = NetNs::new("bgpp");
    veth(
        &node,
        "n0",
        &format!("{NODE_IP}/24"),
        &peer,
        "p0",
        &format!("{PEER_IP}/24"),
    );
    node.ip(&[
        "-6",
        "addr",
        "add",
        &format!("{NODE_IP6}/64"),
        "dev",
        "n0",
        "nodad",
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = gobgpd_config(dir.path());
    let mut gobgpd = NsProcess::spawn(
        &peer,
        "gobgpd",
        &[
            "gobgpd",
            "-f",
            conf.to_str().unwrap_or_default(),
            "--api-hosts",
            API,
            "--pprof-disable",
            "-p",
        ],
    );

    let (speaker, thread) = start_speaker(&node);
    let tagged = RouteAttrs {
        communities: vec![(LOCAL_ASN << 16) | 100],
        ..RouteAttrs::default()
    };
    let v6 = RouteAttrs {
        next_hop: Some(NODE_IP6.parse().expect("v6")),
        ..RouteAttrs::default()
    };
    speaker
        .originate(vec![
            (route("10.96.0.10/32"), tagged),
            (route("10.244.1.0/24"), RouteAttrs::default()),
            (route("2001:db8:96::10/128"), v6),
        ])
        .blocking()
        .expect("originate");
    let mut spec = PeerSpec::new(PEER_IP.parse().expect("peer"), PEER_ASN);
    spec.local_address = Some(NODE_IP.parse().expect("node"));
    speaker.set_peer(spec).blocking().expect("peer");

    let check = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until("GoBGP holds 10.96.0.10/32", || {
            !paths(&peer, "ipv4", "10.96.0.10/32").is_empty()
        });
        let p = &paths(&peer, "ipv4", "10.96.0.10/32")[0];
        let next_hop = attr(p, 3)
            .and_then(|a| a.get("nexthop"))
            .and_then(Value::as_str);
        assert_eq!(next_hop, Some(NODE_IP), "{p}");
        let asns = attr(p, 2)
            .and_then(|a| a.pointer("/as_paths/0/asns"))
            .cloned();
        assert_eq!(asns, Some(serde_json::json!([LOCAL_ASN])), "{p}");
        let communities = attr(p, 8).and_then(|a| a.get("communities")).cloned();
        assert_eq!(
            communities,
            Some(serde_json::json!([(LOCAL_ASN << 16) | 100])),
            "{p}"
        );
        wait_until("GoBGP holds 10.244.1.0/24", || {
            !paths(&peer, "ipv4", "10.244.1.0/24").is_empty()
        });
        wait_until("GoBGP holds the IPv6 route", || {
            !paths(&peer, "ipv6", "2001:db8:96::10/128").is_empty()
        });
        let p6 = &paths(&peer, "ipv6", "2001:db8:96::10/128")[0];
        assert!(
            p6.to_string().contains(NODE_IP6),
            "IPv6 next hop in MP_REACH_NLRI: {p6}"
        );

        speaker
            .withdraw(vec![route("10.96.0.10/32")])
            .blocking()
            .expect("withdraw");
        wait_until("GoBGP drops the withdrawn route", || {
            paths(&peer, "ipv4", "10.96.0.10/32").is_empty()
        });
        assert!(
            !paths(&peer, "ipv4", "10.244.1.0/24").is_empty(),
            "the other route stays"
        );

        peer.exec(&[
            "gobgp",
            "-u",
            "127.0.0.1",
            "-p",
            "50551",
            "global",
            "rib",
            "add",
            "10.55.0.0/24",
        ]);
        let from: IpAddr = PEER_IP.parse().expect("peer");
        wait_until("kroute receives GoBGP's route", || {
            speaker
                .peer_routes(from)
                .blocking()
                .ok()
                .flatten()
                .is_some_and(|r| {
                    r.received
                        .iter()
                        .any(|(p, _)| p.to_string() == "10.55.0.0/24")
                })
        });
    }));
    let _ = speaker.shutdown(false).blocking();
    let _ = thread.join();
    gobgpd.stop();
    if let Err(panic) = check {
        eprintln!("gobgpd log:\n{}", gobgpd.log());
        std::panic::resume_unwind(panic);
    }
}
