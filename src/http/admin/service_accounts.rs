//! Service accounts: create (the secret shown once), list, show, delete, rotate the secret.
//! Each write is a policy version through the change protocol (validated, invariant- and
//! lock-out-checked, audited), the account written in the change's own transaction.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::users::{MAX_ATTRIBUTES, valid_attribute};
use super::{Page, Versioned, detached};
use crate::auth::clients::{NewSecret, new_client_id};
use crate::auth::domain::Scope;
use crate::auth::principal::Principal;
use crate::engine::Snapshot;
use crate::engine::change::AccountEdit;
use crate::http::error::{ApiError, Json, Path, Query};
use crate::policy::AttrValue;
use crate::policy::change::Op;
use crate::policy::username::Username;
use crate::state::AppState;
use crate::store::policy::ChangeMeta;
use crate::store::service_accounts::{self as accounts, ServiceAccount, Write};

/// How long a replaced secret keeps working when the rotation does not say.
pub const DEFAULT_OVERLAP_SECS: i64 = 3600;
/// The longest overlap a rotation may ask for: 7 days.
pub const MAX_OVERLAP_SECS: i64 = 7 * 24 * 3600;
/// Most roles given at creation.
const MAX_ROLES: usize = 32;

/// `POST /v1/admin/service-accounts` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceAccount {
    /// 3-64 characters of `[A-Za-z0-9._-]`, unique case-insensitively among users and
    /// service accounts (it is the subject `user:<name>` in the policy).
    pub name: String,
    /// Roles to assign (`reader` or `role:reader`); each must exist in the policy.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Scopes the service may request; its tokens carry at most these.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Attributes the policy reads (`r.sub.*`), as for users. `kind` is Warden's.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub attributes: BTreeMap<String, AttrValue>,
}

/// A secret that works now (never its value).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SecretView {
    /// When it was made (Unix seconds).
    pub created_at: i64,
    /// When it stops working: null for the current secret, the end of the overlap for the
    /// one the last rotation replaced.
    pub expires_at: Option<i64>,
}

/// A service account as shown to admins (never a secret).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServiceAccountView {
    /// Its name: the policy's subject `user:<name>`.
    pub name: String,
    /// Its client id (public).
    pub client_id: String,
    /// Roles assigned directly (`role:<name>`).
    pub roles: Vec<String>,
    /// Scopes it may request.
    pub scopes: Vec<String>,
    /// Attributes.
    #[schema(value_type = Object)]
    pub attributes: BTreeMap<String, AttrValue>,
    /// Disabled (through `PATCH /v1/admin/users/{name}`)?
    pub disabled: bool,
    /// When it was created.
    pub created_at: i64,
    /// Its working secrets, newest first.
    pub secrets: Vec<SecretView>,
}

/// The answer to a create: the account and its secret, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedServiceAccount {
    /// The account.
    #[serde(flatten)]
    pub account: ServiceAccountView,
    /// The secret. Store it now: Warden keeps only its hash and never shows it again.
    pub client_secret: String,
    /// The policy version the creation made.
    pub policy_version: i64,
}

/// `POST .../{name}/secret` body (optional: `{}` or no body at all is the default overlap).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// How long the replaced secret (and the tokens it obtained) keeps working, in seconds:
    /// 0-604800, default 3600. A secret still in an earlier overlap stops at once.
    pub overlap_secs: Option<i64>,
}

/// The answer to a rotation: the new secret, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RotatedSecret {
    /// The client id (unchanged).
    pub client_id: String,
    /// The new secret. Store it now: it is never shown again.
    pub client_secret: String,
    /// When the replaced secret stops working (Unix seconds).
    pub previous_secret_expires_at: i64,
    /// The policy version the rotation made.
    pub policy_version: i64,
}

/// A page of service accounts.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServiceAccountPage {
    /// All service accounts.
    pub total: i64,
    /// This page.
    pub items: Vec<ServiceAccountView>,
}

