//! The reconcile loop: receives source updates, asks the schedule when to
//! sync, and runs each sync on a blocking thread (host calls block).

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::reconciler::{Reconciler, SyncKind};
use super::schedule::{Next, SyncSchedule};
use crate::host::HostNetwork;
use crate::model::{ClusterView, ObjectKey};
use crate::telemetry::{SyncAttempt, Telemetry};

/// Tokio's clock (pausable in tests) as a std `Instant` for the schedule.
fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

pub use crate::model::SourceUpdate;

/// Runs until `updates` closes or `shutdown` resolves. Leaves the dataplane
/// in place on exit (traffic keeps flowing while kroute restarts). Every
/// update and every sync is reported to `telemetry` (with wall-clock times).
pub async fn run_reconcile_loop<H>(
    mut reconciler: Reconciler<H>,
    mut updates: mpsc::Receiver<SourceUpdate>,
    mut schedule: SyncSchedule,
    telemetry: Arc<Telemetry>,
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
                let started = std::time::Instant::now();
                let (r, kind, outcome) = tokio::task::spawn_blocking(move || {
                    let kind = if reconciler.will_sync_full(&current, full) {
                        SyncKind::Full
                    } else {
                        SyncKind::Incremental
                    };
                    let outcome = reconciler.sync(&current, &batch, full);
                    (reconciler, kind, outcome)
                })
                .await
                .expect("sync task panicked");
                reconciler = r;
                telemetry.synced(
                    std::time::SystemTime::now(),
                    SyncAttempt {
                        kind,
                        outcome: &outcome,
                        duration: started.elapsed(),
                        artifacts: reconciler.owned_artifacts(),
                    },
                );
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
                            let node = &reconciler.settings().node_name;
                            view = Some(received(update, &mut dirty, &telemetry, node));
                            // Take everything already queued: one decision per burst.
                            while let Ok(more) = updates.try_recv() {
                                view = Some(received(more, &mut dirty, &telemetry, node));
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

/// Records an update: its dirty services join the batch, telemetry learns
/// of the view and of a queued change. Returns the new view.
fn received(
    update: SourceUpdate,
    dirty: &mut BTreeSet<ObjectKey>,
    telemetry: &Telemetry,
    node_name: &str,
) -> Arc<ClusterView> {
    telemetry.view_changed(&update.view, &update.dirty, node_name);
    telemetry.queued(std::time::SystemTime::now());
    dirty.extend(update.dirty);
    update.view
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::host::FakeHost;
    use crate::model::config::ProxyConfig;
    use crate::model::fixtures::{node, service, slice};
    use crate::sync::reconciler::ReconcilerSettings;
    use crate::telemetry::AttemptResult;

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
            bgp: Default::default(),
        };
        Reconciler::new(FakeHost::new(), settings)
    }

    type Loop = (
        mpsc::Sender<SourceUpdate>,
        tokio::task::JoinHandle<Reconciler<FakeHost>>,
        Arc<Telemetry>,
    );

    /// A loop over a `FakeHost` (syncPeriod 30 s, minSyncPeriod 1 s).
    fn spawn_loop() -> (
        mpsc::Sender<SourceUpdate>,
        tokio::task::JoinHandle<Reconciler<FakeHost>>,
    ) {
        let (tx, lp, _) = spawn_loop_with(reconciler());
        (tx, lp)
    }

    /// The loop of [`spawn_loop`] over `reconciler`, and its telemetry.
    fn spawn_loop_with(reconciler: Reconciler<FakeHost>) -> Loop {
        let (tx, rx) = mpsc::channel(16);
        let period = Duration::from_secs(30);
        let schedule = SyncSchedule::new(period, Duration::from_secs(1));
        let telemetry = Arc::new(Telemetry::new(SystemTime::now(), period));
        let lp = tokio::spawn(run_reconcile_loop(
            reconciler,
            rx,
            schedule,
            telemetry.clone(),
            std::future::pending(),
        ));
        (tx, lp, telemetry)
    }

    #[tokio::test(start_paused = true)]
    async fn telemetry_sees_each_sync_and_a_synced_change_leaves_it_healthy() {
        let (tx, lp, tel) = spawn_loop_with(reconciler());
        assert!(tel.loop_status().last_attempt.is_none());
        tx.send(update(&["10.244.1.1"])).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;

        let s = tel.loop_status();
        assert_eq!(s.oldest_pending, None, "the sync cleared the queued change");
        assert!(s.last_success.is_some());
        assert!(s.source_synced && s.node_eligible);
        assert_eq!(s.node_name, "node-a");
        let first = s.last_attempt.expect("a sync ran");
        assert_eq!(
            (first.kind, &first.result),
            (SyncKind::Full, &AttemptResult::Ok)
        );
        assert!(first.creates > 0);
        let owned = s.artifacts.get("nftables").copied().unwrap_or(0);
        assert!(
            owned >= first.creates,
            "{owned} owned, {} created",
            first.creates
        );
        let later = SystemTime::now() + Duration::from_secs(3600);
        assert!(tel.health(later).healthy, "nothing is pending");

        tx.send(update(&["10.244.1.1", "10.244.1.2"]))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let s = tel.loop_status();
        let second = s.last_attempt.expect("a second sync ran");
        assert_eq!(second.kind, SyncKind::Incremental);
        assert!(second.at >= first.at);
        assert!(s.artifacts.get("nftables").copied().unwrap_or(0) > owned);
        drop(tx);
        lp.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_apply_records_the_error_and_keeps_the_change_pending_until_a_sync_succeeds() {
        let mut r = reconciler();
        r.host_mut().fail_applies(1);
        let (tx, lp, tel) = spawn_loop_with(r);
        tx.send(update(&["10.244.1.1"])).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;

        let s = tel.loop_status();
        let queued = s.oldest_pending.expect("the change is still pending");
        let error = s.last_error.expect("the failure is recorded");
        assert!(error.message.contains("injected"), "{}", error.message);
        assert_eq!(s.last_success, None);
        assert!(matches!(
            s.last_attempt.map(|a| a.result),
            Some(AttemptResult::Error(_))
        ));
        assert!(tel.health(queued + Duration::from_secs(59)).healthy);
        assert!(
            !tel.health(queued + Duration::from_secs(61)).healthy,
            "waited more than 2 × syncPeriod"
        );

        // The retry (a full sync, after backoff) succeeds.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let s = tel.loop_status();
        assert_eq!(s.oldest_pending, None);
        assert!(s.last_success.is_some());
        assert!(s.last_error.is_some(), "the last error stays on record");
        assert!(tel.health(queued + Duration::from_secs(61)).healthy);
        drop(tx);
        lp.await.unwrap();
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
