//! The account lifecycle an admin drives: create (with a password, or with a one-time
//! set-password token for the owner), reset a password, delete.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::{AdminUser, MAX_ATTRIBUTES, find_person, valid_attribute};
use crate::auth::principal::Principal;
use crate::http::error::{ApiError, Json, Path};
use crate::http::guard::POLICY_VERSION_HEADER;
use crate::policy::AttrValue;
use crate::state::AppState;
use crate::store::policy::ChangeMeta;

/// `POST /v1/admin/users` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    /// 3-64 characters of `[A-Za-z0-9._-]`, unique case-insensitively; a deleted account's
    /// name is never given again.
    pub username: String,
    /// An initial password (8-256 characters). Without one, the answer carries a one-time
    /// `set_password_token` to hand to the account's owner.
    #[schema(value_type = Option<String>)]
    pub password: Option<secrecy::SecretString>,
    /// Optional e-mail.
    pub email: Option<String>,
    /// Optional display name (at most 128 characters).
    pub display_name: Option<String>,
    /// Attributes the policy reads (`department`, `clearance`, ...); `clearance` defaults to
    /// 0, as at registration.
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<BTreeMap<String, AttrValue>>,
    /// Lifetime of the set-password token in seconds (300 to 2592000, default 259200: three
    /// days). Only without `password`.
    pub set_password_ttl_secs: Option<i64>,
}

/// A one-time set-password token, shown once: whoever holds it sets the account's password
/// with `POST /v1/auth/set-password`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SetPasswordGrant {
    /// The token (never shown again; only its SHA-256 is stored).
    pub set_password_token: String,
    /// Unix time after which it no longer works.
    pub set_password_expires_at: i64,
}

impl From<&crate::auth::lifecycle::SetPasswordToken> for SetPasswordGrant {
    fn from(t: &crate::auth::lifecycle::SetPasswordToken) -> Self {
        Self {
            set_password_token: secrecy::ExposeSecret::expose_secret(&t.token).to_owned(),
            set_password_expires_at: t.expires_at,
        }
    }
}

/// A 201 that may carry a secret shown once: never stored by a cache, and naming the policy
/// version the change made.
fn created_once(body: impl serde::Serialize, version: i64) -> Response {
    let mut res = (axum::http::StatusCode::CREATED, Json(body)).into_response();
    res.headers_mut()
        .insert(POLICY_VERSION_HEADER, HeaderValue::from(version));
    res.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    res
}

/// A created account; `set_password_token` only when it was created without a password.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedUser {
    /// The account.
    #[serde(flatten)]
    pub user: AdminUser,
    /// Its set-password token, if it has no password yet.
    #[serde(flatten)]
    pub set_password: Option<SetPasswordGrant>,
}

fn ttl(asked: Option<i64>) -> Result<i64, ApiError> {
    use crate::auth::lifecycle::{SET_PASSWORD_TTL_DEFAULT, SET_PASSWORD_TTL_RANGE};
    let ttl = asked.unwrap_or(SET_PASSWORD_TTL_DEFAULT);
    if !SET_PASSWORD_TTL_RANGE.contains(&ttl) {
        return Err(ApiError::validation(
            "set_password_ttl_secs",
            format!(
                "must be {}-{}",
                SET_PASSWORD_TTL_RANGE.start(),
                SET_PASSWORD_TTL_RANGE.end()
            ),
        ));
    }
    Ok(ttl)
}

