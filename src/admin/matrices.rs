//! `/v1/admin/matrices`: the shipped matrices against the live policy, and ad-hoc matrices
//! (optionally against a proposed change: a dry run).

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::policy::ChangeBody;
use crate::authz::change::{candidate, shipped_matrices};
use crate::error::{ApiError, Json, Path};
use crate::matrix::Matrix;
use crate::matrix::limits::RunError;
use crate::matrix::report::{self, MatrixResult};
use crate::matrix::run::{PolicyUnderTest, check_within};
use crate::policy::rule::RuleSet;
use crate::state::AppState;

/// A matrix result as JSON.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MatrixSummary {
    /// Name.
    pub name: String,
    /// Invariant?
    pub invariant: bool,
    /// Cells.
    pub cells: usize,
    /// Checked cells.
    pub checked: usize,
    /// Failing cells (subject, object, action, expected, actual, decided by).
    #[schema(value_type = Vec<Object>)]
    pub failures: serde_json::Value,
    /// Rules no cell exercised / rules that change no decision.
    #[schema(value_type = Object)]
    pub coverage: serde_json::Value,
    /// The policy version the matrix ran against.
    pub policy_version: i64,
}

fn summary(m: &Matrix, r: &MatrixResult, version: i64) -> MatrixSummary {
    MatrixSummary {
        name: r.name.clone(),
        invariant: m.invariant,
        cells: r.cells,
        checked: r.checked,
        failures: serde_json::to_value(&r.failures).unwrap_or_default(),
        coverage: serde_json::to_value(&r.coverage).unwrap_or_default(),
        policy_version: version,
    }
}

/// The answer to a run the gate refused or stopped.
pub fn run_error(e: RunError) -> ApiError {
    match e {
        RunError::TooLarge { cells, max } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "matrix_too_large",
            format!(
                "the matrices have {} cells (subjects x domains x objects x actions); the API \
                 runs at most {max} per request; split them, or use `warden matrix check`",
                cells.map_or_else(|| "too many".to_owned(), |n| n.to_string())
            ),
        ),
        RunError::Busy => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "too many matrix runs are in progress; retry later",
        )
        .with_retry_after(1),
        RunError::TimedOut => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "the matrix run took too long and was stopped; make it smaller",
        ),
        RunError::Invalid(e) => ApiError::validation("matrix", e),
        RunError::Failed(cause) => ApiError::internal(cause),
    }
}

/// Total cells of `matrices`, or None if it overflows.
pub fn total_cells<'a>(matrices: impl IntoIterator<Item = &'a Matrix>) -> Option<usize> {
    matrices
        .into_iter()
        .try_fold(0usize, |n, m| n.checked_add(m.checked_cell_count()?))
}

/// Runs matrices against a policy through the gate: sized first, then off the async workers
/// within the deadline.
async fn run_on(
    state: &AppState,
    matrices: Vec<Matrix>,
    policy: &RuleSet,
) -> Result<Vec<(Matrix, MatrixResult)>, ApiError> {
    let slot = state
        .matrix_runs
        .admit(total_cells(&matrices))
        .map_err(run_error)?;
    let put = PolicyUnderTest::Warden(policy.clone());
    state
        .matrix_runs
        .run(slot, move |budget| {
            let handle = tokio::runtime::Handle::current();
            let mut out = Vec::new();
            for m in matrices {
                let r = handle.block_on(check_within(&m, &m.name, &put, budget))?;
                out.push((m, r));
            }
            Ok(out)
        })
        .await
        .map_err(run_error)
}

/// Results of every shipped matrix against the live policy.
#[utoipa::path(get, path = "/v1/admin/matrices", operation_id = "list_matrices", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = [MatrixSummary])))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<MatrixSummary>>, ApiError> {
    let snap = state.engine.snapshot()?;
    let results = run_on(&state, shipped_matrices()?, &snap.loaded()).await?;
    Ok(Json(
        results
            .iter()
            .map(|(m, r)| summary(m, r, snap.version()))
            .collect(),
    ))
}

/// One shipped matrix against the live policy; `{name}.html` returns the coloured grid.
#[utoipa::path(get, path = "/v1/admin/matrices/{matrix}", operation_id = "show_matrix", tag = "admin", security(("bearer" = [])),
    params(("matrix" = String, Path, description = "matrix name, or name.html for the HTML grid")),
    responses((status = 200, body = MatrixSummary), (status = 404, body = crate::error::ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let (name, as_html) = match name.strip_suffix(".html") {
        Some(n) => (n.to_owned(), true),
        None => (name, false),
    };
    let m = shipped_matrices()?
        .into_iter()
        .find(|m| m.name == name)
        .ok_or_else(|| ApiError::not_found("matrix"))?;
    let snap = state.engine.snapshot()?;
    let results = run_on(&state, vec![m], &snap.loaded()).await?;
    let Some((m, r)) = results.first() else {
        return Err(ApiError::internal("a matrix run returned no result"));
    };
    if as_html {
        let mut res = report::html(r).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        res.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
        );
        return Ok(res);
    }
    Ok(Json(summary(m, r, snap.version())).into_response())
}

/// A matrix to run, optionally against a proposed change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    /// The matrix (YAML text, same format as the files).
    pub matrix: String,
    /// A proposed change: run against the policy as it would be (nothing is applied).
    pub change: Option<ChangeBody>,
}

/// Run a matrix against the live policy, or against a proposed change (dry run).
///
/// Bounded: at most 100,000 cells per request (422 `matrix_too_large`, answered before
/// anything is evaluated), 2 runs at once (503 `busy` with `Retry-After`), 10 s of evaluation
/// (503 `timeout`). A matrix that checks no cell is refused (422).
#[utoipa::path(post, path = "/v1/admin/matrices/run", operation_id = "run_matrix", tag = "admin", security(("bearer" = [])), request_body = RunBody,
    responses((status = 200, body = MatrixSummary), (status = 422, body = crate::error::ErrorBody),
        (status = 503, body = crate::error::ErrorBody)))]
pub async fn run(
    State(state): State<AppState>,
    Json(body): Json<RunBody>,
) -> Result<Json<MatrixSummary>, ApiError> {
    let m = Matrix::from_yaml(&body.matrix).map_err(|e| ApiError::validation("matrix", e))?;
    if m.model.is_some() {
        return Err(ApiError::validation(
            "matrix",
            "model/policy files cannot be named through the API; use `warden matrix check`",
        ));
    }
    // Sized before anything else is computed: a small body can name billions of cells.
    state
        .matrix_runs
        .size(total_cells([&m]))
        .map_err(run_error)?;
    let snap = state.engine.snapshot()?;
    let policy = match body.change {
        Some(change) => candidate(&snap, &change.ops()?)?,
        None => snap.loaded(),
    };
    let results = run_on(&state, vec![m], &policy).await?;
    let (m, r) = results
        .first()
        .ok_or_else(|| ApiError::internal("a matrix run returned no result"))?;
    Ok(Json(summary(m, r, snap.version())))
}
