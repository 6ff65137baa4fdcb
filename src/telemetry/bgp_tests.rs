//! The BGP metrics as a scraper sees them, from a fixed sample.

use super::*;
use crate::telemetry::LoopMetrics;
use crate::telemetry::exposition::Exposition;

fn peer(addr: &str, state: u8, sent: u64, updates: (u64, u64)) -> PeerSample {
    PeerSample {
        peer: addr.to_string(),
        state,
        established: state == 6,
        routes_sent: sent,
        routes_received: 1,
        updates_sent: updates.0,
        updates_received: updates.1,
    }
}

#[test]
fn a_scrape_shows_each_peers_state_routes_and_updates() {
    let metrics = LoopMetrics::new();
    let sample = BgpSample {
        running: true,
        peers: vec![
            peer("10.0.0.1", 6, 3, (5, 2)),
            peer("fd00::2", 3, 0, (0, 0)),
        ],
        routes_originated: 4,
    };
    let e = Exposition::parse(&metrics.encode_with_bgp(sample).unwrap());
    for (family, kind) in [
        ("kroute_bgp_speaker_running", "gauge"),
        ("kroute_bgp_routes_originated", "gauge"),
        ("kroute_bgp_peer_session_state", "gauge"),
        ("kroute_bgp_peer_up", "gauge"),
        ("kroute_bgp_peer_routes_sent", "gauge"),
        ("kroute_bgp_peer_routes_received", "gauge"),
        ("kroute_bgp_peer_updates_sent", "counter"),
        ("kroute_bgp_peer_updates_received", "counter"),
    ] {
        assert_eq!(
            e.types.get(family).map(String::as_str),
            Some(kind),
            "{family}"
        );
    }
    let v = |s: &str| {
        e.value(s)
            .unwrap_or_else(|| panic!("no {s} in {:?}", e.samples))
    };
    assert_eq!(v("kroute_bgp_speaker_running"), 1.0);
    assert_eq!(v("kroute_bgp_routes_originated"), 4.0);
    assert_eq!(v("kroute_bgp_peer_session_state{peer=\"10.0.0.1\"}"), 6.0);
    assert_eq!(v("kroute_bgp_peer_session_state{peer=\"fd00::2\"}"), 3.0);
    assert_eq!(v("kroute_bgp_peer_up{peer=\"10.0.0.1\"}"), 1.0);
    assert_eq!(v("kroute_bgp_peer_up{peer=\"fd00::2\"}"), 0.0);
    assert_eq!(v("kroute_bgp_peer_routes_sent{peer=\"10.0.0.1\"}"), 3.0);
    assert_eq!(v("kroute_bgp_peer_routes_received{peer=\"fd00::2\"}"), 1.0);
    assert_eq!(
        v("kroute_bgp_peer_updates_sent_total{peer=\"10.0.0.1\"}"),
        5.0
    );
    assert_eq!(
        v("kroute_bgp_peer_updates_received_total{peer=\"10.0.0.1\"}"),
        2.0
    );
    // The loop's own metrics are still there, in the same exposition.
    assert!(e.types.contains_key("kroute_syncs"), "{:?}", e.types);
}

#[test]
fn without_a_speaker_only_the_running_gauge_and_zero_routes_are_shown() {
    let metrics = LoopMetrics::new();
    let text = metrics.encode().unwrap();
    let e = Exposition::parse(&text);
    assert_eq!(e.value("kroute_bgp_speaker_running"), Some(0.0));
    assert_eq!(e.value("kroute_bgp_routes_originated"), Some(0.0));
    // No per-peer series (kroute_bgp_peer_conflicts_total is the loop's).
    assert!(!text.contains("{peer=\""), "{text}");
    // A later scrape with a speaker replaces the sample, it does not add to it.
    let running = BgpSample {
        running: true,
        peers: vec![peer("10.0.0.1", 1, 0, (0, 0))],
        routes_originated: 0,
    };
    let e = Exposition::parse(&metrics.encode_with_bgp(running).unwrap());
    assert_eq!(
        e.value("kroute_bgp_peer_session_state{peer=\"10.0.0.1\"}"),
        Some(1.0)
    );
    let e = Exposition::parse(&metrics.encode().unwrap());
    assert_eq!(
        e.value("kroute_bgp_peer_session_state{peer=\"10.0.0.1\"}"),
        None
    );
}

#[test]
fn state_numbers_follow_the_bgp4_mib() {
    assert_eq!(
        [
            State::Idle,
            State::Connect,
            State::Active,
            State::OpenSent,
            State::OpenConfirm,
            State::Established
        ]
        .map(state_number),
        [1, 2, 3, 4, 5, 6]
    );
}
