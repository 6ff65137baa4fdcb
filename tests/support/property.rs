//! The generator of the randomized kernel property test
//! (`tests/kernel_property.rs`): a seeded RNG and a small model of the
//! cluster (Services, their endpoints, this Node and another one) that
//! random steps change. Every step says in words what it changed, so a
//! failure's step list reads as the story that led to it; the seed replays it.
//!
//! The objects stay what the API server would accept: cluster IPs, node
//! ports and healthCheckNodePorts are unique per Service (allocated from
//! its slot), a healthCheckNodePort exists only on a LoadBalancer with
//! `externalTrafficPolicy: Local`, external and LB IPs are distinct per
//! Service (two Services claiming one address and port is a conflict whose
//! winner depends on sync order, not a state a fresh plan can be compared to).

use std::collections::BTreeMap;

pub mod checks;
mod objects;

/// Service slots: a Service's addresses and ports derive from its slot.
pub const SLOTS: usize = 6;
/// The node kroute runs as.
pub const NODE: &str = "node-a";
const OTHER_NODE: &str = "node-b";
const NAMESPACE: &str = "prop";
/// This node's possible IPv4 addresses (the test puts them on `lo`).
pub const NODE_V4: [&str; 2] = ["192.168.50.1", "192.168.50.2"];
/// This node's possible IPv6 address.
pub const NODE_V6: &str = "fd00:50::1";
const ZONES: [&str; 2] = ["zone-a", "zone-b"];

/// SplitMix64: small, seedable, good enough to pick test steps.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// A random subset of `items`, in order.
    pub fn subset<T: Clone>(&mut self, items: &[T]) -> Vec<T> {
        items.iter().filter(|_| self.chance(50)).cloned().collect()
    }
}

/// IP families a Service has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stack {
    V4,
    V6,
    Dual,
}

impl Stack {
    fn v4(self) -> bool {
        self != Stack::V6
    }
    fn v6(self) -> bool {
        self != Stack::V4
    }
}

#[derive(Clone, Debug)]
struct Port {
    name: String,
    proto: &'static str,
    port: u16,
    target: u16,
}

#[derive(Clone, Debug)]
struct Svc {
    kind: &'static str,
    stack: Stack,
    ports: Vec<Port>,
    external_ips: Vec<String>,
    /// LB ingress: address and `ipMode`.
    lb_ingress: Vec<(String, Option<&'static str>)>,
    /// `sessionAffinity: ClientIP`, with `timeoutSeconds` when set.
    affinity: Option<Option<i32>>,
    etp_local: bool,
    itp_local: bool,
    source_ranges: Vec<String>,
    annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug)]
struct Ep {
    v6: bool,
    /// Which of the family's two slices lists it.
    slice: u8,
    host: u8,
    node: Option<&'static str>,
    ready: bool,
    serving: bool,
    terminating: bool,
    zone: Option<&'static str>,
    hint: Option<&'static str>,
}

/// The cluster as the test has made it so far.
#[derive(Clone, Debug)]
pub struct World {
    svcs: Vec<Option<Svc>>,
    /// Endpoints per slot; they outlive their Service (an orphan slice).
    eps: Vec<Vec<Ep>>,
    node_zone: Option<&'static str>,
    node_v4: Option<&'static str>,
    node_v6: bool,
    node_label: bool,
    other_zone: &'static str,
}

impl Default for World {
    fn default() -> Self {
        World {
            svcs: vec![None; SLOTS],
            eps: vec![Vec::new(); SLOTS],
            node_zone: Some(ZONES[0]),
            node_v4: Some(NODE_V4[0]),
            node_v6: true,
            node_label: false,
            other_zone: ZONES[1],
        }
    }
}

fn svc_name(slot: usize) -> String {
    format!("svc-{slot}")
}

fn random_ports(rng: &mut Rng, slot: usize) -> Vec<Port> {
    let mut ports = Vec::new();
    let numbers = [80u16, 443, 53, 8080];
    for (i, proto) in ["TCP", "UDP", "SCTP"].into_iter().enumerate() {
        if i > 0 && !rng.chance(40) {
            continue;
        }
        // Often the same number on two protocols (DNS-like).
        let port = if i > 0 && rng.chance(50) {
            ports.first().map_or(80, |p: &Port| p.port)
        } else {
            rng.pick(&numbers)
        };
        if ports.iter().any(|p| p.port == port && p.proto == proto) {
            continue;
        }
        ports.push(Port {
            name: format!("p{i}-{}", proto.to_lowercase()),
            proto,
            port,
            target: 8000 + (slot as u16) * 10 + i as u16,
        });
    }
    ports
}

