//! Reads the kernel's `kroute` tables back (`nft -j list table`).
//!
//! Everything in an owned table becomes a key, even what kroute never writes
//! (a hand-made set, an element with a range or an unknown protocol, a chain
//! with a hand-added rule): the planner then sweeps or replaces it. Only
//! invalid JSON fails the read; objects of other kinds are ignored.
//!
//! Chains come back as `Chain::read_back(hook, digest)`: the rule count, and
//! the `kroute:` fingerprint from the first rule's comment (nft 1.0.6's JSON
//! has no chain comments). A base chain with something kroute cannot express
//! (type `route`, policy `drop`, an unknown hook) gets a fingerprint that
//! does not start with `kroute:`, so it never equals a desired chain.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

use crate::host::HostError;
use crate::host::nft::{
    BaseHook, Chain, ChainDigest, ChainKind, ElementKey, FINGERPRINT_PREFIX, Family, Hook, NftKey,
    NftValue, Proto, SetDef, SetKeyType, TABLE, Verdict,
};

/// Parses the JSON listing of one family's `kroute` table.
pub fn parse_table(family: Family, json: &str) -> Result<BTreeMap<NftKey, NftValue>, HostError> {
    let root: Value = serde_json::from_str(json).map_err(|e| read_error(family, e.to_string()))?;
    let objects = root
        .get("nftables")
        .and_then(Value::as_array)
        .ok_or_else(|| read_error(family, "no `nftables` array".to_string()))?;

    let mut out = BTreeMap::new();
    // Chains are completed once all their rules are seen.
    let mut chains: BTreeMap<String, ChainAcc> = BTreeMap::new();
    for object in objects {
        let Some((kind, body)) = object.as_object().and_then(|o| o.iter().next()) else {
            continue;
        };
        if body.get("family").and_then(Value::as_str) != Some(family.keyword()) {
            continue;
        }
        let table_field = if kind == "table" { "name" } else { "table" };
        if body.get(table_field).and_then(Value::as_str) != Some(TABLE) {
            continue;
        }
        let name = body.get("name").and_then(Value::as_str);
        match (kind.as_str(), name) {
            ("table", _) => {
                out.insert(NftKey::Table(family), NftValue::Table);
            }
            ("set" | "map", Some(name)) => read_set(family, name, body, &mut out),
            ("chain", Some(name)) => {
                chains.entry(name.to_string()).or_default().hook = Some(chain_hook(body));
            }
            ("rule", _) => {
                if let Some(chain) = body.get("chain").and_then(Value::as_str) {
                    let acc = chains.entry(chain.to_string()).or_default();
                    if acc.rules == 0 {
                        acc.first_comment = body
                            .get("comment")
                            .and_then(Value::as_str)
                            .map(String::from);
                    }
                    acc.rules += 1;
                }
            }
            _ => {}
        }
    }
    for (name, acc) in chains {
        // A rule names its chain; a chain only exists if it was listed.
        let Some((hook, foreign)) = acc.hook else {
            continue;
        };
        let fingerprint = match foreign {
            Some(why) => Some(format!("foreign:{why}")),
            None => acc
                .first_comment
                .filter(|c| c.starts_with(FINGERPRINT_PREFIX)),
        };
        let digest = ChainDigest {
            rule_count: acc.rules,
            fingerprint,
        };
        out.insert(
            NftKey::chain(family, name),
            NftValue::Chain(Chain::read_back(hook, digest)),
        );
    }
    Ok(out)
}

#[derive(Default)]
struct ChainAcc {
    /// The chain's hook and, if it has properties kroute cannot express, why.
    hook: Option<(Option<BaseHook>, Option<String>)>,
    rules: usize,
    first_comment: Option<String>,
}

fn read_error(family: Family, message: String) -> HostError {
    HostError::Read {
        what: format!("table {family} {TABLE}"),
        message,
    }
}

