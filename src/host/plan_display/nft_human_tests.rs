use super::*;
use crate::host::nft::{BaseHook, ChainKind, ElementKey, Hook, Proto, SetKeyType, Verdict};

const SVC: &str = "svc-1a2b-default/web/tcp/http";
const EP_A: &str = "ep-1a2b-default/web/tcp/http__10.244.1.5/8080";
const EP_B: &str = "ep-1a2b-default/web/tcp/http__10.244.2.5/8080";

fn goto(c: &str) -> Verdict {
    Verdict::Goto(c.into())
}

fn endpoint_chain(addr: &str) -> Chain {
    Chain::regular(vec![
        Rule::mark_if_saddr(addr.parse().unwrap(), "mark-for-masquerade"),
        Rule::dnat(Proto::Tcp, format!("{addr}:8080").parse().unwrap()),
    ])
}

/// `numgen random mod N-i == 0 goto`, then a plain goto: kroute's service chain.
fn service_chain(endpoints: &[&str]) -> Chain {
    let n = endpoints.len();
    let rules = endpoints
        .iter()
        .enumerate()
        .map(|(i, ep)| {
            if i + 1 == n {
                Rule::verdict(goto(ep))
            } else {
                Rule::new(vec![
                    Stmt::Match(Match::NumgenOneIn((n - i) as u32)),
                    Stmt::Verdict(goto(ep)),
                ])
            }
        })
        .collect();
    Chain::regular(rules)
}

fn web_element() -> NftKey {
    NftKey::element(
        Family::Ip,
        "service-ips",
        ElementKey::AddrProtoPort("10.96.0.10".parse().unwrap(), Proto::Tcp, 80),
    )
}

fn render_plan(
    plan: &FacetPlan<NftKey, NftValue>,
    current: &BTreeMap<NftKey, NftValue>,
    rules: &ChainRules,
) -> String {
    let mut out = String::new();
    render(&mut out, plan, &NftContext { current, rules });
    out
}

#[test]
fn a_created_service_shows_its_verdict_every_endpoint_and_the_masquerade_jump() {
    let mut plan = FacetPlan::default();
    plan.creates
        .insert(NftKey::Table(Family::Ip), NftValue::Table);
    plan.creates.insert(
        NftKey::set(Family::Ip, "service-ips"),
        NftValue::Set(SetDef::new(SetKeyType::AddrProtoPort, true, false)),
    );
    plan.creates.insert(
        NftKey::set(Family::Ip, "cluster-ips"),
        NftValue::Set(SetDef::new(SetKeyType::Addr, false, false)),
    );
    let hook = BaseHook {
        kind: ChainKind::Nat,
        hook: Hook::Output,
        priority: -100,
    };
    plan.creates.insert(
        NftKey::chain(Family::Ip, "nat-output"),
        NftValue::Chain(Chain::new(
            Some(hook),
            vec![Rule::verdict(Verdict::Jump("services".into()))],
        )),
    );
    plan.creates.insert(
        NftKey::chain(Family::Ip, SVC),
        NftValue::Chain(service_chain(&[EP_A, EP_B])),
    );
    plan.creates.insert(
        NftKey::chain(Family::Ip, EP_A),
        NftValue::Chain(endpoint_chain("10.244.1.5")),
    );
    plan.creates.insert(
        NftKey::chain(Family::Ip, EP_B),
        NftValue::Chain(endpoint_chain("10.244.2.5")),
    );
    plan.creates
        .insert(web_element(), NftValue::Element(Some(goto(SVC))));
    let text = render_plan(&plan, &BTreeMap::new(), &ChainRules::new());
    let want = format!(
        "nftables: table ip kroute
  add table ip kroute
  add set ip kroute cluster-ips {{ type ipv4_addr ; }}
  add map ip kroute service-ips {{ type ipv4_addr . inet_proto . inet_service : verdict ; }}
  add chain ip kroute {EP_A}
    + ip saddr {{ 10.244.1.5 }} jump mark-for-masquerade
    + meta l4proto tcp dnat to 10.244.1.5:8080
  add chain ip kroute {EP_B}
    + ip saddr {{ 10.244.2.5 }} jump mark-for-masquerade
    + meta l4proto tcp dnat to 10.244.2.5:8080
  add chain ip kroute nat-output {{ type nat hook output priority -100 ; policy accept ; }}
    + jump services
  add chain ip kroute {SVC}
    + numgen random mod 2 == 0 goto {EP_A}
    + goto {EP_B}
  add element ip kroute service-ips {{ 10.96.0.10 . tcp . 80 : goto {SVC} }}

"
    );
    assert_eq!(text, want);
}

