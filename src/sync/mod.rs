//! Sync: pure planning (desired artifacts per service), the mark-and-sweep
//! diff, and the reconcile loop that drives a `HostNetwork`.

pub mod bgp_context;
pub mod bgp_mesh;
pub mod bgp_peers;
pub mod bgp_plan;
pub mod bgp_sources;
pub mod conntrack;
pub mod context;
pub mod facet_steps;
pub mod health_check;
pub mod mark_sweep;
pub mod nft_names;
pub mod nft_service;
pub mod nft_skeleton;
pub mod ownership;
pub mod reconciler;
pub mod report;
pub mod run_loop;
pub mod schedule;
pub mod service_plan;

pub use context::ProxyContext;
pub use reconciler::{Reconciler, SyncError, SyncKind, SyncReport};
