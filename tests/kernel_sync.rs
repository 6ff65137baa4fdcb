//! Kernel tier, real binary: the agent keeps the `kroute` table equal to the
//! manifests: removed services disappear, drift added by hand is swept.
mod support;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use support::clients::{backends_answering, request};
use support::nft::{self, NftTable};
use support::scene::{Scene, TestService};
use support::servers::Transport;

/// Chains reached from the map/set elements of a service (its ClusterIP and
/// its node port).
fn chains_of(table: &NftTable, svc: &TestService) -> BTreeSet<String> {
    let node_port = svc.ports[0].node_port.expect("node port").to_string();
    let mut chains = table.chains_reached_from_elements(&svc.cluster_ip.to_string());
    chains.extend(table.chains_reached_from_elements(&node_port));
    chains
}

/// Elements naming the service's ClusterIP or node port.
fn element_count(table: &NftTable, svc: &TestService) -> usize {
    let node_port = svc.ports[0].node_port.expect("node port").to_string();
    table.elements_mentioning(&svc.cluster_ip.to_string()).len()
        + table.elements_mentioning(&node_port).len()
}

#[test]
fn deleting_a_manifest_removes_its_elements_and_chains_and_keeps_the_other_service() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let mut scene = Scene::new("kdel", 2);
    let both = ["backend-1", "backend-2"];
    let keep = TestService::web("keep", Ipv4Addr::new(10, 96, 0, 10), Some(30080), &both);
    let gone = TestService::web("gone", Ipv4Addr::new(10, 96, 0, 11), Some(30081), &both);
    scene.put_service(&keep);
    scene.put_service(&gone);
    scene.start_kroute();
    let client = scene.topo.client.path();
    scene.wait_until("both services answer", |_| {
        request(&client, Transport::Tcp, keep.cluster_addr()).is_ok()
            && request(&client, Transport::Tcp, gone.cluster_addr()).is_ok()
    });

    let before = scene.kroute_table().expect("table ip kroute exists");
    let gone_chains: BTreeSet<String> = chains_of(&before, &gone)
        .difference(&chains_of(&before, &keep))
        .cloned()
        .collect();
    assert!(
        element_count(&before, &gone) > 0,
        "no element names {}",
        gone.cluster_ip
    );
    assert!(!gone_chains.is_empty(), "no chain reached only from `gone`");

    scene.remove_service(&gone);
    scene.wait_until("`gone` has no elements and chains left", |s| {
        s.kroute_table().is_some_and(|t| {
            element_count(&t, &gone) == 0 && gone_chains.iter().all(|c| !t.chains.contains(c))
        })
    });

    let after = scene.kroute_table().expect("table ip kroute still exists");
    assert!(element_count(&after, &keep) > 0, "`keep` lost its elements");
    let seen = backends_answering(&client, Transport::Tcp, keep.cluster_addr(), 20);
    assert!(!seen.is_empty());
    assert!(
        request(&client, Transport::Tcp, gone.cluster_addr()).is_err(),
        "the removed service still answers"
    );
    scene.assert_foreign_unchanged("after a service was removed");
}

#[test]
fn hand_added_elements_and_chain_are_swept_at_the_next_full_sync() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let mut scene = Scene::new("ksweep", 2);
    let web = TestService::web(
        "web",
        Ipv4Addr::new(10, 96, 0, 10),
        Some(30080),
        &["backend-1", "backend-2"],
    );
    scene.put_service(&web);
    scene.start_kroute();
    let client = scene.topo.client.path();
    scene.wait_until("the service answers", |_| {
        request(&client, Transport::Tcp, web.cluster_addr()).is_ok()
    });

    // Drift: a chain, a set element, and a map element that points at the
    // chain (so a sweep must drop the element before the chain).
    nft::load(
        &scene.topo.node,
        "add chain ip kroute handmade
add element ip kroute cluster-ips { 10.96.99.99 }
add element ip kroute service-ips { 10.96.99.98 . tcp . 80 : goto handmade }
",
    );
    let drifted = scene.kroute_table().expect("table ip kroute exists");
    assert!(drifted.chains.contains("handmade"));
    assert_eq!(drifted.elements_mentioning("10.96.99.99").len(), 1);
    assert_eq!(drifted.elements_mentioning("10.96.99.98").len(), 1);

    scene.wait_until("the hand-made chain and elements are swept", |s| {
        s.kroute_table().is_some_and(|t| {
            !t.chains.contains("handmade")
                && t.elements_mentioning("10.96.99.99").is_empty()
                && t.elements_mentioning("10.96.99.98").is_empty()
        })
    });
    let seen = backends_answering(&client, Transport::Tcp, web.cluster_addr(), 20);
    assert!(!seen.is_empty());
    scene.assert_foreign_unchanged("after drift was swept");
}

#[test]
fn a_node_name_that_matches_no_node_gets_one_warning() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let mut scene = Scene::new("knonode", 1);
    scene.manifests.remove("node.yaml");
    let web = TestService::web("web", Ipv4Addr::new(10, 96, 0, 10), None, &["backend-1"]);
    scene.put_service(&web);
    scene.start_kroute();
    let client = scene.topo.client.path();
    scene.wait_until("the ClusterIP answers without a Node", |_| {
        request(&client, Transport::Tcp, web.cluster_addr()).is_ok()
    });
    let warning = "no Node named \"node-a\"";
    support::wait::wait_until("a warning naming the missing Node", || {
        scene.kroute.as_ref().unwrap().log().contains(warning)
    });
    // Later syncs do not repeat it.
    std::thread::sleep(std::time::Duration::from_secs(5));
    let log = scene.kroute.as_ref().unwrap().log();
    assert_eq!(log.matches(warning).count(), 1, "{log}");
}
