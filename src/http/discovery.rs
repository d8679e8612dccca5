//! RFC 8414 authorization-server metadata for Warden's own token endpoint, so a standard
//! OAuth 2.0 client configures itself from one URL.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

/// `GET /.well-known/oauth-authorization-server` (RFC 8414 §2).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuthorizationServerMetadata {
    /// Warden's `iss` (`--issuer`).
    pub issuer: String,
    /// `POST /v1/auth/token`.
    pub token_endpoint: String,
    /// How clients authenticate at the token endpoint (a service account's secret in the
    /// form body or with HTTP Basic).
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    /// `POST /v1/auth/revoke` (RFC 7009).
    pub revocation_endpoint: String,
    /// `GET /.well-known/jwks.json`.
    pub jwks_uri: String,
    /// `password`, `refresh_token`, `client_credentials`.
    pub grant_types_supported: Vec<&'static str>,
    /// Empty: Warden has no authorization endpoint (no browser redirects).
    pub response_types_supported: Vec<&'static str>,
    /// The scopes the current policy's rules require.
    pub scopes_supported: Vec<String>,
}

/// Routes of this module (public: the metadata is no secret).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(authorization_server_metadata))
}

/// The base URL endpoints are named under: the issuer when it is an http(s) URL (set
/// `--issuer` to Warden's public URL in production), else the request's own `Host`.
fn base_url(issuer: &str, headers: &HeaderMap) -> (String, bool) {
    if issuer.starts_with("https://") || issuer.starts_with("http://") {
        return (issuer.trim_end_matches('/').to_owned(), true);
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    (format!("http://{host}"), false)
}

/// OAuth 2.0 authorization-server metadata (RFC 8414) for Warden's token endpoint.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "auth",
    responses((status = 200, body = AuthorizationServerMetadata)))]
pub async fn authorization_server_metadata(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Response {
    let (base, from_issuer) = base_url(&state.config.issuer, &headers);
    let mut scopes: Vec<String> = state
        .engine
        .snapshot()
        .map(|s| {
            s.rules()
                .iter()
                .map(|r| r.scope.clone())
                .filter(|s| !s.is_empty() && s != "*")
                .collect()
        })
        .unwrap_or_default();
    scopes.sort();
    scopes.dedup();
    let metadata = AuthorizationServerMetadata {
        issuer: state.config.issuer.clone(),
        token_endpoint: format!("{base}/v1/auth/token"),
        token_endpoint_auth_methods_supported: vec!["client_secret_post", "client_secret_basic"],
        revocation_endpoint: format!("{base}/v1/auth/revoke"),
        jwks_uri: format!("{base}/.well-known/jwks.json"),
        grant_types_supported: vec!["password", "refresh_token", "client_credentials"],
        response_types_supported: Vec::new(),
        scopes_supported: scopes,
    };
    let mut res = axum::Json(metadata).into_response();
    // Named after the request's Host: answer only that request, never a shared cache.
    let cache = if from_issuer {
        "public, max-age=300"
    } else {
        "no-store"
    };
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    res
}
