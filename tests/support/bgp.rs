//! kroute's BGP speaker for interop tests: on a runtime whose threads live
//! in a node namespace, driven from the test's own thread through the
//! handle's blocking calls; and the interop case every daemon runs
//! (`session_case`), over an IPv4 or an IPv6 session.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::thread::JoinHandle;
use std::time::Duration;

use ipnet::IpNet;
use kroute::bgp::open::GracefulRestart;
use kroute::bgp::{OriginatedRoute, PeerSpec, RouteAttrs, Speaker, SpeakerConfig, SpeakerHandle};

use super::bgp_daemons::{DaemonConfig, HeldPath, Kind, Neighbor, PeerDaemon, community, prefixes};
use super::netns::{NetNs, veth};
use super::ns_thread;
use super::wait::{FAILURE_BOUND, wait_for, wait_until};

/// A running speaker; stopped (without NOTIFICATION if `graceful`) by
/// `stop`, or with Cease on drop.
pub struct NsSpeaker {
    pub handle: SpeakerHandle,
    thread: Option<JoinHandle<()>>,
}

impl NsSpeaker {
    /// Starts a speaker with `config` inside `node`.
    pub fn start(node: &NetNs, config: SpeakerConfig) -> NsSpeaker {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = ns_thread::spawn(&node.path(), "speaker", move || {
            // Threads started from here (the runtime's) stay in the namespace.
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            let speaker = rt.block_on(Speaker::start(config)).expect("speaker starts");
            let handle = speaker.handle();
            tx.send(handle.clone()).expect("hand over the handle");
            rt.block_on(async move {
                while handle.peers().await.is_ok() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            });
        });
        NsSpeaker {
            handle: rx.recv().expect("speaker handle"),
            thread: Some(thread),
        }
    }

    pub fn stop(mut self, graceful: bool) {
        let _ = self.handle.shutdown(graceful).blocking();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for NsSpeaker {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = self.handle.shutdown(false).blocking();
            let _ = t.join();
        }
    }
}

/// An originated route by prefix.
pub fn route(prefix: &str) -> OriginatedRoute {
    OriginatedRoute {
        prefix: prefix.parse().expect("prefix"),
    }
}

/// A speaker config for interop tests: router ID `router_id`, listening on
/// port 179 of `listen`, no graceful restart, short retry.
pub fn speaker_config_on(asn: u32, router_id: &str, listen: &[&str]) -> SpeakerConfig {
    SpeakerConfig {
        asn,
        router_id: router_id.parse().expect("router id"),
        listen: listen
            .iter()
            .map(|a| {
                let ip: IpAddr = a.parse().expect("listen address");
                std::net::SocketAddr::new(ip, 179)
            })
            .collect(),
        graceful_restart: None,
        connect_retry: Duration::from_secs(2),
        wait_for_routes: false,
    }
}

/// [`speaker_config_on`] one IPv4 address, which is also the router ID.
pub fn speaker_config(asn: u32, address: &str) -> SpeakerConfig {
    speaker_config_on(asn, address, &[address])
}

/// The addresses of an interop scene: the node (kroute) and the peer, on
/// one veth, both families.
pub struct Link {
    pub node_ip: &'static str,
    pub peer_ip: &'static str,
    pub node_ip6: &'static str,
    pub peer_ip6: &'static str,
}

/// The /32 every interop test announces with community `ASN:100`.
pub const TAGGED: &str = "10.96.0.10/32";
/// The pod CIDR every interop test announces.
pub const POD_CIDR: &str = "10.244.1.0/24";
/// The IPv6 route every interop test announces (MP_REACH_NLRI) with the
/// node's IPv6 address as next hop and community `ASN:600`.
pub const V6_ROUTE: &str = "2001:db8:96::10/128";
/// An IPv6 pod CIDR, without a next hop of its own: it goes only over
/// IPv6 sessions (the session's address is its next hop).
pub const V6_POD_CIDR: &str = "fd00:244:1::/64";
/// What the daemon announces over an IPv4 session, and over an IPv6 one.
pub const DAEMON_V4: &str = "10.66.0.0/24";
pub const DAEMON_V6: &str = "2001:db8:66::/48";

/// Which address family carries the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    V4,
    V6,
}

impl Link {
    /// Node and peer namespaces joined by a veth (`n0`, `p0`), both
    /// families addressed.
    pub fn namespaces(&self, prefix: &str) -> (NetNs, NetNs) {
        let node = NetNs::new(&format!("{prefix}n"));
        let peer = NetNs::new(&format!("{prefix}p"));
        let (n, p) = (
            format!("{}/24", self.node_ip),
            format!("{}/24", self.peer_ip),
        );
        veth(&node, "n0", &n, &peer, "p0", &p);
        for (ns, dev, ip) in [(&node, "n0", self.node_ip6), (&peer, "p0", self.peer_ip6)] {
            let ip = format!("{ip}/64");
            ns.ip(&["-6", "addr", "add", &ip, "dev", dev, "nodad"]);
        }
        (node, peer)
    }

