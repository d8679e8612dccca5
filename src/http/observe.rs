//! What every request leaves behind: a request id, a tracing span, one access-log line and
//! its metrics.
//!
//! Request ids come from tower-http's request-id layers (set when absent, copied onto the
//! response). A client's own `X-Request-Id` is kept only when it is 1-[`MAX_REQUEST_ID`]
//! characters of `A-Z a-z 0-9 - _ . : / + = @`; anything else (too long, spaces, quotes,
//! control characters, non-ASCII) is replaced by a generated UUID, so an id can neither flood
//! nor forge log lines.
//!
//! [`observe`] runs outside the panic and timeout layers, so 404s, 503 timeouts and 500s
//! from a panic are logged and counted like any other answer; the request-id layers run
//! outside it, so those answers carry the id too.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderName;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::metrics::UNMATCHED_ROUTE;
use crate::state::AppState;

/// The request-id header (`x-request-id`).
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Longest client-supplied request id that is kept.
pub const MAX_REQUEST_ID: usize = 128;

/// What code deep in a request (a decision point) may want to know about it.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The request id.
    pub id: Arc<str>,
    /// The route template, or [`UNMATCHED_ROUTE`].
    pub route: Arc<str>,
}

tokio::task_local! {
    static CURRENT: RequestContext;
}

/// The context of the request this task is serving, if it is serving one.
pub fn current() -> Option<RequestContext> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Whether a client-supplied request id may be kept as it is.
pub fn valid_request_id(value: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID).contains(&value.len())
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=@".contains(b))
}

/// Middleware (outermost): drops an `X-Request-Id` that [`valid_request_id`] refuses, and
/// every one but the first, so the request-id layer generates a fresh one.
pub async fn sanitize_request_id(mut req: Request, next: Next) -> Response {
    let headers = req.headers_mut();
    let mut values = headers.get_all(&REQUEST_ID).iter();
    let keep = match (values.next(), values.next()) {
        (Some(v), None) => valid_request_id(v.as_bytes()),
        _ => false,
    };
    if !keep {
        headers.remove(&REQUEST_ID);
    }
    next.run(req).await
}

/// Middleware: runs the request inside a span carrying its id, method and route template (so
/// every log line of the request names them), sets [`current`], and afterwards writes the
/// access-log line and counts the request.
pub async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id: Arc<str> = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .into();
    let route: Arc<str> = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str)
        .into();
    let method = req.method().clone();
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let context = RequestContext {
        id: id.clone(),
        route: route.clone(),
    };
    let res = CURRENT
        .scope(context, next.run(req))
        .instrument(span.clone())
        .await;
    let elapsed = started.elapsed();
    let status = res.status().as_u16();
    state
        .metrics
        .http_request(method.as_str(), &route, status, elapsed.as_secs_f64());
    if res
        .extensions()
        .get::<crate::error::StoreFailed>()
        .is_some()
    {
        state.metrics.store_error();
    }
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    let _entered = span.enter();
    if status >= 500 {
        tracing::warn!(target: "warden::access", %method, %route, status, latency_ms, request_id = %id, "request");
    } else {
        tracing::info!(target: "warden::access", %method, %route, status, latency_ms, request_id = %id, "request");
    }
    res
}

/// Generated request ids: UUID v4 (tower-http's generator, random, 36 characters).
pub fn make_request_id() -> tower_http::request_id::MakeRequestUuid {
    tower_http::request_id::MakeRequestUuid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_of_the_usual_shapes_are_kept() {
        for id in [
            "3f2c1b9e-8a4d-4c6e-9f1a-2b3c4d5e6f70",
            "abc",
            "Root=1-67891233-abcdef012345678912345678",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(valid_request_id(id.as_bytes()), "{id}");
        }
    }

    #[test]
    fn request_ids_that_could_forge_or_flood_a_log_are_refused() {
        let long = "a".repeat(MAX_REQUEST_ID + 1);
        for id in [
            "",
            "a b",
            "a\"b",
            "a\nb",
            "a\u{1b}[31m",
            "é",
            "a,b",
            "{}",
            long.as_str(),
        ] {
            assert!(!valid_request_id(id.as_bytes()), "{id:?}");
        }
    }
}
