//! Endpoint selection per service port and family (service-proxy.md):
//! cluster set (ready, else serving-terminating), local set (the same rule on
//! this node's endpoints, decided independently), topology hints.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use super::NodeInfo;

/// One endpoint address of one service port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: IpAddr,
    /// Target port (from the slice port with the service port's name).
    pub port: u16,
    pub node_name: Option<String>,
    pub zone: Option<String>,
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
    /// Runs on this node.
    pub is_local: bool,
    /// `hints.forZones[].name`; `None` when the endpoint has no zone hints.
    pub hint_zones: Option<Vec<String>>,
    /// `hints.forNodes[].name`; `None` when the endpoint has no node hints.
    pub hint_nodes: Option<Vec<String>>,
}

impl Endpoint {
    fn serving_terminating(&self) -> bool {
        self.serving && self.terminating
    }
}

/// The endpoints a service port uses in one family, already categorised.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortEndpoints {
    /// For cluster-wide traffic: ready endpoints (topology-filtered), or, when
    /// none is ready, the serving-and-terminating ones.
    pub cluster: Vec<Endpoint>,
    /// `cluster` holds serving-terminating endpoints (no ready one exists).
    pub cluster_is_fallback: bool,
    /// Topology hints narrowed `cluster` to this zone or node.
    pub topology_applied: bool,
    /// This node's endpoints: ready, or serving-terminating when none is ready.
    pub local: Vec<Endpoint>,
    /// `local` holds serving-terminating endpoints.
    pub local_is_fallback: bool,
    /// This node has at least one *ready* local endpoint (health check node port).
    pub local_ready: usize,
    /// Every serving endpoint (ready or terminating, any node, any zone),
    /// sorted: the backends an existing UDP flow may stay on (kube-proxy's
    /// conntrack cleanup ignores traffic policies and topology).
    pub serving: Vec<SocketAddr>,
}

impl PortEndpoints {
    /// Categorises the raw endpoints of one port and family.
    pub fn categorize(raw: Vec<Endpoint>, node: &NodeInfo) -> PortEndpoints {
        let endpoints = dedup(raw);

        let (cluster, cluster_is_fallback) = pick(endpoints.iter());
        let (cluster, topology_applied) = if cluster_is_fallback {
            (cluster, false)
        } else {
            apply_topology(cluster, node)
        };
        let (local, local_is_fallback) = pick(endpoints.iter().filter(|e| e.is_local));
        let local_ready = endpoints.iter().filter(|e| e.is_local && e.ready).count();
        let serving = endpoints
            .iter()
            .filter(|e| e.serving)
            .map(|e| SocketAddr::new(e.ip, e.port))
            .collect();
        PortEndpoints {
            cluster,
            cluster_is_fallback,
            topology_applied,
            local,
            local_is_fallback,
            local_ready,
            serving,
        }
    }
}

/// Ready endpoints, else serving-terminating ones (never terminating and not serving).
fn pick<'a>(endpoints: impl Iterator<Item = &'a Endpoint> + Clone) -> (Vec<Endpoint>, bool) {
    let ready: Vec<Endpoint> = endpoints.clone().filter(|e| e.ready).cloned().collect();
    if !ready.is_empty() {
        return (ready, false);
    }
    let fallback: Vec<Endpoint> = endpoints
        .filter(|e| e.serving_terminating())
        .cloned()
        .collect();
    let used = !fallback.is_empty();
    (fallback, used)
}

/// Narrows ready endpoints to this zone (or node) when every endpoint carries
/// hints and at least one names this zone or node; otherwise keeps them all.
fn apply_topology(ready: Vec<Endpoint>, node: &NodeInfo) -> (Vec<Endpoint>, bool) {
    if ready.is_empty() {
        return (ready, false);
    }
    let names_node = |e: &Endpoint| {
        e.hint_nodes
            .as_ref()
            .is_some_and(|n| n.contains(&node.name))
    };
    let names_zone = |e: &Endpoint| match (&e.hint_zones, &node.zone) {
        (Some(zones), Some(zone)) => zones.iter().any(|z| z == zone),
        _ => false,
    };
    let all_node_hinted = ready.iter().all(|e| e.hint_nodes.is_some());
    if all_node_hinted && ready.iter().any(names_node) {
        let chosen = ready.into_iter().filter(names_node).collect();
        return (chosen, true);
    }
    let all_zone_hinted = ready.iter().all(|e| e.hint_zones.is_some());
    if all_zone_hinted && ready.iter().any(names_zone) {
        let chosen = ready.into_iter().filter(names_zone).collect();
        return (chosen, true);
    }
    (ready, false)
}

