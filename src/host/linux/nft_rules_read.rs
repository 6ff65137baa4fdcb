//! Reads the rules of the kernel's `kroute` chains back from the JSON
//! listing (`nft -j list table`), for `kroute plan` to show what an update of
//! a chain changes.
//!
//! The snapshot (`nft_read`) keeps only a digest per chain; this keeps the
//! rules. Each statement kroute writes is decoded into its typed `Stmt`, so a
//! rule the kernel has and a rule kroute wants compare equal when they mean
//! the same, and both print through the one nft-syntax renderer
//! (`nft_script::rule_text`). nft lists some statements differently from
//! how they were written (`reject` as `reject with icmp port-unreachable`, a
//! one-element anonymous set as a plain value); the decoder accepts both. A
//! rule with a statement kroute never writes (a hand-added `counter`) is
//! kept as text: decoded statements in nft syntax, the others as their JSON.
//! Comments are left out: kroute's only comment is the chain fingerprint,
//! which changes with every rewrite.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use serde_json::Value;

use super::nft_read::{parse_table, proto, verdict as decode_verdict};
use super::nft_script::rule_text;
use super::{LinuxHost, NftRunner};
use crate::host::nft::NftValue;
use crate::host::nft::{Family, Match, NftKey, Rule, Stmt, TABLE, Verdict, VmapKey};
use crate::host::{HostError, HostNetwork, HostSnapshot};

/// The rules of every chain of a table, in order, keyed by `NftKey::Chain`.
pub type ChainRules = BTreeMap<NftKey, Vec<CurrentRule>>;

/// A rule as the kernel has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CurrentRule {
    /// A rule made only of statements kroute writes.
    Known(Rule),
    /// Anything else, as text (see the module documentation).
    Other(String),
}

impl CurrentRule {
    /// The rule in nft syntax.
    pub fn text(&self, family: Family) -> String {
        match self {
            CurrentRule::Known(rule) => rule_text(family, rule),
            CurrentRule::Other(text) => text.clone(),
        }
    }
}

/// How often `snapshot_with_rules` reads again when the kernel changed
/// between its two reads.
const CONSISTENT_READ_TRIES: usize = 5;

/// A snapshot of the host and the rules of its chains as they were when it
/// was taken: the rules are read again until their listing gives the same
/// nftables snapshot (a running `kroute run` may change the tables between
/// the two reads).
pub fn snapshot_with_rules(host: &mut LinuxHost) -> Result<(HostSnapshot, ChainRules), HostError> {
    let mut last = None;
    for _ in 0..CONSISTENT_READ_TRIES {
        let snapshot = host.snapshot()?;
        let (nft, rules) = read_tables(host.runner())?;
        if nft == snapshot.nft {
            return Ok((snapshot, rules));
        }
        last = Some((snapshot, rules));
    }
    // Still changing: the rules of the last read are close enough to show.
    last.ok_or_else(|| HostError::Read {
        what: "the kroute tables".to_string(),
        message: "no read was made".to_string(),
    })
}

/// One listing per family: its nftables snapshot and its rules.
fn read_tables(runner: &NftRunner) -> Result<(BTreeMap<NftKey, NftValue>, ChainRules), HostError> {
    let mut nft = BTreeMap::new();
    let mut rules = ChainRules::new();
    for family in Family::ALL {
        if let Some(json) = runner.list_table(family)? {
            nft.extend(parse_table(family, &json)?);
            rules.extend(parse_rules(family, &json)?);
        }
    }
    Ok((nft, rules))
}

