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
    out.insert(NftKey::set(family, name), NftValue::Set(def));
    let Some(elems) = body.get("elem").and_then(Value::as_array) else {
        return;
    };
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
    if flags.iter().any(|f| *f != "interval") {
        key = SetKeyType::Unknown;
    }
    SetDef {
        key,
        verdict_map,
        interval,
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
mod tests {
    use super::*;

    const KROUTE_IP: &str = include_str!("testdata/kroute_ip.json");
    const KROUTE_IP6: &str = include_str!("testdata/kroute_ip6.json");
    const ODD_IP: &str = include_str!("testdata/odd_ip.json");

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn net(s: &str) -> ElementKey {
        ElementKey::Net(s.parse().unwrap())
    }

    fn digest(rule_count: usize, fingerprint: Option<&str>) -> ChainDigest {
        ChainDigest {
            rule_count,
            fingerprint: fingerprint.map(String::from),
        }
    }

    fn chain_of(map: &BTreeMap<NftKey, NftValue>, family: Family, name: &str) -> Chain {
        match map.get(&NftKey::chain(family, name)) {
            Some(NftValue::Chain(c)) => c.clone(),
            other => panic!("chain {name}: {other:?}"),
        }
    }

    fn set_of(map: &BTreeMap<NftKey, NftValue>, name: &str) -> SetDef {
        match map.get(&NftKey::set(Family::Ip, name)) {
            Some(NftValue::Set(d)) => d.clone(),
            other => panic!("set {name}: {other:?}"),
        }
    }

    #[test]
    fn reads_every_object_kroute_writes() {
        let got = parse_table(Family::Ip, KROUTE_IP).unwrap();
        let svc = "svc-1a2b3c4d-default/web/tcp/http";
        let ep1 = "ep-1a2b3c4d-default/web/tcp/http__10.244.1.5/8080";
        let ep2 = "ep-1a2b3c4d-default/web/tcp/http__10.244.2.5/8080";
        let mut want = BTreeMap::new();
        want.insert(NftKey::Table(Family::Ip), NftValue::Table);
        let set = |key, verdict_map, interval| {
            NftValue::Set(SetDef {
                key,
                verdict_map,
                interval,
            })
        };
        want.insert(
            NftKey::set(Family::Ip, "service-ips"),
            set(SetKeyType::AddrProtoPort, true, false),
        );
        want.insert(
            NftKey::set(Family::Ip, "service-nodeports"),
            set(SetKeyType::ProtoPort, true, false),
        );
        want.insert(
            NftKey::set(Family::Ip, "cluster-ips"),
            set(SetKeyType::Addr, false, false),
        );
        want.insert(
            NftKey::set(Family::Ip, "pod-cidrs"),
            set(SetKeyType::Addr, false, true),
        );
        let base = |kind, hook, priority| {
            Some(BaseHook {
                kind,
                hook,
                priority,
            })
        };
        let chains = [
            (
                "nat-output",
                base(ChainKind::Nat, Hook::Output, -100),
                1,
                Some("kroute:00000000000000a1"),
            ),
            (
                "nat-postrouting",
                base(ChainKind::Nat, Hook::Postrouting, 100),
                1,
                Some("kroute:00000000000000a2"),
            ),
            (
                "filter-forward",
                base(ChainKind::Filter, Hook::Forward, -110),
                2,
                Some("kroute:00000000000000a3"),
            ),
            ("services", None, 2, Some("kroute:00000000000000a4")),
            (svc, None, 1, Some("kroute:00000000000000a5")),
            (ep1, None, 2, Some("kroute:00000000000000a6")),
            (ep2, None, 1, None),
            (
                "mark-for-masquerade",
                None,
                1,
                Some("kroute:00000000000000a7"),
            ),
            ("masquerading", None, 3, Some("kroute:00000000000000a8")),
            ("empty", None, 0, None),
        ];
        for (name, hook, count, fp) in chains {
            want.insert(
                NftKey::chain(Family::Ip, name),
                NftValue::Chain(Chain::read_back(hook, digest(count, fp))),
            );
        }
        let goto_svc = Some(Verdict::Goto(svc.to_string()));
        let elements = [
            (
                "service-ips",
                ElementKey::AddrProtoPort(ip("10.96.0.10"), Proto::Tcp, 80),
                goto_svc.clone(),
            ),
            (
                "service-ips",
                ElementKey::AddrProtoPort(ip("10.96.0.11"), Proto::Sctp, 9000),
                goto_svc.clone(),
            ),
            (
                "service-ips",
                ElementKey::AddrProtoPort(ip("10.96.0.12"), Proto::Udp, 53),
                Some(Verdict::Drop),
            ),
            (
                "service-nodeports",
                ElementKey::ProtoPort(Proto::Tcp, 30080),
                goto_svc,
            ),
            (
                "service-nodeports",
                ElementKey::ProtoPort(Proto::Udp, 30053),
                Some(Verdict::Jump("mark-for-masquerade".into())),
            ),
            ("cluster-ips", net("10.96.0.10/32"), None),
            ("cluster-ips", net("10.96.0.11/32"), None),
            ("pod-cidrs", net("10.244.0.0/16"), None),
            ("pod-cidrs", net("10.250.1.1/32"), None),
        ];
        for (set, key, value) in elements {
            want.insert(
                NftKey::element(Family::Ip, set, key),
                NftValue::Element(value),
            );
        }
        assert_eq!(got, want);
    }

    #[test]
    fn reads_the_ip6_table() {
        let got = parse_table(Family::Ip6, KROUTE_IP6).unwrap();
        assert_eq!(
            got.get(&NftKey::element(
                Family::Ip6,
                "service-ips",
                ElementKey::AddrProtoPort(ip("fd00:96::10"), Proto::Udp, 53)
            )),
            Some(&NftValue::Element(Some(Verdict::Goto("ep6".into()))))
        );
        for key in [net("fd00:244::/64"), net("fd00::1/128")] {
            assert!(got.contains_key(&NftKey::element(Family::Ip6, "pod-cidrs", key)));
        }
        assert_eq!(
            set_of_family(&got, Family::Ip6, "service-ips").key,
            SetKeyType::AddrProtoPort
        );
        assert_eq!(
            chain_of(&got, Family::Ip6, "nat-prerouting"),
            Chain::read_back(
                Some(BaseHook {
                    kind: ChainKind::Nat,
                    hook: Hook::Prerouting,
                    priority: -100
                }),
                digest(1, Some("kroute:00000000000000b1"))
            )
        );
        assert_eq!(got.len(), 1 + 2 + 2 + 3);
        // The other family's listing yields nothing for this family.
        assert!(parse_table(Family::Ip, KROUTE_IP6).unwrap().is_empty());
    }

    fn set_of_family(map: &BTreeMap<NftKey, NftValue>, family: Family, name: &str) -> SetDef {
        match map.get(&NftKey::set(family, name)) {
            Some(NftValue::Set(d)) => d.clone(),
            other => panic!("set {name}: {other:?}"),
        }
    }

    #[test]
    fn hand_made_sets_are_kept_as_unknown() {
        let got = parse_table(Family::Ip, ODD_IP).unwrap();
        for name in ["macs", "nat-map", "timed", "v6-in-ip"] {
            assert_eq!(set_of(&got, name).key, SetKeyType::Unknown, "{name}");
        }
        assert_eq!(
            set_of(&got, "ranges"),
            SetDef {
                key: SetKeyType::Addr,
                verdict_map: false,
                interval: true
            }
        );
        assert_eq!(set_of(&got, "service-ips").key, SetKeyType::AddrProtoPort);
    }

    #[test]
    fn elements_kroute_cannot_type_are_kept_as_nft_text() {
        let got = parse_table(Family::Ip, ODD_IP).unwrap();
        let has = |set: &str, key: ElementKey, value: Option<Verdict>| {
            assert_eq!(
                got.get(&NftKey::element(Family::Ip, set, key.clone())),
                Some(&NftValue::Element(value)),
                "{set} {key}"
            );
        };
        has(
            "macs",
            ElementKey::Unknown("02:00:00:00:00:01".into()),
            None,
        );
        has("nat-map", net("10.0.0.1/32"), None);
        has(
            "ranges",
            ElementKey::Unknown("10.0.0.1-10.0.0.7".into()),
            None,
        );
        has("ranges", net("10.1.0.0/16"), None);
        // Wrapped in `{"elem": {"val": ...}}` because of its timeout/comment.
        has("timed", net("10.9.9.9/32"), None);
        has(
            "service-ips",
            ElementKey::Unknown("10.96.0.99 . icmp . 80".into()),
            None,
        );
        has(
            "service-ips",
            ElementKey::AddrProtoPort(ip("10.96.0.98"), Proto::Tcp, 80),
            Some(Verdict::Goto("target".into())),
        );
        has(
            "service-ips",
            ElementKey::AddrProtoPort(ip("10.96.0.97"), Proto::Sctp, 80),
            Some(Verdict::Accept),
        );
        has(
            "service-ips",
            ElementKey::AddrProtoPort(ip("10.96.0.96"), Proto::Tcp, 8080),
            Some(Verdict::Return),
        );
    }

    #[test]
    fn hand_edited_chains_never_equal_what_kroute_writes() {
        let got = parse_table(Family::Ip, ODD_IP).unwrap();
        // A rule inserted before kroute's: the first comment is not kroute's.
        assert_eq!(chain_of(&got, Family::Ip, "target").digest, digest(2, None));
        assert_eq!(chain_of(&got, Family::Ip, "hand").digest, digest(1, None));
        let routed = chain_of(&got, Family::Ip, "routed");
        assert_eq!(routed.hook, None);
        assert_eq!(
            routed.digest.fingerprint.as_deref(),
            Some("foreign:type route")
        );
        let dropper = chain_of(&got, Family::Ip, "dropper");
        assert_eq!(
            dropper.hook,
            Some(BaseHook {
                kind: ChainKind::Filter,
                hook: Hook::Input,
                priority: 0
            })
        );
        assert_eq!(
            dropper.digest.fingerprint.as_deref(),
            Some("foreign:policy drop")
        );
    }

    #[test]
    fn proto_numbers_and_unknown_objects_are_handled() {
        let json = r#"{"nftables": [
            {"metainfo": {"version": "1.0.6"}},
            {"table": {"family": "ip", "name": "kroute", "handle": 1}},
            {"flowtable": {"family": "ip", "table": "kroute", "name": "ft"}},
            {"set": {"family": "ip", "table": "other", "name": "not-ours", "type": "ipv4_addr"}},
            {"map": {"family": "ip", "table": "kroute", "name": "np", "type": ["inet_proto", "inet_service"],
                     "map": "verdict",
                     "elem": [[{"concat": [132, 80]}, {"goto": {"target": "c"}}],
                              [{"concat": ["udp", "53"]}, {"drop": null}],
                              [{"weird": 1}, {"drop": null}]]}}
        ]}"#;
        let got = parse_table(Family::Ip, json).unwrap();
        let elem = |k| NftKey::element(Family::Ip, "np", k);
        assert!(got.contains_key(&elem(ElementKey::ProtoPort(Proto::Sctp, 80))));
        assert!(got.contains_key(&elem(ElementKey::ProtoPort(Proto::Udp, 53))));
        assert!(got.contains_key(&elem(ElementKey::Unknown(r#"{"weird":1}"#.into()))));
        assert_eq!(got.len(), 5, "{got:#?}");
    }

    #[test]
    fn invalid_json_is_a_read_error() {
        for bad in ["", "{", r#"{"other": []}"#] {
            assert!(matches!(
                parse_table(Family::Ip, bad),
                Err(HostError::Read { .. })
            ));
        }
    }
}
