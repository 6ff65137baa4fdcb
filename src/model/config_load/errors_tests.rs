//! Errors: each names source, key path and value; all of them are reported.

use super::test_util::{base_env, env_of, file, flags, load_file, messages};
use super::*;

/// (file text, exact error message after "<path>: ").
#[test]
fn file_errors_name_file_key_and_value() {
    let cases: &[(&str, &str)] = &[
        (
            "proxy:\n  syncPeriod: 30 parsecs\n",
            r#"proxy.syncPeriod: invalid duration "30 parsecs""#,
        ),
        (
            "proxy: {mode: iptables}\n",
            r#"proxy.mode: invalid mode (nftables or ipvs) "iptables""#,
        ),
        (
            "proxy: {enabled: maybe}\n",
            r#"proxy.enabled: invalid boolean (true or false) "maybe""#,
        ),
        (
            "proxy: {clusterCIDRs: [10.0.0.0/8, 10.0.0.0/33]}\n",
            r#"proxy.clusterCIDRs[1]: invalid CIDR "10.0.0.0/33""#,
        ),
        (
            "proxy: {nodePortAddresses: [secondary]}\n",
            r#"proxy.nodePortAddresses[0]: invalid node port address (a CIDR or primary) "secondary""#,
        ),
        (
            "proxy: {syncPeriod: 0s}\n",
            r#"proxy.syncPeriod: must be positive, got "0s""#,
        ),
        (
            "proxy: {minSyncPeriod: 1m}\n",
            r#"proxy.minSyncPeriod: proxy.minSyncPeriod (1m) must not exceed proxy.syncPeriod (30s), got "1m""#,
        ),
        (
            "proxy: {syncPeriod: 50ms}\n",
            r#"proxy.syncPeriod: proxy.minSyncPeriod (100ms) must not exceed proxy.syncPeriod (50ms), got "50ms""#,
        ),
        (
            "bgp: {asn: 0}\n",
            r#"bgp.asn: invalid AS number (AS number 0 is reserved) "0""#,
        ),
        (
            "bgp: {routerId: 10.0.0.300}\n",
            r#"bgp.routerId: invalid router ID (auto or an IPv4 address) "10.0.0.300""#,
        ),
        (
            "bgp: {listenPort: 70000}\n",
            r#"bgp.listenPort: invalid port (1-65535) "70000""#,
        ),
        (
            "bgp: {listenAddresses: [x]}\n",
            r#"bgp.listenAddresses[0]: invalid IP address "x""#,
        ),
        (
            "bgp: {gracefulRestart: {restartTime: 2h}}\n",
            r#"bgp.gracefulRestart.restartTime: restart time above 4095s "2h""#,
        ),
        (
            "bgp: {gracefulRestart: {restartTime: 0s}}\n",
            r#"bgp.gracefulRestart.restartTime: must be positive when graceful restart is enabled, got "0s""#,
        ),
        (
            "bgp: {advertise: {podCIDR: 1}}\n",
            r#"bgp.advertise.podCIDR: invalid boolean (true or false) "1""#,
        ),
        (
            "bgp: {peers: [{address: 10.0.0.1, asn: 0}]}\n",
            r#"bgp.peers[0].asn: invalid AS number (AS number 0 is reserved) "0""#,
        ),
        (
            "bgp: {peers: [{address: 10.0.0.1, asn: 1}, {asn: 2}]}\n",
            r#"bgp.peers[1].address: required, missing """#,
        ),
        (
            "bgp: {peers: [{address: 10.0.0.1, asn: 1, port: 0}]}\n",
            r#"bgp.peers[0].port: invalid port (1-65535) "0""#,
        ),
        (
            "bgp: {peers: [{address: 10.0.0.1, asn: 1, holdTime: 1s}]}\n",
            r#"bgp.peers[0].holdTime: invalid hold time (0, or 3s to 65535s) "1s""#,
        ),
        (
            "bgp: {peers: [{address: 10.0.0.1, asn: 1, holdTime: 9s, keepaliveTime: 9s}]}\n",
            r#"bgp.peers[0].keepaliveTime: must be less than holdTime (9s), got "9s""#,
        ),
        (
            "bgp: {peers: [{address: 10.0.0.1, asn: 1, multihopTTL: 0}]}\n",
            r#"bgp.peers[0].multihopTTL: invalid TTL (1-255) "0""#,
        ),
        (
            "bgp: {peers: [{address: 10.0.0.1, asn: 1, passwordFile: \"\"}]}\n",
            r#"bgp.peers[0].passwordFile: empty path """#,
        ),
        (
            "bgp: {peers: [{address: 10.0.0.1, asn: 1, acceptPrefixes: [10.0.0.0/8, x]}]}\n",
            r#"bgp.peers[0].acceptPrefixes[1]: invalid CIDR "x""#,
        ),
        (
            "bgp: {peers: [{address: 10.0.0.1, asn: 1, acceptPrefixes: 10.0.0.0/8}]}\n",
            r#"bgp.peers[0].acceptPrefixes: expected a list, got "10.0.0.0/8""#,
        ),
        (
            "bgp: {peers: [{address: 10.0.0.1, asn: 1, maxPrefixes: -1}]}\n",
            r#"bgp.peers[0].maxPrefixes: invalid prefix count (0 or more) "-1""#,
        ),
        (
            "health: {address: localhost}\n",
            r#"health.address: invalid address (expected IP:PORT) "localhost""#,
        ),
        ("nodeName: \"\"\n", r#"nodeName: empty node name """#),
        (
            "source: {manifests: \"\"}\n",
            r#"source.manifests: empty path """#,
        ),
        // shapes
        (
            "proxy: {clusterCIDRs: 10.0.0.0/8}\n",
            r#"proxy.clusterCIDRs: expected a list, got "10.0.0.0/8""#,
        ),
        ("proxy: fast\n", r#"proxy: expected a map, got "fast""#),
        (
            "proxy: {mode: [ipvs]}\n",
            r#"proxy.mode: expected a single value, got ["ipvs"]"#,
        ),
        (
            "bgp: {peers: {address: 10.0.0.1}}\n",
            r#"bgp.peers: expected a list of peers, got {"address":"10.0.0.1"}"#,
        ),
        ("- a\n", r#"(top level): expected a map, got ["a"]"#),
        // unknown keys, at every depth
        ("nodename: a\n", "unknown key nodename"),
        ("proxy: {synPeriod: 30s}\n", "unknown key proxy.synPeriod"),
        (
            "bgp: {gracefulRestart: {restartTme: 1s}}\n",
            "unknown key bgp.gracefulRestart.restartTme",
        ),
        (
            "bgp: {peers: [{address: 10.0.0.1, asn: 1, hold: 3s}]}\n",
            "unknown key bgp.peers[0].hold",
        ),
    ];
    for (text, want) in cases {
        let (result, f) = load_file(text);
        let got = messages(result);
        assert_eq!(
            got,
            vec![format!("{}: {want}", f.path.display())],
            "{text:?}"
        );
    }
}

#[test]
fn every_error_of_a_file_is_reported_at_once() {
    let (result, f) = load_file(
        "nodename: a
proxy:
  mode: iptables
  syncPeriod: soon
  clusterCIDRs: [10.0.0.0/33, 10.0.0.0/8, x]
  serviceCIDRs: 10.96.0.0/12
bgp:
  asn: 0
  advertise: {podCIDR: 1, colour: red}
  peers:
    - {address: 10.0.0.300, asn: 65000, holdTime: 1s, multihopTTL: 0}
    - {asn: 1}
health: {address: localhost}
",
    );
    let file = f.path.display().to_string();
    let want: Vec<String> = [
        // what reading the file's shape finds (maps are read in key order)
        "unknown key bgp.advertise.colour",
        "unknown key nodename",
        "proxy.serviceCIDRs: expected a list, got \"10.96.0.0/12\"",
        // then every bad value, by key
        "bgp.advertise.podCIDR: invalid boolean (true or false) \"1\"",
        "bgp.asn: invalid AS number (AS number 0 is reserved) \"0\"",
        "bgp.peers[0].address: invalid IP address \"10.0.0.300\"",
        "bgp.peers[0].holdTime: invalid hold time (0, or 3s to 65535s) \"1s\"",
        "bgp.peers[0].multihopTTL: invalid TTL (1-255) \"0\"",
        "bgp.peers[1].address: required, missing \"\"",
        "health.address: invalid address (expected IP:PORT) \"localhost\"",
        "proxy.clusterCIDRs[0]: invalid CIDR \"10.0.0.0/33\"",
        "proxy.clusterCIDRs[2]: invalid CIDR \"x\"",
        "proxy.mode: invalid mode (nftables or ipvs) \"iptables\"",
        // no "minSyncPeriod exceeds syncPeriod": syncPeriod is reported already
        "proxy.syncPeriod: invalid duration \"soon\"",
    ]
    .iter()
    .map(|m| format!("{file}: {m}"))
    .collect();
    assert_eq!(messages(result), want);
}

#[test]
fn errors_of_file_env_and_flags_are_reported_together() {
    let f = file("proxy: {mode: iptables}\n");
    let mut env = base_env();
    env.push(("KROUTE_PROXY_SYNC_PERIOD", "soon"));
    let mut fl = flags(&[
        "--bgp-asn=x",
        "--bgp-peers=[{address: 10.0.0.1, asn: 1, color: red}]",
    ]);
    fl.config = Some(f.path.clone());
    let err = load_config(&fl, &env_of(&env)).unwrap_err();
    assert!(matches!(err, ConfigError::Several(_)), "{err:?}");
    let want = vec![
        format!(
            "{}: proxy.mode: invalid mode (nftables or ipvs) \"iptables\"",
            f.path.display()
        ),
        "env KROUTE_PROXY_SYNC_PERIOD: proxy.syncPeriod: invalid duration \"soon\"".to_string(),
        "flag --bgp-peers: unknown key bgp.peers[0].color".to_string(),
        "flag --bgp-asn: bgp.asn: invalid AS number \"x\"".to_string(),
    ];
    let got: Vec<String> = err.list().iter().map(ToString::to_string).collect();
    assert_eq!(got, want);
    // Displayed, one error per line.
    assert_eq!(err.to_string(), want.join("\n"));
}

#[test]
fn syntax_error_names_the_file_and_line() {
    let (err, f) = load_file("proxy:\n  mode: nftables\n   bad: [\n");
    let err = err.unwrap_err();
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("{}: invalid YAML: ", f.path.display())),
        "{text}"
    );
    assert!(text.contains("line 3") || text.contains(":3:"), "{text}");
}

#[test]
fn unreadable_file_names_the_path() {
    let fl = ConfigFlags {
        config: Some("/nonexistent/kroute.yaml".into()),
        ..ConfigFlags::default()
    };
    let err = load_config(&fl, &env_of(&base_env())).unwrap_err();
    assert!(matches!(err, ConfigError::ReadFile { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("/nonexistent/kroute.yaml: cannot read config file")
    );
}

#[test]
fn env_and_flag_errors_name_their_source() {
    let mut env = base_env();
    env.push(("KROUTE_PROXY_SYNC_PERIOD", "soon"));
    let err = load_config(&ConfigFlags::default(), &env_of(&env))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        r#"env KROUTE_PROXY_SYNC_PERIOD: proxy.syncPeriod: invalid duration "soon""#
    );

    let err = load_config(
        &flags(&["--proxy-min-sync-period=1h"]),
        &env_of(&base_env()),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("flag --proxy-min-sync-period: proxy.minSyncPeriod: "),
        "{err}"
    );
    let err = load_config(&flags(&["--admin-socket="]), &env_of(&base_env()))
        .unwrap_err()
        .to_string();
    assert_eq!(err, r#"flag --admin-socket: admin.socket: empty path """#);
}

#[test]
fn peer_password_and_file_are_exclusive_and_the_password_is_not_shown() {
    let (err, _f) = load_file(
        "bgp: {peers: [{address: 10.0.0.1, asn: 1, password: hunter2, passwordFile: /pw}]}\n",
    );
    let err = err.unwrap_err().to_string();
    assert!(
        err.contains("bgp.peers[0].password") && err.contains("exclusive"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn no_node_name_anywhere_is_reported_with_the_other_errors() {
    // No $NODE_NAME and no hostname file cannot be arranged here; an empty
    // node name from a flag is reported without a second "not configured".
    let err = load_config(&flags(&["--node-name= "]), &env_of(&[]))
        .unwrap_err()
        .to_string();
    assert_eq!(err, r#"flag --node-name: nodeName: empty node name " ""#);
}

#[test]
fn from_list_and_list_agree() {
    assert!(ConfigError::from_list(Vec::new()).is_none());
    let one = ConfigError::from_list(vec![ConfigError::NoNodeName]).unwrap();
    assert!(matches!(one, ConfigError::NoNodeName));
    let several =
        ConfigError::from_list(vec![ConfigError::NoNodeName, ConfigError::NoNodeName]).unwrap();
    assert_eq!(several.list().len(), 2);
}
