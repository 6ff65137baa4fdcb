//! Encodes a transaction (`nft_txn::NftOp`s) as one `nft -f -` script.
//!
//! `nft -f` applies a whole script as one kernel transaction, so a plan over
//! both families commits or fails as a unit. This text encoder is the only
//! place that knows nft's syntax; a direct nf_tables netlink encoder can
//! replace it by consuming the same `NftOp` list (see `nft_txn`).
//!
//! Syntax notes for nft 1.0.6: names are written bare (it refuses quoted
//! names), so they must be nft identifiers; one command per line.

use std::collections::BTreeMap;
use std::fmt::Write;

use ipnet::IpNet;

use super::nft_txn::{self, NftOp, TxnInput};
use crate::host::HostError;
use crate::host::nft::{
    BaseHook, ElementKey, Family, MASQUERADE_MARK, Match, NftKey, NftValue, Rule, SetDef,
    SetKeyType, Stmt, TABLE, Verdict, VmapKey,
};
use crate::host::plan::FacetPlan;

/// Orders and renders a plan (no deferred chain deletes): the script that
/// takes the kernel from `current` to `current` + `plan`.
pub fn render_plan(
    plan: &FacetPlan<NftKey, NftValue>,
    current: &BTreeMap<NftKey, NftValue>,
) -> Result<String, HostError> {
    let txn = nft_txn::build(&TxnInput {
        plan,
        current,
        defer_chain_deletes: false,
        due_chain_deletes: &[],
    })?;
    Ok(render(&txn.ops))
}

/// Renders operations, one command per line, in order.
pub fn render(ops: &[NftOp]) -> String {
    let mut out = String::new();
    for op in ops {
        render_op(op, &mut out);
        out.push('\n');
    }
    out
}

fn render_op(op: &NftOp, out: &mut String) {
    // `write!` into a String cannot fail.
    let _ = match op {
        NftOp::AddTable(f) => write!(out, "add table {f} {TABLE}"),
        NftOp::DeleteTable(f) => write!(out, "delete table {f} {TABLE}"),
        NftOp::AddSet { family, name, def } => {
            let kind = if def.verdict_map { "map" } else { "set" };
            write!(
                out,
                "add {kind} {family} {TABLE} {name} {}",
                set_body(*family, def)
            )
        }
        NftOp::DeleteSet { family, name } => write!(out, "delete set {family} {TABLE} {name}"),
        NftOp::AddChain {
            family,
            name,
            hook: None,
        } => write!(out, "add chain {family} {TABLE} {name}"),
        NftOp::AddChain {
            family,
            name,
            hook: Some(hook),
        } => write!(
            out,
            "add chain {family} {TABLE} {name} {}",
            base_chain_body(hook)
        ),
        NftOp::FlushChain { family, name } => write!(out, "flush chain {family} {TABLE} {name}"),
        NftOp::DeleteChain { family, name } => {
            write!(out, "delete chain {family} {TABLE} {name}")
        }
        NftOp::AddRule {
            family,
            chain,
            rule,
            comment,
        } => {
            let _ = write!(
                out,
                "add rule {family} {TABLE} {chain} {}",
                rule_text(*family, rule)
            );
            match comment {
                Some(c) => write!(out, " comment \"{c}\""),
                None => Ok(()),
            }
        }
        NftOp::AddElement {
            family,
            set,
            key,
            value,
        } => write!(
            out,
            "add element {family} {TABLE} {set} {{ {} }}",
            element_text(key, *value)
        ),
        NftOp::DeleteElement { family, set, key } => {
            write!(out, "delete element {family} {TABLE} {set} {{ {key} }}")
        }
    };
}

/// `{ type ipv4_addr . inet_proto . inet_service : verdict ; flags interval ; }`,
/// `{ type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }`
pub fn set_body(family: Family, def: &SetDef) -> String {
    let addr = family.addr_type();
    let key = match def.key {
        SetKeyType::Addr => addr.to_string(),
        SetKeyType::AddrProtoPort => format!("{addr} . inet_proto . inet_service"),
        SetKeyType::ProtoPort => "inet_proto . inet_service".to_string(),
        // Refused by `nft_txn::build`; nft would refuse it too.
        SetKeyType::Unknown => "unknown".to_string(),
    };
    let data = if def.verdict_map { " : verdict" } else { "" };
    let mut flags = Vec::new();
    if def.interval {
        flags.push("interval");
    }
    if def.timeout.is_some() {
        flags.extend(["dynamic", "timeout"]);
    }
    let flags = if flags.is_empty() {
        String::new()
    } else {
        format!(" flags {} ;", flags.join(","))
    };
    let timeout = match def.timeout {
        Some(secs) => format!(" timeout {secs}s ;"),
        None => String::new(),
    };
    format!("{{ type {key}{data} ;{flags}{timeout} }}")
}

