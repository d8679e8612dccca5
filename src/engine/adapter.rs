//! Warden's own `casbin::Adapter` over the store's schema.
//!
//! Loading validates every row ([`Rule::from_text`], [`Assignment::parse`]); one row that
//! cannot be evaluated fails the whole load, so the engine keeps its previous snapshot (or,
//! at start, serves nothing but 503) instead of silently dropping a rule — a dropped deny
//! rule would fail open. Writes go through the engine's versioned store transactions, not
//! through casbin's management API, so the write methods here refuse.

use std::sync::{Arc, Mutex};

use casbin::{Adapter, Filter, Model};

use super::LoadError;
use crate::policy::rule::{Assignment, Rule, RuleSet};
use crate::store::{self, Db};

/// Reads `policy_rules` and `role_assignments` through the store.
pub struct SqlAdapter {
    db: Db,
    loaded: Arc<Mutex<Option<Result<RuleSet, LoadError>>>>,
}

fn adapter_err(e: impl std::error::Error + Send + Sync + 'static) -> casbin::Error {
    casbin::Error::AdapterError(casbin::error::AdapterError(Box::new(e)))
}

#[derive(Debug, thiserror::Error)]
#[error("policy writes go through Warden's versioned store, not the casbin adapter")]
struct ReadOnly;

impl SqlAdapter {
    /// An adapter over `db`; after a load, `loaded` holds what was read, or why it was refused.
    pub fn new(db: Db, loaded: Arc<Mutex<Option<Result<RuleSet, LoadError>>>>) -> Self {
        Self { db, loaded }
    }

    /// Reads and validates the whole policy.
    pub async fn read(db: &Db) -> Result<RuleSet, LoadError> {
        let rows = store::policy::load_all(db).await?;
        let rules = rows
            .rules
            .iter()
            .map(|r| Rule::from_text(r).map_err(|err| LoadError::Rule { id: r.id, err }))
            .collect::<Result<Vec<_>, _>>()?;
        let assignments = rows
            .assignments
            .iter()
            .map(|a| {
                Assignment::parse(a.id, &a.member, &a.role)
                    .and_then(|x| x.in_domain(&a.domain))
                    .map_err(|err| LoadError::Assignment { id: a.id, err })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RuleSet {
            version: rows.version,
            rules,
            assignments,
            matrices: rows.matrices,
        })
    }
}

/// Adds validated rows to a casbin model: `p` rules, then `g` rows. A global (`*`) `g` row is
/// added in `*` and, again, in every tenant some assignment names: casbin's role graph is one
/// per domain, and Warden's roles in a tenant follow that tenant's links and the global ones
/// (so `alice -> editor` in acme and `editor -> viewer` globally make alice a viewer in
/// acme). The matcher's `g(.., r.sub.tenant) || g(.., "*")` covers tenants no row names.
fn add_to_model(loaded: &RuleSet, m: &mut dyn Model) {
    for rule in &loaded.rules {
        m.add_policy("p", "p", rule.casbin_row());
    }
    let tenants: std::collections::BTreeSet<&str> = loaded
        .assignments
        .iter()
        .map(|a| a.domain.as_str())
        .filter(|d| *d != crate::policy::rule::GLOBAL)
        .collect();
    for a in &loaded.assignments {
        m.add_policy("g", "g", a.casbin_row());
        if a.domain == crate::policy::rule::GLOBAL {
            for t in &tenants {
                m.add_policy(
                    "g",
                    "g",
                    vec![a.member.clone(), a.role.clone(), (*t).to_owned()],
                );
            }
        }
    }
}

/// Implements `casbin::Adapter` for a type given its load: filtered loads load everything
/// (a filter could hide deny rules), and writes are refused (they go through the versioned
/// store). One macro so both adapters share these methods.
macro_rules! read_only_adapter {
    ($ty:ty, |$this:ident, $m:ident| $load:block) => {
        #[async_trait::async_trait]
        impl Adapter for $ty {
            async fn load_policy(&mut self, $m: &mut dyn Model) -> casbin::Result<()> {
                let $this = self;
                $load
            }

            async fn load_filtered_policy<'a>(
                &mut self,
                m: &mut dyn Model,
                _f: Filter<'a>,
            ) -> casbin::Result<()> {
                self.load_policy(m).await
            }

            async fn save_policy(&mut self, _m: &mut dyn Model) -> casbin::Result<()> {
                Err(adapter_err(ReadOnly))
            }

            async fn clear_policy(&mut self) -> casbin::Result<()> {
                Err(adapter_err(ReadOnly))
            }

            fn is_filtered(&self) -> bool {
                false
            }

            async fn add_policy(
                &mut self,
                _sec: &str,
                _ptype: &str,
                _rule: Vec<String>,
            ) -> casbin::Result<bool> {
                Err(adapter_err(ReadOnly))
            }

            async fn add_policies(
                &mut self,
                _sec: &str,
                _ptype: &str,
                _rules: Vec<Vec<String>>,
            ) -> casbin::Result<bool> {
                Err(adapter_err(ReadOnly))
            }

            async fn remove_policy(
                &mut self,
                _sec: &str,
                _ptype: &str,
                _rule: Vec<String>,
            ) -> casbin::Result<bool> {
                Err(adapter_err(ReadOnly))
            }

            async fn remove_policies(
                &mut self,
                _sec: &str,
                _ptype: &str,
                _rules: Vec<Vec<String>>,
            ) -> casbin::Result<bool> {
                Err(adapter_err(ReadOnly))
            }

            async fn remove_filtered_policy(
                &mut self,
                _sec: &str,
                _ptype: &str,
                _field_index: usize,
                _field_values: Vec<String>,
            ) -> casbin::Result<bool> {
                Err(adapter_err(ReadOnly))
            }
        }
    };
}

read_only_adapter!(SqlAdapter, |this, m| {
    let loaded = match SqlAdapter::read(&this.db).await {
        Ok(l) => l,
        Err(e) => {
            *this.loaded.lock().unwrap_or_else(|p| p.into_inner()) = Some(Err(e.clone()));
            return Err(adapter_err(e));
        }
    };
    add_to_model(&loaded, m);
    *this.loaded.lock().unwrap_or_else(|p| p.into_inner()) = Some(Ok(loaded));
    Ok(())
});

/// An adapter over rows already in memory (a policy file, a matrix's policy under test).
/// Same validation guarantees as [`SqlAdapter`]: it only accepts parsed [`Rule`]s.
pub struct RowsAdapter(pub RuleSet);

read_only_adapter!(RowsAdapter, |this, m| {
    add_to_model(&this.0, m);
    Ok(())
});
