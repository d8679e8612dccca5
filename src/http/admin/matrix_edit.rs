//! Editing the policy's matrices: `PUT` and `DELETE /v1/admin/matrices/{name}`. A matrix is
//! part of the policy, so each edit is a policy change like a rule edit (validated, checked
//! against the invariants, one new version, audited, announced to every instance), through
//! the same change protocol ([`super::apply`]), honouring `If-Match`.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{Array, RefOr};

use super::{Versioned, apply, etag};
use crate::auth::principal::Principal;
use crate::engine::Snapshot;
use crate::engine::change::Applied;
use crate::http::error::{ApiError, Path};
use crate::policy::change::Op;
use crate::policy::stored_matrix::{MatrixText, check_name};
use crate::state::AppState;

/// Media types of a matrix as YAML (the file format). JSON is YAML's subset, but it is
/// converted to YAML text before it is stored, so `GET` answers in one format.
const YAML_TYPES: [&str; 4] = [
    "application/yaml",
    "text/yaml",
    "application/x-yaml",
    "text/x-yaml",
];

/// The media type of a header value (`application/yaml; charset=utf-8` -> `application/yaml`).
fn essence(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    Some(text.split(';').next()?.trim().to_ascii_lowercase())
}

/// Whether `Accept` asks for the matrix's text (YAML) rather than its JSON results.
pub fn wants_yaml(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT).iter().any(|v| {
        v.to_str().is_ok_and(|t| {
            t.split(',').any(|range| {
                let media = range.split(';').next().unwrap_or("").trim();
                YAML_TYPES.iter().any(|y| media.eq_ignore_ascii_case(y))
            })
        })
    })
}

/// The stored text of a matrix of `snap` (call after finding it), as `application/yaml`.
pub fn yaml_response(snap: &Snapshot, name: &str) -> Response {
    let text = snap
        .matrix(name)
        .map(|(t, _)| t.text.clone())
        .unwrap_or_default();
    let mut res = (StatusCode::OK, text).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/yaml; charset=utf-8"),
    );
    res.headers_mut().insert(header::ETAG, etag(snap.version()));
    res
}

/// The matrix text of a request body: YAML as sent, or JSON converted to YAML.
pub(super) fn body_text(headers: &HeaderMap, body: &[u8]) -> Result<String, ApiError> {
    let media = headers.get(header::CONTENT_TYPE).and_then(essence);
    let is_json = match media.as_deref() {
        Some("application/json") => true,
        Some(m) if YAML_TYPES.contains(&m) => false,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the matrix as application/yaml (or text/yaml) or application/json",
            ));
        }
    };
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::validation("matrix", "the body is not UTF-8 text"))?;
    if !is_json {
        return Ok(text.to_owned());
    }
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| ApiError::validation("matrix", e))?;
    if !value.is_object() {
        return Err(ApiError::validation("matrix", "a matrix is a JSON object"));
    }
    serde_yaml_ng::to_string(&value).map_err(|e| ApiError::validation("matrix", e))
}

/// The request body of `PUT /v1/admin/matrices/{name}`: a matrix in the file format (see
/// `policies/matrices/README.md` and `matrix.schema.json`).
pub struct MatrixDocument;

impl utoipa::PartialSchema for MatrixDocument {
    fn schema() -> RefOr<Schema> {
        let text = |d: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(d))
        };
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "A matrix in the file format of policies/matrices (JSON here; YAML with \
                 content-type application/yaml). `name` must be the name in the path.",
            ))
            .property("name", text("the matrix's name, as in the path"))
            .property("description", text("what it shows"))
            .property(
                "invariant",
                ObjectBuilder::new().schema_type(Type::Boolean).description(Some(
                    "true: every policy change must keep its cells (and it must hold when stored)",
                )),
            )
            .property("subjects", ObjectBuilder::new().schema_type(Type::Object))
            .property("objects", ObjectBuilder::new().schema_type(Type::Object))
            .property(
                "actions",
                Array::new(ObjectBuilder::new().schema_type(Type::String)),
            )
            .property("routes", ObjectBuilder::new().schema_type(Type::Object))
            .property("expect", ObjectBuilder::new().schema_type(Type::Object))
            .property("allow", Array::new(Array::new(ObjectBuilder::new().schema_type(Type::String))))
            .property("deny", Array::new(Array::new(ObjectBuilder::new().schema_type(Type::String))))
            .required("name")
            .required("subjects")
            .required("objects")
            .required("actions")
            .into()
    }
}

impl utoipa::ToSchema for MatrixDocument {}

