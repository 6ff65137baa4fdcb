//! Session FSM transitions and timers on a fake clock.

use std::time::Duration;

use netgauze_bgp_pkt::BgpMessage;
use netgauze_bgp_pkt::capabilities::BgpCapability;

use super::*;
use crate::bgp::fsm_test_util::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn an_active_peer_connects_exchanges_opens_and_comes_up() {
    let mut h = Harness::new(config());
    let a = h.ev(Event::Start);
    assert!(a.contains(&Action::Connect));
    assert_eq!(h.s.state(), State::Connect);
    let a = h.connected(1, Direction::Outgoing);
    assert!(matches!(sent(&a)[..], [(1, BgpMessage::Open(_))]));
    assert_eq!(h.s.state(), State::OpenSent);
    let a = h.recv(1, peer_open(PEER_ASN, PEER_ID, 30));
    assert_eq!(keepalives(&a), 1);
    assert_eq!(h.s.state(), State::OpenConfirm);
    let a = h.recv(1, frame(BgpMessage::KeepAlive));
    assert_eq!(h.s.state(), State::Established);
    let up = a
        .iter()
        .find_map(|a| match a {
            Action::SessionUp(up) => Some(up),
            _ => None,
        })
        .expect("session up");
    assert_eq!(up.negotiated.hold_time, 30, "the smaller hold time");
    assert_eq!(up.negotiated.keepalive, 10, "a third of it");
    assert_eq!(up.local, LOCAL_ADDR);
}

#[test]
fn a_passive_peer_only_accepts() {
    let mut h = Harness::new(SessionConfig {
        passive: true,
        ..config()
    });
    let a = h.ev(Event::Start);
    assert!(!a.contains(&Action::Connect));
    assert_eq!(h.s.state(), State::Active);
    assert!(h.advance(secs(600)).is_empty(), "no connect retry");
    h.connected(7, Direction::Incoming);
    assert_eq!(h.s.state(), State::OpenSent);
}

#[test]
fn connect_retry_starts_small_and_doubles_up_to_connect_retry_time() {
    let mut h = Harness::new(config());
    h.ev(Event::Start);
    let mut delays = Vec::new();
    for _ in 0..8 {
        h.ev(Event::TcpFailed);
        assert_eq!(h.s.state(), State::Active);
        let at = h.timers[&Timer::ConnectRetry];
        delays.push(at - h.now);
        let a = h.advance(at - h.now);
        assert!(a.contains(&Action::Connect), "retries when the timer fires");
        assert_eq!(h.s.state(), State::Connect);
    }
    let ms: Vec<u128> = delays.iter().map(|d| d.as_millis()).collect();
    assert_eq!(ms, [50, 100, 200, 400, 800, 1600, 2000, 2000]);
}

#[test]
fn a_connect_attempt_that_hangs_is_abandoned_after_connect_retry_time() {
    let mut h = Harness::new(config());
    h.ev(Event::Start);
    let a = h.advance(secs(2));
    assert!(a.contains(&Action::CancelConnect));
    assert!(a.contains(&Action::Connect));
}

#[test]
fn keepalives_go_out_every_keepalive_interval() {
    let mut h = Harness::established(config(), 30);
    let a = h.advance(secs(10));
    assert_eq!(keepalives(&a), 1);
    let a = h.advance(secs(9));
    assert_eq!(keepalives(&a), 0);
    let a = h.advance(secs(1));
    assert_eq!(keepalives(&a), 1);
}

#[test]
fn the_hold_timer_expires_without_messages_and_restarts_the_session() {
    let mut h = Harness::established(config(), 30);
    h.advance(secs(20));
    h.recv(1, frame(BgpMessage::KeepAlive));
    let a = h.advance(secs(29));
    assert!(
        notifications(&a).is_empty(),
        "a KEEPALIVE re-armed the hold timer"
    );
    let a = h.advance(secs(1));
    assert_eq!(notifications(&a), [(1, (4, 0))]);
    assert_eq!(closed(&a), [1]);
    assert!(a.contains(&Action::SessionDown(DownReason::HoldTimerExpired)));
    assert_eq!(h.s.state(), State::Idle);
    let a = h.advance(Duration::from_millis(50));
    assert!(
        a.contains(&Action::Connect),
        "automatic restart after the back-off"
    );
}

#[test]
fn hold_time_zero_means_neither_hold_timer_nor_keepalives() {
    let mut h = Harness::established(config(), 0);
    assert!(!h.timers.contains_key(&Timer::Hold));
    assert!(!h.timers.contains_key(&Timer::Keepalive));
    assert!(h.advance(secs(3600)).is_empty());
    assert_eq!(h.s.state(), State::Established);
}

#[test]
fn the_hold_timer_runs_in_open_sent() {
    let mut h = Harness::new(config());
    h.ev(Event::Start);
    h.connected(1, Direction::Outgoing);
    let a = h.advance(OPEN_HOLD);
    assert_eq!(notifications(&a), [(1, (4, 0))]);
    assert_eq!(h.s.state(), State::Idle);
}

