//! Matrices as stored (`policy_matrices`): one row per matrix, its name and its text. Written
//! only inside a policy version's transaction ([`super::Pending`], the seed), so a matrix
//! edit is a version like a rule edit, and read with the rules in one consistent read.

use sqlx::Row;

use super::Tx;
use crate::policy::stored_matrix::MatrixText;
use crate::store::StoreResult;

/// Every matrix, by name, inside a transaction (the version's snapshot, the whole policy).
pub(super) async fn all_tx(tx: &mut Tx<'_>) -> StoreResult<Vec<MatrixText>> {
    sqlx::query("SELECT name, body FROM policy_matrices ORDER BY name")
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| {
            Ok(MatrixText {
                name: r.try_get("name")?,
                text: r.try_get("body")?,
            })
        })
        .collect()
}

/// Deletes a matrix and returns what it was (None if there was none).
pub(super) async fn take(tx: &mut Tx<'_>, name: &str) -> StoreResult<Option<MatrixText>> {
    let old = sqlx::query("SELECT body FROM policy_matrices WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| r.try_get::<String, _>("body"))
        .transpose()?;
    if old.is_some() {
        sqlx::query("DELETE FROM policy_matrices WHERE name = $1")
            .bind(name)
            .execute(&mut **tx)
            .await?;
    }
    Ok(old.map(|text| MatrixText {
        name: name.to_owned(),
        text,
    }))
}

/// Inserts a matrix (the caller removed any of the same name first).
pub(super) async fn insert(tx: &mut Tx<'_>, m: &MatrixText, now: i64) -> StoreResult<()> {
    sqlx::query("INSERT INTO policy_matrices (name, body, created_at) VALUES ($1, $2, $3)")
        .bind(&m.name)
        .bind(&m.text)
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(|e| crate::store::StoreError::classify(e, "a matrix of this name"))?;
    Ok(())
}

/// Replaces every matrix with `matrices`.
pub(super) async fn replace_all(
    tx: &mut Tx<'_>,
    matrices: &[MatrixText],
    now: i64,
) -> StoreResult<()> {
    sqlx::query("DELETE FROM policy_matrices")
        .execute(&mut **tx)
        .await?;
    for m in matrices {
        insert(tx, m, now).await?;
    }
    Ok(())
}

/// Makes the database look as one from before matrices lived in it (no matrix, never
/// seeded with them): tests of the upgrade path. Nothing in the service calls it.
#[cfg(any(test, feature = "test-util"))]
pub async fn forget_matrices_for_tests(db: &crate::store::Db) -> StoreResult<()> {
    let mut tx = db.pool().begin().await?;
    sqlx::query("DELETE FROM policy_matrices")
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE policy_state SET matrices_seeded = 0 WHERE id = 1")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
