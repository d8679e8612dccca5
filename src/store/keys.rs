//! Token signing keys.

use super::{Db, StoreError, StoreResult};

/// A stored signing key (base64 key material).
#[derive(Clone, sqlx::FromRow)]
pub struct KeyRow {
    /// Key id, published in JWKS and in the JWT header.
    pub kid: String,
    /// JWS algorithm name (`EdDSA`).
    pub algorithm: String,
    /// base64 private seed; empty for a retired key or one supplied from outside.
    pub private_key: String,
    /// base64url public key.
    pub public_key: String,
    /// Creation time.
    pub created_at: i64,
    /// When it stopped signing, if it did.
    pub retired_at: Option<i64>,
}

impl std::fmt::Debug for KeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRow")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// All keys, newest first.
pub async fn list(db: &Db) -> StoreResult<Vec<KeyRow>> {
    sqlx::query_as::<_, KeyRow>(
        "SELECT kid, algorithm, private_key, public_key, created_at, retired_at FROM signing_keys \
         ORDER BY created_at DESC, kid",
    )
    .fetch_all(db.pool())
    .await
    .map_err(StoreError::from)
}

/// Stores a new key (a kid already stored is left as it is).
pub async fn insert(db: &Db, key: &KeyRow) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, algorithm, private_key, public_key, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (kid) DO NOTHING",
    )
    .bind(&key.kid)
    .bind(&key.algorithm)
    .bind(&key.private_key)
    .bind(&key.public_key)
    .bind(key.created_at)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Retires every signing key but `keep`: it stops signing and its private material is
/// erased — from the row, from the file's pages (`secure_delete`) and from SQLite's
/// write-ahead log; its public key stays until [`delete_retired_before`] drops it.
pub async fn retire_all_but(db: &Db, keep: &str, now: i64) -> StoreResult<()> {
    let retired = sqlx::query(
        "UPDATE signing_keys SET retired_at = $2, private_key = '' \
         WHERE kid <> $1 AND retired_at IS NULL",
    )
    .bind(keep)
    .bind(now)
    .execute(db.pool())
    .await?;
    if retired.rows_affected() > 0 {
        db.truncate_wal().await?;
    }
    Ok(())
}

/// Drops keys retired before `cutoff` (every token they signed has expired).
pub async fn delete_retired_before(db: &Db, cutoff: i64) -> StoreResult<()> {
    sqlx::query("DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at < $1")
        .bind(cutoff)
        .execute(db.pool())
        .await?;
    Ok(())
}
