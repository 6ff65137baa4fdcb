use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::Taint;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::exposition::Exposition;
use super::view::{LAST_CHANGE_TRIGGER_TIME, TO_BE_DELETED_TAINT, node_eligible};
use super::*;
use crate::host::HostError;
use crate::model::fixtures::{node, service, slice};

const PERIOD: Duration = Duration::from_secs(30);

fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
}

fn web() -> ObjectKey {
    ObjectKey::new("default", "web")
}

/// A view of `default/web` whose slice `web-1` carries `trigger` (if any).
fn view_with_trigger(trigger: Option<&str>) -> ClusterView {
    let mut s = slice(
        "default",
        "web",
        "web-1",
        ("http", "TCP", 80),
        &[("10.244.1.1", "node-a", true)],
    );
    if let Some(at) = trigger {
        s.metadata.annotations =
            Some([(LAST_CHANGE_TRIGGER_TIME.to_string(), at.to_string())].into());
    }
    let mut v = ClusterView::from_objects(
        [service(
            "default",
            "web",
            "ClusterIP",
            "10.96.0.10",
            &[("http", "TCP", 80, None)],
        )],
        [s],
        [node("node-a", "192.168.50.1")],
    );
    v.synced = true;
    v
}

fn ok(kind: SyncKind) -> Result<SyncReport, SyncError> {
    Ok(SyncReport::new(kind))
}

fn attempt<'a>(outcome: &'a Result<SyncReport, SyncError>, nft: usize) -> SyncAttempt<'a> {
    SyncAttempt {
        kind: SyncKind::Full,
        outcome,
        duration: Duration::from_millis(5),
        artifacts: BTreeMap::from([("nftables".to_string(), nft)]),
    }
}

fn invalid(object: &str, value: &str) -> InvalidAnnotation {
    InvalidAnnotation {
        kind: "Service",
        object: object.to_string(),
        key: "kube-router.io/service.scheduler".to_string(),
        value: value.to_string(),
        reason: "unknown scheduler".to_string(),
    }
}

fn metrics(tel: &Telemetry) -> Exposition {
    Exposition::parse(&tel.encode_metrics().expect("encode"))
}

// --- the health rule ---

#[test]
fn healthy_before_any_change_and_last_updated_falls_back_to_start() {
    let s = LoopStatus::new(t(0));
    let h = s.health(t(10_000), PERIOD);
    assert!(h.healthy && h.node_eligible);
    assert_eq!((h.last_updated, h.current_time), (t(0), t(10_000)));
}

#[test]
fn a_change_waiting_twice_the_sync_period_is_unhealthy() {
    let mut s = LoopStatus::new(t(0));
    s.queued(t(100));
    assert!(s.health(t(159), PERIOD).healthy, "59 s < 60 s");
    assert!(!s.health(t(160), PERIOD).healthy, "60 s waited");
    assert!(!s.health(t(1000), PERIOD).healthy);
}

#[test]
fn only_the_oldest_queued_change_counts_and_a_success_clears_it() {
    let mut s = LoopStatus::new(t(0));
    s.queued(t(100));
    s.queued(t(150));
    assert_eq!(s.oldest_pending, Some(t(100)));
    assert!(
        !s.health(t(165), PERIOD).healthy,
        "measured from the oldest"
    );
    s.attempted(record(t(166), AttemptResult::Ok));
    assert_eq!(s.oldest_pending, None);
    let h = s.health(t(500), PERIOD);
    assert!(h.healthy);
    assert_eq!(h.last_updated, t(166));
}

#[test]
fn a_failed_sync_keeps_the_change_pending_and_records_the_error() {
    let mut s = LoopStatus::new(t(0));
    s.queued(t(100));
    s.attempted(record(t(101), AttemptResult::Error("boom".into())));
    assert_eq!(s.oldest_pending, Some(t(100)));
    assert_eq!(
        s.last_error.as_ref().map(|e| e.message.as_str()),
        Some("boom")
    );
    assert!(!s.health(t(161), PERIOD).healthy);
}

#[test]
fn a_clock_stepped_back_counts_as_no_wait() {
    let mut s = LoopStatus::new(t(0));
    s.queued(t(100));
    assert!(s.health(t(50), PERIOD).healthy);
}

fn record(at: SystemTime, result: AttemptResult) -> SyncAttemptStatus {
    SyncAttemptStatus {
        kind: SyncKind::Incremental,
        at,
        duration: Duration::ZERO,
        result,
        services_planned: 0,
        creates: 0,
        updates: 0,
        deletes: 0,
        deletes_withheld: 0,
        refused: Vec::new(),
    }
}

