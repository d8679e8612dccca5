//! `/v1/auth/*`, `/v1/me` and the JWKS.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::accounts::{AccountError, NewAccount};
use crate::auth::clients::{self, ClientCredentials};
use crate::auth::domain::{Email, Password};
use crate::auth::principal::Principal;
use crate::auth::sessions::{self, GrantError};
use crate::auth::tokens::{TokenResponse, hash_refresh_token};
use crate::http::client::ClientAddr;
use crate::http::error::{ApiError, Json};
use crate::policy::AttrValue;
use crate::policy::username::Username;
use crate::state::AppState;
use crate::store::{self, users::UserRow};

/// Longest access token `/v1/auth/revoke` looks at (Warden's are well under 1 KiB).
const MAX_ACCESS_TOKEN_BYTES: usize = 4096;

/// Routes that need no token (or check it themselves).
pub fn public_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(token))
        .routes(routes!(revoke))
        .routes(routes!(logout_all))
        .routes(routes!(jwks))
        .routes(routes!(set_password))
}

/// Routes guarded by the policy.
pub fn protected_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(change_password))
}

/// `POST /v1/auth/register` body. Unknown fields (roles, attributes, scopes, disabled, ...)
/// are refused: nobody grants themself anything by registering.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 3-64 characters of `[A-Za-z0-9._-]`, unique case-insensitively.
    pub username: String,
    /// 8-256 characters. Never printed (`Debug` shows it redacted).
    #[schema(value_type = String)]
    pub password: SecretString,
    /// Optional e-mail.
    pub email: Option<String>,
    /// Optional display name (≤ 128 characters).
    pub display_name: Option<String>,
}

/// A user as shown to clients (never the hash).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PublicUser {
    /// Id.
    pub id: i64,
    /// Name as registered.
    pub username: String,
    /// E-mail.
    pub email: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// Roles, direct and inherited (`role:` prefix removed).
    pub roles: Vec<String>,
    /// Attributes the policy reads.
    #[schema(value_type = Object)]
    pub attributes: BTreeMap<String, AttrValue>,
    /// Scopes this user may request.
    pub requestable_scopes: Vec<String>,
}

fn roles_of(state: &AppState, user: &UserRow) -> Vec<String> {
    state
        .engine
        .snapshot()
        .map(|s| s.roles_of(&format!("user:{}", user.username_key)))
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.trim_start_matches("role:").to_owned())
        .collect()
}

fn public_user(state: &AppState, user: UserRow) -> PublicUser {
    PublicUser {
        roles: roles_of(state, &user),
        id: user.id,
        username: user.username,
        email: user.email,
        display_name: user.display_name,
        attributes: user.attributes,
        requestable_scopes: user.scopes,
    }
}

/// Register an account (role `user`).
#[utoipa::path(post, path = "/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = PublicUser), (status = 403, description = "registration disabled", body = crate::http::error::ErrorBody),
        (status = 409, description = "username_taken", body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody),
        (status = 429, description = "too many registrations from this address", body = crate::http::error::ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    Json(req): Json<RegisterRequest>,
) -> Result<(StatusCode, Json<PublicUser>), ApiError> {
    if !state.config.allow_registration {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "registration_disabled",
            "self-registration is disabled on this server",
        ));
    }
    if let Err(retry_after) = state.limiter.begin_registration(addr, state.now()) {
        tracing::warn!(event = "registration_throttled", client = ?addr, retry_after, "registration throttled");
        return Err(ApiError::rate_limited(retry_after));
    }
    let (username, email) = account_fields(
        &req.username,
        req.email.as_deref(),
        req.display_name.as_deref(),
    )?;
    let password = Password::parse(req.password.expose_secret())
        .map_err(|e| ApiError::validation("password", e))?;
    // New accounts start at clearance 0, so clearance conditions evaluate for them.
    let attributes = BTreeMap::from([("clearance".to_owned(), AttrValue::Int(0))]);
    let user = state
        .create_account(NewAccount {
            username: &username,
            password: Some(password),
            email: email.as_ref(),
            display_name: req.display_name.as_deref(),
            attributes: &attributes,
            role: "role:user",
            created_by: None,
        })
        .await
        .map_err(account_not_created)?
        .user;
    Ok((StatusCode::CREATED, Json(public_user(&state, user))))
}

