//! Policy versions, history, rollback, multi-operation changes and dry runs.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};

use super::matrices::{run_error, total_cells};
use super::rules::ChangeBody;
use super::{Page, Versioned, apply};
use crate::auth::principal::Principal;
use crate::engine::change::{Applied, Review, flips_within, violations};
use crate::http::error::{ApiError, Json, Path, Query};
use crate::matrix::Matrix;
use crate::policy::Flip;
use crate::policy::change::Op;
use crate::policy::rule::RuleText;
use crate::state::AppState;
use crate::store::{
    self,
    policy::{AuditEntry, AuditScope, RulesSnapshot},
};

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

/// Apply several operations as one version, all-or-nothing.
#[utoipa::path(post, path = "/v1/admin/policy/changes", tag = "admin", security(("bearer" = [])), request_body = ChangeBody,
    responses((status = 201, body = Applied, headers(("etag" = String, description = "the policy version shown, quoted: `\"8\"`"))), (status = 404, body = crate::http::error::ErrorBody), (status = 409, body = crate::http::error::ErrorBody),
        (status = 412, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)))]
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
    audit_page(&state, true, AuditScope::All, &page).await
}

/// A page of the audit log in `scope`: the policy versions only, or every entry. The
/// installation's and each tenant's audit routes read through here.
pub(super) async fn audit_page(
    state: &AppState,
    only_versions: bool,
    scope: AuditScope<'_>,
    page: &Page,
) -> Result<Json<AuditPage>, ApiError> {
    let (limit, offset) = page.bounds()?;
    let (items, total) =
        store::policy::list_audit(&state.db, only_versions, scope, limit, offset).await?;
    Ok(Json(AuditPage { total, items }))
}

/// The whole audit log, account changes included (newest first).
#[utoipa::path(get, path = "/v1/admin/audit", tag = "admin", security(("bearer" = [])), params(Page),
    responses((status = 200, body = AuditPage)))]
pub async fn audit(
    State(state): State<AppState>,
    Query(page): Query<Page>,
) -> Result<Json<AuditPage>, ApiError> {
    audit_page(&state, false, AuditScope::All, &page).await
}

/// What one version changed.
#[utoipa::path(get, path = "/v1/admin/policy/versions/{version}/diff", tag = "admin", security(("bearer" = [])),
    params(("version" = i64, Path, description = "policy version")),
    responses((status = 200, body = AuditEntry), (status = 404, body = crate::http::error::ErrorBody)))]
pub async fn diff(
    State(state): State<AppState>,
    Path(version): Path<i64>,
) -> Result<Json<AuditEntry>, ApiError> {
    version_diff(&state, version, AuditScope::All).await
}

/// What one version in `scope` changed (404 for a version outside it, as for one that never
/// existed: a tenant admin learns nothing of other tenants' versions).
pub(super) async fn version_diff(
    state: &AppState,
    version: i64,
    scope: AuditScope<'_>,
) -> Result<Json<AuditEntry>, ApiError> {
    store::policy::version_entry_in(&state.db, version, scope)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("policy version"))
}

/// The rules and role inheritance of policy version `version` (404 when there is none): what a
/// rollback restores, a rollback's dry run reviews and a comparison compares.
async fn snapshot_of(state: &AppState, version: i64) -> Result<RulesSnapshot, ApiError> {
    store::policy::snapshot_at(&state.db, version)
        .await?
        .ok_or_else(|| ApiError::not_found("policy version"))
}

/// Rollback target.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    /// The version whose rules and role inheritance to restore.
    pub version: i64,
}

/// Restore the rules, role inheritance and matrices of an earlier version, as a new version.
/// User -> role assignments are account data and stay as they are; a version stored before
/// matrices lived in the database leaves the matrices as they are.
#[utoipa::path(post, path = "/v1/admin/policy/rollback", tag = "admin", security(("bearer" = [])), request_body = RollbackBody,
    responses((status = 201, body = Applied, headers(("etag" = String, description = "the policy version shown, quoted: `\"8\"`"))), (status = 404, body = crate::http::error::ErrorBody), (status = 409, body = crate::http::error::ErrorBody)))]
pub async fn rollback(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Json(body): Json<RollbackBody>,
) -> Result<Versioned<Applied>, ApiError> {
    let snap = snapshot_of(&state, body.version).await?;
    let summary = format!("rolled back to version {}", body.version);
    let applied = apply(
        &state,
        &principal,
        &headers,
        "policy.rollback",
        &summary,
        vec![Op::restore(
            &snap.rules,
            &snap.inheritance,
            snap.matrices.as_deref(),
        )?],
    )
    .await?;
    Ok(Versioned::created(applied.policy_version, applied))
}

/// A rule whose columns differ between two versions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChangedRule {
    /// The rule at the earlier version.
    pub then: RuleText,
    /// The rule now.
    pub now: RuleText,
}

