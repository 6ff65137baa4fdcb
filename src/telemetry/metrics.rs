//! The Prometheus metrics of the loop, with kube-proxy's names (so existing
//! dashboards and ClusterLoader2 work) plus kroute's own `kroute_*`.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets, linear_buckets};
use prometheus_client::registry::Registry;

use super::bgp::{BgpCollector, BgpSample};
use crate::sync::SyncKind;
use crate::sync::health_check::NoLocalEndpoints;

/// `kroute_syncs_total` labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SyncLabels {
    kind: &'static str,
    result: &'static str,
}

/// `kubeproxy_sync_proxy_rules_no_local_endpoints_total` labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TrafficPolicyLabels {
    traffic_policy: &'static str,
}

/// `kroute_artifacts` labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FacetLabels {
    facet: String,
}

/// kube-proxy's `network_programming_duration_seconds` buckets: 0.25 s,
/// 0.5 s, 1..59 s, 60..115 s by 5, 120..300 s by 30.
fn network_programming_buckets() -> Vec<f64> {
    linear_buckets(0.25, 0.25, 2)
        .chain(linear_buckets(1.0, 1.0, 59))
        .chain(linear_buckets(60.0, 5.0, 12))
        .chain(linear_buckets(120.0, 30.0, 7))
        .collect()
}

/// Every metric, and the registry that encodes them.
#[derive(Debug)]
pub struct LoopMetrics {
    registry: Registry,
    sync_duration: Histogram,
    last_timestamp: Gauge<f64, AtomicU64>,
    network_programming: Histogram,
    no_local_endpoints: Family<TrafficPolicyLabels, Gauge>,
    syncs: Family<SyncLabels, Counter>,
    apply_failures: Counter,
    swept: Counter,
    invalid_annotations: Counter,
    bgp_peer_conflicts: Counter,
    conntrack_deleted: Counter,
    conntrack_failures: Counter,
    artifacts: Family<FacetLabels, Gauge>,
    refused: Family<FacetLabels, Counter>,
    bgp: Arc<BgpCollector>,
    /// Held while a scrape's BGP sample is set and encoded.
    scrape: Mutex<()>,
}

impl Default for LoopMetrics {
    fn default() -> Self {
        LoopMetrics::new()
    }
}

impl LoopMetrics {
    pub fn new() -> LoopMetrics {
        let mut m = LoopMetrics {
            registry: Registry::default(),
            // kube-proxy: ExponentialBuckets(0.001, 2, 15), 1 ms .. 16 s.
            sync_duration: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            last_timestamp: Gauge::default(),
            network_programming: Histogram::new(network_programming_buckets()),
            no_local_endpoints: Family::default(),
            syncs: Family::default(),
            apply_failures: Counter::default(),
            swept: Counter::default(),
            invalid_annotations: Counter::default(),
            bgp_peer_conflicts: Counter::default(),
            conntrack_deleted: Counter::default(),
            conntrack_failures: Counter::default(),
            artifacts: Family::default(),
            refused: Family::default(),
            bgp: BgpCollector::new(),
            scrape: Mutex::new(()),
        };
        // Every series exists from the start, at 0 (an empty family is not
        // exposed at all, and rate() needs the zero).
        for policy in ["internal", "external"] {
            let _ = m.no_local_endpoints.get_or_create(&TrafficPolicyLabels {
                traffic_policy: policy,
            });
        }
        for kind in ["full", "incremental"] {
            for result in ["ok", "error"] {
                let _ = m.syncs.get_or_create(&SyncLabels { kind, result });
            }
        }
        for facet in crate::host::facet::facet_names() {
            let facet = facet.to_string();
            let _ = m.artifacts.get_or_create(&FacetLabels {
                facet: facet.clone(),
            });
            let _ = m.refused.get_or_create(&FacetLabels { facet });
        }
        let r = &mut m.registry;
        r.register(
            "kubeproxy_sync_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds",
            m.sync_duration.clone(),
        );
        r.register(
            "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
            "The last time proxy rules were successfully synced",
            m.last_timestamp.clone(),
        );
        r.register(
            "kubeproxy_network_programming_duration_seconds",
            "In Cluster Network Programming Latency in seconds",
            m.network_programming.clone(),
        );
        r.register(
            "kubeproxy_sync_proxy_rules_no_local_endpoints_total",
            "Number of services with a Local traffic policy and no endpoints",
            m.no_local_endpoints.clone(),
        );
        r.register(
            "kroute_syncs",
            "Syncs by kind (full, incremental) and result (ok, error)",
            m.syncs.clone(),
        );
        r.register(
            "kroute_apply_failures",
            "Plans the host refused to apply",
            m.apply_failures.clone(),
        );
        r.register(
            "kroute_artifacts_swept",
            "Owned artifacts deleted because nothing wants them any more",
            m.swept.clone(),
        );
        r.register(
            "kroute_invalid_annotations",
            "Distinct invalid annotations (object, key, value) seen",
            m.invalid_annotations.clone(),
        );
        r.register(
            "kroute_bgp_peer_conflicts",
            "Distinct BGP peer conflicts seen (one peer defined twice with different session parameters)",
            m.bgp_peer_conflicts.clone(),
        );
        r.register(
            "kroute_conntrack_entries_deleted",
            "Stale UDP conntrack entries deleted after syncs",
            m.conntrack_deleted.clone(),
        );
        r.register(
            "kroute_conntrack_cleanup_failures",
            "UDP conntrack cleanups that failed (retried at the next sync)",
            m.conntrack_failures.clone(),
        );
        r.register(
            "kroute_artifacts",
            "Artifacts kroute owns, per facet",
            m.artifacts.clone(),
        );
        r.register(
            "kroute_artifacts_refused",
            "Artifacts the host refused to apply (a health check port already taken), per facet",
            m.refused.clone(),
        );
        r.register_collector(Box::new(m.bgp.clone()));
        m
    }

