//! Policy versions, history, rollback, multi-operation changes and dry runs.

use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};

use super::rules::{AssignmentBody, RuleBody};
use super::{Page, Versioned, apply};
use crate::auth::principal::Principal;
use crate::authz::change::{Applied, Flip};
use crate::error::{ApiError, Json, Path, Query};
use crate::matrix::Matrix;
use crate::state::AppState;
use crate::store::{
    self,
    policy::{AuditEntry, Op},
};

/// Most operations in one change.
const MAX_OPS: usize = 1000;

/// The current policy.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyInfo {
    /// Current version.
    pub policy_version: i64,
    /// Number of rules.
    pub rules: usize,
    /// Number of role assignments.
    pub assignments: usize,
}

/// Current version and size.
#[utoipa::path(get, path = "/v1/admin/policy", operation_id = "show_policy", tag = "admin", security(("bearer" = [])), responses((status = 200, body = PolicyInfo, headers(("etag" = String, description = "the policy version shown, quoted: `\"8\"`")))))]
pub async fn show(State(state): State<AppState>) -> Result<Versioned<PolicyInfo>, ApiError> {
    let snap = state.engine.snapshot()?;
    Ok(Versioned::ok(
        snap.version(),
        PolicyInfo {
            policy_version: snap.version(),
            rules: snap.rules().len(),
            assignments: snap.assignments().len(),
        },
    ))
}

/// A rule replacement inside a change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleUpdate {
    /// Rule id.
    pub id: i64,
    /// New columns.
    pub rule: RuleBody,
}

/// Several operations applied all-or-nothing as one version (also the dry-run body).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeBody {
    /// Rules to add.
    #[serde(default)]
    pub add: Vec<RuleBody>,
    /// Rules to replace.
    #[serde(default)]
    pub update: Vec<RuleUpdate>,
    /// Rule ids to delete.
    #[serde(default)]
    pub delete: Vec<i64>,
    /// Role assignments to add.
    #[serde(default)]
    pub assign: Vec<AssignmentBody>,
    /// Role assignments to remove.
    #[serde(default)]
    pub unassign: Vec<AssignmentBody>,
}

impl ChangeBody {
    /// The store operations, in order: add, update, delete, assign, unassign.
    pub fn ops(self) -> Result<Vec<Op>, ApiError> {
        let mut ops: Vec<Op> = self.add.iter().map(|r| Op::AddRule(r.text())).collect();
        ops.extend(
            self.update
                .iter()
                .map(|u| Op::UpdateRule(u.id, u.rule.text())),
        );
        ops.extend(self.delete.iter().map(|id| Op::DeleteRule(*id)));
        ops.extend(
            self.assign
                .into_iter()
                .map(|a| Op::AddAssignment(a.member, a.role)),
        );
        ops.extend(
            self.unassign
                .into_iter()
                .map(|a| Op::RemoveAssignment(a.member, a.role)),
        );
        if ops.is_empty() || ops.len() > MAX_OPS {
            return Err(ApiError::validation(
                "change",
                format!("must hold 1-{MAX_OPS} operations"),
            ));
        }
        Ok(ops)
    }
}

/// Apply several operations as one version, all-or-nothing.
#[utoipa::path(post, path = "/v1/admin/policy/changes", tag = "admin", security(("bearer" = [])), request_body = ChangeBody,
    responses((status = 201, body = Applied, headers(("etag" = String, description = "the policy version shown, quoted: `\"8\"`"))), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 412, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn change(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Json(body): Json<ChangeBody>,
) -> Result<Versioned<Applied>, ApiError> {
    let ops = body.ops()?;
    let summary = format!("{} operation(s)", ops.len());
    let applied = apply(&state, &principal, &headers, "policy.change", &summary, ops).await?;
    Ok(Versioned::created(applied.policy_version, applied))
}

/// A page of audit entries.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// All entries.
    pub total: i64,
    /// This page, newest first.
    pub items: Vec<AuditEntry>,
}

/// Policy versions: who, when, what, before/after (newest first).
#[utoipa::path(get, path = "/v1/admin/policy/versions", tag = "admin", security(("bearer" = [])), params(Page),
    responses((status = 200, body = AuditPage)))]
