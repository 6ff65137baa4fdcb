//! Kernel tier, real binary: `kroute cleanup` removes exactly what kroute owns.
mod support;

use std::net::Ipv4Addr;

use support::clients::request;
use support::kroute_process::{assert_exit, kroute_once};
use support::netns::NetNs;
use support::nft;
use support::scene::{Scene, TestService};
use support::servers::Transport;

fn no_kroute_tables(ns: &NetNs) -> bool {
    nft::list_table(ns, "ip", "kroute").is_none() && nft::list_table(ns, "ip6", "kroute").is_none()
}

#[test]
fn cleanup_removes_both_tables_is_idempotent_and_spares_foreign_tables() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let mut scene = Scene::new("kclean", 1);
    let web = TestService::web(
        "web",
        Ipv4Addr::new(10, 96, 0, 10),
        Some(30080),
        &["backend-1"],
    );
    scene.put_service(&web);
    scene.start_kroute();
    let client = scene.topo.client.path();
    scene.wait_until("the service answers", |_| {
        request(&client, Transport::Tcp, web.cluster_addr()).is_ok()
    });
    scene.assert_foreign_unchanged("while kroute runs");

    // Shutdown leaves the dataplane: traffic keeps flowing until cleanup.
    scene.stop_kroute();
    assert!(nft::list_table(&scene.topo.node, "ip", "kroute").is_some());
    assert_eq!(
        request(&client, Transport::Tcp, web.cluster_addr()),
        Ok("backend-1".to_string())
    );

    let config = scene.config.to_str().expect("utf-8 path").to_string();
    for round in ["first", "second"] {
        let out = kroute_once(&scene.topo.node, &["cleanup", "--config", &config]);
        assert_exit(&out, 0, &format!("{round} kroute cleanup"));
        assert!(
            no_kroute_tables(&scene.topo.node),
            "a kroute table survived the {round} cleanup"
        );
        scene.assert_foreign_unchanged(&format!("after the {round} cleanup"));
    }
    assert!(
        request(&client, Transport::Tcp, web.cluster_addr()).is_err(),
        "the ClusterIP still answers after cleanup"
    );
}

#[test]
fn cleanup_without_config_removes_leftover_tables_and_spares_foreign_tables() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let ns = NetNs::new("kclean0");
    let foreign = nft::ForeignTable::install(&ns);
    // What a crashed agent could leave behind, in both families.
    nft::load(
        &ns,
        "table ip kroute {
  chain services {
    type nat hook prerouting priority -100; policy accept;
  }
}
table ip6 kroute {
  chain services {
  }
}
",
    );
    for round in ["first", "second"] {
        let out = kroute_once(&ns, &["cleanup"]);
        assert_exit(&out, 0, &format!("{round} kroute cleanup without --config"));
        assert!(
            no_kroute_tables(&ns),
            "a kroute table survived the {round} cleanup"
        );
        foreign.assert_unchanged(&ns, &format!("after the {round} cleanup"));
    }
}
