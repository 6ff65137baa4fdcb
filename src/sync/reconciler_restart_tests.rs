//! When the reconciler tells the host that the whole view is applied
//! (`HostNetwork::synced_view_applied`, where the BGP backend releases a
//! graceful restart's table): only after a full sync from a synced view
//! went through, never from a partial view nor from an incremental sync.

use std::collections::BTreeSet;

use super::*;
use crate::host::conntrack::{ConntrackFlush, ConntrackReport};
use crate::host::{Applied, FakeHost};

/// `FakeHost`, counting the calls.
#[derive(Default)]
struct Counting {
    fake: FakeHost,
    synced_applied: usize,
}

impl HostNetwork for Counting {
    fn snapshot(&mut self) -> Result<HostSnapshot, HostError> {
        self.fake.snapshot()
    }
    fn mirror(&self) -> &HostSnapshot {
        self.fake.mirror()
    }
    fn apply(&mut self, plan: &HostPlan) -> Result<Applied, HostError> {
        self.fake.apply(plan)
    }
    fn flush_conntrack(&mut self, flush: &ConntrackFlush) -> Result<ConntrackReport, HostError> {
        self.fake.flush_conntrack(flush)
    }
    fn synced_view_applied(&mut self) {
        self.synced_applied += 1;
    }
}

/// The reconciler tests' view (two services), `synced` as given.
fn view(synced: bool) -> ClusterView {
    let mut v = super::tests::view();
    v.synced = synced;
    v
}

#[test]
fn only_a_full_sync_from_a_synced_view_that_went_through_tells_the_host() {
    let mut r = Reconciler::new(Counting::default(), super::tests::settings());
    let none = BTreeSet::new();

    // A partial view (a manifest not parsed, a watch not listed): full
    // syncs apply what it has, and the host is not told it is whole.
    r.sync(&view(false), &none, true).unwrap();
    r.sync(&view(false), &none, true).unwrap();
    assert!(!r.host().fake.applied.is_empty());
    assert_eq!(r.host().synced_applied, 0);

    // The first synced view runs a full sync, then tells the host.
    let report = r.sync(&view(true), &none, false).unwrap();
    assert_eq!(report.kind, SyncKind::Full);
    assert_eq!(r.host().synced_applied, 1);

    // An incremental sync does not.
    let dirty = BTreeSet::from([ObjectKey::new("default", "web")]);
    let report = r.sync(&view(true), &dirty, false).unwrap();
    assert_eq!(report.kind, SyncKind::Incremental);
    assert_eq!(r.host().synced_applied, 1);

    // A full sync with nothing to change still does (no apply needed).
    let applies = r.host().fake.applied.len();
    r.sync(&view(true), &none, true).unwrap();
    assert_eq!(r.host().fake.applied.len(), applies, "nothing applied");
    assert_eq!(r.host().synced_applied, 2);

    // A failed apply does not.
    r.host_mut().fake.kernel = HostSnapshot::default();
    r.host_mut().fake.fail_applies(1);
    assert!(r.sync(&view(true), &none, true).is_err());
    assert_eq!(r.host().synced_applied, 2);
}
