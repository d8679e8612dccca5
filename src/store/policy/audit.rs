//! The audit log: one row per change (who, when, what, before and after), and the rules
//! snapshot of each version.

use serde::Serialize;
use sqlx::Row;

use super::ChangeMeta;
use super::RulesSnapshot;
use super::{Tx, json_err};
use crate::store::{Db, StoreError, StoreResult};

/// An `audit_log` row; `before`/`after` are JSON text.
#[derive(sqlx::FromRow)]
pub(super) struct AuditRecord {
    id: i64,
    version: Option<i64>,
    actor: String,
    action: String,
    summary: String,
    before: String,
    after: String,
    created_at: i64,
}

impl TryFrom<AuditRecord> for AuditEntry {
    type Error = StoreError;
    fn try_from(r: AuditRecord) -> StoreResult<Self> {
        Ok(AuditEntry {
            id: r.id,
            version: r.version,
            actor: r.actor,
            action: r.action,
            summary: r.summary,
            before: serde_json::from_str(&r.before).map_err(json_err)?,
            after: serde_json::from_str(&r.after).map_err(json_err)?,
            created_at: r.created_at,
        })
    }
}

/// An audit entry.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Entry id.
    pub id: i64,
    /// Policy version created by this change (None for account changes).
    pub version: Option<i64>,
    /// Who.
    pub actor: String,
    /// What kind of change.
    pub action: String,
    /// Human summary.
    pub summary: String,
    /// What the change replaced: for a policy version, one object per operation (`{"rule":
    /// ...}`, `{"assignment": [member, role]}`, a rolled-back snapshot); for an account change,
    /// the account's fields.
    #[schema(schema_with = audit_state)]
    pub before: serde_json::Value,
    /// What the change left, in the same shape as `before`.
    #[schema(schema_with = audit_state)]
    pub after: serde_json::Value,
    /// Unix time.
    pub created_at: i64,
}

/// The schema of [`AuditEntry::before`]/`after`: an array of objects (policy versions) or an
/// object (account changes and the seed's counts).
pub(super) fn audit_state() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::Object)))
        .item(ObjectBuilder::new().schema_type(Type::Object))
        .into()
}

pub(in crate::store) async fn insert_audit(
    tx: &mut Tx<'_>,
    version: Option<i64>,
    meta: &ChangeMeta<'_>,
    before: &serde_json::Value,
    after: &serde_json::Value,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_log (version, actor, action, summary, before, after, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(version)
    .bind(meta.actor)
    .bind(meta.action)
    .bind(meta.summary)
    .bind(before.to_string())
    .bind(after.to_string())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks the audit row of `version` as touching `tenant` only (see [`AuditScope`]).
pub(in crate::store) async fn tag_tenant(
    tx: &mut Tx<'_>,
    version: i64,
    tenant: &str,
) -> StoreResult<()> {
    sqlx::query("UPDATE audit_log SET tenant = $2 WHERE version = $1")
        .bind(version)
        .bind(tenant)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Whose audit rows to read.
#[derive(Debug, Clone, Copy)]
pub enum AuditScope<'a> {
    /// Every row (an installation admin).
    All,
    /// Only rows whose change touched this tenant and no other, and nothing global: what a
    /// tenant admin may see.
    Tenant(&'a str),
}

/// Audit entries, newest first. `$3` is the tenant filter: NULL reads every row.
pub async fn list_audit(
    db: &Db,
    only_versions: bool,
    scope: AuditScope<'_>,
    limit: i64,
    offset: i64,
) -> StoreResult<(Vec<AuditEntry>, i64)> {
    let tenant = match scope {
        AuditScope::All => None,
        AuditScope::Tenant(t) => Some(t.to_owned()),
    };
    let (rows, total) = if only_versions {
        (
            sqlx::query_as::<_, AuditRecord>(select_audit!(
                "WHERE version IS NOT NULL AND ($3 IS NULL OR tenant = $3) \
                 ORDER BY id DESC LIMIT $1 OFFSET $2"
            )),
            sqlx::query(
                "SELECT COUNT(*) AS n FROM audit_log \
                 WHERE version IS NOT NULL AND ($1 IS NULL OR tenant = $1)",
            ),
        )
    } else {
        (
            sqlx::query_as::<_, AuditRecord>(select_audit!(
                "WHERE ($3 IS NULL OR tenant = $3) ORDER BY id DESC LIMIT $1 OFFSET $2"
            )),
            sqlx::query("SELECT COUNT(*) AS n FROM audit_log WHERE ($1 IS NULL OR tenant = $1)"),
        )
    };
    let items = rows
        .bind(limit)
        .bind(offset)
        .bind(tenant.clone())
        .fetch_all(db.pool())
        .await?
        .into_iter()
        .map(AuditEntry::try_from)
        .collect::<StoreResult<Vec<_>>>()?;
    let total = total
        .bind(tenant)
        .fetch_one(db.pool())
        .await?
        .try_get("n")?;
    Ok((items, total))
}

/// The audit entry that created a version, if it is in `scope`.
pub async fn version_entry_in(
    db: &Db,
    version: i64,
    scope: AuditScope<'_>,
) -> StoreResult<Option<AuditEntry>> {
    let tenant = match scope {
        AuditScope::All => None,
        AuditScope::Tenant(t) => Some(t.to_owned()),
    };
    sqlx::query_as::<_, AuditRecord>(select_audit!(
        "WHERE version = $1 AND ($2 IS NULL OR tenant = $2)"
    ))
    .bind(version)
    .bind(tenant)
    .fetch_optional(db.pool())
    .await?
    .map(AuditEntry::try_from)
    .transpose()
}

/// The audit entry that created a version.
pub async fn version_entry(db: &Db, version: i64) -> StoreResult<Option<AuditEntry>> {
    sqlx::query_as::<_, AuditRecord>(select_audit!("WHERE version = $1"))
        .bind(version)
        .fetch_optional(db.pool())
        .await?
        .map(AuditEntry::try_from)
        .transpose()
}

/// The rules and inheritance as of a version (None for a version that never existed).
pub async fn snapshot_at(db: &Db, version: i64) -> StoreResult<Option<RulesSnapshot>> {
    if version_entry(db, version).await?.is_none() {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT rules FROM policy_snapshots WHERE version <= $1 ORDER BY version DESC LIMIT 1",
    )
    .bind(version)
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| {
        let text: String = r.try_get("rules")?;
        serde_json::from_str(&text).map_err(json_err)
    })
    .transpose()
}
