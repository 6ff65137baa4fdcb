//! The speaker's listeners: a task per address accepting connections, and
//! each listener's MD5 keys (RFC 2385), one per peer with a password, set
//! when the peer is added or its password changes and removed with it. A
//! listener with a key for a peer accepts from that address only segments
//! signed with it; connections it accepts inherit the key.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::socket_opts;
use crate::host::bgp::PeerPassword;

/// One listening address.
struct Listening {
    addr: SocketAddr,
    /// The listener's socket (a duplicate of the task's descriptor, the
    /// same socket) for its keys.
    socket: OwnedFd,
    task: JoinHandle<()>,
}

/// The running listeners.
#[derive(Default)]
pub(super) struct Listeners {
    each: Vec<Listening>,
}

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.each.iter().map(|l| l.addr))
            .finish()
    }
}

impl Listeners {
    /// Accepts connections on every listener and hands each to `on_accept`;
    /// fails with the address of a listener that cannot be used.
    pub fn spawn<F>(
        listeners: Vec<(SocketAddr, TcpListener)>,
        on_accept: F,
    ) -> Result<Listeners, (SocketAddr, std::io::Error)>
    where
        F: Fn(TcpStream, SocketAddr) + Clone + Send + 'static,
    {
        let mut each = Vec::new();
        for (addr, listener) in listeners {
            let socket = listener
                .as_fd()
                .try_clone_to_owned()
                .map_err(|e| (addr, e))?;
            let task = tokio::spawn(accept_loop(listener, on_accept.clone()));
            each.push(Listening { addr, socket, task });
        }
        Ok(Listeners { each })
    }

    /// Sets `peer`'s MD5 key on every listener (`None`: removes it). A
    /// listener that refuses is logged, naming it and the peer (never the
    /// key): that peer's incoming connections there then fail, others are
    /// unaffected.
    pub fn set_key(&self, peer: IpAddr, password: Option<&PeerPassword>) {
        let key = password.map(|p| p.0.as_bytes());
        for l in &self.each {
            if let Err(e) = socket_opts::set_md5_key(&l.socket, peer, key) {
                tracing::warn!(listener = %l.addr, error = %e, "BGP listener: MD5 key not applied");
            }
        }
    }

    /// Stops accepting.
    pub fn abort(&mut self) {
        for l in self.each.drain(..) {
            l.task.abort();
        }
    }
}

async fn accept_loop<F>(listener: TcpListener, on_accept: F)
where
    F: Fn(TcpStream, SocketAddr),
{
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => on_accept(stream, addr),
            Err(e) => {
                tracing::warn!(error = %e, "BGP listener: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
