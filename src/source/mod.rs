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

/// Warns once when the cluster has no Node named like this node (a wrong
/// `nodeName` / `$NODE_NAME`): node ports on the primary address and local
/// endpoints would then be missing. `warned` keeps it to one line.
pub fn warn_if_node_missing(view: &crate::model::ClusterView, node_name: &str, warned: &mut bool) {
    if *warned || !view.synced || view.nodes.contains_key(node_name) {
        return;
    }
    *warned = true;
    tracing::warn!(
        node = %node_name,
        "no Node named {node_name:?} in the cluster: node ports on the primary address and local endpoints will be missing; check nodeName / $NODE_NAME"
    );
}
