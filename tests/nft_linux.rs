//! Kernel tier: `LinuxHost` against real nftables in throwaway namespaces.
//! Every check reads the kernel back (`snapshot`, `nft list`), so a wrong
//! script, a lost fingerprint or a missed delete shows up as a difference.
mod support;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use kroute::host::linux::{LinuxHost, NftRunner, cleanup};
use kroute::host::nft::{
    BaseHook, Chain, ChainKind, ElementKey, Family, Hook, Match, NftKey, NftValue, Proto, Rule,
    SetDef, SetKeyType, Stmt, Verdict, VmapKey,
};
use kroute::host::{FacetPlan, HostError, HostNetwork, HostPlan};
use support::netns::NetNs;

type NftMap = BTreeMap<NftKey, NftValue>;

fn net(s: &str) -> IpNet {
    s.parse()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .unwrap()
}

fn addr(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sock(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn base(kind: ChainKind, hook: Hook, priority: i32) -> Option<BaseHook> {
    Some(BaseHook {
        kind,
        hook,
        priority,
    })
}

fn set(key: SetKeyType, verdict_map: bool, interval: bool) -> NftValue {
    NftValue::Set(SetDef::new(key, verdict_map, interval))
}

fn goto(chain: &str) -> NftValue {
    NftValue::Element(Some(Verdict::Goto(chain.to_string())))
}

const SVC: &str = "svc-1a2b3c4d-default/web/tcp/http";
const EP1: &str = "ep-1a2b3c4d-default/web/tcp/http__10.244.1.5/8080";
const EP2: &str = "ep-1a2b3c4d-default/web/tcp/http__10.244.2.5/8080";
const AFFINITY1: &str = "affinity-1a2b3c4d-default/web/tcp/http__10.244.1.5/8080";

/// One family's desired objects: every set shape, every statement, base
/// chains, a service chain load-balancing to endpoint chains with dnat.
fn desired_family(family: Family, out: &mut NftMap) {
    let (cidr, svc_ip, ep1, ep2, cluster_net, node_ip) = match family {
        Family::Ip => (
            "10.244.0.0/16",
            "10.96.0.10",
            "10.244.1.5:8080",
            "10.244.2.5:8080",
            "10.96.0.0/12",
            "10.0.0.1",
        ),
        Family::Ip6 => (
            "fd00:244::/64",
            "fd00:96::10",
            "[fd00:244::5]:8080",
            "[fd00:244::6]:8080",
            "fd00:96::/108",
            "fd00:1::1",
        ),
    };
    let ep1: SocketAddr = sock(ep1);
    let ep2: SocketAddr = sock(ep2);
    let chain = |name: &str, hook: Option<BaseHook>, rules: Vec<Rule>| {
        (
            NftKey::chain(family, name),
            NftValue::Chain(Chain::new(hook, rules)),
        )
    };
    out.insert(NftKey::Table(family), NftValue::Table);
    out.insert(
        NftKey::set(family, "service-ips"),
        set(SetKeyType::AddrProtoPort, true, false),
    );
    out.insert(
        NftKey::set(family, "service-nodeports"),
        set(SetKeyType::ProtoPort, true, false),
    );
    out.insert(
        NftKey::set(family, "cluster-ips"),
        set(SetKeyType::Addr, false, false),
    );
    out.insert(
        NftKey::set(family, "pod-cidrs"),
        set(SetKeyType::Addr, false, true),
    );
    out.insert(
        NftKey::set(family, AFFINITY1),
        NftValue::Set(SetDef::dynamic_addrs(10800)),
    );
    let jump = |c: &str| Stmt::Verdict(Verdict::Jump(c.to_string()));
    out.extend([
        chain(
            "nat-prerouting",
            base(ChainKind::Nat, Hook::Prerouting, -100),
            vec![Rule::new(vec![jump("services")])],
        ),
        chain(
            "nat-output",
            base(ChainKind::Nat, Hook::Output, -100),
            vec![Rule::new(vec![jump("services")])],
        ),
        chain(
            "nat-postrouting",
            base(ChainKind::Nat, Hook::Postrouting, 100),
            vec![Rule::new(vec![jump("masquerading")])],
        ),
        chain(
            "filter-forward",
            base(ChainKind::Filter, Hook::Forward, -110),
            vec![
                Rule::new(vec![
                    Stmt::Match(Match::CtStateNew),
                    Stmt::Match(Match::DaddrInSet("cluster-ips".into())),
                    Stmt::Reject,
                ]),
                Rule::new(vec![
                    Stmt::Match(Match::SaddrNotIn(vec![net(cidr)])),
                    Stmt::Match(Match::DaddrIn(vec![net(cluster_net)])),
                    Stmt::Verdict(Verdict::Drop),
                ]),
                Rule::new(vec![
                    Stmt::Match(Match::FibSaddrLocal),
                    Stmt::Match(Match::DaddrNotIn(vec![net(cluster_net)])),
                    Stmt::Verdict(Verdict::Accept),
                ]),
            ],
        ),
        chain(
            "services",
            None,
            vec![
                Rule::new(vec![Stmt::VmapLookup {
                    key: VmapKey::DaddrProtoPort,
                    map: "service-ips".into(),
                }]),
                Rule::new(vec![
                    Stmt::Match(Match::FibDaddrLocal),
                    Stmt::VmapLookup {
                        key: VmapKey::ProtoPort,
                        map: "service-nodeports".into(),
                    },
                ]),
            ],
        ),
        chain(
            "mark-for-masquerade",
            None,
            vec![Rule::new(vec![Stmt::SetMasqueradeMark])],
        ),
        chain(
            "masquerading",
            None,
            vec![
                Rule::new(vec![
                    Stmt::Match(Match::MasqueradeMarkUnset),
                    Stmt::Verdict(Verdict::Return),
                ]),
                Rule::new(vec![Stmt::ClearMasqueradeMark]),
                Rule::new(vec![Stmt::Masquerade]),
            ],
        ),
        chain("reject-chain", None, vec![Rule::new(vec![Stmt::Reject])]),
        chain(
            SVC,
            None,
            vec![
                Rule::new(vec![
                    Stmt::Match(Match::SaddrInSet(AFFINITY1.into())),
                    Stmt::Verdict(Verdict::Goto(EP1.into())),
                ]),
                Rule::new(vec![Stmt::NumgenVmap(vec![
                    Verdict::Goto(EP1.into()),
                    Verdict::Goto(EP2.into()),
                ])]),
            ],
        ),
        chain(
            EP1,
            None,
            vec![
                Rule::mark_if_saddr(ep1.ip(), "mark-for-masquerade"),
                Rule::new(vec![Stmt::UpdateSaddrSet(AFFINITY1.into())]),
                Rule::dnat(Proto::Tcp, ep1),
            ],
        ),
        chain(
            EP2,
            None,
            vec![
                Rule::mark_if_saddr(ep2.ip(), "mark-for-masquerade"),
                Rule::dnat(Proto::Tcp, ep2),
            ],
        ),
        chain("empty", None, vec![]),
    ]);
    let elem = |set: &str, key: ElementKey| NftKey::element(family, set, key);
    out.insert(
        elem(
            "service-ips",
            ElementKey::AddrProtoPort(addr(svc_ip), Proto::Tcp, 80),
        ),
        goto(SVC),
    );
    out.insert(
        elem(
            "service-ips",
            ElementKey::AddrProtoPort(addr(svc_ip), Proto::Sctp, 9000),
        ),
        goto("reject-chain"),
    );
    out.insert(
        elem(
            "service-ips",
            ElementKey::AddrProtoPort(addr(svc_ip), Proto::Udp, 53),
        ),
        NftValue::Element(Some(Verdict::Drop)),
    );
    out.insert(
        elem(
            "service-nodeports",
            ElementKey::ProtoPort(Proto::Tcp, 30080),
        ),
        goto(SVC),
    );
    out.insert(
        elem(
            "service-nodeports",
            ElementKey::ProtoPort(Proto::Udp, 30053),
        ),
        NftValue::Element(Some(Verdict::Jump("reject-chain".into()))),
    );
    out.insert(
        elem("cluster-ips", ElementKey::Net(net(svc_ip))),
        NftValue::Element(None),
    );
    out.insert(
        elem("pod-cidrs", ElementKey::Net(net(cidr))),
        NftValue::Element(None),
    );
    out.insert(
        elem("pod-cidrs", ElementKey::Net(net(node_ip))),
        NftValue::Element(None),
    );
}

fn desired() -> NftMap {
    let mut out = NftMap::new();
    for family in Family::ALL {
        desired_family(family, &mut out);
    }
    out
}

/// The plan taking `have` to `want` (what the planner's diff does).
fn diff(have: &NftMap, want: &NftMap) -> HostPlan {
    let mut nft = FacetPlan::default();
    for (k, v) in want {
        match have.get(k) {
            None => {
                nft.creates.insert(k.clone(), v.clone());
            }
            Some(old) if old != v => {
                nft.updates.insert(k.clone(), v.clone());
            }
            Some(_) => {}
        }
    }
    for k in have.keys() {
        if !want.contains_key(k) {
            nft.deletes.insert(k.clone());
        }
    }
    HostPlan {
        nft,
        ..HostPlan::default()
    }
}

fn host_in(ns: &NetNs) -> LinuxHost {
    LinuxHost::new(NftRunner::in_netns(&ns.name))
}

fn nft(ns: &NetNs, script: &str) {
    ns.exec(&["nft", script]);
}

fn ruleset(ns: &NetNs) -> String {
    String::from_utf8(ns.exec(&["nft", "list", "ruleset"]).stdout).unwrap()
}

/// A fresh namespace with the full desired state applied and verified.
fn programmed(prefix: &str) -> (NetNs, LinuxHost) {
    let ns = NetNs::new(prefix);
    let mut host = host_in(&ns);
    assert!(host.snapshot().unwrap().nft.is_empty(), "fresh namespace");
    host.apply(&diff(&NftMap::new(), &desired())).unwrap();
    assert_eq!(host.mirror().nft, desired());
    (ns, host)
}

#[test]
fn every_kind_of_object_reads_back_equal_to_the_mirror() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let (ns, mut host) = programmed("nft-full");
    let mirror = host.mirror().clone();
    let snap = host.snapshot().unwrap();
    assert_eq!(snap.nft, mirror.nft);
    // Not vacuous: the kernel holds what the plan said, in both families.
    assert_eq!(snap.nft.len(), desired().len());
    let listing = ruleset(&ns);
    for needle in [
        "numgen random mod 2 vmap",
        "dnat to 10.244.1.5:8080",
        "dnat to [fd00:244::5]:8080",
        "masquerade fully-random",
        "ip6 saddr != fd00:244::/64",
        "type nat hook output priority -100",
        "flags dynamic,timeout",
        "update @affinity-1a2b3c4d-default/web/tcp/http__10.244.1.5/8080 { ip6 saddr }",
        "ip saddr @affinity-1a2b3c4d-default/web/tcp/http__10.244.1.5/8080 goto ep-",
    ] {
        assert!(listing.contains(needle), "{needle} missing from\n{listing}");
    }
}

#[test]
fn an_incremental_plan_applies_and_reads_back_equal() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let (_ns, mut host) = programmed("nft-incr");
    let mut want = desired();
    for family in Family::ALL {
        // One endpoint left: update the service chain, delete the other one.
        let ep1 = match family {
            Family::Ip => sock("10.244.1.5:8080"),
            Family::Ip6 => sock("[fd00:244::5]:8080"),
        };
        want.insert(
            NftKey::chain(family, SVC),
            NftValue::Chain(Chain::regular(vec![Rule::new(vec![Stmt::NumgenVmap(
                vec![Verdict::Goto(EP1.into())],
            )])])),
        );
        want.remove(&NftKey::chain(family, EP2));
        // A base chain changes priority (delete and re-declare).
        want.insert(
            NftKey::chain(family, "nat-output"),
            NftValue::Chain(Chain::new(
                base(ChainKind::Nat, Hook::Output, -99),
                vec![Rule::new(vec![Stmt::Verdict(Verdict::Jump(
                    "services".into(),
                ))])],
            )),
        );
        // An element goes, two come, one changes its verdict.
        want.retain(|k, _| {
            !matches!(k, NftKey::Element { family: f, set, key: ElementKey::AddrProtoPort(_, Proto::Udp, 53) }
                if *f == family && set == "service-ips")
        });
        want.insert(
            NftKey::element(
                family,
                "service-nodeports",
                ElementKey::ProtoPort(Proto::Sctp, 30132),
            ),
            goto(EP1),
        );
        want.insert(
            NftKey::element(
                family,
                "cluster-ips",
                ElementKey::Net(IpNet::from(ep1.ip())),
            ),
            NftValue::Element(None),
        );
        want.insert(
            NftKey::element(
                family,
                "service-nodeports",
                ElementKey::ProtoPort(Proto::Tcp, 30080),
            ),
            NftValue::Element(Some(Verdict::Drop)),
        );
    }
    let plan = diff(&host.mirror().nft, &want);
    assert_eq!(plan.nft.deletes.len(), 4, "{:#?}", plan.nft.deletes);
    assert_eq!(plan.nft.creates.len(), 4);
    assert_eq!(plan.nft.updates.len(), 6);
    host.apply(&plan).unwrap();
    assert_eq!(host.mirror().nft, want);
    assert_eq!(host.snapshot().unwrap().nft, want);
}

