//! Kernel tier, real binary: traffic policies, external IPs and LoadBalancer
//! ingress IPs, through the rules `kroute run` programs. Backends on
//! [`PEER_PORT`] answer "name peer-address", so the tests see both which
//! endpoint was chosen and whether the client's address survived.
mod support;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use support::clients::{Failure, backends_answering, peer_answers, request};
use support::manifests::{LbIngress, ServicePort, ServiceSpec};
use support::scene::{BACKEND_PORT, Backend, PEER_PORT, Scene};
use support::servers::Transport;
use support::topology::{CLIENT_IP, NODE_IP, POD_GATEWAY};

const ATTEMPTS: usize = 30;

fn cluster_ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 96, 0, last)
}

/// Port 80 → [`PEER_PORT`] over TCP and UDP, with one node port for both.
fn peer_ports(node_port: Option<u16>) -> Vec<ServicePort> {
    [("tcp", Transport::Tcp), ("udp", Transport::Udp)]
        .into_iter()
        .map(|(name, t)| {
            let p = ServicePort::new(name, t, 80, PEER_PORT);
            match node_port {
                Some(np) => p.with_node_port(np),
                None => p,
            }
        })
        .collect()
}

fn names(answers: &[(String, IpAddr)]) -> BTreeSet<String> {
    answers.iter().map(|(name, _)| name.clone()).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Routes the client's traffic for external and LB addresses through the
/// node, as routers in front of a cluster would.
fn route_external_via_node(scene: &Scene) {
    for cidr in ["203.0.113.0/24", "198.51.100.0/24"] {
        scene
            .topo
            .client
            .ip(&["route", "add", cidr, "via", &NODE_IP.to_string()]);
    }
}

#[test]
fn external_traffic_policy_local_keeps_client_ip_and_uses_local_endpoint_only() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let mut scene = Scene::new("ketpl", 2);
    route_external_via_node(&scene);
    let backends = [Backend::local("backend-1"), Backend::remote("backend-2")];
    let local_external = Ipv4Addr::new(203, 0, 113, 30);
    let mut local = ServiceSpec::new(
        "etp-local",
        &[IpAddr::V4(cluster_ip(30))],
        peer_ports(Some(30030)),
    );
    local.external_traffic_policy = Some("Local".into());
    local.external_ips = vec![IpAddr::V4(local_external)];
    let cluster = ServiceSpec::new(
        "etp-cluster",
        &[IpAddr::V4(cluster_ip(31))],
        peer_ports(Some(30031)),
    );
    scene.put_spec(&local, &backends);
    scene.put_spec(&cluster, &backends);
    scene.start_kroute();

    let client = scene.topo.client.path();
    let local_np = SocketAddr::from((NODE_IP, 30030));
    let cluster_np = SocketAddr::from((NODE_IP, 30031));
    scene.wait_until("both NodePorts answer the client", |_| {
        request(&client, Transport::Tcp, local_np).is_ok()
            && request(&client, Transport::Tcp, cluster_np).is_ok()
    });

    for transport in [Transport::Tcp, Transport::Udp] {
        for addr in [local_np, SocketAddr::from((local_external, 80))] {
            for (backend, peer) in peer_answers(&client, transport, addr, ATTEMPTS) {
                assert_eq!(
                    (backend.as_str(), peer),
                    ("backend-1", IpAddr::V4(CLIENT_IP)),
                    "{transport:?} {addr} (ETP Local): only the local endpoint, client IP kept"
                );
            }
        }
        let answers = peer_answers(&client, transport, cluster_np, ATTEMPTS);
        for (backend, peer) in &answers {
            // Masqueraded: the node's address on the pod-facing link.
            assert_eq!(
                *peer,
                IpAddr::V4(POD_GATEWAY),
                "{transport:?} ETP Cluster NodePort: {backend} saw {peer}, not the node"
            );
        }
        assert_eq!(
            names(&answers),
            set(&["backend-1", "backend-2"]),
            "{transport:?} ETP Cluster NodePort uses local and remote endpoints"
        );
    }
}

