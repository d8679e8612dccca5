//! `/v1/admin/analysis/*`: who may do something, and what someone may do, answered from the
//! live policy (`policy::analysis`). Admin-only by rule, like every `/v1/admin` route.

use axum::extract::State;
use serde::{Deserialize, Serialize};

use crate::http::error::{ApiError, Json, Query};
use crate::policy::analysis::{self, Capability, GrantingRule, PlanKind, reverse::Reach};
use crate::policy::{Object, Subject};
use crate::state::AppState;
use crate::store::{self, accounts::UserRow};

/// `?object_type=&object_id=&action=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct WhoCanParams {
    /// Resource type (`document`) or route (`/v1/admin/users`).
    pub object_type: String,
    /// A document's id: the answer is then for that document's attributes. Without it, the
    /// answer is for every object of the type (`complete: false` when it depends on them).
    pub object_id: Option<i64>,
    /// The action (`read`, `GET`, ...).
    pub action: String,
    /// The tenant to decide in; only its members are considered. Default: the document's
    /// tenant with `object_id`, else `default`.
    pub tenant: Option<String>,
}

/// An account that may do it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WhoCanSubject {
    /// Username.
    pub username: String,
    /// The allow rules that grant it, each with the role chain from the account to the rule's
    /// subject (empty without `object_id` when it depends on the object).
    pub rules: Vec<GrantingRule>,
    /// The account's roles, direct and inherited.
    pub roles: Vec<String>,
    /// Without `object_id`: on which objects (absent when on every one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

/// Who may do it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WhoCanResponse {
    /// The policy version answered under.
    pub policy_version: i64,
    /// Every enabled account that may, by username.
    pub subjects: Vec<WhoCanSubject>,
    /// False when some answer depends on object attributes not given (no `object_id`).
    pub complete: bool,
}

/// Every enabled account.
async fn accounts(state: &AppState) -> Result<Vec<UserRow>, ApiError> {
    Ok(store::users::all_enabled(&state.db).await?)
}

/// The enabled members of `tenant`, each as a subject deciding in that tenant: only they can
/// act there (a token of a tenant is never issued to anyone else), and nothing about other
/// tenants' accounts is shown to its admins. From the member directory (`store::directory`).
async fn members_of(state: &AppState, tenant: &str) -> Result<Vec<Subject>, ApiError> {
    let members = store::directory::members(&state.db, tenant).await?;
    let mut out = Vec::with_capacity(members.len());
    members.visit(|sub| out.push(sub.clone()));
    Ok(out)
}

/// An account as a subject holding every scope it may request (what `/v1/check` assumes for
/// a named subject).
fn subject_of(u: &UserRow) -> Subject {
    u.subject(u.scopes.clone())
}

/// Who may do an action on an object: every account, decided, with the rules and role chains.
#[utoipa::path(get, path = "/v1/admin/analysis/who-can", tag = "admin", security(("bearer" = [])), params(WhoCanParams),
    responses((status = 200, body = WhoCanResponse), (status = 403, body = crate::http::error::ErrorBody),
        (status = 404, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)))]
