//! The typed view of the cluster: what the sources produce and the planner reads.

pub mod annotations;
pub mod cluster_view;
pub mod config;
pub mod config_load;
pub mod endpoints;
pub mod family;
pub mod fixtures;
pub mod learned_routes;
pub mod node;
pub mod projection;
pub mod service;

pub use cluster_view::{ClusterView, ObjectKey, SourceUpdate};
pub use family::{Family, Proto};
pub use learned_routes::LearnedRoutes;
pub use node::NodeInfo;
pub use service::KubeRouterService;
