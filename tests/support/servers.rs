//! Backend servers: a TCP and a UDP server inside a namespace that answer every
//! connection / datagram with their name and a newline ("backend-1\n").
//! Stopped and joined on drop.

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
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
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let reply = format!("{answer}\n").into_bytes();
        let thread_stop = stop.clone();
        let thread = ns_thread::spawn(ns_path, &format!("srv-{answer}"), move || {
            let addr = SocketAddr::from(([0, 0, 0, 0], port));
            match transport {
                Transport::Tcp => serve_tcp(addr, &reply, &thread_stop, ready_tx),
                Transport::Udp => serve_udp(addr, &reply, &thread_stop, ready_tx),
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

fn serve_tcp(
    addr: SocketAddr,
    reply: &[u8],
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
            Ok((mut stream, _)) => {
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
                let _ = stream.write_all(reply);
                // Closing right away gives the client an EOF after the name.
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

fn serve_udp(
    addr: SocketAddr,
    reply: &[u8],
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
            let _ = socket.send_to(reply, peer);
        }
    }
}

/// Starts a TCP and a UDP server on `port` in every pod, answering the pod's name.
pub fn start_in_pods(pods: &[super::topology::Pod], port: u16) -> Vec<EchoServer> {
    pods.iter()
        .flat_map(|pod| {
            [Transport::Tcp, Transport::Udp]
                .map(|t| EchoServer::start(&pod.ns.path(), t, port, &pod.name))
        })
        .collect()
}
