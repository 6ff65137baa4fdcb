//! Kernel tier, real binary: what happens around the service frontends,
//! over IPv4 and IPv6. A live ClusterIP on a port no service uses is
//! refused; an unallocated address inside the service CIDRs is dropped (a
//! timeout), even where a route would deliver it; NodePorts answer on the
//! primary addresses by default and only inside the configured CIDRs
//! otherwise; with `masqueradeAll` a backend sees the node's address for
//! ClusterIP traffic (only: kube-proxy's rule).
mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use support::clients::{Failure, backends_answering, peer_answers, request};
use support::manifests::{ServicePort, ServiceSpec};
use support::scene::{BACKEND_PORT, Backend, PEER_PORT, Scene};
use support::servers::Transport;
use support::topology::{NODE_IP, NODE_IP6, POD_GATEWAY, POD_GATEWAY6, service_ips};

const TRANSPORTS: [Transport; 2] = [Transport::Tcp, Transport::Udp];

#[test]
fn unused_port_of_a_live_cluster_ip_is_refused_and_an_unallocated_service_address_dropped() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let mut scene = Scene::new("kcips", 1);
    let live = ServiceSpec::new(
        "live",
        &service_ips(70),
        ServicePort::tcp_and_udp(80, BACKEND_PORT, None),
    );
    scene.put_spec(&live, &[Backend::local("backend-1")]);
    // Unallocated service addresses that a route delivers to the pod, which
    // holds them and answers: without the drop rule they would be reached.
    let pod = scene.topo.pod("backend-1");
    let unallocated = service_ips(99);
    for (ip, v, len, via) in [
        (unallocated[0], "-4", 32, IpAddr::V4(pod.ip)),
        (unallocated[1], "-6", 128, IpAddr::V6(pod.ip6)),
    ] {
        let net = format!("{ip}/{len}");
        pod.ns.ip(&[v, "addr", "add", &net, "dev", "lo"]);
        scene.topo.node.ip(&[
            v,
            "route",
            "add",
            &net,
            "via",
            &via.to_string(),
            "dev",
            "vpod1",
        ]);
    }
    let client = scene.topo.client.path();
    let node = scene.topo.node.path();
    let targets = unallocated.map(|ip| SocketAddr::new(ip, BACKEND_PORT));
    for addr in targets {
        for ns in [&client, &node] {
            assert_eq!(
                backends_answering(ns, Transport::Tcp, addr, 1).len(),
                1,
                "before kroute the route reaches {addr}"
            );
        }
    }
    scene.start_kroute();
    let [live4, _] = service_ips(70).map(|ip| SocketAddr::new(ip, 80));
    scene.wait_until("the live ClusterIP answers", |_| {
        request(&client, Transport::Tcp, live4).is_ok()
    });

    for transport in TRANSPORTS {
        for (from, ns) in [("client", &client), ("node", &node)] {
            for ip in service_ips(70) {
                assert!(request(ns, transport, SocketAddr::new(ip, 80)).is_ok());
                assert_eq!(
                    request(ns, transport, SocketAddr::new(ip, 81)),
                    Err(Failure::Refused),
                    "{transport:?} from the {from} to {ip}:81, a port no service uses"
                );
            }
            for addr in targets {
                assert_eq!(
                    request(ns, transport, addr),
                    Err(Failure::Timeout),
                    "{transport:?} from the {from} to {addr}, unallocated in the service CIDRs"
                );
            }
        }
    }
}

