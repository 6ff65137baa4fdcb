//! Typed nftables rules: the closed set of matches and statements kroute emits.
//! Each has one meaning an encoder (text today, netlink later) can translate.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use super::artifact::{Proto, Verdict};

/// Packet mark bit that asks the postrouting chain to masquerade (kube-proxy's).
pub const MASQUERADE_MARK: u32 = 0x4000;

/// A condition on the packet.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Match {
    /// `ct state new`
    CtStateNew,
    /// `fib daddr type local`
    FibDaddrLocal,
    /// `fib saddr type local`
    FibSaddrLocal,
    /// `ip daddr @set`
    DaddrInSet(String),
    /// `ip saddr @set`
    SaddrInSet(String),
    /// `ip daddr { nets }` (one or more prefixes/addresses)
    DaddrIn(Vec<IpNet>),
    /// `ip daddr != { nets }`
    DaddrNotIn(Vec<IpNet>),
    /// `ip saddr { nets }`
    SaddrIn(Vec<IpNet>),
    /// `ip saddr != { nets }`
    SaddrNotIn(Vec<IpNet>),
    /// `meta l4proto tcp`
    L4Proto(Proto),
    /// `meta mark & 0x4000 == 0`
    MasqueradeMarkUnset,
    /// `numgen random mod N == 0`: true with probability 1/N (a fresh draw
    /// per rule, so successive rules with N, N-1, ... 2 pick uniformly).
    NumgenOneIn(u32),
}

/// Which packet fields index a verdict map lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum VmapKey {
    /// `ip daddr . meta l4proto . th dport`
    DaddrProtoPort,
    /// `meta l4proto . th dport`
    ProtoPort,
}

/// One statement of a rule: a match or an action.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Stmt {
    Match(Match),
    /// `<key> vmap @map`
    VmapLookup {
        key: VmapKey,
        map: String,
    },
    /// `numgen random mod N vmap { 0 : v0, 1 : v1, ... }` (N = targets.len()).
    NumgenVmap(Vec<Verdict>),
    /// `meta mark set meta mark | 0x4000`
    SetMasqueradeMark,
    /// `meta mark set meta mark ^ 0x4000` (clears it once the mark was seen)
    ClearMasqueradeMark,
    /// `masquerade fully-random`
    Masquerade,
    /// `dnat to ADDR:PORT` (needs an `L4Proto` match before it in the rule)
    Dnat(SocketAddr),
    /// `update @set { ip saddr }`: adds the source address to a dynamic set,
    /// or refreshes its timeout (session affinity).
    UpdateSaddrSet(String),
    /// `reject` (ICMP port unreachable; TCP clients see connection refused)
    Reject,
    Verdict(Verdict),
}

/// A rule: statements evaluated left to right.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Rule {
    pub stmts: Vec<Stmt>,
}

impl Rule {
    pub fn new(stmts: Vec<Stmt>) -> Rule {
        Rule { stmts }
    }

    /// A rule that is a single verdict.
    pub fn verdict(v: Verdict) -> Rule {
        Rule::new(vec![Stmt::Verdict(v)])
    }

    /// `meta l4proto P dnat to ADDR:PORT`
    pub fn dnat(proto: Proto, to: SocketAddr) -> Rule {
        Rule::new(vec![Stmt::Match(Match::L4Proto(proto)), Stmt::Dnat(to)])
    }

    /// `ip saddr ADDR jump mark-for-masquerade` (hairpin)
    pub fn mark_if_saddr(addr: IpAddr, mark_chain: &str) -> Rule {
        Rule::new(vec![
            Stmt::Match(Match::SaddrIn(vec![IpNet::from(addr)])),
            Stmt::Verdict(Verdict::Jump(mark_chain.to_string())),
        ])
    }
}
