//! `kroute cleanup --kube-proxy`: removes what kube-proxy leaves on a node
//! it no longer runs on, and nothing else:
//!
//! - nftables mode: the tables `ip kube-proxy` and `ip6 kube-proxy`;
//! - iptables mode: its `KUBE-*` chains and the jumps to them ([`iptables`]);
//! - IPVS mode: the virtual services on `kube-ipvs0` and that interface
//!   ([`ipvs`]), and the iptables chains of that mode (same as above).
//!
//! Each step is idempotent; a second run finds nothing and says so.

mod commands;
pub mod iptables;
pub mod ipvs;

#[cfg(test)]
mod fake;
#[cfg(test)]
#[path = "iptables_tests.rs"]
mod iptables_tests;
#[cfg(test)]
#[path = "kube_proxy_tests.rs"]
mod kube_proxy_tests;

pub use commands::{CommandOutput, Commands, SystemCommands, run_ok};

use super::cleanup::{CleanupError, CleanupReport};

/// The name of kube-proxy's nftables tables (families `ip` and `ip6`).
pub const NFT_TABLE: &str = "kube-proxy";

/// Removes every kube-proxy leftover it finds; what it cannot do is in
/// `report.errors`, and the other steps run anyway.
pub fn cleanup_kube_proxy(commands: &dyn Commands, report: &mut CleanupReport) {
    let result = clean_nft_tables(commands, report);
    report.check(result);
    // IPVS first: its services are found through kube-ipvs0's addresses.
    let result = ipvs::clean_ipvs(commands, report);
    report.check(result);
    let backends = iptables::backends(commands);
    if backends.is_empty() {
        report.note("iptables: not installed, no iptables chains to look at");
    }
    for tool in backends {
        let result = iptables::clean_backend(commands, tool, report);
        report.check(result);
    }
}

/// `delete table ip kube-proxy` and `ip6 kube-proxy`, where they exist.
fn clean_nft_tables(
    commands: &dyn Commands,
    report: &mut CleanupReport,
) -> Result<(), CleanupError> {
    if !commands.installed("nft") {
        report.note("nftables: nft not installed, no kube-proxy tables to look at");
        return Ok(());
    }
    let listing = run_ok(commands, &["nft", "list", "tables"], None)?;
    let mut found = false;
    for family in ["ip", "ip6"] {
        let line = format!("table {family} {NFT_TABLE}");
        if listing.lines().any(|l| l.trim() == line) {
            // nft 1.0.6 has no `destroy table`: delete only what is listed.
            run_ok(
                commands,
                &["nft", "delete", "table", family, NFT_TABLE],
                None,
            )?;
            report.note(format!("removed nftables table {family} {NFT_TABLE}"));
            found = true;
        }
    }
    if !found {
        report.note("nftables: no kube-proxy tables");
    }
    Ok(())
}
