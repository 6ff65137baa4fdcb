//! Loading: the contract's example, defaults and precedence.

use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

use super::test_util::{base_env, env_of, file, flags, flags_with, load_file};
use super::*;
use crate::model::config::{
    AdvertiseConfig, BgpConfig, GracefulRestartConfig, PeerConfig, ProxyConfig, ProxyMode,
    SourceConfig,
};

/// The example of the user contract, verbatim.
const EXAMPLE: &str = r#"nodeName: node-a              # default: $NODE_NAME, else the hostname
source:
  manifests: ./examples/cluster   # standalone: Service/EndpointSlice/Node YAML (multi-doc, any
                                  # file name), re-read on change. Omit to use Kubernetes:
  kubeconfig: ~/.kube/config      # or in-cluster config when neither is given
proxy:
  enabled: true
  mode: nftables              # nftables | ipvs
  clusterCIDRs: [10.244.0.0/16]
  serviceCIDRs: [10.96.0.0/12]
  nodePortAddresses: [primary]  # CIDRs, or "primary"
  masqueradeAll: false
  syncPeriod: 30s             # full resync: re-read the host, sweep drift
  minSyncPeriod: 100ms        # coalescing window for bursts
bgp:
  enabled: false
  asn: 64512                  # this node's ASN unless the node annotation says otherwise
  routerId: auto              # auto: the node's IPv4 address
  listenAddresses: []         # default: all
  listenPort: 179
  nodesFullMesh: true         # iBGP mesh with the other nodes (route reflectors via annotations)
  advertise: {clusterIP: false, externalIP: false, loadBalancerIP: true, podCIDR: true}
  gracefulRestart: {enabled: true, restartTime: 90s}
  peers:                      # global peers, every node peers with them
    - address: 10.0.0.1
      asn: 65000
      port: 179
      passwordFile: /etc/kroute/peer-pw   # or password: (discouraged)
      holdTime: 90s
      keepaliveTime: 30s
      multihopTTL: 1
      passive: false
      acceptPrefixes: []      # import: routes inside these CIDRs are accepted (default: none)
      maxPrefixes: 0          # 0: no limit; exceeded: Cease NOTIFICATION, session down, retried
health: {address: "0.0.0.0:10256"}
metrics: {address: "127.0.0.1:10249"}
admin: {socket: /run/kroute/kroute.sock}
"#;

#[test]
fn example_of_the_contract_loads() {
    let (cfg, f) = load_file(EXAMPLE);
    let cfg = cfg.unwrap();
    let want = Config {
        node_name: "node-a".into(),
        source: SourceConfig {
            // relative to the file's directory
            manifests: Some(f.dir.path().join("examples/cluster")),
            kubeconfig: Some("/home/test/.kube/config".into()),
        },
        proxy: ProxyConfig {
            cluster_cidrs: vec!["10.244.0.0/16".parse().unwrap()],
            service_cidrs: vec!["10.96.0.0/12".parse().unwrap()],
            ..Default::default()
        },
        bgp: BgpConfig {
            advertise: AdvertiseConfig::default(),
            graceful_restart: GracefulRestartConfig::default(),
            peers: vec![PeerConfig {
                address: "10.0.0.1".parse().unwrap(),
                asn: 65000,
                port: 179,
                password_file: Some("/etc/kroute/peer-pw".into()),
                password: None,
                hold_time: Duration::from_secs(90),
                keepalive_time: Duration::from_secs(30),
                multihop_ttl: 1,
                passive: false,
                accept_prefixes: Vec::new(),
                max_prefixes: 0,
            }],
            ..Default::default()
        },
        ..Config::default()
    };
    assert_eq!(cfg, want);
}

#[test]
fn empty_file_is_defaults() {
    for text in ["", "\n", "# only a comment\n", "---\n"] {
        let (cfg, _f) = load_file(text);
        let want = Config {
            node_name: "env-node".into(),
            ..Config::default()
        };
        assert_eq!(cfg.unwrap(), want, "{text:?}");
    }
}

#[test]
fn no_file_no_env_no_flags_is_defaults() {
    let cfg = load_config(&ConfigFlags::default(), &env_of(&base_env())).unwrap();
    assert_eq!(
        cfg,
        Config {
            node_name: "env-node".into(),
            ..Config::default()
        }
    );
}

#[test]
fn node_name_falls_back_to_the_hostname() {
    let cfg = load_config(&ConfigFlags::default(), &env_of(&[])).unwrap();
    let hostname = std::fs::read_to_string(HOSTNAME_FILE).unwrap();
    assert_eq!(cfg.node_name, hostname.trim());
}

