//! nftables inside a namespace: load scripts, list tables (text and JSON), and
//! the reachability questions tests ask about a listed table.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use super::netns::NetNs;

/// Loads `script` with `nft -f -` in `ns`; panics with nft's error on failure.
pub fn load(ns: &NetNs, script: &str) {
    let out = nft_stdin(ns, &["-f", "-"], script);
    assert!(
        out.status.success(),
        "nft -f in {} failed: {}\n--- script ---\n{script}",
        ns.name,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `nft <args>` in `ns`, whatever the outcome.
pub fn nft(ns: &NetNs, args: &[&str]) -> Output {
    let mut argv = vec!["nft"];
    argv.extend_from_slice(args);
    ns.exec_unchecked(&argv)
}

fn nft_stdin(ns: &NetNs, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.name, "nft"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nft");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(stdin.as_bytes())
        .expect("write nft script");
    child.wait_with_output().expect("wait for nft")
}

/// `nft list table FAMILY NAME` text, or `None` when the table does not exist.
pub fn list_table(ns: &NetNs, family: &str, name: &str) -> Option<String> {
    let out = nft(ns, &["list", "table", family, name]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `nft -j list table FAMILY NAME`, parsed; `None` when the table does not exist.
pub fn list_table_json(ns: &NetNs, family: &str, name: &str) -> Option<NftTable> {
    let out = nft(ns, &["-j", "list", "table", family, name]);
    if !out.status.success() {
        return None;
    }
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "nft -j output is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    Some(NftTable::from_json(&json))
}

/// What a listed table holds, keyed by name.
#[derive(Clone, Debug, Default)]
pub struct NftTable {
    pub chains: BTreeSet<String>,
    /// Set or map name → its elements (raw JSON: a key, or `[key, value]` for maps).
    pub elements: BTreeMap<String, Vec<Value>>,
    /// Chain name → the expression list of each of its rules.
    pub rules: BTreeMap<String, Vec<Value>>,
}

impl NftTable {
    pub fn from_json(json: &Value) -> NftTable {
        let mut table = NftTable::default();
        let objects = json["nftables"].as_array().cloned().unwrap_or_default();
        for object in objects {
            if let Some(chain) = object.get("chain") {
                table.chains.insert(str_field(chain, "name"));
            } else if let Some(set) = object.get("set").or_else(|| object.get("map")) {
                let elems = set["elem"].as_array().cloned().unwrap_or_default();
                table.elements.insert(str_field(set, "name"), elems);
            } else if let Some(rule) = object.get("rule") {
                table
                    .rules
                    .entry(str_field(rule, "chain"))
                    .or_default()
                    .push(rule["expr"].clone());
            }
        }
        table
    }

    /// Elements (as `(set name, element)`) with a leaf equal to `needle`:
    /// an address ("10.96.0.11") or a port ("30081").
    pub fn elements_mentioning(&self, needle: &str) -> Vec<(String, Value)> {
        self.elements
            .iter()
            .flat_map(|(set, elems)| elems.iter().map(move |e| (set, e)))
            .filter(|(_, e)| has_leaf(e, needle))
            .map(|(set, e)| (set.clone(), e.clone()))
            .collect()
    }

    /// Chains reached by `goto`/`jump` from the elements mentioning `needle`,
    /// and transitively from those chains' rules.
    pub fn chains_reached_from_elements(&self, needle: &str) -> BTreeSet<String> {
        let start: Vec<String> = self
            .elements_mentioning(needle)
            .iter()
            .flat_map(|(_, e)| verdict_targets(e))
            .collect();
        self.reach(start)
    }

    fn reach(&self, start: Vec<String>) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = start;
        while let Some(chain) = todo.pop() {
            if !seen.insert(chain.clone()) {
                continue;
            }
            for rule in self.rules.get(&chain).into_iter().flatten() {
                todo.extend(verdict_targets(rule));
            }
        }
        seen
    }
}

fn str_field(object: &Value, key: &str) -> String {
    object[key].as_str().unwrap_or_default().to_string()
}

/// Whether some string or number inside `value` equals `needle`.
fn has_leaf(value: &Value, needle: &str) -> bool {
    match value {
        Value::String(s) => s == needle,
        Value::Number(n) => n.to_string() == needle,
        Value::Array(items) => items.iter().any(|v| has_leaf(v, needle)),
        Value::Object(map) => map.values().any(|v| has_leaf(v, needle)),
        _ => false,
    }
}

/// Every `{"goto"|"jump": {"target": CHAIN}}` inside `value`.
fn verdict_targets(value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    collect_targets(value, &mut found);
    found
}

fn collect_targets(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| collect_targets(v, found)),
        Value::Object(map) => {
            for (key, inner) in map {
                if (key == "goto" || key == "jump")
                    && let Some(target) = inner["target"].as_str()
                {
                    found.push(target.to_string());
                } else {
                    collect_targets(inner, found);
                }
            }
        }
        _ => {}
    }
}

/// A table owned by "someone else" that kroute must never touch. Its chain is
/// named like one of kroute's (`services`) on purpose, and nothing in it counts
/// packets, so its listing is stable byte for byte.
pub struct ForeignTable {
    pub listing: String,
}

impl ForeignTable {
    pub const SCRIPT: &'static str = "table inet foreign {
  set blocked {
    type ipv4_addr
    elements = { 203.0.113.7 }
  }
  chain services {
    tcp dport 9 drop
  }
  chain input {
    type filter hook input priority 0; policy accept;
    ip saddr @blocked drop
    tcp dport 9 jump services
  }
}
";

    /// Creates `table inet foreign` in `ns` and records its listing.
    pub fn install(ns: &NetNs) -> ForeignTable {
        load(ns, Self::SCRIPT);
        let listing = list_table(ns, "inet", "foreign").expect("foreign table just created");
        ForeignTable { listing }
    }

    /// Panics unless `nft list table inet foreign` is byte-for-byte what it was.
    pub fn assert_unchanged(&self, ns: &NetNs, when: &str) {
        let now = list_table(ns, "inet", "foreign");
        assert_eq!(
            now.as_deref(),
            Some(self.listing.as_str()),
            "table inet foreign changed {when}"
        );
    }
}
