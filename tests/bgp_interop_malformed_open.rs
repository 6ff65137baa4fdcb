//! A hand-written peer (raw TCP, every octet written here) that sends a
//! malformed or unacceptable OPEN gets the NOTIFICATION RFC 4271 section
//! 6.1/6.2 names (code, subcode and, where the RFC defines it, data), then
//! the close; meanwhile kroute's speaker keeps its session with another
//! speaker up and its route in place, and a well-formed OPEN from the same
//! address is accepted afterwards. Capabilities kroute does not know, and
//! an OPEN without any (a plain RFC 4271 speaker), are accepted: RFC 5492
//! says to ignore unknown capabilities, and kroute requires none (so it
//! never sends Unsupported Capability, 2/7).
//!
//! In-process over loopback (no namespaces, no root): runs everywhere.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use kroute::bgp::fsm::{DownReason, State};
use kroute::bgp::{OriginatedRoute, PeerSpec, RouteAttrs, Speaker, SpeakerConfig, SpeakerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const LOCAL_ASN: u32 = 64512;
const LOCAL_ID: [u8; 4] = [10, 0, 0, 1];
/// The ASN every hand-written peer is configured with (eBGP).
const PEER_ASN: u16 = 65001;
const HEADER_LEN: usize = 19;
const OPEN: u8 = 1;
const NOTIFICATION: u8 = 3;
const KEEPALIVE: u8 = 4;
/// Bound on every read and wait (a failure bound, not a speed claim).
const BOUND: Duration = Duration::from_secs(10);

/// A header: marker, length, type.
fn header(len: usize, kind: u8) -> Vec<u8> {
    let mut h = vec![0xff; 16];
    h.extend(u16::try_from(len).expect("length fits").to_be_bytes());
    h.push(kind);
    h
}

/// A message of `kind` around `body`, its length field right.
fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = header(HEADER_LEN + body.len(), kind);
    m.extend_from_slice(body);
    m
}

/// Optional parameter type 2: capabilities MP IPv4 and IPv6 unicast and
/// 4-octet AS `asn4`, then `extra` (more capabilities, as `code, len, ..`).
fn capabilities(asn4: u32, extra: &[u8]) -> Vec<u8> {
    let mut caps = vec![1, 4, 0, 1, 0, 1, 1, 4, 0, 2, 0, 1, 65, 4];
    caps.extend(asn4.to_be_bytes());
    caps.extend_from_slice(extra);
    let mut param = vec![2, u8::try_from(caps.len()).expect("short")];
    param.extend(caps);
    param
}

/// An OPEN body: version, My AS, hold time, BGP identifier, parameters.
fn open_body(version: u8, my_as: u16, hold: u16, id: [u8; 4], params: &[u8]) -> Vec<u8> {
    let mut b = vec![version];
    b.extend(my_as.to_be_bytes());
    b.extend(hold.to_be_bytes());
    b.extend(id);
    b.push(u8::try_from(params.len()).expect("short"));
    b.extend_from_slice(params);
    b
}

/// A well-formed OPEN but for the fields a case changes.
fn open(version: u8, my_as: u16, hold: u16, id: [u8; 4], params: &[u8]) -> Vec<u8> {
    message(OPEN, &open_body(version, my_as, hold, id, params))
}

fn good_params() -> Vec<u8> {
    capabilities(u32::from(PEER_ASN), &[])
}

/// What the speaker must answer.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// This NOTIFICATION (code, subcode, and data when the RFC defines it),
    /// then the close.
    Notification(u8, u8, Option<Vec<u8>>),
    /// KEEPALIVE: the OPEN is accepted and the session comes up.
    Accepted,
}

struct Case {
    name: &'static str,
    /// The peer's configured ASN (eBGP unless it is ours).
    asn: u32,
    /// What the peer sends instead of its OPEN.
    sends: Vec<u8>,
    answer: Answer,
}

