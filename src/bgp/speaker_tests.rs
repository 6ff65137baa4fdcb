//! Two speakers in one process over loopback (port 0): sessions come up
//! (both sides connect, so the collision is resolved for real), routes go
//! both ways with the expected attributes, a withdrawal reaches the peer,
//! and a graceful shutdown closes without NOTIFICATION.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;

use super::*;
use crate::bgp::codec;
use crate::bgp::fsm::{DownReason, State};

fn speaker_config(asn: u32, id: [u8; 4], listen: &str) -> SpeakerConfig {
    SpeakerConfig {
        asn,
        router_id: Ipv4Addr::from(id),
        listen: vec![listen.parse().unwrap()],
        graceful_restart: None,
        connect_retry: Duration::from_secs(2),
        wait_for_routes: false,
    }
}

fn peer(address: &str, asn: u32, port: u16, local: &str) -> PeerSpec {
    PeerSpec {
        port,
        local_address: Some(local.parse().unwrap()),
        ..PeerSpec::new(address.parse().unwrap(), asn)
    }
}

fn route(prefix: &str) -> OriginatedRoute {
    OriginatedRoute {
        prefix: prefix.parse().unwrap(),
    }
}

/// Polls until `check` holds (10 s at most: a bound, not a speed claim).
async fn wait_for<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..1000 {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn received(h: &SpeakerHandle, from: IpAddr) -> Vec<(IpNet, crate::bgp::attrs::PathAttrs)> {
    h.peer_routes(from)
        .await
        .unwrap()
        .map(|r| r.received)
        .unwrap_or_default()
}

fn port(s: &Speaker) -> u16 {
    s.listen_addrs().first().map(SocketAddr::port).unwrap()
}

/// A on 127.0.0.1 (AS 64512) and B on 127.0.0.2 (AS 64513), each the
/// other's peer, both connecting.
async fn peered_pair() -> (Speaker, Speaker) {
    let a = Speaker::start(speaker_config(64512, [10, 0, 0, 1], "127.0.0.1:0"))
        .await
        .unwrap();
    let b = Speaker::start(speaker_config(64513, [10, 0, 0, 2], "127.0.0.2:0"))
        .await
        .unwrap();
    a.handle()
        .set_peer(peer("127.0.0.2", 64513, port(&b), "127.0.0.1"))
        .await
        .unwrap();
    b.handle()
        .set_peer(peer("127.0.0.1", 64512, port(&a), "127.0.0.2"))
        .await
        .unwrap();
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_speakers_establish_and_exchange_routes() {
    let (a, b) = peered_pair().await;
    let (ha, hb) = (a.handle(), b.handle());
    let (a_ip, b_ip): (IpAddr, IpAddr) =
        ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
    ha.originate(vec![(
        route("10.96.0.10/32"),
        RouteAttrs {
            communities: vec![(64512 << 16) | 100],
            ..RouteAttrs::default()
        },
    )])
    .await
    .unwrap();
    hb.originate(vec![(route("10.244.2.0/24"), RouteAttrs::default())])
        .await
        .unwrap();

    let at_b = wait_for("B to hold A's route", async || {
        let r = received(&hb, a_ip).await;
        (!r.is_empty()).then_some(r)
    })
    .await;
    assert_eq!(at_b.len(), 1);
    let (prefix, attrs) = &at_b[0];
    assert_eq!(*prefix, "10.96.0.10/32".parse::<IpNet>().unwrap());
    assert_eq!(attrs.next_hop, a_ip, "next hop: A's address on the session");
    assert_eq!(attrs.as_path, vec![64512]);
    assert_eq!(attrs.communities, vec![(64512 << 16) | 100]);
    let at_a = wait_for("A to hold B's route", async || {
        let r = received(&ha, b_ip).await;
        (!r.is_empty()).then_some(r)
    })
    .await;
    assert_eq!(at_a[0].0, "10.244.2.0/24".parse::<IpNet>().unwrap());

    let peers = ha.peers().await.unwrap();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].state, State::Established);
    assert_eq!(peers[0].routes_sent, 1);
    assert!(
        peers[0]
            .end_of_rib_received
            .contains(&crate::model::Family::Ip)
    );

    ha.withdraw(vec![route("10.96.0.10/32")]).await.unwrap();
    wait_for("the withdrawal at B", async || {
        received(&hb, a_ip).await.is_empty().then_some(())
    })
    .await;
    assert_eq!(ha.local_routes().await.unwrap().len(), 0);

    a.shutdown(true).await.unwrap();
    let down = wait_for("B to see the session close", async || {
        let p = hb.peers().await.unwrap().pop()?;
        (p.state != State::Established && p.last_down.is_some()).then_some(p.last_down)
    })
    .await;
    assert_eq!(
        down,
        Some(DownReason::ConnectionClosed),
        "graceful: no NOTIFICATION"
    );
    b.shutdown(false).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_routes_over_an_ipv6_session_and_a_removed_peer_gets_cease() {
    let a = Speaker::start(speaker_config(64512, [10, 0, 0, 1], "[::1]:0"))
        .await
        .unwrap();
    let b = Speaker::start(speaker_config(64512, [10, 0, 0, 2], "[::1]:0"))
        .await
        .unwrap();
    let (ha, hb) = (a.handle(), b.handle());
    let lo: IpAddr = "::1".parse().unwrap();
    let mut passive = peer("::1", 64512, port(&a), "::1");
    passive.passive = true;
    hb.set_peer(passive).await.unwrap();
    ha.set_peer(peer("::1", 64512, port(&b), "::1"))
        .await
        .unwrap();
    ha.set_routes(
        [
            (route("2001:db8:96::10/128"), RouteAttrs::default()),
            (route("10.96.0.10/32"), RouteAttrs::default()),
        ]
        .into(),
    )
    .await
    .unwrap();
    let at_b = wait_for("B to hold A's IPv6 route", async || {
        let r = received(&hb, lo).await;
        (!r.is_empty()).then_some(r)
    })
    .await;
    assert_eq!(
        at_b.len(),
        1,
        "no IPv4 next hop on an IPv6 session: the IPv4 route is not sent"
    );
    assert_eq!(at_b[0].0, "2001:db8:96::10/128".parse::<IpNet>().unwrap());
    assert_eq!(at_b[0].1.next_hop, lo);
    assert_eq!(at_b[0].1.local_pref, Some(100), "iBGP");

    assert!(ha.remove_peer(lo).await.unwrap());
    let down = wait_for("B to see the Cease", async || {
        let p = hb.peers().await.unwrap().pop()?;
        p.last_down
    })
    .await;
    assert_eq!(
        down,
        DownReason::NotificationReceived(6, 3),
        "Cease / peer de-configured"
    );
    a.shutdown(false).await.unwrap();
    b.shutdown(false).await.unwrap();
}

#[test]
fn the_blocking_entry_point_works_from_a_plain_thread() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let speaker = rt
        .block_on(Speaker::start(speaker_config(
            64512,
            [10, 0, 0, 1],
            "127.0.0.1:0",
        )))
        .unwrap();
    let h = speaker.handle();
    h.originate(vec![(route("10.96.0.1/32"), RouteAttrs::default())])
        .blocking()
        .unwrap();
    assert_eq!(h.local_routes().blocking().unwrap().len(), 1);
    h.shutdown(false).blocking().unwrap();
    assert!(matches!(h.peers().blocking(), Err(SpeakerError::Stopped)));
}

