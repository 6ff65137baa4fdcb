//! The `kroute bgp` documents from fixed speaker answers: their JSON (the
//! documented schema, key by key) and their text.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::bgp::open::{Negotiated, PeerGracefulRestart};
use crate::bgp::{OriginatedRoute, PeerSpec, RouteAttrs};
use crate::serve::bgp_text;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// An established eBGP peer that had a session reset by a Cease it received.
fn established() -> PeerStatus {
    PeerStatus {
        spec: PeerSpec::new(ip("10.0.0.1"), 65000),
        state: State::Established,
        uptime: Some(Duration::from_secs(90_061)),
        negotiated: Some(Negotiated {
            peer_asn: 65000,
            peer_id: "10.0.0.1".parse().unwrap(),
            hold_time: 90,
            keepalive: 30,
            asn4: true,
            families: vec![Family::Ip, Family::Ip6],
            route_refresh: true,
            extended_messages: false,
            peer_graceful_restart: Some(PeerGracefulRestart {
                restart_time: 120,
                restarting: false,
            }),
        }),
        last_down: Some(DownReason::NotificationReceived(6, 2)),
        routes_sent: 2,
        routes_received: 1,
        routes_accepted: 1,
        updates_sent: 4,
        updates_received: 3,
        end_of_rib_received: vec![Family::Ip],
    }
}

/// A passive peer that never came up.
fn idle() -> PeerStatus {
    PeerStatus {
        spec: PeerSpec {
            passive: true,
            port: 1179,
            ..PeerSpec::new(ip("fd00::2"), 64512)
        },
        state: State::Active,
        uptime: None,
        negotiated: None,
        last_down: None,
        routes_sent: 0,
        routes_received: 0,
        routes_accepted: 0,
        updates_sent: 0,
        updates_received: 0,
        end_of_rib_received: vec![],
    }
}

#[test]
fn peers_json_is_the_documented_schema_in_address_order() {
    let doc = PeersDoc::new(&[idle(), established()]);
    let value = serde_json::to_value(&doc).unwrap();
    assert_eq!(
        value["peers"][0],
        json!({
            "address": "10.0.0.1",
            "port": 179,
            "asn": 65000,
            "passive": false,
            "state": "established",
            "uptime_seconds": 90061,
            "routes_sent": 2,
            "routes_received": 1,
            "routes_accepted": 1,
            "updates_sent": 4,
            "updates_received": 3,
            "last_down": {
                "reason": "notification-received",
                "stop": null,
                "code": 6,
                "subcode": 2,
                "text": "notification received: cease / administrative shutdown (6/2)"
            },
            "negotiated": {
                "peer_asn": 65000,
                "peer_router_id": "10.0.0.1",
                "hold_time_seconds": 90,
                "keepalive_seconds": 30,
                "four_octet_asn": true,
                "families": ["ipv4-unicast", "ipv6-unicast"],
                "route_refresh": true,
                "extended_messages": false,
                "peer_graceful_restart_seconds": 120
            },
            "end_of_rib_received": ["ipv4-unicast"]
        })
    );
    let second = &value["peers"][1];
    assert_eq!(second["address"], "fd00::2");
    assert_eq!(second["state"], "active");
    assert_eq!(second["passive"], true);
    assert_eq!(second["port"], 1179);
    assert!(second["uptime_seconds"].is_null() && second["last_down"].is_null());
    assert!(second["negotiated"].is_null());
    // The client reads back what the server wrote.
    let back: PeersDoc = serde_json::from_value(value).unwrap();
    assert_eq!(back, doc);
}

#[test]
fn every_down_reason_has_a_lowercase_name_and_a_sentence() {
    let cases = [
        (
            DownReason::Stopped(StopReason::PeerDeconfigured),
            "stopped",
            Some("peer-deconfigured"),
            "stopped: peer deconfigured",
        ),
        (
            DownReason::Graceful,
            "graceful-close",
            None,
            "closed for graceful restart",
        ),
        (
            DownReason::HoldTimerExpired,
            "hold-timer-expired",
            None,
            "hold timer expired",
        ),
        (
            DownReason::NotificationSent(3, 1),
            "notification-sent",
            None,
            "notification sent: UPDATE message error (3/1)",
        ),
        (
            DownReason::ConnectionClosed,
            "connection-closed",
            None,
            "connection closed",
        ),
    ];
    for (down, reason, stop, text) in cases {
        let doc = DownDoc::from(down);
        assert_eq!(doc.reason, reason, "{down:?}");
        assert_eq!(doc.stop.as_deref(), stop, "{down:?}");
        assert_eq!(doc.text, text, "{down:?}");
    }
}

#[test]
fn peers_text_has_one_aligned_line_per_peer() {
    let text = PeersDoc::new(&[established(), idle()]).render_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(
        lines[0],
        "PEER      AS     STATE        UPTIME       ROUTES SENT/RECV  UPDATES SENT/RECV  LAST DOWN"
    );
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>()[..7],
        [
            "10.0.0.1",
            "65000",
            "established",
            "1d",
            "01:01:01",
            "2/1",
            "4/3"
        ]
    );
    assert!(
        lines[1].ends_with("notification received: cease / administrative shutdown (6/2)"),
        "{text}"
    );
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        ["fd00::2", "64512", "active", "never", "0/0", "0/0", "-"]
    );
    // Columns line up: the state starts at the same offset on every line.
    assert_eq!(lines[0].find("STATE"), lines[1].find("established"));
    assert_eq!(lines[0].find("STATE"), lines[2].find("active"));
    assert_eq!(
        PeersDoc::new(&[]).render_text(),
        "no BGP peers configured\n"
    );
}

