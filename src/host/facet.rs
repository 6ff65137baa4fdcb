//! Facets: the kinds of host state kroute owns (nftables objects,
//! health-check listeners, addresses, routes, IPVS services, BGP routes).
//! Every facet has the same shape, `key → value` artifacts, so one generic
//! piece of code snapshots, diffs, sweeps and applies them all:
//!
//! - [`Facet`] names one facet: its key and value types, and where its part
//!   is in a [`Facets`] value;
//! - [`Facets<S>`] holds one part per facet, of the [`Shape`] `S`: a map
//!   ([`Maps`]: a snapshot, a service's artifacts), a plan ([`Plans`]), or
//!   what the sync layer keeps per facet (an ownership index);
//! - [`for_each_facet`] runs a [`FacetVisitor`] over every facet.
//!
//! Adding a facet adds a marker type implementing [`Facet`], a field in
//! [`Facets`], a line in [`for_each_facet`], and its backend in each host;
//! the loop, the diff and the sweep do not change.

use std::collections::BTreeMap;
use std::fmt::{Debug, Display};
use std::hash::Hash;

use serde::Serialize;

use super::addr::{AddrKey, AddrValue};
use super::bgp::{
    BgpPeerKey, BgpSpeakerKey, BgpSpeakerSettings, OriginatedRoute, PeerSpec, RouteAttrs,
};
use super::health_check::{HealthCheckKey, HealthCheckValue};
use super::ipvs::{IpvsKey, IpvsValue};
use super::nft::{NftKey, NftValue};
use super::plan::FacetPlan;
use super::route::{RouteKey, RouteValue};

/// One facet: the type of its artifacts' keys and values, its name, and
/// where its part is in a [`Facets`].
pub trait Facet: Sized + 'static {
    /// Its name in logs, metrics (`kroute_artifacts{facet}`), status and plans.
    const NAME: &'static str;
    /// An artifact's identity; `Display` names it in messages.
    type Key: Clone + Ord + Hash + Debug + Display + Serialize + Send + Sync;
    /// An artifact's content; equal values need no change.
    type Value: Clone + PartialEq + Debug + Serialize + Send + Sync;

    /// This facet's part of `all`.
    fn part<S: Shape>(all: &Facets<S>) -> &S::Of<Self>;
    /// This facet's part of `all`, mutably.
    fn part_mut<S: Shape>(all: &mut Facets<S>) -> &mut S::Of<Self>;
}

/// What a [`Facets`] holds per facet.
pub trait Shape {
    type Of<F: Facet>;
}

/// Per facet, its artifacts: `key → value`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Maps;

impl Shape for Maps {
    type Of<F: Facet> = BTreeMap<F::Key, F::Value>;
}

/// Per facet, its creates, updates and deletes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Plans;

impl Shape for Plans {
    type Of<F: Facet> = FacetPlan<F::Key, F::Value>;
}

/// One part per facet.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facets<S: Shape> {
    pub nft: S::Of<NftFacet>,
    pub health_checks: S::Of<HealthCheckFacet>,
    pub addresses: S::Of<AddressFacet>,
    pub routes: S::Of<RouteFacet>,
    pub ipvs: S::Of<IpvsFacet>,
    pub bgp_speaker: S::Of<BgpSpeakerFacet>,
    pub bgp_peers: S::Of<BgpPeerFacet>,
    pub bgp: S::Of<BgpFacet>,
}

/// Something done once per facet, with the facet as a type parameter.
pub trait FacetVisitor {
    fn visit<F: Facet>(&mut self);
}

/// Runs `visitor` over every facet, in a fixed order.
pub fn for_each_facet(visitor: &mut impl FacetVisitor) {
    visitor.visit::<NftFacet>();
    visitor.visit::<HealthCheckFacet>();
    visitor.visit::<AddressFacet>();
    visitor.visit::<RouteFacet>();
    visitor.visit::<IpvsFacet>();
    visitor.visit::<BgpSpeakerFacet>();
    visitor.visit::<BgpPeerFacet>();
    visitor.visit::<BgpFacet>();
}

/// The names of every facet, in [`for_each_facet`]'s order.
pub fn facet_names() -> Vec<&'static str> {
    struct Names(Vec<&'static str>);
    impl FacetVisitor for Names {
        fn visit<F: Facet>(&mut self) {
            self.0.push(F::NAME);
        }
    }
    let mut names = Names(Vec::new());
    for_each_facet(&mut names);
    names.0
}

/// Implements [`Facet`] for a marker type over one field of [`Facets`].
macro_rules! facet {
    ($(#[$doc:meta])* $marker:ident, $name:literal, $field:ident, $key:ty, $value:ty) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $marker;

        impl Facet for $marker {
            const NAME: &'static str = $name;
            type Key = $key;
            type Value = $value;

            fn part<S: Shape>(all: &Facets<S>) -> &S::Of<Self> {
                &all.$field
            }

            fn part_mut<S: Shape>(all: &mut Facets<S>) -> &mut S::Of<Self> {
                &mut all.$field
            }
        }
    };
}

facet!(
    /// Tables, chains, sets, maps and elements of `ip kroute` / `ip6 kroute`.
    NftFacet, "nftables", nft, NftKey, NftValue
);
facet!(
    /// healthCheckNodePort listeners (in-process HTTP servers), by port.
    HealthCheckFacet,
    "health-checks",
    health_checks,
    HealthCheckKey,
    HealthCheckValue
);
facet!(
    /// Service VIPs on kroute's dummy interface (IPVS mode).
    AddressFacet, "addresses", addresses, AddrKey, AddrValue
);
facet!(
    /// Routes tagged with kroute's route protocol number.
    RouteFacet, "routes", routes, RouteKey, RouteValue
);
facet!(
    /// IPVS virtual services and real servers.
    IpvsFacet, "ipvs", ipvs, IpvsKey, IpvsValue
);
facet!(
    /// The embedded BGP speaker (one artifact; a change restarts it).
    BgpSpeakerFacet,
    "bgp-speaker",
    bgp_speaker,
    BgpSpeakerKey,
    BgpSpeakerSettings
);
facet!(
    /// The BGP speaker's peers, by address.
    BgpPeerFacet, "bgp-peers", bgp_peers, BgpPeerKey, PeerSpec
);
facet!(
    /// Routes originated into the BGP speaker's local RIB.
    BgpFacet, "bgp", bgp, OriginatedRoute, RouteAttrs
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_facet_is_visited_once_by_name() {
        assert_eq!(
            facet_names(),
            [
                "nftables",
                "health-checks",
                "addresses",
                "routes",
                "ipvs",
                "bgp-speaker",
                "bgp-peers",
                "bgp"
            ]
        );
    }

    #[test]
    fn a_facet_finds_its_own_part() {
        let mut all = Facets::<Maps>::default();
        NftFacet::part_mut(&mut all)
            .insert(NftKey::Table(crate::model::Family::Ip), NftValue::Table);
        assert_eq!(NftFacet::part(&all).len(), 1);
        assert!(AddressFacet::part(&all).is_empty());
        assert_eq!(all.nft.len(), 1);
    }
}
