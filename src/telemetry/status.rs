//! `LoopStatus`: the reconcile loop's state as the side servers report it,
//! and the health rule. Pure: every time is passed in.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::model::annotations::InvalidAnnotation;
use crate::sync::SyncKind;

/// How the last sync attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptResult {
    Ok,
    /// The error text.
    Error(String),
}

/// The last sync attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncAttemptStatus {
    pub kind: SyncKind,
    pub at: SystemTime,
    pub duration: Duration,
    pub result: AttemptResult,
    /// From the report (zero when the sync failed before one existed).
    pub services_planned: usize,
    pub creates: usize,
    pub updates: usize,
    pub deletes: usize,
    pub deletes_withheld: usize,
    /// Artifacts the host refused (each message names the artifact).
    pub refused: Vec<String>,
}

/// The last failed sync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastError {
    pub at: SystemTime,
    pub message: String,
}

/// What the loop did and what it is waiting for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoopStatus {
    pub started: SystemTime,
    /// This node's name (empty before the first view).
    pub node_name: String,
    pub last_attempt: Option<SyncAttemptStatus>,
    pub last_success: Option<SystemTime>,
    /// When the oldest change not yet synced was queued.
    pub oldest_pending: Option<SystemTime>,
    pub last_error: Option<LastError>,
    /// Every source delivered a complete view at least once.
    pub source_synced: bool,
    /// False while this Node is being deleted or drained by the autoscaler.
    pub node_eligible: bool,
    /// Artifacts kroute owns, per facet (`nftables`, …).
    pub artifacts: BTreeMap<String, usize>,
    /// Invalid annotations as of the last successful sync.
    pub invalid_annotations: Vec<InvalidAnnotation>,
}

/// The health verdict at one instant (kube-proxy's `/healthz` fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Health {
    pub healthy: bool,
    pub node_eligible: bool,
    /// The last successful sync; the start time before the first one.
    pub last_updated: SystemTime,
    pub current_time: SystemTime,
}

impl Health {
    /// `/healthz`: healthy and the node is eligible for traffic.
    pub fn healthz_ok(&self) -> bool {
        self.healthy && self.node_eligible
    }

    /// `/livez`: healthy, whatever the node's state.
    pub fn livez_ok(&self) -> bool {
        self.healthy
    }
}

impl LoopStatus {
    pub fn new(started: SystemTime) -> LoopStatus {
        LoopStatus {
            started,
            node_name: String::new(),
            last_attempt: None,
            last_success: None,
            oldest_pending: None,
            last_error: None,
            source_synced: false,
            node_eligible: true,
            artifacts: BTreeMap::new(),
            invalid_annotations: Vec::new(),
        }
    }

    /// A change was queued at `now`; only the oldest unsynced one counts.
    pub fn queued(&mut self, now: SystemTime) {
        self.oldest_pending.get_or_insert(now);
    }

    /// Records an attempt; a successful one clears the pending change.
    pub fn attempted(&mut self, attempt: SyncAttemptStatus) {
        match &attempt.result {
            AttemptResult::Ok => {
                self.last_success = Some(attempt.at);
                self.oldest_pending = None;
            }
            AttemptResult::Error(message) => {
                self.last_error = Some(LastError {
                    at: attempt.at,
                    message: message.clone(),
                });
            }
        }
        self.last_attempt = Some(attempt);
    }

    /// kube-proxy's rule: unhealthy once a queued change has waited
    /// `2 × sync_period` or more without a successful sync; healthy when
    /// nothing is pending (also before the first change). A pending time
    /// after `now` (clock stepped back) counts as no wait.
    pub fn health(&self, now: SystemTime, sync_period: Duration) -> Health {
        let timeout = sync_period.saturating_mul(2);
        let healthy = match self.oldest_pending {
            None => true,
            Some(queued) => now.duration_since(queued).unwrap_or(Duration::ZERO) < timeout,
        };
        Health {
            healthy,
            node_eligible: self.node_eligible,
            last_updated: self.last_success.unwrap_or(self.started),
            current_time: now,
        }
    }
}
