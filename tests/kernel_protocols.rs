//! Kernel tier, real binary: protocols. The same port number with two
//! protocols in one Service goes to each protocol's own target, and SCTP
//! services are load-balanced, NodePorted and rejected like the others, over
//! IPv4 and IPv6.
//!
//! SCTP: this kernel has no SCTP sockets (and tests load no modules), but
//! netfilter tracks and NATs SCTP; the endpoints speak SCTP's association
//! start over raw sockets (`support::sctp`).
mod support;

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

use support::clients::{Failure, assert_spread, request, requests};
use support::manifests::{ServicePort, ServiceSpec};
use support::scene::{BACKEND_PORT, Backend, PEER_PORT, Scene};
use support::sctp;
use support::servers::{EchoServer, Transport, parse_peer_reply};
use support::topology::{NODE_IP, NODE_IP6, service_ips};

const BACKENDS: [&str; 3] = ["backend-1", "backend-2", "backend-3"];

fn all_local() -> Vec<Backend> {
    BACKENDS.iter().map(|b| Backend::local(b)).collect()
}

#[test]
fn one_port_number_over_tcp_and_udp_reaches_each_protocols_target() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let mut scene = Scene::new("kproto", 2);
    // TCP 80 to the name server, UDP 80 to the name-and-peer server.
    let ports = vec![
        ServicePort::new("tcp", Transport::Tcp, 80, BACKEND_PORT).with_node_port(30074),
        ServicePort::new("udp", Transport::Udp, 80, PEER_PORT).with_node_port(30074),
    ];
    let svc = ServiceSpec::new("mixed", &service_ips(74), ports);
    scene.put_spec(
        &svc,
        &[Backend::local("backend-1"), Backend::local("backend-2")],
    );
    scene.start_kroute();

    let client = scene.topo.client.path();
    let [probe, _] = service_ips(74).map(|ip| SocketAddr::new(ip, 80));
    scene.wait_until("the ClusterIP answers", |_| {
        request(&client, Transport::Tcp, probe).is_ok()
    });
    let frontends = service_ips(74)
        .map(|ip| SocketAddr::new(ip, 80))
        .into_iter()
        .chain([
            SocketAddr::from((NODE_IP, 30074)),
            SocketAddr::from((NODE_IP6, 30074)),
        ]);
    for addr in frontends {
        for outcome in requests(&client, Transport::Tcp, addr, 5) {
            let answer = outcome.expect("TCP answers");
            assert!(
                answer.starts_with("backend-") && !answer.contains(' '),
                "TCP {addr} reached the TCP target: {answer:?}"
            );
        }
        for outcome in requests(&client, Transport::Udp, addr, 5) {
            let (name, _peer) = parse_peer_reply(&outcome.expect("UDP answers"));
            assert!(name.starts_with("backend-"), "UDP {addr}: {name}");
        }
    }
}

#[test]
fn sctp_services_balance_node_port_and_reject_without_endpoints() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    if let Err(why) = sctp::raw_sockets_work() {
        if std::env::var_os("CI").is_some() {
            panic!("{why} (CI is set: a skipped tier is a failure)");
        }
        eprintln!("SKIPPED: {why}");
        return;
    }
    let mut scene = Scene::new("ksctp", 3);
    for pod in &scene.topo.pods {
        let server = EchoServer::start(&pod.ns.path(), Transport::Sctp, BACKEND_PORT, &pod.name);
        scene.servers.push(server);
    }
    let client = scene.topo.client.path();
    // The raw-socket endpoints work without kroute (no NAT in between).
    let direct = SocketAddr::new(IpAddr::V4(scene.topo.pods[0].ip), BACKEND_PORT);
    assert_eq!(
        request(&client, Transport::Sctp, direct),
        Ok("backend-1".to_string()),
        "SCTP straight to a pod, before kroute"
    );

    let sctp_port = |node_port| {
        vec![
            ServicePort::new("sctp", Transport::Sctp, 9000, BACKEND_PORT).with_node_port(node_port),
        ]
    };
    let svc = ServiceSpec::new("sctp", &service_ips(75), sctp_port(30075));
    scene.put_spec(&svc, &all_local());
    let empty = ServiceSpec::new("sctp-empty", &service_ips(76), sctp_port(30076));
    scene.put_spec(&empty, &[]);
    scene.start_kroute();

    let [probe, _] = service_ips(75).map(|ip| SocketAddr::new(ip, 9000));
    scene.wait_until("the SCTP ClusterIP answers", |_| {
        request(&client, Transport::Sctp, probe).is_ok()
    });
    let node = scene.topo.node.path();
    for addr in service_ips(75).map(|ip| SocketAddr::new(ip, 9000)) {
        assert_spread(&client, Transport::Sctp, addr, &BACKENDS, 30);
        assert_spread(&node, Transport::Sctp, addr, &BACKENDS, 30);
    }
    for ip in [IpAddr::V4(NODE_IP), IpAddr::V6(NODE_IP6)] {
        assert_spread(
            &client,
            Transport::Sctp,
            SocketAddr::new(ip, 30075),
            &BACKENDS,
            30,
        );
    }
    let no_endpoints: BTreeSet<SocketAddr> = service_ips(76)
        .map(|ip| SocketAddr::new(ip, 9000))
        .into_iter()
        .chain([
            SocketAddr::from((NODE_IP, 30076)),
            SocketAddr::from((NODE_IP6, 30076)),
        ])
        .collect();
    for addr in no_endpoints {
        assert_eq!(
            request(&client, Transport::Sctp, addr),
            Err(Failure::Refused),
            "SCTP {addr} of a service without endpoints"
        );
    }
}
