//! Real BGP daemons (FRR's bgpd, gobgpd, BIRD) started in a peer namespace
//! from one description of the peer (`DaemonConfig`), and what each holds
//! from a neighbor read back in one shape (`HeldPath`), so a test can run the
//! same case against all three.

pub mod bird;
pub mod frr;
pub mod gobgp;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use super::netns::NetNs;

/// One session of the daemon: the neighbor (kroute), its ASN, and the
/// daemon's own address on that session.
#[derive(Clone, Debug)]
pub struct Neighbor {
    pub address: IpAddr,
    pub asn: u32,
    pub local: IpAddr,
    /// The session's TCP MD5 password (FRR only: the other daemons' configs
    /// refuse one).
    pub password: Option<String>,
}

/// What a test daemon is: its AS, router ID, sessions, and the prefixes it
/// announces itself (to every neighbor, both families).
#[derive(Clone, Debug)]
pub struct DaemonConfig {
    pub asn: u32,
    pub router_id: Ipv4Addr,
    pub neighbors: Vec<Neighbor>,
    pub announce: Vec<IpNet>,
}

impl DaemonConfig {
    /// One session with `node` (ASN `node_asn`) from `local`.
    pub fn single(asn: u32, router_id: &str, local: &str, node: &str, node_asn: u32) -> Self {
        DaemonConfig {
            asn,
            router_id: router_id.parse().expect("router id"),
            neighbors: vec![Neighbor {
                address: node.parse().expect("neighbor address"),
                asn: node_asn,
                local: local.parse().expect("local address"),
                password: None,
            }],
            announce: Vec::new(),
        }
    }

    /// Also announce `prefixes`.
    pub fn announcing(mut self, prefixes: &[&str]) -> Self {
        self.announce
            .extend(prefixes.iter().map(|p| p.parse::<IpNet>().expect("prefix")));
        self
    }
}

/// One path a daemon holds from a neighbor, in the daemon-neutral shape the
/// tests compare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldPath {
    pub next_hop: IpAddr,
    /// AS_PATH, flattened (empty on iBGP).
    pub as_path: Vec<u32>,
    /// Standard communities as `A:B`, in the order the daemon shows them.
    pub communities: Vec<String>,
    /// LOCAL_PREF when the daemon shows it as received.
    pub local_pref: Option<u32>,
    /// Held past the session under graceful restart (FRR and GoBGP say so;
    /// BIRD's text does not, it is `false` there).
    pub stale: bool,
}

/// The daemons the tests can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Frr,
    Gobgp,
    Bird,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Frr, Kind::Gobgp, Kind::Bird];

    /// The commands this daemon needs.
    pub fn tools(self) -> &'static [&'static str] {
        match self {
            Kind::Frr => &["vtysh"],
            Kind::Gobgp => &["gobgpd", "gobgp"],
            Kind::Bird => &["bird", "birdc"],
        }
    }

    /// Whether the daemon can run here: `kernel_tier_available` for its
    /// tools, and FRR's bgpd (outside PATH). Under `CI` a missing daemon
    /// panics.
    pub fn available(self) -> bool {
        let mut tools = vec!["ip"];
        tools.extend_from_slice(self.tools());
        if !super::kernel_tier_available(&tools) {
            return false;
        }
        if self == Kind::Frr && !std::path::Path::new(frr::BGPD).exists() {
            let why = format!("interop tier needs {}", frr::BGPD);
            if std::env::var_os("CI").is_some() {
                panic!("{why} (CI is set: a skipped tier is a failure)");
            }
            eprintln!("SKIPPED: {why}");
            return false;
        }
        true
    }

    /// Starts this daemon in `ns`.
    pub fn start(self, ns: &NetNs, config: &DaemonConfig) -> Box<dyn PeerDaemon> {
        match self {
            Kind::Frr => Box::new(frr::Frr::start(ns, config)),
            Kind::Gobgp => Box::new(gobgp::Gobgp::start(ns, config)),
            Kind::Bird => Box::new(bird::Bird::start(ns, config)),
        }
    }
}

/// A running daemon, read through its own CLI.
pub trait PeerDaemon {
    fn kind(&self) -> Kind;
    /// Every path it holds from `neighbor`, by prefix, both families.
    fn held_from(&self, neighbor: IpAddr) -> BTreeMap<IpNet, HeldPath>;
    /// Whether its session with `neighbor` is Established.
    fn established(&self, neighbor: IpAddr) -> bool;
    /// Its own account of its sessions (for failure messages).
    fn sessions(&self) -> String;
    /// What it printed so far.
    fn log(&self) -> String;
    /// Stops it (SIGTERM, then SIGKILL).
    fn stop(&mut self);
}

/// The prefixes of `held`.
pub fn prefixes(held: &BTreeMap<IpNet, HeldPath>) -> Vec<String> {
    held.keys().map(ToString::to_string).collect()
}

/// A standard community `(asn << 16) | value` as `asn:value`.
pub fn community(raw: u32) -> String {
    format!("{}:{}", raw >> 16, raw & 0xffff)
}

/// An AS path written as space-separated numbers (set brackets and other
/// words dropped).
pub fn as_path_words(text: &str) -> Vec<u32> {
    text.split(|c: char| c.is_whitespace() || "{}(),".contains(c))
        .filter_map(|w| w.parse().ok())
        .collect()
}