pub async fn versions(
    State(state): State<AppState>,
    Query(page): Query<Page>,
) -> Result<Json<AuditPage>, ApiError> {
    let (limit, offset) = page.bounds()?;
    let (items, total) = store::policy::list_audit(&state.db, true, limit, offset).await?;
    Ok(Json(AuditPage { total, items }))
}

/// The whole audit log, account changes included (newest first).
#[utoipa::path(get, path = "/v1/admin/audit", tag = "admin", security(("bearer" = [])), params(Page),
    responses((status = 200, body = AuditPage)))]
pub async fn audit(
    State(state): State<AppState>,
    Query(page): Query<Page>,
) -> Result<Json<AuditPage>, ApiError> {
    let (limit, offset) = page.bounds()?;
    let (items, total) = store::policy::list_audit(&state.db, false, limit, offset).await?;
    Ok(Json(AuditPage { total, items }))
}

/// What one version changed.
#[utoipa::path(get, path = "/v1/admin/policy/versions/{version}/diff", tag = "admin", security(("bearer" = [])),
    params(("version" = i64, Path, description = "policy version")),
    responses((status = 200, body = AuditEntry), (status = 404, body = crate::error::ErrorBody)))]
pub async fn diff(
    State(state): State<AppState>,
    Path(version): Path<i64>,
) -> Result<Json<AuditEntry>, ApiError> {
    store::policy::version_entry(&state.db, version)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("policy version"))
}

/// Rollback target.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    /// The version whose rules and role inheritance to restore.
    pub version: i64,
}

/// Restore the rules and role inheritance of an earlier version, as a new version.
/// User -> role assignments are account data and stay as they are.
#[utoipa::path(post, path = "/v1/admin/policy/rollback", tag = "admin", security(("bearer" = [])), request_body = RollbackBody,
    responses((status = 201, body = Applied, headers(("etag" = String, description = "the policy version shown, quoted: `\"8\"`"))), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn rollback(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Json(body): Json<RollbackBody>,
) -> Result<Versioned<Applied>, ApiError> {
    let snap = store::policy::snapshot_at(&state.db, body.version)
        .await?
        .ok_or_else(|| ApiError::not_found("policy version"))?;
    let summary = format!("rolled back to version {}", body.version);
    let applied = apply(
        &state,
        &principal,
        &headers,
        "policy.rollback",
        &summary,
        vec![Op::Restore(snap)],
    )
    .await?;
    Ok(Versioned::created(applied.policy_version, applied))
}

/// A dry run: the change, plus optional extra matrices (YAML text).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DryRunBody {
    /// The change, as for `POST /v1/admin/policy/changes`.
    pub change: ChangeBody,
    /// Extra matrices (YAML) to evaluate besides the shipped ones.
    #[serde(default)]
    pub matrices: Vec<String>,
}

/// What a change would flip.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DryRun {
    /// The version the change was evaluated against.
    pub policy_version: i64,
    /// Every matrix cell whose answer would change.
    pub flips: Vec<Flip>,
    /// Invariant cells the change would break (the change would be refused).
    pub invariant_violations: Vec<Flip>,
}

/// Which matrix cells a change would flip, without applying it.
#[utoipa::path(post, path = "/v1/admin/policy/dry-run", tag = "admin", security(("bearer" = [])), request_body = DryRunBody,
    responses((status = 200, body = DryRun), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn dry_run(
    State(state): State<AppState>,
    Json(body): Json<DryRunBody>,
) -> Result<Json<DryRun>, ApiError> {
    let extra = body
        .matrices
        .iter()
        .enumerate()
        .map(|(i, text)| {
            Matrix::from_yaml(text).map_err(|e| ApiError::validation(&format!("matrices[{i}]"), e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let version = state.engine.snapshot()?.version();
    let (flips, invariant_violations) = state.engine.dry_run(&body.change.ops()?, extra).await?;
    Ok(Json(DryRun {
        policy_version: version,
        flips,
        invariant_violations,
    }))
}
