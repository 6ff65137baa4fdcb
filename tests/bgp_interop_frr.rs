//! Interop smoke test: kroute's speaker in a node namespace, a real FRR
//! bgpd (8.4) in a peer namespace over a veth. FRR holds the announced IPv4
//! and IPv6 routes with the expected next hop, AS path and communities, a
//! withdrawal reaches it, a route FRR announces reaches kroute, and a
//! graceful stop (graceful restart, no NOTIFICATION) leaves FRR holding
//! kroute's routes as stale.

mod support;

use std::path::Path;

use kroute::bgp::open::GracefulRestart;
use serde_json::Value;
use support::bgp::{Link, NsSpeaker, POD_CIDR, TAGGED, V6_ROUTE, route, speaker_config};
use support::ns_process::NsProcess;
use support::wait::wait_until;

const NODE_IP: &str = "10.98.0.1";
const PEER_IP: &str = "10.98.0.2";
const NODE_IP6: &str = "fd00:98::1";
const LINK: Link = Link {
    node_ip: NODE_IP,
    peer_ip: PEER_IP,
    node_ip6: NODE_IP6,
};
const LOCAL_ASN: u32 = 64512;
const PEER_ASN: u32 = 65002;

fn bgpd_config(dir: &Path) -> String {
    let path = dir.join("bgpd.conf");
    let conf = format!(
        "frr defaults traditional
hostname peer
router bgp {PEER_ASN}
 bgp router-id {PEER_IP}
 no bgp ebgp-requires-policy
 no bgp network import-check
 bgp graceful-restart
 neighbor {NODE_IP} remote-as {LOCAL_ASN}
 neighbor {NODE_IP} timers connect 1
 address-family ipv4 unicast
  network 10.66.0.0/24
 exit-address-family
 address-family ipv6 unicast
  neighbor {NODE_IP} activate
 exit-address-family
"
    );
    std::fs::write(&path, conf).expect("write bgpd config");
    path.to_string_lossy().into_owned()
}

/// `vtysh -c COMMAND` against this test's bgpd, parsed.
fn vtysh(dir: &Path, command: &str) -> Value {
    let out = std::process::Command::new("vtysh")
        .args(["--vty_socket", &dir.to_string_lossy(), "-c", command])
        .output()
        .expect("run vtysh");
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// FRR's paths for one prefix (`show bgp <afi> unicast <prefix> json`).
fn paths(dir: &Path, afi: &str, prefix: &str) -> Vec<Value> {
    vtysh(dir, &format!("show bgp {afi} unicast {prefix} json"))
        .get("paths")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn string_at<'v>(v: &'v Value, pointer: &str) -> Option<&'v str> {
    v.pointer(pointer).and_then(Value::as_str)
}

#[test]
fn frr_holds_what_kroute_announces_and_keeps_it_over_a_graceful_stop() {
    if !support::kernel_tier_available(&["ip", "vtysh"]) || !Path::new("/usr/lib/frr/bgpd").exists()
    {
        if std::env::var_os("CI").is_some() {
            panic!("FRR's bgpd is missing (CI is set: a skipped tier is a failure)");
        }
        return;
    }
    let (node, peer) = LINK.namespaces("frr");
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = bgpd_config(dir.path());
    let socket_dir = dir.path().to_string_lossy().into_owned();
    let pid = dir.path().join("bgpd.pid").to_string_lossy().into_owned();
    let mut bgpd = NsProcess::spawn(
        &peer,
        "bgpd",
        &[
            "/usr/lib/frr/bgpd",
            "-f",
            &conf,
            "-Z",
            "-S",
            "--vty_socket",
            &socket_dir,
            "-i",
            &pid,
            "--log",
            "stdout",
        ],
    );

    let mut config = speaker_config(LOCAL_ASN, NODE_IP);
    config.graceful_restart = Some(GracefulRestart {
        restart_time: 120,
        restarting: false,
    });
    let kroute = NsSpeaker::start(&node, config);
    let speaker = kroute.handle.clone();
    LINK.announce(&speaker, LOCAL_ASN, PEER_ASN);

    let d = dir.path();
    let check = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until("FRR holds 10.96.0.10/32", || {
            !paths(d, "ipv4", TAGGED).is_empty()
        });
        let p = &paths(d, "ipv4", TAGGED)[0];
        assert_eq!(string_at(p, "/nexthops/0/ip"), Some(NODE_IP), "{p}");
        assert_eq!(string_at(p, "/aspath/string"), Some("64512"), "{p}");
        assert_eq!(string_at(p, "/community/string"), Some("64512:100"), "{p}");
        wait_until("FRR holds 10.244.1.0/24", || {
            !paths(d, "ipv4", POD_CIDR).is_empty()
        });
        wait_until("FRR holds the IPv6 route", || {
            !paths(d, "ipv6", V6_ROUTE).is_empty()
        });
        let p6 = &paths(d, "ipv6", V6_ROUTE)[0];
        assert_eq!(string_at(p6, "/nexthops/0/ip"), Some(NODE_IP6), "{p6}");

        speaker
            .withdraw(vec![route(TAGGED)])
            .blocking()
            .expect("withdraw");
        wait_until("FRR drops the withdrawn route", || {
            paths(d, "ipv4", TAGGED).is_empty()
        });

        wait_until("kroute receives FRR's route", || {
            LINK.received(&speaker, "10.66.0.0/24")
        });
    }));
    let check = check.and_then(|()| {
        kroute.stop(true);
        std::panic::catch_unwind(|| {
            wait_until("FRR marks kroute's route stale", || {
                paths(d, "ipv4", POD_CIDR)
                    .first()
                    .is_some_and(|p| p.get("stale").and_then(Value::as_bool) == Some(true))
            });
        })
    });
    bgpd.stop();
    if let Err(panic) = check {
        eprintln!("bgpd log:\n{}", bgpd.log());
        std::panic::resume_unwind(panic);
    }
}