#[test]
fn external_traffic_policy_local_without_local_endpoint_drops_node_port_but_cluster_ip_works() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let mut scene = Scene::new("ketpd", 2);
    let mut svc = ServiceSpec::new(
        "remote-only",
        &[IpAddr::V4(cluster_ip(32))],
        peer_ports(Some(30032)),
    );
    svc.external_traffic_policy = Some("Local".into());
    scene.put_spec(&svc, &[Backend::remote("backend-2")]);
    scene.start_kroute();

    let client = scene.topo.client.path();
    let cluster = SocketAddr::from((cluster_ip(32), 80));
    scene.wait_until("the ClusterIP answers the client", |_| {
        request(&client, Transport::Tcp, cluster).is_ok()
    });

    let node_port = SocketAddr::from((NODE_IP, 30032));
    for transport in [Transport::Tcp, Transport::Udp] {
        assert_eq!(
            request(&client, transport, node_port),
            Err(Failure::Timeout),
            "{transport:?} ETP Local NodePort without a local endpoint: dropped, not refused"
        );
        let seen = names(&peer_answers(&client, transport, cluster, 10));
        assert_eq!(
            seen,
            set(&["backend-2"]),
            "{transport:?} ClusterIP of the same service"
        );
        // Pods and the node itself short-circuit to the cluster set; only
        // the node's own traffic is masqueraded.
        let pod = scene.topo.pod("backend-1");
        for (from, ns, seen_as) in [
            ("a pod", pod.ns.path(), IpAddr::V4(pod.ip)),
            ("the node", scene.topo.node.path(), IpAddr::V4(POD_GATEWAY)),
        ] {
            for answer in peer_answers(&ns, transport, node_port, 5) {
                assert_eq!(
                    answer,
                    ("backend-2".to_string(), seen_as),
                    "{transport:?} ETP Local NodePort without a local endpoint, from {from}"
                );
            }
        }
    }
}

#[test]
fn internal_traffic_policy_local_reaches_only_the_local_endpoint_and_drops_without_one() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let mut scene = Scene::new("kitp", 3);
    let mut local = ServiceSpec::new(
        "itp-local",
        &[IpAddr::V4(cluster_ip(33))],
        peer_ports(Some(30033)),
    );
    local.internal_traffic_policy = Some("Local".into());
    scene.put_spec(
        &local,
        &[
            Backend::local("backend-1"),
            Backend::remote("backend-2"),
            Backend::remote("backend-3"),
        ],
    );
    let mut remote = ServiceSpec::new(
        "itp-remote",
        &[IpAddr::V4(cluster_ip(34))],
        peer_ports(None),
    );
    remote.internal_traffic_policy = Some("Local".into());
    scene.put_spec(&remote, &[Backend::remote("backend-2")]);
    scene.start_kroute();

    let client = scene.topo.client.path();
    let node = scene.topo.node.path();
    let local_addr = SocketAddr::from((cluster_ip(33), 80));
    scene.wait_until("the ClusterIP answers the client", |_| {
        request(&client, Transport::Tcp, local_addr).is_ok()
    });

    for transport in [Transport::Tcp, Transport::Udp] {
        for (from, ns) in [("client", &client), ("node", &node)] {
            let seen = names(&peer_answers(ns, transport, local_addr, ATTEMPTS));
            assert_eq!(
                seen,
                set(&["backend-1"]),
                "{transport:?} ITP Local ClusterIP from the {from}"
            );
        }
        assert_eq!(
            request(&client, transport, SocketAddr::from((cluster_ip(34), 80))),
            Err(Failure::Timeout),
            "{transport:?} ITP Local ClusterIP without a local endpoint: dropped"
        );
        // External traffic follows externalTrafficPolicy (Cluster): all endpoints.
        let seen = names(&peer_answers(
            &client,
            transport,
            SocketAddr::from((NODE_IP, 30033)),
            ATTEMPTS,
        ));
        assert_eq!(
            seen,
            set(&["backend-1", "backend-2", "backend-3"]),
            "{transport:?} NodePort of the ITP Local service"
        );
    }
}