/// One entry per `ip:port`, sorted; a ready copy wins over a not-ready one
/// (the same address can sit in two slices while they are being rewritten).
fn dedup(raw: Vec<Endpoint>) -> Vec<Endpoint> {
    let mut by_addr: BTreeMap<(IpAddr, u16), Endpoint> = BTreeMap::new();
    for e in raw {
        match by_addr.get(&(e.ip, e.port)) {
            Some(existing) if existing.ready || !e.ready => {}
            _ => {
                by_addr.insert((e.ip, e.port), e);
            }
        }
    }
    by_addr.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(ip: &str, ready: bool, serving: bool, terminating: bool, local: bool) -> Endpoint {
        Endpoint {
            ip: ip.parse().unwrap(),
            port: 80,
            node_name: None,
            zone: None,
            ready,
            serving,
            terminating,
            is_local: local,
            hint_zones: None,
            hint_nodes: None,
        }
    }

    fn node(zone: &str) -> NodeInfo {
        NodeInfo {
            name: "node-a".into(),
            zone: Some(zone.into()),
            ..NodeInfo::default()
        }
    }

    fn ips(eps: &[Endpoint]) -> Vec<String> {
        eps.iter().map(|e| e.ip.to_string()).collect()
    }

    #[test]
    fn ready_endpoints_win_over_terminating_ones() {
        let got = PortEndpoints::categorize(
            vec![
                ep("10.0.0.1", true, true, false, false),
                ep("10.0.0.2", false, true, true, false),
            ],
            &node("z1"),
        );
        assert_eq!(ips(&got.cluster), ["10.0.0.1"]);
        assert!(!got.cluster_is_fallback);
    }

    #[test]
    fn serving_terminating_endpoints_are_the_fallback() {
        let got = PortEndpoints::categorize(
            vec![
                ep("10.0.0.2", false, true, true, false),
                ep("10.0.0.3", false, false, true, false),
            ],
            &node("z1"),
        );
        assert_eq!(
            ips(&got.cluster),
            ["10.0.0.2"],
            "terminating-not-serving never used"
        );
        assert!(got.cluster_is_fallback);
    }

    #[test]
    fn local_set_is_decided_independently() {
        let got = PortEndpoints::categorize(
            vec![
                ep("10.0.0.1", true, true, false, false),
                ep("10.0.0.2", false, true, true, true),
            ],
            &node("z1"),
        );
        assert_eq!(ips(&got.cluster), ["10.0.0.1"]);
        assert_eq!(ips(&got.local), ["10.0.0.2"]);
        assert!(got.local_is_fallback);
        assert_eq!(got.local_ready, 0);
    }

    #[test]
    fn topology_hints_narrow_to_this_zone_only_when_all_are_hinted() {
        let mut a = ep("10.0.0.1", true, true, false, false);
        a.hint_zones = Some(vec!["z1".into()]);
        let mut b = ep("10.0.0.2", true, true, false, false);
        b.hint_zones = Some(vec!["z2".into()]);
        let got = PortEndpoints::categorize(vec![a.clone(), b.clone()], &node("z1"));
        assert_eq!(ips(&got.cluster), ["10.0.0.1"]);
        assert!(got.topology_applied);

        let c = ep("10.0.0.3", true, true, false, false);
        let got = PortEndpoints::categorize(vec![a.clone(), b.clone(), c], &node("z1"));
        assert_eq!(
            got.cluster.len(),
            3,
            "one endpoint without hints disables topology"
        );

        let got = PortEndpoints::categorize(vec![a, b], &node("z9"));
        assert_eq!(got.cluster.len(), 2, "no hint for this zone: use all");
    }

    #[test]
    fn node_hints_select_this_node() {
        let mut a = ep("10.0.0.1", true, true, false, false);
        a.hint_nodes = Some(vec!["node-a".into()]);
        let mut b = ep("10.0.0.2", true, true, false, false);
        b.hint_nodes = Some(vec!["node-b".into()]);
        let got = PortEndpoints::categorize(vec![a, b], &node("z1"));
        assert_eq!(ips(&got.cluster), ["10.0.0.1"]);
    }

    #[test]
    fn serving_lists_every_serving_endpoint_whatever_the_sets() {
        let mut far = ep("10.0.0.1", true, true, false, false);
        far.hint_zones = Some(vec!["z2".into()]);
        let mut near = ep("10.0.0.2", true, true, false, false);
        near.hint_zones = Some(vec!["z1".into()]);
        let got = PortEndpoints::categorize(
            vec![
                far,
                near,
                ep("10.0.0.3", false, true, true, false),
                ep("10.0.0.4", false, false, true, false),
                ep("10.0.0.5", false, false, false, true),
            ],
            &node("z1"),
        );
        assert_eq!(ips(&got.cluster), ["10.0.0.2"], "topology narrowed the set");
        let serving: Vec<String> = got.serving.iter().map(|a| a.to_string()).collect();
        assert_eq!(serving, ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"]);
    }

    #[test]
    fn duplicate_addresses_keep_the_ready_copy() {
        let got = PortEndpoints::categorize(
            vec![
                ep("10.0.0.1", false, false, false, false),
                ep("10.0.0.1", true, true, false, false),
            ],
            &node("z1"),
        );
        assert_eq!(got.cluster.len(), 1);
        assert!(got.cluster[0].ready);
    }
}
