//! Byte-level tests: each case's ops are rendered by `nft_script` (and must
//! equal the committed script), encoded here, and compared message by
//! message, attribute by attribute, with what nft 1.0.6 sent for that
//! script (`testdata/nft_netlink/<case>.mnl`, from `capture.sh`).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use netlink_packet_core::{NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST};

use super::mnl_dump::{self, Dumped};
use super::{Batch, encode};
use crate::host::linux::nft_script::render;
use crate::host::linux::nft_txn::NftOp;
use crate::host::nft::{
    BaseHook, ChainKind, ElementKey, Family, Hook, Match, NftKey, NftValue, Proto, Rule, SetDef,
    SetKeyType, Stmt, Verdict, VmapKey,
};

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/src/host/linux/testdata/nft_netlink"
);

fn net(s: &str) -> IpNet {
    s.parse()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .unwrap()
}

/// What one family's cases are built from (owned, the ops borrow it).
struct Fixture {
    family: Family,
    sets: Vec<(&'static str, SetDef)>,
    rules: Vec<(&'static str, Rule)>,
    elements: Vec<(&'static str, ElementKey, Option<Verdict>)>,
    nat: BaseHook,
    filter: BaseHook,
}

fn fixture(family: Family) -> Fixture {
    let v4 = family == Family::Ip;
    let pick = |a: &'static str, b: &'static str| if v4 { a } else { b };
    let ep: SocketAddr = pick("10.244.1.5:8080", "[fd00:244::5]:8080")
        .parse()
        .unwrap();
    let svc: IpAddr = pick("10.96.0.10", "fd00:96::10").parse().unwrap();
    let goto = |c: &str| Stmt::Verdict(Verdict::Goto(c.to_string()));
    let jump = |c: &str| Stmt::Verdict(Verdict::Jump(c.to_string()));
    let rules = vec![
        (
            "filter-forward",
            Rule::new(vec![
                Stmt::Match(Match::CtStateNew),
                Stmt::Match(Match::DaddrInSet("cluster-ips".into())),
                Stmt::Reject,
            ]),
        ),
        (
            "filter-forward",
            Rule::new(vec![
                Stmt::Match(Match::FibSaddrLocal),
                Stmt::Match(Match::DaddrNotIn(vec![net(pick(
                    "10.96.0.0/12",
                    "fd00:96::/108",
                ))])),
                Stmt::Verdict(Verdict::Accept),
            ]),
        ),
        (
            "filter-forward",
            Rule::new(vec![
                Stmt::Match(Match::SaddrNotIn(vec![net(pick(
                    "10.244.0.0/16",
                    "fd00:244::/64",
                ))])),
                Stmt::Match(Match::DaddrIn(vec![
                    net(pick("10.96.0.0/12", "fd00:96::/108")),
                    net(pick("10.0.0.1", "fd00::1")),
                ])),
                Stmt::Verdict(Verdict::Drop),
            ]),
        ),
        ("nat-output", Rule::new(vec![jump("services")])),
        (
            "services",
            Rule::new(vec![Stmt::VmapLookup {
                key: VmapKey::DaddrProtoPort,
                map: "service-ips".into(),
            }]),
        ),
        (
            "services",
            Rule::new(vec![
                Stmt::Match(Match::DaddrInSet("nodeport-ips".into())),
                Stmt::Match(Match::FibDaddrLocal),
                Stmt::VmapLookup {
                    key: VmapKey::ProtoPort,
                    map: "service-nodeports".into(),
                },
            ]),
        ),
        (
            "mark-for-masquerade",
            Rule::new(vec![Stmt::SetMasqueradeMark]),
        ),
        (
            "masquerading",
            Rule::new(vec![
                Stmt::Match(Match::MasqueradeMarkUnset),
                Stmt::Verdict(Verdict::Return),
            ]),
        ),
        ("masquerading", Rule::new(vec![Stmt::ClearMasqueradeMark])),
        ("masquerading", Rule::new(vec![Stmt::Masquerade])),
        (
            "svc",
            Rule::new(vec![
                Stmt::Match(Match::SaddrNotIn(vec![net(pick(
                    "10.244.0.0/16",
                    "fd00:244::/64",
                ))])),
                jump("mark-for-masquerade"),
            ]),
        ),
        (
            "svc",
            Rule::new(vec![
                Stmt::Match(Match::SaddrInSet("affinity".into())),
                goto("ep"),
            ]),
        ),
        (
            "svc",
            Rule::new(vec![Stmt::Match(Match::NumgenOneIn(2)), goto("ep")]),
        ),
        (
            "svc",
            Rule::new(vec![Stmt::NumgenVmap(vec![
                Verdict::Goto("ep".into()),
                Verdict::Goto("ep".into()),
                Verdict::Drop,
            ])]),
        ),
        (
            "ep",
            Rule::new(vec![
                Stmt::Match(Match::SaddrIn(vec![net(&ep.ip().to_string())])),
                jump("mark-for-masquerade"),
            ]),
        ),
        (
            "ep",
            Rule::new(vec![Stmt::UpdateSaddrSet("affinity".into())]),
        ),
        (
            "ep",
            Rule::new(vec![
                Stmt::Match(Match::L4Proto(Proto::Tcp)),
                Stmt::Dnat(ep),
            ]),
        ),
        (
            "ep",
            Rule::new(vec![
                Stmt::Match(Match::L4Proto(Proto::Sctp)),
                Stmt::Match(Match::SaddrIn(vec![
                    net(pick("10.1.0.0/24", "fd00:1::/56")),
                    net(pick("10.2.0.0/24", "fd00:2::/56")),
                ])),
                Stmt::Verdict(Verdict::Accept),
            ]),
        ),
    ];
    Fixture {
        family,
        sets: vec![
            ("cluster-ips", SetDef::new(SetKeyType::Addr, false, false)),
            ("nodeport-ips", SetDef::new(SetKeyType::Addr, false, true)),
            (
                "service-ips",
                SetDef::new(SetKeyType::AddrProtoPort, true, false),
            ),
            (
                "service-nodeports",
                SetDef::new(SetKeyType::ProtoPort, true, false),
            ),
            ("affinity", SetDef::dynamic_addrs(10800)),
            ("old-set", SetDef::new(SetKeyType::Addr, false, false)),
        ],
        rules,
        elements: vec![
            ("cluster-ips", ElementKey::Net(IpNet::from(svc)), None),
            (
                "service-ips",
                ElementKey::AddrProtoPort(svc, Proto::Tcp, 80),
                Some(Verdict::Goto("svc".into())),
            ),
            (
                "service-ips",
                ElementKey::AddrProtoPort(svc, Proto::Udp, 53),
                Some(Verdict::Goto("svc".into())),
            ),
            (
                "service-nodeports",
                ElementKey::ProtoPort(Proto::Sctp, 30080),
                Some(Verdict::Drop),
            ),
        ],
        nat: BaseHook {
            kind: ChainKind::Nat,
            hook: Hook::Output,
            priority: -100,
        },
        filter: BaseHook {
            kind: ChainKind::Filter,
            hook: Hook::Forward,
            priority: -110,
        },
    }
}

const CHAINS: [&str; 6] = [
    "ep",
    "mark-for-masquerade",
    "masquerading",
    "services",
    "svc",
    "unused",
];

/// Everything created from nothing, as `nft_txn` orders it.
fn create_ops(fx: &Fixture) -> Vec<NftOp<'_>> {
    let family = fx.family;
    let mut ops = vec![NftOp::AddTable(family)];
    ops.extend(
        fx.sets
            .iter()
            .map(|(name, def)| NftOp::AddSet { family, name, def }),
    );
    ops.push(NftOp::AddChain {
        family,
        name: "filter-forward",
        hook: Some(&fx.filter),
    });
    ops.push(NftOp::AddChain {
        family,
        name: "nat-output",
        hook: Some(&fx.nat),
    });
    ops.extend(CHAINS.iter().map(|name| NftOp::AddChain {
        family,
        name,
        hook: None,
    }));
    for (i, (chain, rule)) in fx.rules.iter().enumerate() {
        let comment = (i == 0).then_some("kroute:0123456789abcdef");
        ops.push(NftOp::AddRule {
            family,
            chain,
            rule,
            comment,
        });
    }
    ops.extend(
        fx.elements
            .iter()
            .map(|(set, key, value)| NftOp::AddElement {
                family,
                set,
                key,
                value: value.as_ref(),
            }),
    );
    ops
}

/// Changes on top of `create`: interval elements, element deletes, a chain
/// flushed and deleted, a set deleted.
fn change_ops<'a>(fx: &'a Fixture, keys: &'a [ElementKey]) -> Vec<NftOp<'a>> {
    let family = fx.family;
    let mut ops: Vec<NftOp> = keys
        .iter()
        .map(|key| NftOp::AddElement {
            family,
            set: "nodeport-ips",
            key,
            value: None,
        })
        .collect();
    ops.push(NftOp::DeleteElement {
        family,
        set: "service-ips",
        key: &fx.elements[2].1,
    });
    ops.push(NftOp::DeleteElement {
        family,
        set: "cluster-ips",
        key: &fx.elements[0].1,
    });
    ops.push(NftOp::FlushChain {
        family,
        name: "unused",
    });
    ops.push(NftOp::DeleteChain {
        family,
        name: "unused",
    });
    ops.push(NftOp::DeleteSet {
        family,
        name: "old-set",
    });
    ops
}

fn interval_keys(family: Family) -> Vec<ElementKey> {
    let nets: &[&str] = match family {
        Family::Ip => &["192.168.50.1", "255.255.255.255", "10.8.0.0/16"],
        Family::Ip6 => &[
            "fd00:1::1",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "fd00:8::/64",
        ],
    };
    nets.iter().map(|n| ElementKey::Net(net(n))).collect()
}

fn teardown_ops(keys: &[ElementKey]) -> Vec<NftOp<'_>> {
    vec![
        NftOp::DeleteElement {
            family: Family::Ip,
            set: "nodeport-ips",
            key: &keys[2],
        },
        NftOp::DeleteTable(Family::Ip6),
        NftOp::DeleteTable(Family::Ip),
    ]
}

/// The sets the kernel holds before a `change` or `teardown` case.
fn current(fx: &[&Fixture]) -> BTreeMap<NftKey, NftValue> {
    fx.iter()
        .flat_map(|f| {
            f.sets
                .iter()
                .map(|(n, d)| (NftKey::set(f.family, *n), NftValue::Set(d.clone())))
        })
        .collect()
}

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{DIR}/{name}"))
        .unwrap_or_else(|e| panic!("{DIR}/{name}: {e} (capture it with capture.sh)"))
}

