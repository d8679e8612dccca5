//! Tenants: the installation admin's directory (`/v1/admin/tenants`) and each tenant's own
//! admin API (`/v1/tenants/{tenant}/admin/…`: members with their roles, and tenant-local
//! rules). The guard decides the tenant routes in the path's tenant
//! ([`crate::http::guard`]); here every edit is checked to stay inside that tenant, then goes
//! through the change protocol like any other (validated, versioned, audited, invariants).

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};

use super::rules::{RuleBody, RulePage};
use super::{Versioned, apply};
use crate::auth::principal::Principal;
use crate::engine::change::Applied;
use crate::engine::{INSTALLATION_ADMIN, Snapshot, TENANT_ADMIN};
use crate::http::error::{ApiError, Json, Path};
use crate::policy::change::Op;
use crate::policy::rule::{EVERYONE, parse_tenant};
use crate::state::AppState;
use crate::store::{self, tenants::TenantRow};

/// `POST /v1/admin/tenants` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// `[a-z0-9-]{1,63}`.
    pub name: String,
    /// Shown to people (default: the name), at most 200 characters.
    pub display_name: Option<String>,
}

/// `PATCH /v1/admin/tenants/{tenant}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantPatch {
    /// A new display name (the name itself never changes: rules and tokens name it).
    pub display_name: Option<String>,
    /// Disable (no tokens are issued in it, its tokens are refused) or enable.
    pub disabled: Option<bool>,
}

/// A tenant and the policy version its last change made.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TenantChanged {
    /// The tenant as it is now.
    pub tenant: TenantRow,
    /// The version the change made.
    pub policy_version: i64,
}

pub(super) fn tenant_scope(message: impl Into<std::borrow::Cow<'static, str>>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "outside_tenant", message)
}

fn display_name(d: Option<&str>, name: &str) -> Result<String, ApiError> {
    let d = d.map_or(name, str::trim);
    if d.is_empty() || d.chars().count() > 200 || d.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "display_name",
            "must be 1-200 printable characters",
        ));
    }
    Ok(d.to_owned())
}

/// The tenant named in a path, which must exist (404 otherwise).
pub(super) async fn existing(state: &AppState, tenant: &str) -> Result<TenantRow, ApiError> {
    parse_tenant(tenant).map_err(|e| ApiError::validation("tenant", e))?;
    store::tenants::find(&state.db, tenant)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))
}

/// Create a tenant.
#[utoipa::path(post, path = "/v1/admin/tenants", operation_id = "create_tenant", tag = "tenants", security(("bearer" = [])), request_body = NewTenant,
    responses((status = 201, body = TenantChanged), (status = 403, body = crate::http::error::ErrorBody),
        (status = 409, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<NewTenant>,
) -> Result<Versioned<TenantChanged>, ApiError> {
    let name = parse_tenant(&body.name).map_err(|e| ApiError::validation("name", e))?;
    let display = display_name(body.display_name.as_deref(), name)?;
    let actor = principal.user.username_key.clone();
    let version = store::tenants::create(&state.db, name, &display, &actor, state.now()).await?;
    state
        .engine
        .catch_up(version, state.config.min_version_wait)
        .await;
    let tenant = existing(&state, name).await?;
    Ok(Versioned::created(
        version,
        TenantChanged {
            tenant,
            policy_version: version,
        },
    ))
}

/// List tenants.
#[utoipa::path(get, path = "/v1/admin/tenants", operation_id = "list_tenants", tag = "tenants", security(("bearer" = [])),
    responses((status = 200, body = Vec<TenantRow>), (status = 403, body = crate::http::error::ErrorBody)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<TenantRow>>, ApiError> {
    Ok(Json(store::tenants::list(&state.db).await?))
}

/// Rename (display name) or disable / enable a tenant. `default` cannot be disabled: the
/// installation's own accounts live there.
#[utoipa::path(patch, path = "/v1/admin/tenants/{tenant}", operation_id = "update_tenant", tag = "tenants", security(("bearer" = [])), request_body = TenantPatch,
    params(("tenant" = String, Path, description = "tenant name")),
    responses((status = 200, body = TenantChanged), (status = 403, body = crate::http::error::ErrorBody),
        (status = 404, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant): Path<String>,
    Json(body): Json<TenantPatch>,
) -> Result<Versioned<TenantChanged>, ApiError> {
    existing(&state, &tenant).await?;
    if body.disabled == Some(true) && tenant == crate::policy::rule::DEFAULT_TENANT {
        return Err(ApiError::validation(
            "disabled",
            "the default tenant cannot be disabled: the installation's accounts live there",
        ));
    }
    let display = match body.display_name.as_deref() {
        Some(d) => Some(display_name(Some(d), &tenant)?),
        None => None,
    };
    let actor = principal.user.username_key.clone();
    let version = store::tenants::update(
        &state.db,
        &tenant,
        display.as_deref(),
        body.disabled,
        &actor,
        state.now(),
    )
    .await?
    .ok_or_else(|| ApiError::not_found("tenant"))?;
    state
        .engine
        .catch_up(version, state.config.min_version_wait)
        .await;
    let tenant = existing(&state, &tenant).await?;
    Ok(Versioned::ok(
        version,
        TenantChanged {
            tenant,
            policy_version: version,
        },
    ))
}

/// A member of a tenant and the roles it holds there (globally held roles not included).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Member {
    /// Lower-cased username.
    pub name: String,
    /// Roles assigned in this tenant.
    pub roles: Vec<String>,
}

/// `PUT …/members/{name}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberRoles {
    /// The member's roles in the tenant (replacing those it had there), e.g. `["role:editor"]`.
    pub roles: Vec<String>,
}