    /// The peer daemon (AS `asn`) with two sessions to the node (AS
    /// `node_asn`): its IPv4 and its IPv6 address, each with `password`.
    pub fn dual_session_daemon(
        &self,
        asn: u32,
        node_asn: u32,
        password: Option<&str>,
    ) -> DaemonConfig {
        let neighbor = |address: &str, local: &str| Neighbor {
            address: address.parse().expect("node address"),
            asn: node_asn,
            local: local.parse().expect("peer address"),
            password: password.map(str::to_string),
        };
        DaemonConfig {
            asn,
            router_id: self.peer_ip.parse().expect("router id"),
            neighbors: vec![
                neighbor(self.node_ip, self.peer_ip),
                neighbor(self.node_ip6, self.peer_ip6),
            ],
            announce: Vec::new(),
        }
    }

    /// The node's and the peer's addresses on a session over `t`.
    pub fn ends(&self, t: Transport) -> (&'static str, &'static str) {
        match t {
            Transport::V4 => (self.node_ip, self.peer_ip),
            Transport::V6 => (self.node_ip6, self.peer_ip6),
        }
    }

    /// Originates `TAGGED`, `POD_CIDR`, `V6_ROUTE` and `V6_POD_CIDR`.
    pub fn originate(&self, speaker: &SpeakerHandle, local_asn: u32) {
        let tagged = |value: u32| RouteAttrs {
            communities: vec![(local_asn << 16) | value],
            ..RouteAttrs::default()
        };
        let v6 = RouteAttrs {
            next_hop: Some(self.node_ip6.parse().expect("IPv6 next hop")),
            ..tagged(600)
        };
        speaker
            .originate(vec![
                (route(TAGGED), tagged(100)),
                (route(POD_CIDR), RouteAttrs::default()),
                (route(V6_ROUTE), v6),
                (route(V6_POD_CIDR), RouteAttrs::default()),
            ])
            .blocking()
            .expect("originate");
    }

    /// Adds the peer at its address on `t`, connecting from the node's.
    pub fn add_peer(&self, speaker: &SpeakerHandle, t: Transport, peer_asn: u32) {
        let (node, peer) = self.ends(t);
        let mut spec = PeerSpec::new(peer.parse().expect("peer address"), peer_asn);
        spec.local_address = Some(node.parse().expect("node address"));
        speaker.set_peer(spec).blocking().expect("add the peer");
    }

    /// The next hop kroute received `prefix` with from the peer at its
    /// address on `t`, if it holds it.
    pub fn received(&self, speaker: &SpeakerHandle, t: Transport, prefix: &str) -> Option<IpAddr> {
        let from: IpAddr = self.ends(t).1.parse().expect("peer address");
        speaker
            .peer_routes(from)
            .blocking()
            .ok()
            .flatten()?
            .received
            .iter()
            .find(|(p, _)| p.to_string() == prefix)
            .map(|(_, a)| a.next_hop)
    }

    /// What the peer should hold from kroute over `t` (after
    /// [`Link::originate`]), by prefix: IPv4 routes only over IPv4 (kroute
    /// has no IPv4 next hop on an IPv6 session), `V6_ROUTE` over both (its
    /// own next hop), `V6_POD_CIDR` only over IPv6.
    pub fn expected(&self, t: Transport, asn: u32) -> BTreeMap<IpNet, HeldPath> {
        let path = |next_hop: &str, communities: Vec<String>| HeldPath {
            next_hop: next_hop.parse().expect("next hop"),
            as_path: vec![asn],
            communities,
            local_pref: None,
            stale: false,
        };
        let tag = |v: u32| vec![community((asn << 16) | v)];
        let mut out = vec![(V6_ROUTE, path(self.node_ip6, tag(600)))];
        match t {
            Transport::V4 => {
                out.push((TAGGED, path(self.node_ip, tag(100))));
                out.push((POD_CIDR, path(self.node_ip, Vec::new())));
            }
            Transport::V6 => out.push((V6_POD_CIDR, path(self.node_ip6, Vec::new()))),
        }
        out.into_iter()
            .map(|(p, h)| (p.parse().expect("prefix"), h))
            .collect()
    }
}

/// `held` as tests compare it: communities as a sorted set, LOCAL_PREF
/// only when `local_pref` (daemons differ in showing it on eBGP).
pub fn normalized(held: &BTreeMap<IpNet, HeldPath>, local_pref: bool) -> BTreeMap<IpNet, HeldPath> {
    held.iter()
        .map(|(p, h)| {
            let mut h = h.clone();
            h.communities.sort();
            if !local_pref {
                h.local_pref = None;
            }
            (*p, h)
        })
        .collect()
}

