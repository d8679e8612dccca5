//! The demo protected resource, `/api/documents`: route-level checks come from the policy
//! guard; object-level checks happen here, after loading the object, with its attributes.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Deserialize;

use crate::auth::principal::Principal;
use crate::authz::guard::{authorize, is_allowed};
use crate::authz::{AttrValue, Object};
use crate::error::{ApiError, Json, Path};
use crate::state::AppState;
use crate::store::{
    self,
    documents::{DocumentFields, DocumentRow},
};

/// Routes (guarded by the policy in `http.rs`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/documents", get(list).post(create))
        .route("/api/documents/{id}", get(read).put(update).delete(remove))
}

/// The casbin object for a document.
pub fn object(department: &str, owner: &str, classification: i32) -> Object {
    Object {
        resource: "document".into(),
        attributes: BTreeMap::from([
            ("department".into(), AttrValue::Str(department.into())),
            ("owner".into(), AttrValue::Str(owner.into())),
            ("classification".into(), AttrValue::Int(classification)),
        ]),
    }
}

fn object_of(d: &DocumentRow) -> Object {
    object(&d.department, &d.owner, d.classification)
}

/// Create or replace body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentInput {
    /// 1-200 characters.
    pub title: String,
    /// Up to 32 KiB.
    #[serde(default)]
    pub body: String,
    /// 1-64 characters of `[a-z0-9_-]`.
    pub department: String,
    /// 0 (public) to 3 (secret).
    pub classification: i32,
}

impl DocumentInput {
    fn validate(&self) -> Result<(), ApiError> {
        if self.title.trim().is_empty() || self.title.chars().count() > 200 {
            return Err(ApiError::validation("title", "must be 1-200 characters"));
        }
        if self.body.len() > 32 * 1024 {
            return Err(ApiError::validation("body", "must be at most 32 KiB"));
        }
        let d = &self.department;
        if d.is_empty()
            || d.len() > 64
            || !d
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return Err(ApiError::validation(
                "department",
                "must be 1-64 characters of [a-z0-9_-]",
            ));
        }
        if !(0..=3).contains(&self.classification) {
            return Err(ApiError::validation(
                "classification",
                "must be 0, 1, 2 or 3",
            ));
        }
        Ok(())
    }

    fn fields<'a>(&'a self, owner: &'a str) -> DocumentFields<'a> {
        DocumentFields {
            title: &self.title,
            body: &self.body,
            department: &self.department,
            owner,
            classification: self.classification,
        }
    }
}

/// List the documents the caller may read (others are silently left out, no count).
#[utoipa::path(get, path = "/api/documents", tag = "documents", security(("bearer" = [])),
    responses((status = 200, body = [DocumentRow]), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<DocumentRow>>, ApiError> {
    let subject = principal.subject();
    let mut out = Vec::new();
    for d in store::documents::list(&state.db).await? {
        if is_allowed(&state, &subject, &object_of(&d), "read")? {
            out.push(d);
        }
    }
    Ok(Json(out))
}

/// Create a document owned by the caller.
#[utoipa::path(post, path = "/api/documents", tag = "documents", security(("bearer" = [])), request_body = DocumentInput,
    responses((status = 201, body = DocumentRow), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    Json(input): Json<DocumentInput>,
) -> Result<(StatusCode, Json<DocumentRow>), ApiError> {
    input.validate()?;
    let owner = principal.user.username_key.clone();
    authorize(
        &state,
        &principal,
        &object(&input.department, &owner, input.classification),
        "create",
    )?;
    let doc = store::documents::insert(&state.db, &input.fields(&owner), state.now()).await?;
    Ok((StatusCode::CREATED, Json(doc)))
}

async fn load(state: &AppState, id: i64) -> Result<DocumentRow, ApiError> {
    store::documents::find(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("document"))
}

/// Read one document.
#[utoipa::path(get, path = "/api/documents/{id}", tag = "documents", security(("bearer" = [])),
    params(("id" = i64, Path, description = "document id")),
    responses((status = 200, body = DocumentRow), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<Json<DocumentRow>, ApiError> {
    let doc = load(&state, id).await?;
    authorize(&state, &principal, &object_of(&doc), "read")?;
    Ok(Json(doc))
}

/// Replace a document. The caller must be allowed to update it as it is and as it will be.
#[utoipa::path(put, path = "/api/documents/{id}", tag = "documents", security(("bearer" = [])), request_body = DocumentInput,
    params(("id" = i64, Path, description = "document id")),
    responses((status = 200, body = DocumentRow), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    Json(input): Json<DocumentInput>,
) -> Result<Json<DocumentRow>, ApiError> {
    input.validate()?;
    let doc = load(&state, id).await?;
    authorize(&state, &principal, &object_of(&doc), "update")?;
    authorize(
        &state,
        &principal,
        &object(&input.department, &doc.owner, input.classification),
        "update",
    )?;
    let updated = store::documents::update(&state.db, id, &input.fields(&doc.owner), state.now())
        .await?
        .ok_or_else(|| ApiError::not_found("document"))?;
    Ok(Json(updated))
}

/// Delete a document.
#[utoipa::path(delete, path = "/api/documents/{id}", tag = "documents", security(("bearer" = [])),
    params(("id" = i64, Path, description = "document id")),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let doc = load(&state, id).await?;
    authorize(&state, &principal, &object_of(&doc), "delete")?;
    store::documents::delete(&state.db, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
