//! Kernel tier, real binary: kube-router's Service annotations that change
//! the dataplane, with real traffic over IPv4 and IPv6.
//! `service.local` forces `externalTrafficPolicy: Local`; `service.skiplbips`
//! leaves the LB IPs unprogrammed; `service.hairpin` and
//! `service.hairpin.externalips` are what kroute does for every Service
//! anyway (kube-proxy's behaviour: an endpoint reaching itself through any
//! frontend is masqueraded), so both an annotated and a plain Service hairpin.
mod support;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use support::clients::{backends_answering, peer_answers, request};
use support::manifests::{LbIngress, ServicePort, ServiceSpec};
use support::scene::{BACKEND_PORT, Backend, PEER_PORT, Scene};
use support::servers::Transport;
use support::topology::{
    CLIENT_IP, CLIENT_IP6, NODE_IP, NODE_IP6, POD_GATEWAY, POD_GATEWAY6, service_ips,
};

const TRANSPORTS: [Transport; 2] = [Transport::Tcp, Transport::Udp];

fn external(n: u8) -> [IpAddr; 2] {
    [
        IpAddr::V4(Ipv4Addr::new(203, 0, 113, n)),
        IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            0x203,
            0,
            0,
            0,
            0,
            u16::from(n),
        )),
    ]
}

fn annotated(mut spec: ServiceSpec, keys: &[(&str, &str)]) -> ServiceSpec {
    spec.annotations = keys
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    spec
}

#[test]
fn service_local_forces_external_traffic_policy_local() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let mut scene = Scene::new("kannlocal", 2);
    let backends = [Backend::local("backend-1"), Backend::remote("backend-2")];
    let local = annotated(
        ServiceSpec::new(
            "forced-local",
            &service_ips(80),
            ServicePort::tcp_and_udp(80, PEER_PORT, Some(30080)),
        ),
        &[("kube-router.io/service.local", "true")],
    );
    // The same Service without the annotation: Cluster policy.
    let plain = ServiceSpec::new(
        "plain",
        &service_ips(81),
        ServicePort::tcp_and_udp(80, PEER_PORT, Some(30081)),
    );
    scene.put_spec(&local, &backends);
    scene.put_spec(&plain, &backends);
    scene.start_kroute();

    let client = scene.topo.client.path();
    scene.wait_until("the NodePort answers", |_| {
        request(&client, Transport::Tcp, SocketAddr::from((NODE_IP, 30080))).is_ok()
    });
    for transport in TRANSPORTS {
        for (node_ip, client_ip, gateway) in [
            (
                IpAddr::V4(NODE_IP),
                IpAddr::V4(CLIENT_IP),
                IpAddr::V4(POD_GATEWAY),
            ),
            (
                IpAddr::V6(NODE_IP6),
                IpAddr::V6(CLIENT_IP6),
                IpAddr::V6(POD_GATEWAY6),
            ),
        ] {
            for answer in peer_answers(&client, transport, SocketAddr::new(node_ip, 30080), 20) {
                assert_eq!(
                    answer,
                    ("backend-1".to_string(), client_ip),
                    "{transport:?} {node_ip}: service.local: local endpoint, client kept"
                );
            }
            let answers = peer_answers(&client, transport, SocketAddr::new(node_ip, 30081), 20);
            let names: BTreeSet<&str> = answers.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(
                names.len(),
                2,
                "{transport:?} without the annotation: {answers:?}"
            );
            assert!(answers.iter().all(|(_, peer)| *peer == gateway));
        }
    }
}

