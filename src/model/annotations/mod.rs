//! Typed Service and Node annotations (kube-router's keys verbatim, kroute's
//! under `kroute.io/`). A malformed value is an `InvalidAnnotation` and the
//! annotation is treated as absent.

mod error;
mod node;
mod service;

pub use error::InvalidAnnotation;
pub use node::NodeAnnotations;
pub use service::ServiceAnnotations;
