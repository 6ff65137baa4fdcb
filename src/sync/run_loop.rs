//! The reconcile loop: receives source updates, asks the schedule when to
//! sync, and runs each sync on a blocking thread (host calls block).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::reconciler::Reconciler;
use super::schedule::{Next, SyncSchedule};
use crate::host::HostNetwork;
use crate::model::{ClusterView, ObjectKey};

/// A new view from a source and the services that changed in it.
#[derive(Clone, Debug)]
pub struct SourceUpdate {
    pub view: Arc<ClusterView>,
    pub dirty: BTreeSet<ObjectKey>,
}

/// Runs until `updates` closes or `shutdown` resolves. Leaves the dataplane
/// in place on exit (traffic keeps flowing while kroute restarts).
pub async fn run_reconcile_loop<H>(
    mut reconciler: Reconciler<H>,
    mut updates: mpsc::Receiver<SourceUpdate>,
    mut schedule: SyncSchedule,
    shutdown: impl std::future::Future<Output = ()>,
) -> Reconciler<H>
where
    H: HostNetwork + Send + 'static,
{
    tokio::pin!(shutdown);
    let mut view: Option<Arc<ClusterView>> = None;
    let mut dirty: BTreeSet<ObjectKey> = BTreeSet::new();
    loop {
        // Nothing is planned before a source delivered its first view.
        let next = match view {
            Some(_) => schedule.next(Instant::now()),
            None => Next::WaitUntil(Instant::now() + std::time::Duration::from_secs(3600)),
        };
        match next {
            Next::SyncNow { full } => {
                let current = view.clone().expect("checked above");
                let batch = std::mem::take(&mut dirty);
                let (r, outcome) = tokio::task::spawn_blocking(move || {
                    let outcome = reconciler.sync(&current, &batch, full);
                    (reconciler, outcome)
                })
                .await
                .expect("sync task panicked");
                reconciler = r;
                let ok = outcome.is_ok();
                schedule.synced(Instant::now(), full, ok);
                match outcome {
                    Ok(report) => report.log(),
                    Err(e) => tracing::error!(error = %e, "sync failed; next sync is a full one"),
                }
            }
            Next::WaitUntil(at) => {
                tokio::select! {
                    update = updates.recv() => match update {
                        Some(update) => {
                            dirty.extend(update.dirty);
                            view = Some(update.view);
                            schedule.changed();
                        }
                        None => return reconciler,
                    },
                    _ = tokio::time::sleep_until(at.into()) => {}
                    _ = &mut shutdown => return reconciler,
                }
            }
        }
    }
}
