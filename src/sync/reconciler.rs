//! The reconciler: plans every service (full) or only changed ones
//! (incremental) against the host's state, sweeps what is no longer wanted,
//! and applies the result in one `HostNetwork::apply` per sync.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::ProxyContext;
use super::mark_sweep::sweep_unmarked;
use super::nft_service::plan_service;
use super::nft_skeleton::plan_skeleton;
use super::ownership::{Owner, Ownership};
pub use super::report::SyncReport;
use crate::host::nft::{Family, NftKey, NftValue};
use crate::host::{FacetPlan, HostError, HostNetwork, HostPlan, HostSnapshot};
use crate::model::config::ProxyConfig;
use crate::model::projection::{Projection, project_service};
use crate::model::{ClusterView, NodeInfo, ObjectKey};

/// Which kind of sync ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum SyncKind {
    /// Re-read the kernel, plan everything, sweep everything unmarked.
    Full,
    /// Plan only changed services against the in-memory mirror.
    Incremental,
}

/// Errors of a sync. After any of them the next sync is a full one.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Reading the host's state failed.
    #[error("reading host state: {0}")]
    Snapshot(#[source] HostError),
    /// Applying the plan failed; the host may be partly changed.
    #[error("applying changes: {0}")]
    Apply(#[source] HostError),
}

/// What a service wants this sync.
enum Wanted {
    Artifacts(BTreeMap<NftKey, NftValue>),
    /// The service could not be projected: keep what it had.
    KeepPrevious,
}

/// Static settings of the reconciler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReconcilerSettings {
    pub node_name: String,
    pub proxy: ProxyConfig,
    /// `service.kubernetes.io/service-proxy-name` value kroute answers to.
    pub proxy_name: Option<String>,
}

/// A plan and the ownership it would establish once applied.
pub struct PlannedSync {
    pub plan: HostPlan,
    pub report: SyncReport,
    /// Full sync: all ownership; incremental: the planned owners only.
    ownership: Ownership,
    context: ProxyContext,
}

impl PlannedSync {
    /// Wraps a facet plan; never sweeps from an incomplete view.
    fn new(
        mut nft: FacetPlan<NftKey, NftValue>,
        view: &ClusterView,
        mut report: SyncReport,
        ownership: Ownership,
        context: ProxyContext,
    ) -> PlannedSync {
        if !view.synced {
            report.deletes_withheld = nft.deletes.len();
            nft.deletes.clear();
        }
        report.count(&nft);
        PlannedSync {
            plan: HostPlan {
                nft,
                ..HostPlan::default()
            },
            report,
            ownership,
            context,
        }
    }
}

/// Drives a host towards the cluster view.
pub struct Reconciler<H> {
    host: H,
    settings: ReconcilerSettings,
    /// Who had which artifact at the last successful sync.
    ownership: Ownership,
    /// The context the owned artifacts were planned with.
    context: Option<ProxyContext>,
    /// A full sync is due (start, failed apply, context change, first synced view).
    needs_full: bool,
    /// A full sync has run with a synced view (deletes were allowed).
    swept_once: bool,
}

impl<H: HostNetwork> Reconciler<H> {
    pub fn new(host: H, settings: ReconcilerSettings) -> Reconciler<H> {
        Reconciler {
            host,
            settings,
            ownership: Ownership::default(),
            context: None,
            needs_full: true,
            swept_once: false,
        }
    }

    pub fn host(&self) -> &H {
        &self.host
    }

    pub fn host_mut(&mut self) -> &mut H {
        &mut self.host
    }

    /// True when the next `sync` will be a full one whatever is asked.
    pub fn needs_full(&self) -> bool {
        self.needs_full
    }

    /// This node's projection from the view (a bare name when the Node is unknown).
    pub fn context(&self, view: &ClusterView) -> ProxyContext {
        let node = match view.nodes.get(&self.settings.node_name) {
            Some(node) => NodeInfo::from_node(node).0,
            None => NodeInfo::named(&self.settings.node_name),
        };
        ProxyContext::new(&self.settings.proxy, node)
    }

    /// Whether `sync(view, _, full)` runs a full sync: when asked, after a
    /// failure, when this node's context changed, or on the first synced view.
    pub fn will_sync_full(&self, view: &ClusterView, full: bool) -> bool {
        full || self.needs_full
            || self.context.as_ref() != Some(&self.context(view))
            || (view.synced && !self.swept_once)
    }

    /// The settings this reconciler was built with.
    pub fn settings(&self) -> &ReconcilerSettings {
        &self.settings
    }

    /// Artifacts owned as of the last successful sync, per facet.
    pub fn owned_artifacts(&self) -> BTreeMap<String, usize> {
        BTreeMap::from([("nftables".to_string(), self.ownership.len())])
    }

