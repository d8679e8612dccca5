//! Refresh tokens (stored as SHA-256 hashes).

use sqlx::Row;

use super::{Db, StoreError, StoreResult};

/// A refresh token to store.
#[derive(Debug, Clone)]
pub struct NewRefresh<'a> {
    /// hex SHA-256 of the opaque token.
    pub token_hash: &'a str,
    /// Owner.
    pub user_id: i64,
    /// Family shared by all rotations of one login.
    pub family_id: &'a str,
    /// The user's token generation at issue time.
    pub generation: i64,
    /// Granted scopes, space-separated.
    pub scope: &'a str,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
}

/// A refresh token joined with its owner's scopes (space-separated) and its family's start.
#[derive(sqlx::FromRow)]
struct RefreshRecord {
    id: i64,
    user_id: i64,
    family_id: String,
    generation: i64,
    scope: String,
    expires_at: i64,
    used_at: Option<i64>,
    revoked_at: Option<i64>,
    owner_scopes: String,
    family_created_at: i64,
}

impl From<RefreshRecord> for RefreshRow {
    fn from(r: RefreshRecord) -> Self {
        RefreshRow {
            id: r.id,
            user_id: r.user_id,
            family_id: r.family_id,
            generation: r.generation,
            scope: r.scope,
            expires_at: r.expires_at,
            used_at: r.used_at,
            revoked_at: r.revoked_at,
            owner_scopes: r
                .owner_scopes
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            family_created_at: r.family_created_at,
        }
    }
}

/// A stored refresh token.
#[derive(Debug, Clone)]
pub struct RefreshRow {
    /// Primary key.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// Family id.
    pub family_id: String,
    /// Generation at issue time.
    pub generation: i64,
    /// Granted scopes.
    pub scope: String,
    /// Expiry.
    pub expires_at: i64,
    /// When it was exchanged, if it was.
    pub used_at: Option<i64>,
    /// When its family was revoked, if it was.
    pub revoked_at: Option<i64>,
    /// The scopes the owner may request now (read with the token, in the same transaction).
    pub owner_scopes: Vec<String>,
    /// When the family's first token was issued (the login).
    pub family_created_at: i64,
}

/// What happened when a refresh token was presented for rotation.
#[derive(Debug)]
pub enum Rotation {
    /// Unknown token.
    Unknown,
    /// Known but revoked or expired.
    Dead,
    /// Already used: the family is now revoked (reuse detection).
    Reused {
        /// The family's owner.
        user_id: i64,
        /// The revoked family (the session id, `sid`).
        family_id: String,
    },
    /// Valid and now marked used; its successor is stored.
    Rotated(RefreshRow),
    /// Valid, but the caller refused it (e.g. a wider scope was asked); nothing changed.
    Refused,
}

async fn insert_with<'e, E>(exec: E, t: &NewRefresh<'_>, now: i64) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, user_id, family_id, generation, scope, \
         created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(t.token_hash)
    .bind(t.user_id)
    .bind(t.family_id)
    .bind(t.generation)
    .bind(t.scope)
    .bind(now)
    .bind(t.expires_at)
    .execute(exec)
    .await
    .map_err(|e| super::StoreError::classify(e, "refresh token"))?;
    Ok(())
}

/// Stores a fresh refresh token (a new login).
pub async fn insert(db: &Db, t: &NewRefresh<'_>, now: i64) -> StoreResult<()> {
    insert_with(db.pool(), t, now).await
}

