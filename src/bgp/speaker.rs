//! The speaker: its listeners, one task per peer (`tasks.rs`), and the local
//! RIB of originated routes, behind a `SpeakerHandle`. Every call sends a
//! command and returns a `Reply`: `.await` it from async code, or call
//! `.blocking()` from a plain thread (the facet's `HostNetwork::apply` runs
//! in `spawn_blocking`); never `.blocking()` on a runtime thread.

use std::collections::BTreeMap;
use std::future::{Future, IntoFuture};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::config::{PeerSpec, SpeakerConfig};
use super::fsm::StopReason;
use super::listeners::Listeners;
use super::peer::{LocalRib, LocalRoutes, Peer, PeerRoutes, PeerStatus};
use super::tasks::{self, PeerCommand};
use super::{OriginatedRoute, RouteAttrs};

/// How long removing a peer or stopping waits for its task.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);

/// The speaker could not start, or is gone.
#[derive(Debug, thiserror::Error)]
pub enum SpeakerError {
    #[error("BGP: cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("BGP speaker has stopped")]
    Stopped,
}

/// The answer to one call.
#[must_use = "a Reply does nothing until awaited or waited for"]
pub struct Reply<T>(oneshot::Receiver<T>);

impl<T> Reply<T> {
    /// Waits on this thread (not a runtime thread).
    pub fn blocking(self) -> Result<T, SpeakerError> {
        self.0.blocking_recv().map_err(|_| SpeakerError::Stopped)
    }
}

impl<T: Send + 'static> IntoFuture for Reply<T> {
    type Output = Result<T, SpeakerError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move { self.0.await.map_err(|_| SpeakerError::Stopped) })
    }
}

enum Command {
    SetPeer(PeerSpec, oneshot::Sender<()>),
    RemovePeer(IpAddr, oneshot::Sender<bool>),
    SetRoutes(LocalRib, oneshot::Sender<()>),
    Originate(Vec<(OriginatedRoute, RouteAttrs)>, oneshot::Sender<()>),
    Withdraw(Vec<OriginatedRoute>, oneshot::Sender<()>),
    ReleaseTable(oneshot::Sender<()>),
    LocalRib(oneshot::Sender<Arc<LocalRib>>),
    Peers(oneshot::Sender<Vec<PeerStatus>>),
    PeerRoutes(IpAddr, oneshot::Sender<Option<PeerRoutes>>),
    Accepted(TcpStream, SocketAddr),
    Shutdown(bool, oneshot::Sender<()>),
}

/// Calls into a running speaker; cheap to clone.
#[derive(Clone, Debug)]
pub struct SpeakerHandle {
    tx: mpsc::UnboundedSender<Command>,
}

impl SpeakerHandle {
    fn call<T>(&self, command: impl FnOnce(oneshot::Sender<T>) -> Command) -> Reply<T> {
        let (tx, rx) = oneshot::channel();
        // A stopped speaker drops the command, and the reply says Stopped.
        let _ = self.tx.send(command(tx));
        Reply(rx)
    }

    /// Adds a peer, or updates it (a change of session parameters resets
    /// its session with Cease / Other Configuration Change).
    pub fn set_peer(&self, spec: PeerSpec) -> Reply<()> {
        self.call(|r| Command::SetPeer(spec, r))
    }

    /// Removes a peer (Cease / Peer De-configured); false if unknown.
    pub fn remove_peer(&self, address: IpAddr) -> Reply<bool> {
        self.call(|r| Command::RemovePeer(address, r))
    }

    /// Replaces the whole local RIB; peers get the difference.
    pub fn set_routes(&self, routes: LocalRib) -> Reply<()> {
        self.call(|r| Command::SetRoutes(routes, r))
    }

    /// Adds or updates originated routes.
    pub fn originate(&self, routes: Vec<(OriginatedRoute, RouteAttrs)>) -> Reply<()> {
        self.call(|r| Command::Originate(routes, r))
    }

