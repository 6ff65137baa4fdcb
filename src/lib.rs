//! kroute: a Kubernetes node agent that replaces kube-proxy (nftables or IPVS
//! dataplane) and announces Service and pod addresses over BGP.
//!
//! Data flows `source` → `model` → `sync` (pure planning) → `host` (I/O); see
//! README.md (Layout) and docs/.

pub mod bgp;
pub mod host;
pub mod model;
pub mod serve;
pub mod source;
pub mod sync;
pub mod telemetry;