/// Presents a refresh token: marks it used and stores its successor in one transaction, or
/// revokes its whole family if it was already used. `successor` sees the row first and
/// returns the successor's hash and expiry, or None to refuse without changing anything.
///
/// The transaction writes before it reads: the conditional `UPDATE` both claims the token
/// and takes the database's write lock, so concurrent presentations of one token queue
/// behind each other (on SQLite a read-then-write transaction would instead fail with
/// `SQLITE_BUSY` when another writer got in between). Exactly one presentation wins; every
/// other one finds the token used and is treated as a replay.
/// The account a refresh token (by its hash) belongs to, whatever its state (None: unknown).
pub async fn owner_of(db: &Db, token_hash: &str) -> StoreResult<Option<i64>> {
    Ok(
        sqlx::query("SELECT user_id FROM refresh_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(db.pool())
            .await?
            .map(|r| r.try_get("user_id"))
            .transpose()?,
    )
}

pub async fn rotate(
    db: &Db,
    token_hash: &str,
    now: i64,
    successor: impl FnOnce(&RefreshRow) -> Option<(String, i64)>,
) -> StoreResult<Rotation> {
    let mut tx = db.pool().begin().await?;
    let won = sqlx::query(
        "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 \
         AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1",
    )
    .bind(now)
    .bind(token_hash)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    let row = sqlx::query_as::<_, RefreshRecord>(
        "SELECT t.id, t.user_id, t.family_id, t.generation, t.scope, t.expires_at, \
         t.used_at, t.revoked_at, u.scopes AS owner_scopes, \
         (SELECT MIN(f.created_at) FROM refresh_tokens f WHERE f.family_id = t.family_id) \
         AS family_created_at \
         FROM refresh_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(Rotation::Unknown);
    };
    let row = RefreshRow::from(row);
    if !won {
        if row.revoked_at.is_some() || row.expires_at <= now {
            return Ok(Rotation::Dead);
        }
        // Used before, or by a concurrent presentation that won the race just now: either
        // way two parties hold this token, so the family dies.
        let _written = db.accounts().write();
        revoke_family_with(&mut *tx, &row.family_id, now).await?;
        tx.commit().await?;
        return Ok(Rotation::Reused {
            user_id: row.user_id,
            family_id: row.family_id,
        });
    }
    // Dropping the transaction without commit rolls the claim back: nothing is consumed.
    let Some((hash, expires_at)) = successor(&row) else {
        return Ok(Rotation::Refused);
    };
    let next = NewRefresh {
        token_hash: &hash,
        user_id: row.user_id,
        family_id: &row.family_id,
        generation: row.generation,
        scope: &row.scope,
        expires_at,
    };
    insert_with(&mut *tx, &next, now).await?;
    tx.commit().await?;
    Ok(Rotation::Rotated(row))
}

async fn revoke_family_with<'e, E>(exec: E, family_id: &str, now: i64) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(family_id)
    .bind(now)
    .execute(exec)
    .await?;
    Ok(())
}

/// Revokes one family (a session) by id; unknown ids change nothing.
pub async fn revoke_family(db: &Db, family_id: &str, now: i64) -> StoreResult<()> {
    let _written = db.accounts().write();
    revoke_family_with(db.pool(), family_id, now).await
}

/// Revokes every family of a user (logout-all).
pub async fn revoke_all_of_user(db: &Db, user_id: i64, now: i64) -> StoreResult<()> {
    let _written = db.accounts().write();
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user_id)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Whether `family_id` is a session of `user_id` that was never revoked: one lookup on the
/// family index. A family is revoked as a whole, so any one unrevoked row says it is live.
pub async fn session_is_live(db: &Db, user_id: i64, family_id: &str) -> StoreResult<bool> {
    // Served from the account cache while no session or account was written since it was
    // found live (store/accounts.rs); a dead session is read every time.
    if db.accounts().session_live(user_id, family_id) {
        return Ok(true);
    }
    let epoch = db.accounts().epoch();
    let live = match sqlx::query(
        "SELECT 1 AS live FROM refresh_tokens WHERE family_id = $1 AND user_id = $2 \
         AND revoked_at IS NULL LIMIT 1",
    )
    .bind(family_id)
    .bind(user_id)
    .fetch_optional(db.pool())
    .await
    .map_err(StoreError::from)
    {
        Ok(row) => row.is_some(),
        // --on-store-loss serve: a session found live before the loss stays live
        Err(e @ super::StoreError::Unavailable(_)) => {
            return db
                .accounts()
                .stale_on_error(|a| a.session_live(user_id, family_id).then_some(true))
                .ok_or(e);
        }
        Err(e) => return Err(e),
    };
    if live {
        db.accounts().put_live_session(user_id, family_id, epoch);
    }
    Ok(live)
}

/// Revokes the family of the token with this hash. Returns false for an unknown token.
pub async fn revoke_family_of(db: &Db, token_hash: &str, now: i64) -> StoreResult<bool> {
    let _written = db.accounts().write();
    let family: Option<String> =
        sqlx::query("SELECT family_id FROM refresh_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(db.pool())
            .await?
            .map(|r| r.try_get("family_id"))
            .transpose()?;
    match family {
        Some(f) => {
            revoke_family_with(db.pool(), &f, now).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}
