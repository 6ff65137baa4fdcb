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

/// What other software put in iptables (and kubelet's own `KUBE-*` chains):
/// all of it must survive `cleanup --kube-proxy`.
const FOREIGN_V4: &str = "*nat
:FOREIGN-NAT - [0:0]
-A PREROUTING -p tcp -m tcp --dport 9 -j FOREIGN-NAT
-A FOREIGN-NAT -p tcp -m tcp --dport 9 -j RETURN
COMMIT
*filter
:KUBE-FIREWALL - [0:0]
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -j KUBE-FIREWALL
-A KUBE-FIREWALL -d 127.0.0.0/8 ! -s 127.0.0.0/8 -j DROP
COMMIT
*mangle
:KUBE-KUBELET-CANARY - [0:0]
COMMIT
";

/// kube-proxy's iptables mode, in miniature.
const KUBE_PROXY_V4: &str = r#"*nat
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-SVC-TEST - [0:0]
:KUBE-POSTROUTING - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-TEST
-A KUBE-SERVICES -j KUBE-NODEPORTS
-A KUBE-SVC-TEST -j RETURN
COMMIT
*filter
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
COMMIT
*mangle
:KUBE-PROXY-CANARY - [0:0]
COMMIT
"#;

const FOREIGN_V6: &str = "*nat
:FOREIGN6 - [0:0]
-A PREROUTING -j FOREIGN6
COMMIT
";

const KUBE_PROXY_V6: &str = r#"*nat
:KUBE-SERVICES - [0:0]
:KUBE-SEP-TEST - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SERVICES -j KUBE-SEP-TEST
COMMIT
"#;

const FOREIGN_LEGACY: &str = "*nat
:FOREIGN-LEGACY - [0:0]
-A OUTPUT -j FOREIGN-LEGACY
COMMIT
";

const KUBE_PROXY_LEGACY: &str = "*nat
:KUBE-SERVICES - [0:0]
-A OUTPUT -j KUBE-SERVICES
COMMIT
";

/// kube-proxy's nftables mode, in miniature.
const KUBE_PROXY_NFT: &str = "table ip kube-proxy {
  chain services {
  }
  chain nat-prerouting {
    type nat hook prerouting priority -100; policy accept;
    jump services
  }
}
table ip6 kube-proxy {
  chain services {
  }
}
";

/// `TOOL-restore --noflush` of `script` in `ns`; false when it fails.
fn iptables_restore(ns: &NetNs, tool: &str, script: &str) -> bool {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), script).expect("write restore script");
    let path = file.path().to_str().expect("utf-8 temp path");
    let out = ns.exec_unchecked(&[&format!("{tool}-restore"), "--noflush", path]);
    if !out.status.success() {
        eprintln!(
            "{tool}-restore failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out.status.success()
}

/// `TOOL-save` in `ns` without comments and counters: comparable listings.
fn iptables_save(ns: &NetNs, tool: &str) -> String {
    let out = ns.exec(&[&format!("{tool}-save")]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| match l.rsplit_once(" [") {
            Some((head, _)) if l.starts_with(':') => format!("{head} []"),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn cleanup_kube_proxy_removes_its_leftovers_idempotently_and_spares_foreign_ones() {
    let tools = ["nft", "ip", "iptables-nft-save", "ip6tables-nft-save"];
    if !support::kernel_tier_available(&tools) {
        return;
    }
    let ns = NetNs::new("kcleankp");
    let foreign_table = nft::ForeignTable::install(&ns);
    // kube-proxy's kube-ipvs0 is a dummy; kernels without the dummy driver
    // have veth, and the cleanup goes by name.
    ns.ip(&[
        "link", "add", "foreign0", "type", "veth", "peer", "name", "foreign1",
    ]);

    // Foreign rules first: the listing they make is what must remain.
    let mut backends = vec![("iptables-nft", FOREIGN_V4, KUBE_PROXY_V4)];
    backends.push(("ip6tables-nft", FOREIGN_V6, KUBE_PROXY_V6));
    let legacy = iptables_restore(&ns, "iptables-legacy", FOREIGN_LEGACY);
    if legacy {
        backends.push(("iptables-legacy", "", KUBE_PROXY_LEGACY));
    } else {
        eprintln!("no legacy iptables in this kernel: that backend is not tested");
    }
    for (tool, foreign, _) in &backends {
        if !foreign.is_empty() {
            assert!(
                iptables_restore(&ns, tool, foreign),
                "{tool}: foreign rules"
            );
        }
    }
    let before: Vec<String> = backends
        .iter()
        .map(|(tool, _, _)| iptables_save(&ns, tool))
        .collect();

    // Then kube-proxy's leftovers, of every mode.
    for (tool, _, kube_proxy) in &backends {
        assert!(
            iptables_restore(&ns, tool, kube_proxy),
            "{tool}: kube-proxy rules"
        );
        assert!(
            iptables_save(&ns, tool).contains(":KUBE-SERVICES"),
            "{tool}"
        );
    }
    nft::load(&ns, KUBE_PROXY_NFT);
    ns.ip(&[
        "link",
        "add",
        "kube-ipvs0",
        "type",
        "veth",
        "peer",
        "name",
        "kipvs-peer",
    ]);
    ns.ip(&["addr", "add", "10.96.0.10/32", "dev", "kube-ipvs0"]);

    for round in ["first", "second"] {
        let out = kroute_once(&ns, &["cleanup", "--kube-proxy"]);
        assert_exit(&out, 0, &format!("{round} kroute cleanup --kube-proxy"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        if round == "second" {
            assert!(
                stdout.contains("nftables: no kube-proxy tables"),
                "{stdout}"
            );
            assert!(
                stdout.contains("iptables-nft: no kube-proxy chains"),
                "{stdout}"
            );
        }
        for family in ["ip", "ip6"] {
            assert!(
                nft::list_table(&ns, family, "kube-proxy").is_none(),
                "table {family} kube-proxy survived the {round} cleanup"
            );
        }
        for ((tool, _, _), before) in backends.iter().zip(&before) {
            assert_eq!(
                &iptables_save(&ns, tool),
                before,
                "{tool}: after the {round} cleanup, not exactly the foreign rules"
            );
        }
        let links = ns.ip(&["-o", "link", "show"]);
        let links = String::from_utf8_lossy(&links.stdout);
        assert!(
            !links.contains("kube-ipvs0"),
            "kube-ipvs0 survived: {links}"
        );
        assert!(links.contains("foreign0"), "foreign0 was removed: {links}");
        foreign_table.assert_unchanged(&ns, &format!("after the {round} cleanup"));
    }
}
