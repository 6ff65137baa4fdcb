//! gobgpd (GoBGP 3.10) in a namespace, its gRPC API on the namespace's own
//! loopback, read with `gobgp ... -j`. Its own prefixes are added over the
//! API once it answers (gobgpd has no static routes in its config).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

use super::{DaemonConfig, HeldPath, Kind, PeerDaemon, community};
use crate::support::netns::NetNs;
use crate::support::ns_process::NsProcess;
use crate::support::wait::wait_until;

/// The API port, on the peer namespace's loopback (one gobgpd per namespace).
pub const API_PORT: &str = "50551";

pub struct Gobgp {
    ns: String,
    _dir: tempfile::TempDir,
    process: NsProcess,
}

/// gobgpd's configuration for `c`: every neighbor with both families,
/// connect retry 1 s.
pub fn config_text(c: &DaemonConfig) -> String {
    let locals: Vec<String> = c
        .neighbors
        .iter()
        .map(|n| format!("\"{}\"", n.local))
        .collect();
    let mut conf = format!(
        "[global.config]\n  as = {}\n  router-id = \"{}\"\n  local-address-list = [{}]\n",
        c.asn,
        c.router_id,
        locals.join(", ")
    );
    for n in &c.neighbors {
        assert!(
            n.password.is_none(),
            "the gobgpd harness sets no MD5 password"
        );
        let _ = write!(
            conf,
            r#"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "{}"
    peer-as = {}
  [neighbors.transport.config]
    local-address = "{}"
  [neighbors.timers.config]
    connect-retry = 1
    hold-time = 9
    keepalive-interval = 3
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
"#,
            n.address, n.asn, n.local
        );
    }
    conf
}

fn family(net: &IpNet) -> &'static str {
    match net {
        IpNet::V4(_) => "ipv4",
        IpNet::V6(_) => "ipv6",
    }
}

impl Gobgp {
    pub fn start(ns: &NetNs, config: &DaemonConfig) -> Gobgp {
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = dir.path().join("gobgpd.toml");
        std::fs::write(&conf, config_text(config)).expect("write gobgpd config");
        let api = format!("127.0.0.1:{API_PORT}");
        let process = NsProcess::spawn(
            ns,
            "gobgpd",
            &[
                "gobgpd",
                "-f",
                &conf.to_string_lossy(),
                "--api-hosts",
                &api,
                "--pprof-disable",
                "-p",
            ],
        );
        let gobgp = Gobgp {
            ns: ns.name.clone(),
            _dir: dir,
            process,
        };
        for p in &config.announce {
            let prefix = p.to_string();
            wait_until(&format!("GoBGP takes {prefix} over its API"), || {
                gobgp
                    .cli(&["global", "rib", "add", "-a", family(p), &prefix])
                    .status
                    .success()
            });
        }
        gobgp
    }

    /// `gobgp ARGS` against this gobgpd.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new("ip")
            .args(["netns", "exec", &self.ns, "gobgp", "-u", "127.0.0.1"])
            .args(["-p", API_PORT])
            .args(args)
            .output()
            .expect("run gobgp")
    }

    /// `gobgp ARGS -j`, parsed (`Null` when it is not JSON).
    pub fn json(&self, args: &[&str]) -> Value {
        let mut argv = args.to_vec();
        argv.push("-j");
        serde_json::from_slice(&self.cli(&argv).stdout).unwrap_or(Value::Null)
    }
}

fn attr(path: &Value, code: u64) -> Option<&Value> {
    path.get("attrs")?
        .as_array()?
        .iter()
        .find(|a| a.get("type").and_then(Value::as_u64) == Some(code))
}

fn held(path: &Value) -> Option<HeldPath> {
    // NEXT_HOP (3) for IPv4, MP_REACH_NLRI (14) for IPv6.
    let next_hop = attr(path, 3)
        .or_else(|| attr(path, 14))?
        .get("nexthop")?
        .as_str()?
        .parse()
        .ok()?;
    let as_path = attr(path, 2)
        .and_then(|a| a.get("as_paths"))
        .and_then(Value::as_array)
        .map(|segments| {
            segments
                .iter()
                .filter_map(|s| s.get("asns").and_then(Value::as_array))
                .flatten()
                .filter_map(|a| a.as_u64().and_then(|v| u32::try_from(v).ok()))
                .collect()
        })
        .unwrap_or_default();
    let communities = attr(path, 8)
        .and_then(|a| a.get("communities"))
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(|c| c.as_u64().and_then(|v| u32::try_from(v).ok()))
                .map(community)
                .collect()
        })
        .unwrap_or_default();
    Some(HeldPath {
        next_hop,
        as_path,
        communities,
        local_pref: attr(path, 5)
            .and_then(|a| a.get("value"))
            .and_then(Value::as_u64)
            .and_then(|v| u32::try_from(v).ok()),
        stale: path.get("stale").and_then(Value::as_bool) == Some(true),
    })
}

impl PeerDaemon for Gobgp {
    fn kind(&self) -> Kind {
        Kind::Gobgp
    }

    fn held_from(&self, neighbor: IpAddr) -> BTreeMap<IpNet, HeldPath> {
        let from = neighbor.to_string();
        let mut out = BTreeMap::new();
        for afi in ["ipv4", "ipv6"] {
            let rib = self.json(&["global", "rib", "-a", afi]);
            let Some(rib) = rib.as_object() else {
                continue;
            };
            for (prefix, paths) in rib {
                let Ok(net) = prefix.parse::<IpNet>() else {
                    continue;
                };
                let path =
                    paths.as_array().into_iter().flatten().find(|p| {
                        p.get("neighbor-ip").and_then(Value::as_str) == Some(from.as_str())
                    });
                if let Some(h) = path.and_then(held) {
                    out.insert(net, h);
                }
            }
        }
        out
    }

    fn established(&self, neighbor: IpAddr) -> bool {
        let v = self.json(&["neighbor", &neighbor.to_string()]);
        // gobgp's API enum: 6 is ESTABLISHED.
        v.pointer("/state/session_state").and_then(Value::as_u64) == Some(6)
    }

    fn sessions(&self) -> String {
        String::from_utf8_lossy(&self.cli(&["neighbor"]).stdout).into_owned()
    }

    fn log(&self) -> String {
        self.process.log()
    }

    fn stop(&mut self) {
        self.process.stop();
    }
}
