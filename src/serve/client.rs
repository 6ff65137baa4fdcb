//! The client side of the admin socket (`kroute status`, `kroute bgp`), and a minimal
//! HTTP/1.1 GET over any stream (also used by the tests of the servers).

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;

use serde::de::DeserializeOwned;

use super::ServeError;
use super::admin::STATUS_PATH;
use super::bgp_admin::{PEERS_PATH, ROUTES_PATH};
use super::bgp_doc::BgpErrorDoc;
use crate::telemetry::StatusDoc;

/// How long `kroute status` and `kroute bgp` wait for the agent's answer.
pub const STATUS_TIMEOUT: Duration = Duration::from_secs(5);

/// A response: status code, lower-cased headers, body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// The first header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `GET path` (`Connection: close`) on `stream` and reads the whole
/// response (Content-Length, chunked, or until the server closes).
pub async fn get<S>(mut stream: S, path: &str) -> std::io::Result<Response>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let request = format!("GET {path} HTTP/1.1\r\nHost: kroute\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    parse_response(&raw).map_err(|m| std::io::Error::new(std::io::ErrorKind::InvalidData, m))
}

/// Parses a complete HTTP/1.1 response.
pub fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| "headers are not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = &raw[split + 4..];
    let mut response = Response {
        status,
        headers,
        body: String::new(),
    };
    let decoded;
    if response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        decoded = dechunk(body)?;
        body = &decoded;
    } else if let Some(len) = response.header("content-length") {
        let len: usize = len.parse().map_err(|_| "bad Content-Length")?;
        body = body.get(..len).ok_or("body shorter than Content-Length")?;
    }
    response.body = String::from_utf8(body.to_vec()).map_err(|_| "body is not UTF-8")?;
    Ok(response)
}

fn dechunk(mut raw: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunk size")?;
        let size = std::str::from_utf8(&raw[..end]).map_err(|_| "bad chunk size")?;
        let size = size.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16).map_err(|_| "bad chunk size")?;
        raw = &raw[end + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(raw.get(..size).ok_or("truncated chunk")?);
        raw = raw.get(size + 2..).ok_or("truncated chunk")?;
    }
}

/// Asks the agent on `socket` for its status.
pub async fn fetch_status(socket: &Path) -> Result<StatusDoc, ServeError> {
    let response = request_path(socket, STATUS_PATH).await?;
    if response.status != 200 {
        return Err(protocol(
            socket,
            format!("status {}: {}", response.status, response.body),
        ));
    }
    parse_json(socket, &response, "status")
}

/// What `kroute bgp` asks the agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BgpRequest {
    Peers,
    /// The local RIB.
    Routes,
    /// One peer's routes (only those received, with `received`).
    PeerRoutes {
        peer: IpAddr,
        received: bool,
    },
}

impl BgpRequest {
    /// The request's path and query on the admin socket.
    pub fn path(&self) -> String {
        match self {
            BgpRequest::Peers => PEERS_PATH.to_string(),
            BgpRequest::Routes => ROUTES_PATH.to_string(),
            BgpRequest::PeerRoutes { peer, received } => {
                let mut path = format!("{ROUTES_PATH}?peer={peer}");
                if *received {
                    path.push_str("&received=true");
                }
                path
            }
        }
    }
}

/// Asks the agent on `socket` for a BGP document (`PeersDoc`, `RibDoc` or
/// `PeerRoutesDoc`, as `request` says). BGP disabled or its speaker not
/// running: `BgpNotRunning`; an unknown peer: `BgpRefused`.
pub async fn fetch_bgp<T: DeserializeOwned>(
    socket: &Path,
    request: &BgpRequest,
) -> Result<T, ServeError> {
    let response = request_path(socket, &request.path()).await?;
    if response.status == 200 {
        return parse_json(socket, &response, "BGP");
    }
    let Ok(error) = serde_json::from_str::<BgpErrorDoc>(&response.body) else {
        return Err(protocol(
            socket,
            format!("status {}: {}", response.status, response.body),
        ));
    };
    Err(if response.status == 503 {
        ServeError::BgpNotRunning {
            message: error.message,
        }
    } else {
        ServeError::BgpRefused {
            message: error.message,
        }
    })
}

fn protocol(socket: &Path, message: String) -> ServeError {
    ServeError::Protocol {
        path: socket.to_path_buf(),
        message,
    }
}

fn parse_json<T: DeserializeOwned>(
    socket: &Path,
    response: &Response,
    what: &str,
) -> Result<T, ServeError> {
    serde_json::from_str(&response.body)
        .map_err(|e| protocol(socket, format!("bad {what} JSON: {e}")))
}

/// `GET path` on the admin socket, within [`STATUS_TIMEOUT`].
async fn request_path(socket: &Path, path: &str) -> Result<Response, ServeError> {
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|source| ServeError::Connect {
            path: socket.to_path_buf(),
            source,
        })?;
    tokio::time::timeout(STATUS_TIMEOUT, get(stream, path))
        .await
        .map_err(|_| protocol(socket, format!("no answer within {STATUS_TIMEOUT:?}")))?
        .map_err(|e| protocol(socket, e.to_string()))
}
