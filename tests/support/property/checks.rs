//! The checks of the randomized kernel property test
//! (`tests/kernel_property.rs`), run on the thread inside the test's
//! namespace after every sync. Each reads the kernel independently of the
//! reconciler under test: a second `LinuxHost` (its own snapshot), the
//! whole listing (`nft -j list table`) compared with a reference namespace
//! where a fresh plan was programmed into empty tables (so nft's own
//! rewriting of what it is given, such as merging adjacent addresses of a
//! set into a range, is the same on both sides), and the listening sockets
//! of the namespace (`/proc/thread-self/net/tcp{,6}`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use kroute::host::health_check::{
    HealthCheckKey, HealthCheckValue, listen_addresses, local_addresses,
};
use kroute::host::linux::nft_rules_read::ChainRules;
use kroute::host::linux::{LinuxHost, NftRunner, cleanup};
use kroute::host::nft::Family;
use kroute::host::plan_display::PlanView;
use kroute::host::{HostNetwork, HostPlan, HostSnapshot};
use kroute::model::ClusterView;
use kroute::sync::Reconciler;
use kroute::sync::reconciler::ReconcilerSettings;
use serde_json::Value;

/// What the checks read the kernel with: a reconciler of its own (never
/// applied) over a second host, so nothing is shared with the one tested.
pub struct Checker {
    fresh: Reconciler<LinuxHost>,
    /// An empty namespace where each check programs the fresh plan.
    reference: String,
}

impl Checker {
    /// Checks the calling thread's namespace against `reference`.
    pub fn new(settings: ReconcilerSettings, reference: &str) -> Checker {
        Checker {
            fresh: Reconciler::new(LinuxHost::new(NftRunner::default()), settings),
            reference: reference.to_string(),
        }
    }

    /// A fresh read of the kernel (the health-check facet is in-process:
    /// `listeners` are what the tested host serves; see [`Self::listening`]).
    pub fn snapshot(
        &mut self,
        listeners: &BTreeMap<HealthCheckKey, HealthCheckValue>,
    ) -> Result<HostSnapshot, String> {
        let mut snap = (self.fresh.host_mut().snapshot())
            .map_err(|e| format!("second host's snapshot: {e}"))?;
        snap.health_checks = listeners.clone();
        Ok(snap)
    }

    /// The mirror equals what the kernel has now, facet by facet.
    pub fn mirror_matches(
        &self,
        mirror: &HostSnapshot,
        kernel: &HostSnapshot,
    ) -> Result<(), String> {
        let mut diffs = map_diff("nftables", &mirror.nft, &kernel.nft);
        diffs.extend(map_diff(
            "health-checks",
            &mirror.health_checks,
            &kernel.health_checks,
        ));
        if !(mirror.addresses.is_empty() && mirror.routes.is_empty() && mirror.ipvs.is_empty()) {
            diffs.push("the mirror has addresses, routes or IPVS artifacts".to_string());
        }
        if diffs.is_empty() {
            return Ok(());
        }
        Err(format!(
            "the mirror differs from a fresh snapshot (mirror ≠ kernel):\n  {}",
            diffs.join("\n  ")
        ))
    }

    /// A fresh plan of `view` against the kernel changes nothing, and the
    /// kernel holds exactly the fresh plan's artifacts: the same keys, every
    /// chain with the planned rules, every health check listening where planned.
    pub fn kernel_matches_plan(
        &self,
        view: &ClusterView,
        kernel: &HostSnapshot,
    ) -> Result<(), String> {
        let fresh = self.fresh.plan_full(view, kernel);
        if !fresh.report.invalid_services.is_empty() || !fresh.report.conflicts.is_empty() {
            return Err(format!(
                "the generator made an object kroute rejects: {:?} {:?}",
                fresh.report.invalid_services, fresh.report.conflicts
            ));
        }
        if !fresh.plan.is_empty() {
            let shown = PlanView {
                plan: &fresh.plan,
                current: kernel,
                nft_rules: &ChainRules::new(),
            };
            return Err(format!(
                "a fresh plan against the kernel is not empty:\n{}",
                shown.human()
            ));
        }
        let desired = self.fresh.plan_full(view, &HostSnapshot::default()).plan;
        let wanted: BTreeSet<_> = desired.nft.creates.keys().collect();
        let have: BTreeSet<_> = kernel.nft.keys().collect();
        let mut diffs: Vec<String> = (wanted.difference(&have))
            .map(|k| format!("missing: {k}"))
            .chain(have.difference(&wanted).map(|k| format!("leftover: {k}")))
            .collect();
        diffs.extend(self.listing_diffs(&desired)?);
        diffs.extend(listening_diffs(&desired.health_checks.creates)?);
        if diffs.is_empty() {
            return Ok(());
        }
        Err(format!(
            "the kernel differs from a fresh plan:\n  {}",
            diffs.join("\n  ")
        ))
    }

