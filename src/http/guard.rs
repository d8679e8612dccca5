//! Route- and object-level enforcement. Handlers never touch casbin: they call
//! [`authorize`], and the router wraps every protected route in [`require_policy`].

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::middleware::Next;
use axum::response::Response;

use crate::auth::principal::{self, Principal};
use crate::engine::{AuthzError, Decision};
use crate::http::error::ApiError;
use crate::policy::{Object, Subject};
use crate::state::AppState;

/// Response header naming the policy version a request was decided under.
pub const POLICY_VERSION_HEADER: &str = "warden-policy-version";
/// Request header naming the oldest policy version a request may be decided under (the
/// `Warden-Policy-Version` an earlier write answered): read-your-writes across instances.
pub const MIN_VERSION_HEADER: &str = "warden-min-version";
/// The same as a query parameter (removed before the handler sees the query).
pub const MIN_VERSION_PARAM: &str = "min_version";

fn bad_min_version() -> ApiError {
    ApiError::bad_request(
        "bad_request",
        "Warden-Min-Version / min_version must be a policy version (a decimal number)",
    )
}

fn parse_min_version(v: &[u8]) -> Result<i64, ApiError> {
    if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
        return Err(bad_min_version());
    }
    std::str::from_utf8(v)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or_else(bad_min_version)
}

/// The largest `Warden-Min-Version` header, if any. 400 when one is not a decimal version.
pub fn header_min_version(headers: &axum::http::HeaderMap) -> Result<Option<i64>, ApiError> {
    let mut min = None;
    for value in headers.get_all(MIN_VERSION_HEADER) {
        min = min.max(Some(parse_min_version(value.as_bytes())?));
    }
    Ok(min)
}

/// Waits until this instance serves at least `min` (a request with credentials only: the
/// account the token names may be what the version changed). 503 `policy_stale` when it does
/// not get there in time, or nobody wrote that version.
pub async fn reach_min_version(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    min: Option<i64>,
) -> Result<(), ApiError> {
    if let Some(min) = min.filter(|_| headers.contains_key(header::AUTHORIZATION))
        && !state
            .engine
            .catch_up(min, state.config.min_version_wait)
            .await
    {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "policy_stale",
            "this instance has not reached the requested policy version; retry",
        )
        .with_retry_after(1));
    }
    Ok(())
}

/// The minimum version a request names in the header or the query (the larger if both), with
/// the query parameter removed. 400 when a value is not a decimal version.
fn take_min_version(parts: &mut axum::http::request::Parts) -> Result<Option<i64>, ApiError> {
    let mut min = header_min_version(&parts.headers)?;
    let Some(query) = parts.uri.query() else {
        return Ok(min);
    };
    let mut kept = Vec::new();
    let mut found = false;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some((MIN_VERSION_PARAM, v)) => {
                min = min.max(Some(parse_min_version(v.as_bytes())?));
                found = true;
            }
            None if pair == MIN_VERSION_PARAM => return Err(bad_min_version()),
            _ => kept.push(pair),
        }
    }
    if found {
        let path = parts.uri.path();
        let rebuilt = if kept.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", kept.join("&"))
        };
        let mut uri = axum::http::uri::Parts::from(parts.uri.clone());
        uri.path_and_query = Some(rebuilt.parse().map_err(|_| bad_min_version())?);
        parts.uri = axum::http::Uri::from_parts(uri).map_err(|_| bad_min_version())?;
    }
    Ok(min)
}