// --- node eligibility ---

#[test]
fn node_eligibility_follows_deletion_and_the_autoscaler_taint() {
    let mut view = view_with_trigger(None);
    assert!(node_eligible(&view, "node-a"));
    assert!(
        node_eligible(&view, "missing"),
        "an unknown node is eligible"
    );

    let n = view.nodes.get_mut("node-a").expect("node");
    n.spec.get_or_insert_default().taints = Some(vec![Taint {
        key: "unrelated".into(),
        effect: "NoSchedule".into(),
        ..Taint::default()
    }]);
    assert!(node_eligible(&view, "node-a"), "other taints do not matter");

    let n = view.nodes.get_mut("node-a").expect("node");
    n.spec.get_or_insert_default().taints = Some(vec![Taint {
        key: TO_BE_DELETED_TAINT.into(),
        effect: "NoSchedule".into(),
        ..Taint::default()
    }]);
    assert!(!node_eligible(&view, "node-a"));

    let mut view = view_with_trigger(None);
    let n = view.nodes.get_mut("node-a").expect("node");
    n.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
    assert!(!node_eligible(&view, "node-a"));
}

#[test]
fn view_changed_records_source_sync_and_node_eligibility() {
    let tel = Telemetry::new(t(0), PERIOD);
    let mut view = view_with_trigger(None);
    view.synced = false;
    view.nodes
        .get_mut("node-a")
        .expect("node")
        .metadata
        .deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
    tel.view_changed(&view, &BTreeSet::new(), "node-a");
    let s = tel.loop_status();
    assert_eq!(
        (s.source_synced, s.node_eligible, s.node_name.as_str()),
        (false, false, "node-a")
    );
    let h = tel.health(t(1));
    assert!(h.livez_ok() && !h.healthz_ok());
}

// --- network programming latency ---

#[test]
fn trigger_times_are_observed_once_after_a_successful_sync() {
    let tel = Telemetry::new(t(0), PERIOD);
    let dirty = BTreeSet::from([web()]);
    tel.view_changed(&view_with_trigger(Some(&rfc3339(t(10)))), &dirty, "node-a");
    // Same annotation again: not a new change.
    tel.view_changed(&view_with_trigger(Some(&rfc3339(t(10)))), &dirty, "node-a");
    assert_eq!(tel.pending_trigger_times(), 1);

    let failed = Err(SyncError::Apply(HostError::Injected("apply".into())));
    tel.synced(t(11), attempt(&failed, 0));
    assert_eq!(tel.pending_trigger_times(), 1, "kept until a sync succeeds");

    tel.synced(t(13), attempt(&ok(SyncKind::Full), 5));
    assert_eq!(tel.pending_trigger_times(), 0);
    let m = metrics(&tel);
    assert_eq!(
        m.value("kubeproxy_network_programming_duration_seconds_count"),
        Some(1.0)
    );
    assert_eq!(
        m.value("kubeproxy_network_programming_duration_seconds_sum"),
        Some(3.0),
        "13 s - 10 s"
    );
}

#[test]
fn trigger_times_before_the_start_or_malformed_are_ignored() {
    let tel = Telemetry::new(t(100), PERIOD);
    let dirty = BTreeSet::from([web()]);
    tel.view_changed(&view_with_trigger(Some(&rfc3339(t(50)))), &dirty, "node-a");
    tel.view_changed(&view_with_trigger(Some("yesterday")), &dirty, "node-a");
    assert_eq!(tel.pending_trigger_times(), 0);
    // An offset other than Z is RFC3339 too.
    let later = k8s_openapi::jiff::Timestamp::try_from(t(200))
        .expect("ts")
        .to_zoned(k8s_openapi::jiff::tz::TimeZone::fixed(
            k8s_openapi::jiff::tz::offset(2),
        ))
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string();
    assert_eq!(parse_rfc3339(&later), Some(t(200)), "{later}");
    tel.view_changed(&view_with_trigger(Some(&later)), &dirty, "node-a");
    assert_eq!(tel.pending_trigger_times(), 1);
}

// --- invalid annotations ---

