//! Rules and role assignments.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};

use super::{Page, Versioned, apply};
use crate::auth::principal::Principal;
use crate::engine::change::Applied;
use crate::http::error::{ApiError, Json, Path, Query};
use crate::policy::ChangeError;
use crate::policy::change::Op;
use crate::policy::rule::{Effect, Rule, RuleText};
use crate::state::AppState;

/// A rule as sent by an admin: the input counterpart of [`RuleText`], which the API shows.
/// It is a type of its own only because it deserialises differently: unknown fields are a
/// 422 (a misspelled `efect` never silently defaults), `scope` and `condition` have
/// defaults, the effect must be `allow` or `deny` when parsed, and there is no `id` (the
/// store assigns it, and `PUT` takes it from the path).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleBody {
    /// `role:<name>` or `user:<name>`.
    pub subject: String,
    /// Route pattern, resource type or `*`.
    pub object: String,
    /// Action or `*`.
    pub action: String,
    /// Required scope; default `*`.
    #[serde(default = "star")]
    pub scope: String,
    /// Condition over `r.sub.*`/`r.obj.*`; default none.
    #[serde(default)]
    pub condition: String,
    /// `allow` or `deny` (required).
    pub effect: Effect,
    /// The tenant the rule applies in; default `*` (every tenant). The tenant-scoped API
    /// (`/v1/tenants/{tenant}/admin/rules`) fixes it to its tenant.
    #[serde(default = "star")]
    pub tenant: String,
}

fn star() -> String {
    "*".into()
}

impl RuleBody {
    /// The rule as text (id 0: not stored yet), to be validated by the change.
    pub fn text(&self) -> RuleText {
        RuleText {
            id: 0,
            subject: self.subject.clone(),
            object: self.object.clone(),
            action: self.action.clone(),
            scope: self.scope.clone(),
            condition: self.condition.trim().to_owned(),
            effect: self.effect.as_str().to_owned(),
            tenant: self.tenant.clone(),
        }
    }
}

/// One rule or a batch (all-or-nothing).
///
/// Not `#[serde(untagged)]` for deserialising: an untagged enum answers a misspelled field
/// with "did not match any variant" and accepts unknown keys beside `rules`. A body with a
/// `rules` key is a batch, anything else one rule, each with `deny_unknown_fields`.
#[derive(Debug, utoipa::ToSchema)]
#[serde(untagged)]
pub enum CreateRules {
    /// `{"rules": [...]}`
    Batch {
        /// The rules.
        rules: Vec<RuleBody>,
    },
    /// A single rule.
    One(RuleBody),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    rules: Vec<RuleBody>,
}

impl<'de> Deserialize<'de> for CreateRules {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        let batch = value.as_object().is_some_and(|o| o.contains_key("rules"));
        let parsed = if batch {
            serde_json::from_value::<Batch>(value).map(|b| Self::Batch { rules: b.rules })
        } else {
            serde_json::from_value(value).map(Self::One)
        };
        parsed.map_err(serde::de::Error::custom)
    }
}

/// Filters for the rule list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RuleFilter {
    /// Exact subject.
    pub subject: Option<String>,
    /// Exact object pattern.
    pub object: Option<String>,
    /// Exact action.
    pub action: Option<String>,
    /// `allow` or `deny`.
    pub effect: Option<Effect>,
    /// Text that the subject, object, action, scope or condition contains (case-insensitive,
    /// at most 256 characters).
    #[param(max_length = 256)]
    pub q: Option<String>,
    /// Page size (1-500, default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// Items to skip.
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// A page of rules.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RulePage {
    /// Version the page was read from.
    pub policy_version: i64,
    /// Matching rules in total.
    pub total: usize,
    /// This page.
    pub items: Vec<RuleText>,
}

/// Whether any column of `r` contains `needle` (already lower-cased).
fn mentions(r: &Rule, needle: &str) -> bool {
    [
        r.subject.as_str(),
        r.object.as_str(),
        r.action.as_str(),
        r.scope.as_str(),
        r.condition.as_str(),
    ]
    .iter()
    .any(|c| c.to_lowercase().contains(needle))
}

