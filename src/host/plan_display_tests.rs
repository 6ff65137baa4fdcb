use super::*;
use crate::host::nft::{Chain, Family, NftKey, NftValue, Rule, Verdict};

fn view<'a>(plan: &'a HostPlan, current: &'a HostSnapshot, rules: &'a ChainRules) -> PlanView<'a> {
    PlanView {
        plan,
        current,
        nft_rules: rules,
    }
}

fn small_plan() -> HostPlan {
    let mut plan = HostPlan::default();
    plan.nft
        .creates
        .insert(NftKey::Table(Family::Ip), NftValue::Table);
    plan.nft.creates.insert(
        NftKey::chain(Family::Ip, "services"),
        NftValue::Chain(Chain::regular(vec![Rule::verdict(Verdict::Accept)])),
    );
    plan.nft.deletes.insert(NftKey::chain(Family::Ip6, "old"));
    plan
}

#[test]
fn an_empty_plan_says_no_changes() {
    let (plan, snap, rules) = (
        HostPlan::default(),
        HostSnapshot::default(),
        ChainRules::new(),
    );
    let v = view(&plan, &snap, &rules);
    assert_eq!(v.human(), "No changes.\n");
    let j = v.json().unwrap();
    assert_eq!(j["changes"], json!(false));
    assert_eq!(
        j["nftables"],
        json!([{"metainfo": {"json_schema_version": 1}}])
    );
    assert_eq!(
        j["summary"]["nftables"],
        json!({"create": 0, "update": 0, "delete": 0})
    );
}

#[test]
fn the_text_ends_with_a_summary_per_facet() {
    let (plan, snap, rules) = (small_plan(), HostSnapshot::default(), ChainRules::new());
    let text = view(&plan, &snap, &rules).human();
    assert_eq!(
        text,
        "nftables: table ip kroute
  add table ip kroute
  add chain ip kroute services
    + accept

nftables: table ip6 kroute
  delete chain ip6 kroute old

Plan: nftables: 2 to create, 0 to update, 1 to delete.
"
    );
}

#[test]
fn the_json_is_an_nft_document_with_kroute_s_summary() {
    let (plan, snap, rules) = (small_plan(), HostSnapshot::default(), ChainRules::new());
    let j = view(&plan, &snap, &rules).json().unwrap();
    assert_eq!(j["changes"], json!(true));
    let cmds = j["nftables"].as_array().unwrap();
    assert_eq!(cmds[0], json!({"metainfo": {"json_schema_version": 1}}));
    assert_eq!(
        cmds[1],
        json!({"add": {"table": {"family": "ip", "name": "kroute"}}})
    );
    assert!(
        cmds.iter().any(|c| c
            == &json!({"delete": {"chain": {"family": "ip6", "table": "kroute", "name": "old"}}}))
    );
    assert_eq!(
        j["summary"]["nftables"],
        json!({"create": 2, "update": 0, "delete": 1})
    );
    // Every facet is in the summary.
    let summary = j["summary"].as_object().unwrap();
    let names: Vec<&str> = summary.keys().map(String::as_str).collect();
    let mut want = crate::host::facet::facet_names();
    want.sort_unstable();
    assert_eq!(names, want);
    assert_eq!(
        j["summary"]["routes"],
        json!({"create": 0, "update": 0, "delete": 0})
    );
    // Facets without changes get no key of their own.
    assert!(j.get("routes").is_none());
}

#[test]
fn other_facets_list_their_keys_until_they_get_a_renderer() {
    use crate::host::addr::{AddrKey, AddrValue};
    let mut plan = HostPlan::default();
    let key = AddrKey {
        addr: "10.96.0.10".parse().unwrap(),
        prefix_len: 32,
    };
    plan.addresses.creates.insert(key, AddrValue);
    let (snap, rules) = (HostSnapshot::default(), ChainRules::new());
    let v = view(&plan, &snap, &rules);
    assert_eq!(
        v.human(),
        "addresses:
  add address 10.96.0.10/32 dev kroute0

Plan: addresses: 1 to create, 0 to update, 0 to delete.
"
    );
    let j = v.json().unwrap();
    assert_eq!(
        j["addresses"],
        json!({"create": ["address 10.96.0.10/32 dev kroute0"], "update": [], "delete": []})
    );
    assert_eq!(j["nftables"].as_array().unwrap().len(), 1);
}