    /// One sync attempt of `kind` that took `duration`.
    pub fn sync_attempted(&self, kind: SyncKind, ok: bool, duration: Duration) {
        self.sync_duration.observe(duration.as_secs_f64());
        let labels = SyncLabels {
            kind: match kind {
                SyncKind::Full => "full",
                SyncKind::Incremental => "incremental",
            },
            result: if ok { "ok" } else { "error" },
        };
        self.syncs.get_or_create(&labels).inc();
    }

    /// A successful sync at `now` that deleted `swept` artifacts.
    pub fn sync_succeeded(&self, now: SystemTime, swept: usize) {
        let secs = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs_f64();
        self.last_timestamp.set(secs);
        self.swept.inc_by(swept as u64);
    }

    /// The host refused an artifact of `facet`.
    pub fn refused(&self, facet: &str) {
        let labels = FacetLabels {
            facet: facet.to_string(),
        };
        self.refused.get_or_create(&labels).inc();
    }

    /// Sets `kubeproxy_sync_proxy_rules_no_local_endpoints_total` (a gauge,
    /// recomputed every sync).
    pub fn no_local_endpoints(&self, counts: NoLocalEndpoints) {
        for (policy, n) in [("internal", counts.internal), ("external", counts.external)] {
            let labels = TrafficPolicyLabels {
                traffic_policy: policy,
            };
            self.no_local_endpoints
                .get_or_create(&labels)
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    pub fn apply_failed(&self) {
        self.apply_failures.inc();
    }

    pub fn network_programmed(&self, latency: Duration) {
        self.network_programming.observe(latency.as_secs_f64());
    }

    pub fn invalid_annotations_seen(&self, n: usize) {
        self.invalid_annotations.inc_by(n as u64);
    }

    pub fn bgp_peer_conflicts_seen(&self, n: usize) {
        self.bgp_peer_conflicts.inc_by(n as u64);
    }

    /// A UDP conntrack cleanup deleted `deleted` entries.
    pub fn conntrack_cleaned(&self, deleted: usize) {
        self.conntrack_deleted.inc_by(deleted as u64);
    }

    /// A UDP conntrack cleanup failed.
    pub fn conntrack_failed(&self) {
        self.conntrack_failures.inc();
    }

    /// Sets `kroute_artifacts{facet}` for every facet in `counts`.
    pub fn artifacts(&self, counts: &std::collections::BTreeMap<String, usize>) {
        for (facet, n) in counts {
            let labels = FacetLabels {
                facet: facet.clone(),
            };
            self.artifacts
                .get_or_create(&labels)
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
    }

    /// The Prometheus (OpenMetrics) text exposition of every metric, BGP's
    /// as a speaker that does not run.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        self.encode_with_bgp(BgpSample::default())
    }

    /// The exposition of every metric, BGP's from `bgp` (what the speaker
    /// answered at this scrape).
    pub fn encode_with_bgp(&self, bgp: BgpSample) -> Result<String, std::fmt::Error> {
        let _scrape = super::lock(&self.scrape);
        self.bgp.set(bgp);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Content type of [`LoopMetrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
