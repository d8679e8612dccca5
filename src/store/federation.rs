//! Links between a trusted issuer's subjects and local accounts (`provision: link`).

use super::{Db, StoreResult};

/// The local account linked to `subject` of `issuer` (the issuer's URL), if any.
pub async fn linked_user(db: &Db, issuer: &str, subject: &str) -> StoreResult<Option<i64>> {
    let id: Option<i64> = sqlx::query_scalar(
        "SELECT user_id FROM federated_identities WHERE issuer = $1 AND subject = $2",
    )
    .bind(issuer)
    .bind(subject)
    .fetch_optional(db.pool())
    .await?;
    Ok(id)
}

/// Links `subject` of `issuer` to the account `user_id`. A pair already linked is a
/// `Conflict` (another request linked it first).
pub async fn link(db: &Db, issuer: &str, subject: &str, user_id: i64, now: i64) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO federated_identities (issuer, subject, user_id, created_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(issuer)
    .bind(subject)
    .bind(user_id)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}
