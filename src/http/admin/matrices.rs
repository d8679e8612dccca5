//! `/v1/admin/matrices`: the policy's own matrices (the live set, stored with the rules: see
//! [`super::matrix_edit`] for their edits) against the live policy, and ad-hoc matrices
//! (optionally against a proposed change: a dry run).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::rules::ChangeBody;
use crate::engine::Snapshot;
use crate::http::error::{ApiError, Json, Path, Query};
use crate::matrix::limits::RunError;
use crate::matrix::report::{self, MatrixResult};
use crate::matrix::run::{PolicyUnderTest, cells_within, check_within};
use crate::matrix::{Cell, Matrix, MatrixError};
use crate::policy::AttrValue;
use crate::policy::rule::RuleSet;
use crate::policy::stored_matrix::{TENANT_SEPARATOR, split_name};
use crate::state::AppState;

/// A matrix result as JSON.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MatrixSummary {
    /// Name.
    pub name: String,
    /// The tenant whose matrix it is (`/v1/tenants/{tenant}/admin/matrices/{name}`); absent
    /// for the installation's own (`/v1/admin/matrices/{name}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Invariant?
    pub invariant: bool,
    /// Cells.
    pub cells: usize,
    /// Checked cells.
    pub checked: usize,
    /// Failing cells (subject, object, action, expected, actual, decided by).
    #[schema(value_type = Vec<Object>)]
    pub failures: serde_json::Value,
    /// Rules no cell exercised / rules that change no decision (left out with
    /// `coverage=false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub coverage: Option<serde_json::Value>,
    /// The policy version the matrix ran against.
    pub policy_version: i64,
    /// The matrix itself, in the file format (`GET /v1/admin/matrices/{name}` only; send
    /// `Accept: application/yaml` for its text as stored).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub definition: Option<serde_json::Value>,
}

fn summary(
    m: &Matrix,
    r: &MatrixResult,
    tenant: Option<&str>,
    version: i64,
    coverage: bool,
) -> MatrixSummary {
    MatrixSummary {
        definition: None,
        name: r.name.clone(),
        tenant: tenant.map(str::to_owned),
        invariant: m.invariant,
        cells: r.cells,
        checked: r.checked,
        failures: serde_json::to_value(&r.failures).unwrap_or_default(),
        coverage: coverage.then(|| serde_json::to_value(&r.coverage).unwrap_or_default()),
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
/// within the deadline. With `coverage`, also which rules no cell exercised and which change
/// no decision (much the larger part of the work on a large policy).
async fn run_on(
    state: &AppState,
    matrices: Vec<Matrix>,
    policy: &RuleSet,
    coverage: bool,
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
                let r = if coverage {
                    handle.block_on(check_within(&m, &m.name, &put, budget))?
                } else {
                    handle.block_on(cells_within(&m, &m.name, &put, budget))?
                };
                out.push((m, r));
            }
            Ok(out)
        })
        .await
        .map_err(run_error)
}

/// Options of the matrix list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListOptions {
    /// Include the coverage analysis (default true). `false` answers with the cells' results
    /// only, which on a large policy is many times faster.
    pub coverage: Option<bool>,
}

/// Results of every matrix of the policy against the live policy: the installation's and
/// every tenant's (each of those names its `tenant`).
#[utoipa::path(get, path = "/v1/admin/matrices", operation_id = "list_matrices", tag = "admin", security(("bearer" = [])),
    params(ListOptions), responses((status = 200, body = [MatrixSummary])))]
pub async fn list(
    State(state): State<AppState>,
    Query(options): Query<ListOptions>,
) -> Result<Json<Vec<MatrixSummary>>, ApiError> {
    list_of(&state, None, options.coverage.unwrap_or(true))
        .await
        .map(Json)
}