/// List rules (filtered, paginated, by id).
#[utoipa::path(get, path = "/v1/admin/rules", operation_id = "list_rules", tag = "admin", security(("bearer" = [])), params(RuleFilter),
    responses((status = 200, body = RulePage, headers(("etag" = String, description = "the policy version shown, quoted: `\"8\"`"))), (status = 403, body = crate::http::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Query(f): Query<RuleFilter>,
) -> Result<Versioned<RulePage>, ApiError> {
    let (limit, offset) = Page {
        limit: f.limit,
        offset: f.offset,
    }
    .bounds()?;
    let needle = match f.q.as_deref().map(str::trim) {
        Some(q) if q.chars().count() > 256 => {
            return Err(ApiError::validation("q", "must be at most 256 characters"));
        }
        Some(q) if !q.is_empty() => Some(q.to_lowercase()),
        _ => None,
    };
    let snap = state.engine.snapshot()?;
    let matching: Vec<&Rule> = snap
        .rules()
        .iter()
        .filter(|r| needle.as_deref().is_none_or(|q| mentions(r, q)))
        .filter(|r| f.subject.as_ref().is_none_or(|s| &r.subject == s))
        .filter(|r| f.object.as_ref().is_none_or(|o| &r.object == o))
        .filter(|r| f.action.as_ref().is_none_or(|a| &r.action == a))
        .filter(|r| f.effect.is_none_or(|e| r.effect == e))
        .collect();
    let items = matching
        .iter()
        .skip(offset as usize)
        .take(limit as usize)
        .map(|r| r.text())
        .collect();
    Ok(Versioned::ok(
        snap.version(),
        RulePage {
            policy_version: snap.version(),
            total: matching.len(),
            items,
        },
    ))
}

/// Add one rule or a batch, atomically.
#[utoipa::path(post, path = "/v1/admin/rules", operation_id = "create_rules", tag = "admin", security(("bearer" = [])), request_body = CreateRules,
    responses((status = 201, body = Applied, headers(("etag" = String, description = "the policy version shown, quoted: `\"8\"`"))), (status = 409, body = crate::http::error::ErrorBody),
        (status = 412, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Json(body): Json<CreateRules>,
) -> Result<Versioned<Applied>, ApiError> {
    let rules = match body {
        CreateRules::Batch { rules } => rules,
        CreateRules::One(r) => vec![r],
    };
    if rules.is_empty() || rules.len() > 1000 {
        return Err(ApiError::validation("rules", "must hold 1-1000 rules"));
    }
    let ops = rules
        .iter()
        .map(|r| Op::add_rule(&r.text()))
        .collect::<Result<Vec<_>, _>>()?;
    let summary = format!("added {} rule(s)", ops.len());
    let applied = apply(&state, &principal, &headers, "rules.add", &summary, ops).await?;
    Ok(Versioned::created(applied.policy_version, applied))
}

/// Replace a rule (keeps its id).
#[utoipa::path(put, path = "/v1/admin/rules/{id}", operation_id = "replace_rule", tag = "admin", security(("bearer" = [])), request_body = RuleBody,
    params(("id" = i64, Path, description = "rule id")),
    responses((status = 200, body = Applied, headers(("etag" = String, description = "the policy version shown, quoted: `\"8\"`"))), (status = 404, body = crate::http::error::ErrorBody), (status = 409, body = crate::http::error::ErrorBody)))]
pub async fn replace(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(body): Json<RuleBody>,
) -> Result<Versioned<Applied>, ApiError> {
    let summary = format!("replaced rule {id}");
    let ops = vec![Op::update_rule(id, &body.text())?];
    let applied = apply(&state, &principal, &headers, "rules.update", &summary, ops).await?;
    Ok(Versioned::ok(applied.policy_version, applied))
}