/// Our batch as `Dumped` messages, the way the mnl dump gives nft's.
fn ours(batch: &Batch) -> Vec<Dumped> {
    batch
        .messages
        .iter()
        .map(|m| {
            let mut bytes = vec![0; m.message.buffer_len()];
            m.message.serialize(&mut bytes);
            Dumped {
                msg_type: u16::from_ne_bytes([bytes[4], bytes[5]]),
                payload: bytes[16..].to_vec(),
            }
        })
        .collect()
}

fn check(case: &str, ops: &[NftOp], current: &BTreeMap<NftKey, NftValue>) {
    let script = render(ops);
    if std::env::var_os("KROUTE_WRITE_NFT_FIXTURES").is_some() {
        std::fs::write(format!("{DIR}/{case}.nft"), &script).unwrap();
    }
    assert_eq!(
        script,
        read(&format!("{case}.nft")),
        "{case}.nft is not what nft_script renders"
    );
    let batch = encode(ops, current).unwrap();
    let want = mnl_dump::normalized(&mnl_dump::batch(&read(&format!("{case}.mnl"))));
    let got = mnl_dump::normalized(&ours(&batch));
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "{case}: block {i} differs (ours, then nft's)");
    }
    assert_eq!(got.len(), want.len(), "{case}: number of blocks");
}

