//! `FakeHost`: an in-memory kernel with fault injection, the main test double.

use super::conntrack::{ConntrackFlush, ConntrackReport, UdpFlow};
use super::plan::{HostPlan, HostSnapshot};
use super::{Applied, HostError, HostNetwork};
use crate::model::Family;

/// A stateful fake host. `kernel` is what a real kernel would hold; the mirror
/// is what kroute last committed. Tests may edit `kernel` directly to simulate
/// drift (a rule added or flushed by hand).
#[derive(Debug, Default)]
pub struct FakeHost {
    /// The simulated kernel state.
    pub kernel: HostSnapshot,
    mirror: HostSnapshot,
    /// Every plan passed to `apply`, successful or not, in order.
    pub applied: Vec<HostPlan>,
    /// Number of `snapshot` calls (full reads).
    pub snapshots: usize,
    /// The next N applies fail (and change nothing), counted down.
    pub fail_next_applies: usize,
    /// The next N snapshots fail, counted down.
    pub fail_next_snapshots: usize,
    /// The simulated UDP conntrack table (both families).
    pub conntrack: Vec<UdpFlow>,
    /// Every flush asked for, successful or not, in order.
    pub conntrack_flushes: Vec<ConntrackFlush>,
    /// The next N conntrack flushes fail (and delete nothing), counted down.
    pub fail_next_conntrack: usize,
}

impl FakeHost {
    pub fn new() -> FakeHost {
        FakeHost::default()
    }

    /// Makes the next `n` applies fail without changing the kernel.
    pub fn fail_applies(&mut self, n: usize) {
        self.fail_next_applies = n;
    }
}

impl HostNetwork for FakeHost {
    fn snapshot(&mut self) -> Result<HostSnapshot, HostError> {
        self.snapshots += 1;
        if self.fail_next_snapshots > 0 {
            self.fail_next_snapshots -= 1;
            return Err(HostError::Injected("snapshot".into()));
        }
        self.mirror = self.kernel.clone();
        Ok(self.kernel.clone())
    }

    fn mirror(&self) -> &HostSnapshot {
        &self.mirror
    }

    fn apply(&mut self, plan: &HostPlan) -> Result<Applied, HostError> {
        self.applied.push(plan.clone());
        if self.fail_next_applies > 0 {
            self.fail_next_applies -= 1;
            return Err(HostError::Injected("apply".into()));
        }
        plan.apply_to(&mut self.kernel);
        plan.apply_to(&mut self.mirror);
        Ok(Applied::default())
    }

    fn flush_conntrack(&mut self, flush: &ConntrackFlush) -> Result<ConntrackReport, HostError> {
        self.conntrack_flushes.push(flush.clone());
        if self.fail_next_conntrack > 0 {
            self.fail_next_conntrack -= 1;
            return Err(HostError::Injected("conntrack".into()));
        }
        let mut report = ConntrackReport::default();
        for family in flush.families() {
            let matcher = flush.matcher(family);
            let of_family = |f: &UdpFlow| Family::of(&f.orig_dst.ip()) == family;
            report.listed.insert(
                family,
                self.conntrack.iter().filter(|f| of_family(f)).count(),
            );
            let before = self.conntrack.len();
            self.conntrack
                .retain(|f| !(of_family(f) && matcher.is_stale(f)));
            report.deleted += before - self.conntrack.len();
        }
        Ok(report)
    }
}