    /// One sync: full when asked or due, else incremental over `dirty`.
    /// Exactly one `apply` when there is anything to change.
    pub fn sync(
        &mut self,
        view: &ClusterView,
        dirty: &BTreeSet<ObjectKey>,
        full: bool,
    ) -> Result<SyncReport, SyncError> {
        let full = self.will_sync_full(view, full);
        let started = Instant::now();
        let mut snapshot_time = Duration::ZERO;
        let mut planned = if full {
            let current = match self.host.snapshot() {
                Ok(snap) => snap,
                Err(e) => {
                    self.needs_full = true;
                    return Err(SyncError::Snapshot(e));
                }
            };
            snapshot_time = started.elapsed();
            self.plan_full(view, &current)
        } else {
            self.plan_incremental(view, dirty, self.host.mirror())
        };
        planned.report.snapshot_time = snapshot_time;
        planned.report.plan_time = started.elapsed() - snapshot_time;
        let applying = Instant::now();
        if !planned.plan.is_empty()
            && let Err(e) = self.host.apply(&planned.plan)
        {
            self.needs_full = true;
            return Err(SyncError::Apply(e));
        }
        planned.report.apply_time = applying.elapsed();
        Ok(self.commit(planned, view.synced, full))
    }

    /// Records the ownership a successfully applied plan established.
    fn commit(&mut self, planned: PlannedSync, synced: bool, full: bool) -> SyncReport {
        if full {
            self.ownership = planned.ownership;
            self.needs_full = false;
            self.swept_once |= synced;
        } else {
            self.ownership.merge(planned.ownership);
        }
        self.context = Some(planned.context);
        planned.report
    }

    /// Plans everything against `current` (a fresh kernel snapshot): every
    /// service is marked, everything unmarked is swept (unless the view is
    /// not synced yet).
    pub fn plan_full(&self, view: &ClusterView, current: &HostSnapshot) -> PlannedSync {
        let context = self.context(view);
        let mut report = SyncReport::new(SyncKind::Full);
        // This node's annotations are parsed with the context; a change of
        // them changes the context, so a full sync reports them.
        if let Some(node) = view.nodes.get(&self.settings.node_name) {
            report
                .invalid_annotations
                .extend(NodeInfo::from_node(node).1);
        }
        let mut nft = FacetPlan::default();
        let mut ownership = Ownership::default();
        for family in Family::ALL {
            let skeleton = plan_skeleton(&context, family);
            ownership.claim_and_mark(
                Owner::Skeleton,
                skeleton,
                None,
                &current.nft,
                &mut nft,
                &mut report,
            );
        }
        for key in view.services.keys() {
            report.services_planned += 1;
            let owner = Owner::Service(key.clone());
            match self.wanted(view, key, &context, &mut report) {
                Wanted::Artifacts(artifacts) => {
                    ownership.claim_and_mark(
                        owner,
                        artifacts,
                        None,
                        &current.nft,
                        &mut nft,
                        &mut report,
                    );
                }
                Wanted::KeepPrevious => {
                    // Keep what it had, as it is in the kernel now.
                    let previous = self.ownership.keys_of(&owner);
                    let kept = previous
                        .into_iter()
                        .flatten()
                        .filter(|k| current.nft.contains_key(*k));
                    ownership.keep(owner, kept.cloned());
                }
            }
        }
        sweep_unmarked(
            current.nft.keys(),
            &current.nft,
            |k| ownership.owner_of(k).is_some(),
            &mut nft,
        );
        PlannedSync::new(nft, view, report, ownership, context)
    }

    /// Plans only `dirty` services against `current` (the mirror). Their
    /// previous artifacts that are no longer wanted are swept.
    pub fn plan_incremental(
        &self,
        view: &ClusterView,
        dirty: &BTreeSet<ObjectKey>,
        current: &HostSnapshot,
    ) -> PlannedSync {
        let context = self.context(view);
        let mut report = SyncReport::new(SyncKind::Incremental);
        let mut nft = FacetPlan::default();
        let mut planned = Ownership::default();
        let empty = BTreeSet::new();
        for key in dirty {
            report.services_planned += 1;
            let owner = Owner::Service(key.clone());
            let Wanted::Artifacts(artifacts) = self.wanted(view, key, &context, &mut report) else {
                continue;
            };
            let previous = self.ownership.keys_of(&owner).unwrap_or(&empty);
            let wanted: BTreeSet<NftKey> = artifacts.keys().cloned().collect();
            sweep_unmarked(previous, &current.nft, |k| wanted.contains(k), &mut nft);
            planned.claim_and_mark(
                owner.clone(),
                artifacts,
                Some(&self.ownership),
                &current.nft,
                &mut nft,
                &mut report,
            );
            if !view.synced {
                // Deletes are withheld: keep owning what stays behind.
                planned.keep(owner, previous.iter().cloned());
            }
        }
        PlannedSync::new(nft, view, report, planned, context)
    }

    fn wanted(
        &self,
        view: &ClusterView,
        key: &ObjectKey,
        context: &ProxyContext,
        report: &mut SyncReport,
    ) -> Wanted {
        let Some(svc) = view.services.get(key) else {
            return Wanted::Artifacts(BTreeMap::new());
        };
        let (projected, warnings) = project_service(
            svc,
            view.slices_of(key),
            &context.node,
            self.settings.proxy_name.as_deref(),
        );
        report.invalid_annotations.extend(warnings);
        match projected {
            Ok(Projection::Service(s)) => Wanted::Artifacts(plan_service(&s, context)),
            Ok(Projection::Skipped(_)) => Wanted::Artifacts(BTreeMap::new()),
            Err(e) => {
                report.invalid_services.push(e);
                Wanted::KeepPrevious
            }
        }
    }
}

#[cfg(test)]
#[path = "reconciler_tests.rs"]
mod tests;
