//! Token signing keys.

use sqlx::Row;

use super::{Db, StoreResult, db_err};

/// A stored signing key (base64 key material).
#[derive(Clone)]
pub struct KeyRow {
    /// Key id, published in JWKS and in the JWT header.
    pub kid: String,
    /// JWS algorithm name (`EdDSA`).
    pub algorithm: String,
    /// base64 private seed.
    pub private_key: String,
    /// base64url public key.
    pub public_key: String,
    /// Creation time.
    pub created_at: i64,
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
    let rows = sqlx::query(
        "SELECT kid, algorithm, private_key, public_key, created_at FROM signing_keys \
         ORDER BY created_at DESC, kid",
    )
    .fetch_all(db.pool())
    .await
    .map_err(db_err)?;
    rows.iter()
        .map(|r| {
            Ok(KeyRow {
                kid: r.try_get("kid").map_err(db_err)?,
                algorithm: r.try_get("algorithm").map_err(db_err)?,
                private_key: r.try_get("private_key").map_err(db_err)?,
                public_key: r.try_get("public_key").map_err(db_err)?,
                created_at: r.try_get("created_at").map_err(db_err)?,
            })
        })
        .collect()
}

/// Stores a new key.
pub async fn insert(db: &Db, key: &KeyRow) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, algorithm, private_key, public_key, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&key.kid)
    .bind(&key.algorithm)
    .bind(&key.private_key)
    .bind(&key.public_key)
    .bind(key.created_at)
    .execute(db.pool())
    .await
    .map_err(db_err)?;
    Ok(())
}
