//! `/metrics`: the telemetry's registry in the Prometheus (OpenMetrics)
//! text format, BGP's metrics asked of the speaker at each scrape.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::bgp_admin::BgpSource;
use crate::telemetry::Telemetry;
use crate::telemetry::metrics::CONTENT_TYPE;

#[derive(Clone)]
struct MetricsState {
    telemetry: Arc<Telemetry>,
    bgp: BgpSource,
}

pub fn router(telemetry: Arc<Telemetry>, bgp: BgpSource) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(MetricsState { telemetry, bgp })
}

async fn metrics(State(state): State<MetricsState>) -> Response {
    let bgp = state.bgp.sample().await;
    match state.telemetry.encode_metrics_with_bgp(bgp) {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding metrics: {e}\n"),
        )
            .into_response(),
    }
}
