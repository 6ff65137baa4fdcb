//! The Linux host: nftables through `nft -f -` (other facets in later issues).

pub mod nft_exec;
pub mod nft_read;
pub mod nft_script;

mod host;
pub use host::LinuxHost;
