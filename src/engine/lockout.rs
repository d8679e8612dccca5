//! No lock-out: after any policy or account change, every route an admin needs to repair the
//! policy must still be allowed for at least one real, enabled account.
//!
//! The invariant matrices state this for made-up subjects; they cannot see that a change
//! removes the role from the last real admin, disables them, or denies them by name. This
//! check asks the proposed policy about the accounts that exist.

use std::collections::HashSet;

use super::{Engine, Object, Snapshot};
use crate::policy::ChangeError;
use crate::store::{self, users::UserRow};

/// The administration surface that must stay reachable: enough to read and edit rules, fix
/// role assignments and accounts, and roll back. Concrete paths, as the route guard asks.
pub const ADMIN_SURFACE: [(&str, &str); 8] = [
    ("GET", "/v1/admin/rules"),
    ("POST", "/v1/admin/rules"),
    ("PUT", "/v1/admin/rules/1"),
    ("DELETE", "/v1/admin/rules/1"),
    ("POST", "/v1/admin/roles/assignments"),
    ("DELETE", "/v1/admin/roles/assignments"),
    ("PATCH", "/v1/admin/users/admin"),
    ("POST", "/v1/admin/policy/rollback"),
];

/// Users scanned per query when the likely admins do not cover the surface.
const PAGE: i64 = 500;

impl Engine {
    /// Refuses (409 `lockout`) a proposed state in which some route of [`ADMIN_SURFACE`] is
    /// allowed for no enabled account. `policy` is the proposed policy and `changed` the
    /// proposed version of one account (for account edits). A state that was already locked
    /// out before the change (repairs through import or rollback) is refused only for routes
    /// the change itself makes unreachable.
    pub async fn ensure_administrable(
        &self,
        policy: &Snapshot,
        changed: Option<&UserRow>,
    ) -> Result<(), ChangeError> {
        let lost = self.unreachable(policy, changed).await?;
        if lost.is_empty() {
            return Ok(());
        }
        let before = self.unreachable(&*self.snapshot()?, None).await?;
        let lost: Vec<_> = lost.into_iter().filter(|r| !before.contains(r)).collect();
        if lost.is_empty() {
            return Ok(());
        }
        let routes: Vec<String> = lost.iter().map(|(m, p)| format!("{m} {p}")).collect();
        Err(ChangeError::Lockout { routes })
    }

    /// Routes of [`ADMIN_SURFACE`] no enabled account may reach under `policy`. Likely
    /// admins (accounts with a role other than the default or named by a rule) are asked
    /// first; the rest are scanned only if they do not cover every route.
    async fn unreachable(
        &self,
        policy: &Snapshot,
        changed: Option<&UserRow>,
    ) -> Result<Vec<(&'static str, &'static str)>, ChangeError> {
        let mut open: Vec<(&str, &str)> = ADMIN_SURFACE.to_vec();
        let mut seen = HashSet::new();
        let mut covers = |user: UserRow, open: &mut Vec<(&str, &str)>| {
            let user = match changed {
                Some(c) if c.id == user.id => c.clone(),
                _ => user,
            };
            if user.disabled || !seen.insert(user.id) {
                return;
            }
            let subject = user.subject(user.scopes.clone());
            open.retain(|(method, path)| {
                !policy
                    .decide(&subject, &Object::route(path), method)
                    .allowed
            });
        };
        let mut likely: Vec<&str> = policy
            .assignments()
            .iter()
            .filter(|a| a.role != "role:user")
            .map(|a| a.member.as_str())
            .chain(policy.rules().iter().map(|r| r.subject.as_str()))
            .filter_map(|s| s.strip_prefix("user:"))
            .collect();
        likely.sort_unstable();
        likely.dedup();
        for name in likely {
            if open.is_empty() {
                return Ok(open);
            }
            if let Some(user) = store::users::find_by_username(self.db(), name).await? {
                covers(user, &mut open);
            }
        }
        let mut offset = 0;
        while !open.is_empty() {
            let (page, _) = store::users::list(self.db(), PAGE, offset).await?;
            if page.is_empty() {
                break;
            }
            offset += PAGE;
            for user in page {
                covers(user, &mut open);
            }
        }
        Ok(open)
    }
}
