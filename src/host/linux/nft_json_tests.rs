use std::collections::BTreeMap;

use super::*;
use crate::host::linux::nft_rules_read::{CurrentRule, decode_rule};
use crate::host::linux::nft_txn::{self, TxnInput};
use crate::host::nft::{Chain, NftKey, NftValue, Proto};
use crate::host::plan::FacetPlan;

fn net(s: &str) -> IpNet {
    s.parse()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .unwrap()
}

/// One rule of every statement kroute writes.
fn every_statement(family: Family) -> Vec<Rule> {
    let (a, b, dnat) = match family {
        Family::Ip => (net("10.96.0.0/12"), net("10.0.0.1"), "10.244.1.5:8080"),
        Family::Ip6 => (net("fd00:96::/108"), net("fd00::1"), "[fd00::5]:8080"),
    };
    let goto = |c: &str| Verdict::Goto(c.into());
    let r = |stmts| Rule::new(stmts);
    vec![
        r(vec![
            Stmt::Match(Match::CtStateNew),
            Stmt::Match(Match::DaddrInSet("cluster-ips".into())),
            Stmt::Reject,
        ]),
        r(vec![
            Stmt::Match(Match::SaddrNotIn(vec![a])),
            Stmt::Match(Match::DaddrIn(vec![a, b])),
            Stmt::Verdict(Verdict::Drop),
        ]),
        r(vec![
            Stmt::Match(Match::SaddrIn(vec![b])),
            Stmt::Match(Match::DaddrNotIn(vec![b])),
            Stmt::Verdict(Verdict::Jump("mark-for-masquerade".into())),
        ]),
        r(vec![Stmt::VmapLookup {
            key: VmapKey::DaddrProtoPort,
            map: "service-ips".into(),
        }]),
        r(vec![
            Stmt::Match(Match::FibDaddrLocal),
            Stmt::VmapLookup {
                key: VmapKey::ProtoPort,
                map: "service-nodeports".into(),
            },
        ]),
        r(vec![
            Stmt::Match(Match::FibSaddrLocal),
            Stmt::Verdict(Verdict::Return),
        ]),
        r(vec![Stmt::NumgenVmap(vec![goto("ep-a"), goto("ep-b")])]),
        r(vec![
            Stmt::Match(Match::NumgenOneIn(3)),
            Stmt::Verdict(goto("ep-c")),
        ]),
        r(vec![
            Stmt::Match(Match::L4Proto(Proto::Sctp)),
            Stmt::Dnat(dnat.parse().unwrap()),
        ]),
        r(vec![Stmt::SetMasqueradeMark]),
        r(vec![
            Stmt::Match(Match::MasqueradeMarkUnset),
            Stmt::Verdict(Verdict::Accept),
        ]),
        r(vec![Stmt::ClearMasqueradeMark, Stmt::Masquerade]),
        r(vec![Stmt::UpdateSaddrSet("affinity-x".into())]),
        r(vec![
            Stmt::Match(Match::SaddrInSet("affinity-x".into())),
            Stmt::Verdict(goto("ep-a")),
        ]),
    ]
}

#[test]
fn every_statement_reads_back_as_itself() {
    // The decoder is checked against nft's real listings (nft_rules_read
    // tests); the encoder against the decoder.
    for family in Family::ALL {
        for rule in every_statement(family) {
            let json = to_value(&rule_stmts(family, &rule));
            let back = decode_rule(family, json.as_array().unwrap());
            assert_eq!(back, CurrentRule::Known(rule.clone()), "{json}");
        }
    }
}

