//! `LinuxHost`: the real host: the nftables facet through `nft -f -`, the
//! health-check facet in-process, and the three BGP facets in kroute's own
//! speaker (other facets come later).

use std::time::{Duration, Instant};

use super::bgp_backend::BgpBackend;
use super::conntrack;
use super::nft_exec::{NftRunner, delete_tables_script};
use super::nft_read::parse_table;
use super::nft_script::render;
use super::nft_txn::{self, TxnInput};
use crate::host::conntrack::{ConntrackFlush, ConntrackReport};
use crate::host::facet::{
    BgpFacet, BgpPeerFacet, BgpSpeakerFacet, Facet, HealthCheckFacet, NftFacet,
};
use crate::host::health_check::HealthCheckServers;
use crate::host::nft::{Family, NftKey, NftValue};
use crate::host::{Applied, HostError, HostNetwork, HostPlan, HostSnapshot, Refused};

/// How long a chain flushed for a deferred delete stays before it is deleted.
const DEFERRED_DELETE_DELAY: Duration = Duration::from_secs(1);

/// The real host. Applies each plan's nftables part as one `nft -f -`
/// transaction, its health-check part to its listeners (when it has them:
/// [`LinuxHost::with_health_checks`]), its BGP parts to the speaker (when
/// it has one: [`LinuxHost::with_bgp`]), and keeps the mirror of what it
/// committed.
#[derive(Debug)]
pub struct LinuxHost {
    runner: NftRunner,
    mirror: HostSnapshot,
    /// Kernels before 6.2 may still see a chain as referenced by a map
    /// element removed in the same transaction.
    defer_chain_deletes: bool,
    /// Chains flushed (and dropped from the mirror) whose delete waits.
    pending: Vec<PendingDelete>,
    delay: Duration,
    /// The healthCheckNodePort listeners; `None`: the facet is unsupported.
    health_checks: Option<HealthCheckServers>,
    /// The BGP speaker; `None`: the BGP facets are unsupported.
    bgp: Option<BgpBackend>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct PendingDelete {
    family: Family,
    name: String,
    flushed_at: Instant,
}

impl Default for LinuxHost {
    fn default() -> Self {
        LinuxHost::new(NftRunner::default())
    }
}

impl LinuxHost {
    /// A host driving `runner`; reads the kernel version once.
    pub fn new(runner: NftRunner) -> LinuxHost {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        LinuxHost::with_kernel_release(runner, &release)
    }

    /// A host for a given kernel release string (`6.1.0-18-amd64`).
    pub fn with_kernel_release(runner: NftRunner, release: &str) -> LinuxHost {
        LinuxHost {
            runner,
            mirror: HostSnapshot::default(),
            defer_chain_deletes: needs_deferred_chain_deletes(release),
            pending: Vec::new(),
            delay: DEFERRED_DELETE_DELAY,
            health_checks: None,
            bgp: None,
        }
    }

    /// This host with the health-check facet, served by `servers`.
    pub fn with_health_checks(mut self, servers: HealthCheckServers) -> LinuxHost {
        self.health_checks = Some(servers);
        self
    }

    /// The health-check listeners, when this host has them.
    pub fn health_checks(&self) -> Option<&HealthCheckServers> {
        self.health_checks.as_ref()
    }

    /// This host with the BGP facets, applied to `backend`'s speaker.
    pub fn with_bgp(mut self, backend: BgpBackend) -> LinuxHost {
        self.bgp = Some(backend);
        self
    }

    /// The BGP backend, when this host has one.
    pub fn bgp(&self) -> Option<&BgpBackend> {
        self.bgp.as_ref()
    }

    /// The BGP backend, mutably (to take its speaker at exit).
    pub fn bgp_mut(&mut self) -> Option<&mut BgpBackend> {
        self.bgp.as_mut()
    }

    pub fn runner(&self) -> &NftRunner {
        &self.runner
    }

    /// Chains flushed by an earlier apply and not yet deleted (kernels < 6.2).
    pub fn pending_chain_deletes(&self) -> Vec<(Family, &str)> {
        self.pending
            .iter()
            .map(|p| (p.family, p.name.as_str()))
            .collect()
    }