/// Middleware: authenticate, then ask the policy about (subject, canonical resource, HTTP
/// method; HEAD decided as GET, see [`crate::engine::resource::route_action`]). 401 without a valid token, 400 when a path parameter is one the handler could
/// not parse either, 403 when denied, 503 when no policy is loaded.
///
/// The resource is built from the matched route and the canonical form of its parameters
/// ([`crate::engine::resource::canonical_route`]), never from the raw path: `/api/documents/04`,
/// `/api/documents/%34` and `/api/documents/4` are one document, so they get one decision.
pub async fn require_policy(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (mut parts, body) = req.into_parts();
    let min = take_min_version(&mut parts);
    let principal = authenticate_at(&state, &parts.headers, min).await?;
    let resource = routed_resource(&mut parts).await?;
    let subject = in_path_tenant(&state, &principal, &resource)?;
    let object = Object::route(&resource);
    // HEAD runs the GET handler, so it needs what the GET needs.
    let action = crate::engine::resource::route_action(parts.method.as_str());
    let decision = observed(&state, "route", &subject, &object, action, || {
        state.engine.decide(&subject, &object, action)
    })?;
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
    crate::engine::resource::canonical_route(template.as_str(), &params).map_err(|_| malformed())
}

/// The subject a route is decided for: in the token's tenant, except under
/// `/v1/tenants/{tenant}/…`, which is decided in the path's tenant — for a token of that
/// tenant, or an installation admin's (who holds `role:admin` globally). Any other caller is
/// refused (403) before the policy is asked: a tenant admin's role in acme never reaches
/// globex's routes through an acme token.
fn in_path_tenant<'p>(
    state: &AppState,
    principal: &'p Principal,
    resource: &str,
) -> Result<std::borrow::Cow<'p, Subject>, ApiError> {
    let subject = principal.subject();
    let Some(tenant) = resource
        .strip_prefix("/v1/tenants/")
        .and_then(|rest| rest.split('/').next())
    else {
        return Ok(std::borrow::Cow::Borrowed(subject));
    };
    if tenant != subject.tenant {
        let snap = state.engine.snapshot()?;
        if !snap.is_installation_admin(&subject.principal) {
            return Err(ApiError::forbidden());
        }
    }
    let mut subject = subject.clone();
    tenant.clone_into(&mut subject.tenant);
    Ok(std::borrow::Cow::Owned(subject))
}

/// The tenant a caller asks a decision to be made in (`tenant` of `/v1/check`,
/// `X-Warden-Tenant` of forward-auth): its token's when it names none or names that one;
/// another only for an installation admin, and then it must be a tenant name (422). Anyone
/// else naming another tenant is refused 403 before the name is even read.
pub fn decided_in(
    snap: &crate::engine::Snapshot,
    caller: &Subject,
    asked: Option<&str>,
) -> Result<String, ApiError> {
    match asked {
        None => Ok(caller.tenant.clone()),
        Some(t) if t == caller.tenant => Ok(caller.tenant.clone()),
        Some(t) if snap.is_installation_admin(&caller.principal) => {
            crate::policy::rule::parse_tenant(t)
                .map(str::to_owned)
                .map_err(|e| ApiError::validation("tenant", e))
        }
        Some(_) => Err(ApiError::forbidden()),
    }
}

/// Object-level check: may the principal do `action` on `object`? 403 if not.
pub fn authorize(
    state: &AppState,
    principal: &Principal,
    object: &Object,
    action: &str,
) -> Result<Decision, ApiError> {
    let subject = principal.subject();
    let decision = observed(state, "object", subject, object, action, || {
        state.engine.decide(subject, object, action)
    })?;
    if decision.allowed {
        Ok(decision)
    } else {
        Err(ApiError::forbidden())
    }
}

/// Makes a decision with `decide` and reports it: counted in the metrics (by decision point,
/// the request's route template and result) and recorded in the decision log.
pub fn observed(
    state: &AppState,
    point: &'static str,
    subject: &Subject,
    object: &Object,
    action: &str,
    decide: impl FnOnce() -> Result<Decision, AuthzError>,
) -> Result<Decision, AuthzError> {
    let started = std::time::Instant::now();
    let decision = decide();
    let elapsed = started.elapsed();
    let request = crate::http::observe::current();
    let route = request
        .as_ref()
        .map_or(crate::metrics::UNMATCHED_ROUTE, |r| &r.route);
    let result = match &decision {
        Ok(d) if d.error.is_some() => "error",
        Ok(d) if d.allowed => "allow",
        Ok(_) => "deny",
        Err(_) => "error",
    };
    state
        .metrics
        .decision(point, route, result, elapsed.as_secs_f64());
    let asked = crate::decisions::Asked {
        point,
        request_id: request.as_ref().map(|r| r.id.clone()),
        subject,
        object,
        action,
    };
    if !state
        .decisions
        .record(&asked, decision.as_ref().ok(), elapsed)
    {
        state.metrics.decision_log_dropped();
    }
    decision
}

