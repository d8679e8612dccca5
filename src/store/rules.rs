//! The policy: `p` rules, `g` role assignments and the policy version.

use sqlx::Row;

use super::{Db, StoreError, StoreResult, db_err};
use crate::policy::rule::RuleText;

/// A stored `g` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentRow {
    /// Stable id.
    pub id: i64,
    /// `user:<name>` or `role:<name>`.
    pub member: String,
    /// `role:<name>`.
    pub role: String,
}

/// The whole policy as one consistent read, as stored: not yet validated (the engine turns
/// it into a [`crate::policy::rule::RuleSet`], refusing the load if any row is invalid).
#[derive(Debug, Clone, Default)]
pub struct PolicyRows {
    /// Version the rows belong to.
    pub version: i64,
    /// `p` rules, by id.
    pub rules: Vec<RuleText>,
    /// `g` rules, by id.
    pub assignments: Vec<AssignmentRow>,
}

/// Reads the version and every rule and assignment in one transaction, so the three agree.
pub async fn load_all(db: &Db) -> StoreResult<PolicyRows> {
    let mut tx = db.pool().begin().await.map_err(db_err)?;
    let version: i64 = sqlx::query("SELECT version FROM policy_state WHERE id = 1")
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?
        .try_get("version")
        .map_err(db_err)?;
    let rules = sqlx::query(
        "SELECT id, subject, object, action, scope, condition, effect FROM policy_rules ORDER BY id",
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err)?
    .iter()
    .map(super::policy::rule_from_row)
    .collect::<StoreResult<Vec<_>>>()?;
    let assignments = sqlx::query("SELECT id, member, role FROM role_assignments ORDER BY id")
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| {
            Ok(AssignmentRow {
                id: r.try_get("id")?,
                member: r.try_get("member")?,
                role: r.try_get("role")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    Ok(PolicyRows {
        version,
        rules,
        assignments,
    })
}

/// The current policy version (cheap; used to detect that a reload is due).
pub async fn version(db: &Db) -> StoreResult<i64> {
    sqlx::query("SELECT version FROM policy_state WHERE id = 1")
        .fetch_one(db.pool())
        .await
        .map_err(db_err)?
        .try_get("version")
        .map_err(db_err)
}

/// Loads the seed into an empty, never-seeded policy, in one transaction. Returns false
/// (and changes nothing) if the policy was seeded before, even if it is empty now.
pub async fn seed_if_never_seeded(
    db: &Db,
    rules: &[RuleText],
    assignments: &[(&str, &str)],
    now: i64,
) -> StoreResult<bool> {
    let mut tx = db.pool().begin().await.map_err(db_err)?;
    let claimed = sqlx::query("UPDATE policy_state SET seeded = 1 WHERE id = 1 AND seeded = 0")
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected()
        == 1;
    if !claimed {
        return Ok(false);
    }
    for r in rules {
        super::policy::insert_rule(&mut tx, r, false, now).await?;
    }
    for (member, role) in assignments {
        insert_assignment_tx(&mut tx, member, role, now).await?;
    }
    let version = bump_version_tx(&mut tx).await?;
    let meta = super::policy::ChangeMeta {
        actor: "seed",
        action: "seed",
        summary: "seed policy loaded on first start",
    };
    let after = serde_json::json!({ "rules": rules.len(), "assignments": assignments.len() });
    super::policy::finish_version(
        &mut tx,
        version,
        &meta,
        true,
        &serde_json::json!([]),
        &after,
        now,
    )
    .await?;
    tx.commit().await.map_err(db_err)?;
    Ok(true)
}

/// Inserts a `g` rule inside a transaction.
pub(crate) async fn insert_assignment_tx(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    member: &str,
    role: &str,
    now: i64,
) -> StoreResult<i64> {
    sqlx::query(
        "INSERT INTO role_assignments (member, role, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(member)
    .bind(role)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| StoreError::classify(e, "role assignment"))?
    .try_get("id")
    .map_err(db_err)
}

/// Increments the policy version inside a transaction; returns the new version.
pub(crate) async fn bump_version_tx(tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> StoreResult<i64> {
    sqlx::query("UPDATE policy_state SET version = version + 1 WHERE id = 1 RETURNING version")
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err)?
        .try_get("version")
        .map_err(db_err)
}

/// Overwrites the condition column of a rule without validation (tests simulate a corrupted
/// row with it; nothing in the service calls it).
#[cfg(any(test, feature = "test-util"))]
pub async fn corrupt_condition_for_tests(db: &Db, id: i64, text: &str) -> StoreResult<()> {
    let mut tx = db.pool().begin().await.map_err(db_err)?;
    sqlx::query("UPDATE policy_rules SET condition = $2 WHERE id = $1")
        .bind(id)
        .bind(text)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    bump_version_tx(&mut tx).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(())
}
