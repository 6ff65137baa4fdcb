//! The command line as a user meets it: exit codes and error messages that
//! name the file, the key and the value.

use std::process::Command;

fn kroute(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kroute"))
        .args(args)
        .env_remove("KROUTE_CONFIG")
        .output()
        .expect("run kroute")
}

#[test]
fn version_prints_the_crate_version() {
    let out = kroute(&["version"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.trim(), format!("kroute {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn a_bad_config_value_exits_2_naming_file_key_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kroute.yaml");
    std::fs::write(&file, "proxy:\n  syncPeriod: 30 parsecs\n").unwrap();
    for cmd in ["run", "plan", "cleanup"] {
        let out = kroute(&[cmd, "--config", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(file.to_str().unwrap()), "{cmd}: {err}");
        assert!(err.contains("proxy.syncPeriod"), "{cmd}: {err}");
        assert!(err.contains("30 parsecs"), "{cmd}: {err}");
    }
}

#[test]
fn an_unknown_key_and_a_bad_flag_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kroute.yaml");
    std::fs::write(&file, "proxy:\n  sycPeriod: 30s\n").unwrap();
    let out = kroute(&["plan", "--config", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("proxy.sycPeriod"));

    let out = kroute(&["plan", "--proxy-mode", "iptables"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--proxy-mode") && err.contains("iptables"),
        "{err}"
    );
}

#[test]
fn a_missing_source_is_a_config_error() {
    for command in ["run", "plan", "check-config"] {
        let out = kroute(&[
            command,
            "--node-name",
            "n1",
            "--source-manifests",
            "/nonexistent/kroute-manifests",
        ]);
        assert_eq!(out.status.code(), Some(2), "{command}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("source.manifests") && err.contains("/nonexistent/kroute-manifests"),
            "{command}: {err}"
        );
    }
}

#[test]
fn an_unreadable_kubeconfig_is_a_config_error() {
    let out = kroute(&[
        "check-config",
        "--node-name",
        "n1",
        "--source-kubeconfig",
        "/nonexistent/kubeconfig",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("source.kubeconfig"), "{err}");
}

#[test]
fn check_config_accepts_the_example_config() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/kroute.yaml");
    let out = kroute(&["check-config", "--config", example]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("config ok"));
}

#[test]
fn every_mistake_of_a_config_file_is_listed_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kroute.yaml");
    std::fs::write(
        &file,
        "proxy:\n  syncPeriod: 30 parsecs\n  mode: iptables\n  sycPeriod: 1s\nbgp: {asn: 0}\n",
    )
    .unwrap();
    let out = kroute(&["check-config", "--config", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 4, "{err}");
    for (line, want) in lines.iter().zip([
        "unknown key proxy.sycPeriod",
        "bgp.asn:",
        "proxy.mode:",
        "proxy.syncPeriod:",
    ]) {
        let prefix = format!("kroute: {}: ", file.display());
        assert!(line.starts_with(&prefix) && line.contains(want), "{line}");
    }
}

#[test]
fn relative_paths_in_the_file_follow_the_file_not_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("cluster")).unwrap();
    let file = dir.path().join("kroute.yaml");
    std::fs::write(&file, "nodeName: n1\nsource:\n  manifests: cluster\n").unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kroute"))
        .args(["check-config", "--config", file.to_str().unwrap()])
        .current_dir(elsewhere.path())
        .env_remove("KROUTE_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let want = dir.path().join("cluster");
    assert!(stdout.contains(&want.display().to_string()), "{stdout}");
}

#[test]
fn kroute_bgp_without_an_agent_fails_like_kroute_status_naming_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("absent/kroute.sock");
    let socket = socket.to_str().unwrap();
    let status = kroute(&["status", "--admin-socket", socket]);
    assert_eq!(status.status.code(), Some(1));
    for args in [
        &["bgp", "peers"][..],
        &["bgp", "routes"],
        &["bgp", "routes", "--peer", "10.0.0.1", "--json"],
    ] {
        let out = kroute(&[args, &["--admin-socket", socket]].concat());
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(socket), "{args:?}: {err}");
        assert_eq!(err, String::from_utf8_lossy(&status.stderr), "{args:?}");
    }
    // --received needs --peer (a usage error, clap's exit 2).
    let out = kroute(&["bgp", "routes", "--received", "--admin-socket", socket]);
    assert_eq!(out.status.code(), Some(2));
}

/// An agent (its side servers, in this process) whose BGP is disabled, or
/// enabled with no speaker running: `kroute bgp` exits 3 and says which.
#[test]
fn kroute_bgp_exits_3_when_bgp_is_disabled_or_its_speaker_is_not_running() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    for (enabled, says) in [(false, "bgp.enabled is false"), (true, "not running")] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = kroute::model::config::Config {
            health_address: "127.0.0.1:0".parse().unwrap(),
            metrics_address: "127.0.0.1:0".parse().unwrap(),
            admin_socket: dir.path().join("kroute.sock"),
            ..Default::default()
        };
        config.bgp.enabled = enabled;
        let telemetry = std::sync::Arc::new(kroute::telemetry::Telemetry::new(
            std::time::SystemTime::now(),
            std::time::Duration::from_secs(30),
        ));
        let servers = runtime
            .block_on(kroute::serve::spawn_side_servers(
                &config,
                telemetry,
                kroute::bgp::slot::SpeakerSlot::new(),
            ))
            .unwrap();
        let socket = config.admin_socket.to_str().unwrap();
        for command in ["peers", "routes"] {
            let out = kroute(&["bgp", command, "--admin-socket", socket]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(3), "bgp {command}: {err}");
            assert!(err.starts_with("kroute: ") && err.contains(says), "{err}");
            assert!(out.stdout.is_empty());
        }
        // The status still answers, with or without BGP in it.
        let out = kroute(&["status", "--json", "--admin-socket", socket]);
        assert!(out.status.success());
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["bgp"].is_null(), !enabled, "{doc}");
        runtime.block_on(async move { drop(servers) });
    }
}
