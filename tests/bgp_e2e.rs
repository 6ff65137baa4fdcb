//! End to end with the real binary: `kroute run` in a node namespace with a
//! manifests directory and `bgp.enabled`, two global peers in its config
//! (`bgp.peers`: the daemon's IPv4 and IPv6 link addresses), and a real
//! daemon in the peer namespace, one case per daemon and session type.
//!
//! Each daemon holds, per session, exactly: the ClusterIPs, external IPs and
//! LB IPs of the Services as /32 over IPv4 and /128 over IPv6 (a dual-stack
//! Service gives both), and the Node's pod CIDR of that family; next hop
//! the node's address on that session; communities from
//! `kroute.io/bgp.communities` plus `kube-router.io/node.bgp.communities`;
//! LOCAL_PREF `kroute.io/bgp.local-pref` (100 without it) on iBGP; on eBGP
//! the AS path the node's ASN with `kube-router.io/path-prepend.*` applied.
//! A `kube-router.io/service.advertise.clusterip: "false"` Service's
//! ClusterIP is not announced (its external IP is). Deleting a Service's
//! manifest withdraws its routes; an `externalTrafficPolicy: Local` Service
//! loses its routes when its last ready local endpoint goes and gets them
//! back with it. Under `bgp.gracefulRestart`, SIGTERM leaves FRR holding
//! every route stale; a Service deleted meanwhile is gone after the
//! restarted kroute's End-of-RIB, and the rest is refreshed (not stale).

mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use ipnet::IpNet;
use support::bgp::{Link, normalized, table_differs};
use support::bgp_daemons::{DaemonConfig, HeldPath, Kind, PeerDaemon, community};
use support::kroute_process::{Kroute, write_config_with_bgp};
use support::manifests::{
    IpFamily, LbIngress, ManifestDir, ServicePort, ServiceSpec, SliceEndpoint, node_yaml_dual,
    slice_yaml,
};
use support::servers::Transport;

const NODE: &str = "node-a";
const NODE_ASN: u32 = 64512;
const LINK: Link = Link {
    node_ip: "10.94.0.1",
    peer_ip: "10.94.0.2",
    node_ip6: "fd00:94::1",
    peer_ip6: "fd00:94::2",
};
/// `kube-router.io/node.bgp.communities` on the Node.
const NODE_COMMUNITY: u32 = (NODE_ASN << 16) | 900;
/// `kroute.io/bgp.communities` and `kroute.io/bgp.local-pref` on `web`.
const WEB_COMMUNITY: u32 = (NODE_ASN << 16) | 100;
const WEB_LOCAL_PREF: u32 = 300;
/// LOCAL_PREF on iBGP without the annotation.
const DEFAULT_LOCAL_PREF: u32 = 100;

/// One end-to-end case.
struct Case {
    kind: Kind,
    peer_asn: u32,
    /// The Node asks for `path-prepend.as: 64512`, `repeat-n: 2` (eBGP
    /// cases only: on iBGP the peer would see its own AS and drop the path).
    prepend: bool,
    /// `bgp.gracefulRestart.enabled`, and the SIGTERM-and-restart steps.
    graceful_restart: bool,
    /// Namespace prefix.
    prefix: &'static str,
}

impl Case {
    fn ibgp(&self) -> bool {
        self.peer_asn == NODE_ASN
    }
}

/// What the manifests hold now.
#[derive(Clone, Copy)]
struct State {
    web: bool,
    quiet: bool,
    /// `local`'s endpoint on this node is there (ready).
    local_ready: bool,
}

