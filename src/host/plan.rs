//! Snapshots (`key → value` per facet) and plans (creates, updates, deletes
//! per facet). Both are [`Facets`]: whatever is done to them is done to every
//! facet by the same generic code.

use std::collections::{BTreeMap, BTreeSet};

use super::facet::{Facet, FacetVisitor, Facets, Maps, Plans, for_each_facet};

/// Everything kroute owns on the host, per facet.
pub type HostSnapshot = Facets<Maps>;

/// One plan for the whole host, a part per facet, applied by
/// `HostNetwork::apply`.
pub type HostPlan = Facets<Plans>;

/// The changes to one facet. `updates` replace the value of an existing key.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FacetPlan<K: Ord, V> {
    pub creates: BTreeMap<K, V>,
    pub updates: BTreeMap<K, V>,
    pub deletes: BTreeSet<K>,
}

impl<K: Ord, V> Default for FacetPlan<K, V> {
    fn default() -> Self {
        Self {
            creates: BTreeMap::new(),
            updates: BTreeMap::new(),
            deletes: BTreeSet::new(),
        }
    }
}

impl<K: Ord + Clone, V: Clone> FacetPlan<K, V> {
    pub fn is_empty(&self) -> bool {
        self.creates.is_empty() && self.updates.is_empty() && self.deletes.is_empty()
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.creates.len() + self.updates.len() + self.deletes.len()
    }

    /// Applies this plan to a `key → value` state (a mirror or a fake kernel).
    pub fn apply_to(&self, state: &mut BTreeMap<K, V>) {
        for key in &self.deletes {
            state.remove(key);
        }
        for (k, v) in self.creates.iter().chain(&self.updates) {
            state.insert(k.clone(), v.clone());
        }
    }
}

/// Creates, updates and deletes of one facet's plan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpCounts {
    pub creates: usize,
    pub updates: usize,
    pub deletes: usize,
}

impl HostPlan {
    pub fn is_empty(&self) -> bool {
        self.facets_changed().is_empty()
    }

    /// The names of the facets this plan changes.
    pub fn facets_changed(&self) -> Vec<&'static str> {
        self.counts()
            .into_iter()
            .filter(|(_, c)| *c != OpCounts::default())
            .map(|(name, _)| name)
            .collect()
    }

    /// Operations per facet, every facet listed.
    pub fn counts(&self) -> Vec<(&'static str, OpCounts)> {
        struct Count<'a>(&'a HostPlan, Vec<(&'static str, OpCounts)>);
        impl FacetVisitor for Count<'_> {
            fn visit<F: Facet>(&mut self) {
                let p = F::part(self.0);
                let counts = OpCounts {
                    creates: p.creates.len(),
                    updates: p.updates.len(),
                    deletes: p.deletes.len(),
                };
                self.1.push((F::NAME, counts));
            }
        }
        let mut count = Count(self, Vec::new());
        for_each_facet(&mut count);
        count.1
    }

    /// Operations over every facet.
    pub fn total(&self) -> OpCounts {
        self.counts()
            .into_iter()
            .fold(OpCounts::default(), |a, (_, c)| OpCounts {
                creates: a.creates + c.creates,
                updates: a.updates + c.updates,
                deletes: a.deletes + c.deletes,
            })
    }

    /// Total number of deletes over every facet.
    pub fn delete_count(&self) -> usize {
        self.total().deletes
    }

    /// Drops every delete (used before the sources are synced: never sweep
    /// from an incomplete view).
    pub fn without_deletes(mut self) -> HostPlan {
        struct Clear<'a>(&'a mut HostPlan);
        impl FacetVisitor for Clear<'_> {
            fn visit<F: Facet>(&mut self) {
                F::part_mut(self.0).deletes.clear();
            }
        }
        for_each_facet(&mut Clear(&mut self));
        self
    }

    /// Applies every facet of this plan to a snapshot (the mirror, or a fake kernel).
    pub fn apply_to(&self, snap: &mut HostSnapshot) {
        struct Apply<'a>(&'a HostPlan, &'a mut HostSnapshot);
        impl FacetVisitor for Apply<'_> {
            fn visit<F: Facet>(&mut self) {
                F::part(self.0).apply_to(F::part_mut(self.1));
            }
        }
        for_each_facet(&mut Apply(self, snap));
    }
}

impl HostSnapshot {
    /// Artifacts per facet, every facet listed.
    pub fn sizes(&self) -> Vec<(&'static str, usize)> {
        struct Sizes<'a>(&'a HostSnapshot, Vec<(&'static str, usize)>);
        impl FacetVisitor for Sizes<'_> {
            fn visit<F: Facet>(&mut self) {
                self.1.push((F::NAME, F::part(self.0).len()));
            }
        }
        let mut sizes = Sizes(self, Vec::new());
        for_each_facet(&mut sizes);
        sizes.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::nft::{Family, NftKey, NftValue};
    use crate::host::route::{RouteKey, RouteValue};

    fn plan() -> HostPlan {
        let mut plan = HostPlan::default();
        plan.nft
            .creates
            .insert(NftKey::Table(Family::Ip), NftValue::Table);
        plan.routes.deletes.insert(RouteKey {
            table: 254,
            dst: "10.0.0.0/8".parse().unwrap(),
        });
        plan
    }

    #[test]
    fn counts_cover_every_facet() {
        assert!(HostPlan::default().is_empty());
        let plan = plan();
        assert!(!plan.is_empty());
        assert_eq!(plan.facets_changed(), ["nftables", "routes"]);
        assert_eq!(
            plan.total(),
            OpCounts {
                creates: 1,
                updates: 0,
                deletes: 1
            }
        );
        assert_eq!(plan.clone().without_deletes().delete_count(), 0);
    }

    #[test]
    fn applying_reaches_every_facet() {
        let mut snap = HostSnapshot::default();
        snap.routes.insert(
            RouteKey {
                table: 254,
                dst: "10.0.0.0/8".parse().unwrap(),
            },
            RouteValue { next_hops: vec![] },
        );
        plan().apply_to(&mut snap);
        assert_eq!(snap.sizes()[0], ("nftables", 1));
        assert!(snap.routes.is_empty());
    }
}
