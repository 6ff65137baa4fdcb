//! Telemetry: what the reconcile loop did, shared (`Arc<Telemetry>`) between
//! the loop, which feeds it, and the side servers, which read it (health,
//! metrics, `kroute status`). The decisions (health, what is new) are pure
//! functions of the recorded state and a time passed in.

pub mod annotations;
pub mod bgp;
#[cfg(test)]
pub(crate) mod exposition;
pub mod metrics;
pub mod status;
pub mod status_doc;
pub mod view;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use crate::model::annotations::InvalidAnnotation;
use crate::model::{ClusterView, ObjectKey};
use crate::sync::{SyncError, SyncKind, SyncReport};

pub use metrics::LoopMetrics;
pub use status::{AttemptResult, Health, LastError, LoopStatus, SyncAttemptStatus};
pub use status_doc::StatusDoc;

use annotations::AnnotationTracker;
use view::TriggerTimes;

/// One finished sync, as the loop reports it.
#[derive(Debug)]
pub struct SyncAttempt<'a> {
    /// The kind that ran (used when the outcome is an error; a report
    /// carries its own).
    pub kind: SyncKind,
    pub outcome: &'a Result<SyncReport, SyncError>,
    /// Wall time of the whole sync (snapshot, plan, apply).
    pub duration: Duration,
    /// Artifacts owned after the sync, per facet.
    pub artifacts: BTreeMap<String, usize>,
}

/// Everything but the metrics, behind one lock.
#[derive(Debug)]
struct Inner {
    status: LoopStatus,
    triggers: TriggerTimes,
    annotations: AnnotationTracker,
    /// Services changed since the last successful sync.
    batch: BTreeSet<ObjectKey>,
}

/// The loop's telemetry. Send + Sync; every method takes `&self`.
#[derive(Debug)]
pub struct Telemetry {
    sync_period: Duration,
    inner: Mutex<Inner>,
    metrics: LoopMetrics,
    feed: mpsc::UnboundedSender<InvalidAnnotation>,
    feed_rx: Mutex<Option<mpsc::UnboundedReceiver<InvalidAnnotation>>>,
}

