//! Kernel tier, real binary: `loadBalancerSourceRanges` through the
//! `firewall-ips` map and the per-service firewall chains `kroute run`
//! programs, over IPv4 and IPv6. Two outside clients on two links: a client
//! inside the ranges reaches the LB IP, one outside is dropped (a timeout,
//! not a refusal); the ClusterIP and NodePort of the same service are not
//! filtered; when a range holds the node's address the node may reach its
//! own VIP-style LB address (whose source is that LB address); removing the
//! ranges lifts the filter.
mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use support::clients::{Failure, backends_answering, request};
use support::manifests::{LbIngress, ServicePort, ServiceSpec};
use support::netns::NetNs;
use support::nft::NftTable;
use support::scene::{BACKEND_PORT, Backend, Scene};
use support::servers::Transport;
use support::topology::{NODE_IP, NODE_IP6, service_ips};

const BACKENDS: [&str; 2] = ["backend-1", "backend-2"];

struct Lb {
    spec: ServiceSpec,
    lb4: Ipv4Addr,
    lb6: Ipv6Addr,
}

impl Lb {
    /// A dual-stack LoadBalancer `name` with LB IPs 198.51.100.`n` and
    /// 2001:db8:198::`n`, node port 300`n`, TCP and UDP port 80.
    fn new(name: &str, n: u8, ranges: &[&str]) -> Lb {
        let lb4 = Ipv4Addr::new(198, 51, 100, n);
        let lb6 = Ipv6Addr::new(0x2001, 0xdb8, 0x198, 0, 0, 0, 0, u16::from(n));
        let ports = ServicePort::tcp_and_udp(80, BACKEND_PORT, Some(30000 + u16::from(n)));
        let mut spec = ServiceSpec::new(name, &service_ips(n), ports);
        spec.type_ = Some("LoadBalancer".into());
        spec.lb_ingress = [IpAddr::V4(lb4), IpAddr::V6(lb6)]
            .into_iter()
            .map(|ip| LbIngress { ip, ip_mode: None })
            .collect();
        spec.load_balancer_source_ranges = ranges.iter().map(|r| r.to_string()).collect();
        Lb { spec, lb4, lb6 }
    }

    fn lb_addrs(&self) -> [SocketAddr; 2] {
        [
            SocketAddr::from((self.lb4, 80)),
            SocketAddr::from((self.lb6, 80)),
        ]
    }

    fn cluster_and_node_port(&self) -> [SocketAddr; 4] {
        let np = 30000 + u16::from(self.lb4.octets()[3]);
        [
            SocketAddr::new(self.spec.cluster_ips[0], 80),
            SocketAddr::new(self.spec.cluster_ips[1], 80),
            SocketAddr::from((NODE_IP, np)),
            SocketAddr::from((NODE_IP6, np)),
        ]
    }

    /// Puts the LB addresses on the node's `lo`, as VIP-style load balancers
    /// (kube-vip, MetalLB L2) do: the node's own requests then come from them.
    fn on_node_lo(&self, node: &NetNs) {
        node.ip(&["addr", "add", &format!("{}/32", self.lb4), "dev", "lo"]);
        node.ip(&[
            "-6",
            "addr",
            "add",
            &format!("{}/128", self.lb6),
            "dev",
            "lo",
            "nodad",
        ]);
    }
}

fn answers(ns: &str, addr: SocketAddr, what: &str) {
    for transport in [Transport::Tcp, Transport::Udp] {
        let seen = backends_answering(ns, transport, addr, 6);
        assert!(
            seen.iter().all(|b| BACKENDS.contains(&b.as_str())),
            "{what}: {transport:?} {addr}: {seen:?}"
        );
    }
}

fn dropped(ns: &str, addr: SocketAddr, what: &str) {
    for transport in [Transport::Tcp, Transport::Udp] {
        assert_eq!(
            request(ns, transport, addr),
            Err(Failure::Timeout),
            "{what}: {transport:?} {addr}: dropped, not answered or refused"
        );
    }
}

fn firewall_elements(table: &Option<NftTable>) -> usize {
    table
        .as_ref()
        .and_then(|t| t.elements.get("firewall-ips"))
        .map_or(0, Vec::len)
}

#[test]
fn source_ranges_let_only_their_clients_reach_the_lb_ip() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let mut scene = Scene::new("kfw", 2);
    scene.topo.route_external_via_node();
    let client2_ns = scene.topo.second_client();
    // Only the second client's link; no node address inside.
    let only_second = Lb::new("only-second", 20, &["192.168.51.0/24", "fd00:51::/64"]);
    // The first client's link, which holds the node's primary addresses.
    let with_node = Lb::new("with-node", 21, &["192.168.50.0/24", " fd00:50::/64"]);
    let backends: Vec<Backend> = BACKENDS.iter().map(|b| Backend::local(b)).collect();
    for lb in [&only_second, &with_node] {
        lb.on_node_lo(&scene.topo.node);
        scene.put_spec(&lb.spec, &backends);
    }
    scene.start_kroute();

    let client1 = scene.topo.client.path();
    let client2 = client2_ns.path();
    let node = scene.topo.node.path();
    let [probe, _] = only_second.lb_addrs();
    scene.wait_until("the second client reaches the LB IP", |_| {
        request(&client2, Transport::Tcp, probe).is_ok()
    });

    for addr in only_second.lb_addrs() {
        answers(&client2, addr, "a client inside the ranges");
        dropped(&client1, addr, "a client outside the ranges");
        dropped(&node, addr, "the node (no range holds its address)");
    }
    for addr in only_second.cluster_and_node_port() {
        answers(&client1, addr, "ClusterIP and NodePort are not filtered");
    }
    for (addr, lb) in with_node
        .lb_addrs()
        .into_iter()
        .zip([IpAddr::V4(with_node.lb4), IpAddr::V6(with_node.lb6)])
    {
        answers(&client1, addr, "a client inside the ranges");
        dropped(&client2, addr, "a client outside the ranges");
        // Not vacuous: the node's request to its own LB address comes from
        // that address, which no range holds; the node-address rule lets it in.
        let route = scene.topo.node.ip(&["-o", "route", "get", &lb.to_string()]);
        let route = String::from_utf8_lossy(&route.stdout).into_owned();
        assert!(route.contains(&format!("src {lb}")), "{route}");
        answers(&node, addr, "the node, from its own LB address");
    }
    assert_eq!(
        firewall_elements(&scene.kroute_table()),
        4,
        "2 LB IPs x 2 ports"
    );
    assert_eq!(firewall_elements(&scene.kroute_table6()), 4);

    // Ranges removed: the filter goes with them.
    let mut open = only_second.spec.clone();
    open.load_balancer_source_ranges.clear();
    scene.put_spec(&open, &backends);
    scene.wait_until("the first client reaches the unfiltered LB IP", |_| {
        request(&client1, Transport::Tcp, probe).is_ok()
    });
    for addr in only_second.lb_addrs() {
        answers(&client1, addr, "no ranges any more");
    }
    assert_eq!(firewall_elements(&scene.kroute_table()), 2);
    assert_eq!(firewall_elements(&scene.kroute_table6()), 2);
    scene.assert_foreign_unchanged("with source ranges");
}
