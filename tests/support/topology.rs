//! A node namespace with a client and N backend ("pod") namespaces around it,
//! shaped like one Kubernetes node:
//!
//! ```text
//!  client 192.168.50.2/24 ──eth0───vclient── node 192.168.50.1/24 (primary IP)
//!                                            node ──vpodN── eth0 pod-N 10.244.1.(10+N)/24
//! ```
//!
//! Pods route everything via 10.244.1.1 (on every node-side pod veth, /32 per
//! pod route, like Calico). The client routes the service and pod CIDRs via
//! the node. The node's default route points back at the client so that
//! locally originated traffic to a ClusterIP has a route and reaches nat
//! output. Everything is removed on drop (the namespaces own the veths).

use std::net::Ipv4Addr;

use super::netns::{NetNs, veth};

pub const NODE_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 50, 1);
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 50, 2);
pub const POD_GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 1);
pub const POD_CIDR: &str = "10.244.1.0/24";
pub const CLUSTER_CIDR: &str = "10.244.0.0/16";
pub const SERVICE_CIDR: &str = "10.96.0.0/12";

/// One backend namespace.
#[derive(Debug)]
pub struct Pod {
    /// `backend-N`, also what its servers answer.
    pub name: String,
    pub ip: Ipv4Addr,
    pub ns: NetNs,
}

/// The whole node: drop it to remove every namespace.
#[derive(Debug)]
pub struct Topology {
    pub node: NetNs,
    pub client: NetNs,
    pub pods: Vec<Pod>,
}

impl Topology {
    /// Builds the node, the client and `pods` backends (`backend-1` = 10.244.1.11, …).
    pub fn new(prefix: &str, pods: usize) -> Topology {
        assert!(pods < 100, "pod addresses are 10.244.1.(10+N)");
        let node = NetNs::new(&format!("{prefix}-node"));
        // Before any interface exists, so new interfaces inherit the defaults.
        for key in [
            "net.ipv4.ip_forward=1",
            "net.ipv4.conf.all.send_redirects=0",
            "net.ipv4.conf.default.send_redirects=0",
            "net.ipv4.conf.all.rp_filter=0",
            "net.ipv4.conf.default.rp_filter=0",
        ] {
            let (k, v) = key.split_once('=').expect("key=value");
            node.sysctl(k, v);
        }

        let client = NetNs::new(&format!("{prefix}-cli"));
        veth(
            &node,
            "vclient",
            &format!("{NODE_IP}/24"),
            &client,
            "eth0",
            &format!("{CLIENT_IP}/24"),
        );
        node.ip(&["route", "add", "default", "via", &CLIENT_IP.to_string()]);
        for cidr in [SERVICE_CIDR, CLUSTER_CIDR] {
            client.ip(&["route", "add", cidr, "via", &NODE_IP.to_string()]);
        }

        let mut topology = Topology {
            node,
            client,
            pods: Vec::new(),
        };
        for n in 1..=pods {
            topology.add_pod(n);
        }
        for dev in ["vclient".to_string()]
            .into_iter()
            .chain((1..=pods).map(|n| format!("vpod{n}")))
        {
            // Redundant with `default`, but a redirect turns an expected
            // "connection refused" into a timeout (ICMP rate limit), so be sure.
            topology
                .node
                .sysctl(&format!("net.ipv4.conf.{dev}.send_redirects"), "0");
        }
        topology
    }

    fn add_pod(&mut self, n: usize) {
        let name = format!("backend-{n}");
        let ip = Ipv4Addr::new(10, 244, 1, 10 + n as u8);
        let ns = NetNs::new(&format!("{}-p{n}", short_prefix(&self.node.name)));
        let node_if = format!("vpod{n}");
        veth(
            &self.node,
            &node_if,
            &format!("{POD_GATEWAY}/32"),
            &ns,
            "eth0",
            &format!("{ip}/24"),
        );
        self.node
            .ip(&["route", "add", &format!("{ip}/32"), "dev", &node_if]);
        ns.ip(&["route", "add", "default", "via", &POD_GATEWAY.to_string()]);
        self.pods.push(Pod { name, ip, ns });
    }

    /// The pod named `name` (`backend-N`).
    pub fn pod(&self, name: &str) -> &Pod {
        self.pods
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no pod {name}"))
    }

    /// Every namespace name, node first (to check they are gone after drop).
    pub fn namespace_names(&self) -> Vec<String> {
        [&self.node, &self.client]
            .into_iter()
            .chain(self.pods.iter().map(|p| &p.ns))
            .map(|ns| ns.name.clone())
            .collect()
    }
}

/// `kr-<prefix>-node-<pid>-<n>` → `<prefix>`, so pod namespaces read as siblings.
fn short_prefix(node_ns: &str) -> String {
    node_ns
        .strip_prefix("kr-")
        .and_then(|rest| rest.split("-node-").next())
        .unwrap_or("topo")
        .to_string()
}

/// Whether a namespace of that name still exists.
pub fn namespace_exists(name: &str) -> bool {
    std::path::Path::new(&format!("/run/netns/{name}")).exists()
}
