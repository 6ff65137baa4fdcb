//! The host: the only layer that touches the kernel. `HostNetwork` is the
//! trait the reconcile loop drives; `FakeHost` is its in-memory double and
//! `linux::LinuxHost` the real one.

pub mod addr;
pub mod bgp;
pub mod conntrack;
pub mod facet;
pub mod fake;
pub mod health_check;
pub mod ipvs;
pub mod linux;
pub mod nft;
pub mod plan;
pub mod plan_display;
pub mod route;

pub use facet::{Facet, FacetVisitor, Facets, for_each_facet};
pub use fake::FakeHost;
pub use plan::{FacetPlan, HostPlan, HostSnapshot};

/// Errors of the host layer.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A command (`nft`) could not be started.
    #[error("cannot run {command}: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    /// The kernel (through `nft`) refused a transaction; nothing of it was applied.
    #[error("nftables transaction failed: {message}")]
    NftRejected { message: String },
    /// Reading back the kernel's state failed or gave output we cannot parse.
    #[error("cannot read {what}: {message}")]
    Read { what: String, message: String },
    /// A plan the host cannot encode (a key paired with the wrong kind of
    /// value, a chain without its rules, a set of unknown type to create):
    /// a planner bug, refused before anything reaches the kernel.
    #[error("invalid plan: {message}")]
    InvalidPlan { message: String },
    /// A health-check listener could not listen (the port is taken, the
    /// address is not local); the service's other artifacts are applied.
    #[error("Service {service}: cannot listen on {address} for its healthCheckNodePort {port}")]
    Listen {
        service: crate::model::ObjectKey,
        port: u16,
        address: String,
        #[source]
        source: std::io::Error,
    },
    /// A facet this host does not implement was asked to change.
    #[error("the {facet} facet is not supported by this host")]
    Unsupported { facet: &'static str },
    /// Failure injected by a test double.
    #[error("injected failure: {0}")]
    Injected(String),
    /// The embedded BGP speaker could not start (a listen address is taken
    /// or not local) or has stopped.
    #[error("the BGP speaker: {0}")]
    Bgp(#[from] crate::bgp::SpeakerError),
    /// Reading or cleaning the conntrack table failed (ctnetlink).
    #[error("conntrack cleanup failed: {message}")]
    Conntrack { message: String },
}

/// The host as the reconcile loop sees it. Synchronous on purpose: every
/// backend call is a short blocking syscall or subprocess, and a sync trait is
/// simple to fake and mock. The loop calls it from a blocking task.
#[cfg_attr(test, mockall::automock)]
pub trait HostNetwork {
    /// Reads everything kroute owns from the kernel (full sync), and resets
    /// the mirror to it.
    fn snapshot(&mut self) -> Result<HostSnapshot, HostError>;

    /// What kroute last committed (incremental sync): no kernel access.
    fn mirror(&self) -> &HostSnapshot;

    /// Applies each facet of a plan, atomically per facet where the kernel
    /// allows; a facet that fails does not stop the others. `Err`: a facet
    /// failed as a whole, and the mirror may no longer match the kernel.
    /// `Ok` with artifacts in [`Applied::refused`]: those alone were not
    /// applied (nor mirrored). Either way the caller must do a full sync.
    fn apply(&mut self, plan: &HostPlan) -> Result<Applied, HostError>;

    /// Deletes the UDP conntrack entries `flush` finds stale (called after
    /// an applied sync; see `sync::conntrack`). A failure changes nothing
    /// else: the caller logs it and retries at its next sync. The default
    /// is for hosts without a conntrack table: nothing to clean.
    fn flush_conntrack(
        &mut self,
        flush: &conntrack::ConntrackFlush,
    ) -> Result<conntrack::ConntrackReport, HostError> {
        let _ = flush;
        Ok(conntrack::ConntrackReport::default())
    }

    /// A full sync from a synced view went through (applied, or nothing to
    /// change): the host holds what the whole view wants. The BGP backend
    /// sends a graceful restart's held-back table and End-of-RIB here. The
    /// default: nothing waits for it.
    fn synced_view_applied(&mut self) {}
}

/// What an `apply` that went through could not do.
#[derive(Debug, Default)]
pub struct Applied {
    /// Artifacts the host refused one by one (each error names its
    /// artifact); everything else in the plan was applied.
    pub refused: Vec<Refused>,
}

impl Applied {
    /// Everything in the plan was applied.
    pub fn is_complete(&self) -> bool {
        self.refused.is_empty()
    }
}

/// One artifact a facet could not apply.
#[derive(Debug)]
pub struct Refused {
    /// The facet's name (`Facet::NAME`).
    pub facet: &'static str,
    pub error: HostError,
}
