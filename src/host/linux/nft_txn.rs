//! One nftables transaction as an ordered list of operations, independent of
//! its encoding.
//!
//! This is the boundary between "what to change, in which order" (here) and
//! "how to tell the kernel" (`nft_script` renders the ops as an `nft -f -`
//! script). A direct nf_tables netlink encoder would take the same `NftOp`
//! list and emit one netlink batch; nothing here knows about text.
//!
//! The order is one the kernel accepts in a single transaction: objects exist
//! before anything refers to them, and references are gone before the objects
//! they point at are deleted.

use std::collections::{BTreeMap, BTreeSet};

use crate::host::HostError;
use crate::host::nft::{BaseHook, Chain, ElementKey, Family, NftKey, NftValue, Rule, SetDef};
use crate::host::nft::{SetKeyType, Verdict};
use crate::host::plan::FacetPlan;

/// One operation of a transaction. Borrowed from the plan and the mirror.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NftOp<'a> {
    AddTable(Family),
    DeleteTable(Family),
    AddSet {
        family: Family,
        name: &'a str,
        def: &'a SetDef,
    },
    DeleteSet {
        family: Family,
        name: &'a str,
    },
    /// Declares a chain (a no-op if it exists with the same hook).
    AddChain {
        family: Family,
        name: &'a str,
        hook: Option<&'a BaseHook>,
    },
    FlushChain {
        family: Family,
        name: &'a str,
    },
    /// Deletes an (already flushed) chain.
    DeleteChain {
        family: Family,
        name: &'a str,
    },
    /// Appends a rule; `comment` carries the chain fingerprint on its first rule.
    AddRule {
        family: Family,
        chain: &'a str,
        rule: &'a Rule,
        comment: Option<&'a str>,
    },
    AddElement {
        family: Family,
        set: &'a str,
        key: &'a ElementKey,
        value: Option<&'a Verdict>,
    },
    DeleteElement {
        family: Family,
        set: &'a str,
        key: &'a ElementKey,
    },
}

/// What a transaction is built from.
#[derive(Clone, Copy, Debug)]
pub struct TxnInput<'a> {
    pub plan: &'a FacetPlan<NftKey, NftValue>,
    /// What the kernel holds now (the mirror): needed to know whether an
    /// updated chain was a base chain and which elements a replaced set had.
    pub current: &'a BTreeMap<NftKey, NftValue>,
    /// Kernels before 6.2 can see a regular chain as still referenced by a
    /// map element removed in the same transaction: flush such chains now and
    /// leave their delete to a later transaction.
    pub defer_chain_deletes: bool,
    /// Chains an earlier transaction flushed and deferred, to delete now.
    pub due_chain_deletes: &'a [(Family, String)],
}

/// A built transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Txn<'a> {
    pub ops: Vec<NftOp<'a>>,
    /// Regular chains flushed but not deleted (`defer_chain_deletes`).
    pub deferred: Vec<(Family, &'a str)>,
}

