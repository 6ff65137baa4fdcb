//! Kernel tier, real binary: `sessionAffinity: ClientIP` through the
//! per-endpoint affinity sets `kroute run` programs, over IPv4 and IPv6.
//! A client sticks to one backend (whichever frontend it uses), a service
//! without affinity next to it still spreads, a full sync leaves the sets
//! and their kernel-made elements alone, and after the timeout a new choice
//! is possible.
mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use support::clients::{assert_spread, backends_answering, request};
use support::kroute_process::{assert_exit, kroute_once};
use support::manifests::{ServicePort, ServiceSpec};
use support::nft::NftTable;
use support::scene::{BACKEND_PORT, Backend, Scene};
use support::servers::Transport;
use support::topology::{CLIENT_IP, CLIENT_IP6, NODE_IP, NODE_IP6, service_ips};

const ATTEMPTS: usize = 20;
const BACKENDS: [&str; 3] = ["backend-1", "backend-2", "backend-3"];

fn all_local() -> Vec<Backend> {
    BACKENDS.iter().map(|b| Backend::local(b)).collect()
}

/// The one backend every attempt reached; panics when several answered.
fn sticky(ns: &str, transport: Transport, addr: SocketAddr, what: &str) -> String {
    let seen = backends_answering(ns, transport, addr, ATTEMPTS);
    assert_eq!(
        seen.len(),
        1,
        "{what}: {transport:?} {addr}: one client, several backends: {seen:?}"
    );
    seen.into_iter().next().unwrap()
}

fn affinity_sets(table: &Option<NftTable>) -> BTreeSet<String> {
    table
        .iter()
        .flat_map(|t| t.elements.keys())
        .filter(|name| name.starts_with("affinity-"))
        .cloned()
        .collect()
}

/// Whether some affinity set of `table` holds `ip` (the kernel put it there).
fn remembered(table: &Option<NftTable>, ip: &str) -> bool {
    table.as_ref().is_some_and(|t| {
        t.elements_mentioning(ip)
            .iter()
            .any(|(set, _)| set.starts_with("affinity-"))
    })
}

#[test]
fn client_ip_affinity_sticks_each_client_to_one_backend_on_every_frontend() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let mut scene = Scene::new("kaff", 3);
    let mut sticky_svc = ServiceSpec::new(
        "sticky",
        &service_ips(0x60),
        ServicePort::tcp_and_udp(80, BACKEND_PORT, Some(30060)),
    );
    sticky_svc.client_ip_affinity = Some(None); // the default, 10800 s
    let plain = ServiceSpec::new(
        "plain",
        &service_ips(0x61),
        ServicePort::tcp_and_udp(80, BACKEND_PORT, Some(30061)),
    );
    scene.put_spec(&sticky_svc, &all_local());
    scene.put_spec(&plain, &all_local());
    scene.start_kroute();

    let client = scene.topo.client.path();
    let pod = scene.topo.pod("backend-1").ns.path();
    let [v4, v6] = service_ips(0x60).map(|ip| SocketAddr::new(ip, 80));
    scene.wait_until("the sticky ClusterIPs answer", |_| {
        request(&client, Transport::Tcp, v4).is_ok() && request(&client, Transport::Tcp, v6).is_ok()
    });

    for transport in [Transport::Tcp, Transport::Udp] {
        for (cluster, node_port, family) in [
            (v4, SocketAddr::from((NODE_IP, 30060)), "IPv4"),
            (v6, SocketAddr::from((NODE_IP6, 30060)), "IPv6"),
        ] {
            // Affinity is per service port and client, whatever address
            // the client used (kube-proxy's rule).
            let chosen = sticky(&client, transport, cluster, family);
            let via_node_port = sticky(&client, transport, node_port, family);
            assert_eq!(
                chosen, via_node_port,
                "{family} {transport:?}: ClusterIP and NodePort chose differently"
            );
            sticky(&pod, transport, cluster, "a pod");
        }
        // Not vacuous: without affinity the same backends are all used.
        for ip in service_ips(0x61) {
            assert_spread(&client, transport, SocketAddr::new(ip, 80), &BACKENDS, 30);
        }
    }
    let (table, table6) = (scene.kroute_table(), scene.kroute_table6());
    assert_eq!(affinity_sets(&table).len(), 6, "3 endpoints x 2 ports");
    assert_eq!(affinity_sets(&table6).len(), 6);
    assert!(remembered(&table, &CLIENT_IP.to_string()));
    assert!(remembered(&table6, &CLIENT_IP6.to_string()));

    // A full sync recognises the sets though the kernel filled them.
    let config = scene.config.to_str().expect("utf-8 path").to_string();
    let plan = kroute_once(
        &scene.topo.node,
        &["plan", "--config", &config, "--exit-code"],
    );
    assert_exit(
        &plan,
        0,
        "kroute plan --exit-code with filled affinity sets",
    );
    assert!(remembered(&scene.kroute_table(), &CLIENT_IP.to_string()));

    // Affinity switched off: the sets are swept, the choice is random again.
    let mut off = sticky_svc.clone();
    off.client_ip_affinity = None;
    scene.put_spec(&off, &all_local());
    scene.wait_until("the affinity sets are gone", |s| {
        affinity_sets(&s.kroute_table()).is_empty() && affinity_sets(&s.kroute_table6()).is_empty()
    });
    for addr in [v4, v6] {
        assert_spread(&client, Transport::Tcp, addr, &BACKENDS, 30);
    }
    scene.assert_foreign_unchanged("with affinity sets");
}

#[test]
fn after_the_affinity_timeout_a_client_may_get_another_backend() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let mut scene = Scene::new("kafftime", 3);
    let mut svc = ServiceSpec::new(
        "short",
        &service_ips(0x62),
        ServicePort::tcp_and_udp(80, BACKEND_PORT, Some(30062)),
    );
    svc.client_ip_affinity = Some(Some(2));
    scene.put_spec(&svc, &all_local());
    scene.start_kroute();

    let client = scene.topo.client.path();
    let addrs = service_ips(0x62).map(|ip| SocketAddr::new(ip, 80));
    scene.wait_until("the ClusterIPs answer", |_| {
        addrs
            .iter()
            .all(|a| request(&client, Transport::Tcp, *a).is_ok())
    });
    let timeout = Duration::from_secs(2);
    for addr in addrs {
        let first = sticky(&client, Transport::Tcp, addr, "within the timeout");
        // Each connection refreshes the entry: wait past the timeout before
        // every try. With 3 backends, 20 tries all landing on `first` by
        // chance has a probability of 3^-20.
        let mut answers = Vec::new();
        let moved = (0..20).any(|_| {
            std::thread::sleep(timeout + Duration::from_millis(700));
            let answer = request(&client, Transport::Tcp, addr)
                .unwrap_or_else(|e| panic!("{addr} after the timeout: {e:?}"));
            answers.push(answer.clone());
            answer != first
        });
        assert!(
            moved,
            "{addr}: stuck to {first} past the timeout every time: {answers:?}"
        );
    }
}
