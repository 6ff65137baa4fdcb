//! Planner cost at scale: 10,000 services with 100,000 endpoints.
//! - full: plan everything against an empty host (cold start) and against a
//!   converged host (the periodic full sync: mark everything, sweep nothing);
//! - incremental: one changed service among them, against the mirror.
//!
//! Run: `cargo bench --bench plan`

use std::collections::BTreeSet;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use kroute::host::{FakeHost, HostNetwork, HostSnapshot};
use kroute::model::config::ProxyConfig;
use kroute::model::fixtures::{node, service, slice};
use kroute::model::{ClusterView, ObjectKey};
use kroute::sync::Reconciler;
use kroute::sync::reconciler::ReconcilerSettings;

const SERVICES: usize = 10_000;
const ENDPOINTS_PER_SERVICE: usize = 10;

fn cluster(services: usize, endpoints_per_service: usize) -> ClusterView {
    let mut svcs = Vec::with_capacity(services);
    let mut slices = Vec::with_capacity(services);
    for i in 0..services {
        let name = format!("svc-{i}");
        let cluster_ip = format!("10.96.{}.{}", i / 250, i % 250 + 1);
        let node_port = (i % 2 == 0).then_some(30000 + (i % 2700) as u16);
        let type_ = if node_port.is_some() {
            "NodePort"
        } else {
            "ClusterIP"
        };
        svcs.push(service(
            "bench",
            &name,
            type_,
            &cluster_ip,
            &[("http", "TCP", 80, node_port)],
        ));
        let ips: Vec<String> = (0..endpoints_per_service)
            .map(|e| {
                let n = i * endpoints_per_service + e;
                format!("10.{}.{}.{}", 128 + n / 65536, (n / 256) % 256, n % 256)
            })
            .collect();
        let eps: Vec<(&str, &str, bool)> = ips
            .iter()
            .enumerate()
            .map(|(e, ip)| {
                (
                    ip.as_str(),
                    if e % 3 == 0 { "node-a" } else { "node-b" },
                    true,
                )
            })
            .collect();
        slices.push(slice(
            "bench",
            &name,
            &format!("{name}-1"),
            ("http", "TCP", 8080),
            &eps,
        ));
    }
    let mut view = ClusterView::from_objects(svcs, slices, [node("node-a", "192.168.50.1")]);
    view.synced = true;
    view
}

fn settings() -> ReconcilerSettings {
    ReconcilerSettings {
        node_name: "node-a".into(),
        proxy: ProxyConfig {
            cluster_cidrs: vec!["10.128.0.0/9".parse().unwrap()],
            service_cidrs: vec!["10.96.0.0/12".parse().unwrap()],
            ..ProxyConfig::default()
        },
        proxy_name: None,
        bgp: Default::default(),
    }
}

fn bench_plan(c: &mut Criterion) {
    let view = cluster(SERVICES, ENDPOINTS_PER_SERVICE);
    let mut reconciler = Reconciler::new(FakeHost::new(), settings());
    reconciler
        .sync(&view, &BTreeSet::new(), true)
        .expect("initial sync");
    let converged: HostSnapshot = reconciler.host().mirror().clone();
    let empty = HostSnapshot::default();

    // One service changes: it loses an endpoint.
    let mut changed = view.clone();
    let key = ObjectKey::new("bench", "svc-4242");
    let slices = changed.slices.get_mut(&key).expect("slice");
    let slice = slices.values_mut().next().expect("slice");
    if let Some(endpoints) = slice.endpoints.as_mut() {
        endpoints.pop();
    }
    let dirty: BTreeSet<ObjectKey> = [key].into();

    let mut group = c.benchmark_group("plan_10k_services_100k_endpoints");
    group.sample_size(10);
    group.bench_function("full_cold", |b| {
        b.iter(|| {
            black_box(
                reconciler
                    .plan_full(black_box(&view), &empty)
                    .plan
                    .nft
                    .len(),
            )
        })
    });
    group.bench_function("full_converged", |b| {
        b.iter(|| {
            black_box(
                reconciler
                    .plan_full(black_box(&view), &converged)
                    .plan
                    .nft
                    .len(),
            )
        })
    });
    group.bench_function("incremental_one_changed", |b| {
        b.iter(|| {
            let planned = reconciler.plan_incremental(black_box(&changed), &dirty, &converged);
            assert!(!planned.plan.is_empty());
            black_box(planned.plan.nft.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench_plan);
criterion_main!(benches);
