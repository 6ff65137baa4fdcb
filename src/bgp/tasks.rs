//! The speaker's only I/O, in thin tokio tasks: a listener per address, and
//! per peer one task that owns its pure `Peer`, moves bytes, connection
//! events and timer expiries into it and carries out its actions (connect,
//! send, close, arm timers). Each peer's task is its own: a failure in one
//! never touches another session.
//!
//! Per connection a reader task cuts the stream into messages (the length
//! from the 19-octet header; the FSM checks it) and a writer task writes
//! what the peer task queues, flushing before a close.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::codec::{self, HEADER_LEN, MAX_EXTENDED_LEN};
use super::config::PeerSpec;
use super::fsm::{Action, ConnId, Direction, Event, SessionConfig, StopReason, Timer};
use super::peer::{Input, LocalRoutes, Peer, PeerRoutes, PeerStatus};
use super::socket_opts::{self, SocketOptError};
use crate::host::bgp::PeerPassword;

/// Frames queued from the readers of one peer before they wait (TCP
/// back-pressure on a peer that floods).
const IO_QUEUE: usize = 64;
/// How long a stop waits for NOTIFICATIONs to be flushed.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// What the speaker asks of a peer's task.
pub(super) enum PeerCommand {
    Routes(LocalRoutes),
    Reconfigure(PeerSpec, SessionConfig),
    Accepted(TcpStream),
    Status(oneshot::Sender<PeerStatus>),
    Routes_(oneshot::Sender<PeerRoutes>),
    /// Stop the session (graceful: without NOTIFICATION) and end the task
    /// once what was queued is written.
    Stop {
        graceful: bool,
        reason: StopReason,
        done: oneshot::Sender<()>,
    },
}

/// What the connection tasks report.
enum Io {
    Connected { conn: ConnId, stream: TcpStream },
    ConnectFailed { conn: ConnId },
    Frame { conn: ConnId, frame: Vec<u8> },
    Closed { conn: ConnId },
}

/// One connection's tasks.
struct ConnIo {
    writer: mpsc::UnboundedSender<Vec<u8>>,
    writer_task: JoinHandle<()>,
    reader_task: JoinHandle<()>,
}

/// Starts a peer's task; it starts the session at once.
pub(super) fn spawn_peer(
    peer: Peer,
    commands: mpsc::UnboundedReceiver<PeerCommand>,
) -> JoinHandle<()> {
    let (io_tx, io_rx) = mpsc::channel(IO_QUEUE);
    let task = PeerTask {
        peer,
        io_tx,
        conns: HashMap::new(),
        closing: Vec::new(),
        connecting: None,
        timers: HashMap::new(),
        next_conn: 1,
    };
    tokio::spawn(task.run(commands, io_rx))
}

struct PeerTask {
    peer: Peer,
    io_tx: mpsc::Sender<Io>,
    conns: HashMap<ConnId, ConnIo>,
    /// Writers of closed connections still flushing.
    closing: Vec<JoinHandle<()>>,
    connecting: Option<(ConnId, JoinHandle<()>)>,
    timers: HashMap<Timer, Instant>,
    next_conn: ConnId,
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl PeerTask {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<PeerCommand>,
        mut io_rx: mpsc::Receiver<Io>,
    ) {
        self.input(Input::Session(Event::Start));
        loop {
            let deadline = self.timers.values().min().copied();
            tokio::select! {
                command = commands.recv() => match command {
                    Some(PeerCommand::Stop { graceful, reason, done }) => {
                        self.stop(graceful, reason).await;
                        let _ = done.send(());
                        return;
                    }
                    Some(command) => self.command(command),
                    None => {
                        self.stop(false, StopReason::AdminShutdown).await;
                        return;
                    }
                },
                Some(io) = io_rx.recv() => self.io(io),
                () = sleep_until(deadline) => self.fire_due(),
            }
        }
    }

    fn command(&mut self, command: PeerCommand) {
        match command {
            PeerCommand::Routes(local) => self.input(Input::Routes(local)),
            PeerCommand::Reconfigure(spec, config) => {
                // A new key, TTL or source address needs new connections;
                // the session resets itself only for its own parameters.
                let reset = spec.transport_changed(self.peer.spec())
                    && *self.peer.session().config() == config;
                let actions = self
                    .peer
                    .reconfigure(spec, config, Instant::now().into_std());
                self.execute(actions);
                if reset {
                    self.input(Input::Session(Event::Stop(StopReason::ConfigChange)));
                    self.input(Input::Session(Event::Start));
                }
            }
            PeerCommand::Accepted(stream) => {
                if let Some(stream) = self.admit(stream) {
                    let conn = self.next_id();
                    self.attach(conn, stream, Direction::Incoming);
                }
            }
            PeerCommand::Status(reply) => {
                let _ = reply.send(self.peer.status(Instant::now().into_std()));
            }
            PeerCommand::Routes_(reply) => {
                let _ = reply.send(self.peer.routes());
            }
            // Handled by `run`.
            PeerCommand::Stop { .. } => {}
        }
    }