#[test]
fn precedence_flag_over_env_over_file_over_default() {
    let f = file(
        "proxy:\n  mode: ipvs\n  syncPeriod: 10s\n  clusterCIDRs: [10.0.0.0/8]\nbgp:\n  asn: 65001\n",
    );
    // file only
    let cfg = load_config(&flags_with(&f), &env_of(&base_env())).unwrap();
    assert_eq!(cfg.proxy.mode, ProxyMode::Ipvs);
    assert_eq!(cfg.proxy.sync_period, Duration::from_secs(10));
    assert_eq!(cfg.bgp.asn, 65001);
    assert_eq!(
        cfg.proxy.cluster_cidrs,
        vec!["10.0.0.0/8".parse::<IpNet>().unwrap()]
    );
    // default where the file says nothing
    assert_eq!(cfg.proxy.min_sync_period, Duration::from_millis(100));

    // env over file
    let mut env = base_env();
    env.extend([
        ("KROUTE_PROXY_MODE", "nftables"),
        ("KROUTE_PROXY_SYNC_PERIOD", "20s"),
        ("KROUTE_PROXY_CLUSTER_CIDRS", "10.1.0.0/16, 10.2.0.0/16"),
        ("KROUTE_BGP_ASN", "65002"),
    ]);
    let cfg = load_config(&flags_with(&f), &env_of(&env)).unwrap();
    assert_eq!(cfg.proxy.mode, ProxyMode::Nftables);
    assert_eq!(cfg.proxy.sync_period, Duration::from_secs(20));
    assert_eq!(cfg.bgp.asn, 65002);
    assert_eq!(cfg.proxy.cluster_cidrs.len(), 2);

    // flag over env
    let mut fl = flags(&[
        "--proxy-mode=ipvs",
        "--proxy-sync-period",
        "40s",
        "--proxy-cluster-cidrs=10.3.0.0/16",
        "--node-name=flag-node",
    ]);
    fl.config = Some(f.path.clone());
    let cfg = load_config(&fl, &env_of(&env)).unwrap();
    assert_eq!(cfg.proxy.mode, ProxyMode::Ipvs);
    assert_eq!(cfg.proxy.sync_period, Duration::from_secs(40));
    assert_eq!(
        cfg.proxy.cluster_cidrs,
        vec!["10.3.0.0/16".parse::<IpNet>().unwrap()]
    );
    assert_eq!(
        cfg.bgp.asn, 65002,
        "env still applies where no flag is given"
    );
    assert_eq!(cfg.node_name, "flag-node");
}

#[test]
fn node_name_precedence() {
    let f = file("nodeName: file-node\n");
    let cfg = load_config(&flags_with(&f), &env_of(&base_env())).unwrap();
    assert_eq!(
        cfg.node_name, "file-node",
        "file beats $NODE_NAME (a default)"
    );
    let mut env = base_env();
    env.push(("KROUTE_NODE_NAME", "kroute-env-node"));
    let cfg = load_config(&flags_with(&f), &env_of(&env)).unwrap();
    assert_eq!(cfg.node_name, "kroute-env-node");
}

#[test]
fn config_file_from_env_and_flag_over_env() {
    let from_env = file("proxy: {mode: ipvs}\n");
    let from_flag = file("proxy: {mode: nftables}\n");
    let mut env = base_env();
    let path = from_env.path.to_string_lossy().to_string();
    env.push(("KROUTE_CONFIG", &path));
    let cfg = load_config(&ConfigFlags::default(), &env_of(&env)).unwrap();
    assert_eq!(cfg.proxy.mode, ProxyMode::Ipvs);
    let cfg = load_config(&flags_with(&from_flag), &env_of(&env)).unwrap();
    assert_eq!(cfg.proxy.mode, ProxyMode::Nftables);
}

#[test]
fn config_path_expands_home() {
    let f = file("proxy: {mode: ipvs}\n");
    let dir = f.path.parent().unwrap().to_string_lossy().to_string();
    let fl = ConfigFlags {
        config: Some("~/config.yaml".into()),
        ..ConfigFlags::default()
    };
    let cfg = load_config(&fl, &env_of(&[("HOME", &dir), ("NODE_NAME", "n")])).unwrap();
    assert_eq!(cfg.proxy.mode, ProxyMode::Ipvs);
    assert_eq!(
        config_path(&fl, &env_of(&[("HOME", &dir)])),
        Some(PathBuf::from(format!("{dir}/config.yaml")))
    );
}

#[test]
fn peers_from_flag_replace_file_peers() {
    let f = file("bgp:\n  peers:\n    - {address: 10.0.0.1, asn: 65000}\n");
    let mut fl = flags(&[
        r#"--bgp-peers=[{"address": "10.0.0.9", "asn": 65009, "passive": true, "password": "pw"}]"#,
    ]);
    fl.config = Some(f.path.clone());
    let cfg = load_config(&fl, &env_of(&base_env())).unwrap();
    assert_eq!(cfg.bgp.peers.len(), 1);
    let p = &cfg.bgp.peers[0];
    assert_eq!(
        (p.address, p.asn, p.passive),
        ("10.0.0.9".parse().unwrap(), 65009, true)
    );
    assert_eq!(p.password.as_deref(), Some("pw"));
    assert_eq!(
        (p.hold_time, p.keepalive_time, p.multihop_ttl),
        (Duration::from_secs(90), Duration::from_secs(30), 1)
    );
}

#[test]
fn peer_import_limits() {
    let (cfg, _f) = load_file(
        "bgp: {peers: [{address: 10.0.0.1, asn: 1, acceptPrefixes: [10.0.0.0/8, 'fd00::/8'], maxPrefixes: 100}]}\n",
    );
    let p = &cfg.unwrap().bgp.peers[0];
    assert_eq!(
        p.accept_prefixes,
        vec![
            "10.0.0.0/8".parse::<IpNet>().unwrap(),
            "fd00::/8".parse().unwrap()
        ]
    );
    assert_eq!(p.max_prefixes, 100);
}

#[test]
fn a_good_flag_does_not_hide_a_bad_file_value() {
    let f = file("proxy: {mode: iptables}\n");
    let mut fl = flags(&["--proxy-mode=ipvs"]);
    fl.config = Some(f.path.clone());
    let err = load_config(&fl, &env_of(&base_env()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("proxy.mode") && err.contains("iptables"),
        "{err}"
    );
}
