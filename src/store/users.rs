//! Accounts.

use std::collections::BTreeMap;
use std::sync::Arc;

use sqlx::Row;

use super::{Db, StoreError, StoreResult};
use crate::policy::AttrValue;

pub use super::accounts::UserRow;

/// What registration stores.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    /// Name as typed.
    pub username: &'a str,
    /// E-mail, if given.
    pub email: Option<&'a str>,
    /// Display name, if given.
    pub display_name: Option<&'a str>,
    /// argon2id PHC string.
    pub password_hash: &'a str,
    /// Initial attributes.
    pub attributes: &'a BTreeMap<String, AttrValue>,
    /// Requestable scopes.
    pub scopes: &'a [String],
    /// Initial role (`role:<name>`), stored as a `g` rule in the same transaction.
    pub role: &'a str,
    /// The admin who created it (None: the account registered itself, or the bootstrap).
    pub created_by: Option<&'a str>,
}

macro_rules! user_columns {
    () => {
        "id, username, username_key, email, display_name, password_hash, disabled, \
                       token_generation, attributes, scopes, kind"
    };
}

/// A `users` row as stored: the disabled flag as 0/1, attributes as JSON text, scopes
/// space-separated.
#[derive(sqlx::FromRow)]
struct UserRecord {
    id: i64,
    username: String,
    username_key: String,
    email: Option<String>,
    display_name: Option<String>,
    password_hash: String,
    disabled: i64,
    token_generation: i64,
    attributes: String,
    scopes: String,
    kind: String,
}

impl TryFrom<UserRecord> for UserRow {
    type Error = StoreError;
    fn try_from(r: UserRecord) -> StoreResult<Self> {
        Ok(UserRow {
            id: r.id,
            username: r.username,
            username_key: r.username_key,
            email: r.email,
            display_name: r.display_name,
            password_hash: r.password_hash,
            disabled: r.disabled != 0,
            token_generation: r.token_generation,
            attributes: serde_json::from_str(&r.attributes)
                .map_err(|e| StoreError::Corrupt(format!("users.attributes: {e}")))?,
            scopes: r.scopes.split_whitespace().map(str::to_owned).collect(),
            kind: super::accounts::AccountKind::parse(&r.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("users.kind: {}", r.kind)))?,
        })
    }
}

/// Lower-cases a username into the key used for uniqueness and policy.
pub fn username_key(username: &str) -> String {
    crate::policy::username::key(username)
}

/// A created account and the policy version its role assignment made.
#[derive(Debug, Clone)]
pub struct Created {
    /// The new row.
    pub user: UserRow,
    /// The version the assignment created.
    pub policy_version: i64,
    /// The assignment's id.
    pub assignment_id: i64,
    /// `user:<key>`.
    pub member: String,
}

/// Creates a user and their initial role assignment in one transaction, bumping the policy
/// version (a role assignment is a policy change).
pub async fn insert(db: &Db, user: NewUser<'_>, now: i64) -> StoreResult<Created> {
    let _written = db.accounts().write();
    let attributes = serde_json::to_string(user.attributes)
        .map_err(|e| StoreError::Corrupt(format!("attributes: {e}")))?;
    let key = username_key(user.username);
    let mut tx = db.pool().begin().await?;
    // Every name is given once: a deleted account's name stays taken here.
    super::lifecycle::claim_name(&mut tx, &key, "username").await?;
    let id: i64 = sqlx::query(
        "INSERT INTO users (username, username_key, email, display_name, password_hash, \
         attributes, scopes, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
    )
    .bind(user.username)
    .bind(&key)
    .bind(user.email)
    .bind(user.display_name)
    .bind(user.password_hash)
    .bind(&attributes)
    .bind(user.scopes.join(" "))
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| StoreError::classify(e, "username"))?
    .try_get("id")?;
    // Every account starts in the default tenant (where the installation's API gives roles).
    super::tenants::add_member_tx(&mut tx, crate::policy::rule::DEFAULT_TENANT, id, now).await?;
    let member = format!("user:{key}");
    let summary = match user.created_by {
        Some(admin) => format!("account {key} created with {} by {admin}", user.role),
        None => format!("account {key} created with {}", user.role),
    };
    let meta = super::policy::ChangeMeta {
        actor: user.created_by.unwrap_or(&key),
        action: super::policy::REGISTRATION,
        summary: &summary,
    };
    let (version, assignment_id) =
        super::policy::record_registration(db, &mut tx, &member, user.role, &meta, now).await?;
    tx.commit().await?;
    let user = find_by_id(db, id)
        .await?
        .ok_or(StoreError::Corrupt("user vanished after insert".into()))?;
    Ok(Created {
        user,
        policy_version: version,
        assignment_id,
        member,
    })
}

/// Finds a user by name, case-insensitively.
pub async fn find_by_username(db: &Db, username: &str) -> StoreResult<Option<UserRow>> {
    let row = sqlx::query_as::<_, UserRecord>(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE username_key = $1"
    ))
    .bind(username_key(username))
    .fetch_optional(db.pool())
    .await?;
    row.map(UserRow::try_from).transpose()
}

