//! UDP conntrack cleanup, the pure part (kube-proxy's pkg/proxy/conntrack,
//! `CleanStaleEntries`). UDP has no connection to reset: once an entry has
//! DNATed a client's flow to an endpoint, every datagram of that flow keeps
//! going there, to an endpoint long gone, or to no endpoint at all when the
//! entry was made before the service had one. So after a sync in which a UDP
//! service's endpoints or frontends changed, every UDP entry whose original
//! destination is a service address and port (or a node port) and whose reply
//! source is not one of that port's serving endpoints is deleted; the next
//! datagram makes a new entry through the current rules.
//!
//! [`udp_filters`] says which entries a service keeps; [`ConntrackTracker`]
//! remembers them between syncs, decides when a cleanup is due, and hands
//! the host every UDP service's filters (`HostNetwork::flush_conntrack`).
//! Like kube-proxy, the serving endpoints are all of them (ready or
//! terminating, on any node, in any zone): a change of policy or topology
//! does not cut existing flows, as it does not for TCP.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use crate::host::conntrack::{ConntrackFlush, FlowFrontend, StaleUdpFilter};
use crate::model::{KubeRouterService, ObjectKey, Proto};

/// The filters of one service: per UDP port and family, one per service
/// address (ClusterIPs, external IPs, LB IPs) and one for the node port.
/// A port without serving endpoints gets no node-port filter: entries are
/// matched on the port alone there, and with nothing allowed every flow to
/// that port number, kroute's or not, would go (kube-proxy skips it too).
pub fn udp_filters(svc: &KubeRouterService) -> Vec<StaleUdpFilter> {
    let mut out = Vec::new();
    for port in svc.ports.iter().filter(|p| p.protocol == Proto::Udp) {
        for (family, frontends) in &svc.frontends {
            let allowed: BTreeSet<SocketAddr> = svc
                .endpoints
                .get(&(port.name.clone(), *family))
                .map(|e| e.serving.iter().copied().collect())
                .unwrap_or_default();
            let addresses = frontends
                .cluster_ips
                .iter()
                .chain(&frontends.external_ips)
                .chain(&frontends.load_balancer_ips);
            for ip in addresses {
                out.push(StaleUdpFilter {
                    family: *family,
                    frontend: FlowFrontend::Address(SocketAddr::new(*ip, port.port)),
                    allowed: allowed.clone(),
                });
            }
            if let Some(node_port) = port.node_port
                && !allowed.is_empty()
            {
                out.push(StaleUdpFilter {
                    family: *family,
                    frontend: FlowFrontend::NodePort(node_port),
                    allowed,
                });
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// What one sync's planning learnt, recorded by the tracker once the sync's
/// plan has been applied.
#[derive(Debug, Default)]
pub struct ConntrackPlan {
    /// A full sync: services not named here are gone.
    full: bool,
    /// Planned services and their filters (none: no UDP port, not proxied,
    /// or deleted).
    planned: BTreeMap<ObjectKey, Vec<StaleUdpFilter>>,
    /// Services that could not be projected: they keep what they had.
    kept: BTreeSet<ObjectKey>,
}

impl ConntrackPlan {
    /// For a full sync (every service of the view is planned or kept).
    pub fn full() -> ConntrackPlan {
        ConntrackPlan {
            full: true,
            ..ConntrackPlan::default()
        }
    }

    /// For an incremental sync (only the services named change).
    pub fn incremental() -> ConntrackPlan {
        ConntrackPlan::default()
    }

    /// `key` was planned as `service` (`None`: gone, skipped, or not proxied).
    pub fn planned(&mut self, key: &ObjectKey, service: Option<&KubeRouterService>) {
        let filters = service.map(udp_filters).unwrap_or_default();
        self.planned.insert(key.clone(), filters);
    }

    /// `key` could not be planned: what it had stays.
    pub fn kept(&mut self, key: &ObjectKey) {
        self.kept.insert(key.clone());
    }
}

/// Every UDP service's filters as of the last applied sync, and whether a
/// cleanup is due (some changed since the last successful one).
#[derive(Debug, Default)]
pub struct ConntrackTracker {
    services: BTreeMap<ObjectKey, Vec<StaleUdpFilter>>,
    due: bool,
}

impl ConntrackTracker {
    /// Records an applied sync's plan. A cleanup becomes due when a
    /// service's filters changed: endpoints replaced, added (0 → N) or
    /// removed, frontends changed, a UDP service added or deleted. The first
    /// sync with UDP services finds them all new, so a restarted kroute
    /// cleans what changed while it was down.
    pub fn commit(&mut self, plan: ConntrackPlan) {
        let mut next = std::mem::take(&mut self.services);
        if plan.full {
            // Neither planned nor kept: gone from the view.
            let before = next.len();
            next.retain(|key, _| plan.planned.contains_key(key) || plan.kept.contains(key));
            self.due |= next.len() != before;
        }
        for (key, filters) in plan.planned {
            let before = next.remove(&key).unwrap_or_default();
            self.due |= before != filters;
            if !filters.is_empty() {
                next.insert(key, filters);
            }
        }
        self.services = next;
    }

    /// A cleanup should run (after this sync, once the view is synced).
    pub fn due(&self) -> bool {
        self.due
    }

    /// Every UDP service's filters: the whole table is checked against the
    /// current state, not only the services that changed (kube-proxy's way).
    pub fn flush(&self) -> ConntrackFlush {
        ConntrackFlush {
            filters: self.services.values().flatten().cloned().collect(),
        }
    }

    /// The due cleanup ran; a failed one stays due and is retried next sync.
    pub fn cleaned(&mut self) {
        self.due = false;
    }

    /// Number of UDP services tracked.
    pub fn len(&self) -> usize {
        self.services.len()
    }

    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }
}

#[cfg(test)]
#[path = "conntrack_tests.rs"]
mod tests;
