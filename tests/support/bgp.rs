//! kroute's BGP speaker for interop tests: on a runtime whose threads live
//! in a node namespace, driven from the test's own thread through the
//! handle's blocking calls.

use std::net::IpAddr;
use std::thread::JoinHandle;
use std::time::Duration;

use kroute::bgp::{OriginatedRoute, PeerSpec, RouteAttrs, Speaker, SpeakerConfig, SpeakerHandle};

use super::netns::{NetNs, veth};
use super::ns_thread;

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

/// A speaker config for interop tests: no graceful restart, short retry.
pub fn speaker_config(asn: u32, address: &str) -> SpeakerConfig {
    SpeakerConfig {
        asn,
        router_id: address.parse().expect("router id"),
        listen: vec![format!("{address}:179").parse().expect("listen address")],
        graceful_restart: None,
        connect_retry: Duration::from_secs(2),
        wait_for_routes: false,
    }
}

/// The addresses of an interop scene: the node (kroute) and the peer.
pub struct Link {
    pub node_ip: &'static str,
    pub peer_ip: &'static str,
    /// The node's IPv6 address, the next hop of its IPv6 routes.
    pub node_ip6: &'static str,
}

/// The /32 every interop test announces with community `ASN:100`.
pub const TAGGED: &str = "10.96.0.10/32";
/// The pod CIDR every interop test announces.
pub const POD_CIDR: &str = "10.244.1.0/24";
/// The IPv6 route every interop test announces (MP_REACH_NLRI).
pub const V6_ROUTE: &str = "2001:db8:96::10/128";

impl Link {
    /// Node and peer namespaces joined by a veth (`n0`, `p0`).
    pub fn namespaces(&self, prefix: &str) -> (NetNs, NetNs) {
        let node = NetNs::new(&format!("{prefix}n"));
        let peer = NetNs::new(&format!("{prefix}p"));
        let (n, p) = (
            format!("{}/24", self.node_ip),
            format!("{}/24", self.peer_ip),
        );
        veth(&node, "n0", &n, &peer, "p0", &p);
        let n6 = format!("{}/64", self.node_ip6);
        node.ip(&["-6", "addr", "add", &n6, "dev", "n0", "nodad"]);
        (node, peer)
    }

    /// Originates `TAGGED`, `POD_CIDR` and `V6_ROUTE`, then adds the peer
    /// (connecting from the node's address).
    pub fn announce(&self, speaker: &SpeakerHandle, local_asn: u32, peer_asn: u32) {
        let tagged = RouteAttrs {
            communities: vec![(local_asn << 16) | 100],
            ..RouteAttrs::default()
        };
        let v6 = RouteAttrs {
            next_hop: Some(self.node_ip6.parse().expect("IPv6 next hop")),
            ..RouteAttrs::default()
        };
        speaker
            .originate(vec![
                (route(TAGGED), tagged),
                (route(POD_CIDR), RouteAttrs::default()),
                (route(V6_ROUTE), v6),
            ])
            .blocking()
            .expect("originate");
        let mut spec = PeerSpec::new(self.peer_ip.parse().expect("peer address"), peer_asn);
        spec.local_address = Some(self.node_ip.parse().expect("node address"));
        speaker.set_peer(spec).blocking().expect("add the peer");
    }

    /// Whether kroute holds `prefix` from the peer.
    pub fn received(&self, speaker: &SpeakerHandle, prefix: &str) -> bool {
        let from: IpAddr = self.peer_ip.parse().expect("peer address");
        speaker
            .peer_routes(from)
            .blocking()
            .ok()
            .flatten()
            .is_some_and(|r| r.received.iter().any(|(p, _)| p.to_string() == prefix))
    }
}
