//! UDP conntrack cleanup, the host's side of it: which UDP conntrack entries
//! are stale ([`StaleUdpFilter`], computed by `sync::conntrack`), how an entry
//! is matched against them ([`FlowMatcher`], kube-proxy's rules), and what a
//! flush did ([`ConntrackReport`]). `HostNetwork::flush_conntrack` deletes
//! the matching entries (`linux::conntrack` over ctnetlink).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;

use crate::model::Family;

/// What a UDP flow was sent to: the original destination of its entry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum FlowFrontend {
    /// A service address and port (ClusterIP, external IP, LB IP).
    Address(SocketAddr),
    /// A node port: matched on the destination port alone, whatever the
    /// address (kube-proxy's rule).
    NodePort(u16),
}

/// One filter: a UDP entry of `family` whose original destination is
/// `frontend` and whose reply source (the endpoint it was DNATed to, or the
/// frontend itself when it was not) is not in `allowed` is stale.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct StaleUdpFilter {
    pub family: Family,
    pub frontend: FlowFrontend,
    /// The serving endpoints (address and target port) of the service port.
    pub allowed: BTreeSet<SocketAddr>,
}

/// What a host is asked to clean after a sync: every UDP service's filters.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ConntrackFlush {
    pub filters: Vec<StaleUdpFilter>,
}

impl ConntrackFlush {
    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }

    /// The families with at least one filter (the tables worth reading).
    pub fn families(&self) -> BTreeSet<Family> {
        self.filters.iter().map(|f| f.family).collect()
    }

    /// The matcher for one family's entries.
    pub fn matcher(&self, family: Family) -> FlowMatcher {
        FlowMatcher::new(self.filters.iter().filter(|f| f.family == family))
    }
}

/// A UDP conntrack entry: its original and reply directions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UdpFlow {
    pub orig_src: SocketAddr,
    pub orig_dst: SocketAddr,
    pub reply_src: SocketAddr,
    pub reply_dst: SocketAddr,
}

/// The filters of one family, indexed for matching many entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowMatcher {
    addresses: HashMap<SocketAddr, BTreeSet<SocketAddr>>,
    node_ports: HashMap<u16, BTreeSet<SocketAddr>>,
}

impl FlowMatcher {
    /// Indexes `filters`. Two filters for one frontend (two services on one
    /// address, which the planner refuses, or one node port twice) allow
    /// the union of their endpoints: a doubt keeps the flow.
    pub fn new<'a>(filters: impl IntoIterator<Item = &'a StaleUdpFilter>) -> FlowMatcher {
        let mut m = FlowMatcher::default();
        for f in filters {
            let slot = match f.frontend {
                FlowFrontend::Address(addr) => m.addresses.entry(addr).or_default(),
                FlowFrontend::NodePort(port) => m.node_ports.entry(port).or_default(),
            };
            slot.extend(f.allowed.iter().copied());
        }
        m
    }

    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty() && self.node_ports.is_empty()
    }

    /// kube-proxy's rule (pkg/proxy/conntrack, `CleanStaleEntries`): stale
    /// when the original destination is a service address whose endpoints do
    /// not include the reply source; otherwise, stale when the original
    /// destination port is a node port whose endpoints do not include it.
    pub fn is_stale(&self, flow: &UdpFlow) -> bool {
        if let Some(allowed) = self.addresses.get(&flow.orig_dst)
            && !allowed.contains(&flow.reply_src)
        {
            return true;
        }
        self.node_ports
            .get(&flow.orig_dst.port())
            .is_some_and(|allowed| !allowed.contains(&flow.reply_src))
    }
}