    /// Withdraws originated routes.
    pub fn withdraw(&self, routes: Vec<OriginatedRoute>) -> Reply<()> {
        self.call(|r| Command::Withdraw(routes, r))
    }

    /// Says the local RIB is complete: a speaker started with
    /// `wait_for_routes` sends its peers the table and End-of-RIB from now.
    pub fn release_table(&self) -> Reply<()> {
        self.call(Command::ReleaseTable)
    }

    /// The local RIB (the facet's snapshot).
    pub fn local_routes(&self) -> Reply<Arc<LocalRib>> {
        self.call(Command::LocalRib)
    }

    /// Every peer's session.
    pub fn peers(&self) -> Reply<Vec<PeerStatus>> {
        self.call(Command::Peers)
    }

    /// What was advertised to and received from one peer.
    pub fn peer_routes(&self, address: IpAddr) -> Reply<Option<PeerRoutes>> {
        self.call(|r| Command::PeerRoutes(address, r))
    }

    /// Stops every session (graceful: closed without NOTIFICATION, so peers
    /// keep our routes for the restart time) and the speaker.
    pub fn shutdown(&self, graceful: bool) -> Reply<()> {
        self.call(|r| Command::Shutdown(graceful, r))
    }
}

/// A running speaker.
#[derive(Debug)]
pub struct Speaker {
    handle: SpeakerHandle,
    listening: Vec<SocketAddr>,
    task: JoinHandle<()>,
}

impl Speaker {
    /// Binds the listeners and starts the speaker on the current runtime.
    pub async fn start(config: SpeakerConfig) -> Result<Speaker, SpeakerError> {
        let mut listeners = Vec::new();
        for addr in &config.listen {
            let l = TcpListener::bind(addr)
                .await
                .map_err(|source| SpeakerError::Listen {
                    addr: *addr,
                    source,
                })?;
            listeners.push((l.local_addr().unwrap_or(*addr), l));
        }
        let listening = listeners.iter().map(|(a, _)| *a).collect();
        let (tx, rx) = mpsc::unbounded_channel();
        let accept_tx = tx.clone();
        let listeners = Listeners::spawn(listeners, move |stream, addr| {
            let _ = accept_tx.send(Command::Accepted(stream, addr));
        })
        .map_err(|(addr, source)| SpeakerError::Listen { addr, source })?;
        let actor = Actor {
            local: LocalRoutes {
                routes: Arc::new(LocalRib::new()),
                complete: !config.wait_for_routes,
            },
            config,
            peers: BTreeMap::new(),
            listeners,
        };
        Ok(Speaker {
            handle: SpeakerHandle { tx },
            listening,
            task: tokio::spawn(actor.run(rx)),
        })
    }

    pub fn handle(&self) -> SpeakerHandle {
        self.handle.clone()
    }

    /// The bound listen addresses (port 0 resolved).
    pub fn listen_addrs(&self) -> &[SocketAddr] {
        &self.listening
    }

    /// Stops the speaker and waits for it.
    pub async fn shutdown(self, graceful: bool) -> Result<(), SpeakerError> {
        self.handle.shutdown(graceful).await?;
        self.task.await.map_err(|_| SpeakerError::Stopped)
    }
}

struct PeerEntry {
    spec: PeerSpec,
    tx: mpsc::UnboundedSender<PeerCommand>,
    task: JoinHandle<()>,
}

struct Actor {
    config: SpeakerConfig,
    peers: BTreeMap<IpAddr, PeerEntry>,
    local: LocalRoutes,
    listeners: Listeners,
}