fn random_external_ips(rng: &mut Rng, slot: usize) -> Vec<String> {
    let mut ips = Vec::new();
    for k in 0..2 {
        if rng.chance(30) {
            ips.push(format!("203.0.113.{}", slot * 4 + k + 1));
        }
    }
    if rng.chance(20) {
        ips.push(format!("2001:db8:203::{:x}", slot * 4 + 1));
    }
    ips
}

fn random_lb_ingress(rng: &mut Rng, slot: usize) -> Vec<(String, Option<&'static str>)> {
    let mut out = Vec::new();
    let modes = [None, None, Some("VIP"), Some("Proxy")];
    for k in 0..2 {
        if rng.chance(60) {
            out.push((format!("198.51.100.{}", slot * 4 + k + 1), rng.pick(&modes)));
        }
    }
    if rng.chance(40) {
        out.push((
            format!("2001:db8:198::{:x}", slot * 4 + 1),
            rng.pick(&modes),
        ));
    }
    out
}

fn random_affinity(rng: &mut Rng) -> Option<Option<i32>> {
    match rng.below(4) {
        0 => Some(None),
        1 => Some(Some(rng.pick(&[10, 300, 10800]))),
        _ => None,
    }
}

fn random_source_ranges(rng: &mut Rng) -> Vec<String> {
    if !rng.chance(40) {
        return Vec::new();
    }
    // 192.168.50.0/24 holds the node's address: its LB IPs are let in.
    rng.subset(&[
        "10.0.0.0/8".to_string(),
        "192.168.50.0/24".to_string(),
        " 172.16.0.0/12 ".to_string(),
        "2001:db8:1::/48".to_string(),
    ])
}

fn random_annotations(rng: &mut Rng) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for key in [
        "service.local",
        "service.hairpin",
        "service.hairpin.externalips",
        "service.skiplbips",
    ] {
        if rng.chance(25) {
            let prefix = rng.pick(&["kube-router.io", "kroute.io"]);
            // A malformed value is reported and treated as absent.
            let value = rng.pick(&["true", "true", "false", "", "maybe"]);
            out.insert(format!("{prefix}/{key}"), value.to_string());
        }
    }
    out
}

fn random_svc(rng: &mut Rng, slot: usize) -> Svc {
    Svc {
        kind: rng.pick(&["ClusterIP", "NodePort", "LoadBalancer", "LoadBalancer"]),
        stack: rng.pick(&[Stack::V4, Stack::V4, Stack::V6, Stack::Dual, Stack::Dual]),
        ports: random_ports(rng, slot),
        external_ips: random_external_ips(rng, slot),
        lb_ingress: random_lb_ingress(rng, slot),
        affinity: random_affinity(rng),
        etp_local: rng.chance(40),
        itp_local: rng.chance(25),
        source_ranges: random_source_ranges(rng),
        annotations: random_annotations(rng),
    }
}

fn random_ep(rng: &mut Rng, v6: bool, taken: &[u8]) -> Ep {
    let mut host = (rng.below(40) + 2) as u8;
    while taken.contains(&host) {
        host = host % 250 + 1;
    }
    let (ready, serving, terminating) = rng.pick(&[
        (true, true, false),
        (true, true, false),
        (true, true, false),
        (false, true, true),
        (false, false, true),
        (false, false, false),
    ]);
    Ep {
        v6,
        slice: rng.below(2) as u8,
        host,
        node: rng.pick(&[Some(NODE), Some(NODE), Some(OTHER_NODE), None]),
        ready,
        serving,
        terminating,
        zone: rng.pick(&[None, Some(ZONES[0]), Some(ZONES[1])]),
        hint: rng.pick(&[None, None, Some(ZONES[0]), Some(ZONES[1])]),
    }
}

impl World {
    /// Applies one random change and says what it was.
    pub fn step(&mut self, rng: &mut Rng) -> String {
        let slot = rng.below(SLOTS);
        let name = svc_name(slot);
        if self.svcs[slot].is_none() {
            if rng.chance(70) {
                let svc = random_svc(rng, slot);
                let text = format!("add {name}: {svc:?}");
                self.svcs[slot] = Some(svc);
                return text;
            }
            return self.change_endpoints(rng, slot);
        }
        match rng.below(16) {
            0 => {
                self.svcs[slot] = None;
                if rng.chance(60) {
                    self.eps[slot].clear();
                    return format!("remove {name} and its slices");
                }
                format!("remove {name}, keep its slices")
            }
            1..=6 => self.change_endpoints(rng, slot),
            7 => self.change_node(rng),
            _ => self.change_service(rng, slot),
        }
    }