/// A new account's name, e-mail and display name, validated as registration validates them
/// (an admin creating an account is held to the same rules).
pub(crate) fn account_fields(
    username: &str,
    email: Option<&str>,
    display_name: Option<&str>,
) -> Result<(Username, Option<Email>), ApiError> {
    let username = Username::parse(username).map_err(|e| ApiError::validation("username", e))?;
    let email = email
        .map(Email::parse)
        .transpose()
        .map_err(|e| ApiError::validation("email", e))?;
    if display_name.is_some_and(|d| d.chars().count() > 128 || d.chars().any(char::is_control)) {
        return Err(ApiError::validation(
            "display_name",
            "must be at most 128 characters, without control characters",
        ));
    }
    Ok((username, email))
}

/// A taken name (also a deleted account's: names are never given twice) is 409
/// `username_taken`; anything else answers as it would anywhere.
pub(crate) fn account_not_created(e: AccountError) -> ApiError {
    match e {
        AccountError::Store(store::StoreError::Conflict(_)) => {
            ApiError::conflict("username_taken", "this username is taken")
        }
        other => other.into(),
    }
}

/// The token endpoint's parameters (RFC 6749 §4.3 and §6). Unknown parameters are ignored,
/// as the RFC requires.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct TokenRequest {
    /// `password` or `refresh_token`.
    pub grant_type: Option<String>,
    /// For `password`.
    pub username: Option<String>,
    /// For `password`. Never printed (`Debug` shows it redacted).
    #[schema(value_type = Option<String>)]
    pub password: Option<SecretString>,
    /// Space-separated scopes (optional).
    pub scope: Option<String>,
    /// For `refresh_token`.
    pub refresh_token: Option<String>,
    /// For `password`, `refresh_token` and `client_credentials`: the tenant to issue the
    /// access token in (its `tid` claim), one the account is a member of (403 `not_a_member`
    /// otherwise). Omitted: the account's only tenant, or `default`. Refreshing with another
    /// tenant switches without the password.
    pub tenant: Option<String>,
    /// For `client_credentials` with `client_secret_post` (else send HTTP Basic).
    pub client_id: Option<String>,
    /// For `client_credentials` with `client_secret_post`. Never printed.
    #[schema(value_type = Option<String>)]
    pub client_secret: Option<SecretString>,
}

/// The client's credentials for `client_credentials`: HTTP Basic (`client_secret_basic`) or
/// the body's `client_id` and `client_secret` (`client_secret_post`), never both (RFC 6749
/// §2.3: one method per request). None of either is `invalid_client`.
fn client_credentials_of(
    headers: &HeaderMap,
    client_id: Option<String>,
    client_secret: Option<SecretString>,
) -> Result<ClientCredentials, GrantError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(ClientCredentials::from_basic);
    match (basic, client_id, client_secret) {
        (Some(_), _, Some(_)) => Err(GrantError::InvalidRequest(
            "use one client authentication method: HTTP Basic or client_secret in the body",
        )),
        (Some(basic), body_id, None) => {
            let basic = basic?;
            if body_id.is_some_and(|id| id != basic.client_id) {
                return Err(GrantError::InvalidRequest(
                    "client_id differs from the client authenticated by HTTP Basic",
                ));
            }
            Ok(basic)
        }
        (None, Some(client_id), Some(secret)) => Ok(ClientCredentials { client_id, secret }),
        _ => Err(GrantError::InvalidClient(
            "client authentication is required: HTTP Basic or client_id and client_secret",
        )),
    }
}

fn oauth(code: &'static str, message: &'static str) -> ApiError {
    ApiError::bad_request(code, message)
}

