//! The decision engine: one Casbin model for roles, scopes and attributes.
//!
//! Every access question goes through [`Engine::decide`]. The casbin enforcer lives in an
//! immutable [`Snapshot`] behind an `ArcSwap`: readers `load()` it without a lock and never
//! wait on a writer; a reload builds the next snapshot off the hot path and swaps it in. If
//! no snapshot could ever be loaded, every decision is [`AuthzError::Unavailable`] (503).

pub mod adapter;
pub mod change;
pub mod condition;
pub mod guard;
pub mod lockout;
pub mod resource;
pub mod rule;
pub mod seed;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;
use casbin::{CoreApi, DefaultModel, Enforcer};
use serde::Serialize;

pub use condition::AttrValue;
use rule::{Assignment, Rule};

use crate::store::{self, Db};

/// The model every Warden policy is evaluated with (`policies/model.conf`).
pub const MODEL: &str = include_str!("../../policies/model.conf");

/// The only effect Warden accepts: deny overrides allow, no match is deny. casbin-rs panics
/// on unknown effects and `!some(where (p.eft == deny))` allows by default; both are refused.
const DENY_OVERRIDE: &str = "some(where (p_eft == allow)) && !some(where (p_eft == deny))";

/// Who is asking. Serialised into the casbin request as `r.sub`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Subject {
    /// `user:<name>`: what role assignments and user rules refer to.
    pub principal: String,
    /// The plain user name (compared with `r.obj.owner`).
    pub name: String,
    /// Scopes of the presented token.
    pub scopes: Vec<String>,
    /// Attributes (department, clearance, ...), flattened into `r.sub.*`.
    #[serde(flatten)]
    pub attributes: BTreeMap<String, AttrValue>,
}

/// What is being accessed. Serialised as `r.obj`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Object {
    /// Request path (`/api/documents/5`) or resource type (`document`).
    pub resource: String,
    /// Attributes (department, owner, classification, ...), flattened into `r.obj.*`.
    #[serde(flatten)]
    pub attributes: BTreeMap<String, AttrValue>,
}

impl Object {
    /// An object with no attributes (route-level checks).
    pub fn route(path: &str) -> Self {
        Self {
            resource: path.to_owned(),
            attributes: BTreeMap::new(),
        }
    }
}

/// Attribute names the request structs use themselves; user and object attributes may not
/// shadow them.
pub const RESERVED_ATTRIBUTES: [&str; 4] = ["principal", "name", "scopes", "resource"];

/// The answer to one access question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Allowed?
    pub allowed: bool,
    /// Ids of the rules that matched (allows, and the deny that overrode them).
    pub matched_rules: Vec<i64>,
    /// The policy version this was decided under.
    pub policy_version: i64,
    /// Set when evaluation failed (the decision is then a deny).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Decisions cannot be made.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthzError {
    /// No policy is loaded: fail closed.
    #[error("no policy is loaded")]
    Unavailable,
}

impl From<AuthzError> for crate::error::ApiError {
    fn from(_: AuthzError) -> Self {
        crate::error::ApiError::unavailable("the policy is not available; all access is denied")
    }
}

/// One loaded, immutable policy.
pub struct Snapshot {
    enforcer: Enforcer,
    version: i64,
    rules: Vec<Rule>,
    assignments: Vec<Assignment>,
    parents: HashMap<String, Vec<String>>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("version", &self.version)
            .field("rules", &self.rules.len())
            .finish_non_exhaustive()
    }
}

fn path_match(
    value: casbin::rhai::Dynamic,
    pattern: casbin::rhai::Dynamic,
) -> casbin::rhai::Dynamic {
    let ok = match (
        value.into_immutable_string(),
        pattern.into_immutable_string(),
    ) {
        (Ok(v), Ok(p)) => rule::object_matches(&v, &p),
        _ => false,
    };
    ok.into()
}

/// Builds an enforcer for Warden's model from already validated rows, refusing fail-open
/// configurations. Used by the engine (through [`adapter::SqlAdapter`]) and by tools that
/// evaluate a policy that is not in a database.
pub async fn build_enforcer(adapter: impl casbin::Adapter + 'static) -> Result<Enforcer, String> {
    let model = DefaultModel::from_str(MODEL)
        .await
        .map_err(|e| e.to_string())?;
    let mut enforcer = Enforcer::new(model, adapter)
        .await
        .map_err(|e| e.to_string())?;
    enforcer.add_function(
        "pathMatch",
        casbin::function_map::OperatorFunction::Arg2(path_match),
    );
    let effect = enforcer
        .get_model()
        .get_model()
        .get("e")
        .and_then(|m| m.get("e"))
        .map(|a| a.value.clone())
        .unwrap_or_default();
    if effect != DENY_OVERRIDE || !enforcer.is_enabled() {
        return Err(format!("refusing a fail-open model (effect `{effect}`)"));
    }
    Ok(enforcer)
}

impl Snapshot {
    /// The policy version.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// The validated rules, by id.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The validated role assignments.
    pub fn assignments(&self) -> &[Assignment] {
        &self.assignments
    }

