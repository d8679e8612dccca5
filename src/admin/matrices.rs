//! `/v1/admin/matrices`: the shipped matrices against the live policy, and ad-hoc matrices
//! (optionally against a proposed change: a dry run).

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::policy::ChangeBody;
use crate::authz::adapter::Loaded;
use crate::authz::change::{candidate, shipped_matrices};
use crate::authz::seed::PolicyFile;
use crate::error::{ApiError, Json, Path};
use crate::matrix::Matrix;
use crate::matrix::report::{self, MatrixResult};
use crate::matrix::run::{PolicyUnderTest, check};
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

async fn run_on(m: &Matrix, policy: &Loaded) -> Result<MatrixResult, ApiError> {
    let put = PolicyUnderTest::Warden(PolicyFile {
        rules: policy.rules.clone(),
        assignments: policy.assignments.clone(),
    });
    check(m, &m.name, &put)
        .await
        .map_err(|e| ApiError::validation("matrix", e))
}

/// Results of every shipped matrix against the live policy.
#[utoipa::path(get, path = "/v1/admin/matrices", operation_id = "list_matrices", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = [MatrixSummary])))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<MatrixSummary>>, ApiError> {
    let snap = state.engine.snapshot()?;
    let live = snap.loaded();
    let mut out = Vec::new();
    for m in shipped_matrices()? {
        let r = run_on(&m, &live).await?;
        out.push(summary(&m, &r, snap.version()));
    }
    Ok(Json(out))
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
    let r = run_on(&m, &snap.loaded()).await?;
    if as_html {
        let mut res = report::html(&r).into_response();
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
    Ok(Json(summary(&m, &r, snap.version())).into_response())
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
#[utoipa::path(post, path = "/v1/admin/matrices/run", operation_id = "run_matrix", tag = "admin", security(("bearer" = [])), request_body = RunBody,
    responses((status = 200, body = MatrixSummary), (status = 422, body = crate::error::ErrorBody)))]
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
    let snap = state.engine.snapshot()?;
    let policy = match body.change {
        Some(change) => candidate(&snap, &change.ops()?)?,
        None => snap.loaded(),
    };
    let r = run_on(&m, &policy).await?;
    Ok(Json(summary(&m, &r, snap.version())))
}
