//! BGP: kroute's embedded speaker, sans-IO. The wire format is netgauze's
//! (`codec`, `attrs`, `update_decode` for RFC 7606); the session state
//! machine (`fsm`, `fsm_collision`, `open`, `backoff`) and the Adj-RIB-Out
//! with UPDATE packing (`rib`, `pack`) and the peer that joins them
//! (`peer`) are ours and pure. I/O is in thin tokio tasks (`tasks`) behind
//! the `Speaker` and its `SpeakerHandle` (`speaker`); `SpeakerSlot` (`slot`) holds the running
//! speaker's handle for the admin socket and metrics.
//! The facet's types, what the planner hands to the speaker's local RIB,
//! are host types (`host::bgp`); they are re-exported here for the speaker.

pub use crate::host::bgp::{OriginatedRoute, RouteAttrs};

pub use config::{PeerSpec, SpeakerConfig};
pub use peer::{LocalRib, PeerRoutes, PeerStatus};
pub use slot::SpeakerSlot;
pub use speaker::{Reply, Speaker, SpeakerError, SpeakerHandle};

pub mod attrs;
pub mod backoff;
pub mod codec;
pub mod config;
pub mod fsm;
mod fsm_collision;
mod fsm_event;
#[cfg(test)]
mod fsm_test_util;
pub mod import;
mod listeners;
pub mod loc_rib;
pub mod open;
pub mod pack;
pub mod peer;
pub mod restart_marker;
pub mod rib;
pub mod slot;
pub mod socket_opts;
pub mod speaker;
mod tasks;
pub mod update_decode;
