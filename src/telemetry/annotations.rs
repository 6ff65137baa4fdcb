//! Invalid annotations across syncs: which are current (for `kroute
//! status`), and which are new (counted once, sent once to the Events feed).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::model::ObjectKey;
use crate::model::annotations::InvalidAnnotation;

/// Identity of an invalid annotation: (kind, object, key, value).
type Identity = (&'static str, String, String, String);

fn identity(a: &InvalidAnnotation) -> Identity {
    (a.kind, a.object.clone(), a.key.clone(), a.value.clone())
}

/// Current invalid annotations per (kind, object), and every one seen so far.
#[derive(Debug, Default)]
pub struct AnnotationTracker {
    current: BTreeMap<(&'static str, String), Vec<InvalidAnnotation>>,
    seen: HashSet<Identity>,
    /// BGP peer conflicts seen so far, by their text.
    conflicts_seen: HashSet<String>,
}

impl AnnotationTracker {
    /// Records the invalid annotations of a successful sync and returns those
    /// never seen before. A full sync planned every service, so its list
    /// replaces the current one; an incremental sync replaces only the entries
    /// of the services it planned (`planned`).
    pub fn record(
        &mut self,
        full: bool,
        planned: &BTreeSet<ObjectKey>,
        found: &[InvalidAnnotation],
    ) -> Vec<InvalidAnnotation> {
        if full {
            self.current.clear();
        } else {
            for key in planned {
                self.current.remove(&("Service", key.to_string()));
            }
        }
        let mut new = Vec::new();
        for a in found {
            let group = self.current.entry((a.kind, a.object.clone())).or_default();
            if !group.contains(a) {
                group.push(a.clone());
            }
            if self.seen.insert(identity(a)) {
                new.push(a.clone());
            }
        }
        new
    }

    /// Records a sync's BGP peer conflicts; returns how many are new.
    pub fn record_peer_conflicts(&mut self, found: &[String]) -> usize {
        (found.iter())
            .filter(|c| self.conflicts_seen.insert((*c).clone()))
            .count()
    }

    /// The invalid annotations as of the last successful sync, by object.
    pub fn current(&self) -> Vec<InvalidAnnotation> {
        self.current.values().flatten().cloned().collect()
    }
}
