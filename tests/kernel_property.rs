//! Kernel tier, randomized: seeded random sequences of Service, endpoint,
//! Node, policy and annotation changes (plus hand-made drift in the tables)
//! driven through kroute's reconcile path — a `Reconciler` over a real
//! `LinuxHost` (real `nft`, health-check listeners) on a thread inside a
//! fresh network namespace — with incremental syncs over the services that
//! changed (as the loop marks them dirty) and full syncs interleaved.
//!
//! After every sync, read independently of the tested host (see
//! `support::property::checks`):
//! - incremental: its mirror equals a fresh snapshot of the kernel;
//! - every sync: a fresh plan of the current view against the kernel is
//!   empty, and the kernel's `kroute` tables hold exactly the fresh plan's
//!   artifacts (no leftover, nothing missing, each chain's rules as planned),
//!   with the health checks listening where planned.
//!
//! `KROUTE_PROPTEST_SEED=<n>` replays a seed (a failure prints its own);
//! `KROUTE_PROPTEST_CASES` (default 4) and `KROUTE_PROPTEST_STEPS`
//! (default 60) size the run. Case `i` runs with seed `<seed> + i`.
mod support;

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use kroute::host::health_check::HealthCheckServers;
use kroute::host::linux::LinuxHost;
use kroute::host::{HostNetwork, HostSnapshot};
use kroute::model::config::{NodePortAddress, ProxyConfig};
use kroute::model::{ClusterView, ObjectKey};
use kroute::sync::reconciler::{Reconciler, ReconcilerSettings, SyncKind};
use support::netns::NetNs;
use support::ns_thread;
use support::property::checks::Checker;
use support::property::{NODE, NODE_V4, NODE_V6, Rng, World};

fn env_u64(name: &str) -> Option<u64> {
    let raw = std::env::var(name).ok()?;
    Some(
        raw.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={raw:?}: not a non-negative integer")),
    )
}

/// The reconciler's settings for a case: its own `masqueradeAll` and
/// `nodePortAddresses` (where NodePorts and health checks answer).
fn settings(rng: &mut Rng) -> ReconcilerSettings {
    let nets = |list: &[&str]| list.iter().map(|n| n.parse().unwrap()).collect();
    let cidr = |n: &str| NodePortAddress::Cidr(n.parse().unwrap());
    let node_port_addresses = match rng.below(4) {
        0 => vec![cidr("192.168.50.0/24"), cidr("fd00:50::/64")],
        1 => vec![cidr("0.0.0.0/0"), cidr("::/0")],
        2 => vec![NodePortAddress::Primary, cidr("192.168.50.2/32")],
        _ => vec![NodePortAddress::Primary],
    };
    ReconcilerSettings {
        node_name: NODE.to_string(),
        proxy: ProxyConfig {
            cluster_cidrs: nets(&["10.244.0.0/16", "fd00:244::/48"]),
            service_cidrs: nets(&["10.96.0.0/24", "fd00:96::/112"]),
            masquerade_all: rng.chance(25),
            node_port_addresses,
            ..ProxyConfig::default()
        },
        proxy_name: None,
        bgp: Default::default(),
    }
}

#[test]
fn random_changes_keep_the_kernel_equal_to_a_fresh_plan() {
    if !support::kernel_tier_available(&["ip", "nft"]) {
        return;
    }
    let seed = env_u64("KROUTE_PROPTEST_SEED").unwrap_or_else(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        now.map_or(1, |d| d.as_nanos() as u64)
    });
    let cases = env_u64("KROUTE_PROPTEST_CASES").unwrap_or(4);
    let steps = env_u64("KROUTE_PROPTEST_STEPS").unwrap_or(60) as usize;
    eprintln!("kernel_property: seed {seed}, {cases} cases of {steps} steps");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    for case in 0..cases {
        let case_seed = seed.wrapping_add(case);
        if let Err(failure) = run_case(case_seed, steps, runtime.handle().clone()) {
            panic!(
                "kernel property failed (case {case}, seed {case_seed}): {failure}\n\
                 replay: KROUTE_PROPTEST_SEED={case_seed} cargo test --test kernel_property"
            );
        }
    }
}

/// One case in its own namespace; `Err` carries the step and the story.
fn run_case(seed: u64, steps: usize, runtime: tokio::runtime::Handle) -> Result<(), String> {
    let ns = NetNs::new("prop");
    for addr in NODE_V4 {
        ns.ip(&["addr", "add", &format!("{addr}/32"), "dev", "lo"]);
    }
    ns.ip(&["-6", "addr", "add", &format!("{NODE_V6}/128"), "dev", "lo"]);
    let reference = NetNs::new("propref");
    let reference_name = reference.name.clone();
    ns_thread::run(&ns.path(), move || {
        let mut case = Case::new(seed, runtime, &reference_name);
        for index in 0..=steps {
            let outcome = catch_unwind(AssertUnwindSafe(|| case.step(index, index == steps)));
            let error = match outcome {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => e,
                Err(panic) => panic_text(panic),
            };
            return Err(format!(
                "at step {index}: {error}\nsteps so far:\n{}",
                case.log.join("\n")
            ));
        }
        eprintln!(
            "kernel_property: seed {seed} passed:\n{}",
            case.log.join("\n")
        );
        Ok(())
    })
}

