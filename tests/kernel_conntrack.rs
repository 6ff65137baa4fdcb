//! Kernel tier: UDP conntrack cleanup. First kroute's ctnetlink code alone
//! against a real conntrack table in a namespace (checked with the
//! `conntrack` tool), then the agent itself: a client's ongoing UDP flow (one
//! socket, one source port) follows the Service when its endpoint is
//! replaced, and a flow refused while the Service had no endpoint works once
//! it has one, in both families.
mod support;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use kroute::host::conntrack::{ConntrackFlush, ConntrackReport, FlowFrontend, StaleUdpFilter};
use kroute::host::linux::conntrack;
use kroute::model::Family;
use support::netns::NetNs;
use support::ns_thread;

/// A namespace whose output hook DNATs UDP to 10.96.0.10:53 (and
/// [fd00:96::10]:53): from source port 40000 to backend .11, from 40001 to
/// backend .12 (port 5353, addresses on `lo`).
fn nat_namespace(prefix: &str) -> NetNs {
    let ns = NetNs::new(prefix);
    for args in [
        &["addr", "add", "10.244.1.11/32", "dev", "lo"][..],
        &["addr", "add", "10.244.1.12/32", "dev", "lo"],
        &[
            "-6",
            "addr",
            "add",
            "fd00:244:1::11/128",
            "dev",
            "lo",
            "nodad",
        ],
        &[
            "-6",
            "addr",
            "add",
            "fd00:244:1::12/128",
            "dev",
            "lo",
            "nodad",
        ],
        &["route", "add", "10.96.0.0/12", "dev", "lo"],
        &["-6", "route", "add", "fd00:96::/112", "dev", "lo"],
    ] {
        ns.ip(args);
    }
    let rules = r#"
table inet kr_ct_test {
  chain nat {
    type nat hook output priority -100
    ip daddr 10.96.0.10 udp sport 40000 dnat ip to 10.244.1.11:5353
    ip daddr 10.96.0.10 udp sport 40001 dnat ip to 10.244.1.12:5353
    ip6 daddr fd00:96::10 udp sport 40000 dnat ip6 to [fd00:244:1::11]:5353
    ip6 daddr fd00:96::10 udp sport 40001 dnat ip6 to [fd00:244:1::12]:5353
  }
}
"#;
    let script = std::env::temp_dir().join(format!("{}.nft", ns.name));
    std::fs::write(&script, rules).unwrap();
    ns.exec(&["nft", "-f", script.to_str().unwrap()]);
    let _ = std::fs::remove_file(script);
    ns
}

/// Sends one datagram from `src_port` to `dst` inside `ns` (an entry each).
fn send_from(ns: &NetNs, src_port: u16, dst: SocketAddr) {
    ns_thread::run(&ns.path(), move || {
        let any: IpAddr = match dst {
            SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
            SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
        };
        let socket = UdpSocket::bind((any, src_port)).expect("bind");
        socket.send_to(b"x", dst).expect("send");
    });
}

