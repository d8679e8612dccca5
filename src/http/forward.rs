//! Forward-auth: `/v1/authz/forward`, asked by a gateway (nginx `auth_request`, Caddy
//! `forward_auth`, Traefik ForwardAuth) before it passes a request on to an app behind it.
//!
//! The gateway reports the original request in headers: `X-Forwarded-Method` +
//! `X-Forwarded-Uri` (Caddy, Traefik) or `X-Original-Method` + `X-Original-URI` (the usual
//! nginx configuration). Those headers are whatever the client sent unless the gateway set
//! them, so they are read only from a peer in `--trusted-proxies`, each at most once, a pair
//! only whole, and when both pairs are present they must agree: a client-supplied pair that a
//! gateway forgot to overwrite then contradicts the gateway's own and nothing is decided.
//!
//! The decision is Warden's route-level one on the forwarded route: (caller, canonical path,
//! original method), with the path canonicalised exactly as for `/v1/check`
//! ([`canonical_path`]) and the query string dropped. A gateway knows no object attributes,
//! so a rule whose condition reads `r.obj.*` cannot be evaluated here: an allow rule of that
//! kind grants nothing and a deny rule denies (fail closed), as everywhere; `r.sub.*`
//! conditions work as everywhere.
//!
//! Statuses, chosen for how gateways read them: nginx turns any `auth_request` answer other
//! than 2xx, 401 and 403 into a 500 for the client, so this route answers only those
//! ([`for_gateway`] rewrites any other status, whatever produced it, into a 403):
//! - 204 allowed, with `X-Warden-User` and `X-Warden-Roles` for the gateway to pass on;
//! - 401 (with `WWW-Authenticate: Bearer`) without a valid token;
//! - 403 for everything else, with the reason in the JSON body's `error` and in the
//!   `X-Warden-Error` header (gateways drop the body; the header can be logged):
//!   `forbidden` when the policy denies, `untrusted_proxy` when the peer is not a trusted
//!   proxy, `ambiguous_path` when the forwarded path could be read in two ways,
//!   `bad_forwarded_request` when the gateway's headers are missing, partial, repeated,
//!   contradictory or oversized (a misconfiguration, also logged as a warning), and the codes
//!   a route would answer with 400 or 5xx (`bad_request`, `policy_stale`, `unavailable`,
//!   `timeout`, ...): a request that cannot be decided is denied.
//!
//! HEAD is decided as GET ([`route_action`]): the upstream serves it with its GET handler.
//!
//! The decision is made in the token's tenant (`tid`), or in the one `X-Warden-Tenant` names,
//! by the rule of `/v1/check`'s `tenant` ([`decided_in`]): the token's own, or any tenant for
//! an installation admin; another tenant is `forbidden`, a malformed name from an
//! installation admin `validation_failed`, the header twice `bad_forwarded_request`. The
//! check on this route itself stays in the token's tenant.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::engine::resource::{canonical_path, route_action};
use crate::http::error::{ApiError, ErrorCode};
use crate::http::guard::authenticate_at;
use crate::http::guard::{POLICY_VERSION_HEADER, decided_in, header_min_version, observed};
use crate::policy::Object;
use crate::state::AppState;

/// The route.
pub const PATH: &str = "/v1/authz/forward";
/// Response header: the caller's user name (lower-case, as the policy sees it).
pub const USER_HEADER: &str = "x-warden-user";
/// Response header: the caller's roles, direct and inherited, comma-separated, without `role:`.
pub const ROLES_HEADER: &str = "x-warden-roles";
/// Request header: the tenant to decide in (default: the token's).
pub const TENANT_HEADER: &str = "x-warden-tenant";
/// Response header on every refusal: the stable `error` code of the answer's body.
pub const ERROR_HEADER: &str = "x-warden-error";
/// Longest accepted forwarded URI (nginx's default request-line buffer is 8 KiB). The path
/// part must also fit the canonical path limit (1024 bytes) or it is refused as ambiguous.
pub const MAX_URI_LEN: usize = 8 * 1024;
/// Longest accepted forwarded method.
const MAX_METHOD_LEN: usize = 32;

/// The two header pairs gateways use: (method header, URI header).
const PAIRS: [(&str, &str); 2] = [
    ("x-forwarded-method", "x-forwarded-uri"),
    ("x-original-method", "x-original-uri"),
];

/// Route (not behind the policy guard: the decision is about the forwarded request, and the
/// handler makes the guard's own check on this route itself).
pub fn router() -> OpenApiRouter<AppState> {
    // Documented under the methods gateways use; answers every method (HEAD, OPTIONS, ...).
    let (schemas, paths, _) = routes!(forward);
    OpenApiRouter::new().routes((schemas, paths, any(forward)))
}