/// The NOTIFICATION an OPEN gets in OpenSent.
fn open_error(open: Vec<u8>, config: SessionConfig) -> Vec<(ConnId, (u8, u8))> {
    let mut h = Harness::new(config);
    h.ev(Event::Start);
    h.connected(1, Direction::Outgoing);
    let a = h.recv(1, open);
    assert_eq!(h.s.state(), State::Idle);
    assert_eq!(closed(&a), [1]);
    notifications(&a)
}

#[test]
fn bad_opens_get_the_right_notification() {
    assert_eq!(
        open_error(peer_open(PEER_ASN, PEER_ID, 1), config()),
        [(1, (2, 6))],
        "hold time 1: unacceptable hold time"
    );
    assert_eq!(
        open_error(peer_open(PEER_ASN, PEER_ID, 2), config()),
        [(1, (2, 6))],
        "hold time 2"
    );
    assert_eq!(
        open_error(peer_open(65009, PEER_ID, 90), config()),
        [(1, (2, 2))],
        "bad peer AS"
    );
    let mut v3 = peer_open(PEER_ASN, PEER_ID, 90);
    v3[19] = 3;
    assert_eq!(
        open_error(v3, config()),
        [(1, (2, 1))],
        "unsupported version"
    );
    assert_eq!(
        open_error(
            peer_open(PEER_ASN, "0.0.0.0".parse().unwrap(), 90),
            config()
        ),
        [(1, (2, 3))],
        "bad BGP identifier"
    );
    let ibgp = SessionConfig {
        peer_asn: LOCAL_ASN,
        ..config()
    };
    assert_eq!(
        open_error(peer_open(LOCAL_ASN, LOCAL_ID, 90), ibgp),
        [(1, (2, 3))],
        "iBGP peer with our identifier"
    );
    let mut short = peer_open(PEER_ASN, PEER_ID, 90);
    short[16] = 0;
    short[17] = 18;
    assert_eq!(
        open_error(short, config())[0].1,
        (1, 2),
        "message header error: bad length"
    );
}

#[test]
fn unexpected_messages_are_fsm_errors() {
    let mut h = Harness::new(config());
    h.ev(Event::Start);
    h.connected(1, Direction::Outgoing);
    let a = h.recv(1, frame(BgpMessage::KeepAlive));
    assert_eq!(notifications(&a), [(1, (5, 1))], "KEEPALIVE in OpenSent");

    let mut h = Harness::established(config(), 90);
    let a = h.recv(1, peer_open(PEER_ASN, PEER_ID, 90));
    assert_eq!(notifications(&a), [(1, (5, 3))], "OPEN in Established");
    assert!(a.contains(&Action::SessionDown(DownReason::NotificationSent(5, 3))));
}

/// An UPDATE of 10.1.0.0/16 from the peer, ORIGIN `origin`.
fn update(origin: u8) -> Vec<u8> {
    raw_update(origin, [10, 0, 0, 1], &[16, 10, 1])
}

#[test]
fn a_treat_as_withdraw_update_keeps_the_session_up() {
    let mut h = Harness::established(config(), 90);
    let a = h.recv(1, update(0));
    assert!(
        matches!(&a[..], [Action::ArmTimer { timer: Timer::Hold, .. }, Action::Update(u)] if u.announced.len() == 1)
    );
    let a = h.recv(1, update(9));
    assert!(notifications(&a).is_empty());
    assert_eq!(h.s.state(), State::Established);
    let withdrawn = a.iter().find_map(|a| match a {
        Action::Update(u) => Some(u.withdrawn.clone()),
        _ => None,
    });
    assert_eq!(withdrawn, Some(vec!["10.1.0.0/16".parse().unwrap()]));
}

#[test]
fn an_update_that_needs_a_reset_resets() {
    let mut h = Harness::established(config(), 90);
    let mut bad = update(0);
    let n = bad.len();
    bad[n - 3] = 40; // NLRI prefix length 40
    let a = h.recv(1, bad);
    assert_eq!(notifications(&a), [(1, (3, 10))]);
    assert!(a.contains(&Action::SessionDown(DownReason::NotificationSent(3, 10))));
}

#[test]
fn stop_sends_the_cease_subcode_of_its_reason() {
    for (reason, sub) in [
        (StopReason::AdminShutdown, 2),
        (StopReason::PeerDeconfigured, 3),
        (StopReason::AdminReset, 4),
        (StopReason::ConfigChange, 6),
    ] {
        let mut h = Harness::established(config(), 90);
        let a = h.ev(Event::Stop(reason));
        assert_eq!(notifications(&a), [(1, (6, sub))]);
        assert!(a.contains(&Action::SessionDown(DownReason::Stopped(reason))));
        assert!(h.advance(secs(600)).is_empty(), "stopped: no restart");
    }
}

