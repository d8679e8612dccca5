//! The example documents app (the seed tutorial's), protected by Warden with
//! `warden_client::guard::Guard` in one line: every route is decided as Warden decides its
//! own `/api/documents` routes, and each handler checks the document it loaded (read, update,
//! relabel, delete, create), remotely or with the in-process replica, as the guard was built.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use warden_client::guard::{Caller, Guard};
use warden_client::warden_policy::{AttrValue, Object};

/// A document.
#[derive(Debug, Clone, Serialize)]
pub struct Document {
    /// Id.
    pub id: i64,
    /// Title.
    pub title: String,
    /// Department.
    pub department: String,
    /// Owner (a lower-case username).
    pub owner: String,
    /// Classification, 0-3.
    pub classification: i32,
}

impl Document {
    fn object(&self) -> Object {
        object(&self.department, &self.owner, self.classification)
    }
}

/// The policy's view of a document.
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

/// Create or replace body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Title.
    pub title: String,
    /// Department.
    pub department: String,
    /// Classification.
    pub classification: i32,
}

/// The documents, in memory.
#[derive(Debug, Clone, Default)]
pub struct Documents(Arc<Mutex<(i64, BTreeMap<i64, Document>)>>);

impl Documents {
    /// Stores a document; returns its id.
    pub fn insert(&self, title: &str, department: &str, owner: &str, classification: i32) -> i64 {
        let mut docs = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        docs.0 += 1;
        let id = docs.0;
        let doc = Document {
            id,
            title: title.into(),
            department: department.into(),
            owner: owner.into(),
            classification,
        };
        docs.1.insert(id, doc);
        id
    }

    fn get(&self, id: i64) -> Option<Document> {
        let docs = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        docs.1.get(&id).cloned()
    }

    fn put(&self, doc: Document) {
        let mut docs = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        docs.1.insert(doc.id, doc);
    }

    fn remove(&self, id: i64) {
        let mut docs = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        docs.1.remove(&id);
    }
}

#[derive(Clone)]
struct App {
    guard: Guard,
    docs: Documents,
}

/// The app: documents routes behind `guard`.
pub fn app(guard: Guard, docs: Documents) -> Router {
    Router::new()
        .route("/api/documents", post(create))
        .route("/api/documents/{id}", get(read).put(update).delete(remove))
        .with_state(App {
            guard: guard.clone(),
            docs,
        })
        // The one line: every route above is decided by Warden's policy.
        .layer(guard)
}

fn not_found() -> Response {
    warden_client::guard::refusal(StatusCode::NOT_FOUND, "not_found", "no such document")
}

async fn load(app: &App, id: i64) -> Result<Document, Response> {
    app.docs.get(id).ok_or_else(not_found)
}

async fn read(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<Json<Document>, Response> {
    let doc = load(&app, id).await?;
    app.guard
        .check_object(&caller, &doc.object(), "read")
        .await?;
    Ok(Json(doc))
}

async fn create(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Json(input): Json<Input>,
) -> Result<Response, Response> {
    let owner = caller.subject_name(&app.guard).await?;
    let after = object(&input.department, &owner, input.classification);
    app.guard.check_object(&caller, &after, "create").await?;
    let id = app.docs.insert(
        &input.title,
        &input.department,
        &owner,
        input.classification,
    );
    Ok((StatusCode::CREATED, Json(app.docs.get(id))).into_response())
}

/// The caller must be allowed to update the document as it is and as it will be, and to
/// relabel it when its department or classification changes (as Warden's own route does).
async fn update(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    Json(input): Json<Input>,
) -> Result<Json<Document>, Response> {
    let doc = load(&app, id).await?;
    app.guard
        .check_object(&caller, &doc.object(), "update")
        .await?;
    let after = object(&input.department, &doc.owner, input.classification);
    app.guard.check_object(&caller, &after, "update").await?;
    if input.department != doc.department || input.classification != doc.classification {
        app.guard.check_object(&caller, &after, "relabel").await?;
    }
    let doc = Document {
        title: input.title,
        department: input.department,
        classification: input.classification,
        ..doc
    };
    app.docs.put(doc.clone());
    Ok(Json(doc))
}

async fn remove(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<StatusCode, Response> {
    let doc = load(&app, id).await?;
    app.guard
        .check_object(&caller, &doc.object(), "delete")
        .await?;
    app.docs.remove(id);
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's name, for owners of new documents.
trait SubjectName {
    async fn subject_name(&self, guard: &Guard) -> Result<String, Response>;
}

impl SubjectName for Caller {
    async fn subject_name(&self, guard: &Guard) -> Result<String, Response> {
        match &self.subject {
            Some(s) => Ok(s.name.clone()),
            None => guard.caller_name(&self.token).await,
        }
    }
}