fn local_roles(snap: &Snapshot, member: &str, tenant: &str) -> Vec<String> {
    snap.assignments()
        .iter()
        .filter(|a| a.member == member && a.domain == tenant)
        .map(|a| a.role.clone())
        .collect()
}

/// The members of a tenant with their roles there.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/admin/members", operation_id = "list_members", tag = "tenants", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant name")),
    responses((status = 200, body = Vec<Member>), (status = 403, body = crate::http::error::ErrorBody), (status = 404, body = crate::http::error::ErrorBody)))]
pub async fn members(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Json<Vec<Member>>, ApiError> {
    existing(&state, &tenant).await?;
    let snap = state.engine.snapshot()?;
    let names = store::tenants::members(&state.db, &tenant).await?;
    Ok(Json(
        names
            .into_iter()
            .map(|name| Member {
                roles: local_roles(&snap, &format!("user:{name}"), &tenant),
                name,
            })
            .collect(),
    ))
}

/// Refuses to leave `tenant` without a tenant admin when `member` loses the role there.
fn lockout_guard(snap: &Snapshot, tenant: &str, member: &str, keeps: bool) -> Result<(), ApiError> {
    let holds = |m: &str| {
        snap.assignments()
            .iter()
            .any(|a| a.member == m && a.domain == tenant && a.role == TENANT_ADMIN)
    };
    if keeps || !holds(member) {
        return Ok(());
    }
    let others = snap
        .assignments()
        .iter()
        .any(|a| a.member != member && a.domain == tenant && a.role == TENANT_ADMIN);
    if others {
        return Ok(());
    }
    Err(ApiError::conflict(
        "lockout",
        format!(
            "{member} is the last {TENANT_ADMIN} of {tenant}: give the role to someone else first"
        ),
    ))
}

/// Add a member to the tenant, or replace its roles there.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/admin/members/{name}", operation_id = "put_member", tag = "tenants", security(("bearer" = [])), request_body = MemberRoles,
    params(("tenant" = String, Path, description = "tenant name"), ("name" = String, Path, description = "username")),
    responses((status = 200, body = Applied), (status = 403, body = crate::http::error::ErrorBody), (status = 404, body = crate::http::error::ErrorBody),
        (status = 409, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)))]
