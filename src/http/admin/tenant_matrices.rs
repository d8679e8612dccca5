//! A tenant's own matrices (`/v1/tenants/{tenant}/admin/matrices`): the installation's
//! matrix API ([`super::matrices`], [`super::matrix_edit`]) on the matrices stored as
//! `<tenant>/<name>`. A tenant's matrix is decided in its tenant (each subject asks in it and
//! holds its roles there), is part of the policy like any other (its edits are versions,
//! audited in the tenant; its invariants guard every edit, by anyone), and never reaches
//! outside the tenant: a subject of another tenant, the installation's role, or an object that
//! is not the tenant's is refused 403 `outside_tenant`, as for a tenant rule.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::Response;

use super::Versioned;
use super::matrices::{ListOptions, MatrixSummary, list_of, show_stored};
use super::matrix_edit::{MatrixDocument, body_text, delete, store};
use super::tenants::{existing, object_outside, tenant_scope};
use crate::auth::principal::Principal;
use crate::engine::INSTALLATION_ADMIN;
use crate::engine::change::Applied;
use crate::http::error::{ApiError, Json, Path, Query};
use crate::matrix::Matrix;
use crate::policy::stored_matrix::{check_name, qualified, split_name};
use crate::state::AppState;

/// Most matrices one tenant holds, and most cells in all of them: the installation's limits
/// (32 matrices, 100,000 cells) are shared by everyone, and every invariant runs on every
/// edit, so no tenant may take them all.
pub const TENANT_MAX_MATRICES: usize = 8;
/// See [`TENANT_MAX_MATRICES`].
pub const TENANT_MAX_CELLS: usize = 10_000;

/// Refuses (422) a matrix that would take the tenant's matrices past its share
/// ([`TENANT_MAX_MATRICES`], [`TENANT_MAX_CELLS`]), the one it replaces counted out.
fn within_share(
    snap: &crate::engine::Snapshot,
    tenant: &str,
    name: &str,
    m: &Matrix,
) -> Result<(), ApiError> {
    let kept: Vec<&Matrix> = snap
        .parsed_matrices()
        .iter()
        .filter(|(t, _)| {
            let (owner, own) = split_name(&t.name);
            owner == Some(tenant) && own != name
        })
        .map(|(_, m)| m)
        .collect();
    if kept.len() + 1 > TENANT_MAX_MATRICES {
        return Err(ApiError::validation(
            "matrix",
            format!("a tenant holds at most {TENANT_MAX_MATRICES} matrices"),
        ));
    }
    let cells = kept
        .iter()
        .copied()
        .chain([m])
        .try_fold(0usize, |n, m| n.checked_add(m.checked_cell_count()?));
    if cells.is_none_or(|n| n > TENANT_MAX_CELLS) {
        return Err(ApiError::validation(
            "matrix",
            format!(
                "a tenant's matrices have at most {TENANT_MAX_CELLS} cells in all (subjects x \
                 objects x actions); make them smaller"
            ),
        ));
    }
    Ok(())
}

/// Why a matrix stated in `tenant` would reach outside it, if it would: a subject that asks
/// in another tenant or holds the installation's role, an object (or an action's route) that
/// is not one of the tenant's ([`object_outside`]).
fn reaches_outside(m: &Matrix, tenant: &str) -> Option<String> {
    for (name, s) in &m.subjects {
        if let Some(other) = s.tenant.as_deref().filter(|t| *t != tenant) {
            return Some(format!(
                "subject {name} asks in tenant {other}: a matrix of {tenant} decides in {tenant} only"
            ));
        }
        if s.roles
            .iter()
            .any(|r| format!("role:{r}") == INSTALLATION_ADMIN)
        {
            return Some(format!(
                "subject {name} holds {INSTALLATION_ADMIN}, the installation's role"
            ));
        }
    }
    let objects = m
        .objects
        .iter()
        .map(|(key, o)| o.kind.as_deref().unwrap_or(key));
    // A route is `METHOD /path`; its path is decided like an object.
    let routes = m
        .routes
        .values()
        .map(|r| r.split_whitespace().nth(1).unwrap_or(r));
    objects
        .chain(routes)
        .find_map(|object| object_outside(object, tenant))
}