    fn apply_nft(&mut self, plan: &HostPlan) -> Result<(), HostError> {
        let now = Instant::now();
        let nft = &plan.nft;
        // A re-created chain or one whose table goes away needs no delete.
        self.pending.retain(|p| {
            let key = NftKey::chain(p.family, p.name.clone());
            !nft.creates.contains_key(&key)
                && !nft.updates.contains_key(&key)
                && !nft.deletes.contains(&NftKey::Table(p.family))
        });
        let due: Vec<(Family, String)> = self
            .pending
            .iter()
            .filter(|p| now.duration_since(p.flushed_at) >= self.delay)
            .map(|p| (p.family, p.name.clone()))
            .collect();
        if nft.is_empty() && due.is_empty() {
            return Ok(());
        }
        let txn = nft_txn::build(&TxnInput {
            plan: nft,
            current: &self.mirror.nft,
            defer_chain_deletes: self.defer_chain_deletes,
            due_chain_deletes: &due,
        })?;
        let result = self.runner.run_script(&render(&txn.ops));
        let deferred: Vec<(Family, String)> = txn
            .deferred
            .into_iter()
            .map(|(f, n)| (f, n.to_string()))
            .collect();
        if let Err(e) = result {
            // The full sync that follows a failure finds any leftover chain.
            self.pending.clear();
            return Err(e);
        }
        self.pending
            .retain(|p| !due.iter().any(|(f, n)| *f == p.family && *n == p.name));
        // A snapshot taken meanwhile put the flushed chain back in the mirror.
        for (family, name) in due {
            self.mirror.nft.remove(&NftKey::chain(family, name));
        }
        for (family, name) in deferred {
            if !self
                .pending
                .iter()
                .any(|p| p.family == family && p.name == name)
            {
                self.pending.push(PendingDelete {
                    family,
                    name,
                    flushed_at: now,
                });
            }
        }
        nft.apply_to(&mut self.mirror.nft);
        // The mirror is compared by hook and digest only: drop the rules, as
        // a snapshot would (most of the mirror's memory at scale).
        for key in nft.creates.keys().chain(nft.updates.keys()) {
            if let Some(NftValue::Chain(chain)) = self.mirror.nft.get_mut(key) {
                chain.rules = Vec::new();
            }
        }
        Ok(())
    }
}

impl HostNetwork for LinuxHost {
    fn snapshot(&mut self) -> Result<HostSnapshot, HostError> {
        let mut snap = HostSnapshot::default();
        for family in Family::ALL {
            if let Some(json) = self.runner.list_table(family)? {
                snap.nft.extend(parse_table(family, &json)?);
            }
        }
        if let Some(servers) = &self.health_checks {
            snap.health_checks = servers.current();
        }
        if let Some(bgp) = &mut self.bgp {
            bgp.snapshot_into(&mut snap)?;
        }
        self.mirror = snap.clone();
        Ok(snap)
    }

    fn mirror(&self) -> &HostSnapshot {
        &self.mirror
    }

    fn apply(&mut self, plan: &HostPlan) -> Result<Applied, HostError> {
        let mut supported = vec![NftFacet::NAME];
        if self.health_checks.is_some() {
            supported.push(HealthCheckFacet::NAME);
        }
        if self.bgp.is_some() {
            supported.extend([BgpSpeakerFacet::NAME, BgpPeerFacet::NAME, BgpFacet::NAME]);
        }
        if let Some(facet) = plan
            .facets_changed()
            .into_iter()
            .find(|f| !supported.contains(f))
        {
            return Err(HostError::Unsupported { facet });
        }
        // Each facet is applied whatever the other's outcome.
        let nft = self.apply_nft(plan);
        let mut applied = Applied::default();
        if let Some(servers) = &mut self.health_checks {
            let errors = servers.apply(&plan.health_checks);
            applied
                .refused
                .extend(errors.into_iter().map(|error| Refused {
                    facet: HealthCheckFacet::NAME,
                    error,
                }));
            self.mirror.health_checks = servers.current();
        }
        let bgp = match &mut self.bgp {
            Some(backend) => backend.apply(plan, &mut self.mirror),
            None => Ok(Vec::new()),
        };
        nft?;
        let refused = bgp?;
        applied
            .refused
            .extend(refused.into_iter().map(|error| Refused {
                facet: BgpSpeakerFacet::NAME,
                error,
            }));
        Ok(applied)
    }

    fn synced_view_applied(&mut self) {
        if let Some(bgp) = &mut self.bgp {
            bgp.synced_view_applied();
        }
    }