/// Form (`application/x-www-form-urlencoded`, what OAuth2 clients send) or JSON body.
pub struct FormOrJson<T>(pub T);

impl<T> FromRequest<AppState> for FormOrJson<T>
where
    T: serde::de::DeserializeOwned + Send + 'static,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let bad = |e: ApiError| match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT => e,
            _ => oauth("invalid_request", "the request body could not be read"),
        };
        if ct.starts_with("application/x-www-form-urlencoded") {
            let Form(v) = Form::<T>::from_request(req, state)
                .await
                .map_err(|e| bad(e.into()))?;
            Ok(Self(v))
        } else if ct.starts_with("application/json") {
            let Json(v) = Json::<T>::from_request(req, state).await.map_err(bad)?;
            Ok(Self(v))
        } else {
            Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send application/x-www-form-urlencoded or application/json",
            ))
        }
    }
}

fn no_store(body: TokenResponse) -> Response {
    let mut res = axum::Json(body).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

/// OAuth2 token endpoint: `password` and `refresh_token` grants for people, and
/// `client_credentials` for service accounts (RFC 6749 §4.4: HTTP Basic or `client_id` and
/// `client_secret` in the body; the answer has no refresh token).
#[utoipa::path(post, path = "/v1/auth/token", tag = "auth",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_secret_basic" = [])),
    responses((status = 200, body = TokenResponse),
        (status = 400, description = "invalid_request, invalid_grant, unsupported_grant_type, invalid_scope", body = crate::http::error::ErrorBody),
        (status = 401, description = "invalid_client (client_credentials): unknown client, wrong or expired secret, or none; with `WWW-Authenticate: Basic`", body = crate::http::error::ErrorBody),
        (status = 403, description = "not_a_member: the account may not have a token in the tenant it named (not a member, or no such enabled tenant)", body = crate::http::error::ErrorBody),
        (status = 429, description = "too many attempts", body = crate::http::error::ErrorBody)))]
pub async fn token(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    FormOrJson(req): FormOrJson<TokenRequest>,
) -> Result<Response, ApiError> {
    match req.grant_type.as_deref() {
        Some("password") => {
            let grants = state.grants();
            let (user, scope) = (req.username.as_deref(), req.scope.as_deref());
            let tenant = req.tenant.as_deref();
            let issued = sessions::login(&grants, user, req.password, scope, tenant, addr).await;
            match &issued {
                Ok(_) => state.metrics.login("success"),
                Err(GrantError::Throttled(_)) => state.metrics.login("throttled"),
                Err(GrantError::InvalidGrant(_)) => state.metrics.login("failure"),
                Err(_) => {}
            }
            Ok(no_store(issued?))
        }
        Some("refresh_token") => {
            let (presented, scope) = (req.refresh_token.as_deref(), req.scope.as_deref());
            Ok(no_store(
                sessions::refresh(&state.issuer(), presented, scope, req.tenant.as_deref()).await?,
            ))
        }
        Some("client_credentials") => {
            let creds = client_credentials_of(&headers, req.client_id, req.client_secret)?;
            let grants = state.grants();
            let scope = req.scope.as_deref();
            Ok(no_store(
                clients::client_credentials(&grants, creds, scope, req.tenant.as_deref(), addr)
                    .await?,
            ))
        }
        Some(_) => Err(oauth(
            "unsupported_grant_type",
            "grant_type must be password, refresh_token or client_credentials",
        )),
        None => Err(oauth("invalid_request", "grant_type is required")),
    }
}

/// RFC 7009 revocation request.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct RevokeRequest {
    /// A refresh token or an access token: either way its whole session (refresh family)
    /// is revoked, and the session's access tokens are rejected from then on.
    pub token: Option<String>,
    /// Ignored hint.
    pub token_type_hint: Option<String>,
}

