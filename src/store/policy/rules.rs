//! Rules and role assignments as stored: reading, inserting, deleting, the whole policy in
//! one read, and the seed.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::ChangeMeta;
use super::Tx;
use super::matrices;
use super::versions::{begin_version, finish_version};
use crate::policy::rule::RuleText;
use crate::policy::stored_matrix::MatrixText;
use crate::store::{Db, StoreError, StoreResult};

/// A `policy_rules` row (the pure policy core knows no sqlx, so its [`RuleText`] cannot
/// derive the mapping itself).
#[derive(sqlx::FromRow)]
pub(super) struct RuleRecord {
    id: i64,
    subject: String,
    object: String,
    action: String,
    scope: String,
    condition: String,
    effect: String,
    tenant: String,
}

impl From<RuleRecord> for RuleText {
    fn from(r: RuleRecord) -> Self {
        RuleText {
            id: r.id,
            subject: r.subject,
            object: r.object,
            action: r.action,
            scope: r.scope,
            condition: r.condition,
            effect: r.effect,
            tenant: r.tenant,
        }
    }
}

/// The part of the policy a rollback restores: rules, role -> role inheritance and matrices.
/// Stored as JSON per version (`policy_snapshots`) and in audit rows, so its shape is a stored
/// format; it holds text, not validated rules, because a restore validates it like any other
/// edit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesSnapshot {
    /// Rules with their ids.
    pub rules: Vec<RuleText>,
    /// `(role:a, role:b)` pairs: a inherits b.
    pub inheritance: Vec<(String, String)>,
    /// The matrices, by name. None in a snapshot stored before matrices lived in the
    /// database: a rollback to such a version leaves the matrices as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrices: Option<Vec<MatrixText>>,
}