#[test]
fn invalid_annotations_are_counted_and_fed_once() {
    let tel = Telemetry::new(t(0), PERIOD);
    let mut feed = tel.take_invalid_annotation_feed().expect("first take");
    assert!(tel.take_invalid_annotation_feed().is_none());

    let mut report = SyncReport::new(SyncKind::Full);
    report.invalid_annotations = vec![invalid("default/web", "bogus")];
    let outcome = Ok(report.clone());
    tel.synced(t(1), attempt(&outcome, 3));
    tel.synced(t(2), attempt(&outcome, 3));
    report
        .invalid_annotations
        .push(invalid("default/web", "other"));
    tel.synced(t(3), attempt(&Ok(report), 3));

    let mut fed = Vec::new();
    while let Ok(a) = feed.try_recv() {
        fed.push(a.value);
    }
    assert_eq!(fed, ["bogus", "other"]);
    assert_eq!(
        metrics(&tel).value("kroute_invalid_annotations_total"),
        Some(2.0)
    );
    assert_eq!(tel.loop_status().invalid_annotations.len(), 2);
}

#[test]
fn an_incremental_sync_replaces_only_the_invalid_annotations_of_what_it_planned() {
    let tel = Telemetry::new(t(0), PERIOD);
    let mut full = SyncReport::new(SyncKind::Full);
    full.invalid_annotations = vec![invalid("default/web", "a"), invalid("default/db", "b")];
    tel.synced(t(1), attempt(&Ok(full), 3));

    // default/web changed and is now valid; default/db was not planned.
    tel.view_changed(&view_with_trigger(None), &BTreeSet::from([web()]), "node-a");
    tel.synced(t(2), attempt(&ok(SyncKind::Incremental), 3));
    let objects: Vec<String> = tel
        .loop_status()
        .invalid_annotations
        .into_iter()
        .map(|a| a.object)
        .collect();
    assert_eq!(objects, ["default/db"]);

    tel.synced(t(3), attempt(&ok(SyncKind::Full), 3));
    assert!(tel.loop_status().invalid_annotations.is_empty());
}

// --- metrics and status ---

#[test]
fn metrics_have_kube_proxy_names_and_types() {
    let tel = Telemetry::new(t(0), PERIOD);
    let m = metrics(&tel);
    for (name, kind) in [
        ("kubeproxy_sync_proxy_rules_duration_seconds", "histogram"),
        ("kubeproxy_sync_proxy_rules_last_timestamp_seconds", "gauge"),
        (
            "kubeproxy_network_programming_duration_seconds",
            "histogram",
        ),
        (
            "kubeproxy_sync_proxy_rules_no_local_endpoints_total",
            "gauge",
        ),
        ("kroute_syncs", "counter"),
        ("kroute_apply_failures", "counter"),
        ("kroute_artifacts_swept", "counter"),
        ("kroute_invalid_annotations", "counter"),
        ("kroute_artifacts", "gauge"),
    ] {
        assert_eq!(m.types.get(name).map(String::as_str), Some(kind), "{name}");
    }
    for policy in ["internal", "external"] {
        let series = format!(
            "kubeproxy_sync_proxy_rules_no_local_endpoints_total{{traffic_policy=\"{policy}\"}}"
        );
        assert_eq!(m.value(&series), Some(0.0), "{series}");
    }
    assert_eq!(
        m.value("kroute_syncs_total{kind=\"incremental\",result=\"error\"}"),
        Some(0.0),
        "series exist before the first sync"
    );
    assert_eq!(m.value("kroute_artifacts{facet=\"nftables\"}"), Some(0.0));
    assert_eq!(
        m.value("kubeproxy_sync_proxy_rules_duration_seconds_bucket{le=\"16.384\"}"),
        Some(0.0),
        "kube-proxy's last bucket"
    );
}