/// Revoke a token's whole session: a refresh token's family, or the session an access token
/// belongs to (RFC 7009: 200 even for unknown or invalid tokens).
#[utoipa::path(post, path = "/v1/auth/revoke", tag = "auth",
    request_body(content = RevokeRequest, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "revoked (or unknown)"), (status = 400, body = crate::http::error::ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    FormOrJson(req): FormOrJson<RevokeRequest>,
) -> Result<StatusCode, ApiError> {
    let Some(token) = req.token.filter(|t| !t.is_empty()) else {
        return Err(oauth("invalid_request", "token is required"));
    };
    let now = state.now();
    if token.len() <= 512 && !token.contains('.') {
        store::tokens::revoke_family_of(&state.db, &hash_refresh_token(&token), now).await?;
    } else if token.len() <= MAX_ACCESS_TOKEN_BYTES {
        // An access token: only one this server issued and that is still valid names a
        // session (an expired one needs no revoking; a forged one names nothing).
        if let Ok(claims) = state.keys.verify(&token, now) {
            store::tokens::revoke_family(&state.db, &claims.sid, now).await?;
        }
    }
    Ok(StatusCode::OK)
}

/// Account endpoints (password, sessions) are for Warden's own accounts: a federated
/// caller's password and sessions live at their identity provider.
fn refuse_federated(principal: &Principal) -> Result<(), ApiError> {
    if principal.is_federated() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "federated_caller",
            "this token was issued by an external identity provider: manage its sessions and \
             password there",
        ));
    }
    Ok(())
}

/// Reject every token issued to the caller so far (access and refresh).
#[utoipa::path(post, path = "/v1/auth/logout-all", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "all earlier tokens revoked"), (status = 401, body = crate::http::error::ErrorBody),
        (status = 403, description = "federated_caller: a token of an external issuer is revoked there", body = crate::http::error::ErrorBody)))]
pub async fn logout_all(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<StatusCode, ApiError> {
    refuse_federated(&principal)?;
    let now = state.now();
    store::users::bump_token_generation(&state.db, principal.user.id, now).await?;
    store::tokens::revoke_all_of_user(&state.db, principal.user.id, now).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The public keys that verify Warden's tokens.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth", responses((status = 200, description = "JWK set")))]
pub async fn jwks(State(state): State<AppState>) -> Response {
    let mut res = axum::Json(state.keys.jwks().clone()).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res
}

/// `GET /v1/me` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    /// The user.
    #[serde(flatten)]
    pub user: PublicUser,
    /// Scopes of the presented token.
    pub token_scopes: Vec<String>,
    /// The subject the policy decides this caller's requests as: what an application's policy
    /// replica (`warden-client`) decides with, so that it decides exactly like the server.
    pub policy_subject: PolicySubject,
}

/// The policy's view of a caller (`r.sub`): principal, plain name, the token's effective scopes
/// and the attributes (`kind` included).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicySubject {
    /// `user:<name>` (the lower-cased username).
    pub principal: String,
    /// The lower-cased username (compared with `r.obj.owner`).
    pub name: String,
    /// The token's effective scopes.
    pub scopes: Vec<String>,
    /// Attributes, `kind` (`user` or `service`) included.
    #[schema(value_type = Object)]
    pub attributes: BTreeMap<String, AttrValue>,
    /// The tenant the token decides in (its `tid`).
    pub tenant: String,
    /// Roles the credential itself carries (a federated token's mapped roles; empty for
    /// Warden's own tokens, whose roles come from the policy's assignments).
    pub roles: Vec<String>,
}

impl From<crate::policy::Subject> for PolicySubject {
    fn from(s: crate::policy::Subject) -> Self {
        Self {
            principal: s.principal,
            name: s.name,
            scopes: s.scopes,
            attributes: s.attributes,
            tenant: s.tenant,
            roles: s.roles,
        }
    }
}