/// The results of the tenant's matrices against the live policy.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/admin/matrices", operation_id = "list_tenant_matrices", tag = "tenants", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant name"), ListOptions),
    responses((status = 200, body = [MatrixSummary]), (status = 403, body = crate::http::error::ErrorBody),
        (status = 404, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody),
        (status = 503, body = crate::http::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Query(options): Query<ListOptions>,
) -> Result<Json<Vec<MatrixSummary>>, ApiError> {
    existing(&state, &tenant).await?;
    list_of(&state, Some(&tenant), options.coverage.unwrap_or(true))
        .await
        .map(Json)
}

/// One of the tenant's matrices, as `GET /v1/admin/matrices/{matrix}` answers (its results
/// with its definition; its text with `Accept: application/yaml`; `{name}.html` the grid).
/// Another tenant's matrix or the installation's is not found here.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/admin/matrices/{matrix}", operation_id = "show_tenant_matrix", tag = "tenants", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant name"), ("matrix" = String, Path, description = "matrix name, or name.html for the HTML grid")),
    responses((status = 200, content((MatrixSummary = "application/json"), (String = "application/yaml"), (String = "text/html"))),
        (status = 403, body = crate::http::error::ErrorBody), (status = 404, body = crate::http::error::ErrorBody),
        (status = 422, body = crate::http::error::ErrorBody), (status = 503, body = crate::http::error::ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Path((tenant, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    existing(&state, &tenant).await?;
    let (name, as_html) = match name.strip_suffix(".html") {
        Some(n) => (n, true),
        None => (name.as_str(), false),
    };
    if check_name(name).is_err() {
        return Err(ApiError::not_found("matrix"));
    }
    show_stored(&state, &qualified(&tenant, name), as_html, &headers).await
}

/// Create or replace one of the tenant's matrices, as a new policy version (201 created, 200
/// replaced), validated as `PUT /v1/admin/matrices/{matrix}` is, and kept inside the tenant:
/// its subjects ask in this tenant (a subject without `tenant` is given it), and a subject of
/// another tenant, the installation's role `admin`, or an object or route that is not the
/// tenant's is refused 403 `outside_tenant`. A tenant's matrix has no `properties` (422).
/// Its invariants guard every later edit, by anyone (409 `invariant_violation`).
#[utoipa::path(put, path = "/v1/tenants/{tenant}/admin/matrices/{matrix}", operation_id = "put_tenant_matrix", tag = "tenants", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant name"), ("matrix" = String, Path, description = "matrix name: a-z, 0-9, `-`, `_`")),
    request_body(content((MatrixDocument = "application/json"), (String = "application/yaml"), (String = "text/yaml"))),
    responses(
        (status = 201, description = "created, as a new policy version", body = Applied, headers(("etag" = String, description = "the policy version created, quoted: `\"8\"`"))),
        (status = 200, description = "replaced, as a new policy version", body = Applied, headers(("etag" = String, description = "the policy version created, quoted: `\"8\"`"))),
        (status = 403, body = crate::http::error::ErrorBody), (status = 404, body = crate::http::error::ErrorBody),
        (status = 409, body = crate::http::error::ErrorBody), (status = 412, body = crate::http::error::ErrorBody),
        (status = 415, body = crate::http::error::ErrorBody),
        (status = 422, description = "`validation_failed` (the message names the problem) or `invariant_fails` (the failing cells in `details`)", body = crate::http::error::ErrorBody)))]
pub async fn put(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path((tenant, name)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Versioned<Applied>, ApiError> {
    existing(&state, &tenant).await?;
    let text = body_text(&headers, &body?)?;
    check_name(&name).map_err(|e| ApiError::validation("matrix", e))?;
    let m = Matrix::from_yaml(&text).map_err(|e| ApiError::validation("matrix", e))?;
    if let Some(why) = reaches_outside(&m, &tenant) {
        return Err(tenant_scope(why));
    }
    within_share(&*state.engine.snapshot()?, &tenant, &name, &m)?;
    let stored = qualified(&tenant, &name);
    store(
        &state,
        &principal,
        &headers,
        &stored,
        text,
        "tenants.matrices.put",
    )
    .await
}

/// Delete one of the tenant's matrices, as a new policy version (another tenant's or the
/// installation's is not found here).
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/admin/matrices/{matrix}", operation_id = "delete_tenant_matrix", tag = "tenants", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant name"), ("matrix" = String, Path, description = "matrix name")),
    responses((status = 200, body = Applied, headers(("etag" = String, description = "the policy version created, quoted: `\"8\"`"))),
        (status = 403, body = crate::http::error::ErrorBody), (status = 404, body = crate::http::error::ErrorBody),
        (status = 409, body = crate::http::error::ErrorBody), (status = 412, body = crate::http::error::ErrorBody),
        (status = 422, body = crate::http::error::ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<Versioned<Applied>, ApiError> {
    existing(&state, &tenant).await?;
    if check_name(&name).is_err() {
        return Err(ApiError::not_found("matrix"));
    }
    let stored = qualified(&tenant, &name);
    delete(
        &state,
        &principal,
        &headers,
        stored,
        "tenants.matrices.delete",
    )
    .await
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn matrix(subject: &str, object: &str) -> Matrix {
        Matrix::from_yaml(&format!(
            "name: m\nsubjects: {{a: {subject}}}\nobjects: {{o: {object}}}\nactions: [read]\nallow: [[a, o, read]]\n"
        ))
        .unwrap()
    }

    #[test]
    fn a_tenants_matrix_stays_inside_the_tenant() {
        let cases = [
            ("{roles: [editor]}", "{type: document}", None),
            (
                "{roles: [tenant-admin], tenant: acme}",
                "{type: /v1/tenants/acme/admin/members}",
                None,
            ),
            ("{roles: [editor]}", "{type: /api/documents/1}", None),
            (
                "{roles: [editor], tenant: globex}",
                "{type: document}",
                Some("asks in tenant globex"),
            ),
            (
                "{roles: [admin]}",
                "{type: document}",
                Some("the installation's role"),
            ),
            (
                "{roles: [editor]}",
                "{type: /v1/tenants/globex/admin/members}",
                Some("outside the tenant"),
            ),
            (
                "{roles: [editor]}",
                "{type: /v1/admin/rules}",
                Some("outside the tenant"),
            ),
            (
                "{roles: [editor]}",
                "{type: '*'}",
                Some("outside the tenant"),
            ),
            ("{roles: [editor]}", "{}", None),
        ];
        for (subject, object, refused) in cases {
            let why = reaches_outside(&matrix(subject, object), "acme");
            match refused {
                None => assert_eq!(why, None, "{subject} {object}"),
                Some(says) => assert!(
                    why.as_deref().is_some_and(|w| w.contains(says)),
                    "{subject} {object}: {why:?}"
                ),
            }
        }
        let mut routed = matrix("{roles: [editor]}", "{type: document}");
        routed
            .routes
            .insert("read".into(), "GET /v1/admin/users".into());
        assert!(reaches_outside(&routed, "acme").is_some());
        routed
            .routes
            .insert("read".into(), "GET /api/documents/:id".into());
        assert_eq!(reaches_outside(&routed, "acme"), None);
    }
}