impl Actor {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        while let Some(command) = rx.recv().await {
            if let Command::Shutdown(graceful, done) = command {
                self.shutdown(graceful).await;
                let _ = done.send(());
                return;
            }
            self.command(command).await;
        }
        self.shutdown(false).await;
    }

    async fn command(&mut self, command: Command) {
        match command {
            Command::SetPeer(spec, done) => {
                self.set_peer(spec);
                let _ = done.send(());
            }
            Command::RemovePeer(address, done) => {
                let known = match self.peers.remove(&address) {
                    Some(entry) => {
                        stop(entry, false, StopReason::PeerDeconfigured).await;
                        self.listeners.set_key(address, None);
                        true
                    }
                    None => false,
                };
                let _ = done.send(known);
            }
            Command::SetRoutes(routes, done) => {
                self.routes_changed(|rib| *rib = routes);
                let _ = done.send(());
            }
            Command::Originate(routes, done) => {
                self.routes_changed(|rib| rib.extend(routes));
                let _ = done.send(());
            }
            Command::Withdraw(routes, done) => {
                self.routes_changed(|rib| {
                    for r in &routes {
                        rib.remove(r);
                    }
                });
                let _ = done.send(());
            }
            Command::ReleaseTable(done) => {
                self.local.complete = true;
                self.routes_changed(|_| {});
                let _ = done.send(());
            }
            Command::LocalRib(reply) => {
                let _ = reply.send(Arc::clone(&self.local.routes));
            }
            Command::Peers(reply) => {
                let mut out = Vec::new();
                for entry in self.peers.values() {
                    let (tx, rx) = oneshot::channel();
                    if entry.tx.send(PeerCommand::Status(tx)).is_ok()
                        && let Ok(status) = rx.await
                    {
                        out.push(status);
                    }
                }
                let _ = reply.send(out);
            }
            Command::PeerRoutes(address, reply) => {
                let mut routes = None;
                if let Some(entry) = self.peers.get(&address) {
                    let (tx, rx) = oneshot::channel();
                    if entry.tx.send(PeerCommand::Routes_(tx)).is_ok() {
                        routes = rx.await.ok();
                    }
                }
                let _ = reply.send(routes);
            }
            Command::Accepted(stream, addr) => {
                // A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d.
                match self.peers.get(&addr.ip().to_canonical()) {
                    Some(entry) => {
                        let _ = entry.tx.send(PeerCommand::Accepted(stream));
                    }
                    None => tracing::debug!(%addr, "BGP connection from an unknown peer refused"),
                }
            }
            Command::Shutdown(..) => {}
        }
    }

    fn set_peer(&mut self, spec: PeerSpec) {
        let config = spec.session_config(&self.config);
        let old_key = self.peers.get(&spec.address).map(|e| &e.spec.password);
        if old_key.unwrap_or(&None) != &spec.password {
            self.listeners.set_key(spec.address, spec.password.as_ref());
        }
        if let Some(entry) = self.peers.get_mut(&spec.address) {
            if entry.spec != spec {
                entry.spec = spec.clone();
                let _ = entry.tx.send(PeerCommand::Reconfigure(spec, config));
            }
            return;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let peer = Peer::new(spec.clone(), config, self.local.clone());
        let task = tasks::spawn_peer(peer, rx);
        self.peers
            .insert(spec.address, PeerEntry { spec, tx, task });
    }

    fn routes_changed(&mut self, change: impl FnOnce(&mut LocalRib)) {
        change(Arc::make_mut(&mut self.local.routes));
        for entry in self.peers.values() {
            let _ = entry.tx.send(PeerCommand::Routes(self.local.clone()));
        }
    }

    async fn shutdown(&mut self, graceful: bool) {
        self.listeners.abort();
        let peers = std::mem::take(&mut self.peers);
        let stops = peers
            .into_values()
            .map(|entry| stop(entry, graceful, StopReason::AdminShutdown));
        futures::future::join_all(stops).await;
    }
}

/// Stops a peer's session and waits for its task to end.
async fn stop(entry: PeerEntry, graceful: bool, reason: StopReason) {
    let (done, wait) = oneshot::channel();
    let _ = entry.tx.send(PeerCommand::Stop {
        graceful,
        reason,
        done,
    });
    let _ = tokio::time::timeout(STOP_TIMEOUT, wait).await;
    let _ = tokio::time::timeout(STOP_TIMEOUT, entry.task).await;
}

#[cfg(test)]
#[path = "speaker_tests.rs"]
mod tests;
