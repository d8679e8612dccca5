//! A tenant's own history and dry runs (`/v1/tenants/{tenant}/admin/…`): the policy versions
//! and audit entries that touched this tenant and nothing else, and the dry run of a tenant
//! rule edit. Each reads through the installation's handlers ([`super::policy`]) with the
//! tenant as filter, so a tenant admin sees their tenant's rows and never another's.

use axum::extract::State;
use serde::Deserialize;

use super::Page;
use super::policy::{AuditPage, DryRun, audit_page, dry_run_ops, parse_extra, version_diff};
use super::rules::RuleBody;
use super::tenants::{existing as existing_tenant, rule_ops};
use crate::http::error::{ApiError, Json, Path, Query};
use crate::state::AppState;
use crate::store::policy::{AuditEntry, AuditScope};

/// The policy versions that touched this tenant only (newest first).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/admin/policy/versions", operation_id = "list_tenant_versions", tag = "tenants", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant name"), Page),
    responses((status = 200, body = AuditPage), (status = 403, body = crate::http::error::ErrorBody), (status = 404, body = crate::http::error::ErrorBody),
        (status = 422, body = crate::http::error::ErrorBody)))]
pub async fn versions(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Query(page): Query<Page>,
) -> Result<Json<AuditPage>, ApiError> {
    existing_tenant(&state, &tenant).await?;
    audit_page(&state, true, AuditScope::Tenant(&tenant), &page).await
}

/// The audit entries of this tenant (newest first).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/admin/audit", operation_id = "list_tenant_audit", tag = "tenants", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant name"), Page),
    responses((status = 200, body = AuditPage), (status = 403, body = crate::http::error::ErrorBody), (status = 404, body = crate::http::error::ErrorBody),
        (status = 422, body = crate::http::error::ErrorBody)))]
pub async fn audit(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Query(page): Query<Page>,
) -> Result<Json<AuditPage>, ApiError> {
    existing_tenant(&state, &tenant).await?;
    audit_page(&state, false, AuditScope::Tenant(&tenant), &page).await
}

/// What one of this tenant's versions changed (404 for any other version).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/admin/policy/versions/{version}/diff", operation_id = "tenant_version_diff", tag = "tenants", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant name"), ("version" = i64, Path, description = "policy version")),
    responses((status = 200, body = AuditEntry), (status = 403, body = crate::http::error::ErrorBody), (status = 404, body = crate::http::error::ErrorBody),
        (status = 422, body = crate::http::error::ErrorBody)))]
pub async fn diff(
    State(state): State<AppState>,
    Path((tenant, version)): Path<(String, i64)>,
) -> Result<Json<AuditEntry>, ApiError> {
    existing_tenant(&state, &tenant).await?;
    version_diff(&state, version, AuditScope::Tenant(&tenant)).await
}

/// A tenant rule edit to try: rules to add in the tenant and ids of its rules to delete.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantDryRunBody {
    /// Rules to add, as for `POST /v1/tenants/{tenant}/admin/rules`.
    #[serde(default)]
    pub add: Vec<RuleBody>,
    /// Ids of the tenant's rules to delete.
    #[serde(default)]
    pub delete: Vec<i64>,
    /// Extra matrices (YAML) to evaluate besides the policy's own.
    #[serde(default)]
    pub matrices: Vec<String>,
}

/// Whether a tenant rule edit would be accepted, and which matrix cells it would flip,
/// without applying it: the edit's own tenant checks (a rule reaching outside the tenant is
/// refused 403 `outside_tenant`, another tenant's rule is not found), then the change
/// protocol's (validation, invariants, lock-out). A refusal answers 200 with `accepted:
/// false` and the status and code the edit would get.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/admin/policy/dry-run", operation_id = "tenant_dry_run", tag = "tenants", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant name")), request_body = TenantDryRunBody,
    responses((status = 200, body = DryRun), (status = 403, body = crate::http::error::ErrorBody), (status = 404, body = crate::http::error::ErrorBody),
        (status = 422, body = crate::http::error::ErrorBody), (status = 503, body = crate::http::error::ErrorBody)))]
pub async fn dry_run(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Json(body): Json<TenantDryRunBody>,
) -> Result<Json<DryRun>, ApiError> {
    existing_tenant(&state, &tenant).await?;
    if body.add.is_empty() && body.delete.is_empty() {
        return Err(ApiError::validation(
            "add",
            "give at least one rule to add or delete",
        ));
    }
    let extra = parse_extra(&state, &body.matrices)?;
    match rule_ops(&state, &tenant, body.add, &body.delete).await {
        Ok(ops) => dry_run_ops(&state, Ok(ops), extra, Some(&tenant))
            .await
            .map(Json),
        Err(e) if e.status().is_server_error() => Err(e),
        Err(refused) => Ok(Json(DryRun {
            policy_version: state.engine.snapshot()?.version(),
            accepted: false,
            refusal: Some(refused.into()),
            flips: Vec::new(),
            invariant_violations: Vec::new(),
            access: Default::default(),
        })),
    }
}
