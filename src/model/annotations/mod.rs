//! Typed Service and Node annotations (kube-router's keys verbatim, kroute's
//! under `kroute.io/`). A malformed value is an `InvalidAnnotation` and the
//! annotation is treated as absent.
//!
//! Every `kube-router.io/<suffix>` key may also be written `kroute.io/<suffix>`;
//! when both are present the `kroute.io/` one wins. If the `kroute.io/` value
//! is malformed it is reported and treated as absent, so the `kube-router.io/`
//! value (if any) applies.

mod community;
mod error;
mod node;
mod peers;
mod reader;
mod scheduler;
mod service;
pub(crate) mod values;

pub use community::{Community, LargeCommunity, parse_community_list};
pub use error::InvalidAnnotation;
pub use node::{NodeAnnotations, PEERS as NODE_PEERS, PathPrepend, RouteReflectorClusterId};
pub use peers::{DEFAULT_BGP_PORT, NodePeer, PEER_IPS, PeerAuth, ServicePeer};
pub use scheduler::{SchedFlags, Scheduler};
pub use service::{BGP_PEERS, ServiceAnnotations};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_keys_come_from_the_parsers() {
        let service = ServiceAnnotations::accepted_keys();
        assert_eq!(service.len(), 13, "{service:?}");
        assert!(service.contains(&"kube-router.io/service.scheduler".to_string()));
        assert!(service.contains(&"kroute.io/bgp.peers".to_string()));
        let node = NodeAnnotations::accepted_keys();
        assert_eq!(node.len(), 15, "{node:?}");
        for key in [
            "kube-router.io/peer.localips",
            "kube-router.io/path-prepend.repeat-n",
        ] {
            assert!(node.contains(&key.to_string()), "{key}");
        }
    }
}
