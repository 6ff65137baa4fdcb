//! API-server tier: `deploy/` against a real kube-apiserver. Every manifest
//! passes the server's own validation (`--dry-run=server`, then for real),
//! the kroute ServiceAccount gets exactly the access kroute needs (checked
//! with `kubectl auth can-i`, and with a real token), and the DaemonSet's
//! command and the ConfigMap's `kroute.yaml`, read back from the server, are
//! accepted by `kroute check-config`.
mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::apiserver::{ApiServer, apiserver_tier_available};
use support::netns::NetNs;

const DEPLOY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy");
const CLEANUP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/deploy/migrate/cleanup-kube-proxy.yaml"
);
const SA: &str = "system:serviceaccount:kube-system:kroute";

/// (verb, resource) pairs kroute must be allowed cluster-wide.
const ALLOWED: &[(&str, &str)] = &[
    ("get", "services"),
    ("list", "services"),
    ("watch", "services"),
    ("get", "endpointslices.discovery.k8s.io"),
    ("list", "endpointslices.discovery.k8s.io"),
    ("watch", "endpointslices.discovery.k8s.io"),
    ("get", "nodes"),
    ("list", "nodes"),
    ("watch", "nodes"),
    ("create", "events"),
    ("patch", "events"),
    ("create", "events.events.k8s.io"),
    ("patch", "events.events.k8s.io"),
];

/// Writes and reads kroute does not need, all refused.
const REFUSED: &[(&str, &str)] = &[
    ("create", "services"),
    ("patch", "services"),
    ("update", "services --subresource=status"),
    ("delete", "services"),
    ("patch", "nodes"),
    ("update", "nodes --subresource=status"),
    ("delete", "nodes"),
    ("create", "endpointslices.discovery.k8s.io"),
    ("delete", "endpointslices.discovery.k8s.io"),
    ("get", "secrets"),
    ("list", "secrets"),
    ("list", "pods"),
    ("list", "configmaps"),
    ("delete", "events"),
    ("list", "events.events.k8s.io"),
    ("create", "serviceaccounts --subresource=token"),
];

fn json(api: &ApiServer, args: &[&str]) -> Value {
    let mut argv = args.to_vec();
    argv.extend_from_slice(&["-o", "json"]);
    let out = api.kubectl_ok(&argv);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("kubectl {args:?}: {e}\n{out}"))
}

