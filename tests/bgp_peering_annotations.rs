//! Peers from annotations with the real binary: `kroute run` in a node
//! namespace (manifests directory, `bgp.enabled`, one global peer: FRR's
//! IPv4 address) and FRR in the peer namespace, configured for two
//! sessions (kroute's IPv4 and IPv6 addresses). The IPv6 session exists
//! only while an annotation names FRR's IPv6 address, and carries the IPv6
//! routes:
//! - named only in `web`'s `kroute.io/bgp.peers`: that peer gets `web`'s
//!   route and not `db`'s; the global peer gets both Services' IPv4 routes;
//! - `kroute.io/bgp.peers-only: "true"` on `web`: the global peer no longer
//!   gets `web`'s route, its own peer still does;
//! - the annotation removed: the session is closed;
//! - the same address added to the Node's `kube-router.io/peers`: the
//!   session comes up without restarting kroute and gets every route.

mod support;

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use support::bgp::{Link, normalized, table_differs};
use support::bgp_daemons::{HeldPath, Kind, PeerDaemon};
use support::kroute_process::{Kroute, write_config_with_bgp};
use support::manifests::{ManifestDir, ServicePort, ServiceSpec, node_yaml_dual};
use support::servers::Transport;
use support::wait::{FAILURE_BOUND, wait_for};

const NODE: &str = "node-a";
const NODE_ASN: u32 = 64512;
const PEER_ASN: u32 = 65020;
const LINK: Link = Link {
    node_ip: "10.95.0.1",
    peer_ip: "10.95.0.2",
    node_ip6: "fd00:95::1",
    peer_ip6: "fd00:95::2",
};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

/// A dual-stack ClusterIP Service `10.96.0.<n>` / `fd00:96::<n>`.
fn service(name: &str, n: u8, annotations: &[(&str, String)]) -> String {
    let ports = vec![ServicePort::new("tcp", Transport::Tcp, 80, 8080)];
    let ips = [ip(&format!("10.96.0.{n}")), ip(&format!("fd00:96::{n}"))];
    let mut svc = ServiceSpec::new(name, &ips, ports);
    svc.annotations = (annotations.iter())
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    svc.to_yaml()
}

/// `kroute.io/bgp.peers` naming FRR's IPv6 address.
fn own_peer() -> (&'static str, String) {
    (
        "kroute.io/bgp.peers",
        format!("[{{address: \"{}\", asn: {PEER_ASN}}}]", LINK.peer_ip6),
    )
}

fn node(peers: bool) -> String {
    let yaml = node_yaml_dual(
        NODE,
        &[ip(LINK.node_ip), ip(LINK.node_ip6)],
        &["10.244.1.0/24", "fd00:244:1::/64"],
    );
    if !peers {
        return yaml;
    }
    let annotation = format!(
        "  annotations:\n    kube-router.io/peers: \"[{{remoteip: '{}', remoteasn: {PEER_ASN}}}]\"\n",
        LINK.peer_ip6
    );
    let name = format!("  name: {NODE}\n");
    yaml.replacen(&name, &format!("{name}{annotation}"), 1)
}

fn kroute_config(dir: &ManifestDir) -> std::path::PathBuf {
    let bgp = format!(
        "bgp:
  enabled: true
  asn: {NODE_ASN}
  advertise:
    clusterIP: true
    podCIDR: false
  gracefulRestart:
    enabled: false
  peers:
    - address: {peer}
      asn: {PEER_ASN}
",
        peer = LINK.peer_ip,
    );
    write_config_with_bgp(&dir.scratch(), NODE, &dir.path(), "30s", &bgp)
}

/// eBGP paths from the node's address over the session of `v6`.
fn held(v6: bool, prefixes: &[&str]) -> BTreeMap<IpNet, HeldPath> {
    let next_hop = ip(if v6 { LINK.node_ip6 } else { LINK.node_ip });
    (prefixes.iter())
        .map(|p| {
            let path = HeldPath {
                next_hop,
                as_path: vec![NODE_ASN],
                communities: Vec::new(),
                local_pref: None,
                stale: false,
            };
            (p.parse().expect("prefix"), path)
        })
        .collect()
}

/// FRR holds exactly `v4` from the global session and `v6` from the
/// annotation's one.
fn expect(d: &dyn PeerDaemon, kroute: &Kroute, v4: &[&str], v6: &[&str], what: &str) {
    for (is_v6, neighbor, want) in [(false, LINK.node_ip, v4), (true, LINK.node_ip6, v6)] {
        let want = held(is_v6, want);
        if let Some(last) = table_differs(d, ip(neighbor), &want, false) {
            panic!(
                "session with {neighbor}: {what}:\nheld {last:#?}\nwanted {:#?}\n--- FRR sessions ---\n{}\n--- kroute ---\n{}",
                normalized(&want, false),
                d.sessions(),
                kroute.log(),
            );
        }
    }
}

#[test]
fn frr_gets_service_and_node_annotation_peers_live() {
    if !Kind::Frr.available() || !support::kernel_tier_available(&["nft"]) {
        return;
    }
    let (node_ns, peer_ns) = LINK.namespaces("bgpann");
    let dir = ManifestDir::new();
    dir.write("node.yaml", &node(false));
    dir.write("web.yaml", &service("web", 10, &[own_peer()]));
    dir.write("db.yaml", &service("db", 20, &[]));
    let config = LINK.dual_session_daemon(PEER_ASN, NODE_ASN, None);
    let daemon = Kind::Frr.start(&peer_ns, &config);
    let d = daemon.as_ref();
    let kroute = Kroute::start(&node_ns, &kroute_config(&dir));
    let both_v4 = ["10.96.0.10/32", "10.96.0.20/32"];

    expect(
        d,
        &kroute,
        &both_v4,
        &["fd00:96::10/128"],
        "a peer named only by web gets web's route, not db's",
    );

    let only = ("kroute.io/bgp.peers-only", "true".to_string());
    dir.write("web.yaml", &service("web", 10, &[own_peer(), only]));
    expect(
        d,
        &kroute,
        &["10.96.0.20/32"],
        &["fd00:96::10/128"],
        "peers-only: the global peer no longer gets web",
    );

    dir.write("web.yaml", &service("web", 10, &[]));
    expect(
        d,
        &kroute,
        &both_v4,
        &[],
        "the annotation removed: no routes over its session",
    );
    let closed = wait_for(FAILURE_BOUND, || {
        (!d.established(ip(LINK.node_ip6))).then_some(())
    });
    assert!(closed.is_some(), "session still up:\n{}", d.sessions());

    dir.write("node.yaml", &node(true));
    expect(
        d,
        &kroute,
        &both_v4,
        &["fd00:96::10/128", "fd00:96::20/128"],
        "a peer added to the Node's annotation comes up, kroute not restarted",
    );
    kroute.stop();
}
