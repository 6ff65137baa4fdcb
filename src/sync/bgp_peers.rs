//! The BGP peer set: every place a peer is defined (the config file's
//! `bgp.peers`, this Node's peer annotations, the iBGP mesh or route
//! reflection among the Nodes, and Services' `kroute.io/bgp.peers`; the
//! definitions themselves come from `bgp_sources` and `bgp_mesh`) merged
//! into one map by address. The same peer from two places is one session.
//! Two definitions that disagree on the session (ASN, port, password, our
//! ASN; between two sources of one kind also the timers, passive, local
//! address and multihop TTL) are a conflict, reported naming both places,
//! and the oldest definition stays in force.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::time::SystemTime;

use crate::host::bgp::{BgpPeerKey, PeerPassword, PeerSpec};
use crate::model::ObjectKey;

/// Where a peer is defined.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PeerSource {
    /// `bgp.peers[index]` of the configuration.
    Config { index: usize },
    /// This Node's peer annotation `key` (`kube-router.io/peers`, or
    /// `kube-router.io/peer.ips` for the comma lists).
    Node { name: String, key: &'static str },
    /// Another Node, as an iBGP mesh or route-reflection peer.
    Mesh { node: String },
    /// A Service's `kroute.io/bgp.peers`.
    Service { key: ObjectKey },
}

impl fmt::Display for PeerSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerSource::Config { index } => write!(f, "bgp.peers[{index}]"),
            PeerSource::Node { name, .. } => write!(f, "Node {name}"),
            PeerSource::Mesh { node } => write!(f, "Node {node} (iBGP mesh)"),
            PeerSource::Service { key } => write!(f, "Service {key}"),
        }
    }
}

/// One definition of a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerDefinition {
    pub source: PeerSource,
    /// When the defining object was created; `None` for the configuration,
    /// which counts as older than any object.
    pub since: Option<SystemTime>,
    pub spec: PeerSpec,
}

/// A problem merging peer definitions.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PeerSetError {
    /// Two definitions of one peer disagree; `kept` stays in force.
    #[error(
        "BGP peer {address}: {ignored} sets {theirs}, {kept} (older, in force) sets {ours}; {ignored} is ignored for this peer"
    )]
    Conflict {
        address: IpAddr,
        kept: PeerSource,
        ignored: PeerSource,
        /// The differing parameters as the definition in force has them.
        ours: String,
        /// The same parameters as the ignored definition has them.
        theirs: String,
    },
}

/// One merged peer: its session and every place that defines it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Merged {
    spec: PeerSpec,
    sources: Vec<PeerSource>,
}

/// Every peer by address, merged from all sources.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerSet {
    peers: BTreeMap<BgpPeerKey, Merged>,
    conflicts: Vec<PeerSetError>,
}

impl PeerSet {
    /// Merges `definitions`, oldest first (ties: in the order given).
    pub fn merge(definitions: impl IntoIterator<Item = PeerDefinition>) -> PeerSet {
        let mut definitions: Vec<PeerDefinition> = definitions.into_iter().collect();
        // Stable: equal ages keep their order.
        definitions.sort_by_key(|d| d.since);
        let mut set = PeerSet::default();
        for def in definitions {
            match set.peers.entry(BgpPeerKey(def.spec.address)) {
                Entry::Vacant(e) => {
                    e.insert(Merged {
                        spec: def.spec,
                        sources: vec![def.source],
                    });
                }
                Entry::Occupied(mut e) => {
                    let merged = e.get_mut();
                    let all = same_kind(&merged.sources[0], &def.source);
                    match differences(&merged.spec, &def.spec, all) {
                        None => merged.sources.push(def.source),
                        Some((ours, theirs)) => set.conflicts.push(PeerSetError::Conflict {
                            address: def.spec.address,
                            kept: merged.sources[0].clone(),
                            ignored: def.source,
                            ours,
                            theirs,
                        }),
                    }
                }
            }
        }
        set
    }

    /// The sessions to run, by address.
    pub fn specs(&self) -> BTreeMap<BgpPeerKey, PeerSpec> {
        (self.peers.iter())
            .map(|(k, m)| (*k, m.spec.clone()))
            .collect()
    }

    /// Where the peer at `key` is defined (the one in force first).
    pub fn sources(&self, key: &BgpPeerKey) -> &[PeerSource] {
        self.peers.get(key).map_or(&[], |m| m.sources.as_slice())
    }

    /// Definitions ignored because an older one disagrees.
    pub fn conflicts(&self) -> &[PeerSetError] {
        &self.conflicts
    }

    /// Peers only Services define: they get those Services' routes and no
    /// other route.
    pub fn service_only(&self) -> BTreeSet<IpAddr> {
        (self.peers.iter())
            .filter(|(_, m)| (m.sources.iter()).all(|s| matches!(s, PeerSource::Service { .. })))
            .map(|(k, _)| k.0)
            .collect()
    }

    /// True when a session to `address` runs.
    pub fn contains(&self, address: IpAddr) -> bool {
        self.peers.contains_key(&BgpPeerKey(address))
    }
}

/// Two sources of the same kind (both in the config, both Services, ...):
/// each sets every parameter its form has, so all of them must agree.
fn same_kind(a: &PeerSource, b: &PeerSource) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// The session parameters on which `a` (in force) and `b` differ, as each
/// has them (`None`: the same session). ASN, port, password and our ASN
/// always count; the rest only when `all` (sources of one kind), since
/// other forms cannot set them and take defaults.
fn differences(a: &PeerSpec, b: &PeerSpec, all: bool) -> Option<(String, String)> {
    let secs = |d: std::time::Duration| format!("{}s", d.as_secs());
    let opt = |v: Option<String>| v.unwrap_or_else(|| "none".to_string());
    let password = |p: &Option<PeerPassword>, other: &Option<PeerPassword>| match (p, other) {
        (None, _) => "no password".to_string(),
        (Some(_), Some(_)) => "a different password".to_string(),
        (Some(_), None) => "a password".to_string(),
    };
    let mut fields: Vec<(&str, String, String)> = vec![
        ("asn", a.asn.to_string(), b.asn.to_string()),
        ("port", a.port.to_string(), b.port.to_string()),
        (
            "localASN",
            opt(a.local_asn.map(|n| n.to_string())),
            opt(b.local_asn.map(|n| n.to_string())),
        ),
    ];
    if all {
        fields.extend([
            ("passive", a.passive.to_string(), b.passive.to_string()),
            ("holdTime", secs(a.hold_time), secs(b.hold_time)),
            ("keepaliveTime", secs(a.keepalive), secs(b.keepalive)),
            (
                "localAddress",
                opt(a.local_address.map(|ip| ip.to_string())),
                opt(b.local_address.map(|ip| ip.to_string())),
            ),
            (
                "multihopTTL",
                opt(a.multihop_ttl.map(|t| t.to_string())),
                opt(b.multihop_ttl.map(|t| t.to_string())),
            ),
        ]);
    }
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for (name, x, y) in fields.iter().filter(|(_, x, y)| x != y) {
        ours.push(format!("{name} {x}"));
        theirs.push(format!("{name} {y}"));
    }
    // Never the passwords themselves.
    if a.password != b.password {
        ours.push(password(&a.password, &b.password));
        theirs.push(password(&b.password, &a.password));
    }
    (!ours.is_empty()).then(|| (ours.join(", "), theirs.join(", ")))
}

#[cfg(test)]
#[path = "bgp_peers_tests.rs"]
pub(crate) mod tests;