/// The original request, as the gateway reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarded {
    /// The original HTTP method (`GET`), as sent: methods are case-sensitive.
    pub method: String,
    /// The original path, query string removed, not yet canonical.
    pub path: String,
}

/// Why the gateway's headers cannot be read. Every variant is a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Neither pair is present.
    #[error(
        "no forwarded request: send X-Forwarded-Method and X-Forwarded-Uri, or \
         X-Original-Method and X-Original-URI"
    )]
    Missing,
    /// One header of a pair without the other.
    #[error("{0} is sent without its pair ({1})")]
    Partial(&'static str, &'static str),
    /// A header sent more than once.
    #[error("{0} is sent more than once")]
    Repeated(&'static str),
    /// Empty, not visible ASCII, or too long.
    #[error("{0} {1}")]
    Invalid(&'static str, &'static str),
    /// Both pairs present and different.
    #[error("X-Forwarded-Method/-Uri and X-Original-Method/-URI name different requests")]
    Contradictory,
    /// The URI holds bytes that are not visible ASCII (raw UTF-8, controls): the client's
    /// input, which servers read in different ways, so a refusal as an ambiguous path.
    #[error("the forwarded URI is not visible ASCII")]
    OpaqueUri,
}

/// The tenant `X-Warden-Tenant` names, if it is sent (once, as text).
fn tenant_header(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let mut values = headers.get_all(TENANT_HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(bad_request(HeaderError::Repeated(TENANT_HEADER)));
    }
    // Not visible ASCII: no tenant is named so; the shared rule refuses it (403 or 422).
    Ok(Some(value.to_str().unwrap_or("\u{fffd}")))
}

/// One header's single value, if present.
fn single<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<Option<&'a str>, HeaderError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(HeaderError::Repeated(name));
    }
    let limit = if name.ends_with("method") {
        MAX_METHOD_LEN
    } else {
        MAX_URI_LEN
    };
    if value.len() > limit {
        return Err(HeaderError::Invalid(name, "is too long"));
    }
    match value.to_str() {
        Ok("") => Err(HeaderError::Invalid(name, "is empty")),
        Ok(text) => Ok(Some(text)),
        Err(_) if limit == MAX_URI_LEN => Err(HeaderError::OpaqueUri),
        Err(_) => Err(HeaderError::Invalid(name, "is not visible ASCII")),
    }
}

/// RFC 9110 `token`: what a method may be spelled with.
fn is_token(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl Forwarded {
    /// Reads the original request from the gateway's headers (see the module documentation).
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, HeaderError> {
        let mut found: Option<(&str, &str)> = None;
        for (method_name, uri_name) in PAIRS {
            let pair = match (single(headers, method_name)?, single(headers, uri_name)?) {
                (None, None) => continue,
                (Some(m), Some(u)) => (m, u),
                (Some(_), None) => return Err(HeaderError::Partial(method_name, uri_name)),
                (None, Some(_)) => return Err(HeaderError::Partial(uri_name, method_name)),
            };
            match found {
                Some(other) if other != pair => return Err(HeaderError::Contradictory),
                _ => found = Some(pair),
            }
        }
        let (method, uri) = found.ok_or(HeaderError::Missing)?;
        if !is_token(method) {
            return Err(HeaderError::Invalid(
                "the forwarded method",
                "is not a token",
            ));
        }
        // The query string is not part of the resource.
        let path = uri.split_once('?').map_or(uri, |(p, _)| p);
        Ok(Self {
            method: method.to_owned(),
            path: path.to_owned(),
        })
    }
}

fn bad_request(e: HeaderError) -> ApiError {
    if e == HeaderError::OpaqueUri {
        return ambiguous_path(e);
    }
    // The gateway's configuration, not the client, is at fault: say so in the log, where an
    // operator looks when every request behind the gateway is refused.
    tracing::warn!(error = %e, "forward-auth: the gateway's request is malformed");
    ApiError::new(
        StatusCode::FORBIDDEN,
        "bad_forwarded_request",
        e.to_string(),
    )
}

fn ambiguous_path(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "ambiguous_path",
        format!("the forwarded path cannot be decided: {e}"),
    )
}