/// Reads one whole message from a raw socket.
async fn read_message(s: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut header = [0u8; codec::HEADER_LEN];
    s.read_exact(&mut header).await.ok()?;
    let mut frame = header.to_vec();
    frame.resize(codec::frame_len(&header), 0);
    s.read_exact(&mut frame[codec::HEADER_LEN..]).await.ok()?;
    Some(frame)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_update_from_one_peer_never_takes_down_another_session() {
    use tokio::io::AsyncWriteExt;
    let (a, b) = peered_pair().await;
    let (ha, hb) = (a.handle(), b.handle());
    let a_ip: IpAddr = "127.0.0.1".parse().unwrap();
    ha.originate(vec![(route("10.96.0.10/32"), RouteAttrs::default())])
        .await
        .unwrap();
    let mut evil_spec = PeerSpec::new("127.0.0.3".parse().unwrap(), 65001);
    evil_spec.passive = true;
    ha.set_peer(evil_spec).await.unwrap();
    wait_for("B to hold A's route", async || {
        (!received(&hb, a_ip).await.is_empty()).then_some(())
    })
    .await;

    // A hand-written peer: OPEN, KEEPALIVE, then bad UPDATEs.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.3:0".parse().unwrap()).unwrap();
    let mut evil = socket
        .connect(SocketAddr::new(a_ip, port(&a)))
        .await
        .unwrap();
    let open = crate::bgp::fsm_test_util::peer_open(65001, Ipv4Addr::new(10, 0, 0, 3), 90);
    evil.write_all(&open).await.unwrap();
    let from_a = read_message(&mut evil).await.unwrap();
    assert_eq!(from_a[18], 1, "A's OPEN");
    evil.write_all(&crate::bgp::fsm_test_util::frame(
        netgauze_bgp_pkt::BgpMessage::KeepAlive,
    ))
    .await
    .unwrap();
    let from_a = read_message(&mut evil).await.unwrap();
    assert_eq!(from_a[18], 4, "A's KEEPALIVE");

    let treat_as_withdraw = crate::bgp::fsm_test_util::raw_update(9, [127, 0, 0, 3], &[16, 10, 9]);
    evil.write_all(&treat_as_withdraw).await.unwrap();
    let evil_ip: IpAddr = "127.0.0.3".parse().unwrap();
    let status = wait_for("A to take the bad ORIGIN as a withdrawal", async || {
        let peers = ha.peers().await.unwrap();
        let p = peers.into_iter().find(|p| p.spec.address == evil_ip)?;
        (p.updates_received >= 1).then_some(p)
    })
    .await;
    assert_eq!(
        status.state,
        State::Established,
        "treat-as-withdraw keeps the session"
    );
    assert_eq!(status.routes_received, 0);

    let reset = crate::bgp::fsm_test_util::raw_update(0, [127, 0, 0, 3], &[40, 10, 9, 0, 0, 0]);
    evil.write_all(&reset).await.unwrap();
    let notification = loop {
        let m = read_message(&mut evil)
            .await
            .expect("a NOTIFICATION before the close");
        if m[18] == 3 {
            break m;
        }
    };
    assert_eq!(
        (notification[19], notification[20]),
        (3, 10),
        "UPDATE error / invalid network field"
    );
    assert!(read_message(&mut evil).await.is_none(), "then A closes");

    let peers = ha.peers().await.unwrap();
    let with_b = peers.iter().find(|p| p.spec.address != evil_ip).unwrap();
    assert_eq!(
        with_b.state,
        State::Established,
        "the session with B is untouched"
    );
    assert_eq!(received(&hb, a_ip).await.len(), 1);
    a.shutdown(false).await.unwrap();
    b.shutdown(false).await.unwrap();
}
