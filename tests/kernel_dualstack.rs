//! Kernel tier, real binary: a dual-stack Service through the `ip6 kroute`
//! table (and the `ip kroute` one next to it), with real IPv6 traffic.
mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use support::clients::{Failure, assert_spread, request, requests};
use support::manifests::{ServicePort, ServiceSpec};
use support::scene::{BACKEND_PORT, Backend, PEER_PORT, Scene};
use support::servers::{Transport, parse_peer_reply};
use support::topology::{CLIENT_IP6, NODE_IP, NODE_IP6};

const ATTEMPTS: usize = 30;
const BACKENDS: [&str; 3] = ["backend-1", "backend-2", "backend-3"];

fn v6(last: u16) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0x96, 0, 0, 0, 0, 0, last)
}

/// Port 80 over TCP and UDP to [`BACKEND_PORT`], one node port for both.
fn web_ports(node_port: u16) -> Vec<ServicePort> {
    [("tcp", Transport::Tcp), ("udp", Transport::Udp)]
        .into_iter()
        .map(|(name, t)| ServicePort::new(name, t, 80, BACKEND_PORT).with_node_port(node_port))
        .collect()
}

#[test]
fn dual_stack_service_answers_over_ipv6_and_ipv4_and_v6_without_endpoints_is_refused() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let mut scene = Scene::new("kdual", 3);
    let cluster_v4 = Ipv4Addr::new(10, 96, 0, 50);
    let cluster_v6 = v6(0x50);
    let dual = ServiceSpec::new(
        "dual",
        &[IpAddr::V4(cluster_v4), IpAddr::V6(cluster_v6)],
        web_ports(30050),
    );
    let backends: Vec<Backend> = BACKENDS.iter().map(|b| Backend::local(b)).collect();
    scene.put_spec(&dual, &backends);
    // IPv6 only, with an empty IPv6 slice.
    let empty_v6 = v6(0x60);
    let empty = ServiceSpec::new("empty6", &[IpAddr::V6(empty_v6)], web_ports(30060));
    scene.put_spec(&empty, &[]);
    scene.start_kroute();

    let client = scene.topo.client.path();
    let node = scene.topo.node.path();
    let cluster6 = SocketAddr::from((cluster_v6, 80));
    scene.wait_until("the IPv6 ClusterIP answers the client", |_| {
        request(&client, Transport::Tcp, cluster6).is_ok()
    });

    let node_port6 = SocketAddr::from((NODE_IP6, 30050));
    let cluster4 = SocketAddr::from((cluster_v4, 80));
    let node_port4 = SocketAddr::from((NODE_IP, 30050));
    for transport in [Transport::Tcp, Transport::Udp] {
        assert_spread(&client, transport, cluster6, &BACKENDS, ATTEMPTS);
        assert_spread(&node, transport, cluster6, &BACKENDS, ATTEMPTS);
        assert_spread(&client, transport, node_port6, &BACKENDS, ATTEMPTS);
        // The IPv4 side of the same service is unaffected.
        assert_spread(&client, transport, cluster4, &BACKENDS, ATTEMPTS);
        assert_spread(&node, transport, cluster4, &BACKENDS, ATTEMPTS);
        assert_spread(&client, transport, node_port4, &BACKENDS, ATTEMPTS);
    }

    // Both services were in the first full sync, so `empty6` is programmed.
    for transport in [Transport::Tcp, Transport::Udp] {
        for (from, ns) in [("client", &client), ("node", &node)] {
            assert_eq!(
                request(ns, transport, SocketAddr::from((empty_v6, 80))),
                Err(Failure::Refused),
                "{transport:?} to the IPv6 ClusterIP of a service without endpoints, from the {from}"
            );
        }
        assert_eq!(
            request(&client, transport, SocketAddr::from((NODE_IP6, 30060))),
            Err(Failure::Refused),
            "{transport:?} to [{NODE_IP6}]:30060 (IPv6 NodePort without endpoints) from the client"
        );
    }
    assert!(
        scene
            .kroute_table6()
            .is_some_and(|t| !t.elements_mentioning(&cluster_v6.to_string()).is_empty()),
        "no element of table ip6 kroute names {cluster_v6}"
    );
    scene.assert_foreign_unchanged("while kroute serves IPv6");
}

#[test]
fn ipv6_node_port_source_address_is_kept_with_local_policy_and_masqueraded_with_cluster() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let mut scene = Scene::new("kdualsrc", 2);
    let peer_port = |node_port| {
        vec![ServicePort::new("peer", Transport::Tcp, 80, PEER_PORT).with_node_port(node_port)]
    };
    let mut local = ServiceSpec::new("local6", &[IpAddr::V6(v6(0x70))], peer_port(30070));
    local.external_traffic_policy = Some("Local".into());
    let cluster = ServiceSpec::new("cluster6", &[IpAddr::V6(v6(0x71))], peer_port(30071));
    let backends = [Backend::local("backend-1"), Backend::remote("backend-2")];
    scene.put_spec(&local, &backends);
    scene.put_spec(&cluster, &backends);
    scene.start_kroute();

    let client = scene.topo.client.path();
    let local_np = SocketAddr::from((NODE_IP6, 30070));
    let cluster_np = SocketAddr::from((NODE_IP6, 30071));
    scene.wait_until("both IPv6 NodePorts answer the client", |_| {
        request(&client, Transport::Tcp, local_np).is_ok()
            && request(&client, Transport::Tcp, cluster_np).is_ok()
    });

    for outcome in requests(&client, Transport::Tcp, local_np, ATTEMPTS) {
        let answer = outcome.expect("ETP Local NodePort answers");
        assert_eq!(
            parse_peer_reply(&answer),
            ("backend-1".to_string(), IpAddr::V6(CLIENT_IP6)),
            "ETP Local over IPv6: only the local backend, client address kept"
        );
    }
    let gateway6 = IpAddr::V6(support::topology::POD_GATEWAY6);
    for outcome in requests(&client, Transport::Tcp, cluster_np, ATTEMPTS) {
        let answer = outcome.expect("ETP Cluster NodePort answers");
        let (_, peer) = parse_peer_reply(&answer);
        // Masqueraded to the node's address on the pod-facing link.
        assert_eq!(peer, gateway6, "ETP Cluster over IPv6: {answer}");
    }
}