    fn change_service(&mut self, rng: &mut Rng, slot: usize) -> String {
        let name = svc_name(slot);
        let svc = self.svcs[slot].as_mut().expect("present");
        let what = match rng.below(10) {
            0 => {
                svc.kind = rng.pick(&["ClusterIP", "NodePort", "LoadBalancer"]);
                format!("type {}", svc.kind)
            }
            1 => {
                svc.ports = random_ports(rng, slot);
                format!("ports {:?}", svc.ports)
            }
            2 => {
                svc.external_ips = random_external_ips(rng, slot);
                format!("externalIPs {:?}", svc.external_ips)
            }
            3 => {
                svc.lb_ingress = random_lb_ingress(rng, slot);
                format!("LB ingress {:?}", svc.lb_ingress)
            }
            4 => {
                svc.affinity = random_affinity(rng);
                format!("affinity {:?}", svc.affinity)
            }
            5 => {
                svc.etp_local = rng.chance(50);
                svc.itp_local = rng.chance(30);
                format!("eTP local {} iTP local {}", svc.etp_local, svc.itp_local)
            }
            6 => {
                svc.source_ranges = random_source_ranges(rng);
                format!("source ranges {:?}", svc.source_ranges)
            }
            7 => {
                svc.annotations = random_annotations(rng);
                format!("annotations {:?}", svc.annotations)
            }
            8 => {
                svc.stack = rng.pick(&[Stack::V4, Stack::V6, Stack::Dual]);
                format!("families {:?}", svc.stack)
            }
            _ => {
                *svc = random_svc(rng, slot);
                format!("replaced by {svc:?}")
            }
        };
        format!("{name}: {what}")
    }

    fn change_endpoints(&mut self, rng: &mut Rng, slot: usize) -> String {
        let name = svc_name(slot);
        let eps = &mut self.eps[slot];
        let taken: Vec<u8> = eps.iter().map(|e| e.host).collect();
        match rng.below(5) {
            // Around the 32 endpoints one service chain's numgen rules hold.
            4 if rng.chance(30) => {
                let n = rng.pick(&[31, 32, 33, 40]);
                eps.clear();
                for _ in 0..n {
                    let taken: Vec<u8> = eps.iter().map(|e| e.host).collect();
                    eps.push(random_ep(rng, false, &taken));
                }
                format!("{name}: {n} IPv4 endpoints")
            }
            0 | 1 if eps.len() < 8 => {
                let v6 = rng.chance(35);
                let ep = random_ep(rng, v6, &taken);
                let text = format!("{name}: add endpoint {ep:?}");
                eps.push(ep);
                text
            }
            2 if !eps.is_empty() => {
                let i = rng.below(eps.len());
                let ep = eps.remove(i);
                format!("{name}: remove endpoint {ep:?}")
            }
            _ if !eps.is_empty() => {
                let i = rng.below(eps.len());
                let mut ep = random_ep(rng, eps[i].v6, &[]);
                ep.host = eps[i].host;
                let text = format!("{name}: endpoint {:?} becomes {ep:?}", eps[i]);
                eps[i] = ep;
                text
            }
            _ => {
                let n = rng.below(4) + 1;
                let mut text = format!("{name}: {n} new endpoints");
                for _ in 0..n {
                    let taken: Vec<u8> = eps.iter().map(|e| e.host).collect();
                    let v6 = rng.chance(35);
                    let ep = random_ep(rng, v6, &taken);
                    text.push_str(&format!(" {ep:?}"));
                    eps.push(ep);
                }
                text
            }
        }
    }

    fn change_node(&mut self, rng: &mut Rng) -> String {
        match rng.below(5) {
            0 => {
                self.node_zone = rng.pick(&[None, Some(ZONES[0]), Some(ZONES[1])]);
                format!("{NODE}: zone {:?}", self.node_zone)
            }
            1 => {
                self.node_v4 = rng.pick(&[None, Some(NODE_V4[0]), Some(NODE_V4[1])]);
                format!("{NODE}: IPv4 address {:?}", self.node_v4)
            }
            2 => {
                self.node_v6 = !self.node_v6;
                format!("{NODE}: IPv6 address {}", self.node_v6)
            }
            3 => {
                self.node_label = !self.node_label;
                format!("{NODE}: extra label {}", self.node_label)
            }
            _ => {
                self.other_zone = rng.pick(&ZONES);
                format!("{OTHER_NODE}: zone {}", self.other_zone)
            }
        }
    }
}
