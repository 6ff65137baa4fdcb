//! The reconciler: plans every service (full) or only changed ones
//! (incremental) against the host's state, sweeps what is no longer wanted,
//! and applies the result in one `HostNetwork::apply` per sync. Every facet
//! goes through the same steps (`facet_steps`): a service's planner returns
//! its artifacts for all facets at once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::ProxyContext;
use super::conntrack::{ConntrackPlan, ConntrackTracker};
use super::facet_steps::Planning;
use super::health_check::NoLocalEndpoints;
use super::ownership::{Others, Owner, Ownerships};
pub use super::report::SyncReport;
use super::service_plan::{ServiceArtifacts, plan_service, plan_skeleton};
use crate::host::{HostError, HostNetwork, HostPlan, HostSnapshot};
use crate::model::config::{BgpConfig, ProxyConfig};
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
    /// Its artifacts, and its service ports without local endpoints.
    Artifacts(Box<ServiceArtifacts>, NoLocalEndpoints),
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
    /// `bgp:` (what this node announces, its speaker and peers).
    pub bgp: BgpConfig,
}

/// A plan and the ownership it would establish once applied.
pub struct PlannedSync {
    pub plan: HostPlan,
    pub report: SyncReport,
    /// Full sync: all ownership; incremental: the planned owners only.
    ownership: Ownerships,
    context: ProxyContext,
    /// The UDP services' conntrack filters, recorded once applied.
    conntrack: ConntrackPlan,
    /// Per service planned, its ports without local endpoints (full sync:
    /// every service with any).
    no_local: BTreeMap<ObjectKey, NoLocalEndpoints>,
}

impl PlannedSync {
    /// Wraps a plan; never sweeps from an incomplete view.
    fn new(
        mut plan: HostPlan,
        view: &ClusterView,
        mut report: SyncReport,
        ownership: Ownerships,
        context: ProxyContext,
        conntrack: ConntrackPlan,
    ) -> PlannedSync {
        if !view.synced {
            report.deletes_withheld = plan.delete_count();
            plan = plan.without_deletes();
        }
        report.count(&plan);
        PlannedSync {
            plan,
            report,
            ownership,
            context,
            conntrack,
            no_local: BTreeMap::new(),
        }
    }

    /// Records the services' counts, and the total they make in `report`.
    fn with_no_local(
        mut self,
        no_local: BTreeMap<ObjectKey, NoLocalEndpoints>,
        total: NoLocalEndpoints,
    ) -> PlannedSync {
        self.no_local = no_local;
        self.report.no_local_endpoints = total;
        self
    }
}

/// Drives a host towards the cluster view.
pub struct Reconciler<H> {
    host: H,
    settings: ReconcilerSettings,
    /// Who had which artifact at the last successful sync, per facet.
    ownership: Ownerships,
    /// The context the owned artifacts were planned with.
    context: Option<ProxyContext>,
    /// A full sync is due (start, failed apply, context change, first synced view).
    needs_full: bool,
    /// A full sync has run with a synced view (deletes were allowed).
    swept_once: bool,
    /// UDP services' conntrack filters, and whether a cleanup is due.
    conntrack: ConntrackTracker,
    /// Services with ports without local endpoints, as last committed.
    no_local: BTreeMap<ObjectKey, NoLocalEndpoints>,
}