/// `kubectl auth can-i VERB RESOURCE [--subresource=S] -A --as=SA`: true for "yes".
fn sa_can(api: &ApiServer, verb: &str, resource: &str) -> bool {
    let mut args = vec!["auth", "can-i", verb];
    args.extend(resource.split_whitespace());
    args.extend_from_slice(&["--all-namespaces", "--as", SA]);
    let out = api.kubectl(&args);
    let answer = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match (out.status.code(), answer.as_str()) {
        (Some(0), "yes") => true,
        (Some(1), "no") => false,
        _ => panic!(
            "kubectl auth can-i {verb} {resource}: {:?} {answer:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// `kroute check-config` on `args` (a DaemonSet command minus `kroute run`),
/// with `NODE_NAME` set as the DaemonSet's downward API would, and no
/// `KROUTE_*` variables from the test's environment.
fn check_config(args: &[String]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kroute"));
    cmd.arg("check-config")
        .args(args)
        .env("NODE_NAME", "node-a");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("KROUTE_") {
            cmd.env_remove(key);
        }
    }
    cmd.output().expect("spawn kroute check-config")
}

#[test]
fn deploy_manifests_apply_and_grant_only_what_kroute_needs() {
    if !apiserver_tier_available() {
        return;
    }
    let ns = NetNs::new("api-deploy");
    let api = ApiServer::start(&ns);

    // The server validates every object without storing it...
    let dry = api.kubectl_ok(&["apply", "--dry-run=server", "-k", DEPLOY]);
    for kind in [
        "serviceaccount/kroute",
        "clusterrole.rbac.authorization.k8s.io/kroute",
        "clusterrolebinding.rbac.authorization.k8s.io/kroute",
        "configmap/kroute",
        "daemonset.apps/kroute",
    ] {
        assert!(dry.contains(kind), "dry run did not cover {kind}:\n{dry}");
    }
    let absent = api.kubectl(&["get", "daemonset", "kroute", "-n", "kube-system"]);
    assert!(
        !absent.status.success(),
        "a server dry run stored the DaemonSet"
    );
    // ...then stores them.
    api.kubectl_ok(&["apply", "-k", DEPLOY]);
    // The migration's one-off cleanup DaemonSet is valid too, and its
    // command line is one kroute parses (`--help` after it: parsed, not run).
    api.kubectl_ok(&["apply", "--dry-run=server", "-f", CLEANUP]);
    let cleanup = json(&api, &["create", "--dry-run=server", "-f", CLEANUP]);
    let init = &cleanup["spec"]["template"]["spec"]["initContainers"][0]["command"];
    let init: Vec<&str> = init
        .as_array()
        .expect("initContainer command")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        init[..3],
        ["kroute", "cleanup", "--kube-proxy"],
        "cleanup command: {init:?}"
    );
    let help = Command::new(env!("CARGO_BIN_EXE_kroute"))
        .args(&init[1..])
        .arg("--help")
        .output()
        .expect("spawn kroute");
    assert!(
        help.status.success(),
        "kroute {:?}: {}",
        &init[1..],
        String::from_utf8_lossy(&help.stderr)
    );

    for (verb, resource) in ALLOWED {
        assert!(
            sa_can(&api, verb, resource),
            "kroute may not {verb} {resource}"
        );
    }
    for (verb, resource) in REFUSED {
        assert!(
            !sa_can(&api, verb, resource),
            "kroute may {verb} {resource}"
        );
    }
    // The same through a real token of the ServiceAccount.
    let token = api.create_token("kube-system", "kroute");
    let kubeconfig = api.kubeconfig_for_token(&token);
    let listed = api.kubectl_with(
        &kubeconfig,
        &["get", "services,nodes,endpointslices", "-A"],
        None,
    );
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let secrets = api.kubectl_with(&kubeconfig, &["get", "secrets", "-n", "kube-system"], None);
    assert!(!secrets.status.success(), "the kroute token read secrets");

    // The DaemonSet as the server stored it (defaults filled in).
    let ds = json(&api, &["get", "daemonset", "kroute", "-n", "kube-system"]);
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(pod["serviceAccountName"], "kroute");
    assert_eq!(pod["priorityClassName"], "system-node-critical");
    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let sc = &c["securityContext"];
    assert_ne!(sc["privileged"], true, "the container is privileged");
    let caps: Vec<&str> = sc["capabilities"]["add"]
        .as_array()
        .expect("capabilities.add")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(caps.contains(&"NET_ADMIN"), "capabilities: {caps:?}");
    let node_name = c["env"]
        .as_array()
        .expect("env")
        .iter()
        .find(|e| e["name"] == "NODE_NAME")
        .expect("NODE_NAME in env");
    assert_eq!(
        node_name["valueFrom"]["fieldRef"]["fieldPath"],
        "spec.nodeName"
    );

    let command: Vec<String> = c["command"]
        .as_array()
        .expect("container command")
        .iter()
        .map(|v| v.as_str().expect("string argument").to_string())
        .collect();
    assert_eq!(command[..2], ["kroute", "run"], "command: {command:?}");

    // Where /etc/kroute comes from: the ConfigMap `kroute`'s kroute.yaml.
    let mount = c["volumeMounts"]
        .as_array()
        .expect("volumeMounts")
        .iter()
        .find(|m| m["mountPath"] == "/etc/kroute")
        .expect("a volume mounted at /etc/kroute");
    let volume = pod["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("the mounted volume");
    assert_eq!(volume["configMap"]["name"], "kroute");
    let cm = json(&api, &["get", "configmap", "kroute", "-n", "kube-system"]);
    let kroute_yaml = cm["data"]["kroute.yaml"]
        .as_str()
        .expect("data.kroute.yaml");

    // Run kroute's own validation on them, the mount replaced by a temp dir.
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("kroute.yaml"), kroute_yaml).expect("write kroute.yaml");
    let mounted = |arg: &String| match arg.strip_prefix("/etc/kroute/") {
        Some(file) => dir.path().join(file).display().to_string(),
        None => arg.clone(),
    };
    let args: Vec<String> = command[2..].iter().map(mounted).collect();
    assert!(
        args.iter()
            .any(|a| Path::new(a) == dir.path().join("kroute.yaml")),
        "the command does not read /etc/kroute/kroute.yaml: {command:?}"
    );
    let out = check_config(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("config ok"),
        "kroute check-config {args:?}: {:?}\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("in-cluster"),
        "deploy/ should use the in-cluster Kubernetes source: {stdout}"
    );

    // check-config really validates: the same file with a bad mode is refused.
    let bad = kroute_yaml.replace("mode: nftables", "mode: bogus");
    assert_ne!(
        bad, kroute_yaml,
        "kroute.yaml has no `mode: nftables` to break"
    );
    std::fs::write(dir.path().join("kroute.yaml"), bad).expect("write bad kroute.yaml");
    let out = check_config(&args);
    assert_eq!(out.status.code(), Some(2), "a bad proxy.mode was accepted");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("proxy.mode"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