/// Extracts the bearer token: `Authorization: Bearer <token>` (scheme case-insensitive).
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(ApiError::missing_token)?
        .to_str()
        .map_err(|_| ApiError::invalid_token("the Authorization header is not valid text"))?;
    let (scheme, token) = value.split_once(' ').ok_or_else(ApiError::missing_token)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::missing_token());
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(ApiError::invalid_token("the bearer token is empty"));
    }
    Ok(token)
}

/// The caller a request's bearer token names: 401 without one, or with one that is not
/// acceptable (see [`principal::verify`]).
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let credential = verify_credential(state, bearer(headers)?).await?;
    load_credential(state, credential).await
}

/// The caller a verified credential names; a federated subject of a `provision: link` issuer
/// is linked to its local account here (created on first use).
async fn load_credential(
    state: &AppState,
    credential: principal::Credential,
) -> Result<Principal, ApiError> {
    let principal = match credential {
        principal::Credential::Federated(identity) if identity.link => {
            let user = crate::http::federated::linked_account(state, &identity).await?;
            principal::linked(identity, user)?
        }
        other => principal::load_credential(&state.db, other, state.now()).await?,
    };
    principal::check_federated_tenant(&state.db, &principal).await?;
    Ok(principal)
}

/// Verifies a bearer token (Warden's own or a trusted issuer's). A federated token's roles
/// that the policy does not know are dropped here, and logged: a claim never creates a role.
async fn verify_credential(
    state: &AppState,
    token: &str,
) -> Result<principal::Credential, ApiError> {
    let now = state.now();
    let credential = match state.federation.verify_claimed(token, now).await {
        Some((issuer, verdict)) => {
            state.metrics.federated_token(issuer, verdict.is_ok());
            principal::Credential::Federated(verdict.map_err(principal::AuthError::from)?)
        }
        None => principal::Credential::Local(principal::verify_token(&state.keys, now, token)?),
    };
    if tracing::enabled!(tracing::Level::DEBUG)
        && let principal::Credential::Federated(identity) = &credential
        && let Ok(snapshot) = state.engine.snapshot()
    {
        for role in identity.roles.iter().filter(|r| !snapshot.knows(r)) {
            tracing::debug!(issuer = %identity.issuer, %role, "token role unknown to the policy; ignored");
        }
    }
    Ok(credential)
}

/// The caller of a request that may name a minimum policy version `min`, in the order that
/// keeps an unauthenticated caller cheap: the token's signature and claims first (CPU only:
/// 401 before any database read, and before a malformed `min` is reported), then `min` is
/// reached (the account the token names may be
/// what that version changed), then, if decisions can be made at all, the account and session
/// are looked up. The policy guard
/// and forward-auth both authenticate through this.
pub async fn authenticate_at(
    state: &AppState,
    headers: &HeaderMap,
    min: Result<Option<i64>, ApiError>,
) -> Result<Principal, ApiError> {
    let credential = verify_credential(state, bearer(headers)?).await?;
    reach_min_version(state, headers, min?).await?;
    // No decision can be made (no policy, or a lost store in deny mode): 503 without waiting
    // on the database for the account.
    state.engine.available()?;
    load_credential(state, credential).await
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // The policy guard authenticates first and leaves the principal here, so a guarded
        // route does not verify the token twice.
        if let Some(p) = parts.extensions.remove::<Principal>() {
            return Ok(p);
        }
        authenticate(state, &parts.headers).await
    }
}