    /// The rows this snapshot was built from.
    pub fn loaded(&self) -> adapter::Loaded {
        adapter::Loaded {
            version: self.version,
            rules: self.rules.clone(),
            assignments: self.assignments.clone(),
        }
    }

    /// Evaluates one request. Any evaluation error is a deny.
    ///
    /// casbin decides; Warden's own evaluation of the same rules (see [`Snapshot::native`])
    /// runs beside it because Rhai reads a missing attribute as `()`, for which `!=` is true
    /// and `<` is false: a deny rule whose attribute is missing would silently not fire.
    /// Any applicable rule that cannot be evaluated, or any disagreement, is a deny.
    pub fn decide(&self, sub: &Subject, obj: &Object, act: &str) -> Decision {
        let deny = |error: String| Decision {
            allowed: false,
            matched_rules: Vec::new(),
            policy_version: self.version,
            error: Some(error),
        };
        let casbin = match self.enforcer.enforce_ex((sub, obj, act)) {
            Ok(r) => r,
            Err(e) => return deny(e.to_string()),
        };
        let native = match self.native(sub, obj, act) {
            Ok(n) => n,
            Err(e) => return deny(e),
        };
        if casbin.0 != native {
            tracing::error!(
                casbin = casbin.0,
                native,
                "policy engines disagree; denying"
            );
            return deny("the policy engines disagree".to_owned());
        }
        Decision {
            allowed: casbin.0,
            matched_rules: casbin
                .1
                .iter()
                .filter_map(|row| row.last().and_then(|id| id.parse().ok()))
                .collect(),
            policy_version: self.version,
            error: None,
        }
    }

    /// Rules whose subject, object, action and scope apply to the request (condition not
    /// yet evaluated), in id order.
    fn applicable<'a>(
        &'a self,
        sub: &'a Subject,
        obj: &'a Object,
        act: &'a str,
    ) -> impl Iterator<Item = &'a Rule> + 'a {
        let mut subjects = self.roles_of(&sub.principal);
        subjects.push(sub.principal.clone());
        self.rules.iter().filter(move |r| {
            (r.action == "*" || r.action == act)
                && rule::object_matches(&obj.resource, &r.object)
                && (r.scope == "*" || sub.scopes.contains(&r.scope))
                && (r.subject == rule::EVERYONE || subjects.contains(&r.subject))
        })
    }

    /// Evaluates a rule's condition natively; missing attributes and type mismatches are errors.
    fn eval_condition(r: &Rule, sub: &Subject, obj: &Object) -> Result<bool, condition::EvalError> {
        let lookup_sub = |k: &str| match k {
            "name" => Some(AttrValue::Str(sub.name.clone())),
            "principal" => Some(AttrValue::Str(sub.principal.clone())),
            "scopes" => Some(AttrValue::List(sub.scopes.clone())),
            _ => sub.attributes.get(k).cloned(),
        };
        let lookup_obj = |k: &str| match k {
            "resource" => Some(AttrValue::Str(obj.resource.clone())),
            _ => obj.attributes.get(k).cloned(),
        };
        r.condition.eval(&lookup_sub, &lookup_obj)
    }

    /// Warden's own evaluation: deny overrides allow, no match is deny, and an applicable
    /// rule whose condition cannot be evaluated is an error (so the caller denies).
    pub fn native(&self, sub: &Subject, obj: &Object, act: &str) -> Result<bool, String> {
        let mut allowed = false;
        for r in self.applicable(sub, obj, act) {
            match Self::eval_condition(r, sub, obj) {
                Ok(true) if r.effect == rule::Effect::Deny => return Ok(false),
                Ok(true) => allowed = true,
                Ok(false) => {}
                Err(e) => return Err(format!("rule {}: {e}", r.id)),
            }
        }
        Ok(allowed)
    }

    /// Roles of a member (`user:<name>` or `role:<name>`), direct and inherited, sorted.
    pub fn roles_of(&self, member: &str) -> Vec<String> {
        let mut seen = HashSet::new();
        let mut stack = vec![member.to_owned()];
        while let Some(m) = stack.pop() {
            for parent in self.parents.get(&m).into_iter().flatten() {
                if seen.insert(parent.clone()) {
                    stack.push(parent.clone());
                }
            }
        }
        let mut roles: Vec<String> = seen.into_iter().collect();
        roles.sort();
        roles
    }
}

/// The engine: the current snapshot plus what is needed to load the next one.
#[derive(Debug)]
pub struct Engine {
    db: Db,
    current: ArcSwapOption<Snapshot>,
    reload: tokio::sync::Mutex<()>,
    /// Serialises admin changes in this instance: validate, check invariants, commit, swap.
    change: tokio::sync::Mutex<()>,
    /// Tests: loads of this version or newer fail (simulates a database failing after a commit).
    refuse_from: std::sync::atomic::AtomicI64,
}

impl Engine {
    /// An engine with no policy loaded yet (every decision is 503 until [`Engine::reload`]).
    pub fn new(db: Db) -> Self {
        Self {
            db,
            current: ArcSwapOption::empty(),
            reload: tokio::sync::Mutex::new(()),
            change: tokio::sync::Mutex::new(()),
            refuse_from: std::sync::atomic::AtomicI64::new(i64::MAX),
        }
    }

