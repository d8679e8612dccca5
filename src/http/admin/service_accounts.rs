//! Service accounts: create (the secret shown once), list, show, delete, rotate the secret.
//! Each write is a policy version through the change protocol (validated, invariant- and
//! lock-out-checked, audited), the account written in the change's own transaction.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;

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

mod body;

use body::view;
pub use body::{
    CreateServiceAccount, CreatedServiceAccount, RotateSecret, RotatedSecret, SecretView,
    ServiceAccountPage, ServiceAccountView,
};

/// How long a replaced secret keeps working when the rotation does not say.
pub const DEFAULT_OVERLAP_SECS: i64 = 3600;
/// The longest overlap a rotation may ask for: 7 days.
pub const MAX_OVERLAP_SECS: i64 = 7 * 24 * 3600;
/// Most roles given at creation.
const MAX_ROLES: usize = 32;

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
    let valid = body.validated(&*state.engine.snapshot()?)?;
    if crate::store::users::find_by_username(&state.db, valid.name.as_str())
        .await?
        .is_some()
    {
        return Err(name_taken());
    }
    // The hash is made before the change takes the policy lock (argon2 costs tens of ms).
    let client_id = new_client_id().map_err(ApiError::internal)?;
    let secret = NewSecret::generate(&state.hasher)
        .await
        .map_err(ApiError::internal)?;
    let actor = principal.user.username_key.clone();
    detached(commit_create(state, actor, valid, client_id, secret)).await
}

/// A create request whose every field is valid.
struct ValidAccount {
    name: Username,
    roles: Vec<String>,
    scopes: Vec<String>,
    attributes: BTreeMap<String, AttrValue>,
}

impl CreateServiceAccount {
    /// The request checked field by field (422 naming the field), roles against `snap`.
    fn validated(self, snap: &Snapshot) -> Result<ValidAccount, ApiError> {
        let name = Username::parse(&self.name).map_err(|e| ApiError::validation("name", e))?;
        if self.scopes.iter().any(|s| s.contains(' ')) {
            return Err(ApiError::validation(
                "scopes",
                "a scope cannot contain a space",
            ));
        }
        let scopes = Scope::parse_list(&self.scopes.join(" "))
            .map_err(|e| ApiError::validation("scopes", e))?;
        for (k, v) in &self.attributes {
            valid_attribute(k, v)?;
        }
        if self.attributes.len() > MAX_ATTRIBUTES {
            return Err(ApiError::validation(
                "attributes",
                format!("at most {MAX_ATTRIBUTES} per account"),
            ));
        }
        Ok(ValidAccount {
            roles: known_roles(snap, &self.roles)?,
            name,
            scopes,
            attributes: self.attributes,
        })
    }
}

/// Creates the account and its role assignments as one policy version; answers with the
/// secret, revealed this once.
async fn commit_create(
    state: AppState,
    actor: String,
    new: ValidAccount,
    client_id: String,
    secret: NewSecret,
) -> Result<Versioned<CreatedServiceAccount>, ApiError> {
    let member = format!("user:{}", new.name.key());
    let ops = new
        .roles
        .iter()
        .map(|r| Op::assign(&member, r))
        .collect::<Result<Vec<_>, _>>()?;
    let roles = match new.roles.is_empty() {
        true => "no role".to_owned(),
        false => new.roles.join(", "),
    };
    let summary = format!("service account {} created with {roles}", new.name.key());
    let meta = ChangeMeta {
        actor: &actor,
        action: "service_accounts.create",
        summary: &summary,
    };
    let write = Write::Create {
        name: new.name.as_str(),
        client_id: &client_id,
        secret_hash: &secret.hash,
        scopes: &new.scopes,
        attributes: &new.attributes,
    };
    let edit = AccountEdit {
        creating: Some(new.name.as_str()),
        changed: None,
    };
    let (applied, written) = state
        .engine
        .change_service_account(ops, &meta, state.now(), write, edit)
        .await
        // the name was taken meanwhile (by another instance, or a registration)
        .map_err(|e| match ApiError::from(e) {
            e if e.code() == "conflict" => name_taken(),
            e => e,
        })?;
    drop(written.guard);
    let secret_id = written
        .secret_id
        .ok_or_else(|| ApiError::internal("a created service account has no secret"))?;
    tracing::info!(event = "service_account_created", actor = %actor, name = %new.name.key(),
        client_id = %client_id, policy_version = applied.policy_version, "service account created");
    let account = find(&state, new.name.as_str()).await?;
    let snap = state.engine.snapshot().ok();
    Ok(Versioned::created(
        applied.policy_version,
        CreatedServiceAccount {
            account: view(snap.as_deref(), account),
            client_secret: secret.reveal(secret_id).expose_secret().to_owned(),
            policy_version: applied.policy_version,
        },
    ))
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
