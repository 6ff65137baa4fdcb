//! `/healthz` and `/livez`, with kube-proxy's JSON body and status codes:
//! `/healthz` is 503 when unhealthy or when the node is not eligible for
//! traffic (being deleted, or tainted by the cluster autoscaler); `/livez`
//! ignores node eligibility.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::telemetry::{Health, Telemetry, rfc3339};

/// The JSON body of both endpoints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthBody {
    pub last_updated: String,
    pub current_time: String,
    pub healthy: bool,
    pub node_eligible: bool,
}

/// The status code and body for `health`, `ok` being the endpoint's verdict.
pub fn response(health: &Health, ok: bool) -> (StatusCode, HealthBody) {
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = HealthBody {
        last_updated: rfc3339(health.last_updated),
        current_time: rfc3339(health.current_time),
        healthy: health.healthy,
        node_eligible: health.node_eligible,
    };
    (code, body)
}

pub fn router(telemetry: Arc<Telemetry>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/livez", get(livez))
        .with_state(telemetry)
}

async fn healthz(State(telemetry): State<Arc<Telemetry>>) -> (StatusCode, Json<HealthBody>) {
    let health = telemetry.health(SystemTime::now());
    let (code, body) = response(&health, health.healthz_ok());
    (code, Json(body))
}

async fn livez(State(telemetry): State<Arc<Telemetry>>) -> (StatusCode, Json<HealthBody>) {
    let health = telemetry.health(SystemTime::now());
    let (code, body) = response(&health, health.livez_ok());
    (code, Json(body))
}
