//! Round trips through netgauze: what kroute encodes decodes to the same
//! message, and header errors get their NOTIFICATION.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use netgauze_bgp_pkt::BgpMessage;
use netgauze_bgp_pkt::capabilities::BgpCapability;
use netgauze_bgp_pkt::iana::RouteRefreshSubcode;
use netgauze_bgp_pkt::nlri::{Ipv4Unicast, Ipv4UnicastAddress, Ipv6Unicast, Ipv6UnicastAddress};
use netgauze_bgp_pkt::notification::{BgpNotificationMessage, CeaseError};
use netgauze_bgp_pkt::route_refresh::BgpRouteRefreshMessage;
use netgauze_bgp_pkt::update::BgpUpdateMessage;
use netgauze_iana::address_family::AddressType;

use super::*;
use crate::bgp::attrs::{self, LargeCommunity, Origin, PathAttrs};
use crate::bgp::open::{self, GracefulRestart, LocalOpen};
use crate::model::Family;

fn ctx() -> DecodeContext {
    DecodeContext {
        asn4: true,
        max_len: MAX_LEN,
        peer_asn: 4_200_000_001,
        ibgp: false,
    }
}

fn roundtrip(msg: BgpMessage) -> Received {
    let bytes = encode(&msg, MAX_LEN).unwrap();
    let header: [u8; HEADER_LEN] = bytes[..HEADER_LEN].try_into().unwrap();
    assert_eq!(frame_len(&header), bytes.len());
    decode(&bytes, &ctx()).unwrap()
}

fn sample_attrs(next_hop: IpAddr) -> PathAttrs {
    PathAttrs {
        origin: Origin::Incomplete,
        as_path: vec![4_200_000_001, 64512],
        next_hop,
        med: Some(5),
        local_pref: None,
        communities: vec![(64512 << 16) | 100, 0xffff_ff01],
        large_communities: vec![LargeCommunity(4_200_000_001, 1, 2)],
    }
}

#[test]
fn open_with_every_capability_round_trips() {
    let local = LocalOpen {
        asn: 4_200_000_001,
        router_id: Ipv4Addr::new(192, 0, 2, 7),
        hold_time: 90,
        graceful_restart: Some(GracefulRestart {
            restart_time: 120,
            restarting: true,
        }),
    };
    let sent = open::build(&local);
    let Received::Open(got) = roundtrip(BgpMessage::Open(sent.clone())) else {
        panic!("not an OPEN");
    };
    assert_eq!(got, sent);
    assert_eq!(
        got.my_as(),
        attrs::AS_TRANS,
        "4-octet ASN: AS_TRANS in my_as"
    );
    let caps = got.capabilities();
    assert!(
        caps.iter()
            .any(|c| matches!(c, BgpCapability::RouteRefresh))
    );
    assert!(
        caps.iter()
            .any(|c| matches!(c, BgpCapability::ExtendedMessage))
    );
    assert!(caps.iter().any(|c| matches!(c, BgpCapability::GracefulRestartCapability(gr) if gr.restart() && gr.time() == 120)));
    let n = open::negotiate(
        &LocalOpen {
            asn: 64512,
            router_id: Ipv4Addr::new(192, 0, 2, 1),
            hold_time: 30,
            graceful_restart: None,
        },
        30,
        4_200_000_001,
        &got,
    )
    .unwrap();
    assert_eq!(n.peer_asn, 4_200_000_001);
    assert_eq!((n.hold_time, n.keepalive), (30, 10));
    assert!(n.asn4 && n.route_refresh && n.extended_messages);
    assert_eq!(n.families, [Family::Ip, Family::Ip6]);
    assert_eq!(n.max_len(), MAX_EXTENDED_LEN);
    assert_eq!(n.peer_graceful_restart.map(|g| g.restarting), Some(true));
}

#[test]
fn keepalive_notification_and_route_refresh_round_trip() {
    assert_eq!(roundtrip(BgpMessage::KeepAlive), Received::Keepalive);
    let cease = BgpNotificationMessage::CeaseError(CeaseError::AdministrativeShutdown {
        value: Box::new([]),
    });
    assert_eq!(notification_code(&cease), (6, 2));
    assert_eq!(
        roundtrip(BgpMessage::Notification(cease.clone())),
        Received::Notification(cease)
    );
    let rr =
        BgpRouteRefreshMessage::new(AddressType::Ipv6Unicast, RouteRefreshSubcode::NormalRequest);
    assert_eq!(
        roundtrip(BgpMessage::RouteRefresh(rr.clone())),
        Received::RouteRefresh(rr)
    );
}

#[test]
fn an_ipv4_update_round_trips() {
    let nh = Ipv4Addr::new(192, 0, 2, 1);
    let sent = sample_attrs(IpAddr::V4(nh));
    let mut wire = attrs::to_wire(&sent, true).unwrap();
    wire.push(attrs::next_hop(nh).unwrap());
    let nlri: Vec<Ipv4UnicastAddress> = ["10.96.0.10/32", "10.244.1.0/24"]
        .iter()
        .map(|p| {
            Ipv4UnicastAddress::new_no_path_id(Ipv4Unicast::from_net(p.parse().unwrap()).unwrap())
        })
        .collect();
    let withdrawn = vec![Ipv4UnicastAddress::new_no_path_id(
        Ipv4Unicast::from_net("10.96.0.11/32".parse().unwrap()).unwrap(),
    )];
    let Received::Update(u) = roundtrip(BgpMessage::Update(BgpUpdateMessage::new(
        withdrawn, wire, nlri,
    ))) else {
        panic!("not an UPDATE");
    };
    assert_eq!(u.problems, []);
    assert_eq!(u.withdrawn, vec!["10.96.0.11/32".parse::<IpNet>().unwrap()]);
    assert_eq!(u.announced.len(), 1);
    assert_eq!(u.announced[0].0, sent);
    assert_eq!(
        u.announced[0].1,
        vec![
            "10.96.0.10/32".parse::<IpNet>().unwrap(),
            "10.244.1.0/24".parse().unwrap()
        ]
    );
}

