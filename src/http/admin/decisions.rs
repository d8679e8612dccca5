//! `GET /v1/admin/decisions`: a subject's recent decisions, from the in-memory ring of the
//! decision log ([`crate::decisions`]; the last 10,000 decisions of this instance).

use std::time::Duration;

use axum::extract::State;
use serde::{Deserialize, Serialize};

use crate::decisions::Record;
use crate::http::error::{ApiError, Json, Query};
use crate::state::AppState;

/// `?subject=&limit=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DecisionQuery {
    /// The user name whose decisions to show.
    pub subject: String,
    /// Most decisions returned (1-500, default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
}

/// A subject's recent decisions, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DecisionPage {
    /// At most `limit` decisions.
    pub decisions: Vec<Record>,
}

/// Recent decisions about one subject on this instance (newest first). Decisions are kept
/// in memory, the newest 10,000 of all subjects together; a restart forgets them.
#[utoipa::path(get, path = "/v1/admin/decisions", tag = "admin", security(("bearer" = [])),
    params(DecisionQuery), responses((status = 200, body = DecisionPage)))]
pub async fn recent(
    State(state): State<AppState>,
    Query(q): Query<DecisionQuery>,
) -> Result<Json<DecisionPage>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::validation("limit", "must be 1-500"));
    }
    if q.subject.is_empty() || q.subject.len() > 256 {
        return Err(ApiError::validation("subject", "must be 1-256 characters"));
    }
    // Decisions reach the ring through the log's writer task: wait (briefly) for those made
    // before this request, this request's own guard decision included.
    state.decisions.settle(Duration::from_millis(500)).await;
    let decisions = state
        .decisions
        .recent(&q.subject, limit)
        .into_iter()
        .map(|r| (*r).clone())
        .collect();
    Ok(Json(DecisionPage { decisions }))
}