/// One announced route: prefix, communities, LOCAL_PREF annotation.
type Announced = (&'static str, Vec<u32>, Option<u32>);

impl State {
    /// What kroute announces over a session of family `v6`.
    fn routes(self, v6: bool) -> Vec<Announced> {
        let node = || vec![NODE_COMMUNITY];
        let web = || Some(WEB_LOCAL_PREF);
        let web_comms = || vec![WEB_COMMUNITY, NODE_COMMUNITY];
        let mut out: Vec<Announced> = Vec::new();
        if v6 {
            out.push(("fd00:244:1::/64", node(), None));
            if self.web {
                for p in [
                    "fd00:96::10/128",
                    "2001:db8:e::10/128",
                    "2001:db8:1b::10/128",
                ] {
                    out.push((p, web_comms(), web()));
                }
            }
            return out;
        }
        out.push(("10.244.1.0/24", node(), None));
        if self.web {
            for p in ["10.96.0.10/32", "203.0.113.10/32", "198.51.100.10/32"] {
                out.push((p, web_comms(), web()));
            }
        }
        if self.quiet {
            out.push(("203.0.113.11/32", node(), None));
        }
        if self.local_ready {
            for p in ["10.96.0.12/32", "198.51.100.12/32"] {
                out.push((p, node(), None));
            }
        }
        out
    }

    /// What the daemon should hold from the node's address over family
    /// `v6`, every path `stale` or none.
    fn expected(self, case: &Case, v6: bool, stale: bool) -> BTreeMap<IpNet, HeldPath> {
        let next_hop: IpAddr = if v6 { LINK.node_ip6 } else { LINK.node_ip }
            .parse()
            .expect("node address");
        let as_path = match (case.ibgp(), case.prepend) {
            (true, _) => Vec::new(),
            (false, false) => vec![NODE_ASN],
            (false, true) => vec![NODE_ASN; 3],
        };
        self.routes(v6)
            .into_iter()
            .map(|(prefix, communities, local_pref)| {
                let path = HeldPath {
                    next_hop,
                    as_path: as_path.clone(),
                    communities: communities.into_iter().map(community).collect(),
                    local_pref: case
                        .ibgp()
                        .then(|| local_pref.unwrap_or(DEFAULT_LOCAL_PREF)),
                    stale,
                };
                (prefix.parse().expect("prefix"), path)
            })
            .collect()
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

fn node_manifest(case: &Case) -> String {
    let yaml = node_yaml_dual(
        NODE,
        &[ip(LINK.node_ip), ip(LINK.node_ip6)],
        &["10.244.1.0/24", "fd00:244:1::/64"],
    );
    let mut annotations = format!(
        "  annotations:\n    kube-router.io/node.bgp.communities: \"{}\"\n",
        community(NODE_COMMUNITY)
    );
    if case.prepend {
        let _ = write!(
            annotations,
            "    kube-router.io/path-prepend.as: \"{NODE_ASN}\"\n    kube-router.io/path-prepend.repeat-n: \"2\"\n"
        );
    }
    let name = format!("  name: {NODE}\n");
    yaml.replacen(&name, &format!("{name}{annotations}"), 1)
}

fn slice(service: &str, family: IpFamily, ports: &[ServicePort], eps: &[(&str, &str)]) -> String {
    let eps: Vec<SliceEndpoint> = eps
        .iter()
        .map(|(a, n)| SliceEndpoint {
            ip: ip(a),
            node_name: n.to_string(),
        })
        .collect();
    let name = format!("{service}-{}", family.name().to_lowercase());
    slice_yaml(service, &name, family, ports, &eps)
}

fn lb(ips: &[&str]) -> Vec<LbIngress> {
    ips.iter()
        .map(|a| LbIngress {
            ip: ip(a),
            ip_mode: None,
        })
        .collect()
}

/// `web`: dual-stack LoadBalancer with external IPs, its own community
/// and LOCAL_PREF, an endpoint on this node in each family.
fn web() -> String {
    let ports = vec![ServicePort::new("tcp", Transport::Tcp, 80, 8080).with_node_port(30080)];
    let mut svc = ServiceSpec::new("web", &[ip("10.96.0.10"), ip("fd00:96::10")], ports);
    svc.type_ = Some("LoadBalancer".into());
    svc.external_ips = vec![ip("203.0.113.10"), ip("2001:db8:e::10")];
    svc.lb_ingress = lb(&["198.51.100.10", "2001:db8:1b::10"]);
    svc.annotations = vec![
        ("kroute.io/bgp.communities".into(), community(WEB_COMMUNITY)),
        (
            "kroute.io/bgp.local-pref".into(),
            WEB_LOCAL_PREF.to_string(),
        ),
    ];
    let v4 = slice("web", IpFamily::V4, &svc.ports, &[("10.244.1.10", NODE)]);
    let v6 = slice("web", IpFamily::V6, &svc.ports, &[("fd00:244:1::10", NODE)]);
    format!("{}---\n{v4}---\n{v6}", svc.to_yaml())
}

/// `quiet`: its ClusterIP not announced (the per-service override), its
/// external IP announced.
fn quiet() -> String {
    let ports = vec![ServicePort::new("tcp", Transport::Tcp, 80, 8080)];
    let mut svc = ServiceSpec::new("quiet", &[ip("10.96.0.11")], ports);
    svc.external_ips = vec![ip("203.0.113.11")];
    svc.annotations = vec![(
        "kube-router.io/service.advertise.clusterip".into(),
        "false".into(),
    )];
    let v4 = slice("quiet", IpFamily::V4, &svc.ports, &[("10.244.1.11", NODE)]);
    format!("{}---\n{v4}", svc.to_yaml())
}

/// `local`: LoadBalancer with `externalTrafficPolicy: Local`, an endpoint
/// on another node and, when `local_ready`, one on this node.
fn local(local_ready: bool) -> String {
    let ports = vec![ServicePort::new("tcp", Transport::Tcp, 80, 8080).with_node_port(30082)];
    let mut svc = ServiceSpec::new("local", &[ip("10.96.0.12")], ports);
    svc.type_ = Some("LoadBalancer".into());
    svc.external_traffic_policy = Some("Local".into());
    svc.lb_ingress = lb(&["198.51.100.12"]);
    let mut eps = vec![("10.244.2.12", "node-b")];
    if local_ready {
        eps.push(("10.244.1.12", NODE));
    }
    let v4 = slice("local", IpFamily::V4, &svc.ports, &eps);
    format!("{}---\n{v4}", svc.to_yaml())
}

/// kroute's config: the test's standalone config plus the `bgp:` block.
fn kroute_config(dir: &ManifestDir, case: &Case) -> std::path::PathBuf {
    let bgp = format!(
        "bgp:
  enabled: true
  asn: {NODE_ASN}
  advertise:
    clusterIP: true
    externalIP: true
    loadBalancerIP: true
    podCIDR: true
  gracefulRestart:
    enabled: {gr}
    restartTime: 120s
  peers:
    - address: {peer4}
      asn: {asn}
    - address: {peer6}
      asn: {asn}
",
        gr = case.graceful_restart,
        peer4 = LINK.peer_ip,
        peer6 = LINK.peer_ip6,
        asn = case.peer_asn,
    );
    write_config_with_bgp(&dir.scratch(), NODE, &dir.path(), "30s", &bgp)
}

fn daemon_config(case: &Case) -> DaemonConfig {
    LINK.dual_session_daemon(case.peer_asn, NODE_ASN, None)
}

/// Waits until the daemon holds exactly what `state` announces on both
/// sessions; panics with the tables, the daemon's sessions and `log`
/// (kroute's output, when it is no longer running) otherwise.
fn expect(d: &dyn PeerDaemon, case: &Case, state: State, stale: bool, what: &str, log: &str) {
    for (v6, neighbor) in [(false, LINK.node_ip), (true, LINK.node_ip6)] {
        let want = state.expected(case, v6, stale);
        if let Some(last) = table_differs(d, ip(neighbor), &want, case.ibgp()) {
            panic!(
                "{:?}, session with {neighbor}: {what}:\nheld {last:#?}\nwanted {:#?}\n--- {:?} sessions ---\n{}\n--- kroute ---\n{log}",
                case.kind,
                normalized(&want, case.ibgp()),
                case.kind,
                d.sessions(),
            );
        }
    }
}

fn e2e(case: &Case) {
    if !case.kind.available() || !support::kernel_tier_available(&["nft"]) {
        return;
    }
    let (node, peer) = LINK.namespaces(case.prefix);
    let dir = ManifestDir::new();
    let mut state = State {
        web: true,
        quiet: true,
        local_ready: true,
    };
    dir.write("node.yaml", &node_manifest(case));
    dir.write("web.yaml", &web());
    dir.write("quiet.yaml", &quiet());
    dir.write("local.yaml", &local(true));
    let config = kroute_config(&dir, case);
    let daemon = case.kind.start(&peer, &daemon_config(case));
    let d = daemon.as_ref();
    let mut kroute = Kroute::start(&node, &config);
    let check = |state: State, stale: bool, what: &str, log: &str| {
        expect(d, case, state, stale, what, log);
    };

    check(state, false, "everything announced", "");

    dir.remove("quiet.yaml");
    state.quiet = false;
    check(state, false, "a deleted Service's route withdrawn", "");

    dir.write("local.yaml", &local(false));
    state.local_ready = false;
    check(
        state,
        false,
        "Local policy, no local endpoint: withdrawn",
        "",
    );
    dir.write("local.yaml", &local(true));
    state.local_ready = true;
    check(state, false, "its local endpoint back: announced again", "");

    if case.graceful_restart {
        let log = kroute.log();
        kroute.stop();
        check(state, true, "after SIGTERM: every route held, stale", &log);
        // Deleted while kroute is down.
        dir.remove("web.yaml");
        state.web = false;
        kroute = Kroute::start(&node, &config);
        let what = "after the restart's End-of-RIB: refreshed, the deleted Service gone";
        check(state, false, what, "");
    } else {
        dir.remove("web.yaml");
        state.web = false;
        check(state, false, "a deleted dual-stack Service withdrawn", "");
    }
    kroute.stop();
}

#[test]
fn frr_ebgp_holds_exactly_what_kroute_run_announces_and_keeps_it_over_a_graceful_restart() {
    e2e(&Case {
        kind: Kind::Frr,
        peer_asn: 65010,
        prepend: true,
        graceful_restart: true,
        prefix: "e2ef",
    });
}

#[test]
fn frr_ibgp_holds_exactly_what_kroute_run_announces_with_local_pref() {
    e2e(&Case {
        kind: Kind::Frr,
        peer_asn: NODE_ASN,
        prepend: false,
        graceful_restart: false,
        prefix: "e2ei",
    });
}

#[test]
fn gobgp_ebgp_holds_exactly_what_kroute_run_announces() {
    e2e(&Case {
        kind: Kind::Gobgp,
        peer_asn: 65011,
        prepend: true,
        graceful_restart: false,
        prefix: "e2eg",
    });
}

#[test]
fn bird_ibgp_holds_exactly_what_kroute_run_announces_with_local_pref() {
    e2e(&Case {
        kind: Kind::Bird,
        peer_asn: NODE_ASN,
        prepend: false,
        graceful_restart: false,
        prefix: "e2eb",
    });
}
