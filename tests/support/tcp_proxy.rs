//! A TCP forwarder inside a network namespace, between kroute and the API
//! server, so a test can cut kroute's watches (connections closed, new ones
//! accepted) or take the API server away from kroute alone (every connection
//! refused) while kubectl keeps talking to the server directly.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::netns::NetNs;
use super::ns_thread;

#[derive(Default)]
struct State {
    paused: AtomicBool,
    stopped: AtomicBool,
    open: Mutex<Vec<TcpStream>>,
}

impl State {
    fn close_all(&self) {
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// Forwards `127.0.0.1:port()` to `127.0.0.1:target` inside a namespace.
pub struct TcpProxy {
    port: u16,
    ns_path: String,
    state: Arc<State>,
}

impl TcpProxy {
    pub fn start(ns: &NetNs, target: u16) -> TcpProxy {
        let state = Arc::new(State::default());
        let (tx, rx) = std::sync::mpsc::channel();
        let st = state.clone();
        ns_thread::spawn(&ns.path(), "tcp-proxy", move || {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
            tx.send(listener.local_addr().unwrap().port()).unwrap();
            for conn in listener.incoming() {
                if st.stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = conn else { continue };
                if st.paused.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(upstream) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                {
                    let mut open = st.open.lock().unwrap();
                    open.push(client.try_clone().unwrap());
                    open.push(upstream.try_clone().unwrap());
                }
                pipe(client.try_clone().unwrap(), upstream.try_clone().unwrap());
                pipe(upstream, client);
            }
        });
        let port = rx.recv().expect("proxy listening");
        TcpProxy {
            port,
            ns_path: ns.path(),
            state,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Closes every open connection; new ones are accepted.
    pub fn cut(&self) {
        self.state.close_all();
    }

    /// Closes every connection and refuses new ones until `resume`.
    pub fn pause(&self) {
        self.state.paused.store(true, Ordering::SeqCst);
        self.state.close_all();
    }

    pub fn resume(&self) {
        self.state.paused.store(false, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.state.stopped.store(true, Ordering::SeqCst);
        self.state.close_all();
        // Wake the accept loop so its thread ends.
        let port = self.port;
        let _ = ns_thread::spawn(&self.ns_path, "tcp-proxy-stop", move || {
            let _ = TcpStream::connect(("127.0.0.1", port));
        })
        .join();
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16384];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}
