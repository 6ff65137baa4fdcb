//! The BGP session state machine (RFC 4271 section 8), sans-IO: `handle`
//! takes one event and the current time and returns the actions for the I/O
//! layer (`tasks.rs`) to carry out, in order. Timers are deadlines the I/O
//! layer arms; sockets are `ConnId`s it allocates.
//!
//! Automatic start and stop: after an error the session returns to Idle and
//! restarts by itself after a back-off (`backoff.rs`); only `Stop` and
//! `StopGraceful` end it. Connection collisions (RFC 4271 6.8) are resolved
//! in `fsm_collision.rs`.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use netgauze_bgp_pkt::BgpMessage;
use netgauze_bgp_pkt::iana::RouteRefreshSubcode;
use netgauze_bgp_pkt::notification::{
    BgpNotificationMessage, CeaseError, FiniteStateMachineError, HoldTimerExpiredError,
};
use netgauze_iana::address_family::AddressType;

use super::backoff::Backoff;
use super::codec::{self, DecodeContext, Received};
pub use super::fsm_event::{
    Action, ConnId, Direction, DownReason, Event, SessionConfig, SessionUp, State, StopReason,
    Timer,
};
use super::open::{self, Negotiated};
use crate::model::Family;

/// Hold timer while waiting for the peer's OPEN (RFC 4271 8.2.2: "4 minutes
/// is suggested").
pub const OPEN_HOLD: Duration = Duration::from_secs(240);

/// One connection with a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Conn {
    pub(super) id: ConnId,
    pub(super) dir: Direction,
    pub(super) local: IpAddr,
}

/// One peer's session.
#[derive(Debug)]
pub struct Session {
    pub(super) config: SessionConfig,
    pub(super) state: State,
    /// The connection the state is about (from OpenSent on).
    pub(super) primary: Option<Conn>,
    /// A second connection during a collision, OPEN sent on it.
    pub(super) contender: Option<Conn>,
    pub(super) negotiated: Option<Negotiated>,
    pub(super) decode: DecodeContext,
    backoff: Backoff,
    /// Started and not stopped: restart after errors.
    auto: bool,
    /// The next OPEN carries the graceful restart Restart State bit.
    restarting: bool,
    /// Closed for exceeding the prefix limit: connections are refused until
    /// the ConnectRetry timer fires.
    held_off: bool,
    last_down: Option<DownReason>,
}

pub(super) fn cease(reason: StopReason) -> BgpNotificationMessage {
    let value = Box::new([]);
    BgpNotificationMessage::CeaseError(match reason {
        StopReason::AdminShutdown => CeaseError::AdministrativeShutdown { value },
        StopReason::PeerDeconfigured => CeaseError::PeerDeConfigured { value },
        StopReason::AdminReset => CeaseError::AdministrativeReset { value },
        StopReason::ConfigChange => CeaseError::OtherConfigurationChange { value },
    })
}

pub(super) fn fsm_error(state: State) -> BgpNotificationMessage {
    let value = Box::new([]);
    BgpNotificationMessage::FiniteStateMachineError(match state {
        State::OpenSent => {
            FiniteStateMachineError::ReceiveUnexpectedMessageInOpenSentState { value }
        }
        State::OpenConfirm => {
            FiniteStateMachineError::ReceiveUnexpectedMessageInOpenConfirmState { value }
        }
        State::Established => {
            FiniteStateMachineError::ReceiveUnexpectedMessageInEstablishedState { value }
        }
        State::Idle | State::Connect | State::Active => {
            FiniteStateMachineError::Unspecific { value }
        }
    })
}

pub(super) fn notify(conn: ConnId, n: BgpNotificationMessage) -> Action {
    Action::Send {
        conn,
        message: BgpMessage::Notification(n),
    }
}

