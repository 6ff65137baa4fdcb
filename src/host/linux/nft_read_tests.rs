//! `nft -j list table` read-back tests, on listings of real nft 1.0.6.

use super::*;

const KROUTE_IP: &str = include_str!("testdata/kroute_ip.json");
const KROUTE_IP6: &str = include_str!("testdata/kroute_ip6.json");
const ODD_IP: &str = include_str!("testdata/odd_ip.json");

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn net(s: &str) -> ElementKey {
    ElementKey::Net(s.parse().unwrap())
}

fn digest(rule_count: usize, fingerprint: Option<&str>) -> ChainDigest {
    ChainDigest {
        rule_count,
        fingerprint: fingerprint.map(String::from),
    }
}

fn chain_of(map: &BTreeMap<NftKey, NftValue>, family: Family, name: &str) -> Chain {
    match map.get(&NftKey::chain(family, name)) {
        Some(NftValue::Chain(c)) => c.clone(),
        other => panic!("chain {name}: {other:?}"),
    }
}

fn set_of(map: &BTreeMap<NftKey, NftValue>, name: &str) -> SetDef {
    match map.get(&NftKey::set(Family::Ip, name)) {
        Some(NftValue::Set(d)) => d.clone(),
        other => panic!("set {name}: {other:?}"),
    }
}

#[test]
fn reads_every_object_kroute_writes() {
    let got = parse_table(Family::Ip, KROUTE_IP).unwrap();
    let svc = "svc-1a2b3c4d-default/web/tcp/http";
    let ep1 = "ep-1a2b3c4d-default/web/tcp/http__10.244.1.5/8080";
    let ep2 = "ep-1a2b3c4d-default/web/tcp/http__10.244.2.5/8080";
    let mut want = BTreeMap::new();
    want.insert(NftKey::Table(Family::Ip), NftValue::Table);
    let set = |key, verdict_map, interval| NftValue::Set(SetDef::new(key, verdict_map, interval));
    want.insert(
        NftKey::set(Family::Ip, "service-ips"),
        set(SetKeyType::AddrProtoPort, true, false),
    );
    want.insert(
        NftKey::set(Family::Ip, "service-nodeports"),
        set(SetKeyType::ProtoPort, true, false),
    );
    want.insert(
        NftKey::set(Family::Ip, "cluster-ips"),
        set(SetKeyType::Addr, false, false),
    );
    want.insert(
        NftKey::set(Family::Ip, "pod-cidrs"),
        set(SetKeyType::Addr, false, true),
    );
    let base = |kind, hook, priority| {
        Some(BaseHook {
            kind,
            hook,
            priority,
        })
    };
    let chains = [
        (
            "nat-output",
            base(ChainKind::Nat, Hook::Output, -100),
            1,
            Some("kroute:00000000000000a1"),
        ),
        (
            "nat-postrouting",
            base(ChainKind::Nat, Hook::Postrouting, 100),
            1,
            Some("kroute:00000000000000a2"),
        ),
        (
            "filter-forward",
            base(ChainKind::Filter, Hook::Forward, -110),
            2,
            Some("kroute:00000000000000a3"),
        ),
        ("services", None, 2, Some("kroute:00000000000000a4")),
        (svc, None, 1, Some("kroute:00000000000000a5")),
        (ep1, None, 2, Some("kroute:00000000000000a6")),
        (ep2, None, 1, None),
        (
            "mark-for-masquerade",
            None,
            1,
            Some("kroute:00000000000000a7"),
        ),
        ("masquerading", None, 3, Some("kroute:00000000000000a8")),
        ("empty", None, 0, None),
    ];
    for (name, hook, count, fp) in chains {
        want.insert(
            NftKey::chain(Family::Ip, name),
            NftValue::Chain(Chain::read_back(hook, digest(count, fp))),
        );
    }
    let goto_svc = Some(Verdict::Goto(svc.to_string()));
    let elements = [
        (
            "service-ips",
            ElementKey::AddrProtoPort(ip("10.96.0.10"), Proto::Tcp, 80),
            goto_svc.clone(),
        ),
        (
            "service-ips",
            ElementKey::AddrProtoPort(ip("10.96.0.11"), Proto::Sctp, 9000),
            goto_svc.clone(),
        ),
        (
            "service-ips",
            ElementKey::AddrProtoPort(ip("10.96.0.12"), Proto::Udp, 53),
            Some(Verdict::Drop),
        ),
        (
            "service-nodeports",
            ElementKey::ProtoPort(Proto::Tcp, 30080),
            goto_svc,
        ),
        (
            "service-nodeports",
            ElementKey::ProtoPort(Proto::Udp, 30053),
            Some(Verdict::Jump("mark-for-masquerade".into())),
        ),
        ("cluster-ips", net("10.96.0.10/32"), None),
        ("cluster-ips", net("10.96.0.11/32"), None),
        ("pod-cidrs", net("10.244.0.0/16"), None),
        ("pod-cidrs", net("10.250.1.1/32"), None),
    ];
    for (set, key, value) in elements {
        want.insert(
            NftKey::element(Family::Ip, set, key),
            NftValue::Element(value),
        );
    }
    assert_eq!(got, want);
}

