//! Kernel tier: the test harness itself, against hand-written nftables rules
//! shaped like kroute's (dispatch → service chain → numgen → endpoint chain →
//! dnat), so the kroute tests can trust what it reports.
mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;

use support::clients::{Failure, backends_answering, request};
use support::netns::NetNs;
use support::nft::{self, ForeignTable};
use support::ns_process::NsProcess;
use support::servers::{self, Transport};
use support::topology::{self, Topology};

const BACKEND_PORT: u16 = 8080;

/// Two endpoints behind 10.96.0.10:80 (tcp and udp), a rejecting service
/// 10.96.0.20 and a dropping address 10.96.0.30, for traffic from outside
/// (prerouting) and from the node itself (output).
const HAND_WRITTEN: &str = "table ip harness {
  map service-ips {
    type ipv4_addr . inet_proto . inet_service : verdict
    elements = { 10.96.0.10 . tcp . 80 : goto svc-web, 10.96.0.10 . udp . 80 : goto svc-web }
  }
  set cluster-ips {
    type ipv4_addr
    elements = { 10.96.0.10 }
  }
  chain ep-1 {
    meta l4proto tcp dnat to 10.244.1.11:8080
    meta l4proto udp dnat to 10.244.1.11:8080
  }
  chain ep-2 {
    meta l4proto tcp dnat to 10.244.1.12:8080
    meta l4proto udp dnat to 10.244.1.12:8080
  }
  chain svc-web {
    numgen random mod 2 vmap { 0 : goto ep-1, 1 : goto ep-2 }
  }
  chain services {
    ip daddr . meta l4proto . th dport vmap @service-ips
  }
  chain nat-pre {
    type nat hook prerouting priority -100; policy accept;
    jump services
  }
  chain nat-out {
    type nat hook output priority -100; policy accept;
    jump services
  }
  chain guard {
    ip daddr 10.96.0.20 reject
    ip daddr 10.96.0.30 drop
  }
  chain filter-pre {
    type filter hook prerouting priority -110; policy accept;
    jump guard
  }
  chain filter-out {
    type filter hook output priority -110; policy accept;
    jump guard
  }
}
";

fn addr(ip: &str, port: u16) -> SocketAddr {
    format!("{ip}:{port}").parse().expect("socket address")
}

fn two_backends() -> BTreeSet<String> {
    ["backend-1", "backend-2"].map(String::from).into()
}

#[test]
fn hand_written_dnat_reaches_both_backends_from_client_and_node() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let topo = Topology::new("hdnat", 2);
    let _servers = servers::start_in_pods(&topo.pods, BACKEND_PORT);
    nft::load(&topo.node, HAND_WRITTEN);

    // Straight to a pod first: the topology routes without any nft help.
    let direct = request(
        &topo.client.path(),
        Transport::Tcp,
        addr("10.244.1.12", 8080),
    );
    assert_eq!(direct, Ok("backend-2".to_string()));

    for ns in [&topo.client, &topo.node] {
        for transport in [Transport::Tcp, Transport::Udp] {
            let seen = backends_answering(&ns.path(), transport, addr("10.96.0.10", 80), 30);
            assert_eq!(seen, two_backends(), "{transport:?} from {}", ns.name);
        }
    }
}

#[test]
fn reject_is_refused_and_drop_is_timeout() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let topo = Topology::new("hrej", 1);
    let _servers = servers::start_in_pods(&topo.pods, BACKEND_PORT);
    nft::load(&topo.node, HAND_WRITTEN);

    for ns in [&topo.client, &topo.node] {
        for transport in [Transport::Tcp, Transport::Udp] {
            let outcome = request(&ns.path(), transport, addr("10.96.0.20", 80));
            assert_eq!(
                outcome,
                Err(Failure::Refused),
                "{transport:?} reject from {}",
                ns.name
            );
            let outcome = request(&ns.path(), transport, addr("10.96.0.30", 80));
            assert_eq!(
                outcome,
                Err(Failure::Timeout),
                "{transport:?} drop from {}",
                ns.name
            );
        }
    }
    // A port nothing listens on, straight to a pod: the kernel's own RST.
    let closed = request(&topo.client.path(), Transport::Tcp, addr("10.244.1.11", 9));
    assert_eq!(closed, Err(Failure::Refused));
}

#[test]
fn table_inspection_follows_elements_to_their_chains() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let ns = NetNs::new("hjson");
    nft::load(&ns, HAND_WRITTEN);
    let table = nft::list_table_json(&ns, "ip", "harness").expect("table exists");

    assert!(table.chains.contains("svc-web") && table.chains.contains("nat-pre"));
    let sets: BTreeSet<String> = table
        .elements_mentioning("10.96.0.10")
        .into_iter()
        .map(|(set, _)| set)
        .collect();
    assert_eq!(
        sets,
        ["cluster-ips", "service-ips"].map(String::from).into()
    );
    assert_eq!(
        table.chains_reached_from_elements("10.96.0.10"),
        ["svc-web", "ep-1", "ep-2"].map(String::from).into()
    );
    assert!(table.elements_mentioning("10.96.0.99").is_empty());
    assert!(nft::list_table_json(&ns, "ip", "absent").is_none());
}

#[test]
fn foreign_table_check_notices_a_change() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let ns = NetNs::new("hforeign");
    let foreign = ForeignTable::install(&ns);
    foreign.assert_unchanged(&ns, "right after install");

    nft::load(&ns, "add rule inet foreign services udp dport 9 drop\n");
    let caught = std::panic::catch_unwind(|| foreign.assert_unchanged(&ns, "after a change"));
    assert!(caught.is_err(), "a changed foreign table went unnoticed");
}

#[test]
fn everything_is_removed_on_drop() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let names;
    let pid;
    {
        let topo = Topology::new("hdrop", 2);
        let _servers = servers::start_in_pods(&topo.pods, BACKEND_PORT);
        let sleeper = NsProcess::spawn(&topo.node, "sleeper", &["sleep", "600"]);
        names = topo.namespace_names();
        pid = sleeper.pid();
        assert_eq!(names.len(), 4);
        assert!(names.iter().all(|n| topology::namespace_exists(n)));
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    }
    let left: Vec<&String> = names
        .iter()
        .filter(|n| topology::namespace_exists(n))
        .collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "process {pid} still running"
    );
}
