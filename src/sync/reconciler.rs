//! The reconciler: plans every service (full) or only changed ones
//! (incremental) against the host's state, sweeps what is no longer wanted,
//! and applies the result in one `HostNetwork::apply` per sync.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::ProxyContext;
use super::mark_sweep::{diff_full, mark, sweep_unmarked};
use super::nft_service::plan_service;
use super::nft_skeleton::plan_skeleton;
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

/// Who asked for an artifact at the last successful sync.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Owner {
    /// The fixed part of the tables.
    Skeleton,
    Service(ObjectKey),
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
    owned: BTreeMap<Owner, BTreeSet<NftKey>>,
    context: ProxyContext,
}

impl PlannedSync {
    /// Wraps a facet plan; never sweeps from an incomplete view.
    fn new(
        mut nft: FacetPlan<NftKey, NftValue>,
        view: &ClusterView,
        mut report: SyncReport,
        owned: BTreeMap<Owner, BTreeSet<NftKey>>,
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
            owned,
            context,
        }
    }
}

/// Drives a host towards the cluster view.
pub struct Reconciler<H> {
    host: H,
    settings: ReconcilerSettings,
    /// Artifacts each owner had at the last successful sync.
    owned: BTreeMap<Owner, BTreeSet<NftKey>>,
    owner_of: HashMap<NftKey, Owner>,
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
            owned: BTreeMap::new(),
            owner_of: HashMap::new(),
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

    /// One sync: full when asked or due, else incremental over `dirty`.
    /// Exactly one `apply` when there is anything to change.
    pub fn sync(
        &mut self,
        view: &ClusterView,
        dirty: &BTreeSet<ObjectKey>,
        full: bool,
    ) -> Result<SyncReport, SyncError> {
        let context = self.context(view);
        let full = full
            || self.needs_full
            || self.context.as_ref() != Some(&context)
            || (view.synced && !self.swept_once);
        let planned = if full {
            let current = match self.host.snapshot() {
                Ok(snap) => snap,
                Err(e) => {
                    self.needs_full = true;
                    return Err(SyncError::Snapshot(e));
                }
            };
            self.plan_full(view, &current)
        } else {
            self.plan_incremental(view, dirty, self.host.mirror())
        };
        if !planned.plan.is_empty()
            && let Err(e) = self.host.apply(&planned.plan)
        {
            self.needs_full = true;
            return Err(SyncError::Apply(e));
        }
        Ok(self.commit(planned, view.synced, full))
    }

    /// Records the ownership a successfully applied plan established.
    fn commit(&mut self, planned: PlannedSync, synced: bool, full: bool) -> SyncReport {
        if full {
            self.owned = planned.owned;
            self.owner_of = self
                .owned
                .iter()
                .flat_map(|(o, keys)| keys.iter().map(move |k| (k.clone(), o.clone())))
                .collect();
            self.needs_full = false;
            self.swept_once |= synced;
        } else {
            for (owner, keys) in planned.owned {
                if let Some(old) = self.owned.remove(&owner) {
                    for k in old {
                        self.owner_of.remove(&k);
                    }
                }
                for k in &keys {
                    self.owner_of.insert(k.clone(), owner.clone());
                }
                if !keys.is_empty() {
                    self.owned.insert(owner, keys);
                }
            }
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
        let mut desired: BTreeMap<NftKey, NftValue> = BTreeMap::new();
        let mut owned: BTreeMap<Owner, BTreeSet<NftKey>> = BTreeMap::new();

        for family in Family::ALL {
            let skeleton = plan_skeleton(&context, family);
            owned
                .entry(Owner::Skeleton)
                .or_default()
                .extend(skeleton.keys().cloned());
            desired.extend(skeleton);
        }
        for key in view.services.keys() {
            report.services_planned += 1;
            let owner = Owner::Service(key.clone());
            match self.wanted(view, key, &context, &mut report) {
                Wanted::Artifacts(artifacts) => {
                    let mut mine = BTreeSet::new();
                    for (k, v) in artifacts {
                        if desired.contains_key(&k) {
                            report.conflict(key, &k);
                            continue;
                        }
                        mine.insert(k.clone());
                        desired.insert(k, v);
                    }
                    owned.insert(owner, mine);
                }
                Wanted::KeepPrevious => {
                    // Mark what it had as it is in the kernel now.
                    let previous = self.owned.get(&owner).cloned().unwrap_or_default();
                    for k in &previous {
                        if let Some(v) = current.nft.get(k) {
                            desired.entry(k.clone()).or_insert_with(|| v.clone());
                        }
                    }
                    owned.insert(owner, previous);
                }
            }
        }
        let nft = diff_full(&desired, &current.nft);
        PlannedSync::new(nft, view, report, owned, context)
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
        let mut owned = BTreeMap::new();
        let empty = BTreeSet::new();
        for key in dirty {
            report.services_planned += 1;
            let owner = Owner::Service(key.clone());
            let Wanted::Artifacts(mut artifacts) = self.wanted(view, key, &context, &mut report)
            else {
                continue;
            };
            artifacts.retain(|k, _| match self.owner_of.get(k) {
                Some(other) if *other != owner => {
                    report.conflict(key, k);
                    false
                }
                _ => true,
            });
            let previous = self.owned.get(&owner).unwrap_or(&empty);
            mark(&artifacts, &current.nft, &mut nft);
            sweep_unmarked(
                previous,
                &current.nft,
                |k| artifacts.contains_key(k),
                &mut nft,
            );
            let mut mine: BTreeSet<NftKey> = artifacts.into_keys().collect();
            if !view.synced {
                // Deletes are withheld: keep owning what stays behind.
                mine.extend(previous.iter().cloned());
            }
            owned.insert(owner, mine);
        }
        PlannedSync::new(nft, view, report, owned, context)
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
