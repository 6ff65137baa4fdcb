//! nf_tables over netlink: the `NftOp` list of one transaction (see
//! `nft_txn`) as one NFNL batch, sent in one `sendmsg`, no `nft` process.
//!
//! # Notes for the next engineer
//!
//! **Covered.** Every op `nft_txn` emits: tables, named sets and maps (key
//! types and lengths, flags, timeout, the userdata nft writes so that
//! `nft list` prints them the same), base and regular chains (type, hook,
//! priority, policy), chain flush (a `DELRULE` without handle) and delete,
//! rules with every statement of `host::nft::Stmt` (payload, meta load/set,
//! cmp, bitwise, lookup and verdict-map lookup, immediate and verdicts,
//! numgen, ct state, fib, reject, dnat, masquerade, dynset `update`) and the
//! anonymous sets and maps nft would make for them, rule comments, element
//! adds and deletes (verdict data, intervals as start/end pairs, an open
//! interval at the top of the space), packed into messages below the
//! attribute length limit. `batch` builds the messages, `socket` sends them
//! in one `sendmsg` with buffers sized for the batch and maps an error back
//! through its sequence number to the op (and so the artifact) it came from.
//!
//! **Tested.** `batch_tests` compares each message kind attribute by
//! attribute with what nft 1.0.6 sends for the same script (fixtures in
//! `testdata/nft_netlink/`, captured with `nft --debug=mnl -f`; re-capture
//! with `testdata/nft_netlink/capture.sh`). `tests/nft_netlink.rs` applies the
//! same plans through `nft -f` and through this module in two namespaces and
//! compares `nft -j list table` of both.
//!
//! **Not covered yet.** Elements kept as nft text (`ElementKey::Unknown`,
//! read back from a hand-edited set) have no netlink form: such an op is
//! refused with an error naming it; the netlink dump should carry raw keys
//! so they can be deleted. A one-element `{ 0.0.0.0/0 }` match is refused.
//! An error inside a message holding many elements names the run of
//! elements, not the one element (the kernel's extended ack offset,
//! `NLMSGERR_ATTR_OFFS`, would pinpoint it).
//!
//! **Next.** (1) The snapshot of a full sync over netlink (`GETTABLE`,
//! `GETCHAIN`, `GETRULE` for the first rule's comment and the rule count,
//! `GETSET`, `GETSETELEM` dumps) instead of `nft -j list`. (2) The
//! generation check: `NFNL_BATCH_GENID` in the batch begin, from a
//! `GETGEN` taken with the snapshot, so a ruleset changed behind kroute's
//! back fails the batch (`ERESTART`) instead of being overwritten. (3)
//! Switching `LinuxHost::apply_nft` and `cleanup` to `NftNetlink::apply`
//! (a constructor taking the applier; `host.rs` belongs to another
//! session). (4) A test that runs `run`, `plan` and `cleanup` with `nft`
//! absent from `PATH`.

mod attr;
mod batch;
mod elem;
mod expr;
mod rule;
mod set;
mod socket;

pub use batch::{Batch, Message, encode};
pub use socket::NftNetlink;

use crate::host::HostError;

/// Errors of the nf_tables netlink path.
#[derive(Debug, thiserror::Error)]
pub enum NftNetlinkError {
    /// An op that has no netlink encoding; nothing was sent.
    #[error("cannot encode `{op}` for netlink: {reason}")]
    Encode { op: String, reason: String },
    /// The socket could not be opened or used.
    #[error("nf_tables netlink {what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The kernel refused the batch; `op` is the op (nft syntax) whose
    /// message it refused, or the batch itself.
    #[error("the kernel refused `{op}`: {source}{}", extack.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Rejected {
        op: String,
        #[source]
        source: std::io::Error,
        extack: Option<String>,
    },
    /// The kernel's answer was cut short or never came.
    #[error("no complete answer from nf_tables: {0}")]
    NoAnswer(String),
}

impl From<NftNetlinkError> for HostError {
    fn from(e: NftNetlinkError) -> HostError {
        match e {
            NftNetlinkError::Encode { .. } => HostError::InvalidPlan {
                message: e.to_string(),
            },
            other => HostError::NftRejected {
                message: other.to_string(),
            },
        }
    }
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod batch_tests;

#[cfg(test)]
mod mnl_dump;
