//! kube-proxy's iptables leftovers, in both families and both backends
//! (legacy, nft), as `kube-proxy --cleanup` removes them: read each backend
//! with `iptables-save`, flush and delete the `KUBE-*` chains of the `nat`,
//! `filter` and `mangle` tables and the rules of the built-in chains that
//! jump to them, in one `iptables-restore --noflush` transaction per backend.
//!
//! What is not kube-proxy's stays: kubelet's own `KUBE-*` chains
//! ([`KUBELET_CHAINS`]), every other chain and rule, and a `KUBE-*` chain that
//! a foreign chain still jumps to (reported, not deleted: deleting it would
//! break that chain).

use std::collections::{BTreeMap, BTreeSet};

use super::commands::{Commands, run_ok};
use crate::host::linux::cleanup::{CleanupError, CleanupReport};

/// The tables kube-proxy writes to.
pub const TABLES: [&str; 3] = ["nat", "filter", "mangle"];

/// `KUBE-*` chains that kubelet creates (and that kube-proxy's cleanup
/// leaves alone), by table; `*` for every table.
pub const KUBELET_CHAINS: &[(&str, &str)] = &[
    ("*", "KUBE-KUBELET-CANARY"),
    ("*", "KUBE-IPTABLES-HINT"),
    ("*", "KUBE-MARK-DROP"),
    ("filter", "KUBE-FIREWALL"),
];

/// Whether `chain` of `table` is kube-proxy's by name.
pub fn is_kube_proxy_chain(table: &str, chain: &str) -> bool {
    chain.starts_with("KUBE-")
        && !KUBELET_CHAINS
            .iter()
            .any(|(t, c)| *c == chain && (*t == "*" || *t == table))
}

/// One table of an `iptables-save` listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SavedTable {
    pub name: String,
    /// Chain name → built in (it has a policy).
    pub chains: BTreeMap<String, bool>,
    /// In listing order.
    pub rules: Vec<SavedRule>,
}

/// One `-A CHAIN …` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedRule {
    pub chain: String,
    /// Everything after `-A CHAIN `, as listed.
    pub spec: String,
    /// The chains it jumps or goes to (`-j`, `-g`).
    pub targets: Vec<String>,
}

/// Parses `iptables-save` output (without counters).
pub fn parse_save(text: &str) -> Result<Vec<SavedTable>, String> {
    let mut tables = Vec::new();
    let mut current: Option<SavedTable> = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end();
        let at = |what: &str| format!("line {}: {what}: {line:?}", n + 1);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('*') {
            if current.is_some() {
                return Err(at("table without COMMIT before it"));
            }
            current = Some(SavedTable {
                name: name.to_string(),
                ..SavedTable::default()
            });
            continue;
        }
        let Some(table) = current.as_mut() else {
            return Err(at("outside a table"));
        };
        if line == "COMMIT" {
            tables.extend(current.take());
        } else if let Some(decl) = line.strip_prefix(':') {
            let mut parts = decl.split_whitespace();
            let (Some(name), Some(policy)) = (parts.next(), parts.next()) else {
                return Err(at("chain line without a policy"));
            };
            table.chains.insert(name.to_string(), policy != "-");
        } else if let Some(rest) = line.strip_prefix("-A ") {
            let (chain, spec) = rest.split_once(' ').unwrap_or((rest, ""));
            let tokens = tokenize(spec).map_err(|e| at(&e))?;
            let targets = tokens
                .windows(2)
                .filter(|w| matches!(w[0].as_str(), "-j" | "--jump" | "-g" | "--goto"))
                .map(|w| w[1].clone())
                .collect();
            table.rules.push(SavedRule {
                chain: chain.to_string(),
                spec: spec.to_string(),
                targets,
            });
        } else {
            return Err(at("not a chain, a rule or COMMIT"));
        }
    }
    match current {
        Some(t) => Err(format!("table {} has no COMMIT", t.name)),
        None => Ok(tables),
    }
}

/// Splits a rule the way `iptables-restore` does: whitespace, with
/// double-quoted words (`\"` and `\\` escaped inside).
fn tokenize(spec: &str) -> Result<Vec<String>, String> {
    let mut tokens = Vec::new();
    let mut chars = spec.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&first) = chars.peek() else {
            return Ok(tokens);
        };
        let mut token = String::new();
        if first == '"' {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("unterminated quote".into()),
                    Some('"') => break,
                    Some('\\') => token.extend(chars.next()),
                    Some(c) => token.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                token.push(c);
            }
        }
        tokens.push(token);
    }
}

/// What to remove from one table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TablePlan {
    pub table: String,
    /// kube-proxy's chains: flushed and deleted.
    pub chains: Vec<String>,
    /// Rules of built-in chains that jump to them: `(chain, spec)`.
    pub jumps: Vec<(String, String)>,
    /// kube-proxy's chains kept because a foreign chain jumps to them:
    /// `(chain, the foreign chain)`.
    pub kept: Vec<(String, String)>,
}

