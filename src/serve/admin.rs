//! The admin socket: HTTP/1.1 over a unix socket (mode 0600), `GET /status`
//! answering the `StatusDoc` that `kroute status` prints, and the BGP
//! requests of `kroute bgp` (`bgp_admin.rs`).

use std::collections::BTreeMap;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::{UnixListener, UnixStream};

use super::ServeError;
use super::bgp_admin::{self, BgpSource};
use crate::telemetry::{StatusDoc, Telemetry};

/// Path of the status document on the admin socket.
pub const STATUS_PATH: &str = "/status";

/// Binds `path`: creates its directory (mode 0700) when missing, removes a
/// stale socket left by a previous run (refusing when an agent still
/// answers on it, or when the path is not a socket), and makes the new
/// socket 0600.
pub async fn bind(path: &Path) -> Result<UnixListener, ServeError> {
    let prepare = |source| ServeError::AdminSocket {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(prepare)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if UnixStream::connect(path).await.is_ok() {
                return Err(ServeError::AdminSocketInUse {
                    path: path.to_path_buf(),
                });
            }
            std::fs::remove_file(path).map_err(prepare)?;
        }
        Ok(_) => {
            return Err(prepare(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "the path exists and is not a socket",
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(prepare(e)),
    }
    let listener = UnixListener::bind(path).map_err(|source| ServeError::Bind {
        server: "admin",
        address: path.display().to_string(),
        source,
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(prepare)?;
    Ok(listener)
}

#[derive(Clone)]
pub(super) struct AdminState {
    telemetry: Arc<Telemetry>,
    /// Where the other side servers listen, reported in the status.
    listening: BTreeMap<String, String>,
    /// The BGP speaker, for `kroute bgp` and the status.
    pub(super) bgp: BgpSource,
}

pub fn router(
    telemetry: Arc<Telemetry>,
    listening: BTreeMap<String, String>,
    bgp: BgpSource,
) -> Router {
    Router::new()
        .route(STATUS_PATH, get(status))
        .route(bgp_admin::PEERS_PATH, get(bgp_admin::peers))
        .route(bgp_admin::ROUTES_PATH, get(bgp_admin::routes))
        .with_state(AdminState {
            telemetry,
            listening,
            bgp,
        })
}

async fn status(State(state): State<AdminState>) -> Json<StatusDoc> {
    let mut doc = state.telemetry.status(SystemTime::now());
    doc.listening = state.listening.clone();
    doc.bgp = state.bgp.status().await;
    Json(doc)
}
