//! How `kroute plan` shows a plan: in nft syntax for people, or as JSON for
//! tools (the schema is documented in docs/cli.md, `kroute plan`).
//!
//! A [`PlanView`] is a plan with what it was made against (the snapshot,
//! and the rules of the host's chains), so that updates show the value the
//! host has now. Each facet renders its own part: nftables in
//! `nft_human` (text) and through `linux::nft_json` (JSON: nft's own
//! libnftables schema); the other facets, which no host applies yet, as
//! one line per key. A facet that gets a renderer of its own adds it here.

mod nft_human;
mod values_human;

use std::fmt::Write;

use serde_json::{Value, json};

use super::HostError;
use super::facet::{Facet, FacetVisitor, NftFacet, for_each_facet};
use super::linux::nft_json::ops_json;
use super::linux::nft_rules_read::ChainRules;
use super::linux::nft_txn::{self, TxnInput};
use super::plan::{HostPlan, HostSnapshot, OpCounts};

/// The version of libnftables-json the `nftables` array follows.
pub const NFT_JSON_SCHEMA_VERSION: u32 = 1;

/// A plan and what it was made against.
pub struct PlanView<'a> {
    pub plan: &'a HostPlan,
    /// The snapshot the plan was made against.
    pub current: &'a HostSnapshot,
    /// The rules of the host's chains in that snapshot (empty when not read:
    /// updated chains then show only their new rules).
    pub nft_rules: &'a ChainRules,
}

impl<'a> PlanView<'a> {
    /// The plan as text: a section per facet and table, then a summary
    /// line; "No changes." when there are none.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let nft_ctx = nft_human::NftContext {
            current: &self.current.nft,
            rules: self.nft_rules,
        };
        nft_human::render(&mut out, &self.plan.nft, &nft_ctx);
        for_each_facet(&mut OtherFacets {
            plan: self.plan,
            each: |name: &str, keys: &KeyTexts| keys_human(&mut out, name, keys),
        });
        let changed: Vec<String> = self
            .plan
            .counts()
            .into_iter()
            .filter(|(_, c)| *c != OpCounts::default())
            .map(|(name, c)| {
                format!(
                    "{name}: {} to create, {} to update, {} to delete",
                    c.creates, c.updates, c.deletes
                )
            })
            .collect();
        if changed.is_empty() {
            return "No changes.\n".to_string();
        }
        let _ = writeln!(out, "Plan: {}.", changed.join("; "));
        out
    }

    /// The plan as JSON: `nftables` holds the transaction `kroute run`
    /// would send, as libnftables-json commands (`nft -j -f` reads the whole
    /// document); `changes` and `summary` are kroute's; every other facet
    /// with changes gets a key of its own.
    pub fn json(&self) -> Result<Value, HostError> {
        let txn = nft_txn::build(&TxnInput {
            plan: &self.plan.nft,
            current: &self.current.nft,
            defer_chain_deletes: false,
            due_chain_deletes: &[],
        })?;
        let mut nftables =
            vec![json!({"metainfo": {"json_schema_version": NFT_JSON_SCHEMA_VERSION}})];
        nftables.extend(ops_json(&txn.ops));
        let summary: serde_json::Map<String, Value> = self
            .plan
            .counts()
            .into_iter()
            .map(|(name, c)| {
                let counts = json!({"create": c.creates, "update": c.updates, "delete": c.deletes});
                (name.to_string(), counts)
            })
            .collect();
        let mut doc = json!({
            "nftables": nftables,
            "changes": !self.plan.is_empty(),
            "summary": summary,
        });
        for_each_facet(&mut OtherFacets {
            plan: self.plan,
            each: |name: &str, keys: &KeyTexts| {
                doc[name] = json!({
                    "create": keys.creates,
                    "update": keys.updates,
                    "delete": keys.deletes,
                });
            },
        });
        Ok(doc)
    }
}

/// The keys a facet's plan changes, as text (`Display`).
struct KeyTexts {
    creates: Vec<String>,
    updates: Vec<String>,
    deletes: Vec<String>,
    /// The new values of `creates` and `updates`, in order, for people.
    values: Vec<String>,
}

/// Calls `each` for every facet without a renderer of its own (all but
/// nftables) that has changes.
struct OtherFacets<'a, E> {
    plan: &'a HostPlan,
    each: E,
}

impl<E: FnMut(&str, &KeyTexts)> FacetVisitor for OtherFacets<'_, E> {
    fn visit<F: Facet>(&mut self) {
        let part = F::part(self.plan);
        if F::NAME == NftFacet::NAME || part.is_empty() {
            return;
        }
        let texts = KeyTexts {
            creates: part.creates.keys().map(ToString::to_string).collect(),
            updates: part.updates.keys().map(ToString::to_string).collect(),
            deletes: part.deletes.iter().map(ToString::to_string).collect(),
            values: (part.creates.values().chain(part.updates.values()))
                .map(values_human::summary)
                .collect(),
        };
        (self.each)(F::NAME, &texts);
    }
}

/// A facet without a text renderer of its own: one line per key, with the
/// new value's fields that are set.
fn keys_human(out: &mut String, name: &str, keys: &KeyTexts) {
    let _ = writeln!(out, "{name}:");
    let mut values = keys.values.iter();
    for (verb, list) in [
        ("add", &keys.creates),
        ("update", &keys.updates),
        ("delete", &keys.deletes),
    ] {
        for k in list {
            let value = if verb == "delete" {
                None
            } else {
                values.next()
            };
            match value.filter(|v| !v.is_empty()) {
                Some(v) => writeln!(out, "  {verb} {k}: {v}"),
                None => writeln!(out, "  {verb} {k}"),
            }
            .ok();
        }
    }
    out.push('\n');
}

#[cfg(test)]
#[path = "plan_display_tests.rs"]
mod tests;
