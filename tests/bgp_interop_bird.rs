//! Interop smoke test: kroute's speaker in a node namespace, a real BIRD
//! (2.0) in a peer namespace over a veth. BIRD holds the announced IPv4 and
//! IPv6 routes with the expected next hop, AS path and community, a
//! withdrawal reaches it, and a route BIRD announces reaches kroute.

mod support;

use std::path::Path;

use support::bgp::{Link, NsSpeaker, POD_CIDR, TAGGED, V6_ROUTE, route, speaker_config};
use support::netns::NetNs;
use support::ns_process::NsProcess;
use support::wait::wait_until;

const NODE_IP: &str = "10.97.0.1";
const PEER_IP: &str = "10.97.0.2";
const NODE_IP6: &str = "fd00:97::1";
const PEER_IP6: &str = "fd00:97::2";
const LINK: Link = Link {
    node_ip: NODE_IP,
    peer_ip: PEER_IP,
    node_ip6: NODE_IP6,
};
const LOCAL_ASN: u32 = 64512;
const PEER_ASN: u32 = 65003;
/// The route BIRD announces.
const BIRDS: &str = "10.77.0.0/24";

fn bird_config(dir: &Path) -> String {
    let path = dir.join("bird.conf");
    let conf = format!(
        "router id {PEER_IP};
protocol device {{ scan time 1; }}
protocol static {{
  ipv4;
  route {BIRDS} blackhole;
}}
protocol bgp kroute {{
  local {PEER_IP} as {PEER_ASN};
  neighbor {NODE_IP} as {LOCAL_ASN};
  connect retry time 1;
  ipv4 {{ import all; export where net = {BIRDS}; }};
  ipv6 {{ import all; export none; }};
}}
"
    );
    std::fs::write(&path, conf).expect("write bird config");
    path.to_string_lossy().into_owned()
}

/// `birdc show route PREFIX all` in the peer namespace: BIRD's text, empty
/// when it does not hold the prefix.
fn show_route(peer: &NetNs, socket: &str, prefix: &str) -> String {
    let out = peer.exec_unchecked(&["birdc", "-s", socket, "show", "route", prefix, "all"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if text.contains(prefix) && text.contains("BGP.") {
        text
    } else {
        String::new()
    }
}

#[test]
fn bird_holds_what_kroute_announces_and_kroute_hears_bird() {
    if !support::kernel_tier_available(&["ip", "bird", "birdc"]) {
        return;
    }
    let (node, peer) = LINK.namespaces("brd");
    peer.ip(&[
        "-6",
        "addr",
        "add",
        &format!("{PEER_IP6}/64"),
        "dev",
        "p0",
        "nodad",
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = bird_config(dir.path());
    let socket = dir.path().join("bird.ctl").to_string_lossy().into_owned();
    let pid = dir.path().join("bird.pid").to_string_lossy().into_owned();
    let mut bird = NsProcess::spawn(
        &peer,
        "bird",
        &["bird", "-f", "-c", &conf, "-s", &socket, "-P", &pid],
    );

    let kroute = NsSpeaker::start(&node, speaker_config(LOCAL_ASN, NODE_IP));
    let speaker = kroute.handle.clone();
    LINK.announce(&speaker, LOCAL_ASN, PEER_ASN);

    let check = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until("BIRD holds the tagged /32", || {
            !show_route(&peer, &socket, TAGGED).is_empty()
        });
        let r = show_route(&peer, &socket, TAGGED);
        assert!(r.contains(&format!("BGP.next_hop: {NODE_IP}")), "{r}");
        assert!(r.contains(&format!("BGP.as_path: {LOCAL_ASN}\n")), "{r}");
        assert!(
            r.contains(&format!("BGP.community: ({LOCAL_ASN},100)")),
            "{r}"
        );
        wait_until("BIRD holds the pod CIDR", || {
            !show_route(&peer, &socket, POD_CIDR).is_empty()
        });
        wait_until("BIRD holds the IPv6 route", || {
            !show_route(&peer, &socket, V6_ROUTE).is_empty()
        });
        let r6 = show_route(&peer, &socket, V6_ROUTE);
        assert!(r6.contains(&format!("BGP.next_hop: {NODE_IP6}")), "{r6}");

        speaker
            .withdraw(vec![route(TAGGED)])
            .blocking()
            .expect("withdraw");
        wait_until("BIRD drops the withdrawn route", || {
            show_route(&peer, &socket, TAGGED).is_empty()
        });
        assert!(
            !show_route(&peer, &socket, POD_CIDR).is_empty(),
            "the other route stays"
        );

        wait_until("kroute receives BIRD's route", || {
            LINK.received(&speaker, BIRDS)
        });
    }));
    kroute.stop(false);
    bird.stop();
    if let Err(panic) = check {
        eprintln!("bird log:\n{}", bird.log());
        std::panic::resume_unwind(panic);
    }
}
