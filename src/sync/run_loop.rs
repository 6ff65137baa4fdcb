//! The reconcile loop: receives source updates, asks the schedule when to
//! sync, and runs each sync on a blocking thread (host calls block).

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::reconciler::Reconciler;
use super::schedule::{Next, SyncSchedule};
use crate::host::HostNetwork;
use crate::model::{ClusterView, ObjectKey};

/// Tokio's clock (pausable in tests) as a std `Instant` for the schedule.
fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

pub use crate::model::SourceUpdate;

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
            Some(_) => schedule.next(now()),
            None => Next::WaitUntil(now() + std::time::Duration::from_secs(3600)),
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
                schedule.synced(now(), full, ok);
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
                            // Take everything already queued: one decision per burst.
                            while let Ok(more) = updates.try_recv() {
                                dirty.extend(more.dirty);
                                view = Some(more.view);
                            }
                            schedule.changed();
                        }
                        None => return reconciler,
                    },
                    _ = tokio::time::sleep_until(tokio::time::Instant::from_std(at)) => {}
                    _ = &mut shutdown => return reconciler,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::host::FakeHost;
    use crate::model::config::ProxyConfig;
    use crate::model::fixtures::{node, service, slice};
    use crate::sync::reconciler::ReconcilerSettings;

    fn view(endpoints: &[&str]) -> Arc<ClusterView> {
        let eps: Vec<(&str, &str, bool)> =
            endpoints.iter().map(|ip| (*ip, "node-a", true)).collect();
        let mut v = ClusterView::from_objects(
            [service(
                "default",
                "web",
                "ClusterIP",
                "10.96.0.10",
                &[("http", "TCP", 80, None)],
            )],
            [slice("default", "web", "web-1", ("http", "TCP", 80), &eps)],
            [node("node-a", "192.168.50.1")],
        );
        v.synced = true;
        Arc::new(v)
    }

    fn update(endpoints: &[&str]) -> SourceUpdate {
        SourceUpdate {
            view: view(endpoints),
            dirty: [ObjectKey::new("default", "web")].into(),
        }
    }

    fn reconciler() -> Reconciler<FakeHost> {
        let settings = ReconcilerSettings {
            node_name: "node-a".into(),
            proxy: ProxyConfig::default(),
            proxy_name: None,
        };
        Reconciler::new(FakeHost::new(), settings)
    }

    /// A loop over a `FakeHost` (syncPeriod 30 s, minSyncPeriod 1 s).
    fn spawn_loop() -> (
        mpsc::Sender<SourceUpdate>,
        tokio::task::JoinHandle<Reconciler<FakeHost>>,
    ) {
        let (tx, rx) = mpsc::channel(16);
        let schedule = SyncSchedule::new(Duration::from_secs(30), Duration::from_secs(1));
        let lp = tokio::spawn(run_reconcile_loop(
            reconciler(),
            rx,
            schedule,
            std::future::pending(),
        ));
        (tx, lp)
    }

    #[tokio::test(start_paused = true)]
    async fn bursts_are_coalesced_into_one_incremental_sync() {
        let (tx, lp) = spawn_loop();

        tx.send(update(&["10.244.1.1"])).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        // Three changes, 200 ms apart, inside minSyncPeriod after the first sync.
        for eps in [
            &["10.244.1.1", "10.244.1.2"][..],
            &["10.244.1.2"],
            &["10.244.1.2", "10.244.1.3"],
        ] {
            tx.send(update(eps)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        drop(tx);
        let r = lp.await.unwrap();

        let host = r.host();
        assert_eq!(host.snapshots, 1, "only the first sync reads the kernel");
        assert_eq!(
            host.applied.len(),
            2,
            "initial full sync + one coalesced incremental"
        );
        let last = host.applied.last().unwrap();
        assert!(
            last.nft
                .deletes
                .iter()
                .any(|k| k.to_string().contains("10.244.1.1"))
        );
        assert!(
            last.nft
                .creates
                .keys()
                .any(|k| k.to_string().contains("10.244.1.3"))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn periodic_full_sync_repairs_drift() {
        let (tx, lp) = spawn_loop();
        tx.send(update(&["10.244.1.1"])).await.unwrap();
        tokio::time::sleep(Duration::from_secs(100)).await;
        drop(tx);
        let r = lp.await.unwrap();
        assert!(
            r.host().snapshots >= 3,
            "a full sync every syncPeriod: {}",
            r.host().snapshots
        );
        assert_eq!(
            r.host().applied.len(),
            1,
            "converged full syncs apply nothing"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_happens_before_the_first_view() {
        let (tx, lp) = spawn_loop();
        tokio::time::sleep(Duration::from_secs(120)).await;
        drop(tx);
        let r = lp.await.unwrap();
        assert_eq!((r.host().snapshots, r.host().applied.len()), (0, 0));
    }
}
