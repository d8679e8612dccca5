//! The demo protected resource.

use super::filter::{self, Bind, Column};
use super::{Db, StoreError, StoreResult};
use crate::policy::analysis::{AttrType, Cond, Schema};

/// The columns conditions see as `r.obj.*` (what the document object carries).
pub const COLUMNS: &[Column] = &[
    Column {
        attribute: "department",
        sql: "department",
        ty: AttrType::String,
    },
    Column {
        attribute: "owner",
        sql: "owner",
        ty: AttrType::String,
    },
    Column {
        attribute: "classification",
        sql: "classification",
        ty: AttrType::Int,
    },
];

/// The attributes every document object carries, with their types (a plan for documents is
/// restricted to them).
pub fn schema() -> Schema {
    filter::schema(COLUMNS)
}

/// A stored document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct DocumentRow {
    /// Id.
    pub id: i64,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Owning department.
    pub department: String,
    /// Owner's username.
    pub owner: String,
    /// 0 (public) to 3 (secret).
    #[sqlx(try_from = "i64")]
    pub classification: i32,
    /// The tenant it belongs to (that of the token it was created with).
    pub tenant: String,
}

/// Fields of a new or updated document.
#[derive(Debug, Clone)]
pub struct DocumentFields<'a> {
    /// Title.
    pub title: &'a str,
    /// Body.
    pub body: &'a str,
    /// Department.
    pub department: &'a str,
    /// Owner.
    pub owner: &'a str,
    /// Classification.
    pub classification: i32,
}

macro_rules! document_columns {
    () => {
        "id, title, body, department, owner, classification, tenant"
    };
}

/// Up to `limit` documents with ids above `after`, by id (keyset pagination).
pub async fn list_after(db: &Db, after: i64, limit: i64) -> StoreResult<Vec<DocumentRow>> {
    sqlx::query_as::<_, DocumentRow>(concat!(
        "SELECT ",
        document_columns!(),
        " FROM documents WHERE id > $1 ORDER BY id LIMIT $2"
    ))
    .bind(after)
    .bind(limit)
    .fetch_all(db.pool())
    .await
    .map_err(StoreError::from)
}

/// Up to `limit` documents with ids above `after` that satisfy `cond` (a plan's residual
/// condition over [`COLUMNS`]), by id: the database applies the policy. None when the condition
/// has no SQL translation (the caller then decides row by row).
pub async fn list_matching(
    db: &Db,
    tenant: &str,
    cond: &Cond,
    after: i64,
    limit: i64,
) -> StoreResult<Option<Vec<DocumentRow>>> {
    let Some(w) = filter::where_clause(cond, COLUMNS, db.backend(), 4) else {
        return Ok(None);
    };
    let sql = format!(
        concat!(
            "SELECT ",
            document_columns!(),
            " FROM documents WHERE id > $1 AND tenant = $3 AND {} ORDER BY id LIMIT $2"
        ),
        w.sql
    );
    // Audited: the text is this function's constants plus `filter::where_clause`, which writes
    // only constant column names, operators and `$n` placeholders; every value is bound.
    let mut q = sqlx::query_as::<_, DocumentRow>(sqlx::AssertSqlSafe(sql))
        .bind(after)
        .bind(limit)
        .bind(tenant);
    for b in w.binds {
        q = match b {
            Bind::Str(s) => q.bind(s),
            Bind::Int(n) => q.bind(n),
        };
    }
    Ok(Some(q.fetch_all(db.pool()).await?))
}

/// One document.
pub async fn find(db: &Db, id: i64) -> StoreResult<Option<DocumentRow>> {
    sqlx::query_as::<_, DocumentRow>(concat!(
        "SELECT ",
        document_columns!(),
        " FROM documents WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db.pool())
    .await
    .map_err(StoreError::from)
}

/// Stores a new document.
pub async fn insert(
    db: &Db,
    d: &DocumentFields<'_>,
    tenant: &str,
    now: i64,
) -> StoreResult<DocumentRow> {
    sqlx::query_as::<_, DocumentRow>(concat!(
        "INSERT INTO documents (title, body, department, owner, classification, created_at, updated_at, tenant) \
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7) RETURNING ",
        document_columns!()
    ))
    .bind(d.title)
    .bind(d.body)
    .bind(d.department)
    .bind(d.owner)
    .bind(i64::from(d.classification))
    .bind(now)
    .bind(tenant)
    .fetch_one(db.pool())
    .await
    .map_err(StoreError::from)
}

/// Overwrites a document whose department, owner and classification are still those of
/// `was`; None if it does not exist or was relabelled meanwhile.
pub async fn update(
    db: &Db,
    id: i64,
    was: &DocumentRow,
    d: &DocumentFields<'_>,
    now: i64,
) -> StoreResult<Option<DocumentRow>> {
    // Written only if the labels the caller was authorised on are still the document's: a
    // concurrent relabel between the decision and the write makes this a no-op (None).
    sqlx::query_as::<_, DocumentRow>(concat!(
        "UPDATE documents SET title = $2, body = $3, department = $4, owner = $5, \
         classification = $6, updated_at = $7 \
         WHERE id = $1 AND department = $8 AND owner = $9 AND classification = $10 RETURNING ",
        document_columns!()
    ))
    .bind(id)
    .bind(d.title)
    .bind(d.body)
    .bind(d.department)
    .bind(d.owner)
    .bind(i64::from(d.classification))
    .bind(now)
    .bind(&was.department)
    .bind(&was.owner)
    .bind(i64::from(was.classification))
    .fetch_optional(db.pool())
    .await
    .map_err(StoreError::from)
}

/// Deletes a document; false if it did not exist.
pub async fn delete(db: &Db, id: i64) -> StoreResult<bool> {
    Ok(sqlx::query("DELETE FROM documents WHERE id = $1")
        .bind(id)
        .execute(db.pool())
        .await?
        .rows_affected()
        == 1)
}