#[test]
fn hand_made_changes_show_up_and_are_swept() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let (ns, mut host) = programmed("nft-drift");
    nft(
        &ns,
        "add element ip kroute service-ips { 10.96.0.99 . tcp . 99 : drop }",
    );
    nft(&ns, "add element ip kroute pod-cidrs { 10.7.0.1-10.7.0.9 }");
    nft(&ns, "add chain ip6 kroute hand-made");
    nft(&ns, "add rule ip kroute services counter");
    nft(&ns, "insert rule ip kroute masquerading counter");
    nft(&ns, "add set ip kroute macs { type ether_addr ; }");

    let snap = host.snapshot().unwrap().nft;
    let want = desired();
    let plan = diff(&snap, &want);
    let ip = |s: &str| ElementKey::AddrProtoPort(addr(s), Proto::Tcp, 99);
    let expected_deletes = [
        NftKey::element(Family::Ip, "service-ips", ip("10.96.0.99")),
        NftKey::element(
            Family::Ip,
            "pod-cidrs",
            ElementKey::Unknown("10.7.0.1-10.7.0.9".into()),
        ),
        NftKey::chain(Family::Ip6, "hand-made"),
        NftKey::set(Family::Ip, "macs"),
    ];
    assert_eq!(
        plan.nft.deletes,
        expected_deletes.into_iter().collect(),
        "{plan:#?}"
    );
    assert_eq!(
        plan.nft.updates.keys().cloned().collect::<Vec<_>>(),
        vec![
            NftKey::chain(Family::Ip, "masquerading"),
            NftKey::chain(Family::Ip, "services"),
        ]
    );
    assert!(plan.nft.creates.is_empty());

    // Sweeping them restores exactly the desired state.
    host.apply(&plan).unwrap();
    assert_eq!(host.snapshot().unwrap().nft, want);
    assert!(!ruleset(&ns).contains("counter"));
}