#[test]
fn a_sync_updates_counters_gauges_and_the_status() {
    let tel = Telemetry::new(t(0), PERIOD);
    tel.queued(t(1));
    let mut report = SyncReport::new(SyncKind::Full);
    report.deletes = 4;
    report.creates = 7;
    tel.synced(t(2), attempt(&Ok(report), 12));
    let failed = Err(SyncError::Apply(HostError::Injected("apply".into())));
    tel.synced(t(3), attempt(&failed, 12));

    let m = metrics(&tel);
    let last = m
        .value("kubeproxy_sync_proxy_rules_last_timestamp_seconds")
        .expect("gauge");
    assert_eq!(
        last,
        t(2).duration_since(SystemTime::UNIX_EPOCH)
            .expect("after epoch")
            .as_secs_f64()
    );
    assert_eq!(
        m.value("kroute_syncs_total{kind=\"full\",result=\"ok\"}"),
        Some(1.0)
    );
    assert_eq!(
        m.value("kroute_syncs_total{kind=\"full\",result=\"error\"}"),
        Some(1.0)
    );
    assert_eq!(m.value("kroute_apply_failures_total"), Some(1.0));
    assert_eq!(m.value("kroute_artifacts_swept_total"), Some(4.0));
    assert_eq!(m.value("kroute_artifacts{facet=\"nftables\"}"), Some(12.0));
    assert_eq!(
        m.value("kubeproxy_sync_proxy_rules_duration_seconds_count"),
        Some(2.0)
    );

    let doc = tel.status(t(4));
    assert_eq!(doc.last_successful_sync, Some(rfc3339(t(2))));
    assert_eq!(doc.oldest_pending_change, None);
    let last = doc.last_sync.as_ref().expect("attempt");
    assert!(!last.ok);
    assert!(
        last.error
            .as_deref()
            .is_some_and(|e| e.contains("injected"))
    );
    assert_eq!(doc.artifacts.get("nftables"), Some(&12));
    let json = serde_json::to_string(&doc).expect("json");
    assert_eq!(serde_json::from_str::<StatusDoc>(&json).expect("back"), doc);
    let human = doc.render_human();
    assert!(
        human.contains("nftables 12") && human.contains("failed: applying changes"),
        "{human}"
    );
}

#[test]
fn no_local_endpoints_and_refused_artifacts_reach_metrics_and_status() {
    let tel = Telemetry::new(t(0), PERIOD);
    let mut report = SyncReport::new(SyncKind::Full);
    report.no_local_endpoints = crate::sync::health_check::NoLocalEndpoints {
        internal: 1,
        external: 3,
    };
    report.refused.push(crate::sync::report::NotApplied {
        facet: "health-checks",
        message: "Service default/web: cannot listen on 0.0.0.0:32000".into(),
    });
    tel.synced(t(1), attempt(&Ok(report), 5));
    let m = metrics(&tel);
    let series = |p: &str| {
        m.value(&format!(
            "kubeproxy_sync_proxy_rules_no_local_endpoints_total{{traffic_policy=\"{p}\"}}"
        ))
    };
    assert_eq!(
        (series("internal"), series("external")),
        (Some(1.0), Some(3.0))
    );
    assert_eq!(
        m.value("kroute_artifacts_refused_total{facet=\"health-checks\"}"),
        Some(1.0)
    );
    assert_eq!(
        m.value("kroute_artifacts_refused_total{facet=\"nftables\"}"),
        Some(0.0)
    );
    // Recomputed, not accumulated: the next sync's value replaces it.
    tel.synced(t(2), attempt(&ok(SyncKind::Full), 5));
    let m = metrics(&tel);
    assert_eq!(
        m.value("kubeproxy_sync_proxy_rules_no_local_endpoints_total{traffic_policy=\"external\"}"),
        Some(0.0)
    );
    let doc = tel.status(t(1));
    assert!(doc.last_sync.expect("a sync").refused.is_empty());
}

#[test]
fn the_proxy_health_of_health_check_listeners_is_the_loop_health_rule() {
    use crate::host::health_check::ProxyHealth;
    let tel = Telemetry::new(SystemTime::now(), PERIOD);
    assert!(tel.healthy(), "nothing pending");
    tel.queued(SystemTime::now() - PERIOD * 3);
    assert!(!tel.healthy(), "a change waited more than 2 x syncPeriod");
}

#[test]
fn rfc3339_round_trips() {
    let at = t(42) + Duration::from_millis(250);
    assert_eq!(parse_rfc3339(&rfc3339(at)), Some(at));
    assert!(rfc3339(at).ends_with('Z'));
}

#[test]
fn conntrack_cleanups_are_counted() {
    let tel = Telemetry::new(t(0), PERIOD);
    let mut cleaned = SyncReport::new(SyncKind::Incremental);
    cleaned.conntrack = Some(crate::host::conntrack::ConntrackReport {
        deleted: 3,
        ..Default::default()
    });
    tel.synced(t(1), attempt(&Ok(cleaned), 1));
    let mut failed = SyncReport::new(SyncKind::Incremental);
    failed.conntrack_error = Some("conntrack cleanup failed: EPERM".into());
    tel.synced(t(2), attempt(&Ok(failed), 1));
    let m = metrics(&tel);
    assert_eq!(m.value("kroute_conntrack_entries_deleted_total"), Some(3.0));
    assert_eq!(
        m.value("kroute_conntrack_cleanup_failures_total"),
        Some(1.0)
    );
}
