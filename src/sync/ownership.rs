//! Which owner (the table skeleton, or a service) asked for which artifact,
//! per facet. An incremental sync sweeps a service's previous artifacts that
//! it no longer wants, and two services never fight over one artifact: the
//! first (by name, in a full sync) has it, the other *waits* for it. When
//! the owner is planned again, its waiters are planned with it, so an
//! artifact it releases passes to the next service that wants it (a route
//! two Services announce stays while either wants it).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Display;
use std::hash::Hash;
use std::sync::Arc;

use crate::host::FacetPlan;
use crate::host::facet::{BgpFacet, Facet, FacetVisitor, Facets, Shape, for_each_facet};
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

/// Facets whose artifacts several services may want at once, all rightly:
/// two Services sharing one LB IP (MetalLB's `allow-shared-ip`) announce
/// one route. The first one's value applies and it is no conflict.
pub const SHARED_FACETS: &[&str] = &[BgpFacet::NAME];

/// Artifacts of one facet per owner, and the owner of each artifact. Owners
/// are shared (`Arc`) so indexing 100k artifacts does not copy 100k names.
#[derive(Clone, Debug)]
pub struct Ownership<K> {
    owned: BTreeMap<Arc<Owner>, BTreeSet<K>>,
    owner_of: HashMap<K, Arc<Owner>>,
    /// Per service, the artifacts it wanted that another owner has.
    waiting: BTreeMap<Arc<Owner>, BTreeSet<K>>,
}

impl<K> Default for Ownership<K> {
    fn default() -> Self {
        Ownership {
            owned: BTreeMap::new(),
            owner_of: HashMap::new(),
            waiting: BTreeMap::new(),
        }
    }
}

/// Whom a claim competes with, every facet.
#[derive(Clone, Copy, Debug)]
pub struct Others<'a> {
    /// The ownership before this sync (incremental); `None` in a full sync,
    /// where owners only compete with each other.
    pub previous: Option<&'a Ownerships>,
    /// Services planned in this sync.
    pub replanned: &'a BTreeSet<ObjectKey>,
}

/// No previous ownership: a full sync.
static NOBODY: BTreeSet<ObjectKey> = BTreeSet::new();

impl<'a> Others<'a> {
    /// A full sync's: nobody but this sync's claims.
    pub fn none() -> Others<'static> {
        Others {
            previous: None,
            replanned: &NOBODY,
        }
    }

    /// The rivals in facet `F`.
    pub fn of<F: Facet>(&self) -> Rivals<'a, F::Key> {
        Rivals {
            previous: self.previous.map(|o| F::part(o)),
            replanned: self.replanned,
            shared: SHARED_FACETS.contains(&F::NAME),
        }
    }
}

/// Whom a claim competes with, in one facet.
pub struct Rivals<'a, K> {
    /// The ownership before this (incremental) sync.
    pub previous: Option<&'a Ownership<K>>,
    /// Services planned again in this sync: what they had in `previous`
    /// is theirs only if they claim it again.
    pub replanned: &'a BTreeSet<ObjectKey>,
    /// Several owners may want one artifact ([`SHARED_FACETS`]).
    pub shared: bool,
}

impl<K> Clone for Rivals<'_, K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K> Copy for Rivals<'_, K> {}

impl<K: Clone + Ord + Hash + Display> Rivals<'_, K> {
    /// Owned in `previous` by an owner that is not planned again.
    fn holds(&self, key: &K, owner: &Owner) -> bool {
        let Some(had) = self.previous.and_then(|o| o.owner_of(key)) else {
            return false;
        };
        had != owner && !matches!(had, Owner::Service(s) if self.replanned.contains(s))
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
    /// missing ones are created, changed ones updated, equal ones left alone
    /// (and not deleted, should an owner that released one have swept it in
    /// this sync). An artifact already claimed here, or held by a rival,
    /// stays with its owner: the service waits for it, and unless the
    /// facet is shared that is a conflict.
    pub fn claim_and_mark<V: PartialEq>(
        &mut self,
        owner: &Arc<Owner>,
        artifacts: BTreeMap<K, V>,
        rivals: Rivals<'_, K>,
        current: &BTreeMap<K, V>,
        plan: &mut FacetPlan<K, V>,
        report: &mut SyncReport,
    ) {
        let mut mine = BTreeSet::new();
        let mut waits = BTreeSet::new();
        for (key, want) in artifacts {
            if self.owner_of.contains_key(&key) || rivals.holds(&key, owner) {
                if let Owner::Service(svc) = owner.as_ref() {
                    if !rivals.shared {
                        report.conflict(svc, &key);
                    }
                    waits.insert(key);
                }
                continue;
            }
            plan.deletes.remove(&key);
            mark_one(&key, want, current, plan);
            self.owner_of.insert(key.clone(), owner.clone());
            mine.insert(key);
        }
        self.owned.entry(owner.clone()).or_default().extend(mine);
        if !waits.is_empty() {
            self.waiting.insert(owner.clone(), waits);
        }
    }

    /// Services waiting for an artifact one of `owners` has.
    pub fn waiting_on(&self, owners: &BTreeSet<ObjectKey>) -> BTreeSet<ObjectKey> {
        let held_by_them =
            |k: &K| matches!(self.owner_of(k), Some(Owner::Service(s)) if owners.contains(s));
        (self.waiting.iter())
            .filter(|(_, keys)| keys.iter().any(held_by_them))
            .filter_map(|(w, _)| match w.as_ref() {
                Owner::Service(s) => Some(s.clone()),
                Owner::Skeleton => None,
            })
            .collect()
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
    pub fn merge(&mut self, mut update: Ownership<K>) {
        for owner in update.owned.keys() {
            match update.waiting.remove(owner) {
                Some(waits) => self.waiting.insert(owner.clone(), waits),
                None => self.waiting.remove(owner),
            };
        }
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

    /// [`Ownership::waiting_on`] over every facet.
    pub fn waiting_on(&self, owners: &BTreeSet<ObjectKey>) -> BTreeSet<ObjectKey> {
        struct Waiting<'a>(&'a Ownerships, &'a BTreeSet<ObjectKey>, BTreeSet<ObjectKey>);
        impl FacetVisitor for Waiting<'_> {
            fn visit<F: Facet>(&mut self) {
                self.2.extend(F::part(self.0).waiting_on(self.1));
            }
        }
        let mut waiting = Waiting(self, owners, BTreeSet::new());
        for_each_facet(&mut waiting);
        waiting.2
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