/// The hook of a listed chain (`None` for a regular chain), and what about it
/// kroute cannot express.
fn chain_hook(body: &Value) -> (Option<BaseHook>, Option<String>) {
    let Some(hook_name) = body.get("hook").and_then(Value::as_str) else {
        return (None, None);
    };
    let mut foreign = Vec::new();
    let hook = match hook_name {
        "prerouting" => Some(Hook::Prerouting),
        "input" => Some(Hook::Input),
        "forward" => Some(Hook::Forward),
        "output" => Some(Hook::Output),
        "postrouting" => Some(Hook::Postrouting),
        other => {
            foreign.push(format!("hook {other}"));
            None
        }
    };
    let type_name = body.get("type").and_then(Value::as_str).unwrap_or("?");
    let kind = match type_name {
        "filter" => Some(ChainKind::Filter),
        "nat" => Some(ChainKind::Nat),
        other => {
            foreign.push(format!("type {other}"));
            None
        }
    };
    let priority = body
        .get("prio")
        .and_then(Value::as_i64)
        .and_then(|p| i32::try_from(p).ok());
    if priority.is_none() {
        foreign.push("priority".to_string());
    }
    match body.get("policy").and_then(Value::as_str) {
        None | Some("accept") => {}
        Some(other) => foreign.push(format!("policy {other}")),
    }
    let base = match (kind, hook, priority) {
        (Some(kind), Some(hook), Some(priority)) => Some(BaseHook {
            kind,
            hook,
            priority,
        }),
        _ => None,
    };
    let foreign = (!foreign.is_empty()).then(|| foreign.join(","));
    (base, foreign)
}

fn read_set(family: Family, name: &str, body: &Value, out: &mut BTreeMap<NftKey, NftValue>) {
    let def = set_def(family, body);
    // A dynamic set's elements are the kernel's (added by `update @set`
    // from rules, expiring by themselves): they are not kroute's artifacts.
    let dynamic = def.timeout.is_some();
    out.insert(NftKey::set(family, name), NftValue::Set(def));
    let Some(elems) = body.get("elem").and_then(Value::as_array) else {
        return;
    };
    if dynamic {
        return;
    }
    for item in elems {
        // Map elements are `[key, data]`; set elements are the key alone
        // (a concatenation is an object, never an array).
        let (key, data) = match item.as_array().map(Vec::as_slice) {
            Some([key, data]) => (key, Some(data)),
            _ => (item, None),
        };
        let value = data.and_then(verdict);
        out.insert(
            NftKey::element(family, name, element_key(key)),
            NftValue::Element(value),
        );
    }
}

fn set_def(family: Family, body: &Value) -> SetDef {
    let types: Vec<&str> = match body.get("type") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(parts)) => parts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let addr = family.addr_type();
    let mut key = match types.as_slice() {
        [a] if *a == addr => SetKeyType::Addr,
        [a, "inet_proto", "inet_service"] if *a == addr => SetKeyType::AddrProtoPort,
        ["inet_proto", "inet_service"] => SetKeyType::ProtoPort,
        _ => SetKeyType::Unknown,
    };
    let verdict_map = match body.get("map") {
        None => false,
        Some(Value::String(data)) if data == "verdict" => true,
        Some(_) => {
            key = SetKeyType::Unknown;
            true
        }
    };
    let flags: Vec<&str> = match body.get("flags") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(f)) => f.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let interval = flags.contains(&"interval");
    let timed = flags.contains(&"timeout");
    // `flags dynamic,timeout ; timeout Ns` as kroute writes it: nft 1.0.6's
    // JSON lists those flags as `["timeout"]`, and the kernel sizes a set a
    // rule updates at 65535.
    let timeout = body
        .get("timeout")
        .and_then(Value::as_u64)
        .and_then(|t| u32::try_from(t).ok());
    let size = body.get("size").and_then(Value::as_u64);
    let known_flags = flags
        .iter()
        .all(|f| matches!(*f, "interval" | "timeout" | "dynamic"));
    let expressible = if timed || flags.contains(&"dynamic") {
        timed
            && timeout.is_some()
            && !verdict_map
            && !interval
            && matches!(size, None | Some(65535))
    } else {
        body.get("timeout").is_none()
    };
    if !(known_flags && expressible) {
        key = SetKeyType::Unknown;
    }
    SetDef {
        timeout: if timed { timeout } else { None },
        ..SetDef::new(key, verdict_map, interval)
    }
}