fn panic_text(panic: Box<dyn std::any::Any + Send>) -> String {
    match (panic.downcast_ref::<String>(), panic.downcast_ref::<&str>()) {
        (Some(s), _) => format!("panicked: {s}"),
        (None, Some(s)) => format!("panicked: {s}"),
        _ => "panicked".to_string(),
    }
}

/// One case's state: the world, the reconciler under test, what changed
/// since its last sync, and the story so far.
struct Case {
    rng: Rng,
    world: World,
    view: ClusterView,
    dirty: BTreeSet<ObjectKey>,
    reconciler: Reconciler<LinuxHost>,
    checker: Checker,
    /// Drift was made by hand: the next sync is a full one (a syncPeriod).
    drifted: bool,
    log: Vec<String>,
}

impl Case {
    fn new(seed: u64, runtime: tokio::runtime::Handle, reference: &str) -> Case {
        let servers = HealthCheckServers::new(runtime, Arc::new(|| true));
        let host = LinuxHost::default().with_health_checks(servers);
        let world = World::default();
        let mut rng = Rng::new(seed);
        let settings = settings(&mut rng);
        let log = vec![format!(
            "  -: masqueradeAll {}, nodePortAddresses {:?}",
            settings.proxy.masquerade_all, settings.proxy.node_port_addresses
        )];
        Case {
            rng,
            view: world.view(),
            world,
            dirty: World::keys().collect(),
            reconciler: Reconciler::new(host, settings.clone()),
            checker: Checker::new(settings, reference),
            drifted: false,
            log,
        }
    }

    /// Step 0 and the last step sync; the others change something (60%),
    /// make drift (3%) or sync (full in a quarter of them).
    fn step(&mut self, index: usize, last: bool) -> Result<(), String> {
        let roll = self.rng.below(100);
        if index == 0 || last || roll >= 63 {
            let full = index == 0 || self.drifted || self.rng.chance(25);
            return self.sync(index, full);
        }
        if roll >= 60 {
            return self.drift(index);
        }
        let text = self.world.step(&mut self.rng);
        self.log.push(format!("{index:3}: {text}"));
        let view = self.world.view();
        self.dirty.extend(self.view.changed_services(&view));
        self.view = view;
        Ok(())
    }

    /// Hand-made changes inside the tables, for the next full sync to repair.
    fn drift(&mut self, index: usize) -> Result<(), String> {
        let script = format!(
            "add chain ip kroute stray-{index}\nadd rule ip kroute services counter\n\
             add element ip kroute cluster-ips {{ 10.96.0.250 }}\n"
        );
        let runner = self.reconciler.host().runner();
        runner
            .run_script(&script)
            .map_err(|e| format!("making drift: {e}"))?;
        self.drifted = true;
        self.log.push(format!(
            "{index:3}: drift: a stray chain, a rule in `services`, a cluster-ips element"
        ));
        Ok(())
    }

    fn sync(&mut self, index: usize, full: bool) -> Result<(), String> {
        let kind = if self.reconciler.will_sync_full(&self.view, full) {
            SyncKind::Full
        } else {
            SyncKind::Incremental
        };
        let dirty = std::mem::take(&mut self.dirty);
        self.log.push(format!(
            "{index:3}: {kind:?} sync (asked full: {full}), dirty {:?}",
            dirty.iter().map(|k| k.name.as_str()).collect::<Vec<_>>()
        ));
        let report = (self.reconciler.sync(&self.view, &dirty, full))
            .map_err(|e| format!("sync failed: {e}"))?;
        if !report.refused.is_empty() || report.conntrack_error.is_some() {
            return Err(format!(
                "the host refused {:?}; conntrack: {:?}",
                report.refused, report.conntrack_error
            ));
        }
        if let Some(last) = self.log.last_mut() {
            last.push_str(&format!(
                " -> {} creates, {} updates, {} deletes",
                report.creates, report.updates, report.deletes
            ));
        }
        self.drifted = false;
        let host = self.reconciler.host();
        let listeners = host
            .health_checks()
            .map(|h| h.current())
            .unwrap_or_default();
        let kernel: HostSnapshot = self.checker.snapshot(&listeners)?;
        if kind == SyncKind::Incremental {
            self.checker.mirror_matches(host.mirror(), &kernel)?;
        }
        self.checker.kernel_matches_plan(&self.view, &kernel)
    }
}