    /// The current snapshot, if any.
    pub fn snapshot(&self) -> Result<Arc<Snapshot>, AuthzError> {
        self.current.load_full().ok_or(AuthzError::Unavailable)
    }

    /// Decides one request against the current snapshot.
    pub fn decide(&self, sub: &Subject, obj: &Object, act: &str) -> Result<Decision, AuthzError> {
        let snap = self.current.load();
        let snap = snap.as_ref().ok_or(AuthzError::Unavailable)?;
        Ok(snap.decide(sub, obj, act))
    }

    /// Loads the policy from the database if its version differs from the snapshot's.
    /// On failure the previous snapshot stays in place and the error is logged and returned.
    /// Returns the version now served.
    pub async fn reload(&self) -> Result<i64, String> {
        let _writer = self.reload.lock().await;
        let served = self.current.load().as_ref().map(|s| s.version);
        match self.load_if_changed(served).await {
            Ok(Some(snap)) => {
                let v = snap.version;
                self.current.store(Some(Arc::new(snap)));
                Ok(v)
            }
            Ok(None) => served.ok_or_else(|| "no policy".to_owned()),
            Err(e) => {
                tracing::error!(error = %e, "policy load refused; keeping the previous snapshot");
                Err(e)
            }
        }
    }

    async fn load_if_changed(&self, served: Option<i64>) -> Result<Option<Snapshot>, String> {
        let version = store::rules::version(&self.db)
            .await
            .map_err(|e| e.to_string())?;
        if served == Some(version) {
            return Ok(None);
        }
        if version >= self.refuse_from.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(format!("loading version {version} is refused (test fault)"));
        }
        let loaded = Arc::new(Mutex::new(None));
        let built = build_enforcer(adapter::SqlAdapter::new(self.db.clone(), loaded.clone())).await;
        // Prefer the adapter's own account of a refused row over casbin's wrapping of it.
        let outcome = loaded.lock().unwrap_or_else(|p| p.into_inner()).take();
        let (enforcer, loaded) = match (built, outcome) {
            (Ok(enforcer), Some(Ok(loaded))) => (enforcer, loaded),
            (_, Some(Err(why))) => return Err(why),
            (Err(e), _) => return Err(e),
            (Ok(_), None) => return Err("the adapter loaded nothing".to_owned()),
        };
        Ok(Some(Snapshot::new(enforcer, loaded)))
    }

    /// Holds off other policy and account changes in this instance while held.
    pub async fn serialize_changes(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.change.lock().await
    }

    /// Tests: every load of policy version `version` or newer fails until this is called
    /// again with `i64::MAX`.
    #[doc(hidden)]
    pub fn refuse_loads_from_for_tests(&self, version: i64) {
        self.refuse_from
            .store(version, std::sync::atomic::Ordering::SeqCst);
    }

    /// Drops the snapshot (tests: simulate a policy that could not be loaded at start).
    #[doc(hidden)]
    pub fn unload_for_tests(&self) {
        self.current.store(None);
    }
}

impl Snapshot {
    /// Wraps a built enforcer and the rows it was built from.
    pub fn new(enforcer: Enforcer, loaded: adapter::Loaded) -> Self {
        let mut parents: HashMap<String, Vec<String>> = HashMap::new();
        for Assignment { member, role, .. } in &loaded.assignments {
            parents
                .entry(member.clone())
                .or_default()
                .push(role.clone());
        }
        Self {
            enforcer,
            version: loaded.version,
            rules: loaded.rules,
            assignments: loaded.assignments,
            parents,
        }
    }
}

/// One applicable rule's condition and how it evaluated (for explain output).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ConditionResult {
    /// Rule id.
    pub rule_id: i64,
    /// `allow` or `deny`.
    pub effect: rule::Effect,
    /// The condition text ("" = always true).
    pub condition: String,
    /// `true`, `false`, or `error: ...` (an error is a non-match, so a deny for allow rules).
    pub result: String,
}

impl Snapshot {
    /// For every rule whose subject, object, action and scope apply to the request, how its
    /// condition evaluates. Explains "which condition failed" without exposing anything else.
    pub fn explain(&self, sub: &Subject, obj: &Object, act: &str) -> Vec<ConditionResult> {
        self.applicable(sub, obj, act)
            .map(|r| ConditionResult {
                rule_id: r.id,
                effect: r.effect,
                condition: r.condition.as_str().to_owned(),
                result: match Self::eval_condition(r, sub, obj) {
                    Ok(b) => b.to_string(),
                    Err(e) => format!("error: {e}"),
                },
            })
            .collect()
    }
}

impl Snapshot {
    /// Builds a snapshot from in-memory rows (a policy file, a matrix's policy under test).
    pub async fn from_rows(loaded: adapter::Loaded) -> Result<Self, String> {
        let enforcer = build_enforcer(adapter::RowsAdapter(loaded.clone())).await?;
        Ok(Self::new(enforcer, loaded))
    }
}