    async fn stop(&mut self, graceful: bool, reason: StopReason) {
        let event = if graceful {
            Event::StopGraceful
        } else {
            Event::Stop(reason)
        };
        self.input(Input::Session(event));
        let open: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in open {
            self.close(conn);
        }
        for writer in std::mem::take(&mut self.closing) {
            let _ = tokio::time::timeout(FLUSH_TIMEOUT, writer).await;
        }
        if let Some((_, task)) = self.connecting.take() {
            task.abort();
        }
    }

    /// The socket options of this peer's connections: (TTL, GTSM minimum).
    fn ttls(&self) -> (u8, Option<u8>) {
        let spec = self.peer.spec();
        (
            spec.ttl(self.peer.session().config().ibgp()),
            spec.min_ttl(),
        )
    }

    /// An accepted connection, if it reached the local address the peer is
    /// configured with (none: any) and takes its TTL options. Its MD5 key
    /// is the listener's (set by the speaker).
    fn admit(&self, stream: TcpStream) -> Option<TcpStream> {
        let spec = self.peer.spec();
        let local = stream.local_addr().ok()?.ip().to_canonical();
        if spec.local_address.is_some_and(|want| want != local) {
            tracing::debug!(peer = %spec.address, %local, "BGP connection to another local address than the peer's refused");
            return None;
        }
        let (ttl, min_ttl) = self.ttls();
        match set_ttls(&stream, spec.address, ttl, min_ttl) {
            Ok(()) => Some(stream),
            Err(e) => {
                tracing::warn!(error = %e, "BGP connection refused");
                None
            }
        }
    }

    fn next_id(&mut self) -> ConnId {
        let id = self.next_conn;
        self.next_conn += 1;
        id
    }

    fn input(&mut self, input: Input) {
        let actions = self.peer.handle(input, Instant::now().into_std());
        self.execute(actions);
    }

    fn io(&mut self, io: Io) {
        let event = match io {
            Io::Connected { conn, stream } => {
                if self.connecting.as_ref().is_some_and(|(c, _)| *c == conn) {
                    self.connecting = None;
                    self.attach(conn, stream, Direction::Outgoing);
                }
                return;
            }
            Io::ConnectFailed { conn } => {
                if self.connecting.as_ref().is_none_or(|(c, _)| *c != conn) {
                    return;
                }
                self.connecting = None;
                Event::TcpFailed
            }
            Io::Frame { conn, frame } if self.conns.contains_key(&conn) => {
                Event::Received { conn, frame }
            }
            Io::Closed { conn } => match self.conns.remove(&conn) {
                Some(_) => Event::TcpClosed { conn },
                None => return,
            },
            Io::Frame { .. } => return,
        };
        self.input(Input::Session(event));
    }

    fn fire_due(&mut self) {
        let now = Instant::now();
        let mut due: Vec<(Timer, Instant)> = self
            .timers
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(t, at)| (*t, *at))
            .collect();
        due.sort_by_key(|(_, at)| *at);
        for (timer, _) in due {
            self.timers.remove(&timer);
            self.input(Input::Session(Event::TimerFired(timer)));
        }
    }

    /// Starts the reader and writer of a connection and tells the session.
    fn attach(&mut self, conn: ConnId, stream: TcpStream, dir: Direction) {
        let local = match stream.local_addr() {
            Ok(a) => a.ip().to_canonical(),
            Err(_) => return,
        };
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let (writer, writer_rx) = mpsc::unbounded_channel();
        self.conns.insert(
            conn,
            ConnIo {
                writer,
                writer_task: tokio::spawn(write_loop(write, writer_rx)),
                reader_task: tokio::spawn(read_loop(conn, read, self.io_tx.clone())),
            },
        );
        self.input(Input::Session(Event::TcpConnected { conn, dir, local }));
    }

    fn connect(&mut self) {
        let conn = self.next_id();
        let spec = self.peer.spec();
        let remote = SocketAddr::new(spec.address, spec.port);
        let local = spec.local_address;
        let password = spec.password.clone();
        let (ttl, min_ttl) = self.ttls();
        let tx = self.io_tx.clone();
        let task = tokio::spawn(async move {
            let socket = outgoing(remote, local, password.as_ref(), ttl, min_ttl);
            let io = match socket {
                Ok(socket) => match socket.connect(remote).await {
                    Ok(stream) => Io::Connected { conn, stream },
                    Err(e) => {
                        tracing::debug!(peer = %remote, error = %e, "BGP connect failed");
                        Io::ConnectFailed { conn }
                    }
                },
                Err(e) => {
                    tracing::warn!(peer = %remote, error = %e, "BGP connect failed");
                    Io::ConnectFailed { conn }
                }
            };
            let _ = tx.send(io).await;
        });
        self.connecting = Some((conn, task));
    }

    fn execute(&mut self, actions: Vec<Action>) {
        // Consecutive messages to one connection go out in one write.
        let mut batch: Option<(ConnId, Vec<u8>)> = None;
        for action in actions {
            if !matches!(action, Action::Send { .. }) {
                self.flush(batch.take());
            }
            match action {
                Action::Connect => self.connect(),
                Action::CancelConnect => {
                    if let Some((_, task)) = self.connecting.take() {
                        task.abort();
                    }
                }
                Action::Send { conn, message } => {
                    if batch.as_ref().is_some_and(|(c, _)| *c != conn) {
                        self.flush(batch.take());
                    }
                    let (_, bytes) = batch.get_or_insert_with(|| (conn, Vec::new()));
                    if let Err(e) = codec::encode_into(&message, MAX_EXTENDED_LEN, bytes) {
                        tracing::warn!(peer = %self.peer.spec().address, error = %e, "BGP message not sent");
                    }
                }
                Action::Close { conn } => self.close(conn),
                Action::ArmTimer { timer, at } => {
                    self.timers.insert(timer, Instant::from_std(at));
                }
                Action::CancelTimer(timer) => {
                    self.timers.remove(&timer);
                }
                Action::SessionUp(up) => tracing::info!(
                    peer = %self.peer.spec().address,
                    hold_time = up.negotiated.hold_time,
                    families = ?up.negotiated.families,
                    "BGP session established"
                ),
                Action::SessionDown(reason) => tracing::info!(
                    peer = %self.peer.spec().address,
                    ?reason,
                    "BGP session down"
                ),
                Action::Update(update) => {
                    for p in &update.problems {
                        tracing::warn!(
                            peer = %self.peer.spec().address,
                            attribute = ?p.attr_type,
                            outcome = ?p.outcome,
                            detail = %p.detail,
                            "malformed UPDATE (RFC 7606)"
                        );
                    }
                }
                Action::RouteRefresh(_) => {}
            }
        }
        self.flush(batch);
    }

    fn close(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            c.reader_task.abort();
            // Dropping the sender ends the writer once it has written what
            // is queued; it then shuts the socket down.
            drop(c.writer);
            self.closing.retain(|w| !w.is_finished());
            self.closing.push(c.writer_task);
        }
    }

    fn flush(&mut self, batch: Option<(ConnId, Vec<u8>)>) {
        if let Some((conn, bytes)) = batch
            && let Some(c) = self.conns.get(&conn)
        {
            let _ = c.writer.send(bytes);
        }
    }
}

