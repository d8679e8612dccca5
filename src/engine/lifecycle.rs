//! Deleting an account through the change protocol: the live invariants and the lock-out
//! check decide, then one transaction and policy version takes the account's assignments,
//! sessions, tokens and row, and retires its name.

use super::Engine;
use super::change::broken_invariants;
use crate::matrix::Matrix;
use crate::policy::ChangeError;
use crate::policy::change::{Op, apply};
use crate::store::{self, policy::ChangeMeta};

impl Engine {
    /// Deletes an account through the change protocol: refused (409 `lockout`) when no
    /// remaining account could administer the policy, and (409 `invariant_violation`) when
    /// taking away its role assignments breaks an invariant cell; otherwise its assignments,
    /// sessions and row go and its name is retired, in one policy version. Returns it.
    pub async fn delete_account(
        &self,
        user: &store::users::UserRow,
        meta: &ChangeMeta<'_>,
        now: i64,
    ) -> Result<i64, ChangeError> {
        let _one_at_a_time = self.change.lock().await;
        let member = format!("user:{}", user.username_key);
        let before = serde_json::json!({ "user": user.username_key, "attributes": user.attributes, "scopes": user.scopes, "disabled": user.disabled });
        // A retry when another instance moved the policy between our checks and our write.
        for _ in 0..5 {
            self.reload()
                .await
                .map_err(|_| ChangeError::Unavailable("the policy could not be loaded"))?;
            let base = self.snapshot()?;
            // the live set's invariants guard a deletion like any change
            let invariants: Vec<Matrix> = base
                .parsed_matrices()
                .iter()
                .filter(|(_, m)| m.invariant)
                .map(|(_, m)| m.clone())
                .collect();
            let ops = base
                .assignments()
                .iter()
                .filter(|a| a.member == member)
                .map(|a| Op::unassign(&a.member, &a.role))
                .collect::<Result<Vec<_>, _>>()?;
            let next = apply(&base.loaded(), &ops)?;
            let broken = broken_invariants(&invariants, &base.loaded(), &next).await?;
            if !broken.is_empty() {
                return Err(ChangeError::InvariantViolation { cells: broken });
            }
            // Gone is, for what the account can reach, disabled: only its own rows go.
            let gone = store::users::UserRow {
                disabled: true,
                ..user.clone()
            };
            self.ensure_administrable(&base, Some(&gone)).await?;
            let roles: Vec<&str> = ops
                .iter()
                .filter_map(|op| match op {
                    Op::RemoveAssignment(a) => Some(a.role.as_str()),
                    _ => None,
                })
                .collect();
            let after = serde_json::json!({ "deleted": user.username_key, "roles_removed": roles });
            match store::lifecycle::delete(
                self.db(),
                user,
                base.version(),
                meta,
                (&before, &after),
                now,
            )
            .await?
            {
                store::lifecycle::Deleted::Stored(version) => {
                    if let Err(e) = self.reload().await {
                        tracing::error!(error = %e, "committed policy could not be loaded; denying all");
                        self.current.store(None);
                    }
                    return Ok(version);
                }
                store::lifecycle::Deleted::Gone => {
                    return Err(ChangeError::NotFound(format!("user {}", user.username_key)));
                }
                store::lifecycle::Deleted::PolicyMoved => {}
            }
        }
        Err(ChangeError::Unavailable(
            "the policy kept changing meanwhile; retry",
        ))
    }
}
