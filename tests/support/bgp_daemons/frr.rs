//! FRR 8.4's bgpd in a namespace (no zebra: `-Z`; no kernel routes: `-S`),
//! its vty socket in a temp directory, read with `vtysh ... json`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;
use serde_json::Value;

use super::{DaemonConfig, HeldPath, Kind, PeerDaemon, as_path_words};
use crate::support::netns::NetNs;
use crate::support::ns_process::NsProcess;

/// Where Debian installs bgpd.
pub const BGPD: &str = "/usr/lib/frr/bgpd";

pub struct Frr {
    dir: tempfile::TempDir,
    process: NsProcess,
}

/// bgpd's configuration for `c`: every neighbor active for both families,
/// connect retry 1 s, graceful restart (helper) on, no eBGP policy needed.
pub fn config_text(c: &DaemonConfig) -> String {
    let mut conf = format!(
        "frr defaults traditional
hostname peer
router bgp {}
 bgp router-id {}
 no bgp ebgp-requires-policy
 no bgp network import-check
 bgp graceful-restart
",
        c.asn, c.router_id
    );
    for n in &c.neighbors {
        let _ = writeln!(conf, " neighbor {} remote-as {}", n.address, n.asn);
        let _ = writeln!(conf, " neighbor {} timers connect 1", n.address);
        let _ = writeln!(conf, " neighbor {} update-source {}", n.address, n.local);
        if let Some(password) = &n.password {
            let _ = writeln!(conf, " neighbor {} password {password}", n.address);
        }
    }
    for (afi, v6) in [("ipv4", false), ("ipv6", true)] {
        let _ = writeln!(conf, " address-family {afi} unicast");
        for n in &c.neighbors {
            let _ = writeln!(conf, "  neighbor {} activate", n.address);
        }
        for p in c
            .announce
            .iter()
            .filter(|p| matches!(p, IpNet::V6(_)) == v6)
        {
            let _ = writeln!(conf, "  network {p}");
        }
        conf.push_str(" exit-address-family\n");
    }
    conf
}

impl Frr {
    pub fn start(ns: &NetNs, config: &DaemonConfig) -> Frr {
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = dir.path().join("bgpd.conf");
        std::fs::write(&conf, config_text(config)).expect("write bgpd config");
        let pid = dir.path().join("bgpd.pid");
        let socket_dir = dir.path().to_string_lossy().into_owned();
        let process = NsProcess::spawn(
            ns,
            "bgpd",
            &[
                BGPD,
                "-f",
                &conf.to_string_lossy(),
                "-Z",
                "-S",
                "--vty_socket",
                &socket_dir,
                "-i",
                &pid.to_string_lossy(),
                "--log",
                "stdout",
            ],
        );
        Frr { dir, process }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `vtysh -c COMMAND` against this bgpd, parsed (`Null` when it is not
    /// JSON, e.g. before bgpd listens).
    pub fn vtysh(&self, command: &str) -> Value {
        let out = std::process::Command::new("vtysh")
            .args(["--vty_socket", &self.dir.path().to_string_lossy()])
            .args(["-c", command])
            .output()
            .expect("run vtysh");
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// FRR's paths for one prefix (`show bgp <afi> unicast <prefix> json`).
    pub fn paths(&self, afi: &str, prefix: &str) -> Vec<Value> {
        self.vtysh(&format!("show bgp {afi} unicast {prefix} json"))
            .get("paths")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }
}

fn held(path: &Value) -> Option<HeldPath> {
    let next_hop = path.pointer("/nexthops/0/ip")?.as_str()?.parse().ok()?;
    let communities = path
        .pointer("/community/list")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Some(HeldPath {
        next_hop,
        as_path: as_path_words(
            path.pointer("/aspath/string")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        ),
        communities,
        local_pref: path
            .get("locPrf")
            .and_then(Value::as_u64)
            .and_then(|v| u32::try_from(v).ok()),
        stale: path.get("stale").and_then(Value::as_bool) == Some(true),
    })
}

impl PeerDaemon for Frr {
    fn kind(&self) -> Kind {
        Kind::Frr
    }

    fn held_from(&self, neighbor: IpAddr) -> BTreeMap<IpNet, HeldPath> {
        let mut out = BTreeMap::new();
        let from = neighbor.to_string();
        let from_neighbor = |p: &Value, pointer: &str| {
            p.pointer(pointer).and_then(Value::as_str) == Some(from.as_str())
        };
        for afi in ["ipv4", "ipv6"] {
            // The whole table (it lists stale paths too), each path with
            // its peer; then the prefix's details for its attributes.
            let table = self.vtysh(&format!("show bgp {afi} unicast json"));
            let Some(routes) = table.get("routes").and_then(Value::as_object) else {
                continue;
            };
            for (prefix, paths) in routes {
                let ours = paths.as_array().into_iter().flatten();
                let Ok(net) = prefix.parse::<IpNet>() else {
                    continue;
                };
                if !ours.clone().any(|p| from_neighbor(p, "/peerId")) {
                    continue;
                }
                let path = self
                    .paths(afi, prefix)
                    .into_iter()
                    .find(|p| from_neighbor(p, "/peer/peerId"));
                if let Some(h) = path.as_ref().and_then(held) {
                    out.insert(net, h);
                }
            }
        }
        out
    }

    fn established(&self, neighbor: IpAddr) -> bool {
        let v = self.vtysh(&format!("show bgp neighbors {neighbor} json"));
        v.pointer(&format!("/{neighbor}/bgpState"))
            .and_then(Value::as_str)
            == Some("Established")
    }

    fn sessions(&self) -> String {
        let out = std::process::Command::new("vtysh")
            .args(["--vty_socket", &self.dir.path().to_string_lossy()])
            .args(["-c", "show bgp neighbors"])
            .args(["-c", "show bgp ipv4 unicast"])
            .args(["-c", "show bgp ipv6 unicast"])
            .output()
            .expect("run vtysh");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn log(&self) -> String {
        self.process.log()
    }

    fn stop(&mut self) {
        self.process.stop();
    }
}
