//! How `kroute plan` shows a plan: one line per operation for humans, or JSON.

use std::fmt::Write;

use serde_json::{Value, json};

use super::plan::{FacetPlan, HostPlan};

/// Human-readable plan: a summary line per non-empty facet, then `+` create,
/// `~` update, `-` delete lines. "No changes." when empty.
pub fn render_human(plan: &HostPlan) -> String {
    let mut out = String::new();
    facet_human(&mut out, "nftables", &plan.nft);
    facet_human(&mut out, "addresses", &plan.addresses);
    facet_human(&mut out, "routes", &plan.routes);
    facet_human(&mut out, "ipvs", &plan.ipvs);
    facet_human(&mut out, "bgp", &plan.bgp);
    if out.is_empty() {
        out.push_str("No changes.\n");
    }
    out
}

fn facet_human<K, V: Clone>(out: &mut String, name: &str, plan: &FacetPlan<K, V>)
where
    K: Ord + Clone + Describe,
{
    if plan.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "{name}: {} to create, {} to update, {} to delete",
        plan.creates.len(),
        plan.updates.len(),
        plan.deletes.len()
    );
    for k in plan.creates.keys() {
        let _ = writeln!(out, "  + {}", k.describe());
    }
    for k in plan.updates.keys() {
        let _ = writeln!(out, "  ~ {}", k.describe());
    }
    for k in &plan.deletes {
        let _ = writeln!(out, "  - {}", k.describe());
    }
}

/// The plan as JSON: per facet, `create`/`update`/`delete` lists of
/// `{"object": text, "key": ..., "value": ...}`.
pub fn render_json(plan: &HostPlan) -> Value {
    json!({
        "changes": !plan.is_empty(),
        "nftables": facet_json(&plan.nft),
        "addresses": facet_json(&plan.addresses),
        "routes": facet_json(&plan.routes),
        "ipvs": facet_json(&plan.ipvs),
        "bgp": facet_json(&plan.bgp),
    })
}

fn facet_json<K, V>(plan: &FacetPlan<K, V>) -> Value
where
    K: Ord + Clone + serde::Serialize + Describe,
    V: Clone + serde::Serialize,
{
    let entry = |k: &K, v: Option<&V>| {
        let mut e = json!({"object": k.describe(), "key": k});
        if let Some(v) = v {
            e["value"] = json!(v);
        }
        e
    };
    json!({
        "create": plan.creates.iter().map(|(k, v)| entry(k, Some(v))).collect::<Vec<_>>(),
        "update": plan.updates.iter().map(|(k, v)| entry(k, Some(v))).collect::<Vec<_>>(),
        "delete": plan.deletes.iter().map(|k| entry(k, None)).collect::<Vec<_>>(),
    })
}

/// One-line description of an artifact key.
pub trait Describe {
    fn describe(&self) -> String;
}

impl Describe for super::nft::NftKey {
    fn describe(&self) -> String {
        self.to_string()
    }
}

impl Describe for super::addr::AddrKey {
    fn describe(&self) -> String {
        format!(
            "address {}/{} dev {}",
            self.addr,
            self.prefix_len,
            super::addr::DUMMY_INTERFACE
        )
    }
}

impl Describe for super::route::RouteKey {
    fn describe(&self) -> String {
        format!("route {} table {}", self.dst, self.table)
    }
}

impl Describe for super::ipvs::IpvsKey {
    fn describe(&self) -> String {
        format!("{self:?}")
    }
}

impl Describe for crate::bgp::OriginatedRoute {
    fn describe(&self) -> String {
        format!("bgp route {}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::nft::{Family, NftKey, NftValue};

    #[test]
    fn empty_plan_says_no_changes() {
        assert_eq!(render_human(&HostPlan::default()), "No changes.\n");
        assert_eq!(render_json(&HostPlan::default())["changes"], json!(false));
    }

    #[test]
    fn operations_are_listed_with_their_sign() {
        let mut plan = HostPlan::default();
        plan.nft
            .creates
            .insert(NftKey::Table(Family::Ip), NftValue::Table);
        plan.nft.deletes.insert(NftKey::chain(Family::Ip6, "old"));
        let text = render_human(&plan);
        assert!(
            text.starts_with("nftables: 1 to create, 0 to update, 1 to delete\n"),
            "{text}"
        );
        assert!(text.contains("  + table ip kroute\n"));
        assert!(text.contains("  - chain ip6 kroute old\n"));
        let j = render_json(&plan);
        assert_eq!(j["changes"], json!(true));
        assert_eq!(
            j["nftables"]["create"][0]["object"],
            json!("table ip kroute")
        );
        assert_eq!(
            j["nftables"]["delete"][0]["object"],
            json!("chain ip6 kroute old")
        );
    }
}
