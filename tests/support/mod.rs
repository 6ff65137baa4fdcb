//! Shared helpers for kernel-tier tests: network namespaces, a node topology,
//! backend servers, clients, nftables inspection, the kroute process and its
//! manifests, kroute's BGP speaker in a namespace, and the "skip, or fail
//! under CI" guard. Each test binary includes it with `mod support;`.
#![allow(dead_code)]

pub mod apiserver;
pub mod bgp;
pub mod bgp_daemons;
pub mod clients;
pub mod http;
pub mod kroute_process;
pub mod kube_scene;
pub mod manifests;
pub mod netns;
pub mod nft;
pub mod ns_process;
pub mod ns_thread;
pub mod property;
pub mod scene;
pub mod sctp;
pub mod servers;
pub mod tcp_proxy;
pub mod topology;
pub mod wait;

/// Checks that the kernel tier can run: root, and every tool in `tools` on PATH.
/// Returns `false` (after printing why) when the test should be skipped.
/// Under `CI` a missing requirement is a failure: CI installs everything.
pub fn kernel_tier_available(tools: &[&str]) -> bool {
    let mut missing = Vec::new();
    if !nix::unistd::Uid::effective().is_root() {
        missing.push("root".to_string());
    }
    for tool in tools {
        let found = std::env::var_os("PATH")
            .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()));
        if !found {
            missing.push(format!("the `{tool}` command"));
        }
    }
    if missing.is_empty() {
        return true;
    }
    let why = format!("kernel tier needs {}", missing.join(", "));
    if std::env::var_os("CI").is_some() {
        panic!("{why} (CI is set: a skipped tier is a failure)");
    }
    eprintln!("SKIPPED: {why}");
    false
}
