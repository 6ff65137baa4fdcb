//! Identity (`NftKey`) and content (`NftValue`) of every nftables object kroute owns.

use std::net::IpAddr;

use super::rule::Rule;

pub use crate::model::{Family, Proto};

/// Identity of one owned nftables object. Ordering matters only for stable output.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum NftKey {
    /// The `kroute` table of a family.
    Table(Family),
    /// A set or a map declaration.
    Set { family: Family, name: String },
    /// A chain (base or regular).
    Chain { family: Family, name: String },
    /// One element of a set or map.
    Element {
        family: Family,
        set: String,
        key: ElementKey,
    },
}

impl NftKey {
    pub fn family(&self) -> Family {
        match self {
            NftKey::Table(f) => *f,
            NftKey::Set { family, .. }
            | NftKey::Chain { family, .. }
            | NftKey::Element { family, .. } => *family,
        }
    }

    pub fn chain(family: Family, name: impl Into<String>) -> NftKey {
        NftKey::Chain {
            family,
            name: name.into(),
        }
    }

    pub fn set(family: Family, name: impl Into<String>) -> NftKey {
        NftKey::Set {
            family,
            name: name.into(),
        }
    }

    pub fn element(family: Family, set: impl Into<String>, key: ElementKey) -> NftKey {
        NftKey::Element {
            family,
            set: set.into(),
            key,
        }
    }
}

impl std::fmt::Display for NftKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NftKey::Table(fam) => write!(f, "table {fam} kroute"),
            NftKey::Set { family, name } => write!(f, "set {family} kroute {name}"),
            NftKey::Chain { family, name } => write!(f, "chain {family} kroute {name}"),
            NftKey::Element { family, set, key } => {
                write!(f, "element {family} kroute {set} {{ {key} }}")
            }
        }
    }
}

/// Key of a set/map element, in the shapes kroute's sets use.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum ElementKey {
    /// `10.96.0.1` (or a prefix in an interval set: `10.0.0.0/24`)
    Net(ipnet::IpNet),
    /// `10.96.0.1 . tcp . 80`
    AddrProtoPort(IpAddr, Proto, u16),
    /// `tcp . 30080`
    ProtoPort(Proto, u16),
    /// An element read back from the kernel in a form kroute never writes
    /// (a range, an unknown protocol, a hand-made set's key), kept as nft
    /// syntax so it can still be compared and deleted.
    Unknown(String),
}

impl std::fmt::Display for ElementKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ElementKey::Net(net) if net.prefix_len() == net.max_prefix_len() => {
                write!(f, "{}", net.addr())
            }
            ElementKey::Net(net) => write!(f, "{net}"),
            ElementKey::AddrProtoPort(a, p, port) => write!(f, "{a} . {p} . {port}"),
            ElementKey::ProtoPort(p, port) => write!(f, "{p} . {port}"),
            ElementKey::Unknown(text) => f.write_str(text),
        }
    }
}

/// A verdict, in a rule or as a map element's value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Verdict {
    Accept,
    Drop,
    Return,
    Jump(String),
    Goto(String),
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Accept => f.write_str("accept"),
            Verdict::Drop => f.write_str("drop"),
            Verdict::Return => f.write_str("return"),
            Verdict::Jump(c) => write!(f, "jump {c}"),
            Verdict::Goto(c) => write!(f, "goto {c}"),
        }
    }
}

/// Content of an owned object.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum NftValue {
    Table,
    Set(SetDef),
    Chain(Chain),
    /// A set element (`None`) or a verdict-map element (`Some`).
    Element(Option<Verdict>),
}

/// Key types kroute's sets and maps use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum SetKeyType {
    /// `ipv4_addr` / `ipv6_addr`
    Addr,
    /// `ipv4_addr . inet_proto . inet_service`
    AddrProtoPort,
    /// `inet_proto . inet_service`
    ProtoPort,
    /// A set read back from the kernel whose declaration kroute cannot
    /// express (another key type, non-verdict map data, extra flags). It
    /// never equals a desired set, so it is replaced or swept.
    Unknown,
}

/// A set (no `verdict_map`) or a verdict map declaration.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SetDef {
    pub key: SetKeyType,
    /// `true`: `map ... : verdict`; `false`: a plain set.
    pub verdict_map: bool,
    /// `flags interval` (prefixes as elements).
    pub interval: bool,
    /// `flags dynamic,timeout ; timeout Ns`: a set the kernel fills from
    /// rules (`update @set`), each element expiring after this many seconds.
    /// Its elements are the kernel's, never kroute's: they are neither
    /// planned nor read back.
    pub timeout: Option<u32>,
}

