use super::*;

const KROUTE_IP: &str = include_str!("testdata/kroute_ip.json");
const KROUTE_IP_NFT: &str = include_str!("testdata/kroute_ip.nft");
const KROUTE_IP6: &str = include_str!("testdata/kroute_ip6.json");
const KROUTE_IP6_NFT: &str = include_str!("testdata/kroute_ip6.nft");
const ODD_IP: &str = include_str!("testdata/odd_ip.json");
const AFFINITY_IP6: &str = include_str!("testdata/affinity_ip6.json");
const AFFINITY_IP6_NFT: &str = include_str!("testdata/affinity_ip6.nft");

/// `(chain, rule text)` of every `add rule` line of an `.nft` fixture, the
/// comment left out.
fn written_rules(family: Family, script: &str) -> Vec<(String, String)> {
    let prefix = format!("add rule {family} {TABLE} ");
    script
        .lines()
        .filter_map(|line| line.strip_prefix(&prefix))
        .map(|rest| {
            let (chain, rule) = rest.split_once(' ').unwrap();
            let rule = rule.split(" comment \"").next().unwrap();
            (chain.to_string(), rule.to_string())
        })
        .collect()
}

/// `(chain, rule text)` of every rule read back, in chain order.
fn read_rules(family: Family, json: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (key, rules) in parse_rules(family, json).unwrap() {
        let NftKey::Chain { name, .. } = key else {
            panic!("{key}")
        };
        for rule in rules {
            assert!(matches!(rule, CurrentRule::Known(_)), "{name}: {rule:?}");
            out.push((name.clone(), rule.text(family)));
        }
    }
    out
}

fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
    // Chains come back by name; keep each chain's rule order.
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn every_rule_kroute_writes_reads_back_as_the_text_it_was_written_as() {
    // The fixtures are what nft 1.0.6 lists for the `.nft` scripts beside
    // them (testdata/capture.sh): `reject` comes back with its ICMP type, a
    // one-element anonymous set as a plain value, `ct state new` as `in`.
    for (family, json, script) in [
        (Family::Ip, KROUTE_IP, KROUTE_IP_NFT),
        (Family::Ip6, KROUTE_IP6, KROUTE_IP6_NFT),
        (Family::Ip6, AFFINITY_IP6, AFFINITY_IP6_NFT),
    ] {
        assert_eq!(
            read_rules(family, json),
            sorted(written_rules(family, script)),
            "{family}"
        );
    }
}

#[test]
fn every_listed_chain_has_an_entry_even_without_rules() {
    let rules = parse_rules(Family::Ip, KROUTE_IP).unwrap();
    assert_eq!(
        rules.get(&NftKey::chain(Family::Ip, "empty")),
        Some(&vec![])
    );
    assert_eq!(rules.len(), 10);
    // The other family's listing yields nothing for this family.
    assert!(parse_rules(Family::Ip6, KROUTE_IP).unwrap().is_empty());
}

#[test]
fn statements_kroute_never_writes_are_kept_as_json() {
    let rules = parse_rules(Family::Ip, ODD_IP).unwrap();
    let hand = &rules[&NftKey::chain(Family::Ip, "hand")];
    assert_eq!(
        hand,
        &vec![CurrentRule::Other(
            r#"{"counter":{"bytes":0,"packets":0}}"#.into()
        )]
    );
    // A hand-inserted rule first, then kroute's.
    let target = &rules[&NftKey::chain(Family::Ip, "target")];
    assert_eq!(target.len(), 2);
    let CurrentRule::Other(text) = &target[0] else {
        panic!("{target:?}")
    };
    assert!(text.ends_with(" accept"), "{text}");
    assert_eq!(
        target[1].text(Family::Ip),
        "meta l4proto tcp dnat to 10.0.0.1:80"
    );
}

#[test]
fn decoding_is_strict_about_what_kroute_means() {
    let json = |s: &str| -> Value { serde_json::from_str(s).unwrap() };
    let none = [
        // another reject code, a masquerade without fully-random
        r#"{"reject": {"type": "tcp reset"}}"#,
        r#"{"masquerade": null}"#,
        // the other family's address, a range
        r#"{"dnat": {"addr": "fd00::1", "port": 80}}"#,
        r#"{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"range": ["10.0.0.1", "10.0.0.9"]}}}"#,
        // numgen with an offset, an anonymous vmap missing an arm
        r#"{"match": {"op": "==", "left": {"numgen": {"mode": "random", "mod": 2, "offset": 1}}, "right": 0}}"#,
        r#"{"vmap": {"key": {"numgen": {"mode": "random", "mod": 3, "offset": 0}}, "data": {"set": [[0, {"accept": null}], [1, {"drop": null}]]}}}"#,
        r#"{"mangle": {"key": {"meta": {"key": "mark"}}, "value": {"|": [{"meta": {"key": "mark"}}, 1]}}}"#,
        r#"{"continue": null}"#,
    ];
    for s in none {
        assert_eq!(decode_stmt(Family::Ip, &json(s)), None, "{s}");
    }
    let arms_out_of_order = json(
        r#"{"vmap": {"key": {"numgen": {"mode": "random", "mod": 2, "offset": 0}}, "data": {"set": [[1, {"goto": {"target": "b"}}], [0, {"goto": {"target": "a"}}]]}}}"#,
    );
    assert_eq!(
        decode_stmt(Family::Ip, &arms_out_of_order),
        Some(Stmt::NumgenVmap(vec![
            Verdict::Goto("a".into()),
            Verdict::Goto("b".into())
        ]))
    );
    let many = json(
        r#"{"match": {"op": "!=", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"set": ["10.0.0.1", {"prefix": {"addr": "10.244.0.0", "len": 16}}]}}}"#,
    );
    assert_eq!(
        decode_stmt(Family::Ip, &many),
        Some(Stmt::Match(Match::SaddrNotIn(vec![
            "10.0.0.1/32".parse().unwrap(),
            "10.244.0.0/16".parse().unwrap()
        ])))
    );
}

#[test]
fn invalid_json_is_a_read_error() {
    assert!(matches!(
        parse_rules(Family::Ip, "{"),
        Err(HostError::Read { .. })
    ));
}