pub async fn who_can(
    State(state): State<AppState>,
    Query(p): Query<WhoCanParams>,
) -> Result<Json<WhoCanResponse>, ApiError> {
    for (field, v) in [("object_type", &p.object_type), ("action", &p.action)] {
        if v.is_empty() || v.len() > 256 {
            return Err(ApiError::validation(field, "must be 1-256 characters"));
        }
    }
    let mut tenant = p
        .tenant
        .clone()
        .unwrap_or_else(|| crate::policy::rule::DEFAULT_TENANT.to_owned());
    let object = match p.object_id {
        Some(id) if p.object_type == "document" => {
            let d = store::documents::find(&state.db, id)
                .await?
                .ok_or_else(|| ApiError::not_found("document"))?;
            if p.tenant.as_ref().is_some_and(|t| *t != d.tenant) {
                return Err(ApiError::validation(
                    "tenant",
                    "the document belongs to another tenant",
                ));
            }
            tenant.clone_from(&d.tenant);
            Some(crate::http::documents::object(
                &d.department,
                &d.owner,
                d.classification,
            ))
        }
        Some(_) => {
            return Err(ApiError::validation(
                "object_id",
                "only documents are looked up by id",
            ));
        }
        None => None,
    };
    let snap = state.engine.snapshot()?;
    let members = store::directory::members(&state.db, &tenant).await?;
    let policy_version = snap.version();
    // Deciding 100,000 accounts is tens of milliseconds of CPU: off the async workers.
    let (subjects, complete) = tokio::task::spawn_blocking(move || {
        who_can_among(snap.policy(), &members, &tenant, object.as_ref(), &p)
    })
    .await
    .map_err(ApiError::internal)?;
    Ok(Json(WhoCanResponse {
        policy_version,
        subjects,
        complete,
    }))
}

/// Members per thread below which one thread decides them all.
const MEMBERS_PER_THREAD: usize = 10_000;

/// Who among `members` (of `tenant`) may do `p.action` on `object` (or, without one, on
/// which objects of `p.object_type`), by username, and whether the answer is complete. A
/// large tenant is split between the machine's cores (each decision is independent).
fn who_can_among(
    policy: &crate::policy::decide::Policy,
    members: &store::directory::Members,
    tenant: &str,
    object: Option<&Object>,
    p: &WhoCanParams,
) -> (Vec<WhoCanSubject>, bool) {
    // Built once for every account (the rules by id, the tenant's role graph), and who the
    // allow rules can reach: the others are denied without deciding. When the rules reach
    // most members anyway, looking each one up would cost more than it saves.
    let grants = analysis::Grants::new(policy, tenant);
    let reach = object
        .map(|obj| grants.reach(obj, &p.action))
        .filter(|r| match r {
            Reach::Everyone => false,
            Reach::Only(some) => some.len() < members.len() / 2,
        });
    let ask = Ask {
        policy,
        grants: &grants,
        reach: reach.as_ref(),
        tenant,
        object,
        schema: (p.object_type == "document").then(store::documents::schema),
        p,
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(members.len() / MEMBERS_PER_THREAD)
        .max(1);
    let parts: Vec<(Vec<WhoCanSubject>, bool)> = if threads == 1 {
        vec![ask.part(members, 0, 1)]
    } else {
        std::thread::scope(|s| {
            let ask = &ask;
            let running: Vec<_> = (0..threads)
                .map(|part| s.spawn(move || ask.part(members, part, threads)))
                .collect();
            // A decision never panics (no input makes one); if a thread did, its part is
            // missing and the request fails rather than answer short.
            running
                .into_iter()
                .map(|t| t.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    };
    let complete = parts.iter().all(|(_, c)| *c);
    let mut subjects: Vec<WhoCanSubject> = parts.into_iter().flat_map(|(s, _)| s).collect();
    subjects.sort_by(|a, b| a.username.cmp(&b.username));
    (subjects, complete)
}

/// One who-can question, asked of each member.
struct Ask<'a> {
    policy: &'a crate::policy::decide::Policy,
    grants: &'a analysis::Grants<'a>,
    reach: Option<&'a Reach<'a>>,
    tenant: &'a str,
    object: Option<&'a Object>,
    schema: Option<analysis::Schema>,
    p: &'a WhoCanParams,
}

impl Ask<'_> {
    /// The answer for part `part` of `parts` of `members`: who may, and whether complete.
    fn part(
        &self,
        members: &store::directory::Members,
        part: usize,
        parts: usize,
    ) -> (Vec<WhoCanSubject>, bool) {
        let (mut subjects, mut complete) = (Vec::new(), true);
        members.visit_part(part, parts, |sub| {
            if self.reach.is_some_and(|r| !r.may_allow(&sub.principal)) {
                return;
            }
            let (rules, condition) = match self.object {
                Some(obj) => match self.grants.of(sub, obj, &self.p.action) {
                    Some(rules) => (rules, None),
                    None => return,
                },
                None => match self.plan(sub) {
                    Some((rules, None)) => (rules, None),
                    Some((rules, Some(text))) => {
                        complete = false;
                        (rules, Some(text))
                    }
                    None => return,
                },
            };
            subjects.push(WhoCanSubject {
                username: sub.name.clone(),
                rules,
                roles: self.policy.roles_in(&sub.principal, self.tenant),
                condition,
            });
        });
        (subjects, complete)
    }

    /// Without an object: None when `sub` may on no object of the type, else the granting
    /// rules (when on every one) or the condition saying on which.
    fn plan(&self, sub: &Subject) -> Option<(Vec<GrantingRule>, Option<String>)> {
        let p = self.p;
        let plan = analysis::plan(
            self.policy,
            sub,
            &p.action,
            &p.object_type,
            self.schema.as_ref(),
        );
        match plan.kind {
            PlanKind::Never => None,
            PlanKind::Always => Some((
                self.grants
                    .of(sub, &Object::route(&p.object_type), &p.action)
                    .unwrap_or_default(),
                None,
            )),
            PlanKind::Conditional => Some((Vec::new(), Some(plan.text))),
        }
    }
}

/// `?subject=user:<name>`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct WhatCanParams {
    /// `user:<name>`.
    pub subject: String,
}

/// What a subject may do.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WhatCanResponse {
    /// The policy version answered under.
    pub policy_version: i64,
    /// `user:<name>`.
    pub subject: String,
    /// Per object type or route pattern and action, on which objects.
    pub capabilities: Vec<Capability>,
    /// False when some answer depends on object attributes or covers a pattern of resources.
    pub complete: bool,
}