/// Orders a plan into one transaction:
/// tables; new sets; new chains declared; updated chains flushed (base
/// chains are deleted and re-declared, which also resets their type and
/// policy); replaced sets; rules of new and updated chains; element deletes;
/// element adds (an update is a delete plus an add); chain deletes (all
/// flushed before any is deleted, so chains that jump to each other go
/// together); set deletes; table deletes. Objects inside a table being
/// deleted are not deleted one by one.
pub fn build<'a>(input: &TxnInput<'a>) -> Result<Txn<'a>, HostError> {
    let plan = input.plan;
    let dropped_tables: BTreeSet<Family> = plan
        .deletes
        .iter()
        .filter_map(|k| match k {
            NftKey::Table(f) => Some(*f),
            _ => None,
        })
        .collect();
    let survives = |family: &Family| !dropped_tables.contains(family);

    let mut ops = Vec::new();
    let mut deferred = Vec::new();

    // Tables.
    for (key, value) in plan.creates.iter().chain(&plan.updates) {
        if let NftKey::Table(family) = key {
            expect_table(key, value)?;
            ops.push(NftOp::AddTable(*family));
        }
    }

    // Sets: created ones now; updated ones are replaced after the chains
    // that may refer to them were flushed. An update of a set the mirror
    // does not know is a create.
    let mut replaced_sets: BTreeSet<(Family, &str)> = BTreeSet::new();
    let mut set_adds = Vec::new();
    for (key, value) in &plan.creates {
        if let NftKey::Set { family, name } = key {
            set_adds.push(NftOp::AddSet {
                family: *family,
                name,
                def: expect_set(key, value)?,
            });
        }
    }
    let mut set_replaces = Vec::new();
    for (key, value) in &plan.updates {
        if let NftKey::Set { family, name } = key {
            let def = expect_set(key, value)?;
            if input.current.contains_key(key) {
                replaced_sets.insert((*family, name));
                set_replaces.push(NftOp::DeleteSet {
                    family: *family,
                    name,
                });
            }
            set_replaces.push(NftOp::AddSet {
                family: *family,
                name,
                def,
            });
        }
    }
    ops.extend(set_adds);

    // Chains: declare every new one before any rule refers to it.
    let mut rewritten: Vec<(Family, &str, &Chain)> = Vec::new();
    let mut redeclared = Vec::new();
    let mut flushes = Vec::new();
    for (key, value) in &plan.creates {
        if let NftKey::Chain { family, name } = key {
            let chain = expect_chain(key, value)?;
            ops.push(NftOp::AddChain {
                family: *family,
                name,
                hook: chain.hook.as_ref(),
            });
            rewritten.push((*family, name, chain));
        }
    }
    for (key, value) in &plan.updates {
        if let NftKey::Chain { family, name } = key {
            let chain = expect_chain(key, value)?;
            let family = *family;
            let declare = NftOp::AddChain {
                family,
                name,
                hook: chain.hook.as_ref(),
            };
            match input.current.get(key) {
                None => ops.push(declare),
                Some(old) => {
                    flushes.push(NftOp::FlushChain { family, name });
                    // A base chain cannot be jumped to, so deleting and
                    // re-declaring it is always possible; it is the only way
                    // to change its hook, type or policy.
                    let was_base = matches!(old, NftValue::Chain(c) if c.hook.is_some());
                    if was_base || chain.hook.is_some() {
                        flushes.push(NftOp::DeleteChain { family, name });
                        redeclared.push(declare);
                    }
                }
            }
            rewritten.push((family, name, chain));
        }
    }
    ops.extend(flushes);
    ops.extend(set_replaces);
    ops.extend(redeclared);
    for (family, name, chain) in &rewritten {
        for (i, rule) in chain.rules.iter().enumerate() {
            ops.push(NftOp::AddRule {
                family: *family,
                chain: name,
                rule,
                comment: if i == 0 {
                    chain.digest.fingerprint.as_deref()
                } else {
                    None
                },
            });
        }
    }

    // Elements. A set being deleted or replaced takes its elements with it.
    let deleted_sets: BTreeSet<(Family, &str)> = plan
        .deletes
        .iter()
        .filter_map(|k| match k {
            NftKey::Set { family, name } => Some((*family, name.as_str())),
            _ => None,
        })
        .collect();
    let element_gone_with_set =
        |family: &Family, set: &str| deleted_sets.contains(&(*family, set)) || !survives(family);
    for key in plan
        .deletes
        .iter()
        .chain(plan.updates.keys())
        .filter(|k| matches!(k, NftKey::Element { .. }))
    {
        let NftKey::Element { family, set, key } = key else {
            continue;
        };
        if element_gone_with_set(family, set) || replaced_sets.contains(&(*family, set.as_str())) {
            continue;
        }
        ops.push(NftOp::DeleteElement {
            family: *family,
            set,
            key,
        });
    }
    for (k, value) in plan.creates.iter().chain(&plan.updates) {
        if let NftKey::Element { family, set, key } = k {
            ops.push(NftOp::AddElement {
                family: *family,
                set,
                key,
                value: expect_element(k, value)?,
            });
        }
    }
    // A replaced set comes back empty: re-add what it held and the plan keeps.
    for (k, value) in input.current {
        if let NftKey::Element { family, set, key } = k
            && replaced_sets.contains(&(*family, set.as_str()))
            && !plan.deletes.contains(k)
            && !plan.creates.contains_key(k)
            && !plan.updates.contains_key(k)
        {
            ops.push(NftOp::AddElement {
                family: *family,
                set,
                key,
                value: expect_element(k, value)?,
            });
        }
    }

    // Chains.
    let mut chain_deletes = Vec::new();
    for key in &plan.deletes {
        if let NftKey::Chain { family, name } = key
            && survives(family)
        {
            ops.push(NftOp::FlushChain {
                family: *family,
                name,
            });
            let is_base =
                matches!(input.current.get(key), Some(NftValue::Chain(c)) if c.hook.is_some());
            if input.defer_chain_deletes && !is_base {
                deferred.push((*family, name.as_str()));
            } else {
                chain_deletes.push(NftOp::DeleteChain {
                    family: *family,
                    name,
                });
            }
        }
    }
    for (family, name) in input.due_chain_deletes {
        let key = NftKey::chain(*family, name.clone());
        if survives(family) && !plan.creates.contains_key(&key) && !plan.updates.contains_key(&key)
        {
            // Flushed already, but a rule may have been added by hand since.
            ops.push(NftOp::FlushChain {
                family: *family,
                name,
            });
            chain_deletes.push(NftOp::DeleteChain {
                family: *family,
                name,
            });
        }
    }
    ops.extend(chain_deletes);

    // Sets, then tables.
    for (family, name) in &deleted_sets {
        if survives(family) {
            ops.push(NftOp::DeleteSet {
                family: *family,
                name,
            });
        }
    }
    for family in &dropped_tables {
        ops.push(NftOp::DeleteTable(*family));
    }
    Ok(Txn { ops, deferred })
}