/// Types an element key; anything else is kept as nft syntax.
fn element_key(value: &Value) -> ElementKey {
    // An element with options (comment, timeout) wraps its key.
    if let Some(inner) = value.get("elem").and_then(|e| e.get("val")) {
        return element_key(inner);
    }
    let typed = match value {
        Value::String(s) => s.parse::<IpAddr>().ok().map(|a| ElementKey::Net(a.into())),
        Value::Object(o) => {
            if let Some(p) = o.get("prefix") {
                prefix(p).map(ElementKey::Net)
            } else if let Some(Value::Array(parts)) = o.get("concat") {
                match parts.as_slice() {
                    [addr, proto_v, port_v] => addr
                        .as_str()
                        .and_then(|a| a.parse::<IpAddr>().ok())
                        .zip(proto(proto_v))
                        .zip(port(port_v))
                        .map(|((a, p), n)| ElementKey::AddrProtoPort(a, p, n)),
                    [proto_v, port_v] => proto(proto_v)
                        .zip(port(port_v))
                        .map(|(p, n)| ElementKey::ProtoPort(p, n)),
                    _ => None,
                }
            } else {
                None
            }
        }
        _ => None,
    };
    typed.unwrap_or_else(|| ElementKey::Unknown(nft_text(value)))
}

fn prefix(p: &Value) -> Option<IpNet> {
    let addr: IpAddr = p.get("addr")?.as_str()?.parse().ok()?;
    let len = u8::try_from(p.get("len")?.as_u64()?).ok()?;
    IpNet::new(addr, len).ok()
}

pub(super) fn proto(v: &Value) -> Option<Proto> {
    match v {
        Value::String(s) => Proto::parse(s),
        Value::Number(n) => Proto::parse(&n.to_string()),
        _ => None,
    }
}

fn port(v: &Value) -> Option<u16> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// nft syntax for a JSON element key kroute cannot type, so that it can be
/// written back in a `delete element`. Forms nft has no text for fall back
/// to the JSON itself (still a distinct key, though not deletable by itself).
fn nft_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Object(o) => {
            if let Some(Value::Array(parts)) = o.get("concat") {
                parts.iter().map(nft_text).collect::<Vec<_>>().join(" . ")
            } else if let Some(Value::Array(ends)) = o.get("range")
                && let [lo, hi] = ends.as_slice()
            {
                format!("{}-{}", nft_text(lo), nft_text(hi))
            } else if let Some(p) = o.get("prefix")
                && let (Some(addr), Some(len)) = (p.get("addr"), p.get("len"))
            {
                format!("{}/{}", nft_text(addr), nft_text(len))
            } else {
                value.to_string()
            }
        }
        other => other.to_string(),
    }
}

/// A verdict-map element's data; `None` for data that is not a verdict kroute
/// writes (`continue`, an address in a non-verdict map).
pub(super) fn verdict(data: &Value) -> Option<Verdict> {
    let (name, arg) = data.as_object()?.iter().next()?;
    let target = || arg.get("target").and_then(Value::as_str).map(String::from);
    match name.as_str() {
        "accept" => Some(Verdict::Accept),
        "drop" => Some(Verdict::Drop),
        "return" => Some(Verdict::Return),
        "jump" => target().map(Verdict::Jump),
        "goto" => target().map(Verdict::Goto),
        _ => None,
    }
}

#[cfg(test)]
#[path = "nft_read_tests.rs"]
mod tests;
