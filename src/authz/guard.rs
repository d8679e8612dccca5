//! Route- and object-level enforcement. Handlers never touch casbin: they call
//! [`authorize`], and the router wraps every protected route in [`require_policy`].

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use super::{Decision, Object};
use crate::auth::principal::{Principal, authenticate};
use crate::error::ApiError;
use crate::state::AppState;

/// Response header naming the policy version a request was decided under.
pub const POLICY_VERSION_HEADER: &str = "warden-policy-version";

/// Middleware: authenticate, then ask the policy about (subject, canonical resource, HTTP
/// method). 401 without a valid token, 400 when a path parameter is one the handler could
/// not parse either, 403 when denied, 503 when no policy is loaded.
///
/// The resource is built from the matched route and the canonical form of its parameters
/// ([`super::resource::canonical_route`]), never from the raw path: `/api/documents/04`,
/// `/api/documents/%34` and `/api/documents/4` are one document, so they get one decision.
pub async fn require_policy(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let principal = authenticate(&state, req.headers()).await?;
    let (mut parts, body) = req.into_parts();
    let resource = routed_resource(&mut parts).await?;
    let decision = state.engine.decide(
        &principal.subject(),
        &Object::route(&resource),
        parts.method.as_str(),
    )?;
    let mut req = Request::from_parts(parts, body);
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

/// The canonical resource of a routed request. A request that reached a guarded route always
/// has a matched path; without one (a router built differently) nothing is allowed.
async fn routed_resource(parts: &mut axum::http::request::Parts) -> Result<String, ApiError> {
    let malformed = || ApiError::bad_request("bad_request", "a path parameter is malformed");
    let params = RawPathParams::from_request_parts(parts, &())
        .await
        .map_err(|_| malformed())?;
    let template = parts
        .extensions
        .get::<MatchedPath>()
        .ok_or_else(ApiError::forbidden)?;
    super::resource::canonical_route(template.as_str(), &params).map_err(|_| malformed())
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
