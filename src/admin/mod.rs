//! `/v1/admin/*`: runtime policy administration. Every route is guarded by the policy like
//! any other (the seed grants `role:admin`; nothing here checks a role name).

pub mod matrices;
pub mod policy;
pub mod rules;
pub mod users;

use axum::Router;
use axum::http::{HeaderMap, header};
use axum::routing::{get, post, put};
use serde::Deserialize;

use crate::auth::principal::Principal;
use crate::authz::change::Applied;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::policy::{ChangeMeta, Op};

pub use policy::ChangeBody;

/// Admin routes (guarded by the policy in `http.rs`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/rules", get(rules::list).post(rules::create))
        .route(
            "/v1/admin/rules/{id}",
            put(rules::replace).delete(rules::remove),
        )
        .route("/v1/admin/roles", get(rules::roles))
        .route(
            "/v1/admin/roles/assignments",
            post(rules::assign).delete(rules::unassign),
        )
        .route("/v1/admin/users", get(users::list))
        .route(
            "/v1/admin/users/{name}",
            get(users::show).patch(users::patch),
        )
        .route("/v1/admin/users/{name}/roles", get(users::roles))
        .route("/v1/admin/policy", get(policy::show))
        .route("/v1/admin/policy/changes", post(policy::change))
        .route("/v1/admin/policy/versions", get(policy::versions))
        .route(
            "/v1/admin/policy/versions/{version}/diff",
            get(policy::diff),
        )
        .route("/v1/admin/policy/rollback", post(policy::rollback))
        .route("/v1/admin/policy/dry-run", post(policy::dry_run))
        .route("/v1/admin/audit", get(policy::audit))
        .route("/v1/admin/matrices", get(matrices::list))
        .route("/v1/admin/matrices/run", post(matrices::run))
        .route("/v1/admin/matrices/{matrix}", get(matrices::show))
}

/// `?limit=&offset=` (limit 1-500, default 50).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// Page size (1-500, default 50).
    pub limit: Option<i64>,
    /// Items to skip.
    pub offset: Option<i64>,
}

impl Page {
    fn bounds(&self) -> Result<(i64, i64), ApiError> {
        let limit = self.limit.unwrap_or(50);
        let offset = self.offset.unwrap_or(0);
        if !(1..=500).contains(&limit) {
            return Err(ApiError::validation("limit", "must be 1-500"));
        }
        if offset < 0 {
            return Err(ApiError::validation("offset", "must not be negative"));
        }
        Ok((limit, offset))
    }
}

/// Applies a change as the calling admin, honouring `If-Match`.
async fn apply(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    action: &str,
    summary: &str,
    ops: Vec<Op>,
) -> Result<Applied, ApiError> {
    let if_match = if_match(headers)?;
    let (state, actor) = (state.clone(), principal.user.username_key.clone());
    let (action, summary) = (action.to_owned(), summary.to_owned());
    detached(async move {
        let meta = ChangeMeta {
            actor: &actor,
            action: &action,
            summary: &summary,
        };
        state.engine.change(ops, if_match, &meta, state.now()).await
    })
    .await
}

/// Runs a change to completion even if the request is dropped meanwhile (client gone,
/// timeout): a commit is never separated from the snapshot swap that follows it.
async fn detached<T: Send + 'static>(
    change: impl Future<Output = Result<T, ApiError>> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::spawn(change).await.map_err(ApiError::internal)?
}

/// Reads `If-Match: <policy_version>` (quotes allowed, as for an ETag).
fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .map(|s| s.trim().trim_matches('"'))
        .and_then(|s| s.parse().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request("bad_request", "If-Match must be a policy version number")
        })
}
