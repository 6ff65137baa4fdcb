//! Snapshots (`key → value` per facet) and plans (creates, updates, deletes per facet).

use std::collections::{BTreeMap, BTreeSet};

use super::addr::{AddrKey, AddrValue};
use super::ipvs::{IpvsKey, IpvsValue};
use super::nft::{NftKey, NftValue};
use super::route::{RouteKey, RouteValue};
use crate::bgp::{OriginatedRoute, RouteAttrs};

/// Everything kroute owns on the host, per facet.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostSnapshot {
    pub nft: BTreeMap<NftKey, NftValue>,
    pub addresses: BTreeMap<AddrKey, AddrValue>,
    pub routes: BTreeMap<RouteKey, RouteValue>,
    pub ipvs: BTreeMap<IpvsKey, IpvsValue>,
    pub bgp: BTreeMap<OriginatedRoute, RouteAttrs>,
}

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

/// One plan for the whole host, applied by `HostNetwork::apply`.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct HostPlan {
    pub nft: FacetPlan<NftKey, NftValue>,
    pub addresses: FacetPlan<AddrKey, AddrValue>,
    pub routes: FacetPlan<RouteKey, RouteValue>,
    pub ipvs: FacetPlan<IpvsKey, IpvsValue>,
    pub bgp: FacetPlan<OriginatedRoute, RouteAttrs>,
}

impl HostPlan {
    pub fn is_empty(&self) -> bool {
        self.nft.is_empty()
            && self.addresses.is_empty()
            && self.routes.is_empty()
            && self.ipvs.is_empty()
            && self.bgp.is_empty()
    }

    /// Total number of deletes over every facet.
    pub fn delete_count(&self) -> usize {
        self.nft.deletes.len()
            + self.addresses.deletes.len()
            + self.routes.deletes.len()
            + self.ipvs.deletes.len()
            + self.bgp.deletes.len()
    }

    /// Drops every delete (used before the sources are synced: never sweep
    /// from an incomplete view).
    pub fn without_deletes(mut self) -> HostPlan {
        self.nft.deletes.clear();
        self.addresses.deletes.clear();
        self.routes.deletes.clear();
        self.ipvs.deletes.clear();
        self.bgp.deletes.clear();
        self
    }

    /// Applies every facet of this plan to a snapshot (the mirror, or a fake kernel).
    pub fn apply_to(&self, snap: &mut HostSnapshot) {
        self.nft.apply_to(&mut snap.nft);
        self.addresses.apply_to(&mut snap.addresses);
        self.routes.apply_to(&mut snap.routes);
        self.ipvs.apply_to(&mut snap.ipvs);
        self.bgp.apply_to(&mut snap.bgp);
    }
}
