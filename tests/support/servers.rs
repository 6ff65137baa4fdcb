//! Backend servers: a TCP and a UDP server inside a namespace that answer every
//! connection / datagram with their name and a newline ("backend-1\n"), or
//! with their name and the peer address they saw ("backend-1 192.168.50.2\n").
//! They listen on both families. Stopped and joined on drop.

use std::io::{ErrorKind, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::ns_thread;

/// How often the server threads look at the stop flag; bounds how long drop waits.
const POLL: Duration = Duration::from_millis(20);

/// Which transport a server or client uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
    /// SCTP over raw sockets (see `sctp`): this kernel has no SCTP stack.
    Sctp,
}

/// What a server answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Its name: "backend-1".
    Name,
    /// Its name and the source address of the connection / datagram as the
    /// backend saw it (after any NAT): "backend-1 192.168.50.2".
    NameAndPeer,
}

/// Splits a [`Reply::NameAndPeer`] answer into the backend and the peer it saw.
pub fn parse_peer_reply(answer: &str) -> (String, IpAddr) {
    let (name, peer) = answer
        .split_once(' ')
        .unwrap_or_else(|| panic!("not a name-and-peer answer: {answer:?}"));
    let peer = peer
        .parse()
        .unwrap_or_else(|e| panic!("bad peer address in {answer:?}: {e}"));
    (name.to_string(), peer)
}

/// A running server thread; stops and joins on drop.
pub struct EchoServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub transport: Transport,
    pub port: u16,
}

impl EchoServer {
    /// Starts a server in the namespace at `ns_path`, bound to 0.0.0.0:`port`;
    /// returns once it is listening (panics if it cannot bind).
    pub fn start(ns_path: &str, transport: Transport, port: u16, answer: &str) -> EchoServer {
        EchoServer::start_with(ns_path, transport, port, answer, Reply::Name)
    }

    /// Like [`EchoServer::start`], answering as `reply` says.
    pub fn start_with(
        ns_path: &str,
        transport: Transport,
        port: u16,
        answer: &str,
        reply: Reply,
    ) -> EchoServer {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let reply = Answer {
            name: answer.to_string(),
            reply,
        };
        let thread_stop = stop.clone();
        let thread = ns_thread::spawn(ns_path, &format!("srv-{answer}"), move || {
            // `[::]` without IPV6_V6ONLY (Linux default) takes IPv4 too.
            let addr = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
            match transport {
                Transport::Tcp => serve_tcp(addr, &reply, &thread_stop, ready_tx),
                Transport::Udp => serve_udp(addr, &reply, &thread_stop, ready_tx),
                Transport::Sctp => super::sctp::serve(
                    port,
                    |peer| reply.to(SocketAddr::new(peer, 0)),
                    || thread_stop.load(Ordering::SeqCst),
                    |r| {
                        let _ = ready_tx.send(r.map_err(|e| e.to_string()));
                    },
                    POLL,
                ),
            }
        });
        let bound = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|e| Err(format!("server thread did not report: {e}")));
        let server = EchoServer {
            stop,
            thread: Some(thread),
            transport,
            port,
        };
        if let Err(e) = bound {
            panic!("{transport:?} server {answer} on port {port} in {ns_path}: {e}");
        }
        server
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What one server answers to `peer`.
struct Answer {
    name: String,
    reply: Reply,
}

impl Answer {
    fn to(&self, peer: SocketAddr) -> Vec<u8> {
        match self.reply {
            Reply::Name => format!("{}\n", self.name),
            // IPv4 peers arrive as `::ffff:a.b.c.d` on the dual-stack socket.
            Reply::NameAndPeer => format!("{} {}\n", self.name, peer.ip().to_canonical()),
        }
        .into_bytes()
    }
}

fn serve_tcp(
    addr: SocketAddr,
    reply: &Answer,
    stop: &AtomicBool,
    ready: mpsc::Sender<Result<(), String>>,
) {
    let listener = match TcpListener::bind(addr).and_then(|l| {
        // Non-blocking so the loop can notice the stop flag.
        l.set_nonblocking(true)?;
        Ok(l)
    }) {
        Ok(l) => l,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((mut stream, peer)) => {
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
                let _ = stream.write_all(&reply.to(peer));
                // Closing right away gives the client an EOF after the name.
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

fn serve_udp(
    addr: SocketAddr,
    reply: &Answer,
    stop: &AtomicBool,
    ready: mpsc::Sender<Result<(), String>>,
) {
    let socket = match UdpSocket::bind(addr).and_then(|s| {
        s.set_read_timeout(Some(POLL))?;
        Ok(s)
    }) {
        Ok(s) => s,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    let mut buf = [0u8; 1500];
    while !stop.load(Ordering::SeqCst) {
        if let Ok((_, peer)) = socket.recv_from(&mut buf) {
            let _ = socket.send_to(&reply.to(peer), peer);
        }
    }
}

/// Starts a TCP and a UDP server on `port` in every pod, answering the pod's name.
pub fn start_in_pods(pods: &[super::topology::Pod], port: u16) -> Vec<EchoServer> {
    start_in_pods_with(pods, port, Reply::Name)
}

/// Starts a TCP and a UDP server on `port` in every pod, answering as `reply` says.
pub fn start_in_pods_with(
    pods: &[super::topology::Pod],
    port: u16,
    reply: Reply,
) -> Vec<EchoServer> {
    pods.iter()
        .flat_map(|pod| {
            [Transport::Tcp, Transport::Udp]
                .map(|t| EchoServer::start_with(&pod.ns.path(), t, port, &pod.name, reply))
        })
        .collect()
}