    /// The tested kernel's listing against the reference namespace's, where
    /// `desired` was just programmed into empty tables.
    fn listing_diffs(&self, desired: &HostPlan) -> Result<Vec<String>, String> {
        let runner = NftRunner::in_netns(&self.reference);
        cleanup(&runner).map_err(|e| format!("reference cleanup: {e}"))?;
        let nft_only = HostPlan {
            nft: desired.nft.clone(),
            ..HostPlan::default()
        };
        let mut reference = LinuxHost::new(runner);
        (reference.apply(&nft_only)).map_err(|e| format!("programming the reference: {e}"))?;
        let planned = listing(reference.runner())?;
        let kernel = listing(self.fresh.host().runner())?;
        Ok(map_diff("listing", &planned, &kernel)
            .into_iter()
            .map(|d| {
                d.replace("only in the mirror", "only in the fresh plan")
                    .replace("mirror ", "fresh plan ")
            })
            .collect())
    }
}

/// Both families' `nft -j list table` objects without their handles: sets
/// and chains by name, each chain's rules in order.
fn listing(runner: &NftRunner) -> Result<BTreeMap<String, Value>, String> {
    let mut out = BTreeMap::new();
    for family in Family::ALL {
        let Some(json) = runner
            .list_table(family)
            .map_err(|e| format!("nft list: {e}"))?
        else {
            continue;
        };
        let root: Value = serde_json::from_str(&json).map_err(|e| format!("nft -j: {e}"))?;
        let objects = root.get("nftables").and_then(Value::as_array);
        for object in objects.into_iter().flatten() {
            let Some((kind, body)) = object.as_object().and_then(|o| o.iter().next()) else {
                continue;
            };
            let mut body = body.clone();
            if let Some(fields) = body.as_object_mut() {
                fields.remove("handle");
            }
            let name = |field: &str| body.get(field).and_then(Value::as_str).unwrap_or("");
            let key = match kind.as_str() {
                "metainfo" => continue,
                "rule" => format!("{family} chain {} rules", name("chain")),
                other => format!("{family} {other} {}", name("name")),
            };
            match out.entry(key).or_insert(Value::Array(Vec::new())) {
                Value::Array(items) => items.push(body),
                _ => unreachable!("only arrays are inserted"),
            }
        }
    }
    Ok(out)
}

/// Keys only on one side, and keys whose values differ.
fn map_diff<K: Ord + std::fmt::Display, V: PartialEq + Debug>(
    facet: &str,
    mirror: &BTreeMap<K, V>,
    kernel: &BTreeMap<K, V>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in mirror {
        match kernel.get(k) {
            None => out.push(format!("{facet}: only in the mirror: {k}")),
            Some(kv) if kv != v => {
                out.push(format!("{facet}: {k}: mirror {v:?}, kernel {kv:?}"));
            }
            Some(_) => {}
        }
    }
    for k in kernel.keys().filter(|k| !mirror.contains_key(*k)) {
        out.push(format!("{facet}: only in the kernel: {k}"));
    }
    out
}

/// The namespace's listening TCP sockets against the planned health checks.
fn listening_diffs(
    planned: &BTreeMap<HealthCheckKey, HealthCheckValue>,
) -> Result<Vec<String>, String> {
    let mut wanted = BTreeSet::new();
    for (key, value) in planned {
        let addrs = listen_addresses(&value.listen, key.port, local_addresses)
            .map_err(|e| format!("local addresses: {e}"))?;
        wanted.extend(addrs);
    }
    let have = listening()?;
    Ok((wanted.difference(&have))
        .map(|a| format!("health check not listening on {a}"))
        .chain(
            have.difference(&wanted)
                .map(|a| format!("unplanned listener on {a}")),
        )
        .collect())
}

/// The TCP sockets listening in the calling thread's network namespace.
pub fn listening() -> Result<BTreeSet<SocketAddr>, String> {
    let mut out = BTreeSet::new();
    for (file, v6) in [("tcp", false), ("tcp6", true)] {
        let path = format!("/proc/thread-self/net/{file}");
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // `sl local_address rem_address st ...`; 0A is LISTEN.
            if fields.len() < 4 || fields[3] != "0A" {
                continue;
            }
            let addr = parse_proc_addr(fields[1], v6)
                .ok_or_else(|| format!("{path}: cannot parse {}", fields[1]))?;
            out.insert(addr);
        }
    }
    Ok(out)
}

/// `0100007F:1F90` (IPv4) or 32 hex digits `:port` (IPv6), each 32-bit
/// word in host byte order.
fn parse_proc_addr(text: &str, v6: bool) -> Option<SocketAddr> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let mut bytes = Vec::new();
    for i in (0..addr.len()).step_by(8) {
        let word = u32::from_str_radix(addr.get(i..i + 8)?, 16).ok()?;
        bytes.extend_from_slice(&word.to_ne_bytes());
    }
    let ip = if v6 {
        IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?))
    } else {
        IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?))
    };
    Some(SocketAddr::new(ip, port))
}