#[test]
fn creating_everything_matches_nft_ip() {
    let fx = fixture(Family::Ip);
    check("create_ip", &create_ops(&fx), &BTreeMap::new());
}

#[test]
fn creating_everything_matches_nft_ip6() {
    let fx = fixture(Family::Ip6);
    check("create_ip6", &create_ops(&fx), &BTreeMap::new());
}

fn check_changes(family: Family) {
    let fx = fixture(family);
    let keys = interval_keys(family);
    check(
        &format!("change_{family}"),
        &change_ops(&fx, &keys),
        &current(&[&fx]),
    );
}

#[test]
fn changes_match_nft_ip() {
    check_changes(Family::Ip);
}

#[test]
fn changes_match_nft_ip6() {
    check_changes(Family::Ip6);
}

#[test]
fn teardown_matches_nft() {
    let (ip, ip6) = (fixture(Family::Ip), fixture(Family::Ip6));
    let keys = interval_keys(Family::Ip);
    check("teardown", &teardown_ops(&keys), &current(&[&ip, &ip6]));
}

#[test]
fn message_flags_are_nfts() {
    let fx = fixture(Family::Ip);
    let ops = create_ops(&fx);
    let batch = encode(&ops, &BTreeMap::new()).unwrap();
    for m in &batch.messages {
        let kind = m.message.header.message_type & 0xff;
        let want = match kind {
            0 => NLM_F_REQUEST,
            6 => NLM_F_REQUEST | NLM_F_CREATE | NLM_F_APPEND,
            3 | 9 | 12 => NLM_F_REQUEST | NLM_F_CREATE,
            other => panic!("unexpected message {other}"),
        };
        assert_eq!(m.message.header.flags, want, "message type {kind}");
    }
}