/// What a subject may do: per object type or route pattern, the actions and their conditions.
#[utoipa::path(get, path = "/v1/admin/analysis/what-can", tag = "admin", security(("bearer" = [])), params(WhatCanParams),
    responses((status = 200, body = WhatCanResponse), (status = 403, body = crate::http::error::ErrorBody),
        (status = 404, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)))]
pub async fn what_can(
    State(state): State<AppState>,
    Query(p): Query<WhatCanParams>,
) -> Result<Json<WhatCanResponse>, ApiError> {
    let Some(name) = p.subject.strip_prefix("user:") else {
        return Err(ApiError::validation("subject", "must be user:<name>"));
    };
    let u = store::users::find_by_username(&state.db, name)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    let snap = state.engine.snapshot()?;
    let (capabilities, complete) = if u.disabled {
        // A disabled account may do nothing at all.
        (Vec::new(), true)
    } else {
        analysis::what_can(snap.policy(), &subject_of(&u), |t| {
            (t == "document").then(store::documents::schema)
        })
    };
    Ok(Json(WhatCanResponse {
        policy_version: snap.version(),
        subject: format!("user:{}", u.username_key),
        capabilities,
        complete,
    }))
}

/// `?format=json|csv&from=&to=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReviewParams {
    /// `json` (default) or `csv`.
    #[param(inline)]
    pub format: Option<ReviewFormat>,
    /// With `from`: the diff from this version to `to` (who gained and who lost what).
    pub from: Option<i64>,
    /// The version to review (default: the current one).
    pub to: Option<i64>,
}

/// How a review is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewFormat {
    /// JSON.
    #[default]
    Json,
    /// CSV with a header line.
    Csv,
}

/// Every account's effective permissions under one policy version.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReviewResponse {
    /// The version reviewed.
    pub policy_version: i64,
    /// One row per account, object and action.
    pub rows: Vec<analysis::ReviewRow>,
}