#[test]
fn uptime_is_hours_minutes_seconds_with_days_in_front() {
    assert_eq!(bgp_text::uptime(0), "00:00:00");
    assert_eq!(bgp_text::uptime(3_725), "01:02:05");
    assert_eq!(bgp_text::uptime(2 * 86_400 + 59), "2d 00:00:59");
}

fn local_rib() -> LocalRib {
    LocalRib::from([
        (
            OriginatedRoute {
                prefix: "10.96.0.10/32".parse().unwrap(),
            },
            RouteAttrs {
                communities: vec![(64512 << 16) | 100, (65535 << 16) | 666],
                local_pref: Some(200),
                prepend: vec![64512, 64512],
                only_peers: vec![ip("10.0.0.2")],
                ..RouteAttrs::default()
            },
        ),
        (
            OriginatedRoute {
                prefix: "10.244.1.0/24".parse().unwrap(),
            },
            RouteAttrs {
                next_hop: Some(ip("192.168.1.10")),
                ..RouteAttrs::default()
            },
        ),
    ])
}

#[test]
fn the_local_rib_lists_each_route_with_the_peers_it_goes_to() {
    let doc = RibDoc::new(&local_rib(), &[ip("10.0.0.2"), ip("10.0.0.1")]);
    assert_eq!(
        serde_json::to_value(&doc).unwrap(),
        json!({"routes": [
            {
                "prefix": "10.96.0.10/32",
                "next_hop": null,
                "communities": ["64512:100", "65535:666"],
                "local_pref": 200,
                "prepend": [64512, 64512],
                "peers": ["10.0.0.2"]
            },
            {
                "prefix": "10.244.1.0/24",
                "next_hop": "192.168.1.10",
                "communities": [],
                "local_pref": null,
                "prepend": [],
                "peers": ["10.0.0.1", "10.0.0.2"]
            }
        ]})
    );
    let text = doc.render_text();
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        [
            "PREFIX",
            "NEXT",
            "HOP",
            "COMMUNITIES",
            "LOCAL",
            "PREF",
            "PREPEND",
            "PEERS"
        ]
    );
    assert_eq!(
        lines[1],
        [
            "10.96.0.10/32",
            "self",
            "64512:100",
            "65535:666",
            "200",
            "64512",
            "64512",
            "10.0.0.2"
        ]
    );
    assert_eq!(
        lines[2],
        [
            "10.244.1.0/24",
            "192.168.1.10",
            "-",
            "-",
            "-",
            "10.0.0.1",
            "10.0.0.2"
        ]
    );
    assert_eq!(
        RibDoc::new(&LocalRib::new(), &[]).render_text(),
        "no routes originated\n"
    );
}

fn peer_routes() -> PeerRoutes {
    let mut sent = PathAttrs::with_next_hop(ip("10.0.0.254"));
    sent.as_path = vec![64512, 64512, 64512];
    sent.communities = vec![(64512 << 16) | 100];
    let mut got = PathAttrs::with_next_hop(ip("10.0.0.1"));
    got.as_path = vec![65000];
    got.origin = Origin::Incomplete;
    got.med = Some(10);
    got.large_communities = vec![LargeCommunity(65000, 1, 2)];
    PeerRoutes {
        advertised: vec![
            ("10.96.0.10/32".parse().unwrap(), sent.clone()),
            ("10.96.0.1/32".parse().unwrap(), sent),
        ],
        received: vec![("0.0.0.0/0".parse().unwrap(), got)],
    }
}

#[test]
fn a_peers_routes_show_the_attributes_as_sent_and_as_received() {
    let peer = ip("10.0.0.1");
    let doc = PeerRoutesDoc::new(peer, &peer_routes(), false);
    let value = serde_json::to_value(&doc).unwrap();
    assert_eq!(value["peer"], "10.0.0.1");
    assert_eq!(
        value["advertised"][0],
        json!({
            "prefix": "10.96.0.1/32",
            "next_hop": "10.0.0.254",
            "as_path": [64512, 64512, 64512],
            "origin": "igp",
            "med": null,
            "local_pref": null,
            "communities": ["64512:100"],
            "large_communities": []
        }),
        "in prefix order"
    );
    assert_eq!(value["advertised"][1]["prefix"], "10.96.0.10/32");
    assert_eq!(
        value["received"],
        json!([{
            "prefix": "0.0.0.0/0",
            "next_hop": "10.0.0.1",
            "as_path": [65000],
            "origin": "incomplete",
            "med": 10,
            "local_pref": null,
            "communities": [],
            "large_communities": ["65000:1:2"]
        }])
    );
    let text = doc.render_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "advertised to 10.0.0.1 (2 routes):");
    assert!(lines[1].trim_start().starts_with("PREFIX"), "{text}");
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        [
            "10.96.0.1/32",
            "10.0.0.254",
            "64512",
            "64512",
            "64512",
            "igp",
            "-",
            "-",
            "64512:100"
        ]
    );
    assert_eq!(lines[4], "received from 10.0.0.1 (1 route):");
    assert_eq!(
        lines[6].split_whitespace().collect::<Vec<_>>(),
        [
            "0.0.0.0/0",
            "10.0.0.1",
            "65000",
            "incomplete",
            "10",
            "-",
            "65000:1:2"
        ]
    );

    // --received: no advertised key, no advertised section.
    let only = PeerRoutesDoc::new(peer, &peer_routes(), true);
    let value = serde_json::to_value(&only).unwrap();
    assert!(value.get("advertised").is_none(), "{value}");
    assert_eq!(value["received"].as_array().unwrap().len(), 1);
    assert!(
        only.render_text()
            .starts_with("received from 10.0.0.1 (1 route):\n")
    );
    let back: PeerRoutesDoc = serde_json::from_value(value).unwrap();
    assert_eq!(back, only);
}
