//! The Linux host: nftables through `nft -f -`, health-check listeners and
//! the BGP speaker in-process (`bgp_backend`); other facets in later issues.
//!
//! `nft_txn` orders a plan into one transaction, `nft_script` encodes it as
//! text, `nft_exec` runs `nft`, `nft_read` parses its JSON listing back
//! (`nft_rules_read` the rules too, for `kroute plan`), and `LinuxHost` ties
//! them to the `HostNetwork` trait. `cleanup` is
//! `kroute cleanup`, with `kube_proxy` for kube-proxy's leftovers.

pub mod bgp_backend;
pub mod cleanup;
pub mod conntrack;
pub mod conntrack_msg;
pub mod kube_proxy;
pub mod nft_exec;
pub mod nft_json;
pub mod nft_netlink;
pub mod nft_read;
pub mod nft_rules_read;
pub mod nft_script;
pub mod nft_txn;

mod host;
pub use bgp_backend::BgpBackend;
pub use cleanup::{CleanupReport, cleanup_host};
pub use host::{LinuxHost, cleanup};
pub use nft_exec::NftRunner;