#[test]
fn the_kernels_elements_of_an_affinity_set_are_neither_read_back_nor_swept() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let (ns, mut host) = programmed("nft-affinity");
    // What `update @set { ip saddr }` does when a client connects.
    nft(
        &ns,
        &format!("add element ip kroute {AFFINITY1} {{ 192.0.2.7 }}"),
    );
    nft(
        &ns,
        &format!("add element ip6 kroute {AFFINITY1} {{ 2001:db8::7 }}"),
    );
    let snap = host.snapshot().unwrap().nft;
    assert_eq!(snap, desired(), "a full sync sees nothing to do");
    assert!(diff(&snap, &desired()).is_empty());
    let listing = ruleset(&ns);
    for needle in ["192.0.2.7", "2001:db8::7"] {
        assert!(listing.contains(needle), "{needle} gone:\n{listing}");
    }
    // Sweeping the set (affinity switched off) takes its chains' references
    // and its elements with it.
    let mut want = desired();
    for (family, ep1) in [
        (Family::Ip, sock("10.244.1.5:8080")),
        (Family::Ip6, sock("[fd00:244::5]:8080")),
    ] {
        want.remove(&NftKey::set(family, AFFINITY1));
        let chains = [
            (
                SVC,
                vec![Rule::new(vec![Stmt::NumgenVmap(vec![
                    Verdict::Goto(EP1.into()),
                    Verdict::Goto(EP2.into()),
                ])])],
            ),
            (
                EP1,
                vec![
                    Rule::mark_if_saddr(ep1.ip(), "mark-for-masquerade"),
                    Rule::dnat(Proto::Tcp, ep1),
                ],
            ),
        ];
        for (name, rules) in chains {
            want.insert(
                NftKey::chain(family, name),
                NftValue::Chain(Chain::regular(rules)),
            );
        }
    }
    host.apply(&diff(&snap, &want)).unwrap();
    assert_eq!(host.snapshot().unwrap().nft, want);
    assert!(!ruleset(&ns).contains("affinity-"));
}

