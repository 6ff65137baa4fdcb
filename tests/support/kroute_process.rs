//! The real `kroute` binary, run inside a namespace: the long-running agent
//! (`run`, killed on drop) and the one-shot commands (`plan`, `cleanup`).

use std::path::{Path, PathBuf};
use std::process::Output;

use super::netns::NetNs;
use super::ns_process::NsProcess;
use super::wait::{FAILURE_BOUND, wait_for};

/// Path of the binary Cargo built for these tests.
pub fn kroute_bin() -> &'static str {
    env!("CARGO_BIN_EXE_kroute")
}

/// Writes a standalone-mode config into `dir` and returns its path (both
/// families' cluster and service CIDRs, like the topology). Health and
/// metrics bind port 0 and the admin socket lives in `dir`, so tests running in
/// parallel never share a port or a socket.
pub fn write_config(dir: &Path, node_name: &str, manifests: &Path, sync_period: &str) -> PathBuf {
    write_config_with_source(dir, node_name, "manifests", manifests, sync_period)
}

/// Like [`write_config`], with `source.<source_key>: <source_path>` (e.g.
/// `kubeconfig` for the Kubernetes source).
pub fn write_config_with_source(
    dir: &Path,
    node_name: &str,
    source_key: &str,
    source_path: &Path,
    sync_period: &str,
) -> PathBuf {
    let path = dir.join("kroute.yaml");
    let yaml = format!(
        "nodeName: {node_name}
source:
  {source_key}: {source}
proxy:
  clusterCIDRs: [{cluster}, {cluster6}]
  serviceCIDRs: [{service}, {service6}]
  syncPeriod: {sync_period}
  minSyncPeriod: 100ms
health:
  address: \"127.0.0.1:0\"
metrics:
  address: \"127.0.0.1:0\"
admin:
  socket: {admin}
",
        source = source_path.display(),
        cluster = super::topology::CLUSTER_CIDR,
        service = super::topology::SERVICE_CIDR,
        cluster6 = super::topology::CLUSTER_CIDR6,
        service6 = super::topology::SERVICE_CIDR6,
        admin = dir.join("kroute.sock").display(),
    );
    std::fs::write(&path, yaml).expect("write kroute config");
    path
}

/// Like [`write_config`], followed by `bgp_block` (a whole `bgp:` block,
/// as YAML at column 0).
pub fn write_config_with_bgp(
    dir: &Path,
    node_name: &str,
    manifests: &Path,
    sync_period: &str,
    bgp_block: &str,
) -> PathBuf {
    let path = write_config(dir, node_name, manifests, sync_period);
    let mut yaml = std::fs::read_to_string(&path).expect("read kroute config");
    yaml.push_str(bgp_block);
    std::fs::write(&path, yaml).expect("write kroute config");
    path
}

/// `kroute <args>` in `ns`, run to completion.
pub fn kroute_once(ns: &NetNs, args: &[&str]) -> Output {
    let mut argv = vec![kroute_bin()];
    argv.extend_from_slice(args);
    ns.exec_unchecked(&argv)
}

/// Panics, with everything it printed, unless `out` exited with `code`.
pub fn assert_exit(out: &Output, code: i32, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: expected exit {code}, got {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `kroute run --config FILE` inside a namespace.
pub struct Kroute {
    process: NsProcess,
}

impl Kroute {
    pub fn start(ns: &NetNs, config: &Path) -> Kroute {
        let config = config.to_str().expect("utf-8 config path");
        Kroute {
            process: NsProcess::spawn(ns, "kroute-run", &[kroute_bin(), "run", "--config", config]),
        }
    }

    pub fn log(&self) -> String {
        self.process.log()
    }

    /// Polls `cond` until it holds; panics with kroute's output when the bound
    /// passes or kroute exits first.
    pub fn wait_until(&mut self, what: &str, mut cond: impl FnMut() -> bool) {
        let mut exited = None;
        let held = wait_for(FAILURE_BOUND, || {
            if cond() {
                return Some(true);
            }
            exited = self.process.exited();
            exited.is_some().then_some(false)
        });
        match (held, exited) {
            (Some(true), _) => {}
            (_, Some(status)) => panic!("kroute exited ({status}) before {what}"),
            _ => panic!("timed out after {FAILURE_BOUND:?} waiting until {what}"),
        }
    }

    /// Stops the agent (SIGTERM, then SIGKILL); the dataplane stays.
    pub fn stop(mut self) {
        self.process.stop();
    }

    /// Stops the agent like `stop` and returns how it exited.
    pub fn stop_with_status(mut self) -> std::process::ExitStatus {
        self.process.stop()
    }
}
