//! Drives the manifests directory: loads it at start, re-reads it on every
//! change notification (and every `resync`, in case a notification is missed),
//! and sends each new view with the services that changed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::manifests::{ManifestDir, ManifestError};
use super::watch::watch_dir;
use crate::model::{ClusterView, SourceUpdate};

/// Runs until the receiver of `updates` is dropped.
pub async fn run_manifest_source(
    dir: PathBuf,
    resync: Duration,
    node_name: String,
    updates: mpsc::Sender<SourceUpdate>,
) {
    let mut warned_missing_node = false;
    let mut manifests = ManifestDir::new(&dir);
    // Without a watcher, the periodic re-read still picks changes up.
    let (_watcher, mut changes) = match watch_dir(&dir) {
        Ok((w, rx)) => (Some(w), Some(rx)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the manifests directory; re-reading every {resync:?}");
            (None, None)
        }
    };
    let mut last: Option<Arc<ClusterView>> = None;
    let mut last_errors: Vec<ManifestError> = Vec::new();
    loop {
        let (view, errors) = manifests.load();
        if errors != last_errors {
            for e in &errors {
                tracing::error!("manifest error: {e}; keeping the last good content of that file");
            }
            last_errors = errors;
        }
        let dirty = match &last {
            None => view.services.keys().cloned().collect(),
            Some(prev) => prev.changed_services(&view),
        };
        let changed = match &last {
            None => true,
            Some(prev) => {
                !dirty.is_empty() || prev.nodes != view.nodes || prev.synced != view.synced
            }
        };
        if changed {
            super::warn_if_node_missing(&view, &node_name, &mut warned_missing_node);
            let view = Arc::new(view);
            last = Some(view.clone());
            if updates.send(SourceUpdate { view, dirty }).await.is_err() {
                return;
            }
        }
        let notified = async {
            match changes.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(resync) => {}
            _ = updates.closed() => return,
        }
    }
}
