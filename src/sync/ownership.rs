//! Which owner (the table skeleton, or a service) asked for which artifact,
//! per facet. An incremental sync sweeps a service's previous artifacts that
//! it no longer wants, and two services never fight over one artifact.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Display;
use std::hash::Hash;
use std::sync::Arc;

use crate::host::FacetPlan;
use crate::host::facet::{Facet, FacetVisitor, Facets, Shape, for_each_facet};
use crate::model::ObjectKey;

use super::mark_sweep::mark_one;
use super::report::SyncReport;

/// Who asked for an artifact.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Owner {
    /// The fixed part of the tables.
    Skeleton,
    Service(ObjectKey),
}

/// Artifacts of one facet per owner, and the owner of each artifact. Owners
/// are shared (`Arc`) so indexing 100k artifacts does not copy 100k names.
#[derive(Clone, Debug)]
pub struct Ownership<K> {
    owned: BTreeMap<Arc<Owner>, BTreeSet<K>>,
    owner_of: HashMap<K, Arc<Owner>>,
}

impl<K> Default for Ownership<K> {
    fn default() -> Self {
        Ownership {
            owned: BTreeMap::new(),
            owner_of: HashMap::new(),
        }
    }
}

impl<K: Clone + Ord + Hash + Display> Ownership<K> {
    /// Number of owned artifacts.
    pub fn len(&self) -> usize {
        self.owner_of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.owner_of.is_empty()
    }

    /// What `owner` had.
    pub fn keys_of(&self, owner: &Owner) -> Option<&BTreeSet<K>> {
        self.owned.get(owner)
    }

    /// Who has `key`.
    pub fn owner_of(&self, key: &K) -> Option<&Owner> {
        self.owner_of.get(key).map(|o| o.as_ref())
    }

    /// `owner` claims `artifacts` and they are marked against `current`:
    /// missing ones are created, changed ones updated, equal ones left alone.
    /// An artifact already claimed here or by another owner in `others` is
    /// a conflict and stays with its first owner.
    pub fn claim_and_mark<V: PartialEq>(
        &mut self,
        owner: &Arc<Owner>,
        artifacts: BTreeMap<K, V>,
        others: Option<&Ownership<K>>,
        current: &BTreeMap<K, V>,
        plan: &mut FacetPlan<K, V>,
        report: &mut SyncReport,
    ) {
        let mut mine = BTreeSet::new();
        for (key, want) in artifacts {
            let taken = self.owner_of.contains_key(&key)
                || others
                    .and_then(|o| o.owner_of(&key))
                    .is_some_and(|o| *o != **owner);
            if taken {
                if let Owner::Service(svc) = owner.as_ref() {
                    report.conflict(svc, &key);
                }
                continue;
            }
            mark_one(&key, want, current, plan);
            self.owner_of.insert(key.clone(), owner.clone());
            mine.insert(key);
        }
        self.owned.entry(owner.clone()).or_default().extend(mine);
    }

    /// `owner` keeps `keys` as they are (it could not be planned this time).
    pub fn keep(&mut self, owner: &Arc<Owner>, keys: impl IntoIterator<Item = K>) {
        let set = self.owned.entry(owner.clone()).or_default();
        for key in keys {
            self.owner_of.insert(key.clone(), owner.clone());
            set.insert(key);
        }
    }

    /// Replaces, owner by owner, what `self` records with what `update` does
    /// (the owners an incremental sync planned).
    pub fn merge(&mut self, update: Ownership<K>) {
        for (owner, keys) in update.owned {
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
}

/// Per facet, its ownership index.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Owned;

impl Shape for Owned {
    type Of<F: Facet> = Ownership<F::Key>;
}

/// Every facet's ownership.
pub type Ownerships = Facets<Owned>;

impl Ownerships {
    /// Owned artifacts per facet, every facet listed.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        struct Count<'a>(&'a Ownerships, BTreeMap<String, usize>);
        impl FacetVisitor for Count<'_> {
            fn visit<F: Facet>(&mut self) {
                self.1.insert(F::NAME.to_string(), F::part(self.0).len());
            }
        }
        let mut count = Count(self, BTreeMap::new());
        for_each_facet(&mut count);
        count.1
    }

    /// [`Ownership::merge`], facet by facet.
    pub fn merge(&mut self, mut update: Ownerships) {
        struct Merge<'a>(&'a mut Ownerships, &'a mut Ownerships);
        impl FacetVisitor for Merge<'_> {
            fn visit<F: Facet>(&mut self) {
                let update = std::mem::take(F::part_mut(self.1));
                F::part_mut(self.0).merge(update);
            }
        }
        for_each_facet(&mut Merge(self, &mut update));
    }
}
