//! Accounts: list, show, patch (attributes, requestable scopes, disabled), roles; creating,
//! resetting and deleting one is in [`lifecycle`].

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::Page;
use crate::auth::domain::Scope;
use crate::auth::principal::Principal;
use crate::engine::RESERVED_ATTRIBUTES;
use crate::http::error::{ApiError, Json, Path, Query};
use crate::http::guard::POLICY_VERSION_HEADER;
use crate::policy::AttrValue;
use crate::state::AppState;
use crate::store::accounts::KIND_ATTRIBUTE;
use crate::store::{self, policy::ChangeMeta, users::Replaced, users::UserRow};

mod lifecycle;
pub use lifecycle::*;

/// Most attributes one user may carry.
pub(super) const MAX_ATTRIBUTES: usize = 32;

/// A user as shown to admins.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AdminUser {
    /// Id.
    pub id: i64,
    /// Name as registered.
    pub username: String,
    /// E-mail.
    pub email: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// Disabled?
    pub disabled: bool,
    /// Attributes.
    #[schema(value_type = Object)]
    pub attributes: BTreeMap<String, AttrValue>,
    /// Requestable scopes.
    pub scopes: Vec<String>,
    /// `user`, or `service` for a service account (see `/v1/admin/service-accounts`).
    #[schema(value_type = String)]
    pub kind: store::accounts::AccountKind,
}

impl From<UserRow> for AdminUser {
    fn from(u: UserRow) -> Self {
        Self {
            id: u.id,
            username: u.username,
            email: u.email,
            display_name: u.display_name,
            disabled: u.disabled,
            attributes: u.attributes,
            scopes: u.scopes,
            kind: u.kind,
        }
    }
}

/// A page of users.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserPage {
    /// All users.
    pub total: i64,
    /// This page.
    pub items: Vec<AdminUser>,
}

async fn find(state: &AppState, name: &str) -> Result<UserRow, ApiError> {
    store::users::find_by_username(&state.db, name)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))
}

/// A person's account: a service account is reset and deleted through its own routes
/// (`/v1/admin/service-accounts`), so here it is not found.
async fn find_person(state: &AppState, name: &str) -> Result<UserRow, ApiError> {
    let user = find(state, name).await?;
    if user.kind != store::accounts::AccountKind::User {
        return Err(ApiError::not_found("user"));
    }
    Ok(user)
}

/// List users.
#[utoipa::path(get, path = "/v1/admin/users", operation_id = "list_users", tag = "admin", security(("bearer" = [])), params(Page),
    responses((status = 200, body = UserPage)))]
pub async fn list(
    State(state): State<AppState>,
    Query(page): Query<Page>,
) -> Result<Json<UserPage>, ApiError> {
    let (limit, offset) = page.bounds()?;
    let (rows, total) = store::users::list(&state.db, limit, offset).await?;
    Ok(Json(UserPage {
        total,
        items: rows.into_iter().map(AdminUser::from).collect(),
    }))
}

/// Show one user.
#[utoipa::path(get, path = "/v1/admin/users/{name}", operation_id = "show_user", tag = "admin", security(("bearer" = [])),
    params(("name" = String, Path, description = "username")),
    responses((status = 200, body = AdminUser), (status = 404, body = crate::http::error::ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<AdminUser>, ApiError> {
    Ok(Json(find(&state, &name).await?.into()))
}

/// Direct and inherited roles, in one tenant, and every assignment by tenant.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserRoles {
    /// The tenant `direct` and `effective` are about (`?tenant=`, default `default`).
    pub tenant: String,
    /// Assigned directly and holding in `tenant`: there or globally.
    pub direct: Vec<String>,
    /// Direct plus inherited, in `tenant`.
    pub effective: Vec<String>,
    /// Every direct assignment, by where it holds: a tenant's name, or `*` for a global one
    /// (held in every tenant, such as `role:admin`). Each list sorted.
    pub by_tenant: BTreeMap<String, Vec<String>>,
}

/// `?tenant=` of a user's roles.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RolesQuery {
    /// The tenant to show `direct` and `effective` in (default `default`; 404 if there is no
    /// such tenant).
    pub tenant: Option<String>,
}

/// A user's roles: in one tenant (`direct`, `effective`; `?tenant=`, default `default`, so
/// the answer is what it was before tenants), and every assignment by tenant (`by_tenant`).
#[utoipa::path(get, path = "/v1/admin/users/{name}/roles", operation_id = "user_roles", tag = "admin", security(("bearer" = [])),
    params(("name" = String, Path, description = "username"), RolesQuery),
    responses((status = 200, body = UserRoles), (status = 404, body = crate::http::error::ErrorBody),
        (status = 422, body = crate::http::error::ErrorBody)))]
pub async fn roles(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<RolesQuery>,
) -> Result<Json<UserRoles>, ApiError> {
    let tenant = match q.tenant {
        Some(t) => super::tenants::existing(&state, &t).await?.name,
        None => crate::policy::rule::DEFAULT_TENANT.to_owned(),
    };
    let user = find(&state, &name).await?;
    let snap = state.engine.snapshot()?;
    let member = format!("user:{}", user.username_key);
    let mut by_tenant: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for a in snap.assignments().iter().filter(|a| a.member == member) {
        by_tenant
            .entry(a.domain.clone())
            .or_default()
            .push(a.role.clone());
    }
    let mut direct = Vec::new();
    for (domain, roles) in &mut by_tenant {
        roles.sort();
        roles.dedup();
        if *domain == tenant || domain == crate::policy::rule::GLOBAL {
            direct.extend(roles.iter().cloned());
        }
    }
    direct.sort();
    direct.dedup();
    Ok(Json(UserRoles {
        effective: snap.roles_in(&member, &tenant),
        tenant,
        direct,
        by_tenant,
    }))
}

