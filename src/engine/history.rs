//! Earlier policy versions as policies to analyse (access-review diffs): a version's rules and
//! role inheritance, with today's user -> role assignments (account data, which versions do
//! not record; a rollback keeps them too).

use std::sync::Arc;

use super::{LoadError, Snapshot};
use crate::policy::decide::Policy;
use crate::policy::model::MODEL;
use crate::policy::rule::{Assignment, Rule};
use crate::store::{self, Db};

/// The policy of `version` (the current snapshot's own when it is that version); None for a
/// version that does not exist.
///
/// # Errors
/// The store's failure, or a stored row this version cannot compile.
pub async fn policy_at(
    db: &Db,
    current: &Snapshot,
    version: i64,
) -> Result<Option<Policy>, LoadError> {
    if version == current.version() {
        return Ok(Some(current.policy().clone()));
    }
    let Some(then) = store::policy::snapshot_at(db, version)
        .await
        .map_err(|e| LoadError::Store(Arc::new(e)))?
    else {
        return Ok(None);
    };
    let rules = then
        .rules
        .iter()
        .map(|t| Rule::from_text(t).map_err(|err| LoadError::Rule { id: t.id, err }))
        .collect::<Result<Vec<_>, _>>()?;
    let mut assignments: Vec<Assignment> = current
        .policy()
        .assignments()
        .iter()
        .filter(|a| !a.member.starts_with("role:"))
        .cloned()
        .collect();
    for (member, role) in &then.inheritance {
        assignments.push(
            Assignment::parse(0, member, role)
                .map_err(|err| LoadError::Assignment { id: 0, err })?,
        );
    }
    Ok(Some(Policy::from_rows(MODEL, rules, &assignments)?))
}