/// Create an account (role `user`, like a registration; works with registration off). With
/// `password` it can log in at once; without, the answer carries a one-time
/// `set_password_token` for its owner. Audited; a new policy version.
#[utoipa::path(post, path = "/v1/admin/users", operation_id = "create_user", tag = "admin", security(("bearer" = [])), request_body = NewUserRequest,
    responses((status = 201, body = CreatedUser), (status = 409, description = "username_taken", body = crate::http::error::ErrorBody),
        (status = 422, body = crate::http::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    Json(req): Json<NewUserRequest>,
) -> Result<Response, ApiError> {
    let (username, email) = crate::http::auth::account_fields(
        &req.username,
        req.email.as_deref(),
        req.display_name.as_deref(),
    )?;
    let password = req
        .password
        .as_ref()
        .map(|p| crate::auth::domain::Password::parse(secrecy::ExposeSecret::expose_secret(p)))
        .transpose()
        .map_err(|e| ApiError::validation("password", e))?;
    if password.is_some() && req.set_password_ttl_secs.is_some() {
        return Err(ApiError::validation(
            "set_password_ttl_secs",
            "only for an account created without a password",
        ));
    }
    let ttl = ttl(req.set_password_ttl_secs)?;
    let mut attributes = BTreeMap::from([("clearance".to_owned(), AttrValue::Int(0))]);
    for (k, v) in req.attributes.unwrap_or_default() {
        valid_attribute(&k, &v)?;
        attributes.insert(k, v);
    }
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(ApiError::validation(
            "attributes",
            format!("at most {MAX_ATTRIBUTES} per user"),
        ));
    }
    let actor = principal.user.username_key.clone();
    let no_password = password.is_none();
    super::super::detached(async move {
        let created = state
            .create_account(crate::auth::accounts::NewAccount {
                username: &username,
                password,
                email: email.as_ref(),
                display_name: req.display_name.as_deref(),
                attributes: &attributes,
                role: "role:user",
                created_by: Some(&actor),
            })
            .await
            .map_err(crate::http::auth::account_not_created)?;
        let (user, mut version) = (created.user, created.policy_version);
        let set_password = if no_password {
            let t = crate::auth::lifecycle::issue_set_password(
                &state.db,
                &state.hasher,
                &user,
                ttl,
                false,
                &actor,
                state.now(),
            )
            .await?;
            version = t.policy_version;
            let _ = state.engine.account_edited(version).await;
            Some(SetPasswordGrant::from(&t))
        } else {
            None
        };
        let location = format!("/v1/admin/users/{}", user.username_key);
        let mut res = created_once(
            CreatedUser {
                user: user.into(),
                set_password,
            },
            version,
        );
        if let Ok(v) = HeaderValue::from_str(&location) {
            res.headers_mut().insert(axum::http::header::LOCATION, v);
        }
        Ok(res)
    })
    .await
}

/// `POST /v1/admin/users/{name}/reset-password` body.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    /// Lifetime of the set-password token in seconds (300 to 2592000, default 259200).
    pub set_password_ttl_secs: Option<i64>,
}

/// Reset an account's password: the current password stops working at once, every token and
/// session of the account ends, and the answer carries a one-time `set_password_token` for
/// its owner (replacing any earlier one). Audited; a new policy version.
#[utoipa::path(post, path = "/v1/admin/users/{name}/reset-password", operation_id = "reset_user_password", tag = "admin", security(("bearer" = [])), request_body = ResetRequest,
    params(("name" = String, Path, description = "username")),
    responses((status = 201, body = SetPasswordGrant), (status = 404, body = crate::http::error::ErrorBody),
        (status = 422, body = crate::http::error::ErrorBody)))]
pub async fn reset_password(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    Json(req): Json<ResetRequest>,
) -> Result<Response, ApiError> {
    let ttl = ttl(req.set_password_ttl_secs)?;
    let actor = principal.user.username_key.clone();
    super::super::detached(async move {
        let user = find_person(&state, &name).await?;
        let t = crate::auth::lifecycle::issue_set_password(
            &state.db,
            &state.hasher,
            &user,
            ttl,
            true,
            &actor,
            state.now(),
        )
        .await?;
        let _ = state.engine.account_edited(t.policy_version).await;
        Ok(created_once(SetPasswordGrant::from(&t), t.policy_version))
    })
    .await
}

/// Delete an account: its role assignments, sessions and set-password token go with it, at
/// once on every instance; the audit keeps its name, and the name is never given to another
/// account (so nobody inherits the documents it owns or a rule naming it). Refused (409
/// `lockout`) when nobody else could administer the policy. A new policy version.
#[utoipa::path(delete, path = "/v1/admin/users/{name}", operation_id = "delete_user", tag = "admin", security(("bearer" = [])),
    params(("name" = String, Path, description = "username")),
    responses((status = 204, description = "deleted"), (status = 404, body = crate::http::error::ErrorBody),
        (status = 409, description = "lockout or invariant_violation", body = crate::http::error::ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let actor = principal.user.username_key.clone();
    super::super::detached(async move {
        let user = find_person(&state, &name).await?;
        let summary = format!("deleted account {}", user.username_key);
        let meta = ChangeMeta {
            actor: &actor,
            action: "users.delete",
            summary: &summary,
        };
        let version = state
            .engine
            .delete_account(&user, &meta, state.now())
            .await?;
        let mut res = axum::http::StatusCode::NO_CONTENT.into_response();
        res.headers_mut()
            .insert(POLICY_VERSION_HEADER, HeaderValue::from(version));
        Ok(res)
    })
    .await
}