#[test]
fn node_ports_answer_on_the_primary_addresses_or_on_the_configured_cidrs_only() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let mut scene = Scene::new("knpaddr", 2);
    // A second pair of node addresses, routed by the client to the node.
    let (other4, other6) = (
        Ipv4Addr::new(192, 168, 60, 1),
        Ipv6Addr::new(0xfd00, 0x60, 0, 0, 0, 0, 0, 1),
    );
    let node_ns = &scene.topo.node;
    node_ns.ip(&["addr", "add", &format!("{other4}/24"), "dev", "vclient"]);
    node_ns.ip(&[
        "-6",
        "addr",
        "add",
        &format!("{other6}/64"),
        "dev",
        "vclient",
        "nodad",
    ]);
    let client_ns = &scene.topo.client;
    client_ns.ip(&[
        "route",
        "add",
        "192.168.60.0/24",
        "via",
        &NODE_IP.to_string(),
    ]);
    client_ns.ip(&[
        "-6",
        "route",
        "add",
        "fd00:60::/64",
        "via",
        &NODE_IP6.to_string(),
    ]);
    let svc = ServiceSpec::new(
        "np",
        &service_ips(71),
        ServicePort::tcp_and_udp(80, BACKEND_PORT, Some(30071)),
    );
    scene.put_spec(
        &svc,
        &[Backend::local("backend-1"), Backend::local("backend-2")],
    );
    let primary = [
        SocketAddr::from((NODE_IP, 30071)),
        SocketAddr::from((NODE_IP6, 30071)),
    ];
    let other = [
        SocketAddr::from((other4, 30071)),
        SocketAddr::from((other6, 30071)),
    ];
    let client = scene.topo.client.path();

    // The default, `[primary]`.
    scene.start_kroute();
    scene.wait_until("the NodePort answers on the primary IPv4 address", |_| {
        request(&client, Transport::Tcp, primary[0]).is_ok()
    });
    assert_node_ports(&client, &primary, &other, "nodePortAddresses [primary]");

    // A CIDR per family, holding the other addresses only.
    scene.stop_kroute();
    scene.set_proxy_options(&[r#"nodePortAddresses: ["192.168.60.0/24", "fd00:60::/64"]"#]);
    scene.start_kroute();
    scene.wait_until("the NodePort answers inside the CIDR", |_| {
        request(&client, Transport::Tcp, other[0]).is_ok()
    });
    assert_node_ports(&client, &other, &primary, "nodePortAddresses CIDRs");
}

/// Every address of `on` reaches a backend, every one of `off` gets the
/// node's own answer (nothing listens there: refused).
fn assert_node_ports(client: &str, on: &[SocketAddr], off: &[SocketAddr], what: &str) {
    for transport in TRANSPORTS {
        for addr in on {
            let seen = backends_answering(client, transport, *addr, 6);
            assert!(!seen.is_empty(), "{what}: {transport:?} {addr}");
        }
        for addr in off {
            assert_eq!(
                request(client, transport, *addr),
                Err(Failure::Refused),
                "{what}: {transport:?} {addr} is not a NodePort address"
            );
        }
    }
}

#[test]
fn masquerade_all_shows_the_node_address_for_cluster_ip_traffic_only() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let mut scene = Scene::new("kmasqall", 2);
    scene.set_proxy_options(&["masqueradeAll: true"]);
    let cluster = ServiceSpec::new(
        "masq",
        &service_ips(72),
        ServicePort::tcp_and_udp(80, PEER_PORT, None),
    );
    let mut local = ServiceSpec::new(
        "local",
        &service_ips(73),
        ServicePort::tcp_and_udp(80, PEER_PORT, Some(30073)),
    );
    local.external_traffic_policy = Some("Local".into());
    for svc in [&cluster, &local] {
        scene.put_spec(svc, &[Backend::local("backend-2")]);
    }
    scene.start_kroute();

    let pod = scene.topo.pod("backend-1");
    let (from, pod_ip, pod_ip6) = (pod.ns.path(), pod.ip, pod.ip6);
    let [probe, _] = service_ips(72).map(|ip| SocketAddr::new(ip, 80));
    scene.wait_until("the ClusterIP answers the pod", |_| {
        request(&from, Transport::Tcp, probe).is_ok()
    });
    for transport in TRANSPORTS {
        for (ip, gateway, own) in [
            (
                service_ips(72)[0],
                IpAddr::V4(POD_GATEWAY),
                IpAddr::V4(pod_ip),
            ),
            (
                service_ips(72)[1],
                IpAddr::V6(POD_GATEWAY6),
                IpAddr::V6(pod_ip6),
            ),
        ] {
            for answer in peer_answers(&from, transport, SocketAddr::new(ip, 80), 5) {
                assert_eq!(
                    answer,
                    ("backend-2".to_string(), gateway),
                    "{transport:?} pod to ClusterIP {ip} with masqueradeAll"
                );
            }
            // A pod's traffic to an ETP Local NodePort is not ClusterIP
            // traffic: its source stays.
            let node_ip = match ip {
                IpAddr::V4(_) => IpAddr::V4(NODE_IP),
                IpAddr::V6(_) => IpAddr::V6(NODE_IP6),
            };
            for answer in peer_answers(&from, transport, SocketAddr::new(node_ip, 30073), 5) {
                assert_eq!(
                    answer,
                    ("backend-2".to_string(), own),
                    "{transport:?} pod to the ETP Local NodePort at {node_ip}"
                );
            }
        }
    }
}
