//! `FakeHost`: an in-memory kernel with fault injection, the main test double.

use super::conntrack::{ConntrackFlush, ConntrackReport, UdpFlow};
use std::collections::BTreeSet;

use super::facet::{Facet, HealthCheckFacet};
use super::plan::{HostPlan, HostSnapshot};
use super::{Applied, HostError, HostNetwork, Refused};
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
    /// Ports another process listens on: a health-check listener created
    /// there is refused (the rest of the plan is applied).
    pub taken_ports: BTreeSet<u16>,
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

    /// `plan` without the health-check listeners that would bind a taken
    /// port (one not listening already), and those refusals.
    fn refuse_taken_ports(&self, plan: &HostPlan) -> (HostPlan, Applied) {
        let mut plan = plan.clone();
        let hc = &plan.health_checks;
        let refused: Vec<_> = (hc.creates.iter().chain(&hc.updates))
            .filter(|(k, _)| {
                self.taken_ports.contains(&k.port) && !self.kernel.health_checks.contains_key(k)
            })
            .map(|(k, v)| (*k, v.service.clone()))
            .collect();
        let mut applied = Applied::default();
        for (key, service) in refused {
            plan.health_checks.creates.remove(&key);
            plan.health_checks.updates.remove(&key);
            applied.refused.push(Refused {
                facet: HealthCheckFacet::NAME,
                error: HostError::Listen {
                    service,
                    port: key.port,
                    address: format!("0.0.0.0:{}", key.port),
                    source: std::io::ErrorKind::AddrInUse.into(),
                },
            });
        }
        (plan, applied)
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
        let (plan, applied) = self.refuse_taken_ports(plan);
        plan.apply_to(&mut self.kernel);
        plan.apply_to(&mut self.mirror);
        Ok(applied)
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

#[cfg(test)]
#[path = "fake_tests.rs"]
mod tests;
