//! Clients that connect from inside a namespace and report who answered, or
//! how the attempt failed (refused vs timed out), within a fixed bound.

use std::collections::BTreeSet;
use std::io::{ErrorKind, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use super::ns_thread;
use super::servers::{Transport, parse_peer_reply};

/// Bound on one attempt (connect, then read the answer).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// Why an attempt got no answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// TCP RST or ICMP port unreachable: what a `reject` produces.
    Refused,
    /// Nothing came back within [`ATTEMPT_TIMEOUT`]: what a `drop` produces.
    Timeout,
    /// Anything else (unreachable host, reset after connect, …), with the error.
    Other(String),
}

/// The answer (trimmed: "backend-1") or why there was none.
pub type Outcome = Result<String, Failure>;

/// One attempt from the namespace at `ns_path` to `addr`.
pub fn request(ns_path: &str, transport: Transport, addr: SocketAddr) -> Outcome {
    requests(ns_path, transport, addr, 1).remove(0)
}

/// `count` sequential attempts from the namespace at `ns_path` to `addr`
/// (each on a fresh socket, so each is a new conntrack entry and a new
/// endpoint choice).
pub fn requests(
    ns_path: &str,
    transport: Transport,
    addr: SocketAddr,
    count: usize,
) -> Vec<Outcome> {
    ns_thread::run(ns_path, move || {
        (0..count)
            .map(|_| match transport {
                Transport::Tcp => tcp_once(addr),
                Transport::Udp => udp_once(addr),
                Transport::Sctp => super::sctp::request(addr, ATTEMPT_TIMEOUT).map_err(classify),
            })
            .collect()
    })
}

/// `count` attempts that must all answer a [`Reply::NameAndPeer`] server;
/// each answer as (backend, peer it saw). Panics naming the failed attempt.
///
/// [`Reply::NameAndPeer`]: super::servers::Reply::NameAndPeer
pub fn peer_answers(
    ns_path: &str,
    transport: Transport,
    addr: SocketAddr,
    count: usize,
) -> Vec<(String, IpAddr)> {
    requests(ns_path, transport, addr, count)
        .into_iter()
        .map(|outcome| {
            let answer = outcome.unwrap_or_else(|e| {
                panic!("{transport:?} {addr} from {ns_path}: no answer: {e:?}")
            });
            parse_peer_reply(&answer)
        })
        .collect()
}

/// `count` attempts that must all succeed; returns the set of backends that
/// answered. Panics with every outcome when one failed.
pub fn backends_answering(
    ns_path: &str,
    transport: Transport,
    addr: SocketAddr,
    count: usize,
) -> BTreeSet<String> {
    let outcomes = requests(ns_path, transport, addr, count);
    assert!(
        outcomes.iter().all(Result::is_ok),
        "{transport:?} {addr} from {ns_path}: not every attempt answered: {outcomes:?}"
    );
    outcomes.into_iter().map(Result::unwrap).collect()
}

fn tcp_once(addr: SocketAddr) -> Outcome {
    let mut stream = TcpStream::connect_timeout(&addr, ATTEMPT_TIMEOUT).map_err(classify)?;
    stream
        .set_read_timeout(Some(ATTEMPT_TIMEOUT))
        .map_err(classify)?;
    let mut answer = String::new();
    // The servers write their name and close: read to EOF.
    stream.read_to_string(&mut answer).map_err(classify)?;
    Ok(answer.trim().to_string())
}

fn udp_once(addr: SocketAddr) -> Outcome {
    let any: SocketAddr = match addr {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(any).map_err(classify)?;
    // Connected, so an ICMP port unreachable surfaces as ECONNREFUSED.
    socket.connect(addr).map_err(classify)?;
    socket
        .set_read_timeout(Some(ATTEMPT_TIMEOUT))
        .map_err(classify)?;
    match socket.send(b"who\n") {
        // Locally originated and dropped by an output-hook rule (`reject` ends
        // in a drop verdict too): the kernel fails send() with EPERM. A reject
        // has also queued its ICMP port unreachable on the socket, which the
        // recv below reports as ECONNREFUSED; a plain drop leaves a timeout.
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {}
        other => {
            other.map_err(classify)?;
        }
    }
    let mut buf = [0u8; 1500];
    let n = socket.recv(&mut buf).map_err(classify)?;
    Ok(String::from_utf8_lossy(&buf[..n]).trim().to_string())
}

fn classify(e: std::io::Error) -> Failure {
    match e.kind() {
        ErrorKind::ConnectionRefused => Failure::Refused,
        ErrorKind::TimedOut | ErrorKind::WouldBlock => Failure::Timeout,
        _ => Failure::Other(e.to_string()),
    }
}

/// Makes `attempts` requests and asserts that every answer came from
/// `allowed` and that more than one backend answered (random endpoint choice).
pub fn assert_spread(
    ns_path: &str,
    transport: Transport,
    addr: SocketAddr,
    allowed: &[&str],
    attempts: usize,
) {
    let seen = backends_answering(ns_path, transport, addr, attempts);
    let allowed: std::collections::BTreeSet<String> =
        allowed.iter().map(|b| b.to_string()).collect();
    assert!(
        seen.is_subset(&allowed),
        "{transport:?} {addr} from {ns_path}: answers {seen:?} not all from {allowed:?}"
    );
    assert!(
        seen.len() > 1,
        "{transport:?} {addr} from {ns_path}: only {seen:?} answered {attempts} attempts"
    );
}