/// `conntrack -L` of one family in `ns`: one line per entry.
fn table(ns: &NetNs, family: &str) -> Vec<String> {
    let out = ns.exec_unchecked(&["conntrack", "-L", "-f", family]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn has(entries: &[String], needles: &[&str]) -> bool {
    entries
        .iter()
        .any(|e| needles.iter().all(|n| e.contains(n)))
}

fn filter(frontend: FlowFrontend, family: Family, allowed: &[&str]) -> StaleUdpFilter {
    StaleUdpFilter {
        family,
        frontend,
        allowed: allowed.iter().map(|a| a.parse().unwrap()).collect(),
    }
}

fn flush_in(ns: &NetNs, flush: ConntrackFlush) -> ConntrackReport {
    ns_thread::run(&ns.path(), move || {
        conntrack::flush(&flush).expect("flush over ctnetlink")
    })
}

#[test]
fn ctnetlink_deletes_exactly_the_stale_udp_entries_of_both_families() {
    if !support::kernel_tier_available(&["nft", "ip", "conntrack"]) {
        return;
    }
    let ns = nat_namespace("ctnl");
    let vip: SocketAddr = "10.96.0.10:53".parse().unwrap();
    let vip6: SocketAddr = "[fd00:96::10]:53".parse().unwrap();
    for dst in [vip, vip6] {
        send_from(&ns, 40000, dst); // DNATed to .11: stale
        send_from(&ns, 40001, dst); // DNATed to .12: serving
    }
    // Not NATed, to a node port: its reply comes from the address itself.
    send_from(&ns, 40002, "10.244.1.11:30053".parse().unwrap());
    // Not a service at all.
    send_from(&ns, 40003, "10.244.1.11:9999".parse().unwrap());
    // TCP to the VIP's port is never touched (a SYN to nowhere still makes an entry).
    ns_thread::run(&ns.path(), move || {
        let _ = std::net::TcpStream::connect_timeout(&vip, Duration::from_millis(200));
    });
    let v4 = table(&ns, "ipv4");
    assert!(has(&v4, &["tcp", "dport=53"]), "{v4:#?}");
    assert!(
        has(
            &v4,
            &[
                "udp",
                "sport=40000",
                "src=10.244.1.11 dst=10.244.1.11 sport=5353"
            ]
        ),
        "{v4:#?}"
    );

    let flush = ConntrackFlush {
        filters: vec![
            filter(
                FlowFrontend::Address(vip),
                Family::Ip,
                &["10.244.1.12:5353"],
            ),
            filter(
                FlowFrontend::Address(vip6),
                Family::Ip6,
                &["[fd00:244:1::12]:5353"],
            ),
            filter(
                FlowFrontend::NodePort(30053),
                Family::Ip,
                &["10.244.1.12:5353"],
            ),
        ],
    };
    let report = flush_in(&ns, flush.clone());
    assert_eq!(report.deleted, 3, "{report:?}");
    assert_eq!(report.undecodable, 0);
    assert!(
        report.listed[&Family::Ip] >= 4 && report.listed[&Family::Ip6] >= 2,
        "{report:?}"
    );

    let v4 = table(&ns, "ipv4");
    let v6 = table(&ns, "ipv6");
    assert!(
        !has(&v4, &["udp", "sport=40000 dport=53"]),
        "stale v4 entry left: {v4:#?}"
    );
    assert!(
        !has(&v4, &["udp", "sport=40002 dport=30053"]),
        "stale node port entry left: {v4:#?}"
    );
    assert!(
        !has(&v6, &["udp", "sport=40000 dport=53"]),
        "stale v6 entry left: {v6:#?}"
    );
    assert!(
        has(&v4, &["udp", "sport=40001 dport=53"]),
        "serving v4 entry gone: {v4:#?}"
    );
    assert!(
        has(&v6, &["udp", "sport=40001 dport=53"]),
        "serving v6 entry gone: {v6:#?}"
    );
    assert!(
        has(&v4, &["udp", "sport=40003 dport=9999"]),
        "foreign entry gone: {v4:#?}"
    );
    assert!(has(&v4, &["tcp", "dport=53"]), "TCP entry gone: {v4:#?}");

    let again = flush_in(&ns, flush);
    assert_eq!(again.deleted, 0, "{again:?}");
    let kept: BTreeSet<_> = table(&ns, "ipv4").into_iter().collect();
    assert_eq!(
        kept,
        v4.into_iter().collect(),
        "a second flush changes nothing"
    );
}

// --- the agent: real traffic from the client namespace ---

use support::clients::{ATTEMPT_TIMEOUT, Failure, Outcome, request};
use support::manifests::{ServicePort, ServiceSpec};
use support::scene::{BACKEND_PORT, Backend, Scene};
use support::servers::Transport;

const VIP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 53);
const VIP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x96, 0, 0, 0, 0, 0, 0x53);

/// `dns`: UDP 53 → the backends' [`BACKEND_PORT`], dual-stack.
fn dns() -> ServiceSpec {
    ServiceSpec::new(
        "dns",
        &[IpAddr::V4(VIP), IpAddr::V6(VIP6)],
        vec![ServicePort::new("dns", Transport::Udp, 53, BACKEND_PORT)],
    )
}

fn frontends() -> [SocketAddr; 2] {
    [(VIP, 53).into(), (VIP6, 53).into()]
}

/// One UDP flow from the client: a socket bound once (one source port) and
/// connected to the service, so every datagram meets the same conntrack
/// entry, as a long-lived client (a resolver, statsd) does.
struct Flow {
    socket: UdpSocket,
    to: SocketAddr,
}

impl Flow {
    fn open(scene: &Scene, to: SocketAddr) -> Flow {
        let socket = ns_thread::run(&scene.topo.client.path(), move || {
            let any: IpAddr = match to {
                SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
                SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
            };
            let socket = UdpSocket::bind((any, 0)).expect("bind");
            socket.connect(to).expect("connect");
            socket
        });
        Flow { socket, to }
    }