/// How an earlier version differs from the current policy (what a rollback to it would undo).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VersionCompare {
    /// The earlier version.
    pub version: i64,
    /// The current version.
    pub current_version: i64,
    /// Rules the earlier version had and the current policy has not (a rollback restores them).
    pub only_then: Vec<RuleText>,
    /// Rules the current policy has and the earlier version had not (a rollback removes them).
    pub only_now: Vec<RuleText>,
    /// Rules with the same id and other columns.
    pub changed: Vec<ChangedRule>,
    /// Role inheritance (`[role, inherited role]`) only the earlier version had. Each pair is
    /// an array of two strings, described as such rather than as a tuple schema, which
    /// client generators (openapi-python-client) refuse; the JSON is unchanged.
    #[schema(value_type = Vec<Vec<String>>)]
    pub inheritance_only_then: Vec<(String, String)>,
    /// Role inheritance only the current policy has (pairs as in `inheritance_only_then`).
    #[schema(value_type = Vec<Vec<String>>)]
    pub inheritance_only_now: Vec<(String, String)>,
    /// Matrices (by name) only the earlier version had (a rollback restores them).
    pub matrices_only_then: Vec<String>,
    /// Matrices only the current policy has (a rollback removes them).
    pub matrices_only_now: Vec<String>,
    /// Matrices whose text differs. All three are empty for a version stored before matrices
    /// lived in the database (a rollback to it leaves the matrices as they are).
    pub matrices_changed: Vec<String>,
}

/// An earlier version against the current policy: rules, role inheritance and matrices that
/// differ.
#[utoipa::path(get, path = "/v1/admin/policy/versions/{version}/compare", tag = "admin", security(("bearer" = [])),
    params(("version" = i64, Path, description = "policy version")),
    responses((status = 200, body = VersionCompare), (status = 404, body = crate::http::error::ErrorBody)))]
pub async fn compare(
    State(state): State<AppState>,
    Path(version): Path<i64>,
) -> Result<Json<VersionCompare>, ApiError> {
    let then = snapshot_of(&state, version).await?;
    let snap = state.engine.snapshot()?;
    let now: Vec<RuleText> = snap.rules().iter().map(|r| r.text()).collect();
    let now_by_id: BTreeMap<i64, &RuleText> = now.iter().map(|r| (r.id, r)).collect();
    let then_by_id: BTreeMap<i64, &RuleText> = then.rules.iter().map(|r| (r.id, r)).collect();
    let mut changed = Vec::new();
    let mut only_then = Vec::new();
    for r in &then.rules {
        match now_by_id.get(&r.id) {
            Some(n) if *n != r => changed.push(ChangedRule {
                then: r.clone(),
                now: (*n).clone(),
            }),
            Some(_) => {}
            None => only_then.push(r.clone()),
        }
    }
    let only_now = now
        .iter()
        .filter(|r| !then_by_id.contains_key(&r.id))
        .cloned()
        .collect();
    let inherited_now: BTreeSet<(String, String)> = snap
        .assignments()
        .iter()
        .filter(|a| a.member.starts_with("role:"))
        .map(|a| (a.member.clone(), a.role.clone()))
        .collect();
    let inherited_then: BTreeSet<(String, String)> = then.inheritance.iter().cloned().collect();
    let (mut matrices_only_then, mut matrices_only_now, mut matrices_changed) =
        (Vec::new(), Vec::new(), Vec::new());
    if let Some(then) = &then.matrices {
        for m in then {
            match snap.matrix(&m.name) {
                Some((now, _)) if now.text != m.text => matrices_changed.push(m.name.clone()),
                Some(_) => {}
                None => matrices_only_then.push(m.name.clone()),
            }
        }
        for (now, _) in snap.parsed_matrices() {
            if !then.iter().any(|m| m.name == now.name) {
                matrices_only_now.push(now.name.clone());
            }
        }
    }
    Ok(Json(VersionCompare {
        version,
        current_version: snap.version(),
        only_then,
        only_now,
        changed,
        inheritance_only_then: inherited_then.difference(&inherited_now).cloned().collect(),
        inheritance_only_now: inherited_now.difference(&inherited_then).cloned().collect(),
        matrices_only_then,
        matrices_only_now,
        matrices_changed,
    }))
}

/// A dry run: a change or a rollback, plus optional extra matrices (YAML text).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DryRunBody {
    /// The change, as for `POST /v1/admin/policy/changes`. Exactly one of `change` and
    /// `rollback_to`.
    #[serde(default)]
    pub change: Option<ChangeBody>,
    /// A rollback, as `POST /v1/admin/policy/rollback` with this version would make it.
    #[serde(default)]
    pub rollback_to: Option<i64>,
    /// Extra matrices (YAML) to evaluate besides the policy's own.
    #[serde(default)]
    pub matrices: Vec<String>,
}

/// A refusal, as the change itself would answer it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Refusal {
    /// The HTTP status the change would get (409, 422, 404...).
    pub status: u16,
    /// Its stable error code (`lockout`, `invariant_violation`, `validation_failed`...).
    pub error: String,
    /// Its message.
    pub message: String,
    /// Its details, if any (the invariant cells, the unreachable routes...).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

