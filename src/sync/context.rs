//! `ProxyContext`: the node- and config-level facts every service plan needs.

use ipnet::IpNet;

use super::bgp_context::BgpContext;
use crate::host::nft::Family;
use crate::model::config::{BgpConfig, NodePortAddress, ProxyConfig};
use crate::model::{ClusterView, NodeInfo};

/// What planning needs besides the service itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyContext {
    /// `proxy.enabled`: program Services into the kernel (nftables rules,
    /// health-check listeners, conntrack cleanup). `false` with BGP on: a
    /// BGP-only node, whose `kroute` tables are swept.
    pub proxy: bool,
    pub node: NodeInfo,
    pub cluster_cidrs: Vec<IpNet>,
    pub service_cidrs: Vec<IpNet>,
    pub node_port_addresses: Vec<NodePortAddress>,
    pub masquerade_all: bool,
    /// BGP on this node; `None` when `bgp.enabled` is false.
    pub bgp: Option<BgpContext>,
}

impl ProxyContext {
    pub fn new(proxy: &ProxyConfig, node: NodeInfo) -> ProxyContext {
        ProxyContext {
            proxy: proxy.enabled,
            node,
            cluster_cidrs: proxy.cluster_cidrs.clone(),
            service_cidrs: proxy.service_cidrs.clone(),
            node_port_addresses: proxy.node_port_addresses.clone(),
            masquerade_all: proxy.masquerade_all,
            bgp: None,
        }
    }

    /// With BGP as `bgp` configures it on this context's node, its peers
    /// from `view` (Services `proxy_name` serves, the other Nodes).
    pub fn with_bgp(
        mut self,
        bgp: &BgpConfig,
        view: &ClusterView,
        proxy_name: Option<&str>,
    ) -> ProxyContext {
        self.bgp = BgpContext::new(bgp, &self.node, view, proxy_name);
        self
    }

    /// Cluster (pod) CIDRs of one family.
    pub fn cluster_cidrs(&self, family: Family) -> Vec<IpNet> {
        of_family(&self.cluster_cidrs, family)
    }

    /// Service CIDRs of one family.
    pub fn service_cidrs(&self, family: Family) -> Vec<IpNet> {
        of_family(&self.service_cidrs, family)
    }

    /// Where NodePorts answer in one family: the primary IP (as a host
    /// prefix) and configured CIDRs.
    pub fn node_port_nets(&self, family: Family) -> Vec<IpNet> {
        let mut nets = Vec::new();
        for entry in &self.node_port_addresses {
            match entry {
                NodePortAddress::Primary => {
                    if let Some(ip) = self.node.primary_ips.get(&family) {
                        nets.push(IpNet::from(*ip));
                    }
                }
                NodePortAddress::Cidr(net) => {
                    if family_of_net(net) == family {
                        // nft stores prefixes with host bits cleared.
                        nets.push(net.trunc());
                    }
                }
            }
        }
        nets.sort();
        nets.dedup();
        nets
    }
}

impl ProxyContext {
    /// Where a healthCheckNodePort listens in one family (kube-proxy's
    /// rule): the family's NodePort prefixes, or, when they are none or
    /// include a zero prefix, the family's zero prefix (every address).
    pub fn health_check_nets(&self, family: Family) -> Vec<IpNet> {
        let nets = self.node_port_nets(family);
        if nets.is_empty() || nets.iter().any(|n| n.prefix_len() == 0) {
            // `Ipv4Net`/`Ipv6Net` default to `0.0.0.0/0` / `::/0`.
            return vec![match family {
                Family::Ip => IpNet::V4(Default::default()),
                Family::Ip6 => IpNet::V6(Default::default()),
            }];
        }
        nets
    }
}

fn family_of_net(net: &IpNet) -> Family {
    match net {
        IpNet::V4(_) => Family::Ip,
        IpNet::V6(_) => Family::Ip6,
    }
}

fn of_family(nets: &[IpNet], family: Family) -> Vec<IpNet> {
    nets.iter()
        .filter(|n| family_of_net(n) == family)
        .copied()
        .collect()
}