fn invalid(key: &NftKey, what: &str) -> HostError {
    HostError::InvalidPlan {
        message: format!("{key}: {what}"),
    }
}

fn expect_table(key: &NftKey, value: &NftValue) -> Result<(), HostError> {
    match value {
        NftValue::Table => Ok(()),
        _ => Err(invalid(key, "a table needs a table value")),
    }
}

fn expect_set<'a>(key: &NftKey, value: &'a NftValue) -> Result<&'a SetDef, HostError> {
    match value {
        NftValue::Set(def) if def.key == SetKeyType::Unknown => {
            Err(invalid(key, "cannot create a set of unknown type"))
        }
        NftValue::Set(def) => Ok(def),
        _ => Err(invalid(key, "a set needs a set value")),
    }
}

fn expect_chain<'a>(key: &NftKey, value: &'a NftValue) -> Result<&'a Chain, HostError> {
    match value {
        // A chain read back from the kernel has a digest but no rules: writing
        // it would silently empty the chain.
        NftValue::Chain(c) if c.rules.len() != c.digest.rule_count => {
            Err(invalid(key, "chain rules do not match its digest"))
        }
        NftValue::Chain(c) => Ok(c),
        _ => Err(invalid(key, "a chain needs a chain value")),
    }
}

fn expect_element<'a>(key: &NftKey, value: &'a NftValue) -> Result<Option<&'a Verdict>, HostError> {
    match value {
        NftValue::Element(v) => Ok(v.as_ref()),
        _ => Err(invalid(key, "an element needs an element value")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::nft::{ChainKind, Hook, Stmt};

    fn chain(rules: usize) -> NftValue {
        NftValue::Chain(Chain::regular(
            (0..rules).map(|_| Rule::verdict(Verdict::Accept)).collect(),
        ))
    }

    fn base_chain() -> NftValue {
        NftValue::Chain(Chain::new(
            Some(BaseHook {
                kind: ChainKind::Nat,
                hook: Hook::Output,
                priority: -100,
            }),
            vec![Rule::verdict(Verdict::Jump("services".into()))],
        ))
    }

    fn addr_set() -> NftValue {
        NftValue::Set(SetDef::new(SetKeyType::Addr, false, false))
    }

    fn elem(set: &str, last: u8) -> NftKey {
        NftKey::element(
            Family::Ip,
            set,
            ElementKey::Net(ipnet::IpNet::from(std::net::IpAddr::from([
                10, 96, 0, last,
            ]))),
        )
    }

    fn build_ops<'a>(
        plan: &'a FacetPlan<NftKey, NftValue>,
        current: &'a BTreeMap<NftKey, NftValue>,
    ) -> Vec<NftOp<'a>> {
        build(&TxnInput {
            plan,
            current,
            defer_chain_deletes: false,
            due_chain_deletes: &[],
        })
        .unwrap()
        .ops
    }

    fn position(ops: &[NftOp], wanted: &NftOp) -> usize {
        ops.iter()
            .position(|op| op == wanted)
            .unwrap_or_else(|| panic!("{wanted:?} missing from {ops:#?}"))
    }

    #[test]
    fn objects_are_declared_before_anything_refers_to_them() {
        let mut plan = FacetPlan::default();
        plan.creates
            .insert(NftKey::Table(Family::Ip), NftValue::Table);
        plan.creates
            .insert(NftKey::set(Family::Ip, "ips"), addr_set());
        plan.creates.insert(
            NftKey::chain(Family::Ip, "a"),
            NftValue::Chain(Chain::regular(vec![Rule::verdict(Verdict::Jump(
                "b".into(),
            ))])),
        );
        plan.creates
            .insert(NftKey::chain(Family::Ip, "b"), chain(1));
        plan.creates.insert(elem("ips", 1), NftValue::Element(None));
        let current = BTreeMap::new();
        let ops = build_ops(&plan, &current);
        let table = position(&ops, &NftOp::AddTable(Family::Ip));
        let set = ops
            .iter()
            .position(|o| matches!(o, NftOp::AddSet { .. }))
            .unwrap();
        let decl_b = position(
            &ops,
            &NftOp::AddChain {
                family: Family::Ip,
                name: "b",
                hook: None,
            },
        );
        let first_rule = ops
            .iter()
            .position(|o| matches!(o, NftOp::AddRule { .. }))
            .unwrap();
        let element = ops
            .iter()
            .position(|o| matches!(o, NftOp::AddElement { .. }))
            .unwrap();
        assert!(table < set && set < decl_b && decl_b < first_rule && first_rule < element);
    }

    #[test]
    fn the_fingerprint_goes_on_the_first_rule_only() {
        let mut plan = FacetPlan::default();
        let value = chain(3);
        let NftValue::Chain(c) = &value else {
            unreachable!()
        };
        let fp = c.digest.fingerprint.clone().unwrap();
        plan.creates.insert(NftKey::chain(Family::Ip6, "c"), value);
        let current = BTreeMap::new();
        let comments: Vec<Option<&str>> = build_ops(&plan, &current)
            .into_iter()
            .filter_map(|o| match o {
                NftOp::AddRule { comment, .. } => Some(comment),
                _ => None,
            })
            .collect();
        assert_eq!(comments, vec![Some(fp.as_str()), None, None]);
    }

    #[test]
    fn a_regular_chain_update_is_a_flush_and_a_base_chain_update_a_redeclare() {
        let mut current = BTreeMap::new();
        current.insert(NftKey::chain(Family::Ip, "reg"), chain(1));
        current.insert(NftKey::chain(Family::Ip, "base"), base_chain());
        let mut plan = FacetPlan::default();
        plan.updates
            .insert(NftKey::chain(Family::Ip, "reg"), chain(2));
        plan.updates
            .insert(NftKey::chain(Family::Ip, "base"), base_chain());
        let ops = build_ops(&plan, &current);
        let del = |name| NftOp::DeleteChain {
            family: Family::Ip,
            name,
        };
        assert!(!ops.contains(&del("reg")));
        position(
            &ops,
            &NftOp::FlushChain {
                family: Family::Ip,
                name: "reg",
            },
        );
        let deleted = position(&ops, &del("base"));
        let redeclared = ops
            .iter()
            .position(|o| {
                matches!(
                    o,
                    NftOp::AddChain {
                        name: "base",
                        hook: Some(_),
                        ..
                    }
                )
            })
            .unwrap();
        assert!(deleted < redeclared);
    }

    #[test]
    fn an_update_of_an_unknown_chain_is_a_create() {
        let mut plan = FacetPlan::default();
        plan.updates
            .insert(NftKey::chain(Family::Ip, "x"), chain(1));
        let current = BTreeMap::new();
        let ops = build_ops(&plan, &current);
        assert!(matches!(ops[0], NftOp::AddChain { name: "x", .. }));
        assert!(!ops.iter().any(|o| matches!(o, NftOp::FlushChain { .. })));
    }

    #[test]
    fn element_update_is_delete_then_add_and_deletes_precede_chain_deletes() {
        let mut current = BTreeMap::new();
        current.insert(NftKey::chain(Family::Ip, "old"), chain(1));
        current.insert(
            elem("m", 1),
            NftValue::Element(Some(Verdict::Goto("old".into()))),
        );
        let mut plan = FacetPlan::default();
        plan.updates
            .insert(elem("m", 1), NftValue::Element(Some(Verdict::Drop)));
        plan.deletes.insert(NftKey::chain(Family::Ip, "old"));
        let ops = build_ops(&plan, &current);
        let key = ElementKey::Net(ipnet::IpNet::from(std::net::IpAddr::from([10, 96, 0, 1])));
        let del = position(
            &ops,
            &NftOp::DeleteElement {
                family: Family::Ip,
                set: "m",
                key: &key,
            },
        );
        let add = position(
            &ops,
            &NftOp::AddElement {
                family: Family::Ip,
                set: "m",
                key: &key,
                value: Some(&Verdict::Drop),
            },
        );
        let flush = position(
            &ops,
            &NftOp::FlushChain {
                family: Family::Ip,
                name: "old",
            },
        );
        let delete = position(
            &ops,
            &NftOp::DeleteChain {
                family: Family::Ip,
                name: "old",
            },
        );
        assert!(del < add && add < flush && flush < delete);
    }

    #[test]
    fn nothing_inside_a_deleted_table_is_deleted_separately() {
        let mut plan = FacetPlan::default();
        plan.deletes.insert(NftKey::Table(Family::Ip6));
        plan.deletes.insert(NftKey::chain(Family::Ip6, "c"));
        plan.deletes.insert(NftKey::set(Family::Ip6, "s"));
        plan.deletes.insert(NftKey::element(
            Family::Ip6,
            "s",
            ElementKey::Unknown("x".into()),
        ));
        plan.deletes.insert(NftKey::chain(Family::Ip, "kept-table"));
        let current = BTreeMap::new();
        let ops = build_ops(&plan, &current);
        assert_eq!(
            ops,
            vec![
                NftOp::FlushChain {
                    family: Family::Ip,
                    name: "kept-table"
                },
                NftOp::DeleteChain {
                    family: Family::Ip,
                    name: "kept-table"
                },
                NftOp::DeleteTable(Family::Ip6),
            ]
        );
    }

    #[test]
    fn elements_of_a_deleted_set_are_not_deleted_one_by_one() {
        let mut plan = FacetPlan::default();
        plan.deletes.insert(NftKey::set(Family::Ip, "s"));
        plan.deletes.insert(elem("s", 1));
        let current = BTreeMap::new();
        let ops = build_ops(&plan, &current);
        assert_eq!(
            ops,
            vec![NftOp::DeleteSet {
                family: Family::Ip,
                name: "s"
            }]
        );
    }

    #[test]
    fn a_replaced_set_gets_back_the_elements_the_plan_keeps() {
        let mut current = BTreeMap::new();
        current.insert(NftKey::set(Family::Ip, "s"), addr_set());
        current.insert(elem("s", 1), NftValue::Element(None));
        current.insert(elem("s", 2), NftValue::Element(None));
        current.insert(elem("other", 3), NftValue::Element(None));
        let mut plan = FacetPlan::default();
        plan.updates.insert(
            NftKey::set(Family::Ip, "s"),
            NftValue::Set(SetDef::new(SetKeyType::Addr, false, true)),
        );
        plan.deletes.insert(elem("s", 2));
        let ops = build_ops(&plan, &current);
        let NftKey::Element { key: kept, .. } = elem("s", 1) else {
            unreachable!()
        };
        assert_eq!(
            ops[0],
            NftOp::DeleteSet {
                family: Family::Ip,
                name: "s"
            }
        );
        assert!(matches!(ops[1], NftOp::AddSet { name: "s", .. }));
        assert_eq!(
            ops[2..],
            [NftOp::AddElement {
                family: Family::Ip,
                set: "s",
                key: &kept,
                value: None
            }]
        );
    }

    #[test]
    fn deferred_deletes_flush_regular_chains_and_delete_due_ones() {
        let mut current = BTreeMap::new();
        current.insert(NftKey::chain(Family::Ip, "reg"), chain(1));
        current.insert(NftKey::chain(Family::Ip, "base"), base_chain());
        let mut plan = FacetPlan::default();
        plan.deletes.insert(NftKey::chain(Family::Ip, "reg"));
        plan.deletes.insert(NftKey::chain(Family::Ip, "base"));
        plan.creates
            .insert(NftKey::chain(Family::Ip, "back"), chain(1));
        let due = vec![
            (Family::Ip, "due".to_string()),
            (Family::Ip, "back".to_string()),
        ];
        let txn = build(&TxnInput {
            plan: &plan,
            current: &current,
            defer_chain_deletes: true,
            due_chain_deletes: &due,
        })
        .unwrap();
        assert_eq!(txn.deferred, vec![(Family::Ip, "reg")]);
        let deleted: Vec<&str> = txn
            .ops
            .iter()
            .filter_map(|o| match o {
                NftOp::DeleteChain { name, .. } => Some(*name),
                _ => None,
            })
            .collect();
        assert_eq!(deleted, vec!["base", "due"]);
    }

    #[test]
    fn inconsistent_plans_are_refused() {
        let current = BTreeMap::new();
        let bad = [
            (NftKey::chain(Family::Ip, "c"), NftValue::Table),
            (
                NftKey::chain(Family::Ip, "c"),
                NftValue::Chain(Chain::read_back(
                    None,
                    crate::host::nft::ChainDigest {
                        rule_count: 2,
                        fingerprint: Some("kroute:1".into()),
                    },
                )),
            ),
            (
                NftKey::set(Family::Ip, "s"),
                NftValue::Set(SetDef::new(SetKeyType::Unknown, false, false)),
            ),
            (elem("s", 1), NftValue::Table),
        ];
        for (key, value) in bad {
            let mut plan = FacetPlan::default();
            plan.creates.insert(key, value);
            let res = build(&TxnInput {
                plan: &plan,
                current: &current,
                defer_chain_deletes: false,
                due_chain_deletes: &[],
            });
            assert!(matches!(res, Err(HostError::InvalidPlan { .. })), "{res:?}");
        }
    }

    #[test]
    fn rules_keep_their_statements() {
        let rule = Rule::new(vec![Stmt::Reject]);
        let mut plan = FacetPlan::default();
        plan.creates.insert(
            NftKey::chain(Family::Ip, "r"),
            NftValue::Chain(Chain::regular(vec![rule.clone()])),
        );
        let current = BTreeMap::new();
        let ops = build_ops(&plan, &current);
        assert!(
            ops.iter()
                .any(|o| matches!(o, NftOp::AddRule { rule: r, .. } if **r == rule))
        );
    }
}