#[test]
fn a_foreign_table_is_never_touched() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let ns = NetNs::new("nft-foreign");
    nft(
        &ns,
        "add table inet other
add chain inet other services { type nat hook output priority -100 ; }
add rule inet other services meta l4proto tcp counter comment \"kroute:not-ours\"
add set inet other cluster-ips { type ipv4_addr ; }
add element inet other cluster-ips { 10.96.0.10 }",
    );
    let foreign =
        || String::from_utf8(ns.exec(&["nft", "list", "table", "inet", "other"]).stdout).unwrap();
    let before = foreign();
    let mut host = host_in(&ns);
    assert!(host.snapshot().unwrap().nft.is_empty());
    host.apply(&diff(&NftMap::new(), &desired())).unwrap();
    assert_eq!(host.snapshot().unwrap().nft, desired());
    host.apply(&diff(&desired(), &NftMap::new())).unwrap();
    assert!(host.snapshot().unwrap().nft.is_empty());
    cleanup(host.runner()).unwrap();
    assert_eq!(foreign(), before);
}

#[test]
fn cleanup_removes_both_tables_and_is_idempotent() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let (ns, mut host) = programmed("nft-clean");
    let runner = NftRunner::in_netns(&ns.name);
    for family in Family::ALL {
        assert!(runner.list_table(family).unwrap().is_some());
    }
    cleanup(&runner).unwrap();
    for family in Family::ALL {
        assert_eq!(runner.list_table(family).unwrap(), None);
    }
    assert!(host.snapshot().unwrap().nft.is_empty());
    assert_eq!(ruleset(&ns).trim(), "");
    cleanup(&runner).unwrap();
    runner.delete_table(Family::Ip6).unwrap();
}