/// Changes to an account; absent fields stay as they are.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// Attributes to set; a `null` value removes the attribute.
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<BTreeMap<String, Option<AttrValue>>>,
    /// Replaces the scopes the user may request.
    pub scopes: Option<Vec<String>>,
    /// Disables (or re-enables) the account; applies to the very next request.
    pub disabled: Option<bool>,
}

/// An attribute an admin may store on an account (a user's or a service's).
pub(super) fn valid_attribute(name: &str, value: &AttrValue) -> Result<(), ApiError> {
    let field = format!("attributes.{name}");
    let ident = name.len() <= 64
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !ident || RESERVED_ATTRIBUTES.contains(&name) || name == KIND_ATTRIBUTE {
        return Err(ApiError::validation(
            &field,
            "must be an identifier other than principal, name, scopes, resource, tenant, kind",
        ));
    }
    let too_long = match value {
        AttrValue::Str(s) => s.len() > 256,
        AttrValue::List(l) => l.len() > 64 || l.iter().any(|s| s.len() > 256),
        _ => false,
    };
    if too_long {
        return Err(ApiError::validation(&field, "is too long"));
    }
    Ok(())
}

/// Change attributes, requestable scopes or the disabled flag: one audited transaction,
/// refused (409 `lockout`) when it would leave nobody able to administer the policy.
#[utoipa::path(patch, path = "/v1/admin/users/{name}", operation_id = "patch_user", tag = "admin", security(("bearer" = [])), request_body = UserPatch,
    params(("name" = String, Path, description = "username")),
    responses((status = 200, body = AdminUser), (status = 404, body = crate::http::error::ErrorBody),
        (status = 409, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)))]
pub async fn patch(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    Json(p): Json<UserPatch>,
) -> Result<Response, ApiError> {
    let actor = principal.user.username_key.clone();
    // Detached: a dropped request cannot stop the change between its check and its commit.
    super::detached(async move {
        // One account or policy change at a time in this instance: the lock-out check and
        // the write must see the same policy.
        let _serial = state.engine.serialize_changes().await;
        for _ in 0..5 {
            let before = find(&state, &name).await?;
            let after = patched(&before, &p)?;
            let snapshot = state.engine.snapshot()?;
            state
                .engine
                .ensure_administrable(&snapshot, Some(&after))
                .await?;
            let view = |u: &UserRow| serde_json::json!({ "attributes": u.attributes, "scopes": u.scopes, "disabled": u.disabled });
            let summary = format!("changed account {}", before.username_key);
            let meta = ChangeMeta {
                actor: &actor,
                action: "users.patch",
                summary: &summary,
            };
            let audit = (&view(&before), &view(&after));
            match store::users::replace_account(
                &state.db,
                &before,
                &after,
                snapshot.version(),
                &meta,
                audit,
                state.now(),
            )
            .await?
            {
                Replaced::Stored(version) => {
                    // Decisions here see the edit at once (the policy itself is unchanged, so
                    // it is not compiled again); other instances when announced.
                    let _ = state.engine.account_edited(version).await;
                    let mut res = Json(AdminUser::from(find(&state, &name).await?)).into_response();
                    res.headers_mut()
                        .insert(POLICY_VERSION_HEADER, HeaderValue::from(version));
                    return Ok(res);
                }
                Replaced::AccountChanged => {}
                // checked against an older policy: check again against the current one
                Replaced::PolicyMoved => {
                    let _ = state.engine.reload().await;
                }
            }
        }
        Err(ApiError::conflict(
            "concurrent_change",
            "the account kept changing meanwhile; retry",
        ))
    })
    .await
}

/// The account after applying `p` to `user` (validated; nothing stored).
fn patched(user: &UserRow, p: &UserPatch) -> Result<UserRow, ApiError> {
    let mut after = user.clone();
    if let Some(changes) = &p.attributes {
        for (k, v) in changes {
            match v {
                Some(v) => {
                    valid_attribute(k, v)?;
                    after.attributes.insert(k.clone(), v.clone());
                }
                None => {
                    after.attributes.remove(k);
                }
            }
        }
        if after.attributes.len() > MAX_ATTRIBUTES {
            return Err(ApiError::validation(
                "attributes",
                format!("at most {MAX_ATTRIBUTES} per user"),
            ));
        }
    }
    if let Some(list) = &p.scopes {
        if list.iter().any(|s| s.contains(' ')) {
            return Err(ApiError::validation(
                "scopes",
                "a scope cannot contain a space",
            ));
        }
        after.scopes =
            Scope::parse_list(&list.join(" ")).map_err(|e| ApiError::validation("scopes", e))?;
    }
    if let Some(d) = p.disabled {
        after.disabled = d;
    }
    Ok(after)
}
