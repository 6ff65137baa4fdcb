//! The options on real sockets: TTL, hop limit and minimum TTL read back
//! with getsockopt; MD5 (which the kernel does not read back) by what it
//! does over loopback: a connection whose key matches the listener's for
//! that address is accepted, one with another key or none never is, on an
//! IPv4 listener and on a dual-stack one (the v4-mapped key).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};

use super::*;

const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

#[test]
fn ttl_is_set_on_both_families_and_read_back() {
    let v4 = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    set_ttl(&v4, LOOPBACK, 1).unwrap();
    assert_eq!(v4.ttl_v4().unwrap(), 1);

    // An IPv6 socket may carry IPv4 (v4-mapped): both are set.
    let v6 = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::STREAM, None).unwrap();
    set_ttl(&v6, "2001:db8::1".parse().unwrap(), 7).unwrap();
    assert_eq!(v6.unicast_hops_v6().unwrap(), 7);
    assert_eq!(v6.ttl_v4().unwrap(), 7);
}

#[test]
fn min_ttl_is_set_on_both_families_and_read_back() {
    let v4 = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    set_min_ttl(&v4, LOOPBACK, 254).unwrap();
    assert_eq!(
        get_int(&v4, libc::IPPROTO_IP, libc::IP_MINTTL).unwrap(),
        254
    );
    set_min_ttl(&v4, LOOPBACK, 0).unwrap();
    assert_eq!(get_int(&v4, libc::IPPROTO_IP, libc::IP_MINTTL).unwrap(), 0);

    let v6 = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::STREAM, None).unwrap();
    set_min_ttl(&v6, "2001:db8::1".parse().unwrap(), 255).unwrap();
    let hops = get_int(&v6, libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT).unwrap();
    assert_eq!(hops, 255);
    assert_eq!(
        get_int(&v6, libc::IPPROTO_IP, libc::IP_MINTTL).unwrap(),
        255
    );
}

#[test]
fn a_key_too_long_is_refused_without_showing_it() {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let key = "k".repeat(MAX_KEY_LEN + 1);
    let err = set_md5_key(&s, LOOPBACK, Some(key.as_bytes())).unwrap_err();
    assert!(matches!(err, SocketOptError::KeyTooLong { len: 81, .. }));
    let text = err.to_string();
    assert!(text.contains("127.0.0.1") && text.contains("81"), "{text}");
    assert!(!text.contains("kkk"), "the key is never shown: {text}");
    // The longest key the kernel takes is taken.
    let key = "k".repeat(MAX_KEY_LEN);
    set_md5_key(&s, LOOPBACK, Some(key.as_bytes())).unwrap();
}

#[test]
fn removing_an_absent_key_and_an_ipv6_peer_on_an_ipv4_socket_are_no_ops() {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    set_md5_key(&s, LOOPBACK, None).unwrap();
    set_md5_key(&s, LOOPBACK, Some(b"")).unwrap();
    set_md5_key(&s, "2001:db8::1".parse().unwrap(), Some(b"secret")).unwrap();
    set_md5_key(&s, LOOPBACK, Some(b"secret")).unwrap();
    set_md5_key(&s, LOOPBACK, None).unwrap();
}

/// Connects from 127.0.0.1 to 127.0.0.1 at `listener`'s port with `key`; whether the listener
/// accepted within a second (a dropped SYN is retried for longer).
async fn connects(listener: &TcpListener, key: Option<&[u8]>) -> bool {
    let to = listener.local_addr().unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(LOOPBACK, 0)).unwrap();
    if let Some(k) = key {
        set_md5_key(&socket, LOOPBACK, Some(k)).unwrap();
    }
    // 127.0.0.1 is on both listeners (the dual-stack one as ::ffff:127.0.0.1).
    let target = SocketAddr::new(LOOPBACK, to.port());
    let both = async {
        let (c, a) = tokio::join!(socket.connect(target), listener.accept());
        c.is_ok() && a.is_ok()
    };
    tokio::time::timeout(Duration::from_secs(1), both)
        .await
        .unwrap_or(false)
}

async fn md5_gates_connections(listen: &str) {
    let listener = TcpListener::bind(listen).await.unwrap();
    assert!(connects(&listener, None).await, "no key set: plain TCP");
    set_md5_key(&listener, LOOPBACK, Some(b"right")).unwrap();
    assert!(connects(&listener, Some(b"right")).await, "same key");
    assert!(!connects(&listener, Some(b"wrong")).await, "another key");
    assert!(!connects(&listener, None).await, "no key");
    set_md5_key(&listener, LOOPBACK, None).unwrap();
    assert!(connects(&listener, None).await, "key removed: plain TCP");
}

#[tokio::test]
async fn md5_on_an_ipv4_listener_admits_only_the_same_key() {
    md5_gates_connections("127.0.0.1:0").await;
}

#[tokio::test]
async fn md5_on_a_dual_stack_listener_uses_the_v4_mapped_address() {
    md5_gates_connections("[::]:0").await;
}