impl SetDef {
    /// A static set or verdict map (no timeout).
    pub fn new(key: SetKeyType, verdict_map: bool, interval: bool) -> SetDef {
        SetDef {
            key,
            verdict_map,
            interval,
            timeout: None,
        }
    }

    /// A dynamic address set whose elements expire after `timeout` seconds.
    pub fn dynamic_addrs(timeout: u32) -> SetDef {
        SetDef {
            timeout: Some(timeout),
            ..SetDef::new(SetKeyType::Addr, false, false)
        }
    }
}

/// Netfilter hook of a base chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Hook {
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
}

impl Hook {
    pub fn keyword(self) -> &'static str {
        match self {
            Hook::Prerouting => "prerouting",
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Output => "output",
            Hook::Postrouting => "postrouting",
        }
    }
}

/// Chain type of a base chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum ChainKind {
    Filter,
    Nat,
}

impl ChainKind {
    pub fn keyword(self) -> &'static str {
        match self {
            ChainKind::Filter => "filter",
            ChainKind::Nat => "nat",
        }
    }
}

/// What makes a chain a base chain. Priorities are numeric: nft 1.0.6 rejects
/// `priority dstnat` on the output hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct BaseHook {
    pub kind: ChainKind,
    pub hook: Hook,
    pub priority: i32,
}

/// What the kernel can tell us about a chain's rules without parsing them back:
/// how many there are, and the fingerprint kroute put in the first rule's comment.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct ChainDigest {
    pub rule_count: usize,
    /// `None` when the first rule carries no kroute fingerprint (or there is no rule).
    pub fingerprint: Option<String>,
}

/// A chain: its hook (for base chains) and rules.
///
/// Equality is by hook and digest, not by rules: a chain read back from the
/// kernel has a digest but no rules, and must compare equal to the desired
/// chain it was written from.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Chain {
    pub hook: Option<BaseHook>,
    /// Empty for chains read back from the kernel.
    pub rules: Vec<Rule>,
    pub digest: ChainDigest,
}

impl Chain {
    /// A chain kroute writes: the digest is computed from the rules.
    pub fn new(hook: Option<BaseHook>, rules: Vec<Rule>) -> Chain {
        let digest = ChainDigest {
            rule_count: rules.len(),
            fingerprint: (!rules.is_empty()).then(|| fingerprint(hook.as_ref(), &rules)),
        };
        Chain {
            hook,
            rules,
            digest,
        }
    }

    /// A regular (non-base) chain.
    pub fn regular(rules: Vec<Rule>) -> Chain {
        Chain::new(None, rules)
    }

    /// A chain as read back from the kernel.
    pub fn read_back(hook: Option<BaseHook>, digest: ChainDigest) -> Chain {
        Chain {
            hook,
            rules: Vec::new(),
            digest,
        }
    }
}

impl PartialEq for Chain {
    fn eq(&self, other: &Self) -> bool {
        self.hook == other.hook && self.digest == other.digest
    }
}

impl Eq for Chain {}

/// Prefix of the fingerprint comment on a chain's first rule.
pub const FINGERPRINT_PREFIX: &str = "kroute:";

/// Fingerprint of a chain's content: FNV-1a 64 over the typed rules fed
/// through `Hash` (no intermediate text). Deterministic for a given kroute
/// build and platform, unlike `DefaultHasher`'s random keys; a new build may
/// compute other values, which only rewrites each chain once.
fn fingerprint(hook: Option<&BaseHook>, rules: &[Rule]) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = Fnv64(0xcbf2_9ce4_8422_2325);
    hook.hash(&mut hasher);
    rules.hash(&mut hasher);
    format!("{FINGERPRINT_PREFIX}{:016x}", hasher.finish())
}

/// FNV-1a, 64 bit.
struct Fnv64(u64);

impl std::hash::Hasher for Fnv64 {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::nft::{Rule, Stmt};

    #[test]
    fn read_back_chain_equals_the_chain_it_was_written_from() {
        let written = Chain::regular(vec![Rule::new(vec![Stmt::Reject])]);
        let back = Chain::read_back(None, written.digest.clone());
        assert_eq!(written, back);
    }

    #[test]
    fn different_rules_give_different_digests() {
        let a = Chain::regular(vec![Rule::new(vec![Stmt::Reject])]);
        let b = Chain::regular(vec![Rule::new(vec![Stmt::Verdict(Verdict::Drop)])]);
        assert_ne!(a, b);
        assert_ne!(a.digest.fingerprint, b.digest.fingerprint);
    }

    #[test]
    fn a_hand_added_rule_changes_the_digest() {
        let written = Chain::regular(vec![Rule::new(vec![Stmt::Reject])]);
        let mut tampered = written.digest.clone();
        tampered.rule_count += 1;
        assert_ne!(written, Chain::read_back(None, tampered));
    }
}
