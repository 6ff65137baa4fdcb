//! `kroute cleanup`: remove what kroute owns on this host and, with
//! `--kube-proxy`, what kube-proxy left behind. Every step is idempotent
//! and runs even when an earlier one failed; the report says what was done
//! and what failed.

use super::NftRunner;
use super::host::cleanup;
use super::kube_proxy::{Commands, SystemCommands, cleanup_kube_proxy};
use crate::host::HostError;

/// A cleanup step that failed. Each names the command and what it said.
#[derive(Debug, thiserror::Error)]
pub enum CleanupError {
    /// Removing the `kroute` tables failed.
    #[error("removing the kroute tables: {0}")]
    Kroute(#[from] HostError),
    /// A command could not be started.
    #[error("cannot run {command}: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    /// A command ran and failed.
    #[error("{command} failed: {message}")]
    Command { command: String, message: String },
    /// A command's output is not what kroute can read.
    #[error("cannot read the output of {command}: {message}")]
    Unreadable { command: String, message: String },
    /// Leftovers exist that need a tool this host lacks.
    #[error("{what}: {tool} is not installed")]
    MissingTool { what: String, tool: &'static str },
}

/// What a cleanup did (one line per action or skip) and what failed.
#[derive(Debug, Default)]
pub struct CleanupReport {
    pub done: Vec<String>,
    pub errors: Vec<CleanupError>,
}

impl CleanupReport {
    pub fn note(&mut self, line: impl Into<String>) {
        self.done.push(line.into());
    }

    /// Records the error of a step, if any.
    pub fn check(&mut self, result: Result<(), CleanupError>) {
        if let Err(e) = result {
            self.errors.push(e);
        }
    }
}

/// Removes the `kroute` tables, and with `kube_proxy` kube-proxy's
/// leftovers (nftables tables, iptables chains, IPVS services on
/// `kube-ipvs0`, the `kube-ipvs0` interface).
pub fn cleanup_host(runner: &NftRunner, kube_proxy: bool) -> CleanupReport {
    cleanup_host_with(runner, &SystemCommands, kube_proxy)
}

/// [`cleanup_host`] with the commands injected.
pub fn cleanup_host_with(
    runner: &NftRunner,
    commands: &dyn Commands,
    kube_proxy: bool,
) -> CleanupReport {
    let mut report = CleanupReport::default();
    match cleanup(runner) {
        Ok(()) => report.note("removed nftables tables ip kroute, ip6 kroute (if present)"),
        Err(e) => report.errors.push(e.into()),
    }
    if kube_proxy {
        cleanup_kube_proxy(commands, &mut report);
    }
    report
}
