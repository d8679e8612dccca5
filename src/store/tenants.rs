//! Tenants (the policy's domains) and their members: which accounts may ask for a token in
//! which tenant. A tenant's roles and rules live with the policy (`policy`); this is the
//! directory beside it. Every write is a policy version with its audit row, like any change.

use serde::Serialize;
use sqlx::Row;

use super::policy::{ChangeMeta, Tx, record_account_event, tag_tenant};
use super::{Db, StoreError, StoreResult};

/// A stored tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TenantRow {
    /// `[a-z0-9-]{1,63}`; the domain its rules and role assignments name.
    pub name: String,
    /// Shown to people.
    pub display_name: String,
    /// A disabled tenant issues no tokens and its tokens are refused.
    #[serde(serialize_with = "as_bool")]
    #[schema(value_type = bool)]
    pub disabled: i64,
    /// Unix seconds.
    pub created_at: i64,
}

fn as_bool<S: serde::Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bool(*v != 0)
}

/// Every tenant, by name.
pub async fn list(db: &Db) -> StoreResult<Vec<TenantRow>> {
    Ok(sqlx::query_as::<_, TenantRow>(
        "SELECT name, display_name, disabled, created_at FROM tenants ORDER BY name",
    )
    .fetch_all(db.pool())
    .await?)
}

/// One tenant.
pub async fn find(db: &Db, name: &str) -> StoreResult<Option<TenantRow>> {
    Ok(sqlx::query_as::<_, TenantRow>(
        "SELECT name, display_name, disabled, created_at FROM tenants WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(db.pool())
    .await?)
}

/// Creates a tenant (409 when the name is taken), as a policy version with its audit row.
/// Returns the version.
pub async fn create(
    db: &Db,
    name: &str,
    display_name: &str,
    actor: &str,
    now: i64,
) -> StoreResult<i64> {
    let mut tx = db.pool().begin().await?;
    let summary = format!("tenant {name} created");
    let meta = ChangeMeta {
        actor,
        action: "tenants.create",
        summary: &summary,
    };
    let after = serde_json::json!([{ "tenant": name, "display_name": display_name }]);
    let version =
        record_account_event(db, &mut tx, &meta, (&serde_json::json!([]), &after), now).await?;
    sqlx::query(
        "INSERT INTO tenants (name, display_name, disabled, created_at) VALUES ($1, $2, 0, $3)",
    )
    .bind(name)
    .bind(display_name)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(|e| StoreError::classify(e, "a tenant with this name"))?;
    tag_tenant(&mut tx, version, name).await?;
    tx.commit().await?;
    Ok(version)
}

/// Renames (the display name) and/or disables or enables a tenant, as a policy version.
/// None when there is no such tenant.
pub async fn update(
    db: &Db,
    name: &str,
    display_name: Option<&str>,
    disabled: Option<bool>,
    actor: &str,
    now: i64,
) -> StoreResult<Option<i64>> {
    let Some(old) = find(db, name).await? else {
        return Ok(None);
    };
    let mut tx = db.pool().begin().await?;
    let summary = format!("tenant {name} updated");
    let meta = ChangeMeta {
        actor,
        action: "tenants.update",
        summary: &summary,
    };
    let new_display = display_name.unwrap_or(&old.display_name);
    let new_disabled = disabled.map_or(old.disabled, i64::from);
    let before = serde_json::json!([{ "tenant": name, "display_name": old.display_name, "disabled": old.disabled != 0 }]);
    let after = serde_json::json!([{ "tenant": name, "display_name": new_display, "disabled": new_disabled != 0 }]);
    let version = record_account_event(db, &mut tx, &meta, (&before, &after), now).await?;
    sqlx::query("UPDATE tenants SET display_name = $2, disabled = $3 WHERE name = $1")
        .bind(name)
        .bind(new_display)
        .bind(new_disabled)
        .execute(&mut *tx)
        .await?;
    tag_tenant(&mut tx, version, name).await?;
    tx.commit().await?;
    Ok(Some(version))
}

/// Adds `user_id` to `tenant` inside a transaction (nothing when it is a member already).
pub(in crate::store) async fn add_member_tx(
    tx: &mut Tx<'_>,
    tenant: &str,
    user_id: i64,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO tenant_members (tenant, user_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (tenant, user_id) DO NOTHING",
    )
    .bind(tenant)
    .bind(user_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Adds `user_id` to `tenant` (nothing when a member already).
pub async fn add_member(db: &Db, tenant: &str, user_id: i64, now: i64) -> StoreResult<()> {
    let mut tx = db.pool().begin().await?;
    add_member_tx(&mut tx, tenant, user_id, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Removes `user_id` from `tenant`; false when it was no member.
pub async fn remove_member(db: &Db, tenant: &str, user_id: i64) -> StoreResult<bool> {
    Ok(
        sqlx::query("DELETE FROM tenant_members WHERE tenant = $1 AND user_id = $2")
            .bind(tenant)
            .bind(user_id)
            .execute(db.pool())
            .await?
            .rows_affected()
            == 1,
    )
}

/// The lower-cased names of `tenant`'s members, sorted.
pub async fn members(db: &Db, tenant: &str) -> StoreResult<Vec<String>> {
    let rows = sqlx::query(
        "SELECT u.username_key AS name FROM tenant_members m JOIN users u ON u.id = m.user_id \
         WHERE m.tenant = $1 ORDER BY u.username_key",
    )
    .bind(tenant)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| r.try_get("name").map_err(StoreError::from))
        .collect()
}

/// The enabled tenants `user_id` is a member of, by name.
pub async fn active_memberships(db: &Db, user_id: i64) -> StoreResult<Vec<String>> {
    let rows = sqlx::query(
        "SELECT m.tenant AS name FROM tenant_members m JOIN tenants t ON t.name = m.tenant \
         WHERE m.user_id = $1 AND t.disabled = 0 ORDER BY m.tenant",
    )
    .bind(user_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| r.try_get("name").map_err(StoreError::from))
        .collect()
}

/// Whether `user_id` is a member of `tenant` and the tenant is enabled.
pub async fn is_active_member(db: &Db, tenant: &str, user_id: i64) -> StoreResult<bool> {
    Ok(sqlx::query(
        "SELECT 1 AS one FROM tenant_members m JOIN tenants t ON t.name = m.tenant \
         WHERE m.tenant = $1 AND m.user_id = $2 AND t.disabled = 0",
    )
    .bind(tenant)
    .bind(user_id)
    .fetch_optional(db.pool())
    .await?
    .is_some())
}
