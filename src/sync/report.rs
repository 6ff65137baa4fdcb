//! `SyncReport`: what one sync did, for logs, `kroute plan` and metrics.

use std::fmt::Display;
use std::time::Duration;

use crate::host::conntrack::ConntrackReport;
use crate::host::{HostPlan, Refused};
use crate::model::ObjectKey;
use crate::model::annotations::InvalidAnnotation;
use crate::model::projection::ProjectionError;

use super::SyncKind;
use super::health_check::NoLocalEndpoints;

/// An artifact the host refused to apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotApplied {
    /// The facet's name.
    pub facet: &'static str,
    /// The host's error, naming the artifact.
    pub message: String,
}

/// Outcome of one sync (or one plan).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncReport {
    pub kind: SyncKind,
    pub services_planned: usize,
    pub creates: usize,
    pub updates: usize,
    pub deletes: usize,
    /// Deletes not made because the sources have not synced yet.
    pub deletes_withheld: usize,
    pub invalid_annotations: Vec<InvalidAnnotation>,
    /// Services that could not be projected (their artifacts were kept).
    pub invalid_services: Vec<ProjectionError>,
    /// Artifacts two services both wanted; the first (by name) keeps it.
    pub conflicts: Vec<String>,
    /// Why BGP cannot run on this node, and BGP peers left out (config).
    pub bgp_errors: Vec<String>,
    /// BGP peers defined twice with different session parameters (the
    /// oldest definition stays; `kroute_bgp_peer_conflicts_total`).
    pub bgp_peer_conflicts: Vec<String>,
    /// Artifacts the host refused (the rest was applied); the next sync is
    /// a full one and retries them.
    pub refused: Vec<NotApplied>,
    /// The UDP conntrack cleanup that followed the apply, when one ran.
    pub conntrack: Option<ConntrackReport>,
    /// Why the cleanup failed (the sync still succeeded; retried next sync).
    pub conntrack_error: Option<String>,
    /// Service ports with a `Local` policy and no local endpoint, over
    /// every service, as of this sync (`kubeproxy_sync_proxy_rules_no_local_endpoints_total`).
    pub no_local_endpoints: NoLocalEndpoints,
    /// Time spent reading the host (full syncs), planning, and applying.
    pub snapshot_time: Duration,
    pub plan_time: Duration,
    pub apply_time: Duration,
}

impl SyncReport {
    pub fn new(kind: SyncKind) -> SyncReport {
        SyncReport {
            kind,
            services_planned: 0,
            creates: 0,
            updates: 0,
            deletes: 0,
            deletes_withheld: 0,
            invalid_annotations: Vec::new(),
            invalid_services: Vec::new(),
            conflicts: Vec::new(),
            bgp_errors: Vec::new(),
            bgp_peer_conflicts: Vec::new(),
            refused: Vec::new(),
            conntrack: None,
            conntrack_error: None,
            no_local_endpoints: NoLocalEndpoints::default(),
            snapshot_time: Duration::ZERO,
            plan_time: Duration::ZERO,
            apply_time: Duration::ZERO,
        }
    }

    pub(super) fn count(&mut self, plan: &HostPlan) {
        let total = plan.total();
        self.creates += total.creates;
        self.updates += total.updates;
        self.deletes += total.deletes;
    }

    pub(super) fn refused(&mut self, refused: Vec<Refused>) {
        self.refused.extend(refused.into_iter().map(|r| NotApplied {
            facet: r.facet,
            message: with_causes(&r.error),
        }));
    }

    pub(super) fn conflict(&mut self, service: &ObjectKey, key: &impl Display) {
        self.conflicts.push(format!(
            "Service {service}: {key} is already used by another service"
        ));
    }
}

impl SyncReport {
    /// Logs the outcome: one info line, one warning per bad input.
    pub fn log(&self) {
        for e in &self.invalid_annotations {
            tracing::warn!(reason = "InvalidAnnotation", "{e}");
        }
        for e in &self.invalid_services {
            tracing::warn!(
                reason = "InvalidService",
                "{e}; keeping what was programmed for it"
            );
        }
        for c in &self.conflicts {
            tracing::warn!(reason = "Conflict", "{c}");
        }
        for e in &self.bgp_errors {
            tracing::error!(reason = "BgpConfig", "{e}");
        }
        for c in &self.bgp_peer_conflicts {
            tracing::warn!(reason = "BgpPeerConflict", "{c}");
        }
        for r in &self.refused {
            tracing::error!(
                reason = "NotApplied",
                facet = r.facet,
                "{}; retried at the next full sync",
                r.message
            );
        }
        if let Some(e) = &self.conntrack_error {
            tracing::warn!(
                reason = "ConntrackCleanup",
                "{e}; stale UDP flows stay until the next sync retries"
            );
        }
        if let Some(ct) = self.conntrack.as_ref().filter(|ct| ct.deleted > 0) {
            tracing::info!(
                deleted = ct.deleted,
                already_gone = ct.already_gone,
                undecodable = ct.undecodable,
                "stale UDP conntrack entries deleted"
            );
        }
        tracing::info!(
            kind = ?self.kind,
            services = self.services_planned,
            creates = self.creates,
            updates = self.updates,
            deletes = self.deletes,
            deletes_withheld = self.deletes_withheld,
            snapshot = ?self.snapshot_time,
            plan = ?self.plan_time,
            apply = ?self.apply_time,
            "synced"
        );
    }
}

/// An error and its causes, `: `-separated.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
