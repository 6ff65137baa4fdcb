//! The whole kube-proxy cleanup against a scripted host.

use super::fake::FakeCommands;
use super::iptables::backends;
use super::ipvs::{interface_addresses, virtual_services};
use super::*;

const ALL_TOOLS: &[&str] = &[
    "nft",
    "ipvsadm",
    "iptables-legacy-save",
    "iptables-nft-save",
    "ip6tables-legacy-save",
    "ip6tables-nft-save",
];

const NFT_TABLES: &str =
    "table inet foreign\ntable ip kube-proxy\ntable ip6 kube-proxy\ntable ip kroute\n";

const IP_ADDR: &str = r#"[{"ifindex":1,"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8}]},
 {"ifindex":7,"ifname":"kube-ipvs0","addr_info":[{"family":"inet","local":"10.96.0.1","prefixlen":32},{"family":"inet6","local":"fd00::a","prefixlen":128}]}]"#;

const IPVSADM_SAVE: &str = "-A -t 10.96.0.1:443 -s rr
-a -t 10.96.0.1:443 -r 10.0.0.2:6443 -m -w 1
-A -u [fd00::a]:53 -s rr
-A -t 192.168.1.1:80 -s wlc
-A -f 7 -s rr
";

const NAT_SAVE: &str = "*nat
:PREROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES
COMMIT
";

fn leftovers() -> FakeCommands {
    let mut host = FakeCommands::with_tools(ALL_TOOLS);
    host.paths.insert(ipvs::IPVS_PROC.into());
    host.prints("nft list tables", NFT_TABLES);
    host.prints("ip -j addr show", IP_ADDR);
    host.prints("ipvsadm -S -n", IPVSADM_SAVE);
    host.prints("iptables-nft-save", NAT_SAVE);
    host
}

#[test]
fn removes_every_kind_of_leftover_and_nothing_else() {
    let host = leftovers();
    let mut report = CleanupReport::default();
    cleanup_kube_proxy(&host, &mut report);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let changes: Vec<String> = host
        .commands()
        .into_iter()
        .filter(|c| {
            !c.ends_with("-save")
                && !c.contains(" list ")
                && !c.contains(" show")
                && !c.contains(" -S ")
        })
        .collect();
    assert_eq!(
        changes,
        [
            "nft delete table ip kube-proxy",
            "nft delete table ip6 kube-proxy",
            "ipvsadm -D -t 10.96.0.1:443",
            "ipvsadm -D -u [fd00::a]:53",
            "ip link delete kube-ipvs0",
            "iptables-nft-restore -w 5 --noflush",
        ]
    );
    assert_eq!(
        host.stdin_of("iptables-nft-restore -w 5 --noflush")
            .unwrap(),
        "*nat\n:KUBE-SERVICES - [0:0]\n-D PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n-X KUBE-SERVICES\nCOMMIT\n"
    );
    let text = report.done.join("\n");
    for line in [
        "removed nftables table ip kube-proxy",
        "IPVS: removed 2 virtual services on kube-ipvs0's addresses",
        "removed interface kube-ipvs0",
        "iptables-nft: removed 1 kube-proxy chains and 1 jumps to them from table nat",
        "iptables-legacy: no kube-proxy chains",
    ] {
        assert!(text.contains(line), "{line:?} not in:\n{text}");
    }
}

#[test]
fn a_clean_host_changes_nothing_and_says_so() {
    let mut host = FakeCommands::with_tools(ALL_TOOLS);
    host.prints("nft list tables", "table inet foreign\n");
    host.prints("ip -j addr show", r#"[{"ifname":"lo","addr_info":[]}]"#);
    let mut report = CleanupReport::default();
    cleanup_kube_proxy(&host, &mut report);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    for c in host.commands() {
        assert!(
            c.ends_with("-save") || c == "nft list tables" || c == "ip -j addr show",
            "changed something: {c}"
        );
    }
    let text = report.done.join("\n");
    assert!(text.contains("nftables: no kube-proxy tables"), "{text}");
    assert!(
        text.contains("IPVS: not in this kernel (/proc/net/ip_vs absent)"),
        "{text}"
    );
}

#[test]
fn without_ipvs_in_the_kernel_kube_ipvs0_still_goes() {
    let mut host = leftovers();
    host.paths.clear();
    let mut report = CleanupReport::default();
    cleanup_kube_proxy(&host, &mut report);
    let commands = host.commands();
    assert!(
        !commands.iter().any(|c| c.starts_with("ipvsadm")),
        "{commands:?}"
    );
    assert!(commands.contains(&"ip link delete kube-ipvs0".to_string()));
}

#[test]
fn a_failing_step_is_reported_and_the_others_run() {
    let mut host = leftovers();
    host.fails("nft delete table ip kube-proxy", "Error: busy");
    let mut report = CleanupReport::default();
    cleanup_kube_proxy(&host, &mut report);
    let errors: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        ["nft delete table ip kube-proxy failed: Error: busy"]
    );
    assert!(
        host.commands()
            .contains(&"iptables-nft-restore -w 5 --noflush".to_string())
    );
}

#[test]
fn ipvs_services_without_ipvsadm_are_an_error_and_kube_ipvs0_stays() {
    let mut host = leftovers();
    host.installed.remove("ipvsadm");
    let mut report = CleanupReport::default();
    cleanup_kube_proxy(&host, &mut report);
    let errors: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        ["IPVS virtual services on kube-ipvs0: ipvsadm is not installed"]
    );
    assert!(
        !host
            .commands()
            .contains(&"ip link delete kube-ipvs0".to_string())
    );
}

#[test]
fn backends_are_both_variants_else_the_plain_command() {
    let host = FakeCommands::with_tools(ALL_TOOLS);
    assert_eq!(
        backends(&host),
        [
            "iptables-legacy",
            "iptables-nft",
            "ip6tables-legacy",
            "ip6tables-nft"
        ]
    );
    let host = FakeCommands::with_tools(&["iptables-save", "ip6tables-save"]);
    assert_eq!(backends(&host), ["iptables", "ip6tables"]);
    assert!(backends(&FakeCommands::default()).is_empty());
}

#[test]
fn reads_interface_addresses_and_virtual_services() {
    let addrs = interface_addresses(IP_ADDR, "kube-ipvs0").unwrap().unwrap();
    assert_eq!(
        addrs,
        [
            "10.96.0.1".parse::<std::net::IpAddr>().unwrap(),
            "fd00::a".parse().unwrap()
        ]
    );
    assert_eq!(interface_addresses(IP_ADDR, "eth0").unwrap(), None);
    assert!(interface_addresses("not json", "x").is_err());
    let services = virtual_services(IPVSADM_SAVE);
    let shown: Vec<(&str, &str)> = services
        .iter()
        .map(|s| (s.protocol.as_str(), s.endpoint.as_str()))
        .collect();
    assert_eq!(
        shown,
        [
            ("-t", "10.96.0.1:443"),
            ("-u", "[fd00::a]:53"),
            ("-t", "192.168.1.1:80")
        ]
    );
}
