//! `LinuxHost`: the real host.

use crate::host::{HostError, HostNetwork, HostPlan, HostSnapshot};

/// The real host (nftables facet today).
#[derive(Debug, Default)]
pub struct LinuxHost {
    mirror: HostSnapshot,
}

impl HostNetwork for LinuxHost {
    fn snapshot(&mut self) -> Result<HostSnapshot, HostError> {
        Ok(self.mirror.clone())
    }
    fn mirror(&self) -> &HostSnapshot {
        &self.mirror
    }
    fn apply(&mut self, plan: &HostPlan) -> Result<(), HostError> {
        plan.apply_to(&mut self.mirror);
        Ok(())
    }
}
