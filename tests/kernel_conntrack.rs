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