/// Who gained and who lost what between two versions (today's accounts, their attributes and
/// role assignments under each version's rules and role inheritance).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReviewDiffResponse {
    /// The earlier version.
    pub from: i64,
    /// The later version.
    pub to: i64,
    /// Gained and lost permissions.
    #[serde(flatten)]
    pub diff: analysis::ReviewDiff,
}

async fn policy_at(
    state: &AppState,
    current: &crate::engine::Snapshot,
    version: i64,
) -> Result<crate::policy::decide::Policy, ApiError> {
    use crate::engine::LoadError;
    crate::engine::history::policy_at(&state.db, current, version)
        .await
        .map_err(|e| match e {
            // A database outage stays a 503; a stored row that no longer compiles is a bug.
            LoadError::Store(s) => match std::sync::Arc::try_unwrap(s) {
                Ok(s) => ApiError::from(s),
                Err(s) => ApiError::internal(s),
            },
            other => ApiError::internal(other),
        })?
        .ok_or_else(|| ApiError::not_found("policy version"))
}

/// An access review: every enabled account's effective permissions (per object type or route
/// pattern and action, with conditions), or with `from` the diff between two versions.
#[utoipa::path(get, path = "/v1/admin/analysis/review", tag = "admin", security(("bearer" = [])), params(ReviewParams),
    responses((status = 200, description = "the review (JSON `ReviewResponse`, or with `from` a `ReviewDiffResponse`; CSV with `format=csv`)",
            content((ReviewResponse = "application/json"), (String = "text/csv"))),
        (status = 403, body = crate::http::error::ErrorBody),
        (status = 404, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)))]
pub async fn review(
    State(state): State<AppState>,
    Query(p): Query<ReviewParams>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let snap = state.engine.snapshot()?;
    let to = p.to.unwrap_or(snap.version());
    let subjects: Vec<Subject> = accounts(&state).await?.iter().map(subject_of).collect();
    let schema = |t: &str| (t == "document").then(store::documents::schema);
    let after = analysis::review(&policy_at(&state, &snap, to).await?, &subjects, schema);
    let format = p.format.unwrap_or_default();
    let csv = |body: String| {
        (
            [(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            body,
        )
            .into_response()
    };
    match p.from {
        None => Ok(match format {
            ReviewFormat::Json => Json(ReviewResponse {
                policy_version: to,
                rows: after,
            })
            .into_response(),
            ReviewFormat::Csv => csv(analysis::csv(&after)),
        }),
        Some(from) => {
            let before =
                analysis::review(&policy_at(&state, &snap, from).await?, &subjects, schema);
            let diff = analysis::diff(&before, &after);
            Ok(match format {
                ReviewFormat::Json => Json(ReviewDiffResponse { from, to, diff }).into_response(),
                ReviewFormat::Csv => csv(analysis::diff_csv(&diff)),
            })
        }
    }
}

/// Who gains and who loses what if the policy `before` became `after` (a dry-run), for every
/// enabled account.
pub async fn access_diff(
    state: &AppState,
    before: &crate::policy::rule::RuleSet,
    after: &crate::policy::rule::RuleSet,
    tenant: Option<&str>,
) -> Result<analysis::ReviewDiff, ApiError> {
    use crate::policy::decide::Policy;
    let compile = |rs: &crate::policy::rule::RuleSet| {
        Policy::from_rows(
            crate::policy::model::MODEL,
            rs.rules.clone(),
            &rs.assignments,
        )
        .map_err(ApiError::internal)
    };
    let (before, after) = (compile(before)?, compile(after)?);
    let subjects: Vec<Subject> = match tenant {
        None => accounts(state).await?.iter().map(subject_of).collect(),
        Some(t) => members_of(state, t).await?,
    };
    let schema = |t: &str| (t == "document").then(store::documents::schema);
    Ok(analysis::diff(
        &analysis::review(&before, &subjects, schema),
        &analysis::review(&after, &subjects, schema),
    ))
}