/// An answer of the forward route as a gateway may see it: anything but 2xx, 401 and 403
/// becomes a 403, so no input a client controls can make the gateway answer 500; every
/// refusal names its reason in `X-Warden-Error`. Applied by the outermost per-route layer
/// ([`crate::http::observe::observe`], outside the timeout and panic layers), so their
/// answers are covered too.
pub fn for_gateway(mut res: Response) -> Response {
    let status = res.status();
    if status.is_success() {
        return res;
    }
    if status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN {
        *res.status_mut() = StatusCode::FORBIDDEN;
    }
    let code = res
        .extensions()
        .get::<ErrorCode>()
        .and_then(|ErrorCode(c)| HeaderValue::from_str(c).ok())
        .unwrap_or(HeaderValue::from_static("refused"));
    res.headers_mut().insert(ERROR_HEADER, code);
    res
}

/// Decide a request a gateway forwards.
///
/// The gateway sends the caller's `Authorization` header and the original method and URI
/// (`X-Forwarded-Method` + `X-Forwarded-Uri`, or `X-Original-Method` + `X-Original-URI`); it
/// must be in `--trusted-proxies`. Any method is accepted (gateways use GET, some the
/// original method). Only route-level rules apply: rules that read object attributes deny.
#[utoipa::path(method(get, post, put, delete, patch), path = "/v1/authz/forward", tag = "authz",
    security(("bearer" = [])),
    params(
        ("X-Forwarded-Method" = Option<String>, Header, description = "the original method (Caddy, Traefik)"),
        ("X-Forwarded-Uri" = Option<String>, Header, description = "the original URI (Caddy, Traefik)"),
        ("X-Original-Method" = Option<String>, Header, description = "the original method (nginx)"),
        ("X-Original-URI" = Option<String>, Header, description = "the original URI (nginx)"),
        ("Warden-Min-Version" = Option<String>, Header, description = "decide at this policy version or later (403 `policy_stale` if this instance cannot reach it in time)"),
        ("X-Warden-Tenant" = Option<String>, Header, description = "the tenant to decide in (default: the token's `tid`): the token's own, or any tenant for an installation admin; otherwise 403 `forbidden` (`validation_failed` for an installation admin's malformed name, `bad_forwarded_request` when sent twice)"),
    ),
    responses(
        (status = 204, description = "allowed", headers(
            ("x-warden-user" = String, description = "the caller's user name"),
            ("x-warden-roles" = String, description = "the caller's roles, comma-separated"))),
        (status = 401, body = crate::http::error::ErrorBody, description = "no valid token"),
        (status = 403, body = crate::http::error::ErrorBody, description = "refused; the code is \
            also in `X-Warden-Error`. `forbidden`: the policy denies the forwarded request; \
            `untrusted_proxy`: the peer is not in --trusted-proxies; `ambiguous_path`: the \
            forwarded path could be read in two ways; `bad_forwarded_request`: the original \
            method and URI headers are missing, partial, repeated, contradictory or oversized \
            (a gateway misconfiguration); `bad_request`, `policy_stale`, `unavailable`, \
            `timeout`, `validation_failed`: the request could not be decided (forward-auth answers only 2xx, 401 \
            and 403, since a gateway turns anything else into a 500)",
            headers(("x-warden-error" = String, description = "the refusal's error code"))),
    ))]