/// `{ type nat hook output priority -100 ; policy accept ; }`
pub fn base_chain_body(hook: &BaseHook) -> String {
    format!(
        "{{ type {} hook {} priority {} ; policy accept ; }}",
        hook.kind.keyword(),
        hook.hook.keyword(),
        hook.priority
    )
}

/// `10.96.0.10 . tcp . 80 : goto CHAIN` (or just the key for a plain set).
pub fn element_text(key: &ElementKey, value: Option<&Verdict>) -> String {
    match value {
        Some(v) => format!("{key} : {v}"),
        None => key.to_string(),
    }
}

/// A rule's statements, space-separated.
pub fn rule_text(family: Family, rule: &Rule) -> String {
    rule.stmts
        .iter()
        .map(|s| stmt_text(family, s))
        .collect::<Vec<_>>()
        .join(" ")
}

fn stmt_text(family: Family, stmt: &Stmt) -> String {
    match stmt {
        Stmt::Match(m) => match_text(family, m),
        Stmt::VmapLookup { key, map } => {
            let key = match key {
                VmapKey::DaddrProtoPort => format!("{family} daddr . meta l4proto . th dport"),
                VmapKey::ProtoPort => "meta l4proto . th dport".to_string(),
            };
            format!("{key} vmap @{map}")
        }
        Stmt::NumgenVmap(targets) => {
            let arms: Vec<String> = targets
                .iter()
                .enumerate()
                .map(|(i, v)| format!("{i} : {v}"))
                .collect();
            format!(
                "numgen random mod {} vmap {{ {} }}",
                targets.len(),
                arms.join(", ")
            )
        }
        Stmt::SetMasqueradeMark => format!("meta mark set meta mark | {MASQUERADE_MARK:#x}"),
        Stmt::ClearMasqueradeMark => format!("meta mark set meta mark ^ {MASQUERADE_MARK:#x}"),
        Stmt::Masquerade => "masquerade fully-random".to_string(),
        // SocketAddr prints `1.2.3.4:80` and `[fd00::1]:80`, nft's syntax.
        Stmt::Dnat(to) => format!("dnat to {to}"),
        Stmt::UpdateSaddrSet(set) => format!("update @{set} {{ {family} saddr }}"),
        Stmt::Reject => "reject".to_string(),
        Stmt::Verdict(v) => v.to_string(),
    }
}

fn match_text(family: Family, m: &Match) -> String {
    match m {
        Match::CtStateNew => "ct state new".to_string(),
        Match::FibDaddrLocal => "fib daddr type local".to_string(),
        Match::FibSaddrLocal => "fib saddr type local".to_string(),
        Match::DaddrInSet(set) => format!("{family} daddr @{set}"),
        Match::SaddrInSet(set) => format!("{family} saddr @{set}"),
        Match::DaddrIn(nets) => format!("{family} daddr {}", anonymous_set(nets)),
        Match::DaddrNotIn(nets) => format!("{family} daddr != {}", anonymous_set(nets)),
        Match::SaddrIn(nets) => format!("{family} saddr {}", anonymous_set(nets)),
        Match::SaddrNotIn(nets) => format!("{family} saddr != {}", anonymous_set(nets)),
        Match::L4Proto(p) => format!("meta l4proto {p}"),
        Match::MasqueradeMarkUnset => format!("meta mark & {MASQUERADE_MARK:#x} == 0"),
        Match::NumgenOneIn(n) => format!("numgen random mod {n} == 0"),
    }
}