fn view(snap: Option<&Snapshot>, a: ServiceAccount) -> ServiceAccountView {
    let member = format!("user:{}", a.user.username_key);
    let mut roles: Vec<String> = snap
        .map(|s| {
            s.assignments()
                .iter()
                .filter(|x| x.member == member)
                .map(|x| x.role.clone())
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    ServiceAccountView {
        name: a.user.username,
        client_id: a.client_id,
        roles,
        scopes: a.user.scopes,
        attributes: a.user.attributes,
        disabled: a.user.disabled,
        created_at: a.created_at,
        secrets: a
            .secrets
            .into_iter()
            .map(|s| SecretView {
                created_at: s.created_at,
                expires_at: s.expires_at,
            })
            .collect(),
    }
}

async fn find(state: &AppState, name: &str) -> Result<ServiceAccount, ApiError> {
    accounts::find_by_name(&state.db, name, state.now())
        .await?
        .ok_or_else(|| ApiError::not_found("service account"))
}

fn name_taken() -> ApiError {
    ApiError::conflict(
        "name_taken",
        "a user or service account already has this name",
    )
}

/// `role:<r>` for each role given, each one the policy knows (a rule's subject, or a role in
/// an assignment): a role nobody has defined grants nothing and is most likely a typo.
fn known_roles(snap: &Snapshot, given: &[String]) -> Result<Vec<String>, ApiError> {
    if given.len() > MAX_ROLES {
        return Err(ApiError::validation(
            "roles",
            format!("at most {MAX_ROLES}"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(given.len());
    for r in given {
        let role = if r.starts_with("role:") {
            r.clone()
        } else {
            format!("role:{r}")
        };
        let known = snap.rules().iter().any(|x| x.subject == role)
            || snap
                .assignments()
                .iter()
                .any(|a| a.role == role || a.member == role);
        if !known {
            return Err(ApiError::validation(
                "roles",
                format!("`{role}` is not a role of the policy"),
            ));
        }
        if !out.contains(&role) {
            out.push(role);
        }
    }
    Ok(out)
}

/// Create a service account; the answer carries its `client_secret`, shown this once.
#[utoipa::path(post, path = "/v1/admin/service-accounts", operation_id = "create_service_account", tag = "admin", security(("bearer" = [])),
    request_body = CreateServiceAccount,
    responses((status = 201, body = CreatedServiceAccount, headers(("etag" = String, description = "the policy version made, quoted: `\"8\"`"))),
        (status = 409, description = "name_taken, invariant_violation, lockout", body = crate::http::error::ErrorBody),
        (status = 422, description = "invalid name, unknown role, invalid scope or attribute", body = crate::http::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<CreateServiceAccount>,
) -> Result<Versioned<CreatedServiceAccount>, ApiError> {
    let name = Username::parse(&body.name).map_err(|e| ApiError::validation("name", e))?;
    if body.scopes.iter().any(|s| s.contains(' ')) {
        return Err(ApiError::validation(
            "scopes",
            "a scope cannot contain a space",
        ));
    }
    let scopes =
        Scope::parse_list(&body.scopes.join(" ")).map_err(|e| ApiError::validation("scopes", e))?;
    for (k, v) in &body.attributes {
        valid_attribute(k, v)?;
    }
    if body.attributes.len() > MAX_ATTRIBUTES {
        return Err(ApiError::validation(
            "attributes",
            format!("at most {MAX_ATTRIBUTES} per account"),
        ));
    }
    let roles = known_roles(&*state.engine.snapshot()?, &body.roles)?;
    if crate::store::users::find_by_username(&state.db, name.as_str())
        .await?
        .is_some()
    {
        return Err(name_taken());
    }
    let member = format!("user:{}", name.key());
    let ops = roles
        .iter()
        .map(|r| Op::assign(&member, r))
        .collect::<Result<Vec<_>, _>>()?;
    let client_id = new_client_id().map_err(ApiError::internal)?;
    let secret = NewSecret::generate(&state.hasher)
        .await
        .map_err(ApiError::internal)?;
    let actor = principal.user.username_key.clone();
    detached(async move {
        let summary = format!(
            "service account {} created with {}",
            name.key(),
            if roles.is_empty() { "no role".to_owned() } else { roles.join(", ") }
        );
        let meta = ChangeMeta {
            actor: &actor,
            action: "service_accounts.create",
            summary: &summary,
        };
        let write = Write::Create {
            name: name.as_str(),
            client_id: &client_id,
            secret_hash: &secret.hash,
            scopes: &scopes,
            attributes: &body.attributes,
        };
        let edit = AccountEdit {
            creating: Some(name.as_str()),
            changed: None,
        };
        let (applied, written) = state
            .engine
            .change_service_account(ops, &meta, state.now(), write, edit)
            .await
            .map_err(|e| match ApiError::from(e) {
                e if e.code() == "conflict" => name_taken(),
                e => e,
            })?;
        drop(written.guard);
        let secret_id = written
            .secret_id
            .ok_or_else(|| ApiError::internal("a created service account has no secret"))?;
        tracing::info!(event = "service_account_created", actor = %actor, name = %name.key(),
            client_id = %client_id, policy_version = applied.policy_version, "service account created");
        let account = find(&state, name.as_str()).await?;
        let snap = state.engine.snapshot().ok();
        Ok(Versioned::created(
            applied.policy_version,
            CreatedServiceAccount {
                account: view(snap.as_deref(), account),
                client_secret: secret.reveal(secret_id).expose_secret().to_owned(),
                policy_version: applied.policy_version,
            },
        ))
    })
    .await
}

/// List service accounts (never a secret).
#[utoipa::path(get, path = "/v1/admin/service-accounts", operation_id = "list_service_accounts", tag = "admin", security(("bearer" = [])), params(Page),
    responses((status = 200, body = ServiceAccountPage)))]
pub async fn list(
    State(state): State<AppState>,
    Query(page): Query<Page>,
) -> Result<Json<ServiceAccountPage>, ApiError> {
    let (limit, offset) = page.bounds()?;
    let (rows, total) = accounts::list(&state.db, limit, offset, state.now()).await?;
    let snap = state.engine.snapshot().ok();
    Ok(Json(ServiceAccountPage {
        total,
        items: rows.into_iter().map(|a| view(snap.as_deref(), a)).collect(),
    }))
}

/// Show one service account (never a secret).
#[utoipa::path(get, path = "/v1/admin/service-accounts/{name}", operation_id = "show_service_account", tag = "admin", security(("bearer" = [])),
    params(("name" = String, Path, description = "service account name")),
    responses((status = 200, body = ServiceAccountView), (status = 404, body = crate::http::error::ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ServiceAccountView>, ApiError> {
    let account = find(&state, &name).await?;
    let snap = state.engine.snapshot().ok();
    Ok(Json(view(snap.as_deref(), account)))
}

/// Delete a service account: its role assignments, secrets and every token it holds stop
/// working at once, on every instance.
#[utoipa::path(delete, path = "/v1/admin/service-accounts/{name}", operation_id = "delete_service_account", tag = "admin", security(("bearer" = [])),
    params(("name" = String, Path, description = "service account name")),
    responses((status = 204, description = "deleted", headers(("warden-policy-version" = i64, description = "the policy version the deletion made"))),
        (status = 404, body = crate::http::error::ErrorBody),
        (status = 409, description = "lockout: it is the last account able to administer the policy", body = crate::http::error::ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let actor = principal.user.username_key.clone();
    detached(async move {
        let account = find(&state, &name).await?;
        let key = account.user.username_key.clone();
        let member = format!("user:{key}");
        let ops = state
            .engine
            .snapshot()?
            .assignments()
            .iter()
            .filter(|a| a.member == member)
            .map(|a| Op::unassign(&a.member, &a.role))
            .collect::<Result<Vec<_>, _>>()?;
        let mut gone = account.user.clone();
        gone.disabled = true;
        let summary = format!("service account {key} deleted");
        let meta = ChangeMeta {
            actor: &actor,
            action: "service_accounts.delete",
            summary: &summary,
        };
        let write = Write::Delete {
            user_id: account.user.id,
        };
        let edit = AccountEdit {
            creating: None,
            changed: Some(&gone),
        };
        let (applied, written) = state
            .engine
            .change_service_account(ops, &meta, state.now(), write, edit)
            .await?;
        drop(written.guard);
        tracing::info!(event = "service_account_deleted", actor = %actor, name = %key,
            policy_version = applied.policy_version, "service account deleted");
        let mut res = StatusCode::NO_CONTENT.into_response();
        res.headers_mut().insert(
            crate::http::guard::POLICY_VERSION_HEADER,
            applied.policy_version.into(),
        );
        Ok(res)
    })
    .await
}

/// Rotate the secret: 201 with the new `client_secret` (shown this once). The replaced
/// secret, and the tokens it obtained, keep working for `overlap_secs` (default 3600), then
/// stop on every instance.
#[utoipa::path(post, path = "/v1/admin/service-accounts/{name}/secret", operation_id = "rotate_service_account_secret", tag = "admin", security(("bearer" = [])),
    params(("name" = String, Path, description = "service account name")),
    request_body(content = Option<RotateSecret>, description = "optional; no body is the default overlap"),
    responses((status = 201, body = RotatedSecret, headers(("etag" = String, description = "the policy version made, quoted: `\"8\"`"))),
        (status = 404, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)))]
pub async fn rotate(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Versioned<RotatedSecret>, ApiError> {
    let req: RotateSecret = if body.iter().all(u8::is_ascii_whitespace) {
        RotateSecret::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::validation("body", e))?
    };
    let overlap = req.overlap_secs.unwrap_or(DEFAULT_OVERLAP_SECS);
    if !(0..=MAX_OVERLAP_SECS).contains(&overlap) {
        return Err(ApiError::validation(
            "overlap_secs",
            format!("must be 0-{MAX_OVERLAP_SECS}"),
        ));
    }
    let account = find(&state, &name).await?;
    let secret = NewSecret::generate(&state.hasher)
        .await
        .map_err(ApiError::internal)?;
    let actor = principal.user.username_key.clone();
    detached(async move {
        let now = state.now();
        let key = account.user.username_key.clone();
        let summary = format!("secret of service account {key} rotated; the previous one works for {overlap} s");
        let meta = ChangeMeta {
            actor: &actor,
            action: "service_accounts.rotate",
            summary: &summary,
        };
        let write = Write::Rotate {
            user_id: account.user.id,
            secret_hash: &secret.hash,
            overlap_ends: now + overlap,
        };
        let (applied, written) = state
            .engine
            .change_service_account(Vec::new(), &meta, now, write, AccountEdit::default())
            .await?;
        drop(written.guard);
        let secret_id = written
            .secret_id
            .ok_or_else(|| ApiError::internal("a rotation made no secret"))?;
        tracing::info!(event = "service_account_rotated", actor = %actor, name = %key,
            policy_version = applied.policy_version, overlap_secs = overlap, "service account secret rotated");
        Ok(Versioned::created(
            applied.policy_version,
            RotatedSecret {
                client_id: account.client_id,
                client_secret: secret.reveal(secret_id).expose_secret().to_owned(),
                previous_secret_expires_at: now + overlap,
                policy_version: applied.policy_version,
            },
        ))
    })
    .await
}
