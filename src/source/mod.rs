//! Sources of the cluster view: a directory of manifests (standalone) and
//! the Kubernetes API (`kube`).

pub mod kube;
pub mod manifests;
mod parse;
pub mod standalone;
pub mod watch;
mod yaml_docs;

pub use manifests::{ManifestDir, ManifestError};
pub use watch::{DirWatcher, watch_dir};
