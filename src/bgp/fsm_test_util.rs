//! A fake clock and peer for the state machine's tests: timers armed by the
//! session fire when the test advances the clock past their deadline.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use netgauze_bgp_pkt::BgpMessage;
use netgauze_bgp_pkt::capabilities::{BgpCapability, FourOctetAsCapability};
use netgauze_bgp_pkt::open::{BgpOpenMessage, BgpOpenMessageParameter};

use super::codec;
use super::fsm::{Action, ConnId, Direction, Event, Session, SessionConfig, State, Timer};
use super::open::{GracefulRestart, LocalOpen};

pub const LOCAL_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const PEER_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub const LOCAL_ASN: u32 = 64512;
pub const PEER_ASN: u32 = 65001;
pub const LOCAL_ADDR: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

pub fn config() -> SessionConfig {
    SessionConfig {
        local: LocalOpen {
            asn: LOCAL_ASN,
            router_id: LOCAL_ID,
            hold_time: 90,
            graceful_restart: Some(GracefulRestart {
                restart_time: 120,
                restarting: false,
            }),
        },
        peer_asn: PEER_ASN,
        keepalive: 30,
        passive: false,
        connect_retry: Duration::from_secs(2),
    }
}

/// An encoded message.
pub fn frame(msg: BgpMessage) -> Vec<u8> {
    codec::encode(&msg, codec::MAX_EXTENDED_LEN).unwrap()
}

/// The peer's OPEN: 4-octet AS, default families.
pub fn peer_open(asn: u32, id: Ipv4Addr, hold: u16) -> Vec<u8> {
    let caps = vec![BgpCapability::FourOctetAs(FourOctetAsCapability::new(asn))];
    let my_as = u16::try_from(asn).unwrap_or(23456);
    frame(BgpMessage::Open(BgpOpenMessage::new(
        my_as,
        hold,
        id,
        vec![BgpOpenMessageParameter::Capabilities(caps.into())],
    )))
}

/// A whole UPDATE from the peer (AS_PATH 65001): ORIGIN `origin`, NEXT_HOP
/// `next_hop`, `nlri` as encoded prefixes. Written by hand so tests can
/// make it malformed.
pub fn raw_update(origin: u8, next_hop: [u8; 4], nlri: &[u8]) -> Vec<u8> {
    let mut attrs = vec![
        0x40, 1, 1, origin, 0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9, 0x40, 3, 4,
    ];
    attrs.extend(next_hop);
    let mut body = vec![0, 0];
    body.extend((attrs.len() as u16).to_be_bytes());
    body.extend(attrs);
    body.extend(nlri);
    let mut msg = vec![0xff; 16];
    msg.extend(((19 + body.len()) as u16).to_be_bytes());
    msg.push(2);
    msg.extend(body);
    msg
}

/// A session, its clock and its armed timers.
pub struct Harness {
    pub s: Session,
    pub now: Instant,
    pub timers: BTreeMap<Timer, Instant>,
}

impl Harness {
    pub fn new(config: SessionConfig) -> Self {
        Harness {
            s: Session::new(config),
            now: Instant::now(),
            timers: BTreeMap::new(),
        }
    }

    pub fn ev(&mut self, event: Event) -> Vec<Action> {
        let actions = self.s.handle(event, self.now);
        for a in &actions {
            match a {
                Action::ArmTimer { timer, at } => {
                    self.timers.insert(*timer, *at);
                }
                Action::CancelTimer(timer) => {
                    self.timers.remove(timer);
                }
                _ => {}
            }
        }
        actions
    }

    /// Moves the clock on by `d`, firing every timer due on the way.
    pub fn advance(&mut self, d: Duration) -> Vec<Action> {
        let end = self.now + d;
        let mut out = Vec::new();
        loop {
            let due = self
                .timers
                .iter()
                .filter(|(_, at)| **at <= end)
                .min_by_key(|(_, at)| **at)
                .map(|(t, at)| (*t, *at));
            let Some((timer, at)) = due else { break };
            self.timers.remove(&timer);
            self.now = at;
            out.extend(self.ev(Event::TimerFired(timer)));
        }
        self.now = end;
        out
    }

    pub fn connected(&mut self, conn: ConnId, dir: Direction) -> Vec<Action> {
        self.ev(Event::TcpConnected {
            conn,
            dir,
            local: LOCAL_ADDR,
        })
    }

    pub fn recv(&mut self, conn: ConnId, frame: Vec<u8>) -> Vec<Action> {
        self.ev(Event::Received { conn, frame })
    }

    /// Start, connect out on conn 1, exchange OPENs and KEEPALIVEs.
    pub fn established(config: SessionConfig, peer_hold: u16) -> Self {
        let mut h = Harness::new(config);
        h.ev(Event::Start);
        h.connected(1, Direction::Outgoing);
        h.recv(1, peer_open(PEER_ASN, PEER_ID, peer_hold));
        h.recv(1, frame(BgpMessage::KeepAlive));
        assert_eq!(h.s.state(), State::Established);
        h
    }
}

/// Messages sent, with their connection.
pub fn sent(actions: &[Action]) -> Vec<(ConnId, &BgpMessage)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { conn, message } => Some((*conn, message)),
            _ => None,
        })
        .collect()
}

/// (code, subcode) of the NOTIFICATIONs sent.
pub fn notifications(actions: &[Action]) -> Vec<(ConnId, (u8, u8))> {
    sent(actions)
        .into_iter()
        .filter_map(|(c, m)| match m {
            BgpMessage::Notification(n) => Some((c, codec::notification_code(n))),
            _ => None,
        })
        .collect()
}

pub fn closed(actions: &[Action]) -> Vec<ConnId> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Close { conn } => Some(*conn),
            _ => None,
        })
        .collect()
}

pub fn keepalives(actions: &[Action]) -> usize {
    sent(actions)
        .iter()
        .filter(|(_, m)| matches!(m, BgpMessage::KeepAlive))
        .count()
}