/// Finds a user by id.
pub async fn find_by_id(db: &Db, id: i64) -> StoreResult<Option<UserRow>> {
    let row = sqlx::query_as::<_, UserRecord>(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    row.map(UserRow::try_from).transpose()
}

/// Finds a user by id through the account cache (authentication's read): served from memory
/// unless an account was written in this process since, or the entry is older than
/// [`super::accounts::MAX_AGE`].
pub async fn find_by_id_cached(db: &Db, id: i64) -> StoreResult<Option<Arc<UserRow>>> {
    if let Some(row) = db.accounts().get(id) {
        return Ok(Some(row));
    }
    let epoch = db.accounts().epoch();
    let row = match find_by_id(db, id).await {
        Ok(row) => row,
        // --on-store-loss serve: the account as it was before the loss, if it was seen
        Err(e @ StoreError::Unavailable(_)) => {
            return db
                .accounts()
                .stale_on_error(|a| a.get(id))
                .map(Some)
                .ok_or(e);
        }
        Err(e) => return Err(e),
    };
    let Some(row) = row else {
        return Ok(None);
    };
    let row = Arc::new(row);
    db.accounts().put(row.clone(), epoch);
    Ok(Some(row))
}

/// Reads account `id` from the database whatever the cache holds, and caches what it read:
/// for a caller whose token is newer than the cached account (another process changed it).
pub async fn find_by_id_fresh(db: &Db, id: i64) -> StoreResult<Option<Arc<UserRow>>> {
    let epoch = db.accounts().epoch();
    let Some(row) = find_by_id(db, id).await? else {
        return Ok(None);
    };
    let row = Arc::new(row);
    db.accounts().put(row.clone(), epoch);
    Ok(Some(row))
}

/// Number of accounts.
pub async fn count(db: &Db) -> StoreResult<i64> {
    sqlx::query("SELECT COUNT(*) AS n FROM users")
        .fetch_one(db.pool())
        .await?
        .try_get("n")
        .map_err(StoreError::from)
}

/// Increments the token generation, invalidating every token issued before. Returns the
/// new generation.
pub async fn bump_token_generation(db: &Db, id: i64, now: i64) -> StoreResult<i64> {
    let _written = db.accounts().write();
    sqlx::query(
        "UPDATE users SET token_generation = token_generation + 1, updated_at = $2 \
         WHERE id = $1 RETURNING token_generation",
    )
    .bind(id)
    .bind(now)
    .fetch_one(db.pool())
    .await?
    .try_get("token_generation")
    .map_err(StoreError::from)
}

/// Enables or disables an account. Disabling also bumps the token generation in the same
/// statement, so re-enabling the account later does not bring its old tokens back.
pub async fn set_disabled(db: &Db, id: i64, disabled: bool, now: i64) -> StoreResult<()> {
    let _written = db.accounts().write();
    sqlx::query(
        "UPDATE users SET disabled = $2, updated_at = $3, \
         token_generation = token_generation + $4 WHERE id = $1",
    )
    .bind(id)
    .bind(i64::from(disabled))
    .bind(now)
    .bind(i64::from(disabled))
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Replaces a user's attributes.
pub async fn set_attributes(
    db: &Db,
    id: i64,
    attributes: &BTreeMap<String, AttrValue>,
    now: i64,
) -> StoreResult<()> {
    let _written = db.accounts().write();
    let text = serde_json::to_string(attributes)
        .map_err(|e| StoreError::Corrupt(format!("attributes: {e}")))?;
    sqlx::query("UPDATE users SET attributes = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(text)
        .bind(now)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// What [`replace_account`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replaced {
    /// Stored as this policy version.
    Stored(i64),
    /// The account no longer equals `before`; nothing changed.
    AccountChanged,
    /// The policy version is no longer the one the caller checked against (another change,
    /// from this or another instance, committed meanwhile); nothing changed.
    PolicyMoved,
}

/// Replaces an account's attributes, requestable scopes and disabled flag, if they still
/// equal `before`'s (compare-and-swap: a concurrent edit of the same account, from this or
/// another instance, is never overwritten), and audits the change in the same transaction.
/// Disabling also bumps the token generation, so re-enabling never revives old tokens.
///
/// Attributes and the disabled flag decide access, so the edit is a new policy version: it
/// takes the policy write lock every policy change takes (serialising it with them and with
/// account edits on every instance), is refused unless the policy is still at `checked` (the
/// version the caller's lock-out check saw), and is announced to other instances like any
/// other version.
pub async fn replace_account(
    db: &Db,
    before: &UserRow,
    after: &UserRow,
    checked: i64,
    meta: &super::policy::ChangeMeta<'_>,
    audit: (&serde_json::Value, &serde_json::Value),
    now: i64,
) -> StoreResult<Replaced> {
    let _written = db.accounts().write();
    let json = |a: &BTreeMap<String, AttrValue>| {
        serde_json::to_string(a).map_err(|e| StoreError::Corrupt(format!("attributes: {e}")))
    };
    let mut tx = db.pool().begin().await?;
    let Some(version) =
        super::policy::record_account_edit(db, &mut tx, checked, meta, audit, now).await?
    else {
        return Ok(Replaced::PolicyMoved);
    };
    // The account as stored now, compared by meaning with what the caller read: the stored
    // text may be spelled otherwise (keys in another order, spaces: a row written by SQL),
    // which a comparison of texts would take for a concurrent change on every retry.
    let stored: Option<(String, String, i64)> =
        sqlx::query_as("SELECT attributes, scopes, disabled FROM users WHERE id = $1")
            .bind(before.id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((attributes, scopes, disabled)) = stored else {
        return Ok(Replaced::AccountChanged);
    };
    let same = serde_json::from_str::<BTreeMap<String, AttrValue>>(&attributes)
        .is_ok_and(|a| a == before.attributes)
        && scopes
            .split_whitespace()
            .eq(before.scopes.iter().map(String::as_str))
        && (disabled != 0) == before.disabled;
    if !same {
        return Ok(Replaced::AccountChanged);
    }
    // ...and swapped against exactly that text, so a writer that does not take the policy
    // lock (a password change, a login's bookkeeping) cannot slip in between.
    let done = sqlx::query(
        "UPDATE users SET attributes = $2, scopes = $3, disabled = $4, \
         token_generation = token_generation + $5, updated_at = $6 \
         WHERE id = $1 AND attributes = $7 AND scopes = $8 AND disabled = $9",
    )
    .bind(before.id)
    .bind(json(&after.attributes)?)
    .bind(after.scopes.join(" "))
    .bind(i64::from(after.disabled))
    .bind(i64::from(after.disabled && !before.disabled))
    .bind(now)
    .bind(attributes)
    .bind(scopes)
    .bind(disabled)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if done != 1 {
        return Ok(Replaced::AccountChanged);
    }
    tx.commit().await?;
    Ok(Replaced::Stored(version))
}

/// A page of users by id, and the total count.
pub async fn list(db: &Db, limit: i64, offset: i64) -> StoreResult<(Vec<UserRow>, i64)> {
    let rows = sqlx::query_as::<_, UserRecord>(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users ORDER BY id LIMIT $1 OFFSET $2"
    ))
    .bind(limit)
    .bind(offset)
    .fetch_all(db.pool())
    .await?
    .into_iter()
    .map(UserRow::try_from)
    .collect::<StoreResult<Vec<_>>>()?;
    Ok((rows, count(db).await?))
}

/// Every enabled account, by id (for access reviews and reverse queries). One query: paging
/// with OFFSET (and a COUNT per page) made 100,000 accounts cost 200 scans of a growing prefix.
pub async fn all_enabled(db: &Db) -> StoreResult<Vec<UserRow>> {
    sqlx::query_as::<_, UserRecord>(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE disabled = 0 ORDER BY id"
    ))
    .fetch_all(db.pool())
    .await?
    .into_iter()
    .map(UserRow::try_from)
    .collect()
}

/// Every enabled member of `tenant`, by id: one query joining the membership (a who-can over
/// 100,000 accounts read every account and then every membership, and matched them in memory).
pub async fn enabled_members(db: &Db, tenant: &str) -> StoreResult<Vec<UserRow>> {
    sqlx::query_as::<_, UserRecord>(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users JOIN tenant_members m ON m.user_id = users.id \
         WHERE m.tenant = $1 AND users.disabled = 0 ORDER BY users.id"
    ))
    .bind(tenant)
    .fetch_all(db.pool())
    .await?
    .into_iter()
    .map(UserRow::try_from)
    .collect()
}

/// Sets a new password hash, bumps the token generation (every earlier access and refresh
/// token stops working) and audits it as a policy version, in one transaction. Returns false for an unknown user.
pub async fn reset_password(
    db: &Db,
    username: &str,
    password_hash: &str,
    meta: &super::policy::ChangeMeta<'_>,
    now: i64,
) -> StoreResult<bool> {
    let _written = db.accounts().write();
    let mut tx = db.pool().begin().await?;
    let generation: Option<i64> = sqlx::query(
        "UPDATE users SET password_hash = $2, token_generation = token_generation + 1, \
         updated_at = $3 WHERE username_key = $1 RETURNING token_generation",
    )
    .bind(username_key(username))
    .bind(password_hash)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?
    .map(|r| r.try_get("token_generation"))
    .transpose()?;
    let Some(generation) = generation else {
        return Ok(false);
    };
    let after =
        serde_json::json!({ "user": username_key(username), "token_generation": generation });
    // A policy version like every account edit: an instance that did not make it (another
    // process, such as `warden admin reset-password`, on SQLite) sees the version move at
    // its next heartbeat and reads its accounts again, so earlier tokens end there too.
    super::policy::record_account_event(db, &mut tx, meta, (&serde_json::json!({}), &after), now)
        .await?;
    tx.commit().await?;
    Ok(true)
}
