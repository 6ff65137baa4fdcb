//! The side servers, each an axum router over a `Telemetry`:
//! - health on `health.address` (default `0.0.0.0:10256`): `/healthz`, `/livez`;
//! - metrics on `metrics.address` (default `127.0.0.1:10249`): `/metrics`;
//! - the admin socket `admin.socket` (default `/run/kroute/kroute.sock`,
//!   mode 0600): HTTP/1.1 over a unix socket, `GET /status` → `StatusDoc`,
//!   `GET /bgp/peers` and `GET /bgp/routes[?peer=IP]` for `kroute bgp`.
//!
//! BGP's answers (and metrics) come from the speaker in a `SpeakerSlot`,
//! asked at each request.
//!
//! They run as tasks beside the loop and only read the telemetry (a short
//! lock), so they never hold the loop up.

pub mod admin;
pub mod bgp_admin;
pub mod bgp_doc;
pub mod bgp_text;
pub mod client;
pub mod health;
pub mod metrics;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::serve::Listener;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::bgp::slot::SpeakerSlot;
use crate::model::config::Config;
use crate::telemetry::Telemetry;

/// Errors of the side servers and of the admin-socket client.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A server could not listen on its address (in use, not local, no permission).
    #[error("cannot listen for the {server} server on {address}")]
    Bind {
        server: &'static str,
        address: String,
        #[source]
        source: std::io::Error,
    },
    /// The admin socket's directory could not be created, a stale socket not
    /// removed, or the socket's mode not set.
    #[error("preparing the admin socket {}", path.display())]
    AdminSocket {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A running kroute already answers on the admin socket.
    #[error("the admin socket {} is in use: another kroute answers on it", path.display())]
    AdminSocketInUse { path: PathBuf },
    /// Client: no agent answers on the admin socket.
    #[error("no kroute agent answers on {}", path.display())]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Client: BGP is disabled on the agent, or its speaker is not running
    /// (`kroute bgp` exits 3).
    #[error("{message}")]
    BgpNotRunning { message: String },
    /// Client: the agent refused a BGP request (a peer it does not have).
    #[error("{message}")]
    BgpRefused { message: String },
    /// Client: the agent's answer could not be read or understood.
    #[error("unexpected answer from {}: {message}", path.display())]
    Protocol { path: PathBuf, message: String },
}

/// The running side servers; dropping them stops them and removes the
/// admin socket.
#[derive(Debug)]
pub struct SideServers {
    /// Where the health server listens (the bound port when 0 was asked).
    pub health_address: SocketAddr,
    pub metrics_address: SocketAddr,
    pub admin_socket: PathBuf,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for SideServers {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        let _ = std::fs::remove_file(&self.admin_socket);
    }
}

/// Binds the health and metrics servers and the admin socket, then serves
/// them as tasks of the current runtime; BGP is read from `bgp` (the slot
/// the BGP backend fills). Fails (naming the address) when any cannot be
/// bound; nothing is served then.
pub async fn spawn_side_servers(
    config: &Config,
    telemetry: Arc<Telemetry>,
    bgp: SpeakerSlot,
) -> Result<SideServers, ServeError> {
    let bgp = bgp_admin::BgpSource {
        slot: bgp,
        enabled: config.bgp.enabled,
    };
    let (health, health_address) = bind_tcp("health", config.health_address).await?;
    let (metrics, metrics_address) = bind_tcp("metrics", config.metrics_address).await?;
    let admin = admin::bind(&config.admin_socket).await?;
    let listening = [
        ("health".to_string(), health_address.to_string()),
        ("metrics".to_string(), metrics_address.to_string()),
    ]
    .into();
    let tasks = vec![
        tokio::spawn(serve("health", health, health::router(telemetry.clone()))),
        tokio::spawn(serve(
            "metrics",
            metrics,
            metrics::router(telemetry.clone(), bgp.clone()),
        )),
        tokio::spawn(serve(
            "admin",
            admin,
            admin::router(telemetry, listening, bgp),
        )),
    ];
    tracing::info!(
        health = %health_address,
        metrics = %metrics_address,
        admin = %config.admin_socket.display(),
        "side servers listening"
    );
    Ok(SideServers {
        health_address,
        metrics_address,
        admin_socket: config.admin_socket.clone(),
        tasks,
    })
}

async fn bind_tcp(
    server: &'static str,
    address: SocketAddr,
) -> Result<(TcpListener, SocketAddr), ServeError> {
    let err = |source| ServeError::Bind {
        server,
        address: address.to_string(),
        source,
    };
    let listener = TcpListener::bind(address).await.map_err(err)?;
    let bound = listener.local_addr().map_err(err)?;
    Ok((listener, bound))
}

async fn serve<L>(name: &'static str, listener: L, app: Router)
where
    L: Listener,
    L::Addr: std::fmt::Debug,
{
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(server = name, error = %e, "side server stopped");
    }
}

#[cfg(test)]
#[path = "serve_tests.rs"]
mod tests;
