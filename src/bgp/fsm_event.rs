//! The state machine's inputs and outputs: events, actions, states,
//! timers and the session's configuration.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use netgauze_bgp_pkt::BgpMessage;

use super::open::{LocalOpen, Negotiated};
use super::update_decode::CheckedUpdate;
use crate::model::Family;

/// A connection, named by the I/O layer.
pub type ConnId = u64;

/// RFC 4271 8.2.2 session states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum State {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

/// The session's timers (DelayOpen is not used).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// Connect retry, connect attempt timeout, and the automatic restart
    /// delay in Idle.
    ConnectRetry,
    Hold,
    Keepalive,
}

/// Who opened a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Outgoing,
    Incoming,
}

/// Why a session is stopped: the Cease subcode sent (RFC 4486).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum StopReason {
    AdminShutdown,
    PeerDeconfigured,
    AdminReset,
    ConfigChange,
}

/// Why an Established session went down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum DownReason {
    Stopped(StopReason),
    /// Closed without NOTIFICATION for graceful restart.
    Graceful,
    HoldTimerExpired,
    /// We sent this NOTIFICATION (code, subcode).
    NotificationSent(u8, u8),
    /// The peer sent this NOTIFICATION (code, subcode).
    NotificationReceived(u8, u8),
    ConnectionClosed,
}

/// Session parameters; a change resets an open session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    pub local: LocalOpen,
    pub peer_asn: u32,
    /// Configured keepalive interval in seconds (a third of the negotiated
    /// hold time at most).
    pub keepalive: u16,
    /// Never connect, only accept.
    pub passive: bool,
    /// ConnectRetryTime: the back-off's cap.
    pub connect_retry: Duration,
}

impl SessionConfig {
    pub fn ibgp(&self) -> bool {
        self.peer_asn == self.local.asn
    }
}

/// Input to the state machine.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Start,
    Stop(StopReason),
    /// Close without NOTIFICATION: the peer keeps our routes for the
    /// restart time (RFC 4724, as restarting speaker).
    StopGraceful,
    TimerFired(Timer),
    /// A connection is up: ours (`Connect` succeeded) or the peer's
    /// (accepted). `local` is our address on it.
    TcpConnected {
        conn: ConnId,
        dir: Direction,
        local: IpAddr,
    },
    /// Our connect attempt failed.
    TcpFailed,
    TcpClosed {
        conn: ConnId,
    },
    /// One whole message (header included) read from a connection.
    Received {
        conn: ConnId,
        frame: Vec<u8>,
    },
    ConfigChanged(SessionConfig),
    /// The peer sent more accepted prefixes than its `max_prefixes`
    /// (`limit`), the last in `family`: Cease / Maximum Number of Prefixes
    /// Reached (RFC 4486), then no new connection either way until a whole
    /// ConnectRetryTime has passed.
    PrefixLimitExceeded {
        family: Family,
        limit: u32,
    },
}

/// The session is Established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionUp {
    pub conn: ConnId,
    pub negotiated: Negotiated,
    /// Our address on the session (the next hop we announce).
    pub local: IpAddr,
}

/// Output of the state machine, to carry out in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Start an outgoing connection attempt.
    Connect,
    /// Abandon the attempt in progress.
    CancelConnect,
    Send {
        conn: ConnId,
        message: BgpMessage,
    },
    /// Close after what was sent on it is flushed.
    Close {
        conn: ConnId,
    },
    ArmTimer {
        timer: Timer,
        at: Instant,
    },
    CancelTimer(Timer),
    SessionUp(Box<SessionUp>),
    SessionDown(DownReason),
    /// A received UPDATE, after RFC 7606 handling.
    Update(Box<CheckedUpdate>),
    /// The peer asks for our routes of a family again.
    RouteRefresh(Family),
}
