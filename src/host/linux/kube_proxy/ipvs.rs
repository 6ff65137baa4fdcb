//! kube-proxy's IPVS leftovers: the virtual services whose addresses are on
//! its dummy interface `kube-ipvs0` (ClusterIPs, external and LB IPs), then
//! the interface itself. Virtual services on other addresses (NodePorts on
//! the node's own addresses) cannot be told apart from someone else's and
//! are left alone.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;

use serde_json::Value;

use super::commands::{Commands, run_ok};
use crate::host::linux::cleanup::{CleanupError, CleanupReport};

/// kube-proxy's dummy interface in IPVS mode.
pub const KUBE_IPVS_INTERFACE: &str = "kube-ipvs0";
/// Present when the kernel has IPVS (in this network namespace).
pub const IPVS_PROC: &str = "/proc/net/ip_vs";

/// The addresses on `interface`, from `ip -j addr show`; `None` when there
/// is no such interface.
pub fn interface_addresses(json: &str, interface: &str) -> Result<Option<Vec<IpAddr>>, String> {
    let links: Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let Some(link) = links
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["ifname"] == interface)
    else {
        return Ok(None);
    };
    let addresses = link["addr_info"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["local"].as_str()?.parse().ok())
        .collect();
    Ok(Some(addresses))
}

/// One virtual service of `ipvsadm -S -n`: the protocol flag and `ADDR:PORT`
/// as `ipvsadm -D` takes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualService {
    pub protocol: String,
    pub endpoint: String,
    pub address: IpAddr,
}

/// The virtual services (`-A` lines) of `ipvsadm -S -n` output; firewall
/// mark services (`-f`) have no address and are skipped.
pub fn virtual_services(save: &str) -> Vec<VirtualService> {
    save.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            if words.next()? != "-A" {
                return None;
            }
            let protocol = words.next()?;
            if !matches!(
                protocol,
                "-t" | "--tcp-service" | "-u" | "--udp-service" | "--sctp-service"
            ) {
                return None;
            }
            let endpoint = words.next()?;
            let host = match endpoint.strip_prefix('[') {
                Some(v6) => v6.split_once(']')?.0,
                None => endpoint.rsplit_once(':')?.0,
            };
            Some(VirtualService {
                protocol: protocol.to_string(),
                endpoint: endpoint.to_string(),
                address: host.parse().ok()?,
            })
        })
        .collect()
}

/// Removes the virtual services on `kube-ipvs0`'s addresses, then
/// `kube-ipvs0`. Without IPVS in the kernel only the interface is looked at.
pub fn clean_ipvs(commands: &dyn Commands, report: &mut CleanupReport) -> Result<(), CleanupError> {
    let listing = run_ok(commands, &["ip", "-j", "addr", "show"], None)?;
    let addresses = interface_addresses(&listing, KUBE_IPVS_INTERFACE).map_err(|message| {
        CleanupError::Unreadable {
            command: "ip -j addr show".into(),
            message,
        }
    })?;
    if !commands.exists(Path::new(IPVS_PROC)) {
        report.note(format!(
            "IPVS: not in this kernel ({IPVS_PROC} absent), no virtual services to remove"
        ));
    } else if let Some(addresses) = &addresses {
        remove_services(commands, addresses, report)?;
    } else {
        report.note(format!(
            "IPVS: no {KUBE_IPVS_INTERFACE}, no kube-proxy virtual services"
        ));
    }
    if addresses.is_some() {
        run_ok(
            commands,
            &["ip", "link", "delete", KUBE_IPVS_INTERFACE],
            None,
        )?;
        report.note(format!("removed interface {KUBE_IPVS_INTERFACE}"));
    }
    Ok(())
}

fn remove_services(
    commands: &dyn Commands,
    addresses: &[IpAddr],
    report: &mut CleanupReport,
) -> Result<(), CleanupError> {
    if !commands.installed("ipvsadm") {
        return Err(CleanupError::MissingTool {
            what: format!("IPVS virtual services on {KUBE_IPVS_INTERFACE}"),
            tool: "ipvsadm",
        });
    }
    let ours: BTreeSet<&IpAddr> = addresses.iter().collect();
    let save = run_ok(commands, &["ipvsadm", "-S", "-n"], None)?;
    let mut removed = 0;
    for service in virtual_services(&save)
        .iter()
        .filter(|s| ours.contains(&s.address))
    {
        run_ok(
            commands,
            &["ipvsadm", "-D", &service.protocol, &service.endpoint],
            None,
        )?;
        removed += 1;
    }
    report.note(format!(
        "IPVS: removed {removed} virtual services on {KUBE_IPVS_INTERFACE}'s addresses"
    ));
    Ok(())
}