#[test]
fn element_runs_share_messages_and_split_below_the_attribute_limit() {
    let keys: Vec<ElementKey> = (0..20_000u32)
        .map(|n| {
            ElementKey::AddrProtoPort(
                IpAddr::from((0x0a60_0000 + n).to_be_bytes()),
                Proto::Tcp,
                80,
            )
        })
        .collect();
    let drop = Verdict::Drop;
    let ops: Vec<NftOp> = keys
        .iter()
        .map(|key| NftOp::AddElement {
            family: Family::Ip,
            set: "service-ips",
            key,
            value: Some(&drop),
        })
        .collect();
    let mut current = BTreeMap::new();
    current.insert(
        NftKey::set(Family::Ip, "service-ips"),
        NftValue::Set(SetDef::new(SetKeyType::AddrProtoPort, true, false)),
    );
    let batch = encode(&ops, &current).unwrap();
    assert!(
        batch.len() > 1 && batch.len() < 100,
        "{} messages",
        batch.len()
    );
    let covered: usize = batch.messages.iter().map(|m| m.ops.len()).sum();
    assert_eq!(covered, keys.len());
    for m in &batch.messages {
        assert!(m.message.buffer_len() < 65_535);
    }
}

#[test]
fn unencodable_ops_are_refused_naming_them() {
    let key = ElementKey::Unknown("10.0.0.1-10.0.0.7".into());
    let ops = [NftOp::DeleteElement {
        family: Family::Ip,
        set: "ranges",
        key: &key,
    }];
    let err = encode(&ops, &BTreeMap::new()).unwrap_err().to_string();
    assert!(
        err.contains("delete element ip kroute ranges { 10.0.0.1-10.0.0.7 }"),
        "{err}"
    );
    let prefix = ElementKey::Net(net("10.0.0.0/8"));
    let ops = [NftOp::AddElement {
        family: Family::Ip,
        set: "plain",
        key: &prefix,
        value: None,
    }];
    let err = encode(&ops, &BTreeMap::new()).unwrap_err().to_string();
    assert!(err.contains("plain") && err.contains("interval"), "{err}");
}

#[test]
fn every_add_to_an_interval_set_starts_at_the_bottom_end() {
    for family in Family::ALL {
        let fx = fixture(family);
        let keys = interval_keys(family);
        let batch = encode(&change_ops(&fx, &keys), &current(&[&fx])).unwrap();
        let first = &ours(&batch)[0];
        let zero = if family == Family::Ip { 4 } else { 16 };
        // ELEMENTS { ELEM { FLAGS = INTERVAL_END, KEY { VALUE = 0… } } … }
        let want_prefix: Vec<u8> = [0u8, 0, 0, 1].to_vec();
        let p = &first.payload;
        let at = p
            .windows(want_prefix.len())
            .position(|w| w == want_prefix.as_slice())
            .expect("an interval end");
        assert!(
            p[at + 4 + 8..at + 12 + zero].iter().all(|b| *b == 0),
            "{family}: {p:02x?}"
        );
        // A host (start, end), the open top (start), a prefix (start, end).
        assert_eq!(
            mnl_dump::normalized(std::slice::from_ref(first)).len(),
            5,
            "{family}"
        );
    }
}