    /// One datagram and its answer: the backend's name, or how it failed.
    fn ask(&self) -> Outcome {
        // Drop answers that came late to an earlier datagram.
        self.socket.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 1500];
        while self.socket.recv(&mut buf).is_ok() {}
        self.socket.set_nonblocking(false).unwrap();
        self.socket.set_read_timeout(Some(ATTEMPT_TIMEOUT)).unwrap();
        if let Err(e) = self.socket.send(b"who\n") {
            return Err(Failure::Other(e.to_string()));
        }
        match self.socket.recv(&mut buf) {
            Ok(n) => Ok(String::from_utf8_lossy(&buf[..n]).trim().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Err(Failure::Refused),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Err(Failure::Timeout),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Err(Failure::Timeout),
            Err(e) => Err(Failure::Other(e.to_string())),
        }
    }
}

/// A fresh flow (new socket, new entry) to each frontend answers `want`.
fn fresh_flows_answer(scene: &Scene, want: &Outcome) -> bool {
    let client = scene.topo.client.path();
    frontends()
        .iter()
        .all(|to| request(&client, Transport::Udp, *to) == *want)
}

#[test]
fn an_ongoing_udp_flow_follows_its_service_when_the_endpoint_is_replaced() {
    if !support::kernel_tier_available(&["nft", "ip", "conntrack"]) {
        return;
    }
    let mut scene = Scene::new("ctrep", 2);
    scene.put_spec(&dns(), &[Backend::remote("backend-1")]);
    scene.start_kroute();
    let one = Ok("backend-1".to_string());
    scene.wait_until("dns answers from backend-1", |s| {
        fresh_flows_answer(s, &one)
    });
    let flows: Vec<Flow> = frontends()
        .iter()
        .map(|to| Flow::open(&scene, *to))
        .collect();
    for flow in &flows {
        for _ in 0..3 {
            assert_eq!(flow.ask(), one, "{} before the change", flow.to);
        }
    }

    scene.put_spec(&dns(), &[Backend::remote("backend-2")]);
    let two = Ok("backend-2".to_string());
    scene.wait_until("new flows reach backend-2", |s| fresh_flows_answer(s, &two));
    // backend-1 still runs: without the cleanup its entry would keep the
    // flow there for as long as the flow goes on.
    scene.wait_until("the ongoing flows reach backend-2", |_| {
        flows.iter().all(|f| f.ask() == two)
    });
    assert!(
        scene
            .kroute()
            .log()
            .contains("stale UDP conntrack entries deleted"),
        "the cleanup is logged"
    );
}

#[test]
fn a_udp_flow_refused_while_its_service_had_no_endpoint_works_once_it_has_one() {
    if !support::kernel_tier_available(&["nft", "ip", "conntrack"]) {
        return;
    }
    let mut scene = Scene::new("ct01", 1);
    // The flows start before kroute serves the service, as a client does
    // that comes up before the Service exists: the node forwards their
    // datagrams untranslated, and conntrack (on, through this table)
    // remembers them so, for as long as they go on.
    let rules = std::env::temp_dir().join(format!("{}.nft", scene.topo.node.name));
    std::fs::write(
        &rules,
        "table inet kr_ct_on {\n  chain pre {\n    type filter hook prerouting priority 0\n    ct state new counter\n  }\n}\n",
    )
    .unwrap();
    scene
        .topo
        .node
        .exec(&["nft", "-f", rules.to_str().unwrap()]);
    let _ = std::fs::remove_file(&rules);
    let flows: Vec<Flow> = frontends()
        .iter()
        .map(|to| Flow::open(&scene, *to))
        .collect();
    for flow in &flows {
        assert!(flow.ask().is_err(), "{}: no service yet", flow.to);
    }
    for family in ["ipv4", "ipv6"] {
        let entries = table(&scene.topo.node, family);
        assert!(
            has(&entries, &["udp", "dport=53"]),
            "the untranslated {family} entry: {entries:#?}"
        );
    }

    scene.put_spec(&dns(), &[]);
    scene.start_kroute();
    scene.wait_until("dns refuses (no endpoint)", |s| {
        fresh_flows_answer(s, &Err(Failure::Refused))
    });
    scene.wait_until("the ongoing flows are refused too", |_| {
        flows.iter().all(|f| f.ask() == Err(Failure::Refused))
    });

    scene.put_spec(&dns(), &[Backend::remote("backend-1")]);
    let one = Ok("backend-1".to_string());
    scene.wait_until("new flows reach backend-1", |s| fresh_flows_answer(s, &one));
    scene.wait_until("the ongoing flows reach backend-1", |_| {
        flows.iter().all(|f| f.ask() == one)
    });
}
