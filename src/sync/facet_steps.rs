//! The reconciler's steps, each run on every facet by the same generic code
//! (`for_each_facet`): claim and mark an owner's artifacts, keep what an
//! owner had, sweep what is no longer wanted. The reconciler says which
//! steps a sync takes; nothing here knows any facet by name.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::mark_sweep::sweep_unmarked;
use super::ownership::{Others, Owner, Ownerships};
use super::report::SyncReport;
use super::service_plan::ServiceArtifacts;
use crate::host::facet::{Facet, FacetVisitor, for_each_facet};
use crate::host::{HostPlan, HostSnapshot};

/// One sync being planned: the state it is planned against, the plan and
/// ownership it builds, and its report.
pub struct Planning<'a> {
    /// A fresh snapshot (full sync) or the mirror (incremental).
    pub current: &'a HostSnapshot,
    pub plan: &'a mut HostPlan,
    /// The ownership this sync establishes.
    pub ownership: &'a mut Ownerships,
    pub report: &'a mut SyncReport,
}

impl Planning<'_> {
    /// `owner` claims `artifacts` in every facet: missing ones are created,
    /// changed ones updated. An artifact already claimed in this sync, or
    /// held by one of `others`, stays with its owner (`Ownership::claim_and_mark`).
    pub fn claim(&mut self, owner: &Arc<Owner>, artifacts: ServiceArtifacts, others: Others<'_>) {
        struct Claim<'p, 'a> {
            p: &'p mut Planning<'a>,
            owner: &'p Arc<Owner>,
            artifacts: ServiceArtifacts,
            others: Others<'p>,
        }
        impl FacetVisitor for Claim<'_, '_> {
            fn visit<F: Facet>(&mut self) {
                let artifacts = std::mem::take(F::part_mut(&mut self.artifacts));
                F::part_mut(self.p.ownership).claim_and_mark(
                    self.owner,
                    artifacts,
                    self.others.of::<F>(),
                    F::part(self.p.current),
                    F::part_mut(self.p.plan),
                    self.p.report,
                );
            }
        }
        for_each_facet(&mut Claim {
            p: self,
            owner,
            artifacts,
            others,
        });
    }

    /// `owner` keeps, in every facet, what it had in `previous`; with
    /// `only_present`, only what is in `current` still.
    pub fn keep(&mut self, owner: &Arc<Owner>, previous: &Ownerships, only_present: bool) {
        struct Keep<'p, 'a> {
            p: &'p mut Planning<'a>,
            owner: &'p Arc<Owner>,
            previous: &'p Ownerships,
            only_present: bool,
        }
        impl FacetVisitor for Keep<'_, '_> {
            fn visit<F: Facet>(&mut self) {
                let Some(had) = F::part(self.previous).keys_of(self.owner) else {
                    return;
                };
                let current = F::part(self.p.current);
                let kept = had
                    .iter()
                    .filter(|k| !self.only_present || current.contains_key(*k));
                F::part_mut(self.p.ownership).keep(self.owner, kept.cloned());
            }
        }
        for_each_facet(&mut Keep {
            p: self,
            owner,
            previous,
            only_present,
        });
    }

    /// Sweeps, in every facet, what `owner` had in `previous` and does not
    /// want any more.
    pub fn sweep_unwanted(
        &mut self,
        owner: &Owner,
        previous: &Ownerships,
        wanted: &ServiceArtifacts,
    ) {
        struct Sweep<'p, 'a> {
            p: &'p mut Planning<'a>,
            owner: &'p Owner,
            previous: &'p Ownerships,
            wanted: &'p ServiceArtifacts,
        }
        impl FacetVisitor for Sweep<'_, '_> {
            fn visit<F: Facet>(&mut self) {
                let empty = BTreeSet::new();
                let had = F::part(self.previous).keys_of(self.owner).unwrap_or(&empty);
                let wanted = F::part(self.wanted);
                sweep_unmarked(
                    had,
                    F::part(self.p.current),
                    |k| wanted.contains_key(k),
                    F::part_mut(self.p.plan),
                );
            }
        }
        for_each_facet(&mut Sweep {
            p: self,
            owner,
            previous,
            wanted,
        });
    }

    /// Sweeps, in every facet, everything in `current` that nobody owns in
    /// this sync (a full sync, once every owner has claimed or kept).
    pub fn sweep_unowned(&mut self) {
        struct Sweep<'p, 'a>(&'p mut Planning<'a>);
        impl FacetVisitor for Sweep<'_, '_> {
            fn visit<F: Facet>(&mut self) {
                let current = F::part(self.0.current);
                let owned = F::part(&*self.0.ownership);
                sweep_unmarked(
                    current.keys(),
                    current,
                    |k| owned.owner_of(k).is_some(),
                    F::part_mut(self.0.plan),
                );
            }
        }
        for_each_facet(&mut Sweep(self));
    }
}
