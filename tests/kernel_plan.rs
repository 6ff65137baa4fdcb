//! Kernel tier, real binary: `kroute plan` reports what `run` would change and
//! changes nothing itself; its text shows each change in nft syntax with the
//! rules and verdicts, and its JSON is a document the real `nft -j -c -f`
//! accepts against the host's state.
mod support;

use std::net::Ipv4Addr;
use std::process::Output;

use support::clients::request;
use support::kroute_process::{assert_exit, kroute_once};
use support::netns::NetNs;
use support::nft;
use support::scene::{Scene, TestService};
use support::servers::Transport;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `kroute plan` (text), checked to exit 0.
fn plan_text(node: &NetNs, config: &str) -> String {
    let out = kroute_once(node, &["plan", "--config", config]);
    assert_exit(&out, 0, "kroute plan");
    stdout(&out)
}

/// `kroute plan --json`, checked to be JSON that `nft -j -c -f` accepts in
/// the node's namespace (check mode: the kernel validates the transaction
/// against its tables and commits nothing).
fn plan_json_checked(node: &NetNs, config: &str, scratch: &std::path::Path) -> serde_json::Value {
    let out = kroute_once(node, &["plan", "--config", config, "--json"]);
    assert_exit(&out, 0, "kroute plan --json");
    let parsed: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("plan --json is not JSON ({e}):\n{}", stdout(&out)));
    let file = scratch.join("plan.json");
    std::fs::write(&file, &out.stdout).expect("write plan.json");
    let check = nft::nft(
        node,
        &["-j", "-c", "-f", file.to_str().expect("utf-8 path")],
    );
    assert!(
        check.status.success(),
        "nft -j -c -f refused the plan: {}\n--- plan ---\n{}",
        String::from_utf8_lossy(&check.stderr),
        stdout(&out)
    );
    parsed
}

fn assert_has(text: &str, needle: &str, what: &str) {
    assert!(text.contains(needle), "{what}: no `{needle}` in:\n{text}");
}

#[test]
fn plan_lists_creates_on_an_empty_host_and_nothing_once_run_has_converged() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let mut scene = Scene::new("kplan", 2);
    let web = TestService::web(
        "web",
        Ipv4Addr::new(10, 96, 0, 10),
        Some(30080),
        &["backend-1", "backend-2"],
    );
    scene.put_service(&web);
    let config = scene.config.to_str().expect("utf-8 path").to_string();
    let scratch = scene.manifests.scratch();
    let node = &scene.topo.node;
    let (pod1, pod2) = (
        scene.topo.pod("backend-1").ip,
        scene.topo.pod("backend-2").ip,
    );

    // A create: the map, the element with its verdict, both endpoints' DNAT
    // and the masquerade jump, each as nft spells it.
    let text = plan_text(node, &config);
    for needle in [
        "nftables: table ip kroute\n",
        "  add table ip kroute\n",
        "  add map ip kroute service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }\n",
        "  add element ip kroute service-ips { 10.96.0.10 . tcp . 80 : goto svc-",
        "  add element ip kroute service-nodeports { tcp . 30080 : goto ",
        &format!("    + meta l4proto tcp dnat to {pod1}:8080\n"),
        &format!("    + meta l4proto tcp dnat to {pod2}:8080\n"),
        "jump mark-for-masquerade\n",
        "    + masquerade fully-random\n",
        "Plan: nftables: ",
    ] {
        assert_has(&text, needle, "plan on an empty host");
    }

    let pending = kroute_once(node, &["plan", "--config", &config, "--exit-code"]);
    assert_exit(&pending, 2, "kroute plan --exit-code with changes pending");

    let parsed = plan_json_checked(node, &config, &scratch);
    assert_eq!(parsed["changes"], serde_json::json!(true));
    assert!(
        parsed["summary"]["nftables"]["create"].as_u64() > Some(0),
        "{parsed}"
    );
    assert!(
        parsed["nftables"].to_string().contains("10.96.0.10"),
        "plan --json does not name the cluster IP: {parsed}"
    );

    assert!(
        nft::list_table(node, "ip", "kroute").is_none(),
        "plan created the kroute table"
    );
    scene.assert_foreign_unchanged("after plan");

    scene.start_kroute();
    let client = scene.topo.client.path();
    scene.wait_until("the service answers", |_| {
        request(&client, Transport::Tcp, web.cluster_addr()).is_ok()
    });
    let node = &scene.topo.node;
    let settled = kroute_once(node, &["plan", "--config", &config, "--exit-code"]);
    assert_exit(&settled, 0, "kroute plan --exit-code after run converged");
    assert_eq!(stdout(&settled), "No changes.\n");
    let parsed = plan_json_checked(node, &config, &scratch);
    assert_eq!(parsed["changes"], serde_json::json!(false));
    scene.assert_foreign_unchanged("after run and plan");
}

#[test]
fn plan_shows_updates_and_deletes_against_what_the_host_has() {
    if !support::kernel_tier_available(&["nft", "ip"]) {
        return;
    }
    let mut scene = Scene::new("kplanu", 2);
    let mut web = TestService::web(
        "web",
        Ipv4Addr::new(10, 96, 0, 10),
        None,
        &["backend-1", "backend-2"],
    );
    scene.put_service(&web);
    let config = scene.config.to_str().expect("utf-8 path").to_string();
    let scratch = scene.manifests.scratch();
    scene.start_kroute();
    let client = scene.topo.client.path();
    scene.wait_until("the service answers", |_| {
        request(&client, Transport::Tcp, web.cluster_addr()).is_ok()
    });
    // Stopped, so that the changes below stay pending.
    scene.stop_kroute();
    let node = &scene.topo.node;
    let (pod1, pod2) = (
        scene.topo.pod("backend-1").ip,
        scene.topo.pod("backend-2").ip,
    );

    // An update: backend-2 goes. The service chain's rules are shown against
    // those the kernel has; the endpoint chain goes with its DNAT.
    web.backends = vec!["backend-1".to_string()];
    scene.put_service(&web);
    let text = plan_text(node, &config);
    for needle in [
        "  update chain ip kroute svc-",
        "    - numgen random mod 2 == 0 goto ep-",
        "    + goto ep-",
        "  delete chain ip kroute ep-",
        &format!("    - meta l4proto tcp dnat to {pod2}:8080\n"),
    ] {
        assert_has(&text, needle, "plan after an endpoint went");
    }
    assert!(
        !text.contains(&format!("dnat to {pod1}:8080")),
        "the endpoint that stays is not changed:\n{text}"
    );
    // Every rule kroute wrote was read back as a typed rule.
    assert!(!text.contains("{\""), "a rule was not understood:\n{text}");
    plan_json_checked(node, &config, &scratch);

    // A delete: the whole service goes, its elements with their verdicts.
    scene.remove_service(&web);
    let text = plan_text(node, &config);
    for needle in [
        "  delete element ip kroute service-ips { 10.96.0.10 . tcp . 80 : goto svc-",
        "  delete element ip kroute service-ips { 10.96.0.10 . udp . 80 : goto svc-",
        &format!("    - meta l4proto tcp dnat to {pod1}:8080\n"),
        "to delete.\n",
    ] {
        assert_has(&text, needle, "plan after the service went");
    }
    let parsed = plan_json_checked(node, &config, &scratch);
    assert!(
        parsed["summary"]["nftables"]["delete"].as_u64() > Some(0),
        "{parsed}"
    );
    scene.assert_foreign_unchanged("after plan");
}
