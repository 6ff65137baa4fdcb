//! Best-path selection across peers, pure: per prefix, the accepted paths
//! of every peer are compared by LOCAL_PREF (higher; 100 when absent),
//! AS_PATH length (shorter), ORIGIN (IGP < EGP < incomplete), MED (lower,
//! absent as 0, compared only between paths from the same neighbour AS),
//! then eBGP over iBGP. The paths left are equal best paths: all their next
//! hops are kept (ECMP). The result is the planner's `LearnedRoutes`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use super::attrs::PathAttrs;
use super::peer::DEFAULT_LOCAL_PREF;
use crate::model::LearnedRoutes;

/// One accepted path, with the session it came over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path {
    pub attrs: Arc<PathAttrs>,
    pub ibgp: bool,
}

/// Accepted paths per peer: peer → prefix → path.
pub type PeerPaths = BTreeMap<IpAddr, BTreeMap<IpNet, Path>>;

/// The equal best paths among `paths` (empty in, empty out).
pub fn best<'a>(paths: &[&'a Path]) -> Vec<&'a Path> {
    let mut left: Vec<&Path> = paths.to_vec();
    keep_min(&mut left, |p| {
        u32::MAX - p.attrs.local_pref.unwrap_or(DEFAULT_LOCAL_PREF)
    });
    keep_min(&mut left, |p| p.attrs.as_path.len() as u32);
    keep_min(&mut left, |p| p.attrs.origin as u32);
    // MED: within each neighbour AS, only the lowest stay.
    let neighbour = |p: &Path| p.attrs.as_path.first().copied();
    let med = |p: &Path| p.attrs.med.unwrap_or(0);
    let lowest: BTreeMap<Option<u32>, u32> = left.iter().fold(BTreeMap::new(), |mut m, p| {
        let e = m.entry(neighbour(p)).or_insert(u32::MAX);
        *e = (*e).min(med(p));
        m
    });
    left.retain(|p| lowest.get(&neighbour(p)) == Some(&med(p)));
    keep_min(&mut left, |p| u32::from(p.ibgp));
    left
}

fn keep_min(paths: &mut Vec<&Path>, key: impl Fn(&Path) -> u32) {
    if let Some(min) = paths.iter().map(|p| key(p)).min() {
        paths.retain(|p| key(p) == min);
    }
}

/// Per prefix, the next hops of its equal best paths.
pub fn select(peers: &PeerPaths) -> LearnedRoutes {
    let mut by_prefix: BTreeMap<IpNet, Vec<&Path>> = BTreeMap::new();
    for routes in peers.values() {
        for (prefix, path) in routes {
            by_prefix.entry(*prefix).or_default().push(path);
        }
    }
    let routes = by_prefix
        .into_iter()
        .map(|(prefix, paths)| {
            let hops: BTreeSet<IpAddr> = best(&paths).iter().map(|p| p.attrs.next_hop).collect();
            (prefix, hops)
        })
        .collect();
    LearnedRoutes { routes }
}

#[cfg(test)]
#[path = "loc_rib_tests.rs"]
mod tests;