/// Polls until `daemon` holds exactly `want` from `neighbor` (compared
/// [`normalized`]); `None` when it does, else the last table it held.
pub fn table_differs(
    daemon: &dyn PeerDaemon,
    neighbor: IpAddr,
    want: &BTreeMap<IpNet, HeldPath>,
    local_pref: bool,
) -> Option<BTreeMap<IpNet, HeldPath>> {
    let want = normalized(want, local_pref);
    let mut last = BTreeMap::new();
    let held = wait_for(FAILURE_BOUND, || {
        last = normalized(&daemon.held_from(neighbor), local_pref);
        (last == want).then_some(())
    });
    held.is_none().then_some(last)
}

/// Waits until `daemon` holds exactly `want` from `neighbor`; panics with
/// both tables.
pub fn wait_for_table(
    daemon: &dyn PeerDaemon,
    neighbor: IpAddr,
    want: &BTreeMap<IpNet, HeldPath>,
    local_pref: bool,
    what: &str,
) {
    if let Some(last) = table_differs(daemon, neighbor, want, local_pref) {
        panic!(
            "{:?} from {neighbor}: {what}: wanted exactly {:?}\nheld {last:#?}\nwanted {:#?}",
            daemon.kind(),
            prefixes(want),
            normalized(want, local_pref),
        );
    }
}

/// Which interop case to run.
pub struct Case {
    pub kind: Kind,
    pub transport: Transport,
    pub local_asn: u32,
    pub peer_asn: u32,
    /// Stop kroute gracefully at the end and wait until the daemon marks
    /// its routes stale (FRR).
    pub graceful_stop: bool,
}

/// The interop case: kroute's speaker in the node namespace, `case.kind`
/// in the peer namespace, one eBGP session over `case.transport`. The
/// daemon holds exactly what kroute announces over that family, with next
/// hop, AS path and communities; a withdrawal reaches it; kroute hears the
/// daemon's own route with the daemon's address as next hop; and, with
/// `graceful_stop`, a stop without NOTIFICATION leaves the routes stale.
pub fn session_case(link: &Link, prefix: &str, case: &Case) {
    if !case.kind.available() {
        return;
    }
    let (node, peer) = link.namespaces(prefix);
    let (node_addr, peer_addr) = link.ends(case.transport);
    let theirs = match case.transport {
        Transport::V4 => DAEMON_V4,
        Transport::V6 => DAEMON_V6,
    };
    let config = DaemonConfig::single(
        case.peer_asn,
        link.peer_ip,
        peer_addr,
        node_addr,
        case.local_asn,
    )
    .announcing(&[theirs]);
    let mut daemon = case.kind.start(&peer, &config);

    let mut speaker_config = speaker_config_on(case.local_asn, link.node_ip, &[node_addr]);
    if case.graceful_stop {
        speaker_config.graceful_restart = Some(GracefulRestart {
            restart_time: 120,
            restarting: false,
        });
    }
    let kroute = NsSpeaker::start(&node, speaker_config);
    let speaker = kroute.handle.clone();
    link.originate(&speaker, case.local_asn);
    link.add_peer(&speaker, case.transport, case.peer_asn);

    let neighbor: IpAddr = node_addr.parse().expect("node address");
    let d = daemon.as_ref();
    let check = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut want = link.expected(case.transport, case.local_asn);
        wait_for_table(d, neighbor, &want, false, "the announced routes");
        assert!(d.established(neighbor), "the session is Established");

        speaker
            .withdraw(vec![route(TAGGED), route(V6_ROUTE)])
            .blocking()
            .expect("withdraw");
        for p in [TAGGED, V6_ROUTE] {
            want.remove(&p.parse().expect("prefix"));
        }
        wait_for_table(d, neighbor, &want, false, "after the withdrawal");

        let heard = wait_for(FAILURE_BOUND, || {
            link.received(&speaker, case.transport, theirs)
        });
        assert_eq!(
            heard,
            Some(peer_addr.parse().expect("peer address")),
            "kroute holds {theirs} with the daemon's address as next hop"
        );
    }));
    let check = check.and_then(|()| {
        if !case.graceful_stop {
            kroute.stop(false);
            return Ok(());
        }
        kroute.stop(true);
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_until("the daemon holds kroute's routes stale", || {
                let held = d.held_from(neighbor);
                !held.is_empty() && held.values().all(|h| h.stale)
            });
        }))
    });
    daemon.stop();
    if let Err(panic) = check {
        eprintln!("{:?} log:\n{}", case.kind, daemon.log());
        std::panic::resume_unwind(panic);
    }
}
