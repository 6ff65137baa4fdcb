//! Interop smoke test: kroute's speaker in a node namespace, a real gobgpd
//! (GoBGP 3.10) in a peer namespace over a veth. The session comes up, GoBGP
//! holds the announced IPv4 and IPv6 routes with the expected next hop, AS
//! path and communities, a withdrawal reaches it, and a route GoBGP
//! announces reaches kroute.

mod support;

use serde_json::Value;
use support::bgp::{Link, NsSpeaker, POD_CIDR, TAGGED, V6_ROUTE, route, speaker_config};
use support::netns::NetNs;
use support::ns_process::NsProcess;
use support::wait::wait_until;

const NODE_IP: &str = "10.99.0.1";
const PEER_IP: &str = "10.99.0.2";
const NODE_IP6: &str = "fd00:99::1";
const LINK: Link = Link {
    node_ip: NODE_IP,
    peer_ip: PEER_IP,
    node_ip6: NODE_IP6,
};
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

#[test]
fn gobgp_holds_what_kroute_announces_and_kroute_hears_gobgp() {
    if !support::kernel_tier_available(&["ip", "gobgpd", "gobgp"]) {
        return;
    }
    let (node, peer) = LINK.namespaces("bgp");
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

    let kroute = NsSpeaker::start(&node, speaker_config(LOCAL_ASN, NODE_IP));
    let speaker = kroute.handle.clone();
    LINK.announce(&speaker, LOCAL_ASN, PEER_ASN);

    let check = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until("GoBGP holds 10.96.0.10/32", || {
            !paths(&peer, "ipv4", TAGGED).is_empty()
        });
        let p = &paths(&peer, "ipv4", TAGGED)[0];
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
            !paths(&peer, "ipv4", POD_CIDR).is_empty()
        });
        wait_until("GoBGP holds the IPv6 route", || {
            !paths(&peer, "ipv6", V6_ROUTE).is_empty()
        });
        let p6 = &paths(&peer, "ipv6", V6_ROUTE)[0];
        assert!(
            p6.to_string().contains(NODE_IP6),
            "IPv6 next hop in MP_REACH_NLRI: {p6}"
        );

        speaker
            .withdraw(vec![route(TAGGED)])
            .blocking()
            .expect("withdraw");
        wait_until("GoBGP drops the withdrawn route", || {
            paths(&peer, "ipv4", TAGGED).is_empty()
        });
        assert!(
            !paths(&peer, "ipv4", POD_CIDR).is_empty(),
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
        wait_until("kroute receives GoBGP's route", || {
            LINK.received(&speaker, "10.55.0.0/24")
        });
    }));
    kroute.stop(false);
    gobgpd.stop();
    if let Err(panic) = check {
        eprintln!("gobgpd log:\n{}", gobgpd.log());
        std::panic::resume_unwind(panic);
    }
}
