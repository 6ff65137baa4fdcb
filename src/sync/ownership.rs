//! Which owner (the table skeleton, or a service) asked for which artifact.
//! An incremental sync sweeps a service's previous artifacts that it no longer
//! wants, and two services never fight over one artifact.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::host::FacetPlan;
use crate::host::nft::{NftKey, NftValue};
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

/// Artifacts per owner, and the owner of each artifact. Owners are shared
/// (`Arc`) so indexing 100k artifacts does not copy 100k names.
#[derive(Debug, Default)]
pub struct Ownership {
    owned: BTreeMap<Arc<Owner>, BTreeSet<NftKey>>,
    owner_of: HashMap<NftKey, Arc<Owner>>,
}

impl Ownership {
    /// Number of owned artifacts.
    pub fn len(&self) -> usize {
        self.owner_of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.owner_of.is_empty()
    }

    /// What `owner` had.
    pub fn keys_of(&self, owner: &Owner) -> Option<&BTreeSet<NftKey>> {
        self.owned.get(owner)
    }

    /// Who has `key`.
    pub fn owner_of(&self, key: &NftKey) -> Option<&Owner> {
        self.owner_of.get(key).map(|o| o.as_ref())
    }

    /// `owner` claims `artifacts` and they are marked against `current`:
    /// missing ones are created, changed ones updated, equal ones left alone.
    /// An artifact already claimed here or by another owner in `others` is
    /// a conflict and stays with its first owner.
    pub fn claim_and_mark(
        &mut self,
        owner: Owner,
        artifacts: BTreeMap<NftKey, NftValue>,
        others: Option<&Ownership>,
        current: &BTreeMap<NftKey, NftValue>,
        plan: &mut FacetPlan<NftKey, NftValue>,
        report: &mut SyncReport,
    ) {
        let owner = Arc::new(owner);
        let mut mine = BTreeSet::new();
        for (key, want) in artifacts {
            let taken = self.owner_of.contains_key(&key)
                || others
                    .and_then(|o| o.owner_of(&key))
                    .is_some_and(|o| *o != *owner);
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
        self.owned.entry(owner).or_default().extend(mine);
    }

    /// `owner` keeps `keys` as they are (it could not be planned this time).
    pub fn keep(&mut self, owner: Owner, keys: impl IntoIterator<Item = NftKey>) {
        let owner = Arc::new(owner);
        let set = self.owned.entry(owner.clone()).or_default();
        for key in keys {
            self.owner_of.insert(key.clone(), owner.clone());
            set.insert(key);
        }
    }

    /// Replaces, owner by owner, what `self` records with what `update` does
    /// (the owners an incremental sync planned).
    pub fn merge(&mut self, update: Ownership) {
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
