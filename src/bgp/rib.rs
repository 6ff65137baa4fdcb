//! Adj-RIB-Out, one per peer: what was sent, and the difference to what is
//! desired, so that only changes go out. Routes with equal attributes are
//! grouped (they share UPDATEs, `pack.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;

use ipnet::IpNet;

use super::attrs::PathAttrs;
use crate::model::Family;

/// Prefix → attributes, as sent to or desired for one peer.
pub type Table = BTreeMap<IpNet, Arc<PathAttrs>>;

/// Changes to send: withdrawals, and announcements grouped by attributes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RibDiff {
    pub withdraw: Vec<IpNet>,
    pub announce: BTreeMap<Arc<PathAttrs>, Vec<IpNet>>,
}

impl RibDiff {
    pub fn is_empty(&self) -> bool {
        self.withdraw.is_empty() && self.announce.is_empty()
    }

    fn add(&mut self, prefix: IpNet, attrs: &Arc<PathAttrs>) {
        self.announce
            .entry(Arc::clone(attrs))
            .or_default()
            .push(prefix);
    }
}

fn family(prefix: &IpNet) -> Family {
    match prefix {
        IpNet::V4(_) => Family::Ip,
        IpNet::V6(_) => Family::Ip6,
    }
}

/// What one peer was sent.
#[derive(Clone, Debug, Default)]
pub struct AdjRibOut {
    sent: Table,
}

impl AdjRibOut {
    pub fn sent(&self) -> &Table {
        &self.sent
    }

    /// The session went down: nothing is held by the peer any more.
    pub fn clear(&mut self) {
        self.sent.clear();
    }

    /// The changes from what was sent to `desired`, which is recorded as
    /// sent. One walk over both tables in prefix order.
    pub fn sync(&mut self, desired: &Table) -> RibDiff {
        let mut diff = RibDiff::default();
        let mut sent = self.sent.iter().peekable();
        let mut want = desired.iter().peekable();
        loop {
            match (sent.peek(), want.peek()) {
                (None, None) => break,
                (Some((p, _)), None) => {
                    diff.withdraw.push(**p);
                    sent.next();
                }
                (None, Some((p, a))) => {
                    diff.add(**p, a);
                    want.next();
                }
                (Some((sp, sa)), Some((wp, wa))) => {
                    if sp < wp {
                        diff.withdraw.push(**sp);
                        sent.next();
                    } else if wp < sp {
                        diff.add(**wp, wa);
                        want.next();
                    } else {
                        if !Arc::ptr_eq(sa, wa) && sa != wa {
                            diff.add(**wp, wa);
                        }
                        sent.next();
                        want.next();
                    }
                }
            }
        }
        self.sent = desired.clone();
        diff
    }

    /// Everything sent of a family as announcements (a route refresh).
    pub fn resend(&self, only: Family) -> RibDiff {
        let mut diff = RibDiff::default();
        for (prefix, attrs) in self.sent.iter().filter(|(p, _)| family(p) == only) {
            diff.add(*prefix, attrs);
        }
        diff
    }
}

#[cfg(test)]
#[path = "rib_tests.rs"]
mod tests;