/// Locks, ignoring poisoning (the state stays consistent field by field).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Telemetry {
    /// Telemetry of a loop started at `start` with `sync_period` (health
    /// allows a queued change to wait up to twice that).
    pub fn new(start: SystemTime, sync_period: Duration) -> Telemetry {
        let (feed, feed_rx) = mpsc::unbounded_channel();
        Telemetry {
            sync_period,
            inner: Mutex::new(Inner {
                status: LoopStatus::new(start),
                triggers: TriggerTimes::new(start),
                annotations: AnnotationTracker::default(),
                batch: BTreeSet::new(),
            }),
            metrics: LoopMetrics::new(),
            feed,
            feed_rx: Mutex::new(Some(feed_rx)),
        }
    }

    pub fn sync_period(&self) -> Duration {
        self.sync_period
    }

    /// A source delivered `view`, in which `dirty` services changed.
    pub fn view_changed(&self, view: &ClusterView, dirty: &BTreeSet<ObjectKey>, node_name: &str) {
        let mut inner = lock(&self.inner);
        inner.status.node_name = node_name.to_string();
        inner.status.source_synced = view.synced;
        inner.status.node_eligible = view::node_eligible(view, node_name);
        inner.triggers.collect(view, dirty);
        inner.batch.extend(dirty.iter().cloned());
    }

    /// A change was queued at `now` (kept only if none is pending).
    pub fn queued(&self, now: SystemTime) {
        lock(&self.inner).status.queued(now);
    }

    /// A sync finished at `now`.
    pub fn synced(&self, now: SystemTime, attempt: SyncAttempt<'_>) {
        let kind = match attempt.outcome {
            Ok(report) => report.kind,
            Err(_) => attempt.kind,
        };
        self.metrics
            .sync_attempted(kind, attempt.outcome.is_ok(), attempt.duration);
        self.metrics.artifacts(&attempt.artifacts);
        let mut record = SyncAttemptStatus {
            kind,
            at: now,
            duration: attempt.duration,
            result: AttemptResult::Ok,
            services_planned: 0,
            creates: 0,
            updates: 0,
            deletes: 0,
            deletes_withheld: 0,
            refused: Vec::new(),
        };
        let mut inner = lock(&self.inner);
        match attempt.outcome {
            Ok(report) => {
                record.services_planned = report.services_planned;
                record.creates = report.creates;
                record.updates = report.updates;
                record.deletes = report.deletes;
                record.deletes_withheld = report.deletes_withheld;
                record.refused = report.refused.iter().map(|r| r.message.clone()).collect();
                for r in &report.refused {
                    self.metrics.refused(r.facet);
                }
                self.metrics.no_local_endpoints(report.no_local_endpoints);
                self.metrics.sync_succeeded(now, report.deletes);
                if let Some(ct) = &report.conntrack {
                    self.metrics.conntrack_cleaned(ct.deleted);
                }
                if report.conntrack_error.is_some() {
                    self.metrics.conntrack_failed();
                }
                for latency in inner.triggers.take_latencies(now) {
                    self.metrics.network_programmed(latency);
                }
                let batch = std::mem::take(&mut inner.batch);
                let new = inner.annotations.record(
                    kind == SyncKind::Full,
                    &batch,
                    &report.invalid_annotations,
                );
                self.metrics.invalid_annotations_seen(new.len());
                let conflicts = inner
                    .annotations
                    .record_peer_conflicts(&report.bgp_peer_conflicts);
                self.metrics.bgp_peer_conflicts_seen(conflicts);
                for a in new {
                    // Nobody listening (publisher not started or gone): fine.
                    let _ = self.feed.send(a);
                }
                inner.status.invalid_annotations = inner.annotations.current();
            }
            Err(e) => {
                if matches!(e, SyncError::Apply(_)) {
                    self.metrics.apply_failed();
                }
                record.result = AttemptResult::Error(e.to_string());
            }
        }
        inner.status.attempted(record);
        inner.status.artifacts = attempt.artifacts;
    }

    /// The health verdict at `now`.
    pub fn health(&self, now: SystemTime) -> Health {
        lock(&self.inner).status.health(now, self.sync_period)
    }

    /// A copy of the loop's status.
    pub fn loop_status(&self) -> LoopStatus {
        lock(&self.inner).status.clone()
    }

    /// The status document `kroute status` prints, at `now`.
    pub fn status(&self, now: SystemTime) -> StatusDoc {
        let inner = lock(&self.inner);
        StatusDoc::new(&inner.status, &inner.status.health(now, self.sync_period))
    }

    /// Trigger times collected and not yet observed.
    pub fn pending_trigger_times(&self) -> usize {
        lock(&self.inner).triggers.pending()
    }

    /// The metrics in Prometheus (OpenMetrics) text format.
    pub fn encode_metrics(&self) -> Result<String, std::fmt::Error> {
        self.metrics.encode()
    }

    /// The metrics, BGP's from what the speaker answered at this scrape.
    pub fn encode_metrics_with_bgp(&self, bgp: bgp::BgpSample) -> Result<String, std::fmt::Error> {
        self.metrics.encode_with_bgp(bgp)
    }

    /// The feed of invalid annotations for the Kubernetes Events publisher:
    /// each distinct (kind, object, key, value) once, when first seen in a
    /// sync report. Only the first call gets it.
    pub fn take_invalid_annotation_feed(
        &self,
    ) -> Option<mpsc::UnboundedReceiver<InvalidAnnotation>> {
        lock(&self.feed_rx).take()
    }
}

/// The health-check listeners' "proxy healthy": the loop's health rule
/// now (node eligibility aside, like kube-proxy's).
impl crate::host::health_check::ProxyHealth for Telemetry {
    fn healthy(&self) -> bool {
        self.health(SystemTime::now()).healthy
    }
}

/// RFC3339 in UTC (`2026-01-02T03:04:05.678Z`); the epoch when `t` cannot
/// be represented.
pub fn rfc3339(t: SystemTime) -> String {
    k8s_openapi::jiff::Timestamp::try_from(t)
        .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)
        .to_string()
}

/// Parses an RFC3339 timestamp (any offset); `None` when malformed.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    s.parse::<k8s_openapi::jiff::Timestamp>()
        .ok()
        .map(SystemTime::from)
}

#[cfg(test)]
#[path = "telemetry_tests.rs"]
mod tests;
