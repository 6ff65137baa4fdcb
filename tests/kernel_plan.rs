//! Kernel tier, real binary: `kroute plan` reports what `run` would change and
//! changes nothing itself.
mod support;

use std::net::Ipv4Addr;
use std::process::Output;

use support::clients::request;
use support::kroute_process::{assert_exit, kroute_once};
use support::nft;
use support::scene::{Scene, TestService};
use support::servers::Transport;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
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
    let node = &scene.topo.node;
    let cluster_ip = web.cluster_ip.to_string();

    let human = kroute_once(node, &["plan", "--config", &config]);
    assert_exit(&human, 0, "kroute plan");
    let text = stdout(&human);
    assert!(
        text.to_lowercase().contains("create") && text.contains(&cluster_ip),
        "plan on an empty host should list creates naming {cluster_ip}:\n{text}"
    );

    let pending = kroute_once(node, &["plan", "--config", &config, "--exit-code"]);
    assert_exit(&pending, 2, "kroute plan --exit-code with changes pending");

    let json = kroute_once(node, &["plan", "--config", &config, "--json"]);
    assert_exit(&json, 0, "kroute plan --json");
    let parsed: serde_json::Value = serde_json::from_slice(&json.stdout)
        .unwrap_or_else(|e| panic!("plan --json is not JSON ({e}):\n{}", stdout(&json)));
    assert!(
        parsed.to_string().contains(&cluster_ip),
        "plan --json does not name {cluster_ip}: {parsed}"
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
    assert!(
        !stdout(&settled).contains(&cluster_ip),
        "plan after convergence still names {cluster_ip}:\n{}",
        stdout(&settled)
    );
    scene.assert_foreign_unchanged("after run and plan");
}
