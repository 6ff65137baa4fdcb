//! The BGP requests of the admin socket, answered from the running
//! speaker (its handle taken from the `SpeakerSlot` at each request, so a
//! restart is followed):
//! - `GET /bgp/peers` → [`PeersDoc`];
//! - `GET /bgp/routes` → [`RibDoc`] (the local RIB);
//! - `GET /bgp/routes?peer=IP[&received=true]` → [`PeerRoutesDoc`].
//!
//! BGP disabled, or no speaker answering: 503 with a [`BgpErrorDoc`]
//! (`bgp-disabled`, `bgp-not-running`); a peer that is not configured: 404
//! (`unknown-peer`); a malformed query: 400 (`bad-request`).

use std::net::IpAddr;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::admin::AdminState;
use super::bgp_doc::{BgpErrorDoc, PeerRoutesDoc, PeersDoc, RibDoc};
use crate::bgp::slot::SpeakerSlot;
use crate::bgp::{PeerStatus, SpeakerHandle};
use crate::telemetry::bgp::BgpSample;
use crate::telemetry::status_doc::BgpStatusDoc;

/// `GET` path of the peers document.
pub const PEERS_PATH: &str = "/bgp/peers";
/// `GET` path of the routes documents.
pub const ROUTES_PATH: &str = "/bgp/routes";

/// How long one call waits for the speaker (a request makes two at most,
/// well within the client's 5 s).
const SPEAKER_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the BGP answers come from: the slot, and whether BGP is enabled
/// at all (to tell "disabled" from "not running").
#[derive(Clone, Debug)]
pub struct BgpSource {
    pub slot: SpeakerSlot,
    pub enabled: bool,
}

/// Why there is no answer: the error document and its status code.
#[derive(Debug)]
pub struct BgpRefusal {
    pub status: StatusCode,
    pub doc: BgpErrorDoc,
}

impl IntoResponse for BgpRefusal {
    fn into_response(self) -> Response {
        (self.status, Json(self.doc)).into_response()
    }
}

fn refusal(status: StatusCode, error: &str, message: String) -> BgpRefusal {
    BgpRefusal {
        status,
        doc: BgpErrorDoc {
            error: error.to_string(),
            message,
        },
    }
}

fn not_running() -> BgpRefusal {
    refusal(
        StatusCode::SERVICE_UNAVAILABLE,
        "bgp-not-running",
        "the BGP speaker is not running (not started yet, or stopped)".to_string(),
    )
}

impl BgpSource {
    fn handle(&self) -> Result<SpeakerHandle, BgpRefusal> {
        if !self.enabled {
            return Err(refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "bgp-disabled",
                "BGP is disabled on this agent (bgp.enabled is false)".to_string(),
            ));
        }
        self.slot.current().ok_or_else(not_running)
    }

    /// Awaits one speaker call, bounded; a stopped speaker is "not running".
    async fn ask<T: Send + 'static>(
        &self,
        call: impl FnOnce(&SpeakerHandle) -> crate::bgp::Reply<T>,
    ) -> Result<T, BgpRefusal> {
        let handle = self.handle()?;
        match tokio::time::timeout(SPEAKER_TIMEOUT, call(&handle).into_future()).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_stopped)) => Err(not_running()),
            Err(_) => Err(refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "bgp-not-running",
                format!("the BGP speaker did not answer within {SPEAKER_TIMEOUT:?}"),
            )),
        }
    }

    pub async fn peers(&self) -> Result<Vec<PeerStatus>, BgpRefusal> {
        self.ask(SpeakerHandle::peers).await
    }

    /// The peers document.
    pub async fn peers_doc(&self) -> Result<PeersDoc, BgpRefusal> {
        Ok(PeersDoc::new(&self.peers().await?))
    }

    /// The local RIB, each route with the configured peers it is meant for.
    pub async fn rib_doc(&self) -> Result<RibDoc, BgpRefusal> {
        let rib = self.ask(SpeakerHandle::local_routes).await?;
        let peers: Vec<IpAddr> = self.peers().await?.iter().map(|p| p.spec.address).collect();
        Ok(RibDoc::new(&rib, &peers))
    }

    /// One peer's routes; 404 when it is not configured.
    pub async fn peer_routes_doc(
        &self,
        peer: IpAddr,
        received_only: bool,
    ) -> Result<PeerRoutesDoc, BgpRefusal> {
        match self.ask(|h| h.peer_routes(peer)).await? {
            Some(routes) => Ok(PeerRoutesDoc::new(peer, &routes, received_only)),
            None => Err(refusal(
                StatusCode::NOT_FOUND,
                "unknown-peer",
                format!("no BGP peer {peer} is configured on this agent"),
            )),
        }
    }

    /// The status summary; `None` when BGP is disabled.
    pub async fn status(&self) -> Option<BgpStatusDoc> {
        if !self.enabled {
            return None;
        }
        let sample = self.sample().await;
        Some(BgpStatusDoc {
            running: sample.running,
            peers: sample.peers.len(),
            peers_established: sample.peers.iter().filter(|p| p.established).count(),
            routes_originated: sample.routes_originated as usize,
        })
    }

    /// What the metrics show at this scrape (not running: the default).
    pub async fn sample(&self) -> BgpSample {
        let Ok(peers) = self.peers().await else {
            return BgpSample::default();
        };
        match self.ask(SpeakerHandle::local_routes).await {
            Ok(rib) => BgpSample::new(&peers, rib.len()),
            Err(_) => BgpSample::default(),
        }
    }
}

/// The query of `/bgp/routes`: `peer=IP` and `received=true|false`.
fn routes_query(uri: &Uri) -> Result<(Option<IpAddr>, bool), BgpRefusal> {
    let bad = |message: String| refusal(StatusCode::BAD_REQUEST, "bad-request", message);
    let mut peer = None;
    let mut received = false;
    for pair in uri.query().unwrap_or_default().split('&') {
        if pair.is_empty() {
            continue;
        }
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        // IPv6 colons may come percent-encoded.
        let value = value.replace("%3A", ":").replace("%3a", ":");
        match key {
            "peer" => {
                peer = Some(
                    value
                        .parse::<IpAddr>()
                        .map_err(|_| bad(format!("peer: {value:?} is not an IP address")))?,
                )
            }
            "received" => {
                received = value
                    .parse()
                    .map_err(|_| bad(format!("received: {value:?} is not true or false")))?
            }
            _ => return Err(bad(format!("unknown query parameter {key:?}"))),
        }
    }
    if received && peer.is_none() {
        return Err(bad("received: needs a peer".to_string()));
    }
    Ok((peer, received))
}

pub(super) async fn peers(State(state): State<AdminState>) -> Result<Json<PeersDoc>, BgpRefusal> {
    state.bgp.peers_doc().await.map(Json)
}

pub(super) async fn routes(
    State(state): State<AdminState>,
    uri: Uri,
) -> Result<Response, BgpRefusal> {
    Ok(match routes_query(&uri)? {
        (Some(peer), received) => {
            Json(state.bgp.peer_routes_doc(peer, received).await?).into_response()
        }
        (None, _) => Json(state.bgp.rib_doc().await?).into_response(),
    })
}

#[cfg(test)]
#[path = "bgp_admin_tests.rs"]
mod tests;
