//! The demo protected resource.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::cache::Table;
use super::filter::{self, Bind, Column};
use super::{Db, StoreError, StoreResult};
use crate::policy::analysis::{AttrType, Cond, Schema};

/// Document rows read by id, on the SQLite store only. Every write below moves the epoch
/// after it committed (an entry read under an older epoch is a miss; a row is read under the
/// epoch taken *before* the read, so a write that commits during the read leaves an entry
/// that is never served). Writes by another instance sharing the file move the
/// `document_changes` counter (triggers), which the heartbeat reads ([`sync_cache`]): the
/// cache is emptied within one heartbeat, and no entry is served past [`super::cache::MAX_AGE`]
/// in any case. A read then costs no trip to SQLite's worker thread, which was most of what a
/// protected document read cost (BENCHMARKS.md). On Postgres every read goes to the database.
#[derive(Debug)]
pub struct Cache {
    enabled: bool,
    epoch: AtomicU64,
    rows: Table<i64, Arc<DocumentRow>>,
    /// The `document_changes` count the last [`sync_cache`] saw (-1: none yet).
    changes_seen: std::sync::atomic::AtomicI64,
}

impl Cache {
    /// A cache that holds rows only when `enabled`.
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            epoch: AtomicU64::new(0),
            rows: Table::default(),
            changes_seen: std::sync::atomic::AtomicI64::new(-1),
        }
    }

    /// Marks the start of a write to documents; the epoch moves when the guard is dropped
    /// (after the commit, and on every error path too).
    pub fn write(&self) -> Written<'_> {
        Written(self)
    }
}

/// See [`Cache::write`].
#[derive(Debug)]
pub struct Written<'a>(&'a Cache);

impl Drop for Written<'_> {
    fn drop(&mut self) {
        self.0.epoch.fetch_add(1, Ordering::AcqRel);
    }
}

/// The heartbeat's part (SQLite): reads the `document_changes` counter and empties the
/// document cache when it moved since the last call (another instance sharing the file, or
/// this one, changed a document).
///
/// # Errors
/// The store's, when the counter cannot be read (the cache is then emptied too).
pub async fn sync_cache(db: &Db) -> StoreResult<()> {
    let cache = db.documents();
    if !cache.enabled {
        return Ok(());
    }
    let count: StoreResult<i64> =
        sqlx::query_scalar("SELECT count FROM document_changes WHERE id = 1")
            .fetch_one(db.pool())
            .await
            .map_err(StoreError::from);
    let count = count.inspect_err(|_| drop(cache.write()))?;
    if cache.changes_seen.swap(count, Ordering::AcqRel) != count {
        drop(cache.write());
    }
    Ok(())
}

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
pub async fn find(db: &Db, id: i64) -> StoreResult<Option<Arc<DocumentRow>>> {
    let cache = db.documents();
    let epoch = cache.epoch.load(Ordering::Acquire);
    if cache.enabled
        && let Some(row) = cache.rows.get(&id, epoch, false)
    {
        return Ok(Some(row));
    }
    let row = sqlx::query_as::<_, DocumentRow>(concat!(
        "SELECT ",
        document_columns!(),
        " FROM documents WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db.pool())
    .await
    .map_err(StoreError::from)?
    .map(Arc::new);
    if cache.enabled
        && let Some(row) = &row
    {
        cache.rows.put(id, row.clone(), epoch);
    }
    Ok(row)
}

/// Stores a new document.
pub async fn insert(
    db: &Db,
    d: &DocumentFields<'_>,
    tenant: &str,
    now: i64,
) -> StoreResult<DocumentRow> {
    let _written = db.documents().write();
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
    let _written = db.documents().write();
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
    let _written = db.documents().write();
    Ok(sqlx::query("DELETE FROM documents WHERE id = $1")
        .bind(id)
        .execute(db.pool())
        .await?
        .rows_affected()
        == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(department: &str) -> DocumentFields<'_> {
        DocumentFields {
            title: "t",
            body: "b",
            department,
            owner: "bob",
            classification: 1,
        }
    }

    /// On SQLite a read is served from memory until the next write, and never after it: an
    /// update, a delete and raw SQL (tests) each make the next read go to the database.
    #[tokio::test]
    async fn a_cached_document_is_served_until_the_next_write_and_never_after_it() {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}/w.db", dir.path().display());
        let db = Db::connect(&url).await.expect("db");
        let doc = insert(&db, &fields("eng"), "default", 0)
            .await
            .expect("insert");
        let first = find(&db, doc.id).await.expect("find").expect("row");
        let again = find(&db, doc.id).await.expect("find").expect("row");
        assert!(
            Arc::ptr_eq(&first, &again),
            "the second read is the cached row"
        );

        let updated = update(&db, doc.id, &first, &fields("sales"), 1)
            .await
            .expect("update");
        assert_eq!(updated.map(|d| d.department), Some("sales".to_owned()));
        let read = find(&db, doc.id).await.expect("find").expect("row");
        assert_eq!(
            read.department, "sales",
            "never the row from before the update"
        );

        crate::store::execute_for_tests(&db, "UPDATE documents SET department = 'audit'")
            .await
            .expect("raw");
        let read = find(&db, doc.id).await.expect("find").expect("row");
        assert_eq!(read.department, "audit");

        assert!(delete(&db, doc.id).await.expect("delete"));
        assert!(find(&db, doc.id).await.expect("find").is_none());
    }

    /// Two instances on one SQLite file: a change made through one leaves the other's cache
    /// at its next heartbeat ([`sync_cache`]), before which the other may serve the row it had.
    #[tokio::test]
    async fn a_change_made_by_another_instance_leaves_the_cache_at_the_heartbeat() {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}/w.db", dir.path().display());
        let (a, b) = (
            Db::connect(&url).await.expect("a"),
            Db::connect(&url).await.expect("b"),
        );
        let doc = insert(&a, &fields("eng"), "default", 0)
            .await
            .expect("insert");
        sync_cache(&b).await.expect("sync");
        let seen = find(&b, doc.id).await.expect("find").expect("row");
        update(&a, doc.id, &seen, &fields("sales"), 1)
            .await
            .expect("update");
        let stale = find(&b, doc.id).await.expect("find").expect("row");
        assert_eq!(stale.department, "eng", "b has not had its heartbeat yet");
        sync_cache(&b).await.expect("sync");
        let fresh = find(&b, doc.id).await.expect("find").expect("row");
        assert_eq!(fresh.department, "sales");
        // a heartbeat with no change keeps what is cached
        sync_cache(&b).await.expect("sync");
        let again = find(&b, doc.id).await.expect("find").expect("row");
        assert!(Arc::ptr_eq(&fresh, &again));
    }

    #[test]
    fn a_row_read_while_a_write_committed_is_never_served() {
        let cache = Cache::new(true);
        let epoch = cache.epoch.load(Ordering::Acquire);
        drop(cache.write()); // a write commits while the row is being read
        let row = Arc::new(DocumentRow {
            id: 1,
            title: String::new(),
            body: String::new(),
            department: "eng".into(),
            owner: "bob".into(),
            classification: 0,
            tenant: "default".into(),
        });
        cache.rows.put(1, row, epoch);
        let now = cache.epoch.load(Ordering::Acquire);
        assert!(cache.rows.get(&1, now, false).is_none());
    }
}
