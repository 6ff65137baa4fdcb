//! The graceful-stop marker: a file written when kroute stops its speaker
//! gracefully (sessions closed without NOTIFICATION, peers keep our routes
//! for the restart time), read and removed by the next start. While it is
//! fresh, that start is a graceful restart: the OPEN carries the Restart
//! State bit, and peers get no table and no End-of-RIB until the first
//! sync has set the routes (so they keep the stale ones until then).
//!
//! The file sits next to the admin socket (`bgp-graceful-stop`) and holds
//! one line: `stopped=<unix seconds> restart_time=<seconds>`.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The marker's file name, in the admin socket's directory.
pub const FILE_NAME: &str = "bgp-graceful-stop";

/// The marker file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum MarkerError {
    #[error("cannot write the BGP graceful-stop marker {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Where the marker goes for an admin socket at `admin_socket`.
pub fn path_for(admin_socket: &Path) -> PathBuf {
    admin_socket
        .parent()
        .unwrap_or(Path::new("."))
        .join(FILE_NAME)
}

/// Records a graceful stop at `now`, peers keeping our routes for
/// `restart_time`.
pub fn write(path: &Path, now: SystemTime, restart_time: Duration) -> Result<(), MarkerError> {
    let fail = |source| MarkerError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let stopped = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let line = format!(
        "stopped={stopped} restart_time={}\n",
        restart_time.as_secs()
    );
    std::fs::write(path, line).map_err(fail)
}

/// Whether this start follows a graceful stop whose restart time has not
/// run out at `now` (peers still hold our routes). The marker is removed
/// either way; a missing or unreadable one means no.
pub fn take(path: &Path, now: SystemTime) -> bool {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return false,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read the BGP graceful-stop marker; starting afresh");
            return false;
        }
    };
    if let Err(e) = std::fs::remove_file(path) {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove the BGP graceful-stop marker");
    }
    match parse(&text) {
        Some((stopped, restart_time)) => {
            let until = UNIX_EPOCH + Duration::from_secs(stopped.saturating_add(restart_time));
            now < until
        }
        None => {
            tracing::warn!(path = %path.display(), content = %text.trim(), "malformed BGP graceful-stop marker; starting afresh");
            false
        }
    }
}

/// `stopped=S restart_time=T` → `(S, T)`.
fn parse(text: &str) -> Option<(u64, u64)> {
    let mut stopped = None;
    let mut restart_time = None;
    for field in text.split_whitespace() {
        match field.split_once('=')? {
            ("stopped", v) => stopped = Some(v.parse().ok()?),
            ("restart_time", v) => restart_time = Some(v.parse().ok()?),
            _ => return None,
        }
    }
    Some((stopped?, restart_time?))
}

#[cfg(test)]
#[path = "restart_marker_tests.rs"]
mod tests;