/// The results of every matrix (`owner` None) or of one tenant's matrices only.
pub(super) async fn list_of(
    state: &AppState,
    owner: Option<&str>,
    coverage: bool,
) -> Result<Vec<MatrixSummary>, ApiError> {
    let snap = state.engine.snapshot()?;
    let (tenants, matrices): (Vec<Option<&str>>, Vec<Matrix>) = snap
        .parsed_matrices()
        .iter()
        .map(|(t, m)| (split_name(&t.name).0, m))
        .filter(|(tenant, _)| owner.is_none() || *tenant == owner)
        .map(|(tenant, m)| (tenant, m.clone()))
        .unzip();
    let results = run_on(state, matrices, &snap.loaded(), coverage).await?;
    Ok(results
        .iter()
        .zip(tenants)
        .map(|((m, r), tenant)| summary(m, r, tenant, snap.version(), coverage))
        .collect())
}

/// One matrix of the policy: with `Accept: application/yaml` (or `text/yaml`) its text as
/// stored; otherwise its results against the live policy, with the matrix itself as
/// `definition` (JSON, the file format); `{name}.html` returns the coloured grid.
#[utoipa::path(get, path = "/v1/admin/matrices/{matrix}", operation_id = "show_matrix", tag = "admin", security(("bearer" = [])),
    params(("matrix" = String, Path, description = "matrix name, or name.html for the HTML grid")),
    responses((status = 200, content((MatrixSummary = "application/json"), (String = "application/yaml"), (String = "text/html"))),
        (status = 404, body = crate::http::error::ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let (name, as_html) = match name.strip_suffix(".html") {
        Some(n) => (n.to_owned(), true),
        None => (name, false),
    };
    if name.contains(TENANT_SEPARATOR) {
        return Err(ApiError::not_found("matrix"));
    }
    show_stored(&state, &name, as_html, &headers).await
}

/// A stored matrix (the installation's, or a tenant's `<tenant>/<name>`) as [`show`]
/// answers it: its text, its HTML grid or its results with its definition.
pub(super) async fn show_stored(
    state: &AppState,
    stored: &str,
    as_html: bool,
    headers: &axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let snap = state.engine.snapshot()?;
    let m = live(&snap, stored)?;
    if !as_html && super::matrix_edit::wants_yaml(headers) {
        return Ok(super::matrix_edit::yaml_response(&snap, stored));
    }
    let definition = serde_json::to_value(&m).map_err(ApiError::internal)?;
    let results = run_on(state, vec![m], &snap.loaded(), true).await?;
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
    let mut body = summary(m, r, split_name(stored).0, snap.version(), true);
    body.definition = Some(definition);
    Ok(Json(body).into_response())
}

/// A matrix of the live set, by its stored name (404 when the policy has none of that name).
fn live(snap: &Snapshot, name: &str) -> Result<Matrix, ApiError> {
    snap.matrix(name)
        .map(|(_, m)| m.clone())
        .ok_or_else(|| ApiError::not_found("matrix"))
}

/// One of the installation's matrices, by name: a tenant's (`<tenant>/<name>`) is addressed
/// under `/v1/tenants/{tenant}/admin/matrices/` only.
fn own(snap: &Snapshot, name: &str) -> Result<Matrix, ApiError> {
    if name.contains(TENANT_SEPARATOR) {
        return Err(ApiError::not_found("matrix"));
    }
    live(snap, name)
}

/// One cell of a grid.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GridCell {
    /// Subject (a row).
    pub subject: String,
    /// Object.
    pub object: String,
    /// Action.
    pub action: String,
    /// What the matrix expects (absent: the cell is not checked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<bool>,
    /// The live policy's answer.
    pub allowed: bool,
    /// What decided it: the winning rule and the role chain to it, or the route check.
    pub reason: String,
}

impl From<Cell> for GridCell {
    fn from(c: Cell) -> Self {
        Self {
            subject: c.subject,
            object: c.object,
            action: c.action,
            expected: c.expected,
            allowed: c.actual,
            reason: c.reason,
        }
    }
}

/// Every cell of a matrix against the live policy, in row order (subject, object, action).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MatrixGrid {
    /// Name.
    pub name: String,
    /// What it shows.
    pub description: String,
    /// Invariant?
    pub invariant: bool,
    /// The policy version the grid was computed on.
    pub policy_version: i64,
    /// Row labels, in order.
    pub subjects: Vec<String>,
    /// Column groups, in order.
    pub objects: Vec<String>,
    /// Columns within a group, in order.
    pub actions: Vec<String>,
    /// Every cell.
    pub cells: Vec<GridCell>,
}