    /// Over ctnetlink, in kroute's network namespace.
    fn flush_conntrack(&mut self, flush: &ConntrackFlush) -> Result<ConntrackReport, HostError> {
        conntrack::flush(flush).map_err(|e| HostError::Conntrack {
            message: e.to_string(),
        })
    }
}

/// Removes both `kroute` tables (`kroute cleanup`); idempotent.
pub fn cleanup(runner: &NftRunner) -> Result<(), HostError> {
    runner.run_script(&delete_tables_script(&Family::ALL))
}

/// Whether chain deletes must wait (kernel before 6.2). An unreadable
/// version is treated as old: waiting is always safe, just slower.
fn needs_deferred_chain_deletes(release: &str) -> bool {
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(str::parse::<u32>);
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => (major, minor) < (6, 2),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::nft::{Chain, NftValue, Rule, Verdict};
    use crate::host::route::RouteKey;
    use std::path::{Path, PathBuf};

    /// A fake `nft` that appends every script it gets to a file, separated by
    /// `---`, and fails when the script contains `FAIL`.
    fn recording_runner(dir: &Path) -> (NftRunner, PathBuf) {
        let log = dir.join("scripts");
        let snippet = format!(
            "s=$(cat); printf '%s\\n---\\n' \"$s\" >> {0}; case \"$s\" in *FAIL*) echo refused >&2; exit 1;; esac",
            log.display()
        );
        let runner = NftRunner::new(vec!["sh".into(), "-c".into(), snippet, "nft".into()]);
        (runner, log)
    }

    fn scripts(log: &Path) -> Vec<String> {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .split("\n---\n")
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }

    fn chain(target: &str) -> NftValue {
        NftValue::Chain(Chain::regular(vec![Rule::verdict(Verdict::Jump(
            target.into(),
        ))]))
    }

    fn plan_creating(name: &str) -> HostPlan {
        let mut plan = HostPlan::default();
        plan.nft
            .creates
            .insert(NftKey::chain(Family::Ip, name), chain("x"));
        plan
    }

    fn plan_deleting(name: &str) -> HostPlan {
        let mut plan = HostPlan::default();
        plan.nft.deletes.insert(NftKey::chain(Family::Ip, name));
        plan
    }

    #[test]
    fn kernel_versions_before_6_2_defer_chain_deletes() {
        for (release, defer) in [
            ("6.1.0-18-amd64", true),
            ("5.15.0", true),
            ("6.2.0", false),
            ("6.18.44-fc-v669", false),
            ("7.0", false),
            ("garbage", true),
            ("", true),
        ] {
            assert_eq!(needs_deferred_chain_deletes(release), defer, "{release}");
        }
    }

    #[test]
    fn an_empty_plan_runs_nothing() {
        let mut host =
            LinuxHost::with_kernel_release(NftRunner::new(vec!["/nonexistent".into()]), "6.6");
        host.apply(&HostPlan::default()).unwrap();
    }

    #[test]
    fn other_facets_are_unsupported() {
        let dir = tempfile::tempdir().unwrap();
        let (runner, log) = recording_runner(dir.path());
        let mut host = LinuxHost::with_kernel_release(runner, "6.6");
        let mut plan = plan_creating("c");
        plan.routes.deletes.insert(RouteKey {
            table: 254,
            dst: "10.0.0.0/8".parse().unwrap(),
        });
        assert!(matches!(
            host.apply(&plan),
            Err(HostError::Unsupported { facet: "routes" })
        ));
        assert!(scripts(&log).is_empty());
        assert!(host.mirror().nft.is_empty());
    }

    #[test]
    fn a_successful_apply_updates_the_mirror_and_a_failed_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let (runner, log) = recording_runner(dir.path());
        let mut host = LinuxHost::with_kernel_release(runner, "6.6");
        host.apply(&plan_creating("good")).unwrap();
        assert!(
            host.mirror()
                .nft
                .contains_key(&NftKey::chain(Family::Ip, "good"))
        );
        let err = host.apply(&plan_creating("FAIL")).unwrap_err();
        assert!(matches!(err, HostError::NftRejected { message } if message == "refused"));
        assert!(
            !host
                .mirror()
                .nft
                .contains_key(&NftKey::chain(Family::Ip, "FAIL"))
        );
        assert_eq!(scripts(&log).len(), 2);
        assert!(scripts(&log)[0].starts_with("add chain ip kroute good\n"));
    }