fn restart_bit(actions: &[Action]) -> Option<bool> {
    sent(actions).into_iter().find_map(|(_, m)| match m {
        BgpMessage::Open(open) => open.capabilities().into_iter().find_map(|c| match c {
            BgpCapability::GracefulRestartCapability(gr) => Some(gr.restart()),
            _ => None,
        }),
        _ => None,
    })
}

#[test]
fn graceful_stop_closes_without_notification_and_the_next_open_says_restarting() {
    let mut h = Harness::established(config(), 90);
    let a = h.ev(Event::StopGraceful);
    assert!(notifications(&a).is_empty());
    assert_eq!(closed(&a), [1]);
    assert!(a.contains(&Action::SessionDown(DownReason::Graceful)));
    h.ev(Event::Start);
    let a = h.connected(2, Direction::Outgoing);
    assert_eq!(restart_bit(&a), Some(true));
    h.recv(2, peer_open(PEER_ASN, PEER_ID, 90));
    h.recv(2, frame(BgpMessage::KeepAlive));
    h.ev(Event::Stop(StopReason::AdminReset));
    h.ev(Event::Start);
    let a = h.connected(3, Direction::Outgoing);
    assert_eq!(restart_bit(&a), Some(false), "only right after the restart");
}

#[test]
fn a_notification_from_the_peer_drops_the_session_and_restarts() {
    let mut h = Harness::established(config(), 90);
    let cease = frame(BgpMessage::Notification(cease(StopReason::AdminShutdown)));
    let a = h.recv(1, cease);
    assert!(notifications(&a).is_empty());
    assert!(a.contains(&Action::SessionDown(DownReason::NotificationReceived(6, 2))));
    assert_eq!(
        h.s.last_down(),
        Some(DownReason::NotificationReceived(6, 2))
    );
    assert!(h.advance(secs(1)).contains(&Action::Connect));
}

#[test]
fn a_closed_connection_drops_the_session_and_restarts() {
    let mut h = Harness::established(config(), 90);
    let a = h.ev(Event::TcpClosed { conn: 1 });
    assert!(a.contains(&Action::SessionDown(DownReason::ConnectionClosed)));
    assert!(h.advance(secs(1)).contains(&Action::Connect));
}

#[test]
fn a_config_change_resets_an_open_session_with_cease_other_configuration_change() {
    let mut h = Harness::established(config(), 90);
    let a = h.ev(Event::ConfigChanged(SessionConfig {
        keepalive: 5,
        ..config()
    }));
    assert_eq!(notifications(&a), [(1, (6, 6))]);
    assert!(
        a.contains(&Action::Connect),
        "and reconnects with the new parameters"
    );
    let a = h.ev(Event::ConfigChanged(SessionConfig {
        keepalive: 5,
        ..config()
    }));
    assert!(a.is_empty(), "no change, nothing done");
}

#[test]
fn connections_are_refused_while_stopped() {
    let mut h = Harness::new(config());
    let a = h.connected(4, Direction::Incoming);
    assert_eq!(a, [Action::Close { conn: 4 }]);
}

#[test]
fn a_prefix_limit_sends_cease_1_with_the_limit_and_holds_off_a_whole_connect_retry_time() {
    let mut h = Harness::established(config(), 90);
    let a = h.ev(Event::PrefixLimitExceeded {
        family: Family::Ip6,
        limit: 100,
    });
    assert_eq!(notifications(&a), [(1, (6, 1))]);
    let data = a.iter().find_map(|a| match a {
        Action::Send {
            message: BgpMessage::Notification(BgpNotificationMessage::CeaseError(c)),
            ..
        } => Some(c.clone()),
        _ => None,
    });
    let Some(CeaseError::MaximumNumberOfPrefixesReached { value }) = data else {
        panic!("no Maximum Number of Prefixes Reached: {a:?}");
    };
    assert_eq!(*value, [0, 2, 1, 0, 0, 0, 100], "AFI 2, SAFI 1, limit 100");
    assert!(a.contains(&Action::SessionDown(DownReason::NotificationSent(6, 1))));
    assert_eq!(h.s.state(), State::Idle);

    // Neither side reconnects before the ConnectRetryTime (2 s here), even
    // though the back-off was reset when the session came up.
    assert!(
        !h.advance(Duration::from_millis(1900))
            .contains(&Action::Connect)
    );
    assert_eq!(
        h.connected(7, Direction::Incoming),
        [Action::Close { conn: 7 }]
    );
    assert!(
        h.advance(Duration::from_millis(200))
            .contains(&Action::Connect)
    );
    let a = h.connected(8, Direction::Incoming);
    assert!(!a.contains(&Action::Close { conn: 8 }), "{a:?}");
}

#[test]
fn a_prefix_limit_outside_established_does_nothing() {
    let mut h = Harness::new(config());
    h.ev(Event::Start);
    let a = h.ev(Event::PrefixLimitExceeded {
        family: Family::Ip,
        limit: 1,
    });
    assert!(a.is_empty(), "{a:?}");
}