/// Every cell of a matrix of the policy against the live policy: the coloured grid's data.
#[utoipa::path(get, path = "/v1/admin/matrices/{matrix}/grid", operation_id = "matrix_grid", tag = "admin", security(("bearer" = [])),
    params(("matrix" = String, Path, description = "matrix name")),
    responses((status = 200, body = MatrixGrid), (status = 404, body = crate::http::error::ErrorBody), (status = 503, body = crate::http::error::ErrorBody)))]
pub async fn grid(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<MatrixGrid>, ApiError> {
    let snap = state.engine.snapshot()?;
    let m = own(&snap, &name)?;
    // The cells only: the grid shows no coverage, which costs far more on a large policy.
    let results = run_on(&state, vec![m], &snap.loaded(), false).await?;
    let Some((m, r)) = results.into_iter().next() else {
        return Err(ApiError::internal("a matrix run returned no result"));
    };
    Ok(Json(MatrixGrid {
        name: m.name,
        description: m.description.trim().to_owned(),
        invariant: m.invariant,
        policy_version: snap.version(),
        subjects: m.subjects.into_keys().collect(),
        objects: m.objects.into_keys().collect(),
        actions: m.actions,
        cells: r.all.into_iter().map(GridCell::from).collect(),
    }))
}

/// The cell to explain.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CellQuery {
    /// A subject of the matrix.
    pub subject: String,
    /// An object of the matrix.
    pub object: String,
    /// An action of the matrix.
    pub action: String,
}

/// A matrix subject as the matrix declares it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WhySubject {
    /// Its name in the matrix.
    pub name: String,
    /// Role names (without `role:`).
    pub roles: Vec<String>,
    /// The token scopes it asks with.
    pub scopes: Vec<String>,
    /// Its attributes (`r.sub.*`).
    #[schema(value_type = Object)]
    pub attributes: BTreeMap<String, AttrValue>,
}

/// A matrix object as the cell's action sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WhyObject {
    /// Its name in the matrix.
    pub name: String,
    /// The resource decided on (a type such as `document`, or a path).
    pub resource: String,
    /// Its attributes (`r.obj.*`; for `create`, the owner is the subject).
    #[schema(value_type = Object)]
    pub attributes: BTreeMap<String, AttrValue>,
}

/// Why a cell has its answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CellWhy {
    /// The cell, with its answer and what decided it.
    pub cell: GridCell,
    /// The subject's roles, token scopes and attributes.
    pub subject: WhySubject,
    /// The object as decided.
    pub object: WhyObject,
    /// Every rule whose subject, object, action and scope apply, and how its condition
    /// evaluated (a `false` or an error is why an allow rule did not allow).
    pub conditions: Vec<crate::policy::decide::ConditionResult>,
}

/// Why one cell of a matrix of the policy is allowed or denied under the live policy: the rule
/// that decided it and every applicable rule's condition with its result.
#[utoipa::path(get, path = "/v1/admin/matrices/{matrix}/why", operation_id = "matrix_cell_why", tag = "admin", security(("bearer" = [])),
    params(("matrix" = String, Path, description = "matrix name"), CellQuery),
    responses((status = 200, body = CellWhy), (status = 404, body = crate::http::error::ErrorBody), (status = 503, body = crate::http::error::ErrorBody)))]