#[test]
fn an_updated_chain_shows_the_rules_removed_and_added_against_the_host() {
    let key = NftKey::chain(Family::Ip, SVC);
    let before = service_chain(&[EP_A, EP_B]);
    let after = service_chain(&[EP_A, EP_B, "ep-c"]);
    let current = BTreeMap::from([(
        key.clone(),
        NftValue::Chain(Chain::read_back(None, before.digest.clone())),
    )]);
    let rules = ChainRules::from([(
        key.clone(),
        before
            .rules
            .iter()
            .cloned()
            .map(CurrentRule::Known)
            .collect(),
    )]);
    let mut plan = FacetPlan::default();
    plan.updates.insert(key, NftValue::Chain(after));
    let text = render_plan(&plan, &current, &rules);
    let want = format!(
        "nftables: table ip kroute
  update chain ip kroute {SVC}
    - numgen random mod 2 == 0 goto {EP_A}
    - goto {EP_B}
    + numgen random mod 3 == 0 goto {EP_A}
    + numgen random mod 2 == 0 goto {EP_B}
    + goto ep-c

"
    );
    assert_eq!(text, want);
}

#[test]
fn unchanged_rules_stay_as_context_and_foreign_rules_are_removed() {
    let keep = Rule::verdict(Verdict::Jump("services".into()));
    let now = vec![
        CurrentRule::Other(r#"{"counter":{"bytes":0,"packets":0}}"#.into()),
        CurrentRule::Known(keep.clone()),
    ];
    let lines = diff(Family::Ip, &now, &[keep, Rule::verdict(Verdict::Accept)]);
    assert_eq!(
        lines,
        vec![
            ('-', r#"{"counter":{"bytes":0,"packets":0}}"#.to_string()),
            (' ', "jump services".to_string()),
            ('+', "accept".to_string()),
        ]
    );
}

#[test]
fn anonymous_sets_compare_in_any_order() {
    let a: ipnet::IpNet = "10.0.0.0/8".parse().unwrap();
    let b: ipnet::IpNet = "192.168.0.0/16".parse().unwrap();
    let rule = |nets| Rule::new(vec![Stmt::Match(Match::SaddrNotIn(nets))]);
    let lines = diff(
        Family::Ip,
        &[CurrentRule::Known(rule(vec![b, a]))],
        &[rule(vec![a, b])],
    );
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].0, ' ');
}

#[test]
fn deletes_show_what_goes_away_elements_first() {
    let ep = NftKey::chain(Family::Ip, EP_B);
    let current = BTreeMap::from([
        (web_element(), NftValue::Element(Some(goto(SVC)))),
        (
            NftKey::set(Family::Ip, "service-ips"),
            NftValue::Set(SetDef::new(SetKeyType::AddrProtoPort, true, false)),
        ),
    ]);
    let rules = ChainRules::from([(
        ep.clone(),
        endpoint_chain("10.244.2.5")
            .rules
            .into_iter()
            .map(CurrentRule::Known)
            .collect(),
    )]);
    let mut plan = FacetPlan::default();
    plan.deletes.insert(web_element());
    plan.deletes.insert(ep);
    plan.deletes.insert(NftKey::set(Family::Ip, "service-ips"));
    plan.deletes.insert(NftKey::Table(Family::Ip6));
    let text = render_plan(&plan, &current, &rules);
    let want = format!(
        "nftables: table ip kroute
  delete element ip kroute service-ips {{ 10.96.0.10 . tcp . 80 : goto {SVC} }}
  delete chain ip kroute {EP_B}
    - ip saddr {{ 10.244.2.5 }} jump mark-for-masquerade
    - meta l4proto tcp dnat to 10.244.2.5:8080
  delete map ip kroute service-ips

nftables: table ip6 kroute
  delete table ip6 kroute

"
    );
    assert_eq!(text, want);
}

#[test]
fn updated_elements_and_sets_show_old_and_new() {
    let set = NftKey::set(Family::Ip, "pod-cidrs");
    let current = BTreeMap::from([
        (web_element(), NftValue::Element(Some(goto(SVC)))),
        (
            set.clone(),
            NftValue::Set(SetDef::new(SetKeyType::Addr, false, false)),
        ),
    ]);
    let mut plan = FacetPlan::default();
    plan.updates
        .insert(web_element(), NftValue::Element(Some(Verdict::Drop)));
    plan.updates.insert(
        set,
        NftValue::Set(SetDef::new(SetKeyType::Addr, false, true)),
    );
    let text = render_plan(&plan, &current, &ChainRules::new());
    assert_eq!(
        text,
        format!(
            "nftables: table ip kroute
  update set ip kroute pod-cidrs
    - {{ type ipv4_addr ; }}
    + {{ type ipv4_addr ; flags interval ; }}
  update element ip kroute service-ips {{ 10.96.0.10 . tcp . 80 }}
    - 10.96.0.10 . tcp . 80 : goto {SVC}
    + 10.96.0.10 . tcp . 80 : drop

"
        )
    );
}

#[test]
fn a_chain_whose_rules_were_not_read_shows_its_new_rules() {
    let key = NftKey::chain(Family::Ip6, "services");
    let mut plan = FacetPlan::default();
    plan.updates.insert(
        key,
        NftValue::Chain(Chain::regular(vec![Rule::verdict(Verdict::Return)])),
    );
    let text = render_plan(&plan, &BTreeMap::new(), &ChainRules::new());
    assert_eq!(
        text,
        "nftables: table ip6 kroute
  update chain ip6 kroute services
    (its rules on the host now are unknown)
    + return

"
    );
}