/// Delete a rule.
#[utoipa::path(delete, path = "/v1/admin/rules/{id}", operation_id = "delete_rule", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "rule id")),
    responses((status = 200, body = Applied, headers(("etag" = String, description = "the policy version shown, quoted: `\"8\"`"))), (status = 404, body = crate::http::error::ErrorBody), (status = 409, body = crate::http::error::ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Versioned<Applied>, ApiError> {
    let summary = format!("deleted rule {id}");
    let ops = vec![Op::DeleteRule(id)];
    let applied = apply(&state, &principal, &headers, "rules.delete", &summary, ops).await?;
    Ok(Versioned::ok(applied.policy_version, applied))
}

/// A `g` row: `member` (`user:<name>` or `role:<name>`) inherits `role`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignmentBody {
    /// `user:<name>` or `role:<name>`.
    pub member: String,
    /// `role:<name>`.
    pub role: String,
}

/// Assign a role to a user, or make a role inherit another (cycles are refused).
#[utoipa::path(post, path = "/v1/admin/roles/assignments", tag = "admin", security(("bearer" = [])), request_body = AssignmentBody,
    responses((status = 201, body = Applied, headers(("etag" = String, description = "the policy version shown, quoted: `\"8\"`"))), (status = 409, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)))]
pub async fn assign(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Json(b): Json<AssignmentBody>,
) -> Result<Versioned<Applied>, ApiError> {
    let summary = format!("{} now inherits {}", b.member, b.role);
    let ops = vec![Op::assign(&b.member, &b.role)?];
    let applied = apply(&state, &principal, &headers, "roles.assign", &summary, ops).await?;
    Ok(Versioned::created(applied.policy_version, applied))
}

/// Remove a role assignment.
#[utoipa::path(delete, path = "/v1/admin/roles/assignments", tag = "admin", security(("bearer" = [])), request_body = AssignmentBody,
    responses((status = 200, body = Applied, headers(("etag" = String, description = "the policy version shown, quoted: `\"8\"`"))), (status = 404, body = crate::http::error::ErrorBody), (status = 409, body = crate::http::error::ErrorBody)))]
pub async fn unassign(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Json(b): Json<AssignmentBody>,
) -> Result<Versioned<Applied>, ApiError> {
    let summary = format!("{} no longer inherits {}", b.member, b.role);
    let ops = vec![Op::unassign(&b.member, &b.role)?];
    let applied = apply(
        &state,
        &principal,
        &headers,
        "roles.unassign",
        &summary,
        ops,
    )
    .await?;
    Ok(Versioned::ok(applied.policy_version, applied))
}

/// Every role named in the policy, with its direct members and the roles it inherits.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RoleView {
    /// `role:<name>`.
    pub role: String,
    /// Direct members (`user:` and `role:`).
    pub members: Vec<String>,
    /// Roles it inherits (directly or not).
    pub inherits: Vec<String>,
}

/// List roles.
#[utoipa::path(get, path = "/v1/admin/roles", operation_id = "list_roles", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = [RoleView], headers(("etag" = String, description = "the policy version shown, quoted: `\"8\"`")))))]
pub async fn roles(State(state): State<AppState>) -> Result<Versioned<Vec<RoleView>>, ApiError> {
    let snap = state.engine.snapshot()?;
    let mut members: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in snap
        .rules()
        .iter()
        .filter(|r| r.subject.starts_with("role:"))
    {
        members.entry(r.subject.clone()).or_default();
    }
    for a in snap.assignments() {
        members
            .entry(a.role.clone())
            .or_default()
            .push(a.member.clone());
        if a.member.starts_with("role:") {
            members.entry(a.member.clone()).or_default();
        }
    }
    Ok(Versioned::ok(
        snap.version(),
        members
            .into_iter()
            .map(|(role, mut members)| {
                members.sort();
                RoleView {
                    inherits: snap.roles_of(&role),
                    role,
                    members,
                }
            })
            .collect(),
    ))
}

/// Most operations in one change.
const MAX_OPS: usize = 1000;

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
    pub fn ops(self) -> Result<Vec<Op>, ChangeError> {
        let mut ops = Vec::new();
        for r in &self.add {
            ops.push(Op::add_rule(&r.text())?);
        }
        for u in &self.update {
            ops.push(Op::update_rule(u.id, &u.rule.text())?);
        }
        ops.extend(self.delete.iter().map(|id| Op::DeleteRule(*id)));
        for a in &self.assign {
            ops.push(Op::assign(&a.member, &a.role)?);
        }
        for a in &self.unassign {
            ops.push(Op::unassign(&a.member, &a.role)?);
        }
        if ops.is_empty() || ops.len() > MAX_OPS {
            return Err(ChangeError::invalid(
                "change",
                format!("must hold 1-{MAX_OPS} operations"),
            ));
        }
        Ok(ops)
    }
}
