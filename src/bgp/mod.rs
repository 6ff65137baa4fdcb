//! BGP: the speaker comes in a later issue. The facet's types, what the
//! planner hands to the speaker's local RIB, are host types (`host::bgp`);
//! they are re-exported here for the speaker.

pub use crate::host::bgp::{OriginatedRoute, RouteAttrs};