/// Why an outgoing socket could not be made.
#[derive(Debug, thiserror::Error)]
enum ConnectError {
    #[error("cannot make the socket: {0}")]
    Socket(#[from] std::io::Error),
    #[error(transparent)]
    Option(#[from] SocketOptError),
}

/// The TTL options of a peer's connection.
fn set_ttls(
    socket: &impl AsFd,
    peer: IpAddr,
    ttl: u8,
    min_ttl: Option<u8>,
) -> Result<(), SocketOptError> {
    socket_opts::set_ttl(socket, peer, ttl)?;
    match min_ttl {
        Some(min) => socket_opts::set_min_ttl(socket, peer, min),
        None => Ok(()),
    }
}

/// An outgoing socket to `remote`, bound to `local` when given, with the
/// peer's MD5 key and TTL options set before it connects.
fn outgoing(
    remote: SocketAddr,
    local: Option<IpAddr>,
    password: Option<&PeerPassword>,
    ttl: u8,
    min_ttl: Option<u8>,
) -> Result<TcpSocket, ConnectError> {
    let socket = match remote {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    if let Some(ip) = local {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    if let Some(p) = password {
        socket_opts::set_md5_key(&socket, remote.ip(), Some(p.0.as_bytes()))?;
    }
    set_ttls(&socket, remote.ip(), ttl, min_ttl)?;
    Ok(socket)
}

/// Reads one whole message: the header, then the rest of the length it
/// announces.
async fn read_frame(r: &mut BufReader<OwnedReadHalf>) -> std::io::Result<Vec<u8>> {
    let mut header = [0u8; HEADER_LEN];
    r.read_exact(&mut header).await?;
    let len = codec::frame_len(&header);
    let mut frame = Vec::with_capacity(len);
    frame.extend_from_slice(&header);
    frame.resize(len, 0);
    if let Some(body) = frame.get_mut(HEADER_LEN..) {
        r.read_exact(body).await?;
    }
    Ok(frame)
}

async fn read_loop(conn: ConnId, read: OwnedReadHalf, tx: mpsc::Sender<Io>) {
    let mut r = BufReader::with_capacity(MAX_EXTENDED_LEN, read);
    loop {
        match read_frame(&mut r).await {
            Ok(frame) => {
                if tx.send(Io::Frame { conn, frame }).await.is_err() {
                    return;
                }
            }
            Err(_) => {
                let _ = tx.send(Io::Closed { conn }).await;
                return;
            }
        }
    }
}

async fn write_loop(mut write: OwnedWriteHalf, mut rx: mpsc::UnboundedReceiver<Vec<u8>>) {
    while let Some(bytes) = rx.recv().await {
        if write.write_all(&bytes).await.is_err() {
            return;
        }
    }
    let _ = write.shutdown().await;
}
