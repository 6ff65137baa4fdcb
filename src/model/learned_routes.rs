//! Routes learned over BGP, as the planner reads them: after each peer's
//! import filter (`acceptPrefixes`, `maxPrefixes`) and best-path
//! selection in the speaker, per prefix the next hops of its equal best
//! paths (several: ECMP). The node-level import rules (never a service
//! VIP, the default route or a `customimportreject` CIDR) are the
//! planner's, since they follow the cluster view.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::IpNet;

/// Selected received routes: prefix → next hops of its best paths.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LearnedRoutes {
    pub routes: BTreeMap<IpNet, BTreeSet<IpAddr>>,
}

impl LearnedRoutes {
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}
