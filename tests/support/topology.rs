//! A dual-stack node namespace with a client and N backend ("pod") namespaces
//! around it, shaped like one Kubernetes node:
//!
//! ```text
//!  client 192.168.50.2/24 ──eth0───vclient── node 192.168.50.1/24 (primary IPs)
//!         fd00:50::2/64                           fd00:50::1/64
//!                                            node ──vpodN── eth0 pod-N 10.244.1.(10+N)/32
//!                                                                      fd00:244:1::(10+N)/128
//! ```
//!
//! Pods route everything via 10.244.1.1 / fd00:244:1::1 (on every node-side
//! pod veth, on-link from the pod, host route per pod on the node, like
//! Calico), so pod-to-pod and hairpin traffic crosses the node's rules. The client routes the service
//! and pod CIDRs via the node. The node's default routes point back at the
//! client so that locally originated traffic to a ClusterIP has a route and
//! reaches nat output. IPv6 addresses skip DAD so they are usable at once.
//! Everything is removed on drop (the namespaces own the veths).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::netns::{NetNs, veth};

pub const NODE_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 50, 1);
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 50, 2);
pub const POD_GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 1);
pub const POD_CIDR: &str = "10.244.1.0/24";
pub const CLUSTER_CIDR: &str = "10.244.0.0/16";
pub const SERVICE_CIDR: &str = "10.96.0.0/12";

pub const NODE_IP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x50, 0, 0, 0, 0, 0, 1);
pub const CLIENT_IP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x50, 0, 0, 0, 0, 0, 2);
pub const POD_GATEWAY6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x244, 1, 0, 0, 0, 0, 1);
pub const POD_CIDR6: &str = "fd00:244:1::/64";
pub const CLUSTER_CIDR6: &str = "fd00:244::/48";
pub const SERVICE_CIDR6: &str = "fd00:96::/112";

/// The cluster IPs `10.96.0.<n>` and `fd00:96::<n>` (hex digits as written).
pub fn service_ips(n: u8) -> [IpAddr; 2] {
    [
        IpAddr::V4(Ipv4Addr::new(10, 96, 0, n)),
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0x96, 0, 0, 0, 0, 0, u16::from(n))),
    ]
}

/// A second outside client ([`Topology::second_client`]), on its own link.
pub const CLIENT2_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 51, 2);
pub const NODE_IP_CLIENT2: Ipv4Addr = Ipv4Addr::new(192, 168, 51, 1);
pub const CLIENT2_IP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x51, 0, 0, 0, 0, 0, 2);
pub const NODE_IP6_CLIENT2: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x51, 0, 0, 0, 0, 0, 1);
/// What outside clients route through the node besides the service and
/// cluster CIDRs: the external and LoadBalancer addresses tests use.
pub const EXTERNAL_NETS: [&str; 2] = ["203.0.113.0/24", "198.51.100.0/24"];
pub const EXTERNAL_NETS6: [&str; 1] = ["2001:db8::/32"];

/// Sysctls of every namespace, set before its interfaces exist so they
/// inherit them: IPv6 addresses usable without DAD, and no redirects
/// accepted (a redirect would turn a later "refused" into an unreachable).
const COMMON_SYSCTLS: &[&str] = &[
    "net.ipv6.conf.all.accept_dad=0",
    "net.ipv6.conf.default.accept_dad=0",
    "net.ipv6.conf.default.dad_transmits=0",
    "net.ipv6.conf.all.accept_redirects=0",
    "net.ipv6.conf.default.accept_redirects=0",
    "net.ipv4.conf.all.accept_redirects=0",
    "net.ipv4.conf.default.accept_redirects=0",
];

/// One backend namespace.
#[derive(Debug)]
pub struct Pod {
    /// `backend-N`, also what its servers answer.
    pub name: String,
    pub ip: Ipv4Addr,
    pub ip6: Ipv6Addr,
    pub ns: NetNs,
}

impl Pod {
    /// The pod's address in the family of `like` (v4 or v6).
    pub fn ip_like(&self, like: IpAddr) -> IpAddr {
        match like {
            IpAddr::V4(_) => IpAddr::V4(self.ip),
            IpAddr::V6(_) => IpAddr::V6(self.ip6),
        }
    }
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
        set_sysctls(&node, COMMON_SYSCTLS);
        set_sysctls(
            &node,
            &[
                "net.ipv4.ip_forward=1",
                "net.ipv4.conf.all.send_redirects=0",
                "net.ipv4.conf.default.send_redirects=0",
                "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.default.rp_filter=0",
                "net.ipv6.conf.all.forwarding=1",
                // IPv6 has no send_redirects switch, and ICMP errors share
                // a per-peer rate limit: never rate-limit the destination
                // unreachables a `reject` sends (types 3 / 1), so "refused"
                // does not depend on how many tests ran before.
                "net.ipv4.icmp_ratemask=6160",
                "net.ipv6.icmp.ratemask=0,3-127",
            ],
        );

