//! Connection collision resolution (RFC 4271 6.8) on both sides of the
//! identifier comparison.

use netgauze_bgp_pkt::BgpMessage;

use super::super::fsm::{Action, Direction, Event, SessionConfig, State};
use crate::bgp::fsm_test_util::*;

/// Our identifier above the peer's: the connection we opened stays.
fn higher_id() -> SessionConfig {
    let mut c = config();
    c.local.router_id = "10.0.0.9".parse().unwrap();
    c
}

#[test]
fn lower_identifier_keeps_the_peers_connection() {
    let mut h = Harness::new(config());
    h.ev(Event::Start);
    h.connected(1, Direction::Outgoing);
    let a = h.connected(2, Direction::Incoming);
    assert!(
        matches!(sent(&a)[..], [(2, BgpMessage::Open(_))]),
        "OPEN on the contender"
    );
    let a = h.recv(1, peer_open(PEER_ASN, PEER_ID, 90));
    assert_eq!(
        notifications(&a),
        [(1, (6, 7))],
        "ours loses: Cease / collision"
    );
    assert_eq!(closed(&a), [1]);
    assert_eq!(
        h.s.state(),
        State::OpenSent,
        "waiting for the OPEN on the peer's"
    );
    h.recv(2, peer_open(PEER_ASN, PEER_ID, 90));
    let a = h.recv(2, frame(BgpMessage::KeepAlive));
    assert!(matches!(&a[..], [.., Action::SessionUp(up)] if up.conn == 2));
}

#[test]
fn higher_identifier_keeps_our_connection() {
    let mut h = Harness::new(higher_id());
    h.ev(Event::Start);
    h.connected(1, Direction::Outgoing);
    h.connected(2, Direction::Incoming);
    let a = h.recv(1, peer_open(PEER_ASN, PEER_ID, 90));
    assert_eq!(notifications(&a), [(2, (6, 7))]);
    assert_eq!(closed(&a), [2]);
    assert_eq!(h.s.state(), State::OpenConfirm);
    let a = h.recv(1, frame(BgpMessage::KeepAlive));
    assert!(matches!(&a[..], [.., Action::SessionUp(up)] if up.conn == 1));
}

#[test]
fn the_contenders_open_first_resolves_too() {
    let mut h = Harness::new(config());
    h.ev(Event::Start);
    h.connected(1, Direction::Outgoing);
    h.connected(2, Direction::Incoming);
    let a = h.recv(2, peer_open(PEER_ASN, PEER_ID, 90));
    assert_eq!(notifications(&a), [(1, (6, 7))]);
    assert_eq!(keepalives(&a), 1, "the contender goes to OpenConfirm");
    assert_eq!(h.s.state(), State::OpenConfirm);
    h.recv(2, frame(BgpMessage::KeepAlive));
    assert_eq!(h.s.state(), State::Established);
}

#[test]
fn a_connection_in_open_confirm_is_compared_at_once() {
    let mut h = Harness::new(higher_id());
    h.ev(Event::Start);
    h.connected(1, Direction::Outgoing);
    h.recv(1, peer_open(PEER_ASN, PEER_ID, 90));
    let a = h.connected(2, Direction::Incoming);
    assert_eq!(notifications(&a), [(2, (6, 7))]);
    assert_eq!(h.s.state(), State::OpenConfirm);

    let mut h = Harness::new(config());
    h.ev(Event::Start);
    h.connected(1, Direction::Outgoing);
    h.recv(1, peer_open(PEER_ASN, PEER_ID, 90));
    let a = h.connected(2, Direction::Incoming);
    assert_eq!(notifications(&a), [(1, (6, 7))]);
    assert!(matches!(sent(&a)[..], [_, (2, BgpMessage::Open(_))]));
    assert_eq!(h.s.state(), State::OpenSent);
}

#[test]
fn an_established_session_stays_and_the_newcomer_is_closed() {
    let mut h = Harness::established(config(), 90);
    let a = h.connected(2, Direction::Incoming);
    assert_eq!(notifications(&a), [(2, (6, 7))]);
    assert_eq!(closed(&a), [2]);
    assert_eq!(h.s.state(), State::Established);
}

#[test]
fn when_the_primary_closes_the_contender_carries_on() {
    let mut h = Harness::new(config());
    h.ev(Event::Start);
    h.connected(1, Direction::Outgoing);
    h.connected(2, Direction::Incoming);
    h.ev(Event::TcpClosed { conn: 1 });
    assert_eq!(h.s.state(), State::OpenSent);
    h.recv(2, peer_open(PEER_ASN, PEER_ID, 90));
    h.recv(2, frame(BgpMessage::KeepAlive));
    assert_eq!(h.s.state(), State::Established);
}
