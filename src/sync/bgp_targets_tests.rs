//! Which peers a route goes to: a service's own peers, the global, node and
//! mesh peers, `peers-only`, and peers only Services define.

use std::net::IpAddr;

use serde_json::json;

use super::tests::{annotated, ctx_with, enabled, lb_service, node_with, peer, routes_with};
use super::*;
use crate::host::bgp::BgpPeerKey;
use crate::sync::service_plan::plan_skeleton as plan_all_skeleton;

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

/// The targets of a service's routes (all alike): (only, except).
fn targets(routes: &BTreeMap<OriginatedRoute, RouteAttrs>) -> (Vec<IpAddr>, Vec<IpAddr>) {
    let mut all = routes
        .values()
        .map(|a| (a.only_peers.clone(), a.except_peers.clone()));
    let first = all.next().expect("announced");
    assert!(all.all(|t| t == first), "{routes:?}");
    first
}

#[test]
fn service_peers_get_their_services_routes_and_no_other() {
    let mut bgp = enabled();
    bgp.peers = vec![peer("10.0.0.1", 65001)];
    let own = annotated(&[("kroute.io/bgp.peers", "- {address: 10.0.0.2, asn: 65002}")]);
    let only = lb_service(
        "only",
        json!({"metadata": {"annotations": {
            "kroute.io/bgp.peers": "- {address: 10.0.0.3, asn: 65003}",
            "kroute.io/bgp.peers-only": "true",
        }}}),
    );
    let global_only = lb_service(
        "global",
        json!({"metadata": {"annotations": {
            "kroute.io/bgp.peers": "- {address: 10.0.0.1, asn: 65001}",
            "kroute.io/bgp.peers-only": "true",
        }}}),
    );
    let plain = lb_service("plain", json!({}));
    let services = [
        own.clone(),
        only.clone(),
        global_only.clone(),
        plain.clone(),
    ];
    let ctx = ctx_with(&bgp, &node_with(json!({})), &services);

    // Sessions: the global peer (also named by a Service) and both
    // service-only peers.
    let skel = plan_all_skeleton(&ctx);
    let sessions: Vec<IpAddr> = skel.bgp_peers.keys().map(|k| k.0).collect();
    assert_eq!(sessions, ips(&["10.0.0.1", "10.0.0.2", "10.0.0.3"]));
    assert_eq!(
        skel.bgp_peers[&BgpPeerKey(ips(&["10.0.0.2"])[0])].asn,
        65002
    );

    // Its own peer besides the others, never the other Service's peer.
    assert_eq!(
        targets(&routes_with(&own, &[], &ctx)),
        (vec![], ips(&["10.0.0.3"]))
    );
    // peers-only: its own peer alone.
    assert_eq!(
        targets(&routes_with(&only, &[], &ctx)),
        (ips(&["10.0.0.3"]), vec![])
    );
    assert_eq!(
        targets(&routes_with(&global_only, &[], &ctx)),
        (ips(&["10.0.0.1"]), vec![])
    );
    // No peers of its own, and the pod CIDRs: not to service-only peers.
    let neither = ips(&["10.0.0.2", "10.0.0.3"]);
    assert_eq!(
        targets(&routes_with(&plain, &[], &ctx)),
        (vec![], neither.clone())
    );
    assert_eq!(targets(&skel.bgp), (vec![], neither));
}

#[test]
fn without_service_only_peers_routes_go_everywhere() {
    let mut bgp = enabled();
    bgp.peers = vec![peer("10.0.0.1", 65001)];
    let svc = annotated(&[]);
    let ctx = ctx_with(&bgp, &node_with(json!({})), std::slice::from_ref(&svc));
    assert_eq!(targets(&routes_with(&svc, &[], &ctx)), (vec![], vec![]));
}

#[test]
fn a_peers_only_service_whose_peer_is_unusable_is_announced_to_nobody() {
    let svc = annotated(&[
        (
            "kroute.io/bgp.peers",
            "- {address: 10.0.0.5, asn: 65005, passwordSecret: bgp-pw}",
        ),
        ("kroute.io/bgp.peers-only", "true"),
    ]);
    let ctx = ctx_with(
        &enabled(),
        &node_with(json!({})),
        std::slice::from_ref(&svc),
    );
    assert!(routes_with(&svc, &[], &ctx).is_empty());
    assert!(plan_all_skeleton(&ctx).bgp_peers.is_empty());
    let mut report = crate::sync::SyncReport::new(crate::sync::SyncKind::Full);
    ctx.bgp.as_ref().unwrap().report(&mut report);
    assert_eq!(report.invalid_annotations.len(), 1, "{report:?}");
    let text = report.invalid_annotations[0].to_string();
    assert!(
        text.starts_with("Service default/web: invalid annotation kroute.io/bgp.peers=")
            && text.contains("passwordSecret \"bgp-pw\" is not supported"),
        "{text}"
    );
}

#[test]
fn node_large_communities_are_carried_with_the_services() {
    let node = node_with(json!({"kube-router.io/node.bgp.communities": "7:8:9, 65000:1"}));
    let svc = annotated(&[("kroute.io/bgp.communities", "1:2:3, 7:8:9")]);
    let ctx = ctx_with(&enabled(), &node, &[]);
    let routes = routes_with(&svc, &[], &ctx);
    assert!(
        (routes.values())
            .all(|a| a.large_communities == [[1, 2, 3], [7, 8, 9]]
                && a.communities == [65000 << 16 | 1]),
        "{routes:?}"
    );
    let pods = plan_all_skeleton(&ctx).bgp;
    assert!(pods.values().all(|a| a.large_communities == [[7, 8, 9]]));
}
