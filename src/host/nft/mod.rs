//! nftables artifacts: typed tables, chains, sets/maps and their elements.
//!
//! The planner produces these, `FakeHost` stores them, and the Linux backend
//! encodes them (today as an `nft -f -` script, see `host::linux::nft_script`).

mod artifact;
mod rule;

pub use artifact::FINGERPRINT_PREFIX;
pub use artifact::{
    BaseHook, Chain, ChainDigest, ChainKind, ElementKey, Family, Hook, NftKey, NftValue, Proto,
    SetDef, SetKeyType, Verdict,
};
pub use rule::{MASQUERADE_MARK, Match, Rule, Stmt, VmapKey};

/// The one table name kroute owns in each family (`ip kroute`, `ip6 kroute`).
pub const TABLE: &str = "kroute";