impl TablePlan {
    pub fn is_empty(&self) -> bool {
        self.chains.is_empty() && self.jumps.is_empty()
    }
}

/// Decides what of `table` is kube-proxy's and can go.
pub fn plan_table(table: &SavedTable) -> TablePlan {
    let mut removable: BTreeSet<&str> = table
        .chains
        .iter()
        .filter(|(name, builtin)| !**builtin && is_kube_proxy_chain(&table.name, name))
        .map(|(name, _)| name.as_str())
        .collect();
    let mut kept = Vec::new();
    // A chain that stays (foreign, or kept itself) and jumps to a removable
    // chain keeps that one too; until nothing changes.
    loop {
        let blocked = table.rules.iter().find_map(|rule| {
            let stays = !removable.contains(rule.chain.as_str())
                && !table.chains.get(&rule.chain).copied().unwrap_or(false);
            let target = rule.targets.iter().find(|t| removable.contains(t.as_str()));
            stays.then_some(target).flatten().map(|t| (t, &rule.chain))
        });
        let Some((target, by)) = blocked else {
            break;
        };
        removable.remove(target.as_str());
        kept.push((target.clone(), by.clone()));
    }
    let jumps = table
        .rules
        .iter()
        .filter(|rule| table.chains.get(&rule.chain).copied().unwrap_or(false))
        .filter(|rule| rule.targets.iter().any(|t| removable.contains(t.as_str())))
        .map(|rule| (rule.chain.clone(), rule.spec.clone()))
        .collect();
    TablePlan {
        table: table.name.clone(),
        chains: removable.into_iter().map(String::from).collect(),
        jumps,
        kept,
    }
}

/// The `iptables-restore --noflush` input that carries out `plans`:
/// declaring a chain flushes it, then the jumps go, then the chains.
pub fn restore_script(plans: &[TablePlan]) -> String {
    let mut script = String::new();
    for plan in plans.iter().filter(|p| !p.is_empty()) {
        script.push_str(&format!("*{}\n", plan.table));
        for chain in &plan.chains {
            script.push_str(&format!(":{chain} - [0:0]\n"));
        }
        for (chain, spec) in &plan.jumps {
            script.push_str(&format!("-D {chain} {spec}\n"));
        }
        for chain in &plan.chains {
            script.push_str(&format!("-X {chain}\n"));
        }
        script.push_str("COMMIT\n");
    }
    script
}

/// The `iptables` commands to clean: both backends where installed (each
/// family), else the plain command.
pub fn backends(commands: &dyn Commands) -> Vec<&'static str> {
    let mut found = Vec::new();
    for family in [
        ["iptables-legacy", "iptables-nft", "iptables"],
        ["ip6tables-legacy", "ip6tables-nft", "ip6tables"],
    ] {
        let variants: Vec<&str> = family[..2]
            .iter()
            .copied()
            .filter(|tool| commands.installed(&format!("{tool}-save")))
            .collect();
        if variants.is_empty() {
            if commands.installed(&format!("{}-save", family[2])) {
                found.push(family[2]);
            }
        } else {
            found.extend(variants);
        }
    }
    found
}

/// Cleans one backend (`iptables-nft`, …): reads it, removes kube-proxy's
/// chains and jumps in one transaction.
pub fn clean_backend(
    commands: &dyn Commands,
    tool: &str,
    report: &mut CleanupReport,
) -> Result<(), CleanupError> {
    let save = format!("{tool}-save");
    let listing = run_ok(commands, &[&save], None)?;
    let tables = parse_save(&listing).map_err(|message| CleanupError::Unreadable {
        command: save.clone(),
        message,
    })?;
    let plans: Vec<TablePlan> = tables
        .iter()
        .filter(|t| TABLES.contains(&t.name.as_str()))
        .map(plan_table)
        .collect();
    for plan in &plans {
        for (chain, by) in &plan.kept {
            report.note(format!(
                "{tool}: kept chain {chain} in table {}: chain {by} (not kube-proxy's) jumps to it",
                plan.table
            ));
        }
    }
    if plans.iter().all(TablePlan::is_empty) {
        report.note(format!("{tool}: no kube-proxy chains"));
        return Ok(());
    }
    let restore = format!("{tool}-restore");
    // `-w`: wait for the xtables lock (legacy) rather than fail at once.
    run_ok(
        commands,
        &[&restore, "-w", "5", "--noflush"],
        Some(&restore_script(&plans)),
    )?;
    for plan in plans.iter().filter(|p| !p.is_empty()) {
        report.note(format!(
            "{tool}: removed {} kube-proxy chains and {} jumps to them from table {}",
            plan.chains.len(),
            plan.jumps.len(),
            plan.table
        ));
    }
    Ok(())
}
