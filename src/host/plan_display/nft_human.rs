//! The nftables part of `kroute plan`'s text output: each change as nft
//! spells it, per table.
//!
//! Every line comes from the one nft-syntax renderer (`nft_script`): a
//! created set or map as its `add set` / `add map` command, a created chain
//! with all its rules (`+`), an updated chain as its rules against those the
//! host has now (`-` removed, `+` added, unchanged ones indented), an
//! element with its verdict, a deleted chain with the rules it loses. The
//! `kroute:` fingerprint comment on each chain's first rule is left out.
//! Within a table: creates, then updates, then deletes (elements, chains,
//! sets, the table), each in name order.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::host::linux::nft_rules_read::{ChainRules, CurrentRule};
use crate::host::linux::nft_script::{self, base_chain_body, element_text, rule_text, set_body};
use crate::host::linux::nft_txn::NftOp;
use crate::host::nft::{Chain, Family, Match, NftKey, NftValue, Rule, SetDef, Stmt, TABLE};
use crate::host::plan::FacetPlan;

/// What the nftables part of a plan is shown against.
pub struct NftContext<'a> {
    /// The host's objects when the plan was made.
    pub current: &'a BTreeMap<NftKey, NftValue>,
    /// The rules of the host's chains then (empty when not read).
    pub rules: &'a ChainRules,
}

/// Appends the plan's nftables changes, a section per table.
pub fn render(out: &mut String, plan: &FacetPlan<NftKey, NftValue>, ctx: &NftContext) {
    for family in Family::ALL {
        let mut lines = String::new();
        for (key, value) in plan.creates.iter().filter(|(k, _)| k.family() == family) {
            create(&mut lines, key, value);
        }
        for (key, value) in plan.updates.iter().filter(|(k, _)| k.family() == family) {
            update(&mut lines, key, value, ctx);
        }
        let deletes = plan.deletes.iter().filter(|k| k.family() == family);
        let mut deletes: Vec<&NftKey> = deletes.collect();
        deletes.sort_by_key(|k| std::cmp::Reverse(kind_rank(k)));
        for key in deletes {
            delete(&mut lines, key, ctx);
        }
        if !lines.is_empty() {
            let _ = writeln!(out, "nftables: table {family} {TABLE}");
            out.push_str(&lines);
            out.push('\n');
        }
    }
}

/// Table, sets, chains, elements: the order objects are created in.
fn kind_rank(key: &NftKey) -> u8 {
    match key {
        NftKey::Table(_) => 0,
        NftKey::Set { .. } => 1,
        NftKey::Chain { .. } => 2,
        NftKey::Element { .. } => 3,
    }
}

/// One command line, through the script renderer.
fn command(op: NftOp) -> String {
    nft_script::render(&[op]).trim_end().to_string()
}

fn line(out: &mut String, text: &str) {
    let _ = writeln!(out, "  {text}");
}

/// A rule line: `+`, `-` or ` ` (unchanged), under its chain.
fn rule_line(out: &mut String, mark: char, text: &str) {
    let _ = writeln!(out, "    {mark} {text}");
}

fn create(out: &mut String, key: &NftKey, value: &NftValue) {
    match (key, value) {
        (NftKey::Table(f), _) => line(out, &command(NftOp::AddTable(*f))),
        (NftKey::Set { family, name }, NftValue::Set(def)) => line(
            out,
            &command(NftOp::AddSet {
                family: *family,
                name,
                def,
            }),
        ),
        (NftKey::Chain { family, name }, NftValue::Chain(chain)) => {
            line(
                out,
                &command(NftOp::AddChain {
                    family: *family,
                    name,
                    hook: chain.hook.as_ref(),
                }),
            );
            for rule in &chain.rules {
                rule_line(out, '+', &rule_text(*family, rule));
            }
        }
        (NftKey::Element { family, set, key }, NftValue::Element(verdict)) => line(
            out,
            &command(NftOp::AddElement {
                family: *family,
                set,
                key,
                value: verdict.as_ref(),
            }),
        ),
        // A key with the wrong kind of value: the plan is refused on apply.
        _ => line(out, &format!("add {key} (invalid: {value:?})")),
    }
}

fn update(out: &mut String, key: &NftKey, value: &NftValue, ctx: &NftContext) {
    let current = ctx.current.get(key);
    match (key, value) {
        (NftKey::Set { family, name }, NftValue::Set(def)) => {
            line(
                out,
                &format!("update {} {family} {TABLE} {name}", set_kind(def)),
            );
            if let Some(NftValue::Set(old)) = current {
                rule_line(out, '-', &set_body(*family, old));
            }
            rule_line(out, '+', &set_body(*family, def));
        }
        (NftKey::Chain { family, name }, NftValue::Chain(chain)) => {
            line(out, &format!("update chain {family} {TABLE} {name}"));
            chain_diff(out, *family, current, ctx.rules.get(key), chain);
        }
        (NftKey::Element { family, set, key }, NftValue::Element(verdict)) => {
            line(
                out,
                &format!("update element {family} {TABLE} {set} {{ {key} }}"),
            );
            if let Some(NftValue::Element(old)) = current {
                rule_line(out, '-', &element_text(key, old.as_ref()));
            }
            rule_line(out, '+', &element_text(key, verdict.as_ref()));
        }
        _ => line(out, &format!("update {key} (invalid: {value:?})")),
    }
}