/// Who am I: username, roles, attributes and the presented token's scopes.
#[utoipa::path(get, path = "/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = crate::http::error::ErrorBody), (status = 403, body = crate::http::error::ErrorBody)))]
pub async fn me(State(state): State<AppState>, principal: Principal) -> Json<Me> {
    // A federated caller's roles include those their token carries.
    let subject = principal.subject();
    let mut user = public_user(&state, UserRow::clone(&principal.user));
    if !subject.roles.is_empty() {
        user.roles = state
            .engine
            .snapshot()
            .map(|s| s.roles_held(subject))
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.trim_start_matches("role:").to_owned())
            .collect();
    }
    Json(Me {
        policy_subject: subject.clone().into(),
        token_scopes: principal.scopes,
        user,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bodies_never_print_their_password() {
        let register: RegisterRequest =
            serde_json::from_str(r#"{"username": "alice", "password": "hunter2hunter2"}"#)
                .expect("register body");
        let token: TokenRequest = serde_json::from_str(
            r#"{"grant_type": "password", "username": "alice", "password": "hunter2hunter2"}"#,
        )
        .expect("token body");
        let client: TokenRequest = serde_json::from_str(
            r#"{"grant_type": "client_credentials", "client_id": "alice", "client_secret": "hunter2hunter2"}"#,
        )
        .expect("client body");
        for printed in [
            format!("{register:?}"),
            format!("{token:?}"),
            format!("{client:?}"),
        ] {
            assert!(!printed.contains("hunter2"), "{printed}");
            assert!(printed.contains("alice"), "{printed}");
        }
        assert_eq!(register.password.expose_secret(), "hunter2hunter2");
    }
}

/// `POST /v1/auth/set-password` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPasswordRequest {
    /// The one-time token an admin handed over (from creating the account without a password,
    /// or from a reset).
    #[schema(value_type = String)]
    pub token: SecretString,
    /// The new password: 8-256 characters, as at registration.
    #[schema(value_type = String)]
    pub password: SecretString,
}

/// Set a password with a one-time set-password token. The token is used up, and every token
/// and session the account had ends; then log in with the new password.
#[utoipa::path(post, path = "/v1/auth/set-password", tag = "auth", request_body = SetPasswordRequest,
    responses((status = 204, description = "the password is set"),
        (status = 400, description = "invalid_set_password_token: unknown, used or expired", body = crate::http::error::ErrorBody),
        (status = 422, body = crate::http::error::ErrorBody)))]
pub async fn set_password(
    State(state): State<AppState>,
    Json(req): Json<SetPasswordRequest>,
) -> Result<StatusCode, ApiError> {
    let password = Password::parse(req.password.expose_secret())
        .map_err(|e| ApiError::validation("password", e))?;
    crate::auth::lifecycle::redeem_set_password(
        &state.db,
        &state.hasher,
        &req.token,
        password,
        state.now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/me/password` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The account's password now.
    #[schema(value_type = String)]
    pub current_password: SecretString,
    /// The new one: 8-256 characters, as at registration.
    #[schema(value_type = String)]
    pub new_password: SecretString,
}

/// Change your own password. The current one is required (wrong: 403 `wrong_password`,
/// throttled like a login); every other session of the account ends at once, this one goes on.
#[utoipa::path(post, path = "/v1/me/password", tag = "auth", security(("bearer" = [])), request_body = ChangePasswordRequest,
    responses((status = 204, description = "changed; other sessions revoked"),
        (status = 401, body = crate::http::error::ErrorBody),
        (status = 403, description = "forbidden by the policy, or wrong_password", body = crate::http::error::ErrorBody),
        (status = 409, description = "concurrent_change", body = crate::http::error::ErrorBody),
        (status = 422, body = crate::http::error::ErrorBody),
        (status = 429, description = "too many wrong passwords", body = crate::http::error::ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    principal: Principal,
    Json(req): Json<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    refuse_federated(&principal)?;
    let new = Password::parse(req.new_password.expose_secret())
        .map_err(|e| ApiError::validation("new_password", e))?;
    crate::auth::lifecycle::change_password(
        &state.db,
        &state.hasher,
        &state.limiter,
        &principal.user,
        req.current_password,
        new,
        Some(principal.claims.sid.as_str()),
        addr,
        state.now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
