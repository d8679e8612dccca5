//! The demo protected resource, `/api/documents`: route-level checks come from the policy
//! guard; object-level checks happen here, after loading the object, with its attributes.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::principal::Principal;
use crate::http::error::{ApiError, Json, Path, Query};
use crate::http::guard::authorize;
use crate::policy::{AttrValue, Object};
use crate::state::AppState;
use crate::store::{
    self,
    documents::{DocumentFields, DocumentRow},
};

/// Routes (guarded by the policy in `http.rs`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
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

/// `?limit=&after=`: page size (1-500, default 100) and the id to continue after.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Most documents to return (1-500, default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// Continue after this document id (from the previous page's `Link: rel="next"`).
    pub after: Option<i64>,
}

/// Documents read from the store per query while filtering.
const SCAN_BATCH: i64 = 200;
/// Most documents one request looks at: a caller who may read few documents among many gets a
/// short page and a `next` link instead of making the server decide on every document.
const MAX_SCAN: usize = 2_000;

/// List the documents the caller may read (others are silently left out, no count), by id.
/// When more may follow, a `Link: <...>; rel="next"` header gives the next page.
#[utoipa::path(get, path = "/api/documents", operation_id = "list_documents", tag = "documents", security(("bearer" = [])), params(ListParams),
    responses((status = 200, body = [DocumentRow]), (status = 401, body = crate::http::error::ErrorBody),
        (status = 403, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(p): Query<ListParams>,
) -> Result<Response, ApiError> {
    let limit = p.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::validation("limit", "must be 1-500"));
    }
    let mut cursor = p.after.unwrap_or(0);
    if cursor < 0 {
        return Err(ApiError::validation("after", "must not be negative"));
    }
    // One snapshot for the page, so every document is judged by the same policy version.
    let snap = state.engine.snapshot()?;
    let subject = principal.subject();
    let (out, next) = page(&state, &snap, subject, cursor, limit).await?;
    let more = next.is_some();
    cursor = next.unwrap_or(cursor);
    let mut res = Json(out).into_response();
    if more {
        let link = format!("</api/documents?limit={limit}&after={cursor}>; rel=\"next\"");
        if let Ok(v) = HeaderValue::from_str(&link) {
            res.headers_mut().insert(header::LINK, v);
        }
    }
    Ok(res)
}

/// One page of the documents `subject` may read after `cursor`, and the cursor to continue
/// from when more may follow. The policy's plan for (subject, read, document) becomes the
/// query's `WHERE`, so the database returns exactly the readable rows; each is still decided
/// (fail closed if the two ever disagreed). A plan without an SQL translation falls back to
/// deciding row by row over a bounded scan.
async fn page(
    state: &AppState,
    snap: &crate::engine::Snapshot,
    subject: &crate::policy::Subject,
    cursor: i64,
    limit: i64,
) -> Result<(Vec<DocumentRow>, Option<i64>), ApiError> {
    let plan = crate::policy::analysis::plan(
        snap.policy(),
        subject,
        "read",
        "document",
        Some(&store::documents::schema()),
    );
    if plan.kind == crate::policy::analysis::PlanKind::Never {
        return Ok((Vec::new(), None));
    }
    if let Some(mut rows) = store::documents::list_matching(
        &state.db,
        &subject.tenant,
        &plan.condition,
        cursor,
        limit + 1,
    )
    .await?
    {
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next = rows.last().map(|d| d.id).filter(|_| more);
        rows.retain(|d| {
            d.tenant == subject.tenant && snap.decide(subject, &object_of(d), "read").allowed
        });
        return Ok((rows, next));
    }
    scan(state, snap, subject, cursor, limit).await
}

