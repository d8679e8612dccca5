//! What every request leaves behind: a request id, a tracing span, one access-log line and
//! its metrics.
//!
//! Request ids come from tower-http's request-id layers (set when absent, copied onto the
//! response). A client's own `X-Request-Id` is kept only when it is 1-[`MAX_REQUEST_ID`]
//! characters of `A-Z a-z 0-9 - _ . : / + = @`; anything else (too long, spaces, quotes,
//! control characters, non-ASCII) is replaced by a generated one ([`make_request_id`]), so an
//! id can neither flood nor forge log lines.
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
    let unmatched_path = (*route == *UNMATCHED_ROUTE).then(|| req.uri().path().to_owned());
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let context = RequestContext {
        id: id.clone(),
        route: route.clone(),
    };
    let mut res = CURRENT
        .scope(context, next.run(req))
        .instrument(span.clone())
        .await;
    if *route == *crate::http::forward::PATH {
        // Here rather than in a layer of its own: one comparison, no extra boxed future.
        res = crate::http::forward::for_gateway(res);
    }
    let elapsed = started.elapsed();
    let status = res.status().as_u16();
    state
        .metrics
        .http_request(method.as_str(), &route, status, elapsed.as_secs_f64());
    if res
        .extensions()
        .get::<crate::http::error::StoreFailed>()
        .is_some()
    {
        state.metrics.store_error();
    }
    let latency_ms = crate::logging::latency_ms(elapsed);
    let _entered = span.enter();
    // An unmatched route has no template to name: the line shows what was asked for instead.
    let path = unmatched_path.as_deref().map(crate::logging::loggable_path);
    if status >= 500 {
        tracing::warn!(target: "warden::access", %method, %route, path, status, latency_ms, request_id = %id, "request");
    } else {
        tracing::info!(target: "warden::access", %method, %route, path, status, latency_ms, request_id = %id, "request");
    }
    res
}

/// Generated request ids: a random 64-bit prefix drawn once per process and a counter,
/// `3f2c1b9e8a4d4c6e-000000000000002a` (33 characters). Unique across instances with
/// overwhelming probability and in order within one; a request id needs no secrecy, and a
/// UUID v4 per request cost a `getrandom` system call on the hot path.
pub fn make_request_id() -> MakeRequestId {
    let mut seed = [0u8; 8];
    // Without randomness the prefix is the time: still distinct across restarts.
    let prefix = match getrandom::fill(&mut seed) {
        Ok(()) => u64::from_le_bytes(seed),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    };
    MakeRequestId {
        prefix,
        next: Arc::new(std::sync::atomic::AtomicU64::new(0)),
    }
}

/// See [`make_request_id`].
#[derive(Debug, Clone)]
pub struct MakeRequestId {
    prefix: u64,
    next: Arc<std::sync::atomic::AtomicU64>,
}

impl tower_http::request_id::MakeRequestId for MakeRequestId {
    fn make_request_id<B>(
        &mut self,
        _: &axum::http::Request<B>,
    ) -> Option<tower_http::request_id::RequestId> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("{:016x}-{n:016x}", self.prefix);
        axum::http::HeaderValue::try_from(id)
            .ok()
            .map(tower_http::request_id::RequestId::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_request_ids_are_distinct_and_themselves_valid() {
        use tower_http::request_id::MakeRequestId as _;
        let (mut a, mut b) = (make_request_id(), make_request_id());
        let req = axum::http::Request::new(());
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            for maker in [&mut a, &mut b] {
                let id = maker.make_request_id(&req).expect("id");
                let id = id.header_value().to_str().expect("ascii").to_owned();
                assert!(valid_request_id(id.as_bytes()), "{id}");
                assert!(seen.insert(id), "repeated");
            }
        }
    }

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