#[test]
fn a_rejected_transaction_changes_nothing() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let (ns, mut host) = programmed("nft-reject");
    let before = ruleset(&ns);
    let mirror = host.mirror().clone();
    let mut plan = HostPlan::default();
    // Valid on its own...
    plan.nft.creates.insert(
        NftKey::element(
            Family::Ip,
            "service-nodeports",
            ElementKey::ProtoPort(Proto::Tcp, 31000),
        ),
        goto(SVC),
    );
    plan.nft.deletes.insert(NftKey::chain(Family::Ip6, "empty"));
    // ...but this element points at a chain that does not exist.
    plan.nft.creates.insert(
        NftKey::element(
            Family::Ip6,
            "service-nodeports",
            ElementKey::ProtoPort(Proto::Tcp, 31000),
        ),
        goto("no-such-chain"),
    );
    match host.apply(&plan) {
        Err(HostError::NftRejected { message }) => {
            assert!(message.contains("no-such-chain"), "{message}")
        }
        other => panic!("expected NftRejected, got {other:?}"),
    }
    assert_eq!(ruleset(&ns), before);
    assert_eq!(host.snapshot().unwrap(), mirror);
}

#[test]
fn listing_in_a_missing_namespace_is_an_error_not_an_empty_table() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let mut host = LinuxHost::new(NftRunner::in_netns("kr-no-such-namespace"));
    assert!(matches!(host.snapshot(), Err(HostError::Read { .. })));
}

#[test]
fn old_kernel_mode_flushes_a_chain_now_and_deletes_it_later() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let ns = NetNs::new("nft-defer");
    let mut host = LinuxHost::with_kernel_release(NftRunner::in_netns(&ns.name), "6.1.0-18-amd64");
    host.apply(&diff(&NftMap::new(), &desired())).unwrap();
    let mut want = desired();
    want.remove(&NftKey::chain(Family::Ip, "reject-chain"));
    want.retain(|k, v| {
        !(k.family() == Family::Ip
            && *v == NftValue::Element(Some(Verdict::Goto("reject-chain".into())))
            || k.family() == Family::Ip
                && *v == NftValue::Element(Some(Verdict::Jump("reject-chain".into()))))
    });
    host.apply(&diff(&host.mirror().nft.clone(), &want))
        .unwrap();
    assert_eq!(host.mirror().nft, want);
    assert_eq!(
        host.pending_chain_deletes(),
        vec![(Family::Ip, "reject-chain")]
    );
    // Still in the kernel, but empty.
    let key = NftKey::chain(Family::Ip, "reject-chain");
    let snap = host.snapshot().unwrap().nft;
    assert_eq!(
        snap.get(&key),
        Some(&NftValue::Chain(Chain::regular(vec![])))
    );

    std::thread::sleep(std::time::Duration::from_millis(1100));
    host.apply(&HostPlan::default()).unwrap();
    assert!(host.pending_chain_deletes().is_empty());
    assert_eq!(host.mirror().nft, want);
    assert_eq!(host.snapshot().unwrap().nft, want);
}