impl Session {
    pub fn new(config: SessionConfig) -> Self {
        let restarting = config
            .local
            .graceful_restart
            .is_some_and(|gr| gr.restarting);
        Session {
            decode: DecodeContext::initial(config.peer_asn, config.ibgp()),
            backoff: Backoff::new(config.connect_retry),
            config,
            state: State::Idle,
            primary: None,
            contender: None,
            negotiated: None,
            auto: false,
            held_off: false,
            restarting,
            last_down: None,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The session's parameters, from OpenConfirm on.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    pub fn last_down(&self) -> Option<DownReason> {
        self.last_down
    }

    /// Decoding context of the current connection.
    pub fn decode_context(&self) -> DecodeContext {
        self.decode
    }

    pub fn handle(&mut self, event: Event, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Start => {
                if self.state == State::Idle && !self.auto {
                    self.auto = true;
                    self.start(now, &mut out);
                }
            }
            Event::Stop(reason) => self.stop(Some(reason), &mut out),
            Event::StopGraceful => {
                if self.config.local.graceful_restart.is_some() {
                    self.restarting = true;
                }
                self.stop(None, &mut out)
            }
            Event::TimerFired(timer) => self.timer(timer, now, &mut out),
            Event::TcpConnected { conn, dir, local } => self.connected(
                Conn {
                    id: conn,
                    dir,
                    local,
                },
                now,
                &mut out,
            ),
            Event::TcpFailed => {
                if self.state == State::Connect {
                    self.state = State::Active;
                    let at = now + self.backoff.next_delay();
                    out.push(Action::ArmTimer {
                        timer: Timer::ConnectRetry,
                        at,
                    });
                }
            }
            Event::TcpClosed { conn } => self.closed(conn, now, &mut out),
            Event::Received { conn, frame } => self.received(conn, &frame, now, &mut out),
            Event::ConfigChanged(config) => self.reconfigure(config, now, &mut out),
            Event::PrefixLimitExceeded { family, limit } => {
                self.prefix_limit(family, limit, now, &mut out)
            }
        }
        out
    }

    /// Idle → Connect (active peer) or Active (passive peer).
    fn start(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.config.passive {
            self.state = State::Active;
            out.push(Action::CancelTimer(Timer::ConnectRetry));
        } else {
            self.connect(now, out);
        }
    }

    fn connect(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.state = State::Connect;
        out.push(Action::Connect);
        out.push(Action::ArmTimer {
            timer: Timer::ConnectRetry,
            at: now + self.backoff.cap(),
        });
    }

    pub(super) fn our_open(&self) -> BgpMessage {
        let mut local = self.config.local;
        if let Some(gr) = local.graceful_restart.as_mut() {
            gr.restarting = self.restarting;
        }
        BgpMessage::Open(open::build(&local))
    }

    fn timer(&mut self, timer: Timer, now: Instant, out: &mut Vec<Action>) {
        match (timer, self.state) {
            (Timer::ConnectRetry, State::Idle) if self.auto => {
                self.held_off = false;
                self.start(now, out)
            }
            (Timer::ConnectRetry, State::Connect) => {
                out.push(Action::CancelConnect);
                self.connect(now, out);
            }
            (Timer::ConnectRetry, State::Active) if !self.config.passive => self.connect(now, out),
            (Timer::Hold, State::OpenSent | State::OpenConfirm | State::Established) => {
                if let Some(p) = &self.primary {
                    out.push(notify(
                        p.id,
                        BgpNotificationMessage::HoldTimerExpiredError(
                            HoldTimerExpiredError::Unspecific {
                                sub_code: 0,
                                value: Box::new([]),
                            },
                        ),
                    ));
                }
                self.fail(DownReason::HoldTimerExpired, now, out);
            }
            (Timer::Keepalive, State::OpenConfirm | State::Established) => {
                let keepalive = self.negotiated.as_ref().map_or(0, |n| n.keepalive);
                if let (Some(p), true) = (&self.primary, keepalive > 0) {
                    out.push(Action::Send {
                        conn: p.id,
                        message: BgpMessage::KeepAlive,
                    });
                    out.push(Action::ArmTimer {
                        timer: Timer::Keepalive,
                        at: now + Duration::from_secs(keepalive.into()),
                    });
                }
            }
            _ => {}
        }
    }

    fn connected(&mut self, conn: Conn, now: Instant, out: &mut Vec<Action>) {
        match self.state {
            State::Idle if !self.auto || self.held_off => out.push(Action::Close { conn: conn.id }),
            State::Idle | State::Connect | State::Active => {
                if self.state == State::Connect && conn.dir == Direction::Incoming {
                    out.push(Action::CancelConnect);
                }
                out.push(Action::CancelTimer(Timer::ConnectRetry));
                self.open_sent(conn, now, out);
            }
            State::OpenSent | State::OpenConfirm | State::Established => {
                self.collision(conn, now, out)
            }
        }
    }

    /// Sends our OPEN on `conn`, which becomes the primary connection.
    pub(super) fn open_sent(&mut self, conn: Conn, now: Instant, out: &mut Vec<Action>) {
        out.push(Action::Send {
            conn: conn.id,
            message: self.our_open(),
        });
        self.await_open(conn, now, out);
    }