        let client = NetNs::new(&format!("{prefix}-cli"));
        set_sysctls(&client, COMMON_SYSCTLS);
        veth(
            &node,
            "vclient",
            &format!("{NODE_IP}/24"),
            &client,
            "eth0",
            &format!("{CLIENT_IP}/24"),
        );
        add_addr6(&node, "vclient", &format!("{NODE_IP6}/64"));
        add_addr6(&client, "eth0", &format!("{CLIENT_IP6}/64"));
        node.ip(&["route", "add", "default", "via", &CLIENT_IP.to_string()]);
        node.ip(&[
            "-6",
            "route",
            "add",
            "default",
            "via",
            &CLIENT_IP6.to_string(),
        ]);
        for cidr in [SERVICE_CIDR, CLUSTER_CIDR] {
            client.ip(&["route", "add", cidr, "via", &NODE_IP.to_string()]);
        }
        for cidr in [SERVICE_CIDR6, CLUSTER_CIDR6] {
            client.ip(&["-6", "route", "add", cidr, "via", &NODE_IP6.to_string()]);
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
        let ip6 = Ipv6Addr::new(0xfd00, 0x244, 1, 0, 0, 0, 0, 10 + n as u16);
        let ns = NetNs::new(&format!("{}-p{n}", short_prefix(&self.node.name)));
        set_sysctls(&ns, COMMON_SYSCTLS);
        let node_if = format!("vpod{n}");
        // Host addresses on both ends and an on-link route to the gateway
        // (Calico's shape): every packet of a pod, to another pod too, goes
        // through the node and its rules; a /24 would make pod-to-pod
        // traffic go straight to ARP on the link, which nobody answers.
        veth(
            &self.node,
            &node_if,
            &format!("{POD_GATEWAY}/32"),
            &ns,
            "eth0",
            &format!("{ip}/32"),
        );
        add_addr6(&self.node, &node_if, &format!("{POD_GATEWAY6}/128"));
        add_addr6(&ns, "eth0", &format!("{ip6}/128"));
        self.node
            .ip(&["route", "add", &format!("{ip}/32"), "dev", &node_if]);
        self.node
            .ip(&["-6", "route", "add", &format!("{ip6}/128"), "dev", &node_if]);
        for (v, gateway) in [
            ("-4", POD_GATEWAY.to_string()),
            ("-6", POD_GATEWAY6.to_string()),
        ] {
            ns.ip(&[v, "route", "add", &gateway, "dev", "eth0"]);
            ns.ip(&[v, "route", "add", "default", "via", &gateway, "dev", "eth0"]);
        }
        self.pods.push(Pod { name, ip, ip6, ns });
    }

    /// Another outside client, `192.168.51.2` / `fd00:51::2` on a link of
    /// its own (`vclient2` on the node), routing the service and cluster
    /// CIDRs and [`EXTERNAL_NETS`] through the node. Dropping it removes it.
    pub fn second_client(&self) -> NetNs {
        let client = NetNs::new(&format!("{}-cli2", short_prefix(&self.node.name)));
        set_sysctls(&client, COMMON_SYSCTLS);
        veth(
            &self.node,
            "vclient2",
            &format!("{NODE_IP_CLIENT2}/24"),
            &client,
            "eth0",
            &format!("{CLIENT2_IP}/24"),
        );
        add_addr6(&self.node, "vclient2", &format!("{NODE_IP6_CLIENT2}/64"));
        add_addr6(&client, "eth0", &format!("{CLIENT2_IP6}/64"));
        self.node
            .sysctl("net.ipv4.conf.vclient2.send_redirects", "0");
        for cidr in [SERVICE_CIDR, CLUSTER_CIDR].iter().chain(&EXTERNAL_NETS) {
            client.ip(&["route", "add", cidr, "via", &NODE_IP_CLIENT2.to_string()]);
        }
        for cidr in [SERVICE_CIDR6, CLUSTER_CIDR6].iter().chain(&EXTERNAL_NETS6) {
            client.ip(&[
                "-6",
                "route",
                "add",
                cidr,
                "via",
                &NODE_IP6_CLIENT2.to_string(),
            ]);
        }
        client
    }

    /// Routes the first client's traffic for [`EXTERNAL_NETS`] (and
    /// [`EXTERNAL_NETS6`]) through the node, as routers in front of a
    /// cluster would.
    pub fn route_external_via_node(&self) {
        for cidr in EXTERNAL_NETS {
            self.client
                .ip(&["route", "add", cidr, "via", &NODE_IP.to_string()]);
        }
        for cidr in EXTERNAL_NETS6 {
            self.client
                .ip(&["-6", "route", "add", cidr, "via", &NODE_IP6.to_string()]);
        }
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

/// Writes `key=value` sysctls in one shell (one process per namespace, not per key).
fn set_sysctls(ns: &NetNs, keys: &[&str]) {
    let script: Vec<String> = keys
        .iter()
        .map(|key| {
            let (k, v) = key.split_once('=').expect("key=value");
            format!("echo '{v}' > /proc/sys/{}", k.replace('.', "/"))
        })
        .collect();
    ns.exec(&["sh", "-ec", &script.join("\n")]);
}

/// An IPv6 address without DAD (`nodad`), so it is usable at once.
fn add_addr6(ns: &NetNs, dev: &str, addr: &str) {
    ns.ip(&["-6", "addr", "add", addr, "dev", dev, "nodad"]);
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