pub async fn put_member(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path((tenant, name)): Path<(String, String)>,
    Json(body): Json<MemberRoles>,
) -> Result<Versioned<Applied>, ApiError> {
    existing(&state, &tenant).await?;
    let user = store::users::find_by_username(&state.db, &name)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    let member = format!("user:{}", user.username_key);
    if body.roles.len() > 32 {
        return Err(ApiError::validation("roles", "at most 32 roles"));
    }
    let wanted: BTreeSet<&str> = body.roles.iter().map(String::as_str).collect();
    if wanted.contains(INSTALLATION_ADMIN) {
        return Err(tenant_scope(format!(
            "{INSTALLATION_ADMIN} is the installation's role: it cannot be held in one tenant"
        )));
    }
    let snap = state.engine.snapshot()?;
    lockout_guard(&snap, &tenant, &member, wanted.contains(TENANT_ADMIN))?;
    let had = local_roles(&snap, &member, &tenant);
    let mut ops = Vec::new();
    for role in had.iter().filter(|r| !wanted.contains(r.as_str())) {
        ops.push(Op::unassign_in(&member, role, &tenant)?);
    }
    for role in wanted.iter().filter(|r| !had.iter().any(|h| h == *r)) {
        ops.push(Op::assign_in(&member, role, &tenant)?);
    }
    store::tenants::add_member(&state.db, &tenant, user.id, state.now()).await?;
    if ops.is_empty() {
        return Ok(Versioned::ok(
            snap.version(),
            Applied {
                policy_version: snap.version(),
                rule_ids: Vec::new(),
                matrices_created: Vec::new(),
            },
        ));
    }
    let summary = format!("{member} holds {:?} in {tenant}", body.roles);
    let applied = apply(
        &state,
        &principal,
        &headers,
        "tenants.members.put",
        &summary,
        ops,
    )
    .await?;
    Ok(Versioned::ok(applied.policy_version, applied))
}

/// Remove a member (and every role it holds) from the tenant.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/admin/members/{name}", operation_id = "delete_member", tag = "tenants", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant name"), ("name" = String, Path, description = "username")),
    responses((status = 200, body = Applied), (status = 403, body = crate::http::error::ErrorBody), (status = 404, body = crate::http::error::ErrorBody),
        (status = 409, body = crate::http::error::ErrorBody)))]
pub async fn delete_member(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<Versioned<Applied>, ApiError> {
    existing(&state, &tenant).await?;
    let user = store::users::find_by_username(&state.db, &name)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    let member = format!("user:{}", user.username_key);
    let snap = state.engine.snapshot()?;
    lockout_guard(&snap, &tenant, &member, false)?;
    let ops = local_roles(&snap, &member, &tenant)
        .iter()
        .map(|role| Op::unassign_in(&member, role, &tenant))
        .collect::<Result<Vec<_>, _>>()?;
    let version = if ops.is_empty() {
        snap.version()
    } else {
        let summary = format!("{member} removed from {tenant}");
        apply(
            &state,
            &principal,
            &headers,
            "tenants.members.delete",
            &summary,
            ops,
        )
        .await?
        .policy_version
    };
    if !store::tenants::remove_member(&state.db, &tenant, user.id).await? {
        return Err(ApiError::not_found("member"));
    }
    Ok(Versioned::ok(
        version,
        Applied {
            policy_version: version,
            rule_ids: Vec::new(),
            matrices_created: Vec::new(),
        },
    ))
}

/// The tenant's own rules.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/admin/rules", operation_id = "list_tenant_rules", tag = "tenants", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant name")),
    responses((status = 200, body = RulePage), (status = 403, body = crate::http::error::ErrorBody), (status = 404, body = crate::http::error::ErrorBody)))]
