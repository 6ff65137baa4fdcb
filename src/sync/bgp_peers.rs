//! The BGP peer set: every place a peer is defined (the config file's
//! `bgp.peers` today; Node and Service annotations later) merged into one
//! map by address (bgp.md, "Peers from three places"). The same peer from
//! two places is one session. Two definitions that disagree on the session
//! are a conflict, reported naming both places, and the oldest definition
//! stays in force.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;
use std::time::SystemTime;

use crate::host::bgp::{BgpPeerKey, PeerSpec};
use crate::model::ObjectKey;
use crate::model::config::PeerConfig;

/// Where a peer is defined.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PeerSource {
    /// `bgp.peers[index]` of the configuration.
    Config { index: usize },
    /// A Node's peer annotations.
    Node { name: String },
    /// A Service's `kroute.io/bgp.peers`.
    Service { key: ObjectKey },
}

impl fmt::Display for PeerSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerSource::Config { index } => write!(f, "bgp.peers[{index}]"),
            PeerSource::Node { name } => write!(f, "Node {name}"),
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

impl PeerDefinition {
    /// The configuration's `bgp.peers`, in order.
    pub fn from_config(peers: &[PeerConfig]) -> Vec<PeerDefinition> {
        peers
            .iter()
            .enumerate()
            .map(|(index, p)| PeerDefinition {
                source: PeerSource::Config { index },
                since: None,
                spec: PeerSpec::from(p),
            })
            .collect()
    }
}

/// A problem merging peer definitions.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PeerSetError {
    /// Two definitions of one peer disagree; `kept` stays in force.
    #[error(
        "BGP peer {address}: {ignored} sets {theirs}, {kept} (older, in force) sets {ours}; {ignored} is ignored for this peer"
    )]
    Conflict {
        address: std::net::IpAddr,
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
                    match differences(&merged.spec, &def.spec) {
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
}

/// The session parameters on which `a` and `b` differ, as each has them
/// (`None`: the same session).
fn differences(a: &PeerSpec, b: &PeerSpec) -> Option<(String, String)> {
    let secs = |d: std::time::Duration| format!("{}s", d.as_secs());
    let local = |l: Option<std::net::IpAddr>| l.map_or("none".to_string(), |ip| ip.to_string());
    let fields: [(&str, String, String); 6] = [
        ("asn", a.asn.to_string(), b.asn.to_string()),
        ("port", a.port.to_string(), b.port.to_string()),
        ("passive", a.passive.to_string(), b.passive.to_string()),
        ("holdTime", secs(a.hold_time), secs(b.hold_time)),
        ("keepaliveTime", secs(a.keepalive), secs(b.keepalive)),
        (
            "localAddress",
            local(a.local_address),
            local(b.local_address),
        ),
    ];
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for (name, x, y) in fields.iter().filter(|(_, x, y)| x != y) {
        ours.push(format!("{name} {x}"));
        theirs.push(format!("{name} {y}"));
    }
    (!ours.is_empty()).then(|| (ours.join(", "), theirs.join(", ")))
}

#[cfg(test)]
#[path = "bgp_peers_tests.rs"]
pub(crate) mod tests;