impl<H: HostNetwork> Reconciler<H> {
    pub fn new(host: H, settings: ReconcilerSettings) -> Reconciler<H> {
        Reconciler {
            host,
            settings,
            ownership: Ownerships::default(),
            context: None,
            needs_full: true,
            swept_once: false,
            conntrack: ConntrackTracker::default(),
            no_local: BTreeMap::new(),
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
        ProxyContext::new(&self.settings.proxy, node).with_bgp(
            &self.settings.bgp,
            view,
            self.settings.proxy_name.as_deref(),
        )
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
        self.ownership.counts()
    }

    /// One sync: full when asked or due, else incremental over `dirty`.
    /// Exactly one `apply` when there is anything to change. A facet that
    /// fails, or refuses some artifacts, makes the next sync a full one.
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
        if !planned.plan.is_empty() {
            match self.host.apply(&planned.plan) {
                Ok(applied) => planned.report.refused(applied.refused),
                Err(e) => {
                    self.needs_full = true;
                    return Err(SyncError::Apply(e));
                }
            }
        }
        planned.report.apply_time = applying.elapsed();
        if full && view.synced {
            self.host.synced_view_applied();
        }
        self.after_apply(&planned);
        let refused = !planned.report.refused.is_empty();
        let mut report = self.commit(planned, view.synced, full);
        // What the host refused is retried by the next (full) sync.
        self.needs_full |= refused;
        // Like a sweep, never from an incomplete view; after a partial
        // apply, the full sync that follows cleans.
        if view.synced && !refused {
            self.clean_conntrack(&mut report);
        }
        Ok(report)
    }

    /// Deletes stale UDP conntrack entries when a UDP service changed since
    /// the last cleanup. A failure is reported, never fails the sync, and
    /// the cleanup stays due.
    fn clean_conntrack(&mut self, report: &mut SyncReport) {
        if !self.conntrack.due() {
            return;
        }
        let flush = self.conntrack.flush();
        if flush.is_empty() {
            self.conntrack.cleaned();
            return;
        }
        match self.host.flush_conntrack(&flush) {
            Ok(done) => {
                self.conntrack.cleaned();
                report.conntrack = Some(done);
            }
            Err(e) => report.conntrack_error = Some(e.to_string()),
        }
    }

    /// After a successful apply (the plan is on the host, the ownership not
    /// yet committed): actions that follow what was applied go here.
    fn after_apply(&mut self, _planned: &PlannedSync) {}

    /// Records the ownership a successfully applied plan established.
    fn commit(&mut self, planned: PlannedSync, synced: bool, full: bool) -> SyncReport {
        if full {
            self.ownership = planned.ownership;
            self.no_local = planned.no_local;
            self.needs_full = false;
            self.swept_once |= synced;
        } else {
            self.ownership.merge(planned.ownership);
            for (key, count) in planned.no_local {
                if count == NoLocalEndpoints::default() {
                    self.no_local.remove(&key);
                } else {
                    self.no_local.insert(key, count);
                }
            }
        }
        self.context = Some(planned.context);
        self.conntrack.commit(planned.conntrack);
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
        self.report_bgp_context(&context, &mut report);
        let mut plan = HostPlan::default();
        let mut ownership = Ownerships::default();
        let mut conntrack = ConntrackPlan::full();
        let mut no_local = BTreeMap::new();
        let mut planning = Planning {
            current,
            plan: &mut plan,
            ownership: &mut ownership,
            report: &mut report,
        };
        let skeleton = Arc::new(Owner::Skeleton);
        planning.claim(&skeleton, plan_skeleton(&context), Others::none());
        for key in view.services.keys() {
            planning.report.services_planned += 1;
            let owner = Arc::new(Owner::Service(key.clone()));
            match self.wanted(view, key, &context, planning.report, &mut conntrack) {
                Wanted::Artifacts(artifacts, count) => {
                    planning.claim(&owner, *artifacts, Others::none());
                    if count != NoLocalEndpoints::default() {
                        no_local.insert(key.clone(), count);
                    }
                }
                // Keep what it had, as it is on the host now.
                Wanted::KeepPrevious => {
                    planning.keep(&owner, &self.ownership, true);
                    if let Some(count) = self.no_local.get(key) {
                        no_local.insert(key.clone(), *count);
                    }
                }
            }
        }
        planning.sweep_unowned();
        let total = NoLocalEndpoints::total(no_local.values());
        PlannedSync::new(plan, view, report, ownership, context, conntrack)
            .with_no_local(no_local, total)
    }

