//! What telemetry reads from a cluster view: whether this node is eligible
//! for traffic, and the EndpointSlice trigger times behind
//! `kubeproxy_network_programming_duration_seconds`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use crate::model::{ClusterView, ObjectKey};

/// EndpointSlice annotation: when the change that produced this slice
/// version happened (set by the EndpointSlice controller, RFC3339).
pub const LAST_CHANGE_TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";

/// Taint the cluster autoscaler puts on a node it is about to remove.
pub const TO_BE_DELETED_TAINT: &str = "ToBeDeletedByClusterAutoscaler";

/// False when this Node is being deleted (`metadata.deletionTimestamp`) or
/// carries the [`TO_BE_DELETED_TAINT`]; a node missing from the view is
/// eligible (kube-proxy's rule).
pub fn node_eligible(view: &ClusterView, node_name: &str) -> bool {
    let Some(node) = view.nodes.get(node_name) else {
        return true;
    };
    if node.metadata.deletion_timestamp.is_some() {
        return false;
    }
    let tainted = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .is_some_and(|taints| taints.iter().any(|t| t.key == TO_BE_DELETED_TAINT));
    !tainted
}

/// Trigger times seen per service and slice, and those waiting for a
/// successful sync. Like kube-proxy, trigger times from before kroute started
/// are ignored (they measure nothing kroute did), and a slice contributes a
/// time only when its annotation changed.
#[derive(Debug)]
pub struct TriggerTimes {
    start: SystemTime,
    /// Last trigger time collected, per service and slice name.
    seen: BTreeMap<ObjectKey, BTreeMap<String, SystemTime>>,
    /// Collected, not yet observed (no successful sync since).
    pending: Vec<SystemTime>,
}

impl TriggerTimes {
    pub fn new(start: SystemTime) -> TriggerTimes {
        TriggerTimes {
            start,
            seen: BTreeMap::new(),
            pending: Vec::new(),
        }
    }

    /// Collects the new trigger times of the `dirty` services' slices in `view`.
    pub fn collect(&mut self, view: &ClusterView, dirty: &BTreeSet<ObjectKey>) {
        for key in dirty {
            let mut now_seen = BTreeMap::new();
            let before = self.seen.remove(key).unwrap_or_default();
            for slice in view.slices_of(key) {
                let Some(at) = slice
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(LAST_CHANGE_TRIGGER_TIME))
                    .and_then(|v| super::parse_rfc3339(v))
                else {
                    continue;
                };
                let name = slice.metadata.name.clone().unwrap_or_default();
                if before.get(&name) != Some(&at) && at > self.start {
                    self.pending.push(at);
                }
                now_seen.insert(name, at);
            }
            if !now_seen.is_empty() {
                self.seen.insert(key.clone(), now_seen);
            }
        }
    }

    /// After a successful sync at `now`: how long each pending change took to
    /// be programmed (times after `now`, from a skewed clock, are dropped).
    pub fn take_latencies(&mut self, now: SystemTime) -> Vec<Duration> {
        self.pending
            .drain(..)
            .filter_map(|t| now.duration_since(t).ok())
            .collect()
    }

    /// Number of trigger times waiting for a successful sync.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}