    #[test]
    fn new_kernels_delete_chains_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let (runner, log) = recording_runner(dir.path());
        let mut host = LinuxHost::with_kernel_release(runner, "6.2.0");
        host.apply(&plan_creating("c")).unwrap();
        host.apply(&plan_deleting("c")).unwrap();
        assert_eq!(
            scripts(&log)[1],
            "flush chain ip kroute c\ndelete chain ip kroute c"
        );
        assert!(host.pending_chain_deletes().is_empty());
    }

    #[test]
    fn old_kernels_flush_now_and_delete_on_a_later_apply() {
        let dir = tempfile::tempdir().unwrap();
        let (runner, log) = recording_runner(dir.path());
        let mut host = LinuxHost::with_kernel_release(runner, "6.1.0");
        host.apply(&plan_creating("c")).unwrap();
        host.apply(&plan_deleting("c")).unwrap();
        assert_eq!(scripts(&log)[1], "flush chain ip kroute c");
        assert_eq!(host.pending_chain_deletes(), vec![(Family::Ip, "c")]);
        assert!(host.mirror().nft.is_empty());

        // Too early: an empty plan runs nothing, another plan leaves it alone.
        host.apply(&HostPlan::default()).unwrap();
        host.apply(&plan_creating("d")).unwrap();
        assert_eq!(scripts(&log).len(), 3);
        assert!(!scripts(&log)[2].contains("delete"));
        assert_eq!(host.pending_chain_deletes(), vec![(Family::Ip, "c")]);

        // Once the delay has passed, even an empty plan deletes it.
        host.delay = Duration::ZERO;
        host.apply(&HostPlan::default()).unwrap();
        assert_eq!(
            scripts(&log)[3],
            "flush chain ip kroute c\ndelete chain ip kroute c"
        );
        assert!(host.pending_chain_deletes().is_empty());
        host.apply(&HostPlan::default()).unwrap();
        assert_eq!(scripts(&log).len(), 4);
    }

    #[test]
    fn a_pending_chain_that_comes_back_is_not_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let (runner, log) = recording_runner(dir.path());
        let mut host = LinuxHost::with_kernel_release(runner, "5.10");
        host.apply(&plan_creating("c")).unwrap();
        host.apply(&plan_deleting("c")).unwrap();
        host.delay = Duration::ZERO;
        host.apply(&plan_creating("c")).unwrap();
        assert!(!scripts(&log)[2].contains("delete"));
        assert!(host.pending_chain_deletes().is_empty());
        assert!(
            host.mirror()
                .nft
                .contains_key(&NftKey::chain(Family::Ip, "c"))
        );
    }

    #[test]
    fn a_failed_apply_forgets_pending_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let (runner, _log) = recording_runner(dir.path());
        let mut host = LinuxHost::with_kernel_release(runner, "6.1");
        host.apply(&plan_creating("c")).unwrap();
        host.apply(&plan_deleting("c")).unwrap();
        assert!(host.apply(&plan_creating("FAIL")).is_err());
        assert!(host.pending_chain_deletes().is_empty());
    }

    #[test]
    fn snapshot_reads_both_families_and_replaces_the_mirror() {
        let dir = tempfile::tempdir().unwrap();
        let ip = include_str!("testdata/kroute_ip.json");
        std::fs::write(dir.path().join("ip.json"), ip).unwrap();
        // Fake nft: `-j list table ip kroute` prints the fixture, ip6 is absent.
        let snippet = format!(
            "case \"$4\" in ip) cat {}/ip.json;; *) echo 'Error: No such file or directory' >&2; exit 1;; esac",
            dir.path().display()
        );
        let runner = NftRunner::new(vec!["sh".into(), "-c".into(), snippet, "nft".into()]);
        let mut host = LinuxHost::with_kernel_release(runner, "6.6");
        let snap = host.snapshot().unwrap();
        assert_eq!(snap.nft, parse_table(Family::Ip, ip).unwrap());
        assert!(!snap.nft.is_empty());
        assert_eq!(host.mirror(), &snap);
    }

    #[test]
    fn cleanup_deletes_both_tables_in_one_script() {
        let dir = tempfile::tempdir().unwrap();
        let (runner, log) = recording_runner(dir.path());
        cleanup(&runner).unwrap();
        assert_eq!(
            scripts(&log),
            vec![
                "add table ip kroute\ndelete table ip kroute\nadd table ip6 kroute\ndelete table ip6 kroute"
            ]
        );
    }
}
