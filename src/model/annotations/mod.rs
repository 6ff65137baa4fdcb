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
pub use node::{NodeAnnotations, PathPrepend, RouteReflectorClusterId};
pub use peers::{DEFAULT_BGP_PORT, NodePeer, PeerAuth, ServicePeer};
pub use scheduler::{SchedFlags, Scheduler};
pub use service::ServiceAnnotations;