    /// `conn`, our OPEN sent on it, becomes the primary connection in
    /// OpenSent, waiting for the peer's OPEN.
    pub(super) fn await_open(&mut self, conn: Conn, now: Instant, out: &mut Vec<Action>) {
        out.push(Action::ArmTimer {
            timer: Timer::Hold,
            at: now + OPEN_HOLD,
        });
        out.push(Action::CancelTimer(Timer::Keepalive));
        self.primary = Some(conn);
        self.negotiated = None;
        self.decode = DecodeContext::initial(self.config.peer_asn, self.config.ibgp());
        self.state = State::OpenSent;
    }

    fn closed(&mut self, conn: ConnId, now: Instant, out: &mut Vec<Action>) {
        if self.contender.as_ref().is_some_and(|c| c.id == conn) {
            self.contender = None;
            return;
        }
        if self.primary.as_ref().is_none_or(|p| p.id != conn) {
            return;
        }
        self.primary = None;
        match self.contender.take() {
            // The contender has had our OPEN: it carries on in OpenSent.
            Some(c) => self.await_open(c, now, out),
            None => self.fail(DownReason::ConnectionClosed, now, out),
        }
    }

    fn received(&mut self, conn: ConnId, frame: &[u8], now: Instant, out: &mut Vec<Action>) {
        if self.contender.as_ref().is_some_and(|c| c.id == conn) {
            return self.contender_received(frame, now, out);
        }
        let Some(primary) = self.primary.clone() else {
            return;
        };
        if primary.id != conn {
            return;
        }
        let message = match codec::decode(frame, &self.decode) {
            Ok(m) => m,
            Err(n) => return self.fail_with(primary.id, n, now, out),
        };
        match (self.state, message) {
            (_, Received::Notification(n)) => {
                let (code, sub) = codec::notification_code(&n);
                out.push(Action::Close { conn });
                self.fail(DownReason::NotificationReceived(code, sub), now, out);
            }
            (State::OpenSent, Received::Open(open)) => {
                match open::negotiate(
                    &self.config.local,
                    self.config.keepalive,
                    self.config.peer_asn,
                    &open,
                ) {
                    Ok(n) => {
                        self.open_confirm(conn, n, now, out);
                        if let Some(c) = self.contender.take() {
                            self.resolve(c, true, now, out);
                        }
                    }
                    Err(e) => {
                        self.fail_with(conn, BgpNotificationMessage::OpenMessageError(e), now, out)
                    }
                }
            }
            (State::OpenConfirm, Received::Keepalive) => self.established(primary, now, out),
            (State::Established, Received::Keepalive) => self.hold_reset(now, out),
            (State::Established, Received::Update(update)) => {
                self.hold_reset(now, out);
                out.push(Action::Update(Box::new(update)));
            }
            (State::Established, Received::RouteRefresh(r)) => {
                // Enhanced route refresh markers (RFC 7313) ask for nothing.
                if r.operation_type() != RouteRefreshSubcode::NormalRequest {
                    return;
                }
                match r.address_type() {
                    AddressType::Ipv4Unicast => out.push(Action::RouteRefresh(Family::Ip)),
                    AddressType::Ipv6Unicast => out.push(Action::RouteRefresh(Family::Ip6)),
                    _ => {}
                }
            }
            (state, _) => self.fail_with(conn, fsm_error(state), now, out),
        }
    }

    /// OpenSent → OpenConfirm on `conn`, whose OPEN negotiated `n`.
    pub(super) fn open_confirm(
        &mut self,
        conn: ConnId,
        n: Negotiated,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        self.decode.asn4 = n.asn4;
        self.decode.max_len = n.max_len();
        out.push(Action::Send {
            conn,
            message: BgpMessage::KeepAlive,
        });
        if n.hold_time == 0 {
            out.push(Action::CancelTimer(Timer::Hold));
        } else {
            out.push(Action::ArmTimer {
                timer: Timer::Hold,
                at: now + Duration::from_secs(n.hold_time.into()),
            });
            out.push(Action::ArmTimer {
                timer: Timer::Keepalive,
                at: now + Duration::from_secs(n.keepalive.into()),
            });
        }
        self.negotiated = Some(n);
        self.state = State::OpenConfirm;
    }

    fn established(&mut self, primary: Conn, now: Instant, out: &mut Vec<Action>) {
        let Some(negotiated) = self.negotiated.clone() else {
            return;
        };
        self.state = State::Established;
        self.backoff.reset();
        self.restarting = false;
        self.hold_reset(now, out);
        out.push(Action::SessionUp(Box::new(SessionUp {
            conn: primary.id,
            negotiated,
            local: primary.local,
        })));
    }