#[test]
fn statements_have_nft_json_shapes() {
    let one = |s: Stmt| to_value(&rule_stmts(Family::Ip, &Rule::new(vec![s])))[0].clone();
    assert_eq!(
        one(Stmt::Dnat("10.244.1.5:8080".parse().unwrap())),
        json!({"dnat": {"addr": "10.244.1.5", "port": 8080}})
    );
    assert_eq!(
        one(Stmt::Masquerade),
        json!({"masquerade": {"flags": ["fully-random"]}})
    );
    assert_eq!(
        one(Stmt::NumgenVmap(vec![
            Verdict::Goto("a".into()),
            Verdict::Accept
        ])),
        json!({"vmap": {"key": {"numgen": {"mode": "random", "mod": 2}},
                        "data": {"set": [[0, {"goto": {"target": "a"}}], [1, {"accept": null}]]}}})
    );
    assert_eq!(
        one(Stmt::Match(Match::MasqueradeMarkUnset)),
        json!({"match": {"op": "==", "left": {"&": [{"meta": {"key": "mark"}}, 16384]}, "right": 0}})
    );
    assert_eq!(
        one(Stmt::Match(Match::FibDaddrLocal)),
        json!({"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["daddr"]}}, "right": "local"}})
    );
    assert_eq!(one(Stmt::Reject), json!({"reject": null}));
}

fn plan_json(plan: &FacetPlan<NftKey, NftValue>) -> Vec<Value> {
    let current = BTreeMap::new();
    let txn = nft_txn::build(&TxnInput {
        plan,
        current: &current,
        defer_chain_deletes: false,
        due_chain_deletes: &[],
    })
    .unwrap();
    ops_json(&txn.ops)
}

#[test]
fn a_plan_becomes_libnftables_commands() {
    let mut plan = FacetPlan::default();
    plan.creates
        .insert(NftKey::Table(Family::Ip), NftValue::Table);
    plan.creates.insert(
        NftKey::set(Family::Ip, "service-ips"),
        NftValue::Set(SetDef::new(SetKeyType::AddrProtoPort, true, false)),
    );
    plan.creates.insert(
        NftKey::set(Family::Ip, "affinity"),
        NftValue::Set(SetDef::dynamic_addrs(10800)),
    );
    let hook = BaseHook {
        kind: ChainKind::Nat,
        hook: Hook::Output,
        priority: -100,
    };
    let output = Chain::new(
        Some(hook),
        vec![Rule::verdict(Verdict::Jump("services".into()))],
    );
    let fp = output.digest.fingerprint.clone().unwrap();
    plan.creates.insert(
        NftKey::chain(Family::Ip, "nat-output"),
        NftValue::Chain(output),
    );
    let element = |key| NftKey::element(Family::Ip, "service-ips", key);
    let addr = "10.96.0.10".parse().unwrap();
    plan.creates.insert(
        element(ElementKey::AddrProtoPort(addr, Proto::Tcp, 80)),
        NftValue::Element(Some(Verdict::Drop)),
    );
    plan.deletes.insert(element(ElementKey::Unknown(
        "10.96.0.99 . icmp . 80".into(),
    )));
    plan.deletes.insert(NftKey::chain(Family::Ip, "gone"));
    plan.deletes.insert(NftKey::set(Family::Ip, "old"));

    let want = vec![
        json!({"add": {"table": {"family": "ip", "name": "kroute"}}}),
        json!({"add": {"set": {"family": "ip", "table": "kroute", "name": "affinity",
            "type": "ipv4_addr", "flags": ["timeout"], "timeout": 10800}}}),
        json!({"add": {"map": {"family": "ip", "table": "kroute", "name": "service-ips",
            "type": ["ipv4_addr", "inet_proto", "inet_service"], "map": "verdict"}}}),
        json!({"add": {"chain": {"family": "ip", "table": "kroute", "name": "nat-output",
            "type": "nat", "hook": "output", "prio": -100, "policy": "accept"}}}),
        json!({"add": {"rule": {"family": "ip", "table": "kroute", "chain": "nat-output",
            "expr": [{"jump": {"target": "services"}}], "comment": fp}}}),
        json!({"delete": {"element": {"family": "ip", "table": "kroute", "name": "service-ips",
            "elem": [{"concat": ["10.96.0.99", "icmp", 80]}]}}}),
        json!({"add": {"element": {"family": "ip", "table": "kroute", "name": "service-ips",
            "elem": [[{"concat": ["10.96.0.10", "tcp", 80]}, {"drop": null}]]}}}),
        json!({"flush": {"chain": {"family": "ip", "table": "kroute", "name": "gone"}}}),
        json!({"delete": {"chain": {"family": "ip", "table": "kroute", "name": "gone"}}}),
        json!({"delete": {"set": {"family": "ip", "table": "kroute", "name": "old"}}}),
    ];
    assert_eq!(plan_json(&plan), want);
}

#[test]
fn unknown_element_keys_go_back_to_json() {
    let key = |s: &str| element_value(&ElementKey::Unknown(s.into()));
    assert_eq!(
        key("10.0.0.1-10.0.0.7"),
        json!({"range": ["10.0.0.1", "10.0.0.7"]})
    );
    assert_eq!(
        key("10.0.0.0/8"),
        json!({"prefix": {"addr": "10.0.0.0", "len": 8}})
    );
    assert_eq!(key("02:00:00:00:00:01"), json!("02:00:00:00:00:01"));
    assert_eq!(key(r#"{"weird":1}"#), json!({"weird": 1}));
}