/// Create or replace a matrix of the policy, as a new policy version (201 created, 200
/// replaced). The body is a matrix in the file format, as YAML (`application/yaml`,
/// `text/yaml`) or JSON; its `name` must be the one in the path. Validated fully (422 naming
/// the problem): the matrix must parse, run on Warden's model (no `model`, `policy` or
/// `domains`), have at most 100,000 cells, and keep the policy's matrices within 100,000
/// cells and 32 matrices in all. A new or edited **invariant** matrix must hold on the live
/// policy, every cell (422 `invariant_fails`, naming the failing cells); from then on every
/// policy change must keep it (409 `invariant_violation`).
#[utoipa::path(put, path = "/v1/admin/matrices/{matrix}", operation_id = "put_matrix", tag = "admin", security(("bearer" = [])),
    params(("matrix" = String, Path, description = "matrix name: a-z, 0-9, `-`, `_`")),
    request_body(content((MatrixDocument = "application/json"), (String = "application/yaml"), (String = "text/yaml"))),
    responses(
        (status = 201, description = "created, as a new policy version", body = Applied, headers(("etag" = String, description = "the policy version created, quoted: `\"8\"`"))),
        (status = 200, description = "replaced, as a new policy version", body = Applied, headers(("etag" = String, description = "the policy version created, quoted: `\"8\"`"))),
        (status = 409, body = crate::http::error::ErrorBody), (status = 412, body = crate::http::error::ErrorBody),
        (status = 422, description = "`validation_failed` (the message names the problem) or `invariant_fails` (the failing cells in `details`)", body = crate::http::error::ErrorBody)))]
pub async fn put(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Versioned<Applied>, ApiError> {
    let text = body_text(&headers, &body?)?;
    check_name(&name).map_err(|e| ApiError::validation("matrix", e))?;
    store(&state, &principal, &headers, &name, text, "matrices.put").await
}

/// Stores `text` as the matrix `stored` (the installation's `<name>` or a tenant's
/// `<tenant>/<name>`, already checked) through the change protocol: 201 when it is new.
pub(super) async fn store(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    stored: &str,
    text: String,
    action: &str,
) -> Result<Versioned<Applied>, ApiError> {
    // Parsed here for an early, precise 422; the change checks it again against the policy.
    crate::engine::matrices::parse(&MatrixText {
        name: stored.to_owned(),
        text: text.clone(),
    })
    .map_err(|e| ApiError::validation("matrix", e))?;
    let ops = vec![Op::put_matrix(stored, &text)?];
    let summary = format!("put matrix {stored}");
    let applied = apply(state, principal, headers, action, &summary, ops).await?;
    Ok(if applied.matrices_created.iter().any(|n| n == stored) {
        Versioned::created(applied.policy_version, applied)
    } else {
        Versioned::ok(applied.policy_version, applied)
    })
}

/// Delete a matrix of the policy, as a new policy version (an invariant matrix deleted no
/// longer guards changes; a rollback brings it back).
#[utoipa::path(delete, path = "/v1/admin/matrices/{matrix}", operation_id = "delete_matrix", tag = "admin", security(("bearer" = [])),
    params(("matrix" = String, Path, description = "matrix name")),
    responses((status = 200, body = Applied, headers(("etag" = String, description = "the policy version created, quoted: `\"8\"`"))),
        (status = 404, body = crate::http::error::ErrorBody), (status = 409, body = crate::http::error::ErrorBody),
        (status = 412, body = crate::http::error::ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Versioned<Applied>, ApiError> {
    if check_name(&name).is_err() {
        return Err(ApiError::not_found("matrix"));
    }
    delete(&state, &principal, &headers, name, "matrices.delete").await
}

/// Deletes the matrix stored as `stored` through the change protocol (404 if there is none).
pub(super) async fn delete(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    stored: String,
    action: &str,
) -> Result<Versioned<Applied>, ApiError> {
    let summary = format!("deleted matrix {stored}");
    let ops = vec![Op::DeleteMatrix(stored)];
    let applied = apply(state, principal, headers, action, &summary, ops).await?;
    Ok(Versioned::ok(applied.policy_version, applied))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_asks_for_yaml_only_by_naming_a_yaml_type() {
        let cases = [
            ("application/yaml", true),
            ("text/yaml; q=0.9, application/json", true),
            ("TEXT/YAML", true),
            ("application/json", false),
            ("*/*", false),
            ("application/yamlx", false),
        ];
        for (accept, yaml) in cases {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT, HeaderValue::from_static(accept));
            assert_eq!(wants_yaml(&h), yaml, "{accept}");
        }
        assert!(!wants_yaml(&HeaderMap::new()));
    }

    #[test]
    fn a_body_is_yaml_as_sent_or_json_made_yaml_and_nothing_else() {
        let with = |ct: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            h
        };
        let yaml = "name: x # kept\n";
        assert_eq!(
            body_text(&with("application/yaml; charset=utf-8"), yaml.as_bytes()).ok(),
            Some(yaml.to_owned())
        );
        let from_json = body_text(&with("application/json"), br#"{"name": "x"}"#);
        assert_eq!(from_json.ok(), Some("name: x\n".to_owned()));
        let status = |h: &HeaderMap, b: &[u8]| body_text(h, b).map_err(|e| e.status()).err();
        assert_eq!(
            status(&with("text/plain"), b"name: x"),
            Some(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        );
        assert_eq!(
            status(&HeaderMap::new(), b"name: x"),
            Some(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        );
        for (ct, body) in [
            ("application/json", &b"[1]"[..]),
            ("application/json", b"{"),
            ("application/yaml", b"\xff\xfe"),
        ] {
            assert_eq!(
                status(&with(ct), body),
                Some(StatusCode::UNPROCESSABLE_ENTITY),
                "{ct} {body:?}"
            );
        }
    }
}