#[test]
fn reads_the_ip6_table() {
    let got = parse_table(Family::Ip6, KROUTE_IP6).unwrap();
    assert_eq!(
        got.get(&NftKey::element(
            Family::Ip6,
            "service-ips",
            ElementKey::AddrProtoPort(ip("fd00:96::10"), Proto::Udp, 53)
        )),
        Some(&NftValue::Element(Some(Verdict::Goto("ep6".into()))))
    );
    for key in [net("fd00:244::/64"), net("fd00::1/128")] {
        assert!(got.contains_key(&NftKey::element(Family::Ip6, "pod-cidrs", key)));
    }
    assert_eq!(
        set_of_family(&got, Family::Ip6, "service-ips").key,
        SetKeyType::AddrProtoPort
    );
    assert_eq!(
        chain_of(&got, Family::Ip6, "nat-prerouting"),
        Chain::read_back(
            Some(BaseHook {
                kind: ChainKind::Nat,
                hook: Hook::Prerouting,
                priority: -100
            }),
            digest(1, Some("kroute:00000000000000b1"))
        )
    );
    assert_eq!(got.len(), 1 + 2 + 2 + 3);
    // The other family's listing yields nothing for this family.
    assert!(parse_table(Family::Ip, KROUTE_IP6).unwrap().is_empty());
}

fn set_of_family(map: &BTreeMap<NftKey, NftValue>, family: Family, name: &str) -> SetDef {
    match map.get(&NftKey::set(family, name)) {
        Some(NftValue::Set(d)) => d.clone(),
        other => panic!("set {name}: {other:?}"),
    }
}

#[test]
fn hand_made_sets_are_kept_as_unknown() {
    let got = parse_table(Family::Ip, ODD_IP).unwrap();
    for name in ["macs", "nat-map", "timed", "v6-in-ip"] {
        assert_eq!(set_of(&got, name).key, SetKeyType::Unknown, "{name}");
    }
    assert_eq!(
        set_of(&got, "ranges"),
        SetDef::new(SetKeyType::Addr, false, true)
    );
    assert_eq!(set_of(&got, "service-ips").key, SetKeyType::AddrProtoPort);
}

#[test]
fn elements_kroute_cannot_type_are_kept_as_nft_text() {
    let got = parse_table(Family::Ip, ODD_IP).unwrap();
    let has = |set: &str, key: ElementKey, value: Option<Verdict>| {
        assert_eq!(
            got.get(&NftKey::element(Family::Ip, set, key.clone())),
            Some(&NftValue::Element(value)),
            "{set} {key}"
        );
    };
    has(
        "macs",
        ElementKey::Unknown("02:00:00:00:00:01".into()),
        None,
    );
    has("nat-map", net("10.0.0.1/32"), None);
    has(
        "ranges",
        ElementKey::Unknown("10.0.0.1-10.0.0.7".into()),
        None,
    );
    has("ranges", net("10.1.0.0/16"), None);
    // Wrapped in `{"elem": {"val": ...}}` because of its timeout/comment.
    has("timed", net("10.9.9.9/32"), None);
    has(
        "service-ips",
        ElementKey::Unknown("10.96.0.99 . icmp . 80".into()),
        None,
    );
    has(
        "service-ips",
        ElementKey::AddrProtoPort(ip("10.96.0.98"), Proto::Tcp, 80),
        Some(Verdict::Goto("target".into())),
    );
    has(
        "service-ips",
        ElementKey::AddrProtoPort(ip("10.96.0.97"), Proto::Sctp, 80),
        Some(Verdict::Accept),
    );
    has(
        "service-ips",
        ElementKey::AddrProtoPort(ip("10.96.0.96"), Proto::Tcp, 8080),
        Some(Verdict::Return),
    );
}

#[test]
fn hand_edited_chains_never_equal_what_kroute_writes() {
    let got = parse_table(Family::Ip, ODD_IP).unwrap();
    // A rule inserted before kroute's: the first comment is not kroute's.
    assert_eq!(chain_of(&got, Family::Ip, "target").digest, digest(2, None));
    assert_eq!(chain_of(&got, Family::Ip, "hand").digest, digest(1, None));
    let routed = chain_of(&got, Family::Ip, "routed");
    assert_eq!(routed.hook, None);
    assert_eq!(
        routed.digest.fingerprint.as_deref(),
        Some("foreign:type route")
    );
    let dropper = chain_of(&got, Family::Ip, "dropper");
    assert_eq!(
        dropper.hook,
        Some(BaseHook {
            kind: ChainKind::Filter,
            hook: Hook::Input,
            priority: 0
        })
    );
    assert_eq!(
        dropper.digest.fingerprint.as_deref(),
        Some("foreign:policy drop")
    );
}