/// Deletes a rule and returns what it was (None if there was no such rule).
pub(super) async fn take_rule(tx: &mut Tx<'_>, id: i64) -> StoreResult<Option<RuleText>> {
    let old = rule_by_id(tx, id).await?;
    if old.is_some() {
        sqlx::query("DELETE FROM policy_rules WHERE id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(old)
}

pub(super) async fn rule_by_id(tx: &mut Tx<'_>, id: i64) -> StoreResult<Option<RuleText>> {
    Ok(
        sqlx::query_as::<_, RuleRecord>(select_rules!("WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?
            .map(RuleText::from),
    )
}

pub(super) async fn insert_rule(
    tx: &mut Tx<'_>,
    r: &RuleText,
    keep_id: bool,
    now: i64,
) -> StoreResult<i64> {
    let q = if keep_id {
        sqlx::query(
            "INSERT INTO policy_rules (id, subject, object, action, scope, condition, effect, created_at, tenant) \
             VALUES ($9, $1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
    } else {
        sqlx::query(
            "INSERT INTO policy_rules (subject, object, action, scope, condition, effect, created_at, tenant) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
    };
    let q = q
        .bind(&r.subject)
        .bind(&r.object)
        .bind(&r.action)
        .bind(&r.scope)
        .bind(&r.condition)
        .bind(&r.effect)
        .bind(now)
        .bind(&r.tenant);
    let q = if keep_id { q.bind(r.id) } else { q };
    q.fetch_one(&mut **tx)
        .await
        .map_err(|e| StoreError::classify(e, "an identical rule"))?
        .try_get("id")
        .map_err(StoreError::from)
}

/// Reads the rules and role inheritance inside a transaction.
pub(super) async fn snapshot_tx(tx: &mut Tx<'_>) -> StoreResult<RulesSnapshot> {
    let rules = sqlx::query_as::<_, RuleRecord>(select_rules!("ORDER BY id"))
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .map(RuleText::from)
        .collect();
    let inheritance = sqlx::query(
        "SELECT member, role FROM role_assignments WHERE member LIKE 'role:%' AND domain = '*' \
         ORDER BY id",
    )
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|r| Ok((r.try_get("member")?, r.try_get("role")?)))
    .collect::<StoreResult<Vec<_>>>()?;
    let matrices = Some(matrices::all_tx(tx).await?);
    Ok(RulesSnapshot {
        rules,
        inheritance,
        matrices,
    })
}

/// A stored `g` rule.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AssignmentRow {
    /// Stable id.
    pub id: i64,
    /// `user:<name>` or `role:<name>`.
    pub member: String,
    /// `role:<name>`.
    pub role: String,
    /// The tenant the assignment holds in, or `*` (every tenant).
    pub domain: String,
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
    /// Matrices, by name.
    pub matrices: Vec<MatrixText>,
}

/// Reads the version and every rule and assignment in one transaction, so the three agree.
pub async fn load_all(db: &Db) -> StoreResult<PolicyRows> {
    db.policy_read().await;
    let mut tx = db.pool().begin().await?;
    let version: i64 = sqlx::query("SELECT version FROM policy_state WHERE id = 1")
        .fetch_one(&mut *tx)
        .await?
        .try_get("version")?;
    let rules = sqlx::query_as::<_, RuleRecord>(select_rules!("ORDER BY id"))
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(RuleText::from)
        .collect();
    let assignments = sqlx::query_as::<_, AssignmentRow>(
        "SELECT id, member, role, domain FROM role_assignments ORDER BY id",
    )
    .fetch_all(&mut *tx)
    .await?;
    let matrices = matrices::all_tx(&mut tx).await?;
    tx.commit().await?;
    Ok(PolicyRows {
        version,
        rules,
        assignments,
        matrices,
    })
}

/// Loads the seed into an empty, never-seeded policy, in one transaction: the rules and
/// assignments once per database, and the matrices once per database too (on a database
/// that was seeded before matrices lived in it, at its first start with them; they guarded
/// its edits from the binary until then). Returns false (and changes nothing) if the policy
/// was seeded before, even if it is empty now; matrices an admin deleted are never loaded
/// again either.
pub async fn seed_if_never_seeded(
    db: &Db,
    rules: &[RuleText],
    assignments: &[(&str, &str, &str)],
    seed_matrices: &[MatrixText],
    now: i64,
) -> StoreResult<bool> {
    let mut tx = db.pool().begin().await?;
    let claimed = sqlx::query("UPDATE policy_state SET seeded = 1 WHERE id = 1 AND seeded = 0")
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    let claimed_matrices = sqlx::query(
        "UPDATE policy_state SET matrices_seeded = 1 WHERE id = 1 AND matrices_seeded = 0",
    )
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !claimed && !claimed_matrices {
        return Ok(false);
    }
    let (rules, assignments) = if claimed {
        (rules, assignments)
    } else {
        (&[][..], &[][..])
    };
    for r in rules {
        insert_rule(&mut tx, r, false, now).await?;
    }
    for (member, role, domain) in assignments {
        insert_assignment_tx(&mut tx, member, role, domain, now).await?;
    }
    for m in seed_matrices {
        matrices::insert(&mut tx, m, now).await?;
    }
    let version = begin_version(db, &mut tx).await?;
    let meta = ChangeMeta {
        actor: "seed",
        action: "seed",
        summary: if claimed {
            "seed policy loaded on first start"
        } else {
            "seed matrices loaded into a policy seeded before matrices lived in it"
        },
    };
    let after = serde_json::json!({
        "rules": rules.len(),
        "assignments": assignments.len(),
        "matrices": seed_matrices.len(),
    });
    finish_version(
        &mut tx,
        version,
        &meta,
        true,
        &serde_json::json!([]),
        &after,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(claimed)
}

/// Inserts a `g` rule inside a transaction.
pub(super) async fn insert_assignment_tx(
    tx: &mut Tx<'_>,
    member: &str,
    role: &str,
    domain: &str,
    now: i64,
) -> StoreResult<i64> {
    sqlx::query(
        "INSERT INTO role_assignments (member, role, created_at, domain) VALUES ($1, $2, $3, $4) \
         RETURNING id",
    )
    .bind(member)
    .bind(role)
    .bind(now)
    .bind(domain)
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| StoreError::classify(e, "role assignment"))?
    .try_get("id")
    .map_err(StoreError::from)
}

/// Overwrites the condition column of a rule without validation (tests simulate a corrupted
/// row with it; nothing in the service calls it).
#[cfg(any(test, feature = "test-util"))]
pub async fn corrupt_condition_for_tests(db: &Db, id: i64, text: &str) -> StoreResult<()> {
    let mut tx = db.pool().begin().await?;
    sqlx::query("UPDATE policy_rules SET condition = $2 WHERE id = $1")
        .bind(id)
        .bind(text)
        .execute(&mut *tx)
        .await?;
    begin_version(db, &mut tx).await?;
    tx.commit().await?;
    Ok(())
}
