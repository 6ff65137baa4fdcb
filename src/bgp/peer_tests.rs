//! A peer's exports: the initial table and End-of-RIB when the session comes
//! up, then only changes; received routes kept until the session drops,
//! those the import policy accepts counted against `max_prefixes`.

use std::time::Instant;

use netgauze_bgp_pkt::BgpMessage;
use netgauze_bgp_pkt::iana::RouteRefreshSubcode;
use netgauze_bgp_pkt::route_refresh::BgpRouteRefreshMessage;
use netgauze_iana::address_family::AddressType;

use super::*;
use crate::bgp::codec::{self, DecodeContext, MAX_LEN, Received};
use crate::bgp::fsm::{Direction, StopReason};
use crate::bgp::fsm_test_util::{
    LOCAL_ADDR, LOCAL_ASN, PEER_ASN, PEER_ID, config, frame, peer_open, raw_update,
};

fn route(prefix: &str) -> OriginatedRoute {
    OriginatedRoute {
        prefix: prefix.parse().unwrap(),
    }
}

fn local(routes: &[(&str, RouteAttrs)], complete: bool) -> LocalRoutes {
    LocalRoutes {
        routes: Arc::new(routes.iter().map(|(p, a)| (route(p), a.clone())).collect()),
        complete,
    }
}

fn peer_addr() -> IpAddr {
    "192.0.2.2".parse().unwrap()
}

/// A peer brought to Established over conn 1; the actions of the last step.
fn established(config: SessionConfig, routes: LocalRoutes) -> (Peer, Vec<Action>) {
    let spec = PeerSpec::new(peer_addr(), config.peer_asn);
    established_as(spec, config, routes)
}

/// Like `established`, with this spec.
fn established_as(
    spec: PeerSpec,
    config: SessionConfig,
    routes: LocalRoutes,
) -> (Peer, Vec<Action>) {
    let now = Instant::now();
    let mut p = Peer::new(spec, config.clone(), routes);
    p.handle(Input::Session(Event::Start), now);
    p.handle(
        Input::Session(Event::TcpConnected {
            conn: 1,
            dir: Direction::Outgoing,
            local: LOCAL_ADDR,
        }),
        now,
    );
    let open = peer_open(config.peer_asn, PEER_ID, 90);
    p.handle(
        Input::Session(Event::Received {
            conn: 1,
            frame: open,
        }),
        now,
    );
    let a = p.handle(
        Input::Session(Event::Received {
            conn: 1,
            frame: frame(BgpMessage::KeepAlive),
        }),
        now,
    );
    assert_eq!(p.session().state(), State::Established);
    (p, a)
}

