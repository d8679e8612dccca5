//! Route- and object-level enforcement. Handlers never touch casbin: they call
//! [`authorize`], and the router wraps every protected route in [`require_policy`].

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use super::{Decision, Object};
use crate::auth::principal::{Principal, authenticate};
use crate::error::ApiError;
use crate::state::AppState;

/// Response header naming the policy version a request was decided under.
pub const POLICY_VERSION_HEADER: &str = "warden-policy-version";

/// Middleware: authenticate, then ask the policy about (subject, request path, HTTP method).
/// 401 without a valid token, 403 when denied, 503 when no policy is loaded.
pub async fn require_policy(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let principal = authenticate(&state, req.headers()).await?;
    let decision = state.engine.decide(
        &principal.subject(),
        &Object::route(req.uri().path()),
        req.method().as_str(),
    )?;
    if !decision.allowed {
        return Err(ApiError::forbidden());
    }
    req.extensions_mut().insert(principal);
    let mut res = next.run(req).await;
    // A handler that wrote a new version says so itself; keep its (newer) value.
    res.headers_mut()
        .entry(POLICY_VERSION_HEADER)
        .or_insert_with(|| HeaderValue::from(decision.policy_version));
    Ok(res)
}

/// Object-level check: may the principal do `action` on `object`? 403 if not.
pub fn authorize(
    state: &AppState,
    principal: &Principal,
    object: &Object,
    action: &str,
) -> Result<Decision, ApiError> {
    let decision = state.engine.decide(&principal.subject(), object, action)?;
    if decision.allowed {
        Ok(decision)
    } else {
        Err(ApiError::forbidden())
    }
}