pub async fn why(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<CellQuery>,
) -> Result<Json<CellWhy>, ApiError> {
    let snap = state.engine.snapshot()?;
    let m = own(&snap, &name)?;
    let coords = m.coordinates();
    let Some(index) = coords
        .iter()
        .position(|&(s, _, o, a)| s == q.subject && o == q.object && a == q.action)
    else {
        return Err(ApiError::not_found("matrix cell"));
    };
    let rules = snap.loaded();
    let slot = state.matrix_runs.admit(Some(1)).map_err(run_error)?;
    let why = state
        .matrix_runs
        .run(slot, move |budget| {
            let test = m.policy_under_test(&rules)?;
            let coords = m.coordinates();
            let cell = m
                .run_cells(&test, &coords, &[index], budget)?
                .pop()
                .ok_or(MatrixError::Missing("cell"))?;
            let subject = m
                .subject(&q.subject)
                .ok_or(MatrixError::Missing("subject"))?;
            let object = m
                .object(&q.object, &q.action, &q.subject)
                .ok_or(MatrixError::Missing("object"))?;
            let conditions = test.explain_conditions(&subject, &object, &q.action);
            let declared = m.subjects.get(&q.subject).cloned().unwrap_or_default();
            Ok(CellWhy {
                cell: GridCell::from(cell),
                subject: WhySubject {
                    name: q.subject,
                    roles: declared.roles,
                    scopes: declared.scopes,
                    attributes: declared.attributes,
                },
                object: WhyObject {
                    name: q.object,
                    resource: object.resource,
                    attributes: object.attributes,
                },
                conditions,
            })
        })
        .await
        .map_err(run_error)?;
    Ok(Json(why))
}

/// A matrix to run, optionally against a proposed change; without `matrix`, the policy's own
/// matrices (the live set).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    /// The matrix (YAML text, same format as the files). Absent: run every matrix of the
    /// policy.
    #[serde(default)]
    pub matrix: Option<String>,
    /// A proposed change: run against the policy as it would be (nothing is applied).
    pub change: Option<ChangeBody>,
}

/// The result of a run: one matrix's, or (for the live set) every matrix's, by name.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum RunResult {
    /// The matrix of the request.
    One(MatrixSummary),
    /// Every matrix of the policy.
    All(Vec<MatrixSummary>),
}

/// Run a matrix against the live policy, or against a proposed change (dry run); without
/// `matrix`, run every matrix of the policy (the live set) and answer with a list.
///
/// Bounded: at most 100,000 cells per request (422 `matrix_too_large`, answered before
/// anything is evaluated), 2 runs at once (503 `busy` with `Retry-After`), 10 s of evaluation
/// (503 `timeout`). A matrix that checks no cell is refused (422).
#[utoipa::path(post, path = "/v1/admin/matrices/run", operation_id = "run_matrix", tag = "admin", security(("bearer" = [])), request_body = RunBody,
    responses((status = 200, body = RunResult), (status = 404, body = crate::http::error::ErrorBody),
        (status = 409, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody),
        (status = 503, body = crate::http::error::ErrorBody)))]
pub async fn run(
    State(state): State<AppState>,
    Json(body): Json<RunBody>,
) -> Result<Json<RunResult>, ApiError> {
    let snap = state.engine.snapshot()?;
    let (tenants, matrices): (Vec<Option<&str>>, Vec<Matrix>) = match &body.matrix {
        Some(text) => {
            let m = Matrix::from_yaml(text).map_err(|e| ApiError::validation("matrix", e))?;
            if m.model.is_some() {
                return Err(ApiError::validation(
                    "matrix",
                    "model/policy files cannot be named through the API; use `warden matrix check`",
                ));
            }
            (vec![None], vec![m])
        }
        None => snap
            .parsed_matrices()
            .iter()
            .map(|(t, m)| (split_name(&t.name).0, m.clone()))
            .unzip(),
    };
    // Sized before anything else is computed: a small body can name billions of cells.
    state
        .matrix_runs
        .size(total_cells(&matrices))
        .map_err(run_error)?;
    let policy = match body.change {
        Some(change) => crate::policy::change::apply(&snap.loaded(), &change.ops()?)?,
        None => snap.loaded(),
    };
    let results = run_on(&state, matrices, &policy, true).await?;
    let mut all: Vec<MatrixSummary> = results
        .iter()
        .zip(tenants)
        .map(|((m, r), tenant)| summary(m, r, tenant, snap.version(), true))
        .collect();
    match (body.matrix, all.pop()) {
        (Some(_), Some(one)) => Ok(Json(RunResult::One(one))),
        (Some(_), None) => Err(ApiError::internal("a matrix run returned no result")),
        (None, last) => {
            all.extend(last);
            Ok(Json(RunResult::All(all)))
        }
    }
}