/// The UPDATEs among `actions`, as the peer decodes them.
fn updates(actions: &[Action]) -> Vec<CheckedUpdate> {
    let ctx = DecodeContext::initial(LOCAL_ASN, true);
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send {
                message: m @ BgpMessage::Update(_),
                ..
            } => match codec::decode(&codec::encode(m, MAX_LEN).unwrap(), &ctx).unwrap() {
                Received::Update(u) => Some(u),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

#[test]
fn the_initial_table_then_end_of_rib_when_the_session_comes_up() {
    let routes = local(
        &[
            ("10.96.0.10/32", RouteAttrs::default()),
            ("10.244.1.0/24", RouteAttrs::default()),
        ],
        true,
    );
    let (_, a) = established(config(), routes);
    let u = updates(&a);
    assert_eq!(
        u.len(),
        2,
        "one UPDATE for both (equal attributes), then End-of-RIB"
    );
    let (attrs, prefixes) = &u[0].announced[0];
    assert_eq!(prefixes, &vec![net("10.96.0.10/32"), net("10.244.1.0/24")]);
    assert_eq!(
        attrs.next_hop, LOCAL_ADDR,
        "next hop: our address on the session"
    );
    assert_eq!(attrs.as_path, vec![LOCAL_ASN], "eBGP: our AS");
    assert_eq!(attrs.local_pref, None);
    assert_eq!(
        u[1].end_of_rib,
        Some(Family::Ip),
        "the peer's OPEN has no MP: IPv4 only"
    );
}

#[test]
fn a_route_change_sends_only_that_change() {
    let (mut p, _) = established(
        config(),
        local(&[("10.96.0.10/32", RouteAttrs::default())], true),
    );
    let tagged = RouteAttrs {
        communities: vec![(64512 << 16) | 7],
        ..RouteAttrs::default()
    };
    let a = p.handle(
        Input::Routes(local(
            &[
                ("10.96.0.10/32", RouteAttrs::default()),
                ("10.96.0.11/32", tagged),
            ],
            true,
        )),
        Instant::now(),
    );
    let u = updates(&a);
    assert_eq!(u.len(), 1);
    assert_eq!(u[0].announced[0].1, vec![net("10.96.0.11/32")]);
    assert_eq!(u[0].announced[0].0.communities, vec![(64512 << 16) | 7]);
    let a = p.handle(
        Input::Routes(local(&[("10.96.0.11/32", RouteAttrs::default())], true)),
        Instant::now(),
    );
    let u = updates(&a);
    assert_eq!(u.len(), 2, "a withdrawal and a changed attribute set");
    assert_eq!(u[0].withdrawn, vec![net("10.96.0.10/32")]);
    assert_eq!(p.status(Instant::now()).routes_sent, 1);
}

#[test]
fn an_incomplete_local_rib_holds_back_the_table_and_end_of_rib() {
    let (mut p, a) = established(config(), local(&[], false));
    assert!(updates(&a).is_empty(), "nothing, not even End-of-RIB");
    let a = p.handle(
        Input::Routes(local(&[("10.96.0.10/32", RouteAttrs::default())], true)),
        Instant::now(),
    );
    let u = updates(&a);
    assert_eq!(u.len(), 2);
    assert_eq!(u[1].end_of_rib, Some(Family::Ip));
}

#[test]
fn ibgp_exports_local_pref_and_an_empty_path_and_honours_only_peers() {
    let ibgp = SessionConfig {
        peer_asn: LOCAL_ASN,
        ..config()
    };
    let pref = RouteAttrs {
        local_pref: Some(300),
        ..RouteAttrs::default()
    };
    let elsewhere = RouteAttrs {
        only_peers: vec!["192.0.2.99".parse().unwrap()],
        ..RouteAttrs::default()
    };
    let mine = RouteAttrs {
        only_peers: vec![peer_addr()],
        ..RouteAttrs::default()
    };
    let routes = local(
        &[
            ("10.0.0.1/32", RouteAttrs::default()),
            ("10.0.0.2/32", pref),
            ("10.0.0.3/32", elsewhere),
            ("10.0.0.4/32", mine),
            ("2001:db8::1/128", RouteAttrs::default()),
        ],
        true,
    );
    let (p, _) = established(ibgp, routes);
    let sent = p.routes().advertised;
    let got: Vec<(String, Option<u32>, usize)> = sent
        .iter()
        .map(|(n, a)| (n.to_string(), a.local_pref, a.as_path.len()))
        .collect();
    assert_eq!(
        got,
        [
            ("10.0.0.1/32".to_string(), Some(100), 0),
            ("10.0.0.2/32".to_string(), Some(300), 0),
            ("10.0.0.4/32".to_string(), Some(100), 0),
        ],
        "IPv6 is not negotiated; 10.0.0.3 is for another peer"
    );
}

#[test]
fn except_peers_are_skipped_and_large_communities_exported() {
    let not_here = RouteAttrs {
        except_peers: vec![peer_addr()],
        ..RouteAttrs::default()
    };
    let large = RouteAttrs {
        large_communities: vec![[64512, 1, 2]],
        except_peers: vec!["192.0.2.99".parse().unwrap()],
        ..RouteAttrs::default()
    };
    let routes = local(&[("10.0.0.1/32", not_here), ("10.0.0.2/32", large)], true);
    let (p, _) = established(config(), routes);
    let sent = p.routes().advertised;
    let got: Vec<(String, Vec<LargeCommunity>)> = (sent.iter())
        .map(|(n, a)| (n.to_string(), a.large_communities.clone()))
        .collect();
    assert_eq!(
        got,
        [("10.0.0.2/32".to_string(), vec![LargeCommunity(64512, 1, 2)])]
    );
}

/// An UPDATE from the peer announcing 10.9.0.0/16.
fn peer_update() -> Vec<u8> {
    raw_update(0, [192, 0, 2, 2], &[16, 10, 9])
}

#[test]
fn received_routes_are_kept_until_the_session_drops() {
    assert_eq!(PEER_ASN, 65001);
    let (mut p, _) = established(config(), local(&[], true));
    p.handle(
        Input::Session(Event::Received {
            conn: 1,
            frame: peer_update(),
        }),
        Instant::now(),
    );
    let got = p.routes().received;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, net("10.9.0.0/16"));
    assert_eq!(p.status(Instant::now()).updates_received, 1);
    p.handle(
        Input::Session(Event::Stop(StopReason::AdminReset)),
        Instant::now(),
    );
    assert!(p.routes().received.is_empty());
    assert!(p.routes().advertised.is_empty());
}

#[test]
fn a_route_refresh_resends_the_family() {
    let (mut p, _) = established(
        config(),
        local(&[("10.96.0.10/32", RouteAttrs::default())], true),
    );
    let rr =
        BgpRouteRefreshMessage::new(AddressType::Ipv4Unicast, RouteRefreshSubcode::NormalRequest);
    let a = p.handle(
        Input::Session(Event::Received {
            conn: 1,
            frame: frame(BgpMessage::RouteRefresh(rr)),
        }),
        Instant::now(),
    );
    let u = updates(&a);
    assert_eq!(u.len(), 1);
    assert_eq!(u[0].announced[0].1, vec![net("10.96.0.10/32")]);
}

#[test]
fn the_prepend_follows_our_asn_on_ebgp_and_is_the_whole_path_on_ibgp() {
    let prepended = RouteAttrs {
        prepend: vec![65100, 65100, 65100],
        ..RouteAttrs::default()
    };
    let routes = || {
        local(
            &[
                ("10.0.0.1/32", RouteAttrs::default()),
                ("10.0.0.2/32", prepended.clone()),
            ],
            true,
        )
    };
    let paths = |p: &Peer| -> Vec<(String, Vec<u32>)> {
        p.routes()
            .advertised
            .iter()
            .map(|(n, a)| (n.to_string(), a.as_path.clone()))
            .collect()
    };
    let (ebgp, _) = established(config(), routes());
    assert_eq!(
        paths(&ebgp),
        [
            ("10.0.0.1/32".to_string(), vec![LOCAL_ASN]),
            (
                "10.0.0.2/32".to_string(),
                vec![LOCAL_ASN, 65100, 65100, 65100]
            ),
        ]
    );
    let ibgp = SessionConfig {
        peer_asn: LOCAL_ASN,
        ..config()
    };
    let (ibgp, _) = established(ibgp, routes());
    assert_eq!(
        paths(&ibgp),
        [
            ("10.0.0.1/32".to_string(), vec![]),
            ("10.0.0.2/32".to_string(), vec![65100, 65100, 65100]),
        ]
    );
}

/// The peer (eBGP) accepting `accept`, at most `max` prefixes.
fn importing(accept: &[&str], max: u32) -> Peer {
    let spec = PeerSpec {
        accept_prefixes: accept.iter().map(|p| net(p)).collect(),
        max_prefixes: max,
        ..PeerSpec::new(peer_addr(), PEER_ASN)
    };
    established_as(spec, config(), local(&[], true)).0
}

/// The peer's UPDATE announcing `nlri` (encoded prefixes).
fn receive(p: &mut Peer, nlri: &[u8]) -> Vec<Action> {
    let frame = raw_update(0, [192, 0, 2, 2], nlri);
    p.handle(
        Input::Session(Event::Received { conn: 1, frame }),
        Instant::now(),
    )
}

fn accepted(p: &Peer) -> Vec<String> {
    p.accepted_paths().keys().map(ToString::to_string).collect()
}

#[test]
fn only_routes_inside_accept_prefixes_are_accepted_and_all_are_shown() {
    // 10.9.0.0/16 and 10.10.1.0/24 inside, 192.168.0.0/16 outside, and the
    // default route, never accepted.
    let mut p = importing(&["10.9.0.0/16", "10.10.0.0/16"], 0);
    receive(&mut p, &[16, 10, 9, 24, 10, 10, 1, 16, 192, 168, 0]);
    // (the last is 0.0.0.0/0)
    assert_eq!(accepted(&p), ["10.9.0.0/16", "10.10.1.0/24"]);
    let status = p.status(Instant::now());
    assert_eq!((status.routes_received, status.routes_accepted), (4, 2));
    let path = &p.accepted_paths()[&net("10.9.0.0/16")];
    assert!(!path.ibgp);
    assert_eq!(path.attrs.next_hop, peer_addr());

    let mut none = importing(&[], 0);
    receive(&mut none, &[16, 10, 9]);
    assert!(
        accepted(&none).is_empty(),
        "an eBGP peer without acceptPrefixes"
    );
    assert_eq!(none.status(Instant::now()).routes_received, 1);
}

#[test]
fn a_wider_accept_prefixes_recounts_what_was_received() {
    let mut p = importing(&["10.9.0.0/16"], 0);
    receive(&mut p, &[16, 10, 9, 16, 10, 10]);
    assert_eq!(p.status(Instant::now()).routes_accepted, 1);
    let spec = PeerSpec {
        accept_prefixes: vec![net("10.0.0.0/8")],
        ..p.spec().clone()
    };
    p.reconfigure(spec, config(), Instant::now());
    assert_eq!(accepted(&p), ["10.9.0.0/16", "10.10.0.0/16"]);
    assert_eq!(p.status(Instant::now()).routes_accepted, 2);
}

#[test]
fn more_accepted_prefixes_than_max_prefixes_close_the_session_with_cease_1() {
    let mut p = importing(&["10.0.0.0/8"], 2);
    // Two accepted, one outside: at the limit, not over it.
    let a = receive(&mut p, &[16, 10, 9, 16, 10, 10, 16, 192, 168]);
    assert!(
        !a.iter().any(|a| matches!(a, Action::SessionDown(_))),
        "{a:?}"
    );
    // One announced again (it replaces itself): still two.
    let a = receive(&mut p, &[16, 10, 10]);
    assert!(
        !a.iter().any(|a| matches!(a, Action::SessionDown(_))),
        "{a:?}"
    );

    let a = receive(&mut p, &[16, 10, 11]);
    let cease = a.iter().any(|a| {
        matches!(
            a,
            Action::Send {
                message: BgpMessage::Notification(_),
                ..
            }
        )
    });
    assert!(cease, "{a:?}");
    assert!(a.contains(&Action::SessionDown(DownReason::NotificationSent(6, 1))));
    assert_eq!(p.session().state(), State::Idle);
    assert!(accepted(&p).is_empty(), "the session's routes are gone");
}

#[test]
fn a_lowered_max_prefixes_closes_a_session_already_over_it() {
    let mut p = importing(&["10.0.0.0/8"], 0);
    receive(&mut p, &[16, 10, 9, 16, 10, 10]);
    let spec = PeerSpec {
        max_prefixes: 1,
        ..p.spec().clone()
    };
    let a = p.reconfigure(spec, config(), Instant::now());
    assert!(a.contains(&Action::SessionDown(DownReason::NotificationSent(6, 1))));
}