    /// Plans only `dirty` services against `current` (the mirror), with the
    /// services waiting for an artifact one of them has (it may release
    /// it). Their previous artifacts that are no longer wanted are swept,
    /// all of them before any is claimed, so an artifact one releases
    /// another may take in the same sync.
    pub fn plan_incremental(
        &self,
        view: &ClusterView,
        dirty: &BTreeSet<ObjectKey>,
        current: &HostSnapshot,
    ) -> PlannedSync {
        let context = self.context(view);
        let mut report = SyncReport::new(SyncKind::Incremental);
        let mut plan = HostPlan::default();
        let mut planned = Ownerships::default();
        let mut conntrack = ConntrackPlan::incremental();
        let mut no_local = BTreeMap::new();
        let mut planning = Planning {
            current,
            plan: &mut plan,
            ownership: &mut planned,
            report: &mut report,
        };
        let mut planning_now = dirty.clone();
        planning_now.extend(self.ownership.waiting_on(dirty));
        let mut claims = Vec::new();
        for key in &planning_now {
            planning.report.services_planned += 1;
            let owner = Arc::new(Owner::Service(key.clone()));
            let wanted = self.wanted(view, key, &context, planning.report, &mut conntrack);
            let Wanted::Artifacts(artifacts, count) = wanted else {
                continue;
            };
            no_local.insert(key.clone(), count);
            planning.sweep_unwanted(&owner, &self.ownership, &artifacts);
            claims.push((owner, artifacts));
        }
        // Only the services planned here give up what they had.
        let replanned = (claims.iter())
            .filter_map(|(o, _)| match o.as_ref() {
                Owner::Service(key) => Some(key.clone()),
                Owner::Skeleton => None,
            })
            .collect();
        let others = Others {
            previous: Some(&self.ownership),
            replanned: &replanned,
        };
        for (owner, artifacts) in claims {
            planning.claim(&owner, *artifacts, others);
            if !view.synced {
                // Deletes are withheld: keep owning what stays behind.
                planning.keep(&owner, &self.ownership, false);
            }
        }
        let unchanged = (self.no_local.iter())
            .filter(|(k, _)| !no_local.contains_key(*k))
            .map(|(_, c)| c);
        let total = NoLocalEndpoints::total(unchanged.chain(no_local.values()));
        PlannedSync::new(plan, view, report, planned, context, conntrack)
            .with_no_local(no_local, total)
    }

    /// The BGP context's problems (`BgpContext::report`).
    fn report_bgp_context(&self, context: &ProxyContext, report: &mut SyncReport) {
        if let Some(bgp) = &context.bgp {
            bgp.report(report);
        }
    }

    fn wanted(
        &self,
        view: &ClusterView,
        key: &ObjectKey,
        context: &ProxyContext,
        report: &mut SyncReport,
        conntrack: &mut ConntrackPlan,
    ) -> Wanted {
        let Some(svc) = view.services.get(key) else {
            conntrack.planned(key, None);
            return Wanted::Artifacts(Box::default(), NoLocalEndpoints::default());
        };
        let (projected, warnings) = project_service(
            svc,
            view.slices_of(key),
            &context.node,
            self.settings.proxy_name.as_deref(),
        );
        report.invalid_annotations.extend(warnings);
        match projected {
            Ok(Projection::Service(s)) if !context.proxy => {
                // A BGP-only node: no dataplane, so no conntrack to clean.
                conntrack.planned(key, None);
                let artifacts = Box::new(plan_service(&s, context));
                Wanted::Artifacts(artifacts, NoLocalEndpoints::default())
            }
            Ok(Projection::Service(s)) => {
                conntrack.planned(key, Some(&s));
                let artifacts = Box::new(plan_service(&s, context));
                Wanted::Artifacts(artifacts, NoLocalEndpoints::of(&s))
            }
            Ok(Projection::Skipped(_)) => {
                conntrack.planned(key, None);
                Wanted::Artifacts(Box::default(), NoLocalEndpoints::default())
            }
            Err(e) => {
                conntrack.kept(key);
                report.invalid_services.push(e);
                Wanted::KeepPrevious
            }
        }
    }
}

#[cfg(test)]
#[path = "reconciler_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "reconciler_facet_tests.rs"]
mod facet_tests;

#[cfg(test)]
#[path = "reconciler_conntrack_tests.rs"]
mod conntrack_tests;

#[cfg(test)]
#[path = "reconciler_restart_tests.rs"]
mod restart_tests;