/// Decides on every document after `cursor` until a page is full or [`MAX_SCAN`] were seen.
async fn scan(
    state: &AppState,
    snap: &crate::engine::Snapshot,
    subject: &crate::policy::Subject,
    mut cursor: i64,
    limit: i64,
) -> Result<(Vec<DocumentRow>, Option<i64>), ApiError> {
    let (mut out, mut scanned, mut more) = (Vec::new(), 0, false);
    'scan: loop {
        let batch = store::documents::list_after(&state.db, cursor, SCAN_BATCH).await?;
        let exhausted = (batch.len() as i64) < SCAN_BATCH;
        for d in batch {
            cursor = d.id;
            scanned += 1;
            if d.tenant == subject.tenant && snap.decide(subject, &object_of(&d), "read").allowed {
                out.push(d);
                if out.len() as i64 == limit {
                    more = true;
                    break 'scan;
                }
            }
        }
        if exhausted {
            break;
        }
        if scanned >= MAX_SCAN {
            more = true;
            break;
        }
    }
    Ok((out, more.then_some(cursor)))
}

/// Create a document owned by the caller.
#[utoipa::path(post, path = "/api/documents", operation_id = "create_document", tag = "documents", security(("bearer" = [])), request_body = DocumentInput,
    responses((status = 201, body = DocumentRow), (status = 403, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)))]
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
    let doc = store::documents::insert(
        &state.db,
        &input.fields(&owner),
        principal.tenant(),
        state.now(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(doc)))
}

/// The document `id`, when it belongs to the caller's tenant: another tenant's document is
/// answered like one the caller may not read (403), whatever the roles.
async fn load(
    state: &AppState,
    principal: &Principal,
    id: i64,
) -> Result<std::sync::Arc<DocumentRow>, ApiError> {
    let doc = store::documents::find(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("document"))?;
    if doc.tenant != principal.tenant() {
        return Err(ApiError::forbidden());
    }
    Ok(doc)
}

/// Read one document.
#[utoipa::path(get, path = "/api/documents/{id}", operation_id = "read_document", tag = "documents", security(("bearer" = [])),
    params(("id" = i64, Path, description = "document id")),
    responses((status = 200, body = DocumentRow), (status = 403, body = crate::http::error::ErrorBody), (status = 404, body = crate::http::error::ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<Json<std::sync::Arc<DocumentRow>>, ApiError> {
    let doc = load(&state, &principal, id).await?;
    authorize(&state, &principal, &object_of(&doc), "read")?;
    Ok(Json(doc))
}

/// Replace a document. The caller must be allowed to update it as it is and as it will be;
/// a change of department or classification is a relabel, which must also be allowed on the
/// document as it will be (the seed policy gives it to editors within their department and
/// clearance, never to an owner for being the owner: moving a document is like creating one
/// in its new place).
#[utoipa::path(put, path = "/api/documents/{id}", operation_id = "update_document", tag = "documents", security(("bearer" = [])), request_body = DocumentInput,
    params(("id" = i64, Path, description = "document id")),
    responses((status = 200, body = DocumentRow), (status = 403, body = crate::http::error::ErrorBody), (status = 404, body = crate::http::error::ErrorBody),
        (status = 409, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    Json(input): Json<DocumentInput>,
) -> Result<Json<DocumentRow>, ApiError> {
    input.validate()?;
    let doc = load(&state, &principal, id).await?;
    authorize(&state, &principal, &object_of(&doc), "update")?;
    let after = object(&input.department, &doc.owner, input.classification);
    authorize(&state, &principal, &after, "update")?;
    if input.department != doc.department || input.classification != doc.classification {
        authorize(&state, &principal, &after, "relabel")?;
    }
    match store::documents::update(&state.db, id, &doc, &input.fields(&doc.owner), state.now())
        .await?
    {
        Some(updated) => Ok(Json(updated)),
        None if store::documents::find(&state.db, id).await?.is_some() => Err(ApiError::conflict(
            "document_changed",
            "the document was relabelled while this request was decided; read it and retry",
        )),
        None => Err(ApiError::not_found("document")),
    }
}

/// Delete a document.
#[utoipa::path(delete, path = "/api/documents/{id}", operation_id = "delete_document", tag = "documents", security(("bearer" = [])),
    params(("id" = i64, Path, description = "document id")),
    responses((status = 204), (status = 403, body = crate::http::error::ErrorBody), (status = 404, body = crate::http::error::ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let doc = load(&state, &principal, id).await?;
    authorize(&state, &principal, &object_of(&doc), "delete")?;
    store::documents::delete(&state.db, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