    fn hold_reset(&mut self, now: Instant, out: &mut Vec<Action>) {
        let hold = self.negotiated.as_ref().map_or(0, |n| n.hold_time);
        if hold > 0 {
            out.push(Action::ArmTimer {
                timer: Timer::Hold,
                at: now + Duration::from_secs(hold.into()),
            });
        }
    }

    /// Sends `n` on `conn` and fails the session.
    fn fail_with(
        &mut self,
        conn: ConnId,
        n: BgpNotificationMessage,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let (code, sub) = codec::notification_code(&n);
        out.push(notify(conn, n));
        self.fail(DownReason::NotificationSent(code, sub), now, out);
    }

    /// Back to Idle after an error; restarts after the back-off.
    fn fail(&mut self, reason: DownReason, now: Instant, out: &mut Vec<Action>) {
        self.go_idle(reason, out);
        if self.auto {
            out.push(Action::ArmTimer {
                timer: Timer::ConnectRetry,
                at: now + self.backoff.next_delay(),
            });
        }
    }

    /// Cease / Maximum Number of Prefixes Reached on an Established session
    /// (data: AFI, SAFI unicast, the limit), down, and held off for the
    /// whole ConnectRetryTime (the back-off's cap) before trying again.
    fn prefix_limit(&mut self, family: Family, limit: u32, now: Instant, out: &mut Vec<Action>) {
        let Some(conn) = (self.primary.as_ref())
            .filter(|_| self.state == State::Established)
            .map(|c| c.id)
        else {
            return;
        };
        let afi: u16 = match family {
            Family::Ip => 1,
            Family::Ip6 => 2,
        };
        let mut value = afi.to_be_bytes().to_vec();
        value.push(1);
        value.extend(limit.to_be_bytes());
        let n = BgpNotificationMessage::CeaseError(CeaseError::MaximumNumberOfPrefixesReached {
            value: value.into_boxed_slice(),
        });
        let (code, sub) = codec::notification_code(&n);
        out.push(notify(conn, n));
        self.go_idle(DownReason::NotificationSent(code, sub), out);
        if self.auto {
            self.held_off = true;
            out.push(Action::ArmTimer {
                timer: Timer::ConnectRetry,
                at: now + self.backoff.cap(),
            });
        }
    }

    /// Closes every connection and timer; Idle.
    fn go_idle(&mut self, reason: DownReason, out: &mut Vec<Action>) {
        for conn in [self.primary.take(), self.contender.take()]
            .into_iter()
            .flatten()
        {
            out.push(Action::Close { conn: conn.id });
        }
        if self.state == State::Connect {
            out.push(Action::CancelConnect);
        }
        for timer in [Timer::ConnectRetry, Timer::Hold, Timer::Keepalive] {
            out.push(Action::CancelTimer(timer));
        }
        if self.state == State::Established {
            out.push(Action::SessionDown(reason));
        }
        if self.state != State::Idle {
            self.last_down = Some(reason);
        }
        self.state = State::Idle;
        self.held_off = false;
        self.negotiated = None;
        self.decode = DecodeContext::initial(self.config.peer_asn, self.config.ibgp());
    }

    /// `Stop` (with the Cease to send) or `StopGraceful` (`None`: no
    /// NOTIFICATION).
    fn stop(&mut self, reason: Option<StopReason>, out: &mut Vec<Action>) {
        self.auto = false;
        if let Some(reason) = reason {
            for conn in [&self.primary, &self.contender].into_iter().flatten() {
                out.push(notify(conn.id, cease(reason)));
            }
        }
        let down = reason.map_or(DownReason::Graceful, DownReason::Stopped);
        self.go_idle(down, out);
    }

    fn reconfigure(&mut self, config: SessionConfig, now: Instant, out: &mut Vec<Action>) {
        if config == self.config {
            return;
        }
        let was_auto = self.auto;
        let open = matches!(
            self.state,
            State::OpenSent | State::OpenConfirm | State::Established
        );
        if open {
            self.stop(Some(StopReason::ConfigChange), out);
        } else {
            self.go_idle(DownReason::Stopped(StopReason::ConfigChange), out);
        }
        self.backoff = Backoff::new(config.connect_retry);
        self.config = config;
        self.decode = DecodeContext::initial(self.config.peer_asn, self.config.ibgp());
        if was_auto {
            self.auto = true;
            self.start(now, out);
        }
    }
}

#[cfg(test)]
#[path = "fsm_tests.rs"]
mod tests;