fn cases() -> Vec<Case> {
    let peer = u32::from(PEER_ASN);
    let id = [10, 0, 0, 9];
    let good = good_params();
    let n =
        |code, sub, data: Option<&[u8]>| Answer::Notification(code, sub, data.map(<[u8]>::to_vec));
    let mut bad_marker = open(4, PEER_ASN, 90, id, &good);
    bad_marker[7] = 0;
    let mut long = header(4097, OPEN);
    long.resize(4097, 0);
    vec![
        Case {
            name: "version 3: unsupported version, data = our version (4)",
            asn: peer,
            sends: open(3, PEER_ASN, 90, id, &good),
            answer: n(2, 1, Some(&[0, 4])),
        },
        Case {
            name: "version 5: unsupported version, data = the largest we support below it (4)",
            asn: peer,
            sends: open(5, PEER_ASN, 90, id, &good),
            answer: n(2, 1, Some(&[0, 4])),
        },
        Case {
            name: "My AS not the configured ASN: bad peer AS",
            asn: peer,
            sends: open(4, 65009, 90, id, &capabilities(65009, &[])),
            answer: n(2, 2, None),
        },
        Case {
            name: "4-octet AS capability not the configured ASN (My AS = AS_TRANS): bad peer AS",
            asn: peer,
            sends: open(4, 23456, 90, id, &capabilities(4_200_000_001, &[])),
            answer: n(2, 2, None),
        },
        Case {
            name: "BGP identifier 0.0.0.0: bad BGP identifier",
            asn: peer,
            sends: open(4, PEER_ASN, 90, [0, 0, 0, 0], &good),
            answer: n(2, 3, None),
        },
        Case {
            name: "BGP identifier 255.255.255.255: bad BGP identifier",
            asn: peer,
            sends: open(4, PEER_ASN, 90, [255, 255, 255, 255], &good),
            answer: n(2, 3, None),
        },
        Case {
            name: "BGP identifier multicast: bad BGP identifier",
            asn: peer,
            sends: open(4, PEER_ASN, 90, [224, 0, 0, 5], &good),
            answer: n(2, 3, None),
        },
        Case {
            name: "iBGP peer with our own BGP identifier: bad BGP identifier",
            asn: LOCAL_ASN,
            sends: open(
                4,
                u16::try_from(LOCAL_ASN).expect("2-octet"),
                90,
                LOCAL_ID,
                &capabilities(LOCAL_ASN, &[]),
            ),
            answer: n(2, 3, None),
        },
        Case {
            name: "hold time 1: unacceptable hold time",
            asn: peer,
            sends: open(4, PEER_ASN, 1, id, &good),
            answer: n(2, 6, None),
        },
        Case {
            name: "hold time 2: unacceptable hold time",
            asn: peer,
            sends: open(4, PEER_ASN, 2, id, &good),
            answer: n(2, 6, None),
        },
        Case {
            name: "optional parameter type 1 (authentication): unsupported optional parameter",
            asn: peer,
            sends: open(4, PEER_ASN, 90, id, &[1, 2, 0xaa, 0xbb]),
            answer: n(2, 4, None),
        },
        Case {
            name: "marker with a zero octet: connection not synchronized",
            asn: peer,
            sends: bad_marker,
            answer: n(1, 1, None),
        },
        Case {
            name: "length 18, below the header: bad message length, data = the length",
            asn: peer,
            sends: header(18, OPEN),
            answer: n(1, 2, Some(&[0, 18])),
        },
        Case {
            name: "length 4097, above 4096: bad message length, data = the length",
            asn: peer,
            sends: long,
            answer: n(1, 2, Some(&[0x10, 0x01])),
        },
        Case {
            name: "message type 7: bad message type, data = the type",
            asn: peer,
            sends: message(7, &[0; 4]),
            answer: n(1, 3, Some(&[7])),
        },
        Case {
            name: "KEEPALIVE instead of OPEN: FSM error in OpenSent (RFC 6608)",
            asn: peer,
            sends: message(KEEPALIVE, &[]),
            answer: n(5, 1, None),
        },
        Case {
            name: "an unknown capability (code 238) is ignored (RFC 5492)",
            asn: peer,
            sends: open(4, PEER_ASN, 90, id, &capabilities(peer, &[238, 2, 1, 2])),
            answer: Answer::Accepted,
        },
        Case {
            name: "no capabilities at all (an RFC 4271 speaker): accepted",
            asn: peer,
            sends: open(4, PEER_ASN, 90, id, &[]),
            answer: Answer::Accepted,
        },
    ]
}

fn speaker_config(asn: u32, id: [u8; 4], listen: &str) -> SpeakerConfig {
    SpeakerConfig {
        asn,
        router_id: id.into(),
        listen: vec![listen.parse().expect("listen address")],
        graceful_restart: None,
        connect_retry: Duration::from_secs(1),
        wait_for_routes: false,
    }
}

fn port(s: &Speaker) -> u16 {
    s.listen_addrs()
        .first()
        .map(SocketAddr::port)
        .expect("listening")
}

/// Reads one whole message, `None` at the close (or after [`BOUND`]).
async fn read_message(s: &mut TcpStream) -> Option<Vec<u8>> {
    tokio::time::timeout(BOUND, async {
        let mut m = vec![0u8; HEADER_LEN];
        s.read_exact(&mut m).await.ok()?;
        let len = usize::from(u16::from_be_bytes([m[16], m[17]])).max(HEADER_LEN);
        m.resize(len, 0);
        s.read_exact(&mut m[HEADER_LEN..]).await.ok()?;
        Some(m)
    })
    .await
    .ok()
    .flatten()
}

/// Polls `check` until it holds, for [`BOUND`] at most.
async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + BOUND;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn state_of(h: &SpeakerHandle, address: IpAddr) -> Option<(State, Option<DownReason>)> {
    let peers = h.peers().await.expect("speaker answers");
    let p = peers.into_iter().find(|p| p.spec.address == address)?;
    Some((p.state, p.last_down))
}