/// Parses the rules out of the JSON listing of one family's `kroute` table.
/// Every listed chain gets an entry, an empty one when it has no rule.
pub fn parse_rules(family: Family, json: &str) -> Result<ChainRules, HostError> {
    let root: Value = serde_json::from_str(json).map_err(|e| HostError::Read {
        what: format!("the rules of table {family} {TABLE}"),
        message: e.to_string(),
    })?;
    let mut out = ChainRules::new();
    let objects = root.get("nftables").and_then(Value::as_array);
    for object in objects.into_iter().flatten() {
        let Some((kind, body)) = object.as_object().and_then(|o| o.iter().next()) else {
            continue;
        };
        let ours = body.get("family").and_then(Value::as_str) == Some(family.keyword())
            && body.get("table").and_then(Value::as_str) == Some(TABLE);
        if !ours {
            continue;
        }
        match kind.as_str() {
            "chain" => {
                if let Some(name) = body.get("name").and_then(Value::as_str) {
                    out.entry(NftKey::chain(family, name)).or_default();
                }
            }
            "rule" => {
                if let Some(chain) = body.get("chain").and_then(Value::as_str) {
                    let exprs = body.get("expr").and_then(Value::as_array);
                    let rule = decode_rule(family, exprs.map(Vec::as_slice).unwrap_or(&[]));
                    out.entry(NftKey::chain(family, chain))
                        .or_default()
                        .push(rule);
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Decodes a rule's statements.
pub fn decode_rule(family: Family, exprs: &[Value]) -> CurrentRule {
    let decoded: Vec<Option<Stmt>> = exprs.iter().map(|e| decode_stmt(family, e)).collect();
    if decoded.iter().all(Option::is_some) {
        return CurrentRule::Known(Rule::new(decoded.into_iter().flatten().collect()));
    }
    let parts: Vec<String> = decoded
        .into_iter()
        .zip(exprs)
        .map(|(stmt, json)| match stmt {
            Some(stmt) => rule_text(family, &Rule::new(vec![stmt])),
            None => json.to_string(),
        })
        .collect();
    CurrentRule::Other(parts.join(" "))
}

/// One statement kroute writes, from its JSON; `None` for anything else.
pub fn decode_stmt(family: Family, json: &Value) -> Option<Stmt> {
    let (name, body) = json.as_object()?.iter().next()?;
    match name.as_str() {
        "match" => decode_match(family, body).map(Stmt::Match),
        "vmap" => decode_vmap(family, body),
        "mangle" => {
            if !is_meta(body.get("key")?, "mark") {
                return None;
            }
            let value = body.get("value")?.as_object()?;
            let (op, args) = value.iter().next()?;
            let [left, right] = args.as_array()?.as_slice() else {
                return None;
            };
            let masq_mark = is_meta(left, "mark") && is_masquerade_mark(right);
            match op.as_str() {
                "|" if masq_mark => Some(Stmt::SetMasqueradeMark),
                "^" if masq_mark => Some(Stmt::ClearMasqueradeMark),
                _ => None,
            }
        }
        "masquerade" => {
            let flags = strings(body.get("flags")?);
            (flags == ["fully-random"]).then_some(Stmt::Masquerade)
        }
        "dnat" => {
            let addr: IpAddr = body.get("addr")?.as_str()?.parse().ok()?;
            let port = u16::try_from(body.get("port")?.as_u64()?).ok()?;
            (Family::of(&addr) == family).then(|| Stmt::Dnat(SocketAddr::new(addr, port)))
        }
        // kroute writes a bare `reject`; nft lists it with the ICMP type it
        // stands for.
        "reject" => {
            let plain = match body {
                Value::Null => true,
                Value::Object(o) => {
                    let kind = o.get("type").and_then(Value::as_str);
                    let code = o.get("expr").and_then(Value::as_str);
                    matches!(kind, None | Some("icmp" | "icmpv6" | "icmpx"))
                        && matches!(code, None | Some("port-unreachable"))
                        && o.keys().all(|k| k == "type" || k == "expr")
                }
                _ => false,
            };
            plain.then_some(Stmt::Reject)
        }
        // `update @set { ip saddr }`
        "set" => {
            let update = body.get("op")?.as_str()? == "update"
                && is_payload(body.get("elem")?, family.keyword(), "saddr");
            let set = body.get("set")?.as_str()?.strip_prefix('@')?;
            update.then(|| Stmt::UpdateSaddrSet(set.to_string()))
        }
        _ => decode_verdict(json).map(Stmt::Verdict),
    }
}

fn decode_match(family: Family, body: &Value) -> Option<Match> {
    let op = body.get("op")?.as_str()?;
    let left = body.get("left")?;
    let right = body.get("right")?;
    let (lname, lbody) = left.as_object()?.iter().next()?;
    match (lname.as_str(), op) {
        ("ct", "in" | "==") => {
            let state = lbody.get("key")?.as_str()? == "state";
            (state && strings(right) == ["new"]).then_some(Match::CtStateNew)
        }
        ("fib", "==") => {
            if lbody.get("result")?.as_str()? != "type" || right.as_str()? != "local" {
                return None;
            }
            match strings(lbody.get("flags")?).as_slice() {
                ["daddr"] => Some(Match::FibDaddrLocal),
                ["saddr"] => Some(Match::FibSaddrLocal),
                _ => None,
            }
        }
        ("payload", "==" | "!=") => {
            if lbody.get("protocol")?.as_str()? != family.keyword() {
                return None;
            }
            let negated = op == "!=";
            let field = lbody.get("field")?.as_str()?;
            if let Some(set) = right.as_str().and_then(|s| s.strip_prefix('@')) {
                return match (field, negated) {
                    ("daddr", false) => Some(Match::DaddrInSet(set.to_string())),
                    ("saddr", false) => Some(Match::SaddrInSet(set.to_string())),
                    _ => None,
                };
            }
            let nets = nets(family, right)?;
            match (field, negated) {
                ("daddr", false) => Some(Match::DaddrIn(nets)),
                ("daddr", true) => Some(Match::DaddrNotIn(nets)),
                ("saddr", false) => Some(Match::SaddrIn(nets)),
                ("saddr", true) => Some(Match::SaddrNotIn(nets)),
                _ => None,
            }
        }
        ("meta", "==") if lbody.get("key")?.as_str()? == "l4proto" => {
            proto(right).map(Match::L4Proto)
        }
        ("&", "==") => {
            let [l, r] = lbody.as_array()?.as_slice() else {
                return None;
            };
            let unset = is_meta(l, "mark") && is_masquerade_mark(r) && right.as_u64()? == 0;
            unset.then_some(Match::MasqueradeMarkUnset)
        }
        ("numgen", "==") => {
            let n = random_numgen(left)?;
            (right.as_u64()? == 0).then_some(Match::NumgenOneIn(n))
        }
        _ => None,
    }
}

fn decode_vmap(family: Family, body: &Value) -> Option<Stmt> {
    let key = body.get("key")?;
    let data = body.get("data")?;
    if let Some(n) = random_numgen(key) {
        // `{"set": [[0, verdict], [1, verdict], ...]}`, possibly out of order.
        let mut arms: Vec<(u64, Verdict)> = data
            .get("set")?
            .as_array()?
            .iter()
            .map(|arm| match arm.as_array()?.as_slice() {
                [i, v] => Some((i.as_u64()?, decode_verdict(v)?)),
                _ => None,
            })
            .collect::<Option<_>>()?;
        arms.sort_by_key(|(i, _)| *i);
        let in_order = arms.iter().enumerate().all(|(i, (j, _))| i as u64 == *j);
        return (in_order && arms.len() as u64 == u64::from(n))
            .then(|| Stmt::NumgenVmap(arms.into_iter().map(|(_, v)| v).collect()));
    }
    let map = data.as_str()?.strip_prefix('@')?.to_string();
    let parts = key.get("concat")?.as_array()?;
    let vmap_key = match parts.as_slice() {
        [addr, l4, port]
            if is_payload(addr, family.keyword(), "daddr")
                && is_meta(l4, "l4proto")
                && is_payload(port, "th", "dport") =>
        {
            VmapKey::DaddrProtoPort
        }
        [l4, port] if is_meta(l4, "l4proto") && is_payload(port, "th", "dport") => {
            VmapKey::ProtoPort
        }
        _ => return None,
    };
    Some(Stmt::VmapLookup { key: vmap_key, map })
}

/// `numgen random mod N` (offset 0): N.
fn random_numgen(json: &Value) -> Option<u32> {
    let ng = json.get("numgen")?;
    let offset = ng.get("offset").map_or(Some(0), Value::as_u64)?;
    if ng.get("mode")?.as_str()? != "random" || offset != 0 {
        return None;
    }
    u32::try_from(ng.get("mod")?.as_u64()?).ok()
}

fn is_meta(json: &Value, key: &str) -> bool {
    json.get("meta")
        .and_then(|m| m.get("key"))
        .and_then(Value::as_str)
        == Some(key)
}

fn is_payload(json: &Value, protocol: &str, field: &str) -> bool {
    let p = json.get("payload");
    p.and_then(|p| p.get("protocol")).and_then(Value::as_str) == Some(protocol)
        && p.and_then(|p| p.get("field")).and_then(Value::as_str) == Some(field)
}

fn is_masquerade_mark(json: &Value) -> bool {
    json.as_u64() == Some(u64::from(crate::host::nft::MASQUERADE_MARK))
}

/// A string or an array of strings (nft lists a single flag as a string).
fn strings(json: &Value) -> Vec<&str> {
    match json {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// An address, a prefix, or an anonymous set of them, of this family.
fn nets(family: Family, json: &Value) -> Option<Vec<IpNet>> {
    let one = |item: &Value| -> Option<IpNet> {
        let net = match item {
            Value::String(s) => IpNet::from(s.parse::<IpAddr>().ok()?),
            Value::Object(o) => {
                let p = o.get("prefix")?;
                let addr: IpAddr = p.get("addr")?.as_str()?.parse().ok()?;
                IpNet::new(addr, u8::try_from(p.get("len")?.as_u64()?).ok()?).ok()?
            }
            _ => return None,
        };
        (Family::of(&net.addr()) == family).then_some(net)
    };
    match json.get("set") {
        Some(Value::Array(items)) => items.iter().map(one).collect(),
        Some(_) => None,
        None => one(json).map(|n| vec![n]),
    }
}

#[cfg(test)]
#[path = "nft_rules_read_tests.rs"]
mod tests;