#[test]
fn hairpin_annotations_or_not_an_endpoint_reaches_itself_through_cluster_and_external_ips() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let mut scene = Scene::new("kannhair", 1);
    let mut with = ServiceSpec::new(
        "hairpin",
        &service_ips(82),
        ServicePort::tcp_and_udp(80, PEER_PORT, None),
    );
    with.external_ips = external(82).to_vec();
    let with = annotated(
        with,
        &[
            ("kube-router.io/service.hairpin", ""),
            ("kube-router.io/service.hairpin.externalips", ""),
        ],
    );
    let mut without = ServiceSpec::new(
        "plain",
        &service_ips(83),
        ServicePort::tcp_and_udp(80, PEER_PORT, None),
    );
    without.external_ips = external(83).to_vec();
    for svc in [&with, &without] {
        scene.put_spec(svc, &[Backend::local("backend-1")]);
    }
    scene.start_kroute();

    let pod = scene.topo.pod("backend-1").ns.path();
    let [probe, _] = service_ips(82).map(|ip| SocketAddr::new(ip, 80));
    scene.wait_until("the pod reaches its own ClusterIP", |_| {
        request(&pod, Transport::Tcp, probe).is_ok()
    });
    for transport in TRANSPORTS {
        for n in [82, 83] {
            for ip in service_ips(n).into_iter().chain(external(n)) {
                let gateway = match ip {
                    IpAddr::V4(_) => IpAddr::V4(POD_GATEWAY),
                    IpAddr::V6(_) => IpAddr::V6(POD_GATEWAY6),
                };
                // Without masquerade the endpoint would answer itself
                // directly and its client socket would never see it.
                for answer in peer_answers(&pod, transport, SocketAddr::new(ip, 80), 3) {
                    assert_eq!(
                        answer,
                        ("backend-1".to_string(), gateway),
                        "{transport:?} backend-1 to its own service at {ip}"
                    );
                }
            }
        }
    }
}

#[test]
fn skiplbips_leaves_the_lb_ips_unprogrammed() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let mut scene = Scene::new("kannskip", 2);
    scene.topo.route_external_via_node();
    let lb = |name: &str, n: u8| {
        let mut spec = ServiceSpec::new(
            name,
            &service_ips(n),
            ServicePort::tcp_and_udp(80, BACKEND_PORT, Some(30000 + u16::from(n))),
        );
        spec.type_ = Some("LoadBalancer".into());
        spec.external_ips = external(n).to_vec();
        spec.lb_ingress = [
            IpAddr::V4(Ipv4Addr::new(198, 51, 100, n)),
            IpAddr::V6(Ipv6Addr::new(
                0x2001,
                0xdb8,
                0x198,
                0,
                0,
                0,
                0,
                u16::from(n),
            )),
        ]
        .into_iter()
        .map(|ip| LbIngress { ip, ip_mode: None })
        .collect();
        spec
    };
    let skipped = annotated(
        lb("skipped", 84),
        &[("kube-router.io/service.skiplbips", "")],
    );
    let kept = lb("kept", 85);
    let backends = [Backend::local("backend-1"), Backend::local("backend-2")];
    for svc in [&skipped, &kept] {
        scene.put_spec(svc, &backends);
    }
    scene.start_kroute();

    let client = scene.topo.client.path();
    let [probe, _] = external(84).map(|ip| SocketAddr::new(ip, 80));
    scene.wait_until("the external IP answers", |_| {
        request(&client, Transport::Tcp, probe).is_ok()
    });
    let (table, table6) = (
        scene.kroute_table().expect("ip kroute"),
        scene.kroute_table6().expect("ip6 kroute"),
    );
    for transport in TRANSPORTS {
        for (svc, ext) in [(&skipped, external(84)), (&kept, external(85))] {
            for ip in ext {
                let seen = backends_answering(&client, transport, SocketAddr::new(ip, 80), 4);
                assert!(
                    !seen.is_empty(),
                    "{transport:?} external IP {ip} of {}",
                    svc.name
                );
            }
        }
        for entry in &kept.lb_ingress {
            let seen = backends_answering(&client, transport, SocketAddr::new(entry.ip, 80), 4);
            assert!(
                !seen.is_empty(),
                "{transport:?} LB IP {} without skiplbips",
                entry.ip
            );
        }
        for entry in &skipped.lb_ingress {
            let outcome = request(&client, transport, SocketAddr::new(entry.ip, 80));
            assert!(
                outcome.is_err(),
                "{transport:?} skipped LB IP {} answered",
                entry.ip
            );
        }
    }
    for entry in &skipped.lb_ingress {
        let t = if entry.ip.is_ipv4() { &table } else { &table6 };
        assert_eq!(
            t.elements_mentioning(&entry.ip.to_string()),
            Vec::new(),
            "skiplbips: {} is programmed",
            entry.ip
        );
    }
}