/// What a change would do: whether it would be accepted, and which cells it would flip.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DryRun {
    /// The version the change was evaluated against.
    pub policy_version: i64,
    /// Whether `POST /v1/admin/policy/changes` would accept the change now.
    pub accepted: bool,
    /// When not accepted: the status, code, message and details the change would get.
    pub refusal: Option<Refusal>,
    /// Every matrix cell whose answer would change (empty when the change is not valid).
    pub flips: Vec<Flip>,
    /// Invariant cells the change would break.
    pub invariant_violations: Vec<Flip>,
    /// Who would gain and who would lose what: every enabled account's permissions under the
    /// policy now and as the change would leave it (empty when the change is not valid).
    pub access: crate::policy::analysis::ReviewDiff,
}

/// Whether a change would be accepted, and which matrix cells it would flip, without
/// applying it. The change goes through the very checks `POST /v1/admin/policy/changes` runs
/// (account names, validation, invariants, lock-out); a change it would refuse answers 200
/// with `accepted: false` and that refusal (same status and code). Extra matrices count
/// towards the 100,000-cell limit of matrix runs.
#[utoipa::path(post, path = "/v1/admin/policy/dry-run", tag = "admin", security(("bearer" = [])), request_body = DryRunBody,
    responses((status = 200, body = DryRun), (status = 404, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody),
        (status = 503, body = crate::http::error::ErrorBody)))]
pub async fn dry_run(
    State(state): State<AppState>,
    Json(body): Json<DryRunBody>,
) -> Result<Json<DryRun>, ApiError> {
    let extra = parse_extra(&state, &body.matrices)?;
    let ops = match (body.change, body.rollback_to) {
        (Some(change), None) => change.ops(),
        (None, Some(version)) => {
            let snap = snapshot_of(&state, version).await?;
            Op::restore(&snap.rules, &snap.inheritance, snap.matrices.as_deref()).map(|op| vec![op])
        }
        _ => {
            return Err(ApiError::validation(
                "change",
                "give exactly one of `change` and `rollback_to`",
            ));
        }
    };
    dry_run_ops(&state, ops, extra, None).await.map(Json)
}

/// Extra matrices of a dry run, parsed and within the matrix runs' size limit.
pub(super) fn parse_extra(state: &AppState, texts: &[String]) -> Result<Vec<Matrix>, ApiError> {
    let extra = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            Matrix::from_yaml(text).map_err(|e| ApiError::validation(&format!("matrices[{i}]"), e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    state
        .matrix_runs
        .size(total_cells(&extra))
        .map_err(run_error)?;
    Ok(extra)
}

/// Reviews `ops` (or the refusal building them met) as the change protocol would, and runs
/// the matrices over the policy before and after: the dry run of the installation's and of
/// each tenant's changes.
pub(super) async fn dry_run_ops(
    state: &AppState,
    ops: Result<Vec<Op>, crate::policy::ChangeError>,
    extra: Vec<Matrix>,
    tenant: Option<&str>,
) -> Result<DryRun, ApiError> {
    let review = match ops {
        Ok(ops) => state.engine.review(&ops).await?,
        Err(refused) => Review {
            version: state.engine.snapshot()?.version(),
            before: None,
            after: None,
            matrices: None,
            verdict: Err(refused),
        },
    };
    let access = match (&review.before, &review.after) {
        (Some(before), Some(after)) => {
            super::analysis::access_diff(state, before, after, tenant).await?
        }
        _ => Default::default(),
    };
    let (flips, invariant_violations) = match (review.before, review.after) {
        (Some(before), Some(after)) => {
            let slot = state
                .matrix_runs
                .admit(total_cells(&extra))
                .map_err(run_error)?;
            // The live set as the change would leave it (a matrix edit's preview shows the
            // matrices it stores); the current one when the change's matrices are invalid.
            let mut matrices = match review.matrices {
                Some(m) => m,
                None => state.engine.snapshot()?.matrices(),
            };
            let invariants: Vec<Matrix> =
                matrices.iter().filter(|m| m.invariant).cloned().collect();
            matrices.extend(extra);
            let all = state
                .matrix_runs
                .run(slot, move |budget| {
                    tokio::runtime::Handle::current()
                        .block_on(flips_within(&matrices, &before, &after, budget))
                })
                .await
                .map_err(run_error)?;
            let broken = violations(&all, &invariants);
            (all, broken)
        }
        _ => (Vec::new(), Vec::new()),
    };
    let refusal = review.verdict.err().map(ApiError::from).map(Refusal::from);
    Ok(DryRun {
        policy_version: review.version,
        accepted: refusal.is_none(),
        refusal,
        flips,
        invariant_violations,
        access,
    })
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal {
            status: e.status().as_u16(),
            error: e.code().to_owned(),
            message: e.message().to_owned(),
            details: e.details().cloned(),
        }
    }
}
