//! BIRD 2.0 in a namespace (foreground, its control socket in a temp
//! directory), read with `birdc show route protocol NAME all`: one BGP
//! protocol per neighbor, `kroute0`, `kroute1`, ...

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use ipnet::IpNet;

use super::{DaemonConfig, HeldPath, Kind, PeerDaemon, as_path_words};
use crate::support::netns::NetNs;
use crate::support::ns_process::NsProcess;

pub struct Bird {
    ns: String,
    socket: String,
    /// Neighbor address → protocol name.
    protocols: Vec<(IpAddr, String)>,
    _dir: tempfile::TempDir,
    process: NsProcess,
}

/// BIRD's configuration for `c`: a static protocol per family with the
/// announced prefixes (blackholes), exported (only they) to every neighbor;
/// everything imported; every neighbor on the link (`direct`, also for
/// iBGP, whose default is multihop); connect retry 1 s.
pub fn config_text(c: &DaemonConfig) -> String {
    let mut conf = format!(
        "router id {};\nprotocol device {{ scan time 1; }}\n",
        c.router_id
    );
    for (name, v6) in [("ipv4", false), ("ipv6", true)] {
        let _ = writeln!(conf, "protocol static static_{name} {{\n  {name};");
        for p in c
            .announce
            .iter()
            .filter(|p| matches!(p, IpNet::V6(_)) == v6)
        {
            let _ = writeln!(conf, "  route {p} blackhole;");
        }
        conf.push_str("}\n");
    }
    for (i, n) in c.neighbors.iter().enumerate() {
        assert!(
            n.password.is_none(),
            "the BIRD harness sets no MD5 password"
        );
        let _ = write!(
            conf,
            "protocol bgp kroute{i} {{
  local {local} as {asn};
  neighbor {address} as {peer_asn};
  direct;
  connect retry time 1;
  ipv4 {{ import all; export where source = RTS_STATIC; }};
  ipv6 {{ import all; export where source = RTS_STATIC; }};
}}
",
            local = n.local,
            asn = c.asn,
            address = n.address,
            peer_asn = n.asn,
        );
    }
    conf
}

impl Bird {
    pub fn start(ns: &NetNs, config: &DaemonConfig) -> Bird {
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = dir.path().join("bird.conf");
        std::fs::write(&conf, config_text(config)).expect("write bird config");
        let socket = dir.path().join("bird.ctl").to_string_lossy().into_owned();
        let pid = dir.path().join("bird.pid").to_string_lossy().into_owned();
        let process = NsProcess::spawn(
            ns,
            "bird",
            &[
                "bird",
                "-f",
                "-c",
                &conf.to_string_lossy(),
                "-s",
                &socket,
                "-P",
                &pid,
            ],
        );
        let protocols = config
            .neighbors
            .iter()
            .enumerate()
            .map(|(i, n)| (n.address, format!("kroute{i}")))
            .collect();
        Bird {
            ns: ns.name.clone(),
            socket,
            protocols,
            _dir: dir,
            process,
        }
    }

    /// `birdc ARGS`, its text.
    pub fn birdc(&self, args: &[&str]) -> String {
        let mut argv = vec!["ip", "netns", "exec", &self.ns, "birdc", "-s", &self.socket];
        argv.extend_from_slice(args);
        let out = std::process::Command::new(argv[0])
            .args(&argv[1..])
            .output()
            .expect("run birdc");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn protocol(&self, neighbor: IpAddr) -> &str {
        self.protocols
            .iter()
            .find(|(a, _)| *a == neighbor)
            .map(|(_, p)| p.as_str())
            .unwrap_or_else(|| panic!("BIRD has no session with {neighbor}"))
    }
}

/// `BGP.community: (64512,100) (64512,200)` → `["64512:100", "64512:200"]`.
fn communities(text: &str) -> Vec<String> {
    text.split(')')
        .filter_map(|c| c.trim().strip_prefix('('))
        .map(|c| c.replace(',', ":"))
        .collect()
}

/// Parses `show route ... all`: a route starts at a line beginning with its
/// prefix; its attributes follow on indented lines.
pub fn parse_routes(text: &str) -> BTreeMap<IpNet, HeldPath> {
    let mut out = BTreeMap::new();
    let mut current: Option<(IpNet, HeldPath)> = None;
    let mut flush = |c: &mut Option<(IpNet, HeldPath)>| {
        if let Some((net, h)) = c.take() {
            out.insert(net, h);
        }
    };
    for line in text.lines() {
        if !line.starts_with(char::is_whitespace) {
            flush(&mut current);
            if let Some(net) = line
                .split_whitespace()
                .next()
                .and_then(|w| w.parse::<IpNet>().ok())
            {
                let blank = HeldPath {
                    next_hop: IpAddr::from([0, 0, 0, 0]),
                    as_path: Vec::new(),
                    communities: Vec::new(),
                    local_pref: None,
                    stale: false,
                };
                current = Some((net, blank));
            }
            continue;
        }
        let Some((_, h)) = current.as_mut() else {
            continue;
        };
        let Some((key, value)) = line.trim().split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key {
            "BGP.next_hop" => {
                if let Some(nh) = value.split_whitespace().next().and_then(|w| w.parse().ok()) {
                    h.next_hop = nh;
                }
            }
            "BGP.as_path" => h.as_path = as_path_words(value),
            "BGP.local_pref" => h.local_pref = value.parse().ok(),
            "BGP.community" => h.communities = communities(value),
            _ => {}
        }
    }
    flush(&mut current);
    out
}

impl PeerDaemon for Bird {
    fn kind(&self) -> Kind {
        Kind::Bird
    }

    fn held_from(&self, neighbor: IpAddr) -> BTreeMap<IpNet, HeldPath> {
        let protocol = self.protocol(neighbor).to_string();
        parse_routes(&self.birdc(&["show", "route", "protocol", &protocol, "all"]))
    }

    fn established(&self, neighbor: IpAddr) -> bool {
        let protocol = self.protocol(neighbor).to_string();
        self.birdc(&["show", "protocols", &protocol])
            .lines()
            .any(|l| l.starts_with(&protocol) && l.contains("Established"))
    }

    fn sessions(&self) -> String {
        self.birdc(&["show", "protocols", "all"])
    }

    fn log(&self) -> String {
        self.process.log()
    }

    fn stop(&mut self) {
        self.process.stop();
    }
}
