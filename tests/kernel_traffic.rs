//! Kernel tier, real binary: traffic through the rules `kroute run` programs.
mod support;

use std::net::Ipv4Addr;

use support::clients::{Failure, assert_spread, request};
use support::scene::{Scene, TestService};
use support::servers::Transport;
use support::topology::NODE_IP;

const ATTEMPTS: usize = 30;

#[test]
fn cluster_ip_and_node_port_reach_several_backends_from_client_and_node() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let mut scene = Scene::new("ktraf", 3);
    let web = TestService::web(
        "web",
        Ipv4Addr::new(10, 96, 0, 10),
        Some(30080),
        &["backend-1", "backend-2", "backend-3"],
    );
    scene.put_service(&web);
    scene.start_kroute();
    let client = scene.topo.client.path();
    let node = scene.topo.node.path();
    scene.wait_until("the ClusterIP answers the client", |_| {
        request(&client, Transport::Tcp, web.cluster_addr()).is_ok()
    });

    let backends: Vec<&str> = web.backends.iter().map(String::as_str).collect();
    for transport in [Transport::Tcp, Transport::Udp] {
        assert_spread(&client, transport, web.cluster_addr(), &backends, ATTEMPTS);
        assert_spread(&node, transport, web.cluster_addr(), &backends, ATTEMPTS);
        assert_spread(
            &client,
            transport,
            web.node_port_addr(),
            &backends,
            ATTEMPTS,
        );
    }
    scene.assert_foreign_unchanged("while kroute serves traffic");
}

#[test]
fn service_without_endpoints_is_refused_from_client_and_node() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let mut scene = Scene::new("krej", 1);
    let web = TestService::web("web", Ipv4Addr::new(10, 96, 0, 10), None, &["backend-1"]);
    let empty = TestService::web("empty", Ipv4Addr::new(10, 96, 0, 20), Some(30090), &[]);
    scene.put_service(&web);
    scene.put_service(&empty);
    scene.start_kroute();
    let client = scene.topo.client.path();
    let node = scene.topo.node.path();
    // Both services are in the first full sync: once one answers, both are programmed.
    scene.wait_until("the service with endpoints answers", |_| {
        request(&client, Transport::Tcp, web.cluster_addr()).is_ok()
    });

    for transport in [Transport::Tcp, Transport::Udp] {
        for (from, ns) in [("client", &client), ("node", &node)] {
            assert_eq!(
                request(ns, transport, empty.cluster_addr()),
                Err(Failure::Refused),
                "{transport:?} to the ClusterIP of a service without endpoints, from the {from}"
            );
        }
        assert_eq!(
            request(&client, transport, empty.node_port_addr()),
            Err(Failure::Refused),
            "{transport:?} to {NODE_IP}:30090 (NodePort without endpoints) from the client"
        );
    }
    scene.assert_foreign_unchanged("while kroute rejects");
}