/// What one flush did, per family and in total.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ConntrackReport {
    /// UDP entries read per family.
    pub listed: BTreeMap<Family, usize>,
    /// Entries found stale and deleted.
    pub deleted: usize,
    /// Stale entries that were gone by the time they were deleted.
    pub already_gone: usize,
    /// Entries of the dump that could not be decoded (skipped).
    pub undecodable: usize,
    /// The kernel said a dump was inconsistent (the table changed during
    /// it); what it returned was still cleaned, like kube-proxy does.
    pub interrupted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn filter(frontend: FlowFrontend, allowed: &[&str]) -> StaleUdpFilter {
        let family = match &frontend {
            FlowFrontend::Address(a) => Family::of(&a.ip()),
            FlowFrontend::NodePort(_) => Family::Ip,
        };
        StaleUdpFilter {
            family,
            frontend,
            allowed: allowed.iter().map(|a| sa(a)).collect(),
        }
    }

    fn flow(dst: &str, reply_src: &str) -> UdpFlow {
        UdpFlow {
            orig_src: sa("192.168.50.2:40000"),
            orig_dst: sa(dst),
            reply_src: sa(reply_src),
            reply_dst: sa("192.168.50.2:40000"),
        }
    }

    #[test]
    fn an_entry_to_a_service_address_is_stale_unless_its_endpoint_serves() {
        let vip = FlowFrontend::Address(sa("10.96.0.10:53"));
        let m = FlowMatcher::new(&[filter(vip, &["10.244.1.12:5353"])]);
        assert!(!m.is_stale(&flow("10.96.0.10:53", "10.244.1.12:5353")));
        assert!(
            m.is_stale(&flow("10.96.0.10:53", "10.244.1.11:5353")),
            "old endpoint"
        );
        assert!(
            m.is_stale(&flow("10.96.0.10:53", "10.244.1.12:53")),
            "other port"
        );
        assert!(
            m.is_stale(&flow("10.96.0.10:53", "10.96.0.10:53")),
            "never DNATed"
        );
        assert!(
            !m.is_stale(&flow("10.96.0.10:54", "10.244.1.11:5353")),
            "other port"
        );
        assert!(
            !m.is_stale(&flow("10.96.0.11:53", "10.244.1.11:5353")),
            "other address"
        );
    }

    #[test]
    fn a_service_without_endpoints_makes_all_its_entries_stale() {
        let vip = FlowFrontend::Address(sa("10.96.0.10:53"));
        let m = FlowMatcher::new(&[filter(vip, &[])]);
        assert!(m.is_stale(&flow("10.96.0.10:53", "10.244.1.12:5353")));
        assert!(m.is_stale(&flow("10.96.0.10:53", "10.96.0.10:53")));
    }

    #[test]
    fn a_node_port_matches_on_the_port_whatever_the_address() {
        let m = FlowMatcher::new(&[filter(FlowFrontend::NodePort(30053), &["10.244.1.12:5353"])]);
        assert!(m.is_stale(&flow("192.168.50.1:30053", "10.244.1.11:5353")));
        assert!(m.is_stale(&flow("10.0.0.1:30053", "10.0.0.1:30053")));
        assert!(!m.is_stale(&flow("192.168.50.1:30053", "10.244.1.12:5353")));
        assert!(!m.is_stale(&flow("192.168.50.1:30054", "10.244.1.11:5353")));
    }

    #[test]
    fn an_address_that_keeps_the_flow_still_meets_the_node_port_rule() {
        // kube-proxy checks the node port map even when the address map
        // allowed the entry.
        let m = FlowMatcher::new(&[
            filter(
                FlowFrontend::Address(sa("10.96.0.10:30053")),
                &["10.244.1.11:5353"],
            ),
            filter(FlowFrontend::NodePort(30053), &["10.244.1.12:5353"]),
        ]);
        assert!(m.is_stale(&flow("10.96.0.10:30053", "10.244.1.11:5353")));
    }

    #[test]
    fn two_filters_for_one_frontend_allow_both_endpoint_sets() {
        let vip = FlowFrontend::Address(sa("10.96.0.10:53"));
        let m = FlowMatcher::new(&[
            filter(vip.clone(), &["10.244.1.11:53"]),
            filter(vip, &["10.244.1.12:53"]),
        ]);
        assert!(!m.is_stale(&flow("10.96.0.10:53", "10.244.1.11:53")));
        assert!(!m.is_stale(&flow("10.96.0.10:53", "10.244.1.12:53")));
    }

    #[test]
    fn the_matcher_of_a_family_holds_only_that_family() {
        let flush = ConntrackFlush {
            filters: vec![
                filter(FlowFrontend::Address(sa("10.96.0.10:53")), &[]),
                filter(FlowFrontend::Address(sa("[fd00:96::10]:53")), &[]),
            ],
        };
        assert_eq!(flush.families(), BTreeSet::from([Family::Ip, Family::Ip6]));
        let v6 = flush.matcher(Family::Ip6);
        assert!(v6.is_stale(&flow("[fd00:96::10]:53", "[fd00:96::10]:53")));
        assert!(!v6.is_stale(&flow("10.96.0.10:53", "10.96.0.10:53")));
        assert!(ConntrackFlush::default().matcher(Family::Ip).is_empty());
    }
}