#[test]
fn external_and_load_balancer_ips_answer_proxy_mode_ingress_is_not_programmed() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let mut scene = Scene::new("kextip", 2);
    let external_ip = Ipv4Addr::new(203, 0, 113, 10);
    let empty_external_ip = Ipv4Addr::new(203, 0, 113, 20);
    let lb_ip = Ipv4Addr::new(198, 51, 100, 10);
    let proxy_lb_ip = Ipv4Addr::new(198, 51, 100, 11);
    route_external_via_node(&scene);

    let web_ports = |node_port| {
        [("tcp", Transport::Tcp), ("udp", Transport::Udp)]
            .into_iter()
            .map(|(name, t)| ServicePort::new(name, t, 80, BACKEND_PORT).with_node_port(node_port))
            .collect::<Vec<_>>()
    };
    let mut lb = ServiceSpec::new("lb", &[IpAddr::V4(cluster_ip(40))], web_ports(30040));
    lb.type_ = Some("LoadBalancer".into());
    lb.external_ips = vec![IpAddr::V4(external_ip)];
    lb.lb_ingress = vec![
        LbIngress {
            ip: IpAddr::V4(lb_ip),
            ip_mode: Some("VIP".into()),
        },
        LbIngress {
            ip: IpAddr::V4(proxy_lb_ip),
            ip_mode: Some("Proxy".into()),
        },
    ];
    scene.put_spec(
        &lb,
        &[Backend::local("backend-1"), Backend::local("backend-2")],
    );
    let mut empty = ServiceSpec::new("ext-empty", &[IpAddr::V4(cluster_ip(41))], web_ports(30041));
    empty.external_ips = vec![IpAddr::V4(empty_external_ip)];
    scene.put_spec(&empty, &[]);
    scene.start_kroute();

    let client = scene.topo.client.path();
    let external = SocketAddr::from((external_ip, 80));
    scene.wait_until("the external IP answers the client", |_| {
        request(&client, Transport::Tcp, external).is_ok()
    });

    let both = set(&["backend-1", "backend-2"]);
    for transport in [Transport::Tcp, Transport::Udp] {
        for addr in [external, SocketAddr::from((lb_ip, 80))] {
            let seen = backends_answering(&client, transport, addr, ATTEMPTS);
            assert_eq!(seen, both, "{transport:?} {addr} from the client");
        }
        assert_eq!(
            request(
                &client,
                transport,
                SocketAddr::from((empty_external_ip, 80))
            ),
            Err(Failure::Refused),
            "{transport:?} external IP of a service without endpoints"
        );
        let proxied = request(&client, transport, SocketAddr::from((proxy_lb_ip, 80)));
        assert!(
            proxied.is_err(),
            "{transport:?} ipMode Proxy ingress {proxy_lb_ip} answered: {proxied:?}"
        );
    }

    let table = scene.kroute_table().expect("table ip kroute exists");
    for (ip, what) in [(external_ip, "external IP"), (lb_ip, "LB ingress IP")] {
        assert!(
            !table.elements_mentioning(&ip.to_string()).is_empty(),
            "the {what} {ip} has no element"
        );
    }
    assert_eq!(
        table.elements_mentioning(&proxy_lb_ip.to_string()),
        Vec::new(),
        "the ipMode: Proxy ingress IP {proxy_lb_ip} is programmed"
    );
    scene.assert_foreign_unchanged("while kroute serves external IPs");
}

#[test]
fn pod_to_cluster_ip_keeps_pod_source_except_hairpin_which_is_masqueraded() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let mut scene = Scene::new("khairpin", 2);
    let own = ServiceSpec::new("own", &[IpAddr::V4(cluster_ip(50))], peer_ports(None));
    let other = ServiceSpec::new("other", &[IpAddr::V4(cluster_ip(51))], peer_ports(None));
    scene.put_spec(&own, &[Backend::local("backend-1")]);
    scene.put_spec(&other, &[Backend::local("backend-2")]);
    scene.start_kroute();

    let pod = scene.topo.pod("backend-1");
    let (from, pod_ip) = (pod.ns.path(), pod.ip);
    let own_addr = SocketAddr::from((cluster_ip(50), 80));
    let other_addr = SocketAddr::from((cluster_ip(51), 80));
    scene.wait_until("both ClusterIPs answer the pod", |_| {
        request(&from, Transport::Tcp, own_addr).is_ok()
            && request(&from, Transport::Tcp, other_addr).is_ok()
    });

    for transport in [Transport::Tcp, Transport::Udp] {
        for answer in peer_answers(&from, transport, other_addr, 5) {
            assert_eq!(
                answer,
                ("backend-2".to_string(), IpAddr::V4(pod_ip)),
                "{transport:?} pod to another pod's service: the pod's own source"
            );
        }
        // Without masquerade the endpoint would answer itself directly and
        // the client socket would never see the reply.
        for answer in peer_answers(&from, transport, own_addr, 5) {
            assert_eq!(
                answer,
                ("backend-1".to_string(), IpAddr::V4(POD_GATEWAY)),
                "{transport:?} pod to its own service (hairpin): masqueraded"
            );
        }
    }
}
