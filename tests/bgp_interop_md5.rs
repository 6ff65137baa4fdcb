//! TCP MD5 (RFC 2385) with FRR and the real binary: `kroute run` in a node
//! namespace with two global peers, FRR's IPv4 and IPv6 addresses, each
//! with a `passwordFile`; FRR requires one password on both sessions.
//! - the IPv4 file holds FRR's password: that session comes up and FRR
//!   holds the Service's IPv4 route;
//! - the IPv6 file holds another one: that session never comes up (the
//!   kernel drops every segment whose signature does not match);
//! - the IPv6 file corrected: kroute reads it at its next full sync and the
//!   session comes up, kroute not restarted;
//! - the IPv4 file changed to a wrong password: that session goes down and
//!   stays down while the other stays up;
//! - kroute's log never shows either password.

mod support;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use ipnet::IpNet;
use support::bgp::{Link, normalized, table_differs};
use support::bgp_daemons::{HeldPath, Kind, PeerDaemon};
use support::kroute_process::{Kroute, write_config_with_bgp};
use support::manifests::{ManifestDir, ServicePort, ServiceSpec, node_yaml_dual};
use support::servers::Transport;
use support::wait::{FAILURE_BOUND, wait_for};

const NODE: &str = "node-a";
const NODE_ASN: u32 = 64512;
const PEER_ASN: u32 = 65030;
const PASSWORD: &str = "kroute-md5-Secret";
const WRONG: &str = "not-the-password";
const LINK: Link = Link {
    node_ip: "10.93.0.1",
    peer_ip: "10.93.0.2",
    node_ip6: "fd00:93::1",
    peer_ip6: "fd00:93::2",
};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

/// kroute's config: both peers with a password file each, a full sync every
/// second (password files are read at full syncs).
fn kroute_config(dir: &ManifestDir, v4_file: &Path, v6_file: &Path) -> std::path::PathBuf {
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
    - address: {peer4}
      asn: {PEER_ASN}
      passwordFile: {v4}
    - address: {peer6}
      asn: {PEER_ASN}
      passwordFile: {v6}
",
        peer4 = LINK.peer_ip,
        peer6 = LINK.peer_ip6,
        v4 = v4_file.display(),
        v6 = v6_file.display(),
    );
    write_config_with_bgp(&dir.scratch(), NODE, &dir.path(), "1s", &bgp)
}

/// The eBGP path FRR holds for `prefix` from the node's address `from`.
fn held(from: &str, prefix: &str) -> BTreeMap<IpNet, HeldPath> {
    let path = HeldPath {
        next_hop: ip(from),
        as_path: vec![NODE_ASN],
        communities: Vec::new(),
        local_pref: None,
        stale: false,
    };
    BTreeMap::from([(prefix.parse().expect("prefix"), path)])
}

fn context(d: &dyn PeerDaemon, kroute: &Kroute) -> String {
    format!(
        "--- FRR sessions ---\n{}\n--- FRR log ---\n{}\n--- kroute ---\n{}",
        d.sessions(),
        d.log(),
        kroute.log()
    )
}

fn expect_table(d: &dyn PeerDaemon, kroute: &Kroute, from: &str, prefix: &str, what: &str) {
    let want = held(from, prefix);
    if let Some(last) = table_differs(d, ip(from), &want, false) {
        panic!(
            "{what}: FRR holds from {from}\n{last:#?}\nwanted {:#?}\n{}",
            normalized(&want, false),
            context(d, kroute)
        );
    }
}

/// The session with `from` stays down for `time` (checked every 100 ms).
fn expect_down(d: &dyn PeerDaemon, kroute: &Kroute, from: &str, time: Duration, what: &str) {
    let up = wait_for(time, || d.established(ip(from)).then_some(()));
    assert!(
        up.is_none(),
        "{what}: the session with {from} came up\n{}",
        context(d, kroute)
    );
}

#[test]
fn frr_sessions_come_up_with_the_right_md5_password_and_not_with_a_wrong_one() {
    if !Kind::Frr.available() || !support::kernel_tier_available(&["nft"]) {
        return;
    }
    let (node_ns, peer_ns) = LINK.namespaces("bgpmd5");
    let dir = ManifestDir::new();
    dir.write(
        "node.yaml",
        &node_yaml_dual(
            NODE,
            &[ip(LINK.node_ip), ip(LINK.node_ip6)],
            &["10.244.1.0/24", "fd00:244:1::/64"],
        ),
    );
    let ports = vec![ServicePort::new("tcp", Transport::Tcp, 80, 8080)];
    let ips = [ip("10.96.0.10"), ip("fd00:96::10")];
    dir.write("web.yaml", &ServiceSpec::new("web", &ips, ports).to_yaml());
    let (v4_file, v6_file) = (dir.scratch().join("pw4"), dir.scratch().join("pw6"));
    std::fs::write(&v4_file, format!("{PASSWORD}\n")).expect("write password");
    std::fs::write(&v6_file, WRONG).expect("write password");

    let config = LINK.dual_session_daemon(PEER_ASN, NODE_ASN, Some(PASSWORD));
    let daemon = Kind::Frr.start(&peer_ns, &config);
    let d = daemon.as_ref();
    let kroute = Kroute::start(&node_ns, &kroute_config(&dir, &v4_file, &v6_file));

    expect_table(d, &kroute, LINK.node_ip, "10.96.0.10/32", "right password");
    // Both sides retry every second or faster: a few seconds of attempts.
    let attempts = Duration::from_secs(5);
    expect_down(d, &kroute, LINK.node_ip6, attempts, "wrong password");

    std::fs::write(&v6_file, PASSWORD).expect("write password");
    expect_table(
        d,
        &kroute,
        LINK.node_ip6,
        "fd00:96::10/128",
        "password corrected, kroute not restarted",
    );

    std::fs::write(&v4_file, WRONG).expect("write password");
    let down = wait_for(FAILURE_BOUND, || {
        (!d.established(ip(LINK.node_ip))).then_some(())
    });
    assert!(
        down.is_some(),
        "a changed password keeps the session\n{}",
        context(d, &kroute)
    );
    expect_down(
        d,
        &kroute,
        LINK.node_ip,
        attempts,
        "changed to a wrong password",
    );
    assert!(
        d.established(ip(LINK.node_ip6)),
        "the other session stays up"
    );

    let log = kroute.log();
    assert!(
        !log.contains(PASSWORD) && !log.contains(WRONG),
        "a password in kroute's log:\n{log}"
    );
    kroute.stop();
}