fn set_kind(def: &SetDef) -> &'static str {
    if def.verdict_map { "map" } else { "set" }
}

/// The hook line and the rules of an updated chain against the host's.
fn chain_diff(
    out: &mut String,
    family: Family,
    current: Option<&NftValue>,
    rules_now: Option<&Vec<CurrentRule>>,
    chain: &Chain,
) {
    let old_hook = match current {
        Some(NftValue::Chain(old)) => old.hook,
        _ => None,
    };
    if old_hook != chain.hook {
        if let Some(h) = &old_hook {
            rule_line(out, '-', &base_chain_body(h));
        }
        if let Some(h) = &chain.hook {
            rule_line(out, '+', &base_chain_body(h));
        }
    }
    let Some(rules_now) = rules_now else {
        let _ = writeln!(out, "    (its rules on the host now are unknown)");
        for rule in &chain.rules {
            rule_line(out, '+', &rule_text(family, rule));
        }
        return;
    };
    for (mark, text) in diff(family, rules_now, &chain.rules) {
        rule_line(out, mark, &text);
    }
}

/// A line diff of the host's rules against the wanted ones (longest common
/// subsequence; chains are short). Rules compare by meaning: the addresses
/// of an anonymous set in any order.
fn diff(family: Family, now: &[CurrentRule], want: &[Rule]) -> Vec<(char, String)> {
    let now_c: Vec<Option<Rule>> = now
        .iter()
        .map(|r| match r {
            CurrentRule::Known(rule) => Some(canonical(rule)),
            CurrentRule::Other(_) => None,
        })
        .collect();
    let want_c: Vec<Rule> = want.iter().map(canonical).collect();
    let same = |i: usize, j: usize| now_c[i].as_ref() == Some(&want_c[j]);
    let (n, m) = (now.len(), want.len());
    // lcs[i][j]: length of the longest common subsequence of now[i..], want[j..].
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if same(i, j) {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && same(i, j) {
            out.push((' ', rule_text(family, &want[j])));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(('-', now[i].text(family)));
            i += 1;
        } else {
            out.push(('+', rule_text(family, &want[j])));
            j += 1;
        }
    }
    out
}

/// The rule with the addresses of its anonymous sets sorted.
fn canonical(rule: &Rule) -> Rule {
    let stmts = rule.stmts.iter().map(|s| match s {
        Stmt::Match(m) => Stmt::Match(match m {
            Match::DaddrIn(n) => Match::DaddrIn(sorted(n)),
            Match::DaddrNotIn(n) => Match::DaddrNotIn(sorted(n)),
            Match::SaddrIn(n) => Match::SaddrIn(sorted(n)),
            Match::SaddrNotIn(n) => Match::SaddrNotIn(sorted(n)),
            other => other.clone(),
        }),
        other => other.clone(),
    });
    Rule::new(stmts.collect())
}

fn sorted(nets: &[ipnet::IpNet]) -> Vec<ipnet::IpNet> {
    let mut nets = nets.to_vec();
    nets.sort();
    nets
}

fn delete(out: &mut String, key: &NftKey, ctx: &NftContext) {
    let current = ctx.current.get(key);
    match key {
        NftKey::Table(f) => line(out, &command(NftOp::DeleteTable(*f))),
        NftKey::Set { family, name } => {
            let kind = match current {
                Some(NftValue::Set(def)) => set_kind(def),
                _ => "set",
            };
            line(out, &format!("delete {kind} {family} {TABLE} {name}"));
        }
        NftKey::Chain { family, name } => {
            line(
                out,
                &command(NftOp::DeleteChain {
                    family: *family,
                    name,
                }),
            );
            for rule in ctx.rules.get(key).into_iter().flatten() {
                rule_line(out, '-', &rule.text(*family));
            }
        }
        NftKey::Element { family, set, key } => {
            // With the verdict it had, so the reader sees what goes away.
            let verdict = match current {
                Some(NftValue::Element(v)) => v.as_ref(),
                _ => None,
            };
            line(
                out,
                &format!(
                    "delete element {family} {TABLE} {set} {{ {} }}",
                    element_text(key, verdict)
                ),
            );
        }
    }
}

#[cfg(test)]
#[path = "nft_human_tests.rs"]
mod tests;
