//! The HTTP edge: every route's handler, the policy guard, the one error type and its JSON
//! mapping, the console's pages, and here the router assembly and middleware order. The
//! domain below it (`policy`, `engine`, `store`, `auth`) answers in its own error
//! types, which `error` maps to statuses in one place each.

use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, middleware};
use tower::ServiceBuilder;
use tower::timeout::TimeoutLayer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use utoipa::OpenApi as _;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;
use error::ApiError;
use guard::require_policy;

pub mod admin;
pub mod auth;
pub mod check;
pub mod client;
pub mod console;
pub mod discovery;
pub mod documents;
pub mod error;
pub mod federated;
pub mod forward;
pub mod guard;
pub mod metrics;
pub mod observe;
mod openapi;
pub mod plan;
pub mod stream;
use openapi::ApiDoc;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "up")))]
pub async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Database reachable and a policy loaded.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "ready"), (status = 503, body = crate::http::error::ErrorBody)))]
pub async fn ready(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    // The heartbeat's verdict first: a partitioned database would leave the ping waiting.
    if !state.engine.is_store_reachable() || !state.db.ping().await {
        return Err(ApiError::unavailable("the database is unreachable"));
    }
    let snap = state.engine.snapshot().map_err(ApiError::from)?;
    Ok(Json(
        serde_json::json!({ "status": "ready", "policy_version": snap.version() }),
    ))
}

async fn not_found() -> ApiError {
    ApiError::not_found("route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route",
    )
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    // The panic payload is deliberately not logged or returned: it may hold request data.
    tracing::error!("a request handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "internal server error",
    )
    .into_response()
}

/// A request that ran past the deadline (or, in principle, any other middleware error):
/// answered in the JSON error shape rather than with an empty body.
async fn timeout_response(e: tower::BoxError) -> ApiError {
    if e.is::<tower::timeout::error::Elapsed>() {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "the request took too long; retry later",
        )
    } else {
        ApiError::internal(e)
    }
}

/// Every route, each declared once (`routes!` over the handler's `#[utoipa::path]`): the axum
/// routes and the OpenAPI description come from the same declarations, so a route cannot be
/// served undocumented or documented unserved, and the metric labels (route templates) are the
/// documented paths. The second router is what the policy guard protects. The example resource
/// `/api/documents` is declared only when asked for (`--demo`, `--example-documents`), so an
/// instance without it neither serves nor documents it.
fn declared(example_documents: bool) -> (OpenApiRouter<AppState>, OpenApiRouter<AppState>) {
    let public = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(metrics::metrics))
        .merge(auth::public_router())
        .merge(discovery::router())
        // Authenticates and decides itself: its decision is about the forwarded request.
        .merge(forward::router());
    let mut protected = OpenApiRouter::new()
        .merge(auth::protected_router())
        .merge(check::router())
        .merge(plan::router())
        .merge(stream::router())
        .merge(admin::router());
    if example_documents {
        protected = protected.merge(documents::router());
    }
    (public, protected)
}

/// The OpenAPI description of every route Warden can serve, the example resource included, as
/// `/openapi.json` serves it on an instance started with `--example-documents` or `--demo`.
pub fn api_doc() -> utoipa::openapi::OpenApi {
    let (public, protected) = declared(true);
    let mut doc = public.merge(protected).into_openapi();
    openapi::finish(&mut doc);
    doc
}

/// The whole HTTP surface. Pure: binds nothing.
pub fn router(state: AppState) -> Router {
    let (public, protected) = declared(state.config.serves_example_documents());
    let protected = protected.route_layer(middleware::from_fn_with_state(
        state.clone(),
        require_policy,
    ));
    let (routes, mut doc) = public.merge(protected).split_for_parts();
    openapi::finish(&mut doc);
    // The console's pages are not API: served beside it, outside the OpenAPI description.
    let routes = routes.merge(openapi::docs(doc)).merge(console::router());
    with_middleware(routes, state)
}

/// The middleware every route gets, in order (the fallbacks included: 404 and 405 answers
/// are logged, counted and carry a request id like any other). An embedding application may
/// wrap its own routes with it.
pub fn with_middleware(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // tower's timeout reports an error (tower-http's answers with an empty body), which
        // HandleErrorLayer turns into our JSON error.
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(timeout_response))
                .layer(TimeoutLayer::new(state.config.request_timeout)),
        )
        .layer(CatchPanicLayer::custom(panic_response))
        // Outside the panic and timeout layers, so those answers are logged and counted too
        // (and forward-auth's are made fit for a gateway); inside the request-id layers, so it
        // sees the id they settled on.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
        // Outermost: every answer, whatever produced it, carries the request id.
        .layer(PropagateRequestIdLayer::new(observe::REQUEST_ID))
        .layer(SetRequestIdLayer::new(
            observe::REQUEST_ID,
            observe::make_request_id(),
        ))
        .layer(middleware::from_fn(observe::sanitize_request_id))
        .with_state(state)
}