/// `{ 10.0.0.1, 10.244.0.0/16 }`: host addresses without their `/32`.
fn anonymous_set(nets: &[IpNet]) -> String {
    let items: Vec<String> = nets
        .iter()
        .map(|n| ElementKey::Net(*n).to_string())
        .collect();
    format!("{{ {} }}", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::nft::{Chain, ChainKind, Hook, Proto};
    use std::net::{IpAddr, SocketAddr};

    fn net(s: &str) -> IpNet {
        s.parse()
            .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
            .unwrap()
    }

    fn stmt(family: Family, s: Stmt) -> String {
        stmt_text(family, &s)
    }

    #[test]
    fn every_match_renders_as_nft_syntax() {
        let cases = [
            (Family::Ip, Match::CtStateNew, "ct state new"),
            (Family::Ip, Match::FibDaddrLocal, "fib daddr type local"),
            (Family::Ip6, Match::FibSaddrLocal, "fib saddr type local"),
            (
                Family::Ip,
                Match::DaddrInSet("cluster-ips".into()),
                "ip daddr @cluster-ips",
            ),
            (
                Family::Ip6,
                Match::SaddrInSet("affinity-x".into()),
                "ip6 saddr @affinity-x",
            ),
            (
                Family::Ip,
                Match::DaddrIn(vec![net("10.96.0.0/12"), net("10.0.0.1")]),
                "ip daddr { 10.96.0.0/12, 10.0.0.1 }",
            ),
            (
                Family::Ip6,
                Match::DaddrNotIn(vec![net("fd00:96::/108")]),
                "ip6 daddr != { fd00:96::/108 }",
            ),
            (
                Family::Ip,
                Match::SaddrIn(vec![net("10.244.1.5")]),
                "ip saddr { 10.244.1.5 }",
            ),
            (
                Family::Ip,
                Match::SaddrNotIn(vec![net("10.244.0.0/16")]),
                "ip saddr != { 10.244.0.0/16 }",
            ),
            (
                Family::Ip6,
                Match::SaddrNotIn(vec![net("fd00:244::/64")]),
                "ip6 saddr != { fd00:244::/64 }",
            ),
            (Family::Ip, Match::L4Proto(Proto::Sctp), "meta l4proto sctp"),
            (
                Family::Ip,
                Match::MasqueradeMarkUnset,
                "meta mark & 0x4000 == 0",
            ),
            (
                Family::Ip,
                Match::NumgenOneIn(3),
                "numgen random mod 3 == 0",
            ),
        ];
        for (family, m, want) in cases {
            assert_eq!(stmt(family, Stmt::Match(m)), want);
        }
    }

    #[test]
    fn every_statement_renders_as_nft_syntax() {
        let v4: SocketAddr = "10.0.0.1:80".parse().unwrap();
        let v6: SocketAddr = "[fd00::1]:80".parse().unwrap();
        let cases = [
            (
                Family::Ip,
                Stmt::VmapLookup {
                    key: VmapKey::DaddrProtoPort,
                    map: "service-ips".into(),
                },
                "ip daddr . meta l4proto . th dport vmap @service-ips",
            ),
            (
                Family::Ip6,
                Stmt::VmapLookup {
                    key: VmapKey::DaddrProtoPort,
                    map: "service-ips".into(),
                },
                "ip6 daddr . meta l4proto . th dport vmap @service-ips",
            ),
            (
                Family::Ip,
                Stmt::VmapLookup {
                    key: VmapKey::ProtoPort,
                    map: "service-nodeports".into(),
                },
                "meta l4proto . th dport vmap @service-nodeports",
            ),
            (
                Family::Ip,
                Stmt::NumgenVmap(vec![Verdict::Goto("a".into()), Verdict::Goto("b".into())]),
                "numgen random mod 2 vmap { 0 : goto a, 1 : goto b }",
            ),
            (
                Family::Ip,
                Stmt::SetMasqueradeMark,
                "meta mark set meta mark | 0x4000",
            ),
            (
                Family::Ip,
                Stmt::ClearMasqueradeMark,
                "meta mark set meta mark ^ 0x4000",
            ),
            (Family::Ip, Stmt::Masquerade, "masquerade fully-random"),
            (Family::Ip, Stmt::Dnat(v4), "dnat to 10.0.0.1:80"),
            (Family::Ip6, Stmt::Dnat(v6), "dnat to [fd00::1]:80"),
            (
                Family::Ip,
                Stmt::UpdateSaddrSet("affinity-x".into()),
                "update @affinity-x { ip saddr }",
            ),
            (
                Family::Ip6,
                Stmt::UpdateSaddrSet("affinity-x".into()),
                "update @affinity-x { ip6 saddr }",
            ),
            (Family::Ip, Stmt::Reject, "reject"),
            (Family::Ip, Stmt::Verdict(Verdict::Accept), "accept"),
            (Family::Ip, Stmt::Verdict(Verdict::Drop), "drop"),
            (Family::Ip, Stmt::Verdict(Verdict::Return), "return"),
            (
                Family::Ip,
                Stmt::Verdict(Verdict::Jump("mark-for-masquerade".into())),
                "jump mark-for-masquerade",
            ),
            (
                Family::Ip,
                Stmt::Verdict(Verdict::Goto("svc-1/web".into())),
                "goto svc-1/web",
            ),
        ];
        for (family, s, want) in cases {
            assert_eq!(stmt(family, s), want);
        }
    }

    #[test]
    fn set_declarations() {
        let def = |key, verdict_map, interval| SetDef::new(key, verdict_map, interval);
        assert_eq!(
            set_body(Family::Ip, &def(SetKeyType::AddrProtoPort, true, false)),
            "{ type ipv4_addr . inet_proto . inet_service : verdict ; }"
        );
        assert_eq!(
            set_body(Family::Ip6, &def(SetKeyType::Addr, false, true)),
            "{ type ipv6_addr ; flags interval ; }"
        );
        assert_eq!(
            set_body(Family::Ip, &def(SetKeyType::ProtoPort, true, false)),
            "{ type inet_proto . inet_service : verdict ; }"
        );
        assert_eq!(
            set_body(Family::Ip6, &SetDef::dynamic_addrs(10800)),
            "{ type ipv6_addr ; flags dynamic,timeout ; timeout 10800s ; }"
        );
    }

    #[test]
    fn a_whole_plan_renders_as_one_ordered_script() {
        let mut plan = FacetPlan::default();
        plan.creates
            .insert(NftKey::Table(Family::Ip), NftValue::Table);
        plan.creates.insert(
            NftKey::set(Family::Ip, "service-ips"),
            NftValue::Set(SetDef::new(SetKeyType::AddrProtoPort, true, false)),
        );
        plan.creates.insert(
            NftKey::set(Family::Ip, "pod-cidrs"),
            NftValue::Set(SetDef::new(SetKeyType::Addr, false, true)),
        );
        let output = Chain::new(
            Some(BaseHook {
                kind: ChainKind::Nat,
                hook: Hook::Output,
                priority: -100,
            }),
            vec![Rule::verdict(Verdict::Jump("services".into()))],
        );
        let fp_output = output.digest.fingerprint.clone().unwrap();
        plan.creates.insert(
            NftKey::chain(Family::Ip, "nat-output"),
            NftValue::Chain(output),
        );
        let services = Chain::regular(vec![
            Rule::new(vec![Stmt::VmapLookup {
                key: VmapKey::DaddrProtoPort,
                map: "service-ips".into(),
            }]),
            Rule::new(vec![
                Stmt::Match(Match::FibDaddrLocal),
                Stmt::VmapLookup {
                    key: VmapKey::ProtoPort,
                    map: "service-nodeports".into(),
                },
            ]),
        ]);
        let fp_services = services.digest.fingerprint.clone().unwrap();
        plan.creates.insert(
            NftKey::chain(Family::Ip, "services"),
            NftValue::Chain(services),
        );
        let ep = Chain::regular(vec![Rule::dnat(
            Proto::Tcp,
            "10.244.1.5:8080".parse().unwrap(),
        )]);
        let fp_ep = ep.digest.fingerprint.clone().unwrap();
        plan.creates
            .insert(NftKey::chain(Family::Ip, "ep-1"), NftValue::Chain(ep));
        plan.creates.insert(
            NftKey::element(
                Family::Ip,
                "service-ips",
                ElementKey::AddrProtoPort("10.96.0.10".parse().unwrap(), Proto::Tcp, 80),
            ),
            NftValue::Element(Some(Verdict::Goto("ep-1".into()))),
        );
        plan.creates.insert(
            NftKey::element(
                Family::Ip,
                "pod-cidrs",
                ElementKey::Net(net("10.244.0.0/16")),
            ),
            NftValue::Element(None),
        );
        plan.deletes.insert(NftKey::element(
            Family::Ip,
            "service-nodeports",
            ElementKey::ProtoPort(Proto::Udp, 30053),
        ));
        plan.deletes.insert(NftKey::chain(Family::Ip, "gone"));
        plan.deletes.insert(NftKey::set(Family::Ip, "old-set"));
        plan.deletes.insert(NftKey::Table(Family::Ip6));

        let script = render_plan(&plan, &BTreeMap::new()).unwrap();
        let want = format!(
            "add table ip kroute
add set ip kroute pod-cidrs {{ type ipv4_addr ; flags interval ; }}
add map ip kroute service-ips {{ type ipv4_addr . inet_proto . inet_service : verdict ; }}
add chain ip kroute ep-1
add chain ip kroute nat-output {{ type nat hook output priority -100 ; policy accept ; }}
add chain ip kroute services
add rule ip kroute ep-1 meta l4proto tcp dnat to 10.244.1.5:8080 comment \"{fp_ep}\"
add rule ip kroute nat-output jump services comment \"{fp_output}\"
add rule ip kroute services ip daddr . meta l4proto . th dport vmap @service-ips comment \"{fp_services}\"
add rule ip kroute services fib daddr type local meta l4proto . th dport vmap @service-nodeports
delete element ip kroute service-nodeports {{ udp . 30053 }}
add element ip kroute pod-cidrs {{ 10.244.0.0/16 }}
add element ip kroute service-ips {{ 10.96.0.10 . tcp . 80 : goto ep-1 }}
flush chain ip kroute gone
delete chain ip kroute gone
delete set ip kroute old-set
delete table ip6 kroute
"
        );
        assert_eq!(script, want);
    }

    #[test]
    fn unknown_elements_are_written_back_verbatim() {
        let ops = [NftOp::DeleteElement {
            family: Family::Ip,
            set: "ranges",
            key: &ElementKey::Unknown("10.0.0.1-10.0.0.7".into()),
        }];
        assert_eq!(
            render(&ops),
            "delete element ip kroute ranges { 10.0.0.1-10.0.0.7 }\n"
        );
    }
}