#[test]
fn proto_numbers_and_unknown_objects_are_handled() {
    let json = r#"{"nftables": [
        {"metainfo": {"version": "1.0.6"}},
        {"table": {"family": "ip", "name": "kroute", "handle": 1}},
        {"flowtable": {"family": "ip", "table": "kroute", "name": "ft"}},
        {"set": {"family": "ip", "table": "other", "name": "not-ours", "type": "ipv4_addr"}},
        {"map": {"family": "ip", "table": "kroute", "name": "np", "type": ["inet_proto", "inet_service"],
                 "map": "verdict",
                 "elem": [[{"concat": [132, 80]}, {"goto": {"target": "c"}}],
                          [{"concat": ["udp", "53"]}, {"drop": null}],
                          [{"weird": 1}, {"drop": null}]]}}
    ]}"#;
    let got = parse_table(Family::Ip, json).unwrap();
    let elem = |k| NftKey::element(Family::Ip, "np", k);
    assert!(got.contains_key(&elem(ElementKey::ProtoPort(Proto::Sctp, 80))));
    assert!(got.contains_key(&elem(ElementKey::ProtoPort(Proto::Udp, 53))));
    assert!(got.contains_key(&elem(ElementKey::Unknown(r#"{"weird":1}"#.into()))));
    assert_eq!(got.len(), 5, "{got:#?}");
}

#[test]
fn invalid_json_is_a_read_error() {
    for bad in ["", "{", r#"{"other": []}"#] {
        assert!(matches!(
            parse_table(Family::Ip, bad),
            Err(HostError::Read { .. })
        ));
    }
}

#[test]
fn affinity_sets_read_back_without_the_kernels_elements() {
    let json = include_str!("testdata/affinity_ip6.json");
    let got = parse_table(Family::Ip6, json).unwrap();
    let affinity = "affinity-1a2b3c4d-default/web/tcp/http__fd00.244..5/8080";
    // Referenced by an `update` rule (the kernel then lists a size of
    // 65535) or not: the set kroute wrote, equal to the desired one.
    assert_eq!(
        set_of_family(&got, Family::Ip6, affinity),
        SetDef::dynamic_addrs(10800)
    );
    assert_eq!(
        set_of_family(&got, Family::Ip6, "affinity-idle"),
        SetDef::dynamic_addrs(2)
    );
    // A size kroute never sets: not kroute's shape, so it is replaced or swept.
    assert_eq!(
        set_of_family(&got, Family::Ip6, "hand-dyn").key,
        SetKeyType::Unknown
    );
    let elements: Vec<&NftKey> = got
        .keys()
        .filter(|k| matches!(k, NftKey::Element { .. }))
        .collect();
    assert_eq!(
        elements,
        [&NftKey::element(
            Family::Ip6,
            "firewall-ips",
            ElementKey::AddrProtoPort(ip("fd00:198::7"), Proto::Tcp, 80)
        )],
        "the dynamic sets' elements are the kernel's"
    );
    assert_eq!(
        chain_of(&got, Family::Ip6, "ep6").digest,
        digest(3, Some("kroute:00000000000000c1"))
    );
    assert_eq!(
        chain_of(&got, Family::Ip6, "fw6").digest,
        digest(1, Some("kroute:00000000000000c2"))
    );
}

#[test]
fn timeout_and_dynamic_flags_kroute_does_not_write_make_a_set_unknown() {
    let set = |extra: &str| {
        let json = format!(
            r#"{{"nftables": [{{"set": {{"family": "ip", "table": "kroute", "name": "s",
                "type": "ipv4_addr"{extra}}}}}]}}"#
        );
        set_of(&parse_table(Family::Ip, &json).unwrap(), "s")
    };
    assert_eq!(set(""), SetDef::new(SetKeyType::Addr, false, false));
    assert_eq!(
        set(r#", "flags": ["timeout", "dynamic"], "timeout": 30"#),
        SetDef::dynamic_addrs(30)
    );
    for odd in [
        r#", "flags": ["dynamic"]"#,
        r#", "timeout": 30"#,
        r#", "flags": ["timeout"]"#,
        r#", "flags": ["timeout", "interval"], "timeout": 30"#,
        r#", "flags": ["timeout"], "timeout": 30, "size": 10"#,
        r#", "flags": ["constant"]"#,
    ] {
        assert_eq!(set(odd).key, SetKeyType::Unknown, "{odd}");
    }
}