pub async fn forward(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    let (method, headers) = (request.method(), request.headers());
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>();
    // As on every protected route: no valid token is a 401 whoever asks (before any database
    // read), and a `Warden-Min-Version` the caller sent (gateways pass the original request's
    // headers on) is reached before anything is decided.
    let principal = authenticate_at(&state, headers, header_min_version(headers)).await?;
    if !peer.is_some_and(|ConnectInfo(p)| state.config.proxies.trusts(p.ip())) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "untrusted_proxy",
            "forward-auth answers only peers in --trusted-proxies",
        ));
    }
    // One snapshot: the check on this route, the decision and the roles share one version.
    let snap = state.engine.snapshot()?;
    let subject = principal.subject();
    // The check the policy guard makes on every other route, with the gateway's method.
    let own = Object::route(PATH);
    let gateway_method = route_action(method.as_str());
    let allowed = observed(&state, "route", subject, &own, gateway_method, || {
        Ok(snap.decide(subject, &own, gateway_method))
    })?;
    if !allowed.allowed {
        return Err(ApiError::forbidden());
    }
    let tenant = decided_in(&snap, subject, tenant_header(headers)?)?;
    let subject: std::borrow::Cow<'_, crate::policy::Subject> = if tenant == subject.tenant {
        std::borrow::Cow::Borrowed(subject)
    } else {
        let mut named = subject.clone();
        named.tenant = tenant;
        std::borrow::Cow::Owned(named)
    };
    let subject = &*subject;
    let original = Forwarded::from_headers(headers).map_err(bad_request)?;
    let resource =
        canonical_path(&original.path, state.config.path_matching).map_err(ambiguous_path)?;
    // The upstream serves HEAD with its GET handler: HEAD needs what GET needs.
    let action = route_action(&original.method);
    let object = Object::route(&resource);
    let decision = observed(&state, "forward", subject, &object, action, || {
        Ok(snap.decide(subject, &object, action))
    })?;
    if !decision.allowed {
        return Err(ApiError::forbidden());
    }
    let user = &principal.user.username_key;
    // A federated caller's token roles count too.
    let roles: Vec<String> = snap
        .roles_held(subject)
        .into_iter()
        .map(|r| r.trim_start_matches("role:").to_owned())
        .collect();
    let mut res = StatusCode::NO_CONTENT.into_response();
    let h = res.headers_mut();
    // Usernames and role names are restricted to visible ASCII, so these cannot fail; a
    // failure would still only drop the header, never turn a deny into an allow.
    if let Ok(v) = HeaderValue::from_str(user) {
        h.insert(USER_HEADER, v);
    }
    if let Ok(v) = HeaderValue::from_str(&roles.join(",")) {
        h.insert(ROLES_HEADER, v);
    }
    h.insert(
        POLICY_VERSION_HEADER,
        HeaderValue::from(decision.policy_version),
    );
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn forwarded(method: &str, path: &str) -> Result<Forwarded, HeaderError> {
        Ok(Forwarded {
            method: method.to_owned(),
            path: path.to_owned(),
        })
    }

    #[test]
    fn either_pair_names_the_original_request_without_its_query() {
        let caddy = headers(&[
            ("x-forwarded-method", "POST"),
            ("x-forwarded-uri", "/app/a?x=1&y=2"),
        ]);
        assert_eq!(Forwarded::from_headers(&caddy), forwarded("POST", "/app/a"));
        let nginx = headers(&[("x-original-method", "GET"), ("x-original-uri", "/app/b")]);
        assert_eq!(Forwarded::from_headers(&nginx), forwarded("GET", "/app/b"));
    }

    #[test]
    fn both_pairs_are_read_only_when_they_agree() {
        let same = headers(&[
            ("x-forwarded-method", "GET"),
            ("x-forwarded-uri", "/app/a"),
            ("x-original-method", "GET"),
            ("x-original-uri", "/app/a"),
        ]);
        assert_eq!(Forwarded::from_headers(&same), forwarded("GET", "/app/a"));
        for (m, u) in [("GET", "/app/admin"), ("DELETE", "/app/a")] {
            let spoofed = headers(&[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/app/a"),
                ("x-original-method", m),
                ("x-original-uri", u),
            ]);
            assert_eq!(
                Forwarded::from_headers(&spoofed),
                Err(HeaderError::Contradictory)
            );
        }
    }

    #[test]
    fn missing_partial_repeated_or_malformed_headers_are_refused() {
        let long_uri: &'static str = Box::leak(format!("/{}", "a".repeat(MAX_URI_LEN)).into());
        let table: [&[(&'static str, &'static str)]; 10] = [
            &[],
            &[("x-forwarded-uri", "/app/a")],
            &[("x-original-method", "GET")],
            // a whole nginx pair does not excuse half a Caddy pair
            &[
                ("x-original-method", "GET"),
                ("x-original-uri", "/a"),
                ("x-forwarded-method", "GET"),
            ],
            &[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/a"),
            ],
            &[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/a"),
                ("x-forwarded-uri", "/b"),
            ],
            &[("x-forwarded-method", ""), ("x-forwarded-uri", "/a")],
            &[("x-forwarded-method", "GE T"), ("x-forwarded-uri", "/a")],
            &[("x-forwarded-method", "GET"), ("x-forwarded-uri", long_uri)],
            &[
                ("x-forwarded-method", "GETGETGETGETGETGETGETGETGETGETGET"),
                ("x-forwarded-uri", "/a"),
            ],
        ];
        for pairs in table {
            assert!(
                Forwarded::from_headers(&headers(pairs)).is_err(),
                "{pairs:?} was accepted"
            );
        }
        let mut binary = HeaderMap::new();
        binary.insert("x-forwarded-method", HeaderValue::from_static("GET"));
        binary.insert(
            "x-forwarded-uri",
            HeaderValue::from_bytes(b"/caf\xc3\xa9").expect("value"),
        );
        assert!(Forwarded::from_headers(&binary).is_err());
    }
}