pub async fn rules(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Versioned<RulePage>, ApiError> {
    existing(&state, &tenant).await?;
    let snap = state.engine.snapshot()?;
    let items: Vec<_> = snap
        .rules()
        .iter()
        .filter(|r| r.tenant == tenant)
        .map(|r| r.text())
        .collect();
    Ok(Versioned::ok(
        snap.version(),
        RulePage {
            policy_version: snap.version(),
            total: items.len(),
            items,
        },
    ))
}

/// Why a tenant-local rule would reach outside its tenant, if it would: a subject that is
/// everyone, the installation's role or an account that is not a member; an object that is
/// not one of the tenant's (a resource type, a path under `/api/`, or under the tenant's own
/// `/v1/tenants/{tenant}/`).
fn outside(rule: &RuleBody, tenant: &str, members: &[String]) -> Option<String> {
    if rule.tenant != "*" && rule.tenant != tenant {
        return Some(format!(
            "the rule names tenant {}, not {tenant}",
            rule.tenant
        ));
    }
    if rule.subject == EVERYONE {
        return Some("a tenant rule cannot apply to everyone (`*`)".into());
    }
    if rule.subject == INSTALLATION_ADMIN {
        return Some(format!("{INSTALLATION_ADMIN} is the installation's role"));
    }
    if let Some(user) = rule.subject.strip_prefix("user:")
        && !members.iter().any(|m| m == user)
    {
        return Some(format!("{} is not a member of {tenant}", rule.subject));
    }
    object_outside(&rule.object, tenant)
}

/// Why an object (of a rule or a matrix) is not one of the tenant's, if it is not: one of
/// the tenant's is a resource type, a path under `/api/`, or under the tenant's own
/// `/v1/tenants/{tenant}/`.
pub(super) fn object_outside(object: &str, tenant: &str) -> Option<String> {
    let own = format!("/v1/tenants/{tenant}/");
    let inside = (!object.starts_with('/') && object != "*")
        || (object.starts_with("/api/") && object.len() > "/api/".len())
        || (object.starts_with(&own) && object.len() > own.len());
    (!inside).then(|| {
        format!("object {object} is outside the tenant: use a resource type, a path under /api/ or under {own}")
    })
}

/// Add a rule that applies only in this tenant.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/admin/rules", operation_id = "create_tenant_rule", tag = "tenants", security(("bearer" = [])), request_body = RuleBody,
    params(("tenant" = String, Path, description = "tenant name")),
    responses((status = 201, body = Applied), (status = 403, body = crate::http::error::ErrorBody), (status = 404, body = crate::http::error::ErrorBody),
        (status = 409, body = crate::http::error::ErrorBody), (status = 412, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)))]
pub async fn create_rule(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    Json(body): Json<RuleBody>,
) -> Result<Versioned<Applied>, ApiError> {
    existing(&state, &tenant).await?;
    let ops = rule_ops(&state, &tenant, vec![body], &[]).await?;
    let summary = format!("added a rule in {tenant}");
    let applied = apply(
        &state,
        &principal,
        &headers,
        "tenants.rules.add",
        &summary,
        ops,
    )
    .await?;
    Ok(Versioned::created(applied.policy_version, applied))
}

/// Delete one of this tenant's rules (another tenant's or a global rule is not found here).
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/admin/rules/{id}", operation_id = "delete_tenant_rule", tag = "tenants", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant name"), ("id" = i64, Path, description = "rule id")),
    responses((status = 200, body = Applied), (status = 403, body = crate::http::error::ErrorBody), (status = 404, body = crate::http::error::ErrorBody),
        (status = 409, body = crate::http::error::ErrorBody)))]
pub async fn delete_rule(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path((tenant, id)): Path<(String, i64)>,
) -> Result<Versioned<Applied>, ApiError> {
    existing(&state, &tenant).await?;
    let ops = rule_ops(&state, &tenant, Vec::new(), &[id]).await?;
    let summary = format!("deleted rule {id} of {tenant}");
    let applied = apply(
        &state,
        &principal,
        &headers,
        "tenants.rules.delete",
        &summary,
        ops,
    )
    .await?;
    Ok(Versioned::ok(applied.policy_version, applied))
}

/// The operations of a tenant admin's rule edit, after the checks that keep it inside the
/// tenant: each added rule (its tenant fixed to this one) must not reach outside it
/// (403 `outside_tenant`), each deleted rule must be one of the tenant's own (404 otherwise,
/// as for a rule that does not exist). The edit itself and its dry run both build their
/// operations here, so the dry run refuses exactly what the edit refuses.
pub(super) async fn rule_ops(
    state: &AppState,
    tenant: &str,
    add: Vec<RuleBody>,
    delete: &[i64],
) -> Result<Vec<Op>, ApiError> {
    let members = store::tenants::members(&state.db, tenant).await?;
    let mut ops = Vec::new();
    for mut body in add {
        if let Some(why) = outside(&body, tenant, &members) {
            return Err(tenant_scope(why));
        }
        body.tenant = tenant.to_owned();
        ops.push(Op::add_rule(&body.text())?);
    }
    let snap = state.engine.snapshot()?;
    for id in delete {
        if !snap
            .rules()
            .iter()
            .any(|r| r.id == *id && r.tenant == tenant)
        {
            return Err(ApiError::not_found("rule"));
        }
        ops.push(Op::DeleteRule(*id));
    }
    Ok(ops)
}
