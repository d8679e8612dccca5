//! `GET /metrics`: the Prometheus text exposition of [`crate::metrics::Metrics`].
//!
//! Metrics say how busy each route is and how often the policy denies: useful to an attacker
//! too, so they are not public. With `--metrics-listen ADDR` they are served only there (an
//! internal interface for the scraper) and the main listener answers 404. Without it the
//! main listener answers only a loopback client that did not come through a proxy (no
//! `Forwarded`, `X-Forwarded-For`, `X-Real-IP` or `Via` header): a Prometheus or an operator's
//! `curl` on the same host. Everyone else, a reverse proxy on the same host forwarding the
//! internet included, gets the same 404 as for a route that does not exist.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::http::error::ApiError;
use crate::state::AppState;

/// Headers a proxy adds: a request carrying one may come from anywhere.
const FORWARDING_HEADERS: [&str; 4] = ["forwarded", "x-forwarded-for", "x-real-ip", "via"];

/// Metrics in the Prometheus text format (0.0.4). On the main listener only for loopback
/// clients that did not come through a proxy, and not at all with `--metrics-listen`.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4", content_type = "text/plain", body = String),
        (status = 404, description = "`not_found`: not a loopback client, came through a proxy, or metrics are served on `--metrics-listen`", body = crate::http::error::ErrorBody)))]
pub async fn metrics(State(state): State<AppState>, req: Request) -> Response {
    if state.config.metrics_listen.is_some() || !local_direct_client(&req) {
        return ApiError::not_found("route").into_response();
    }
    render(&state)
}

/// Whether the TCP peer is on this host and no proxy header says the request came from
/// elsewhere.
fn local_direct_client(req: &Request) -> bool {
    let loopback = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(peer)| peer.ip().to_canonical().is_loopback());
    loopback
        && FORWARDING_HEADERS
            .iter()
            .all(|h| !req.headers().contains_key(*h))
}

fn render(state: &AppState) -> Response {
    let policy = state
        .engine
        .snapshot()
        .ok()
        .map(|s| (s.version(), s.rules().len()));
    let body = state.metrics.render(policy);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
        )],
        body,
    )
        .into_response()
}

async fn unconditional(State(state): State<AppState>) -> Response {
    render(&state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("route")
}

/// The router of `--metrics-listen`: `/metrics` for anyone who can reach that address.
pub fn dedicated_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(unconditional))
        .fallback(not_found)
        .with_state(state)
}