#[test]
fn an_ipv6_update_and_withdraw_round_trip_in_mp_attributes() {
    let nh: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let sent = sample_attrs(IpAddr::V6(nh));
    let mut wire = attrs::to_wire(&sent, true).unwrap();
    let v6 =
        |p: &str| Ipv6UnicastAddress::new(None, Ipv6Unicast::from_net(p.parse().unwrap()).unwrap());
    wire.push(attrs::mp_reach_v6(nh, vec![v6("2001:db8:96::10/128")]).unwrap());
    let Received::Update(u) = roundtrip(BgpMessage::Update(BgpUpdateMessage::new(
        vec![],
        wire,
        vec![],
    ))) else {
        panic!("not an UPDATE");
    };
    assert_eq!(
        u.announced,
        vec![(sent, vec!["2001:db8:96::10/128".parse().unwrap()])]
    );

    let unreach = attrs::mp_unreach_v6(vec![v6("2001:db8:96::11/128")]).unwrap();
    let Received::Update(u) = roundtrip(BgpMessage::Update(BgpUpdateMessage::new(
        vec![],
        vec![unreach],
        vec![],
    ))) else {
        panic!("not an UPDATE");
    };
    assert_eq!(
        u.withdrawn,
        vec!["2001:db8:96::11/128".parse::<IpNet>().unwrap()]
    );
}

#[test]
fn end_of_rib_of_both_families_round_trips() {
    let Received::Update(v4) = roundtrip(BgpMessage::Update(BgpUpdateMessage::new(
        vec![],
        vec![],
        vec![],
    ))) else {
        panic!("not an UPDATE");
    };
    assert_eq!(v4.end_of_rib, Some(Family::Ip));
    let eor6 = attrs::mp_unreach_v6(vec![]).unwrap();
    let Received::Update(v6) = roundtrip(BgpMessage::Update(BgpUpdateMessage::new(
        vec![],
        vec![eor6],
        vec![],
    ))) else {
        panic!("not an UPDATE");
    };
    assert_eq!(v6.end_of_rib, Some(Family::Ip6));
}

#[test]
fn a_2_octet_peer_gets_as_trans_and_as4_path() {
    let sent = sample_attrs(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    let wire = attrs::to_wire(&sent, false).unwrap();
    let types: Vec<_> = wire.iter().map(|a| a.path_attribute_type()).collect();
    assert!(types.contains(&Ok(netgauze_bgp_pkt::iana::PathAttributeType::As4Path)));
}

#[test]
fn header_errors_get_message_header_notifications() {
    let good = encode(&BgpMessage::KeepAlive, MAX_LEN).unwrap();
    let code = |bytes: &[u8]| notification_code(&decode(bytes, &ctx()).unwrap_err());
    let mut marker = good.clone();
    marker[3] = 0;
    assert_eq!(code(&marker), (1, 1), "connection not synchronized");
    let mut short = good.clone();
    short[17] = 18;
    assert_eq!(code(&short), (1, 2), "length below 19");
    let mut long_keepalive = good.clone();
    long_keepalive[17] = 20;
    long_keepalive.push(0);
    assert_eq!(code(&long_keepalive), (1, 2), "KEEPALIVE of 20 octets");
    let mut kind = good.clone();
    kind[18] = 9;
    assert_eq!(code(&kind), (1, 3), "bad message type");
    assert_eq!(code(&good[..10]), (1, 2), "truncated header");
    let mut big = vec![0xff; 16];
    big.extend(5000u16.to_be_bytes());
    big.push(2);
    big.resize(5000, 0);
    assert_eq!(
        code(&big),
        (1, 2),
        "UPDATE over 4096 without extended messages"
    );
    let extended = DecodeContext {
        max_len: MAX_EXTENDED_LEN,
        ..ctx()
    };
    let past_header = match decode(&big, &extended) {
        Ok(_) => true,
        Err(n) => notification_code(&n).0 != 1,
    };
    assert!(past_header, "with them the length is fine");
}

#[test]
fn encode_refuses_a_message_over_the_limit() {
    let nlri: Vec<Ipv4UnicastAddress> = (0..1100u32)
        .map(|i| {
            let net = ipnet::Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + (i << 8)), 24).unwrap();
            Ipv4UnicastAddress::new_no_path_id(Ipv4Unicast::from_net(net).unwrap())
        })
        .collect();
    let msg = BgpMessage::Update(BgpUpdateMessage::new(vec![], vec![], nlri));
    assert!(matches!(
        encode(&msg, MAX_LEN),
        Err(CodecError::TooLong { .. })
    ));
    assert!(encode(&msg, MAX_EXTENDED_LEN).is_ok());
}