/// Connects from `from` to the speaker at `to`, reads its OPEN, sends
/// `bytes`, and returns what the speaker answered.
async fn exchange(from: IpAddr, to: SocketAddr, bytes: &[u8]) -> (Answer, TcpStream) {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::new(from, 0)).expect("bind");
    let mut s = socket.connect(to).await.expect("connect to the speaker");
    let theirs = read_message(&mut s).await.expect("the speaker's OPEN");
    assert_eq!(theirs[18], OPEN, "the speaker opens first: {theirs:?}");
    s.write_all(bytes).await.expect("send");
    let reply = read_message(&mut s).await.expect("an answer");
    let answer = match reply[18] {
        NOTIFICATION => {
            let data = reply[21..].to_vec();
            Answer::Notification(reply[19], reply[20], Some(data))
        }
        KEEPALIVE => Answer::Accepted,
        other => panic!("unexpected message type {other}: {reply:?}"),
    };
    (answer, s)
}

/// `got` matches `want` (data compared only where `want` names it).
fn matches(got: &Answer, want: &Answer) -> bool {
    match (got, want) {
        (Answer::Notification(c, s, d), Answer::Notification(wc, ws, wd)) => {
            (c, s) == (wc, ws) && (wd.is_none() || wd == d)
        }
        (a, b) => a == b,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_open_gets_the_right_notification_and_the_other_session_stays_up() {
    let a = Speaker::start(speaker_config(LOCAL_ASN, LOCAL_ID, "127.0.0.1:0"))
        .await
        .expect("speaker A");
    let b = Speaker::start(speaker_config(64513, [10, 0, 0, 2], "127.0.0.2:0"))
        .await
        .expect("speaker B");
    let (ha, hb) = (a.handle(), b.handle());
    let (a_ip, b_ip): (IpAddr, IpAddr) =
        ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
    let peer = |address: IpAddr, asn: u32, port: u16, local: IpAddr| PeerSpec {
        port,
        local_address: Some(local),
        ..PeerSpec::new(address, asn)
    };
    ha.set_peer(peer(b_ip, 64513, port(&b), a_ip))
        .await
        .unwrap();
    hb.set_peer(peer(a_ip, LOCAL_ASN, port(&a), b_ip))
        .await
        .unwrap();
    let tagged = OriginatedRoute {
        prefix: "10.96.0.10/32".parse().unwrap(),
    };
    ha.originate(vec![(tagged, RouteAttrs::default())])
        .await
        .unwrap();
    let b_holds = async || {
        let r = hb.peer_routes(a_ip).await.unwrap().unwrap_or_default();
        (r.received.len() == 1).then_some(())
    };
    eventually("B to hold A's route", b_holds).await;

    let to = SocketAddr::new(a_ip, port(&a));
    let cases = cases();
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let from: IpAddr = format!("127.0.1.{}", i + 1).parse().unwrap();
        let mut spec = PeerSpec::new(from, case.asn);
        spec.passive = true;
        ha.set_peer(spec).await.unwrap();
        let (got, mut s) = exchange(from, to, &case.sends).await;
        if !matches(&got, &case.answer) {
            failures.push(format!(
                "{}: wanted {:?}, got {got:?}",
                case.name, case.answer
            ));
            continue;
        }
        match &case.answer {
            Answer::Notification(code, sub, _) => {
                assert!(
                    read_message(&mut s).await.is_none(),
                    "{}: the speaker closes after its NOTIFICATION",
                    case.name
                );
                let down = eventually("the session to be down", async || {
                    state_of(&ha, from)
                        .await
                        .filter(|(st, d)| *st != State::Established && d.is_some())
                })
                .await;
                assert_eq!(
                    down.1,
                    Some(DownReason::NotificationSent(*code, *sub)),
                    "{}: kroute's own record of it",
                    case.name
                );
            }
            Answer::Accepted => {
                s.write_all(&message(KEEPALIVE, &[])).await.unwrap();
                eventually("the session to come up", async || {
                    state_of(&ha, from)
                        .await
                        .filter(|(st, _)| *st == State::Established)
                })
                .await;
            }
        }
        let (with_b, _) = state_of(&ha, b_ip).await.expect("B is a peer");
        assert_eq!(
            with_b,
            State::Established,
            "{}: the session with B stays up",
            case.name
        );
    }
    assert!(
        failures.is_empty(),
        "wrong answers:\n{}",
        failures.join("\n")
    );

    // The first case's address, well-formed this time: served as usual.
    let again: IpAddr = "127.0.1.1".parse().unwrap();
    let (got, _s) = exchange(
        again,
        to,
        &open(4, PEER_ASN, 90, [10, 0, 0, 9], &good_params()),
    )
    .await;
    assert_eq!(got, Answer::Accepted, "a good OPEN after a bad one");
    eventually("B still to hold A's route", b_holds).await;
    a.shutdown(false).await.unwrap();
    b.shutdown(false).await.unwrap();
}
