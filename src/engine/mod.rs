//! The decision engine: one Casbin model for roles, scopes and attributes.
//!
//! Every access question goes through [`Engine::decide`]. The policy is compiled from
//! `model.conf` and indexed ([`crate::policy::decide::Policy`]) into an immutable
//! [`Snapshot`] behind an `ArcSwap`: readers `load()` it without a lock and never wait on a
//! writer; a reload builds the next snapshot off the hot path and swaps it in. If no
//! snapshot could ever be loaded, every decision is [`AuthzError::Unavailable`] (503).
//! casbin-rs is the oracle, not the hot path: [`Snapshot::casbin_decide`] builds its
//! enforcers on first use and answers by the rule stated in `oracle.rs` (casbin-rs over the
//! rules whose conditions can be evaluated, plus the rule for those that cannot).

pub mod adapter;
pub mod change;
mod error;
pub mod history;
pub use error::LoadError;
#[cfg(test)]
mod differential;
mod lifecycle;
pub mod lockout;
pub mod matrices;
mod oracle;
pub mod properties;
pub mod resource;
pub mod shadow;
mod sync;

pub use sync::{DEFAULT_MAX_STALENESS, HEARTBEAT, HEARTBEAT_TIMEOUT};

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use casbin::{CoreApi, DefaultModel, Enforcer};
use serde::Serialize;

use crate::matrix::Matrix;
use crate::policy::decide::{ConditionResult, Policy, Unevaluated};
use crate::policy::rule::{self, Assignment, Rule, RuleSet};
use crate::policy::stored_matrix::MatrixText;
use crate::policy::{Object, Subject};

use crate::store::{self, Db};

use crate::policy::model::MODEL;
use crate::policy::replica::PolicyDocument;

/// The only effect Warden accepts: deny overrides allow, no match is deny. casbin-rs panics
/// on unknown effects and `!some(where (p.eft == deny))` allows by default; both are refused.
const DENY_OVERRIDE: &str = "some(where (p_eft == allow)) && !some(where (p_eft == deny))";

/// Attribute names the request structs use themselves; user and object attributes may not
/// shadow them.
pub const RESERVED_ATTRIBUTES: [&str; 5] = ["principal", "name", "scopes", "resource", "tenant"];

pub use crate::policy::decide::INSTALLATION_ADMIN;
/// The tenant-local admin role: it governs its tenant's members and rules.
pub const TENANT_ADMIN: &str = "role:tenant-admin";

/// The answer to one access question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Allowed?
    pub allowed: bool,
    /// Ids of the rules that matched (allows, and the deny that overrode them).
    pub matched_rules: Vec<i64>,
    /// Rules that applied but whose condition could not be evaluated: an allow among them
    /// granted nothing, a deny denied (see [`crate::policy::decide`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unevaluated: Vec<Unevaluated>,
    /// The policy version this was decided under.
    pub policy_version: i64,
    /// Set when the decision is a deny because rules could not be evaluated (see
    /// [`crate::policy::decide::deny_reason`]).
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

impl From<AuthzError> for crate::policy::ChangeError {
    fn from(_: AuthzError) -> Self {
        crate::policy::ChangeError::Unavailable("the policy is not available; all access is denied")
    }
}

/// One loaded, immutable policy.
pub struct Snapshot {
    policy: Policy,
    version: i64,
    /// The model text the policy was compiled from (the oracle uses the same).
    model: Arc<str>,
    /// casbin-rs over the same rows, built on first use (tests, shadow evaluation).
    oracle: oracle::Oracle,
    /// The policy's matrices: as stored, and parsed (the live set the invariants, the grid
    /// and the previews use).
    matrices: Arc<[(MatrixText, Matrix)]>,
    /// The policy as replicas receive it (JSON of a [`PolicyDocument`]), serialised once
    /// however many followers are sent it.
    document: std::sync::OnceLock<Arc<str>>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("version", &self.version)
            .field("rules", &self.policy.rules().len())
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
/// configurations. The oracle for the compiled engine, and what tools that evaluate a
/// policy with casbin-rs itself use.
pub async fn build_enforcer(
    adapter: impl casbin::Adapter + 'static,
) -> Result<Enforcer, LoadError> {
    build_enforcer_with_model(MODEL, adapter).await
}

/// [`build_enforcer`] for another model text.
pub async fn build_enforcer_with_model(
    model: &str,
    adapter: impl casbin::Adapter + 'static,
) -> Result<Enforcer, LoadError> {
    let casbin = |e: casbin::Error| LoadError::Casbin(e.to_string());
    let model = DefaultModel::from_str(model).await.map_err(casbin)?;
    let mut enforcer = Enforcer::new(model, adapter).await.map_err(casbin)?;
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
        return Err(LoadError::FailOpen(effect));
    }
    Ok(enforcer)
}

impl Snapshot {
    /// Compiles validated rows under Warden's model (`policies/model.conf`).
    ///
    /// # Errors
    /// The model compiler's refusal (an unsupported matcher term or effect).
    pub fn compile(loaded: RuleSet) -> Result<Self, LoadError> {
        Self::compile_with_model(MODEL, loaded)
    }

    /// Compiles validated rows under another model text (tests, tools).
    ///
    /// # Errors
    /// The model compiler's refusal (an unsupported matcher term or effect).
    pub fn compile_with_model(model: &str, loaded: RuleSet) -> Result<Self, LoadError> {
        if u32::try_from(loaded.rules.len()).is_err() {
            return Err(LoadError::TooManyRules);
        }
        let matrices = loaded
            .matrices
            .into_iter()
            .map(|t| match matrices::parse(&t) {
                Ok(m) => Ok((t, m)),
                Err(e) => Err(LoadError::Matrix {
                    name: t.name,
                    err: e.to_string(),
                }),
            })
            .collect::<Result<_, _>>()?;
        let policy = Policy::from_rows(model, loaded.rules, &loaded.assignments)?;
        Ok(Self {
            policy,
            version: loaded.version,
            model: model.into(),
            oracle: oracle::Oracle::default(),
            matrices,
            document: std::sync::OnceLock::new(),
        })
    }

    /// This snapshot plus one user -> role assignment, as `version`, without compiling the
    /// rules again (see [`Policy::with_member`]); None when that shortcut does not apply.
    fn with_assignment(&self, version: i64, assignment: &Assignment) -> Option<Self> {
        let policy = self.policy.with_member(assignment)?;
        Some(Self {
            policy,
            version,
            model: self.model.clone(),
            oracle: oracle::Oracle::default(),
            matrices: self.matrices.clone(),
            document: std::sync::OnceLock::new(),
        })
    }

    /// This snapshot as `version`, a version that changed accounts only: the rules and
    /// assignments are the same, so nothing is compiled again.
    fn renumbered(&self, version: i64) -> Self {
        Self {
            policy: self.policy.clone(),
            version,
            model: self.model.clone(),
            oracle: oracle::Oracle::default(),
            matrices: self.matrices.clone(),
            document: std::sync::OnceLock::new(),
        }
    }

    /// Builds a snapshot from in-memory rows (a policy file, a matrix's policy under test).
    pub async fn from_rows(loaded: RuleSet) -> Result<Self, LoadError> {
        Self::compile(loaded)
    }

    /// The policy version.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// The validated rules, in load (id) order.
    pub fn rules(&self) -> &[Rule] {
        self.policy.rules()
    }

    /// The validated role assignments.
    pub fn assignments(&self) -> &[Assignment] {
        self.policy.assignments()
    }

    /// The compiled policy, which matrices and tools decide with.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The rows this snapshot was built from.
    pub fn loaded(&self) -> RuleSet {
        RuleSet {
            version: self.version,
            rules: self.policy.rules().to_vec(),
            assignments: self.policy.assignments().to_vec(),
            matrices: self.matrices.iter().map(|(t, _)| t.clone()).collect(),
        }
    }

    /// The policy's matrices, parsed, by name: the live set.
    pub fn matrices(&self) -> Vec<Matrix> {
        self.matrices.iter().map(|(_, m)| m.clone()).collect()
    }

    /// One matrix of the policy: as stored and parsed.
    pub fn matrix(&self, name: &str) -> Option<&(MatrixText, Matrix)> {
        self.matrices.iter().find(|(t, _)| t.name == name)
    }

    /// The policy's matrices as stored and parsed (what a change's check reuses).
    pub fn parsed_matrices(&self) -> &[(MatrixText, Matrix)] {
        &self.matrices
    }

    /// Evaluates one request with the compiled engine: the one decision function behind the
    /// route guard, forward-auth, handlers' object checks and `/v1/check`.
    ///
    /// Deny overrides allow, no match is a deny, and a rule that applies but whose condition
    /// cannot be evaluated (missing attribute, type mismatch) grants nothing if it is an allow
    /// and denies if it is a deny; the decision names such rules ([`Decision::unevaluated`]).
    /// [`Snapshot::casbin_decide`] computes the same from casbin-rs (the oracle).
    pub fn decide(&self, sub: &Subject, obj: &Object, act: &str) -> Decision {
        let outcome = self.policy.decide(sub, obj, act);
        Decision {
            allowed: outcome.allowed,
            matched_rules: outcome.matched_rules,
            unevaluated: outcome.unevaluated,
            policy_version: self.version,
            error: outcome.error,
        }
    }

    /// The policy as replicas receive it (`GET /v1/policy/stream`): the JSON of a
    /// [`PolicyDocument`], built on first use and shared by every follower.
    pub fn document_json(&self) -> Arc<str> {
        self.document
            .get_or_init(|| {
                let doc = PolicyDocument::of(self.version, &self.model, &self.policy);
                // Strings and integers only: serialising it cannot fail.
                serde_json::to_string(&doc).unwrap_or_default().into()
            })
            .clone()
    }

    /// Roles of a member (`user:<name>` or `role:<name>`), direct and inherited, sorted.
    pub fn roles_of(&self, member: &str) -> Vec<String> {
        self.policy.roles_of(member)
    }

    /// Whether `obj` is a path of another tenant's API (`/v1/tenants/{t}/…` with `t` not the
    /// subject's tenant) and the subject no installation admin. Such a request is denied
    /// whatever the rules say, by every decision point (the routes, `/v1/check`,
    /// forward-auth) and by the oracle alike: a tenant's admin API is governed in that tenant
    /// (the route guard decides it there), and a role held in one tenant never reaches
    /// another's through a rule like `role:tenant-admin /v1/tenants/:tenant/admin/*`.
    pub fn foreign_tenant_path(&self, sub: &Subject, obj: &Object) -> bool {
        self.policy.foreign_tenant_path(sub, obj)
    }

    /// Roles of a member in `tenant` (held there or globally), direct and inherited, sorted.
    pub fn roles_in(&self, member: &str, tenant: &str) -> Vec<String> {
        self.policy.roles_in(member, tenant)
    }

    /// Whether `member` is an installation admin: it holds `role:admin` globally (in every
    /// tenant), not only in one.
    pub fn is_installation_admin(&self, member: &str) -> bool {
        self.policy.is_installation_admin(member)
    }

    /// Roles `sub` holds (its principal's and its credential's own, with what they inherit).
    pub fn roles_held(&self, sub: &Subject) -> Vec<String> {
        self.policy.roles_held(sub)
    }

    /// Whether the policy names `member` (a role a credential claims).
    pub fn knows(&self, member: &str) -> bool {
        self.policy.knows(member)
    }
}

/// The engine: the current snapshot plus what is needed to load the next one.
#[derive(Debug)]
pub struct Engine {
    db: Db,
    current: ArcSwapOption<Snapshot>,
    /// Serialises snapshot writers; holds the outcome of the last database read, which every
    /// [`Engine::reload`] that was waiting when that read began shares (single flight).
    reload: tokio::sync::Mutex<LastRead>,
    /// Database reads begun by [`Engine::reload`] (the sequence number of the newest).
    reads_begun: std::sync::atomic::AtomicU64,
    /// Serialises admin changes in this instance: validate, check invariants, commit, swap.
    change: tokio::sync::Mutex<()>,
    /// Tests: loads of this version or newer fail (simulates a database failing after a commit).
    #[cfg(any(test, feature = "test-util"))]
    refuse_from: std::sync::atomic::AtomicI64,
    /// `--shadow-casbin`: which decisions casbin-rs re-decides off the request path.
    shadow: shadow::Shadow,
    /// `--on-store-loss deny` (see [`Engine::deny_on_store_loss`]).
    deny_on_store_loss: std::sync::atomic::AtomicBool,
    /// Whether the last version check reached the database.
    store_reachable: std::sync::atomic::AtomicBool,
    /// `--path-match case-insensitive`: route rules must be lower-case (see
    /// [`resource::PathMatching::case_conflicts`]).
    fold_path_case: std::sync::atomic::AtomicBool,
    /// Reloads by outcome (`ok`, `failed`), exported as `warden_policy_reloads_total`.
    reloads: Reloads,
    /// When the snapshot was last confirmed current, and how old that may be in a decision.
    staleness: sync::Staleness,
    /// Every snapshot swapped in, in order, for followers ([`Engine::follow`]).
    published: tokio::sync::broadcast::Sender<Arc<Snapshot>>,
}

/// Versions a follower may fall behind by before [`Engine::follow`]'s receiver reports it
/// lagged (and the policy stream drops it, to resume with a fresh snapshot). Bounds what a
/// slow follower holds: it never delays the others or the swap.
pub const FOLLOW_BUFFER: usize = 16;

/// The snapshot a reload found due.
enum Next {
    /// Read and compiled whole.
    Compiled(Snapshot),
    /// The served one plus the accounts registered since.
    Registered(Snapshot),
}

/// The outcome of the newest database read of [`Engine::reload`].
#[derive(Debug)]
struct LastRead {
    /// Its sequence number (see `Engine::reads_begun`).
    seq: u64,
    /// The version then served, or why the read failed.
    outcome: Result<i64, LoadError>,
}

/// Reload counts by outcome; a clone counts into the same series.
pub type Reloads = prometheus_client::metrics::family::Family<
    crate::metrics::OutcomeLabels,
    prometheus_client::metrics::counter::Counter,
>;

impl Engine {
    /// An engine with no policy loaded yet (every decision is 503 until [`Engine::reload`]).
    pub fn new(db: Db) -> Self {
        Self {
            db,
            current: ArcSwapOption::empty(),
            reload: tokio::sync::Mutex::new(LastRead {
                seq: 0,
                outcome: Err(LoadError::NotLoaded),
            }),
            reads_begun: std::sync::atomic::AtomicU64::new(0),
            change: tokio::sync::Mutex::new(()),
            #[cfg(any(test, feature = "test-util"))]
            refuse_from: std::sync::atomic::AtomicI64::new(i64::MAX),
            shadow: shadow::Shadow::default(),
            deny_on_store_loss: std::sync::atomic::AtomicBool::new(false),
            store_reachable: std::sync::atomic::AtomicBool::new(true),
            fold_path_case: std::sync::atomic::AtomicBool::new(false),
            reloads: Reloads::default(),
            staleness: sync::Staleness::default(),
            published: tokio::sync::broadcast::channel(FOLLOW_BUFFER).0,
        }
    }

    /// Swaps `snap` in and announces it to followers.
    fn install(&self, snap: Snapshot) {
        let snap = Arc::new(snap);
        self.current.store(Some(snap.clone()));
        // No follower is not an error.
        let _ = self.published.send(snap);
    }

    /// Every snapshot swapped in from now on, in order. Subscribe before reading
    /// [`Engine::snapshot`] to miss none in between. A receiver more than [`FOLLOW_BUFFER`]
    /// versions behind gets `Lagged`.
    pub fn follow(&self) -> tokio::sync::broadcast::Receiver<Arc<Snapshot>> {
        self.published.subscribe()
    }

    /// Sets the deployment's path matching: in `case-insensitive` mode a policy with an
    /// upper-case route rule is refused, on load and on every change.
    pub fn set_path_case(&self, case: resource::PathCase) {
        self.fold_path_case.store(
            case == resource::PathCase::CaseInsensitive,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Refuses rules that the deployment's path matching could never match (a deny among them
    /// would silently stop denying).
    pub fn check_path_case(&self, rules: &[Rule]) -> Result<(), LoadError> {
        let matching = resource::PathMatching {
            case: if self
                .fold_path_case
                .load(std::sync::atomic::Ordering::Relaxed)
            {
                resource::PathCase::CaseInsensitive
            } else {
                resource::PathCase::Exact
            },
            allow_params: false,
        };
        let conflicts = matching.case_conflicts(rules.iter().map(|r| r.object.as_str()));
        if conflicts.is_empty() {
            return Ok(());
        }
        Err(LoadError::UpperCaseRoutes(
            conflicts.into_iter().map(str::to_owned).collect(),
        ))
    }

    /// The reload counter, for the metrics registry.
    pub fn reloads(&self) -> Reloads {
        self.reloads.clone()
    }

    fn count_reload(&self, outcome: &'static str) {
        self.reloads
            .get_or_create(&crate::metrics::OutcomeLabels { outcome })
            .inc();
    }

    /// Re-decides a fraction `rate` (0 to 1) of decisions with casbin-rs off the request path
    /// and logs disagreements (`serve --shadow-casbin RATE`); 0 turns it off.
    pub fn set_shadow_rate(&self, rate: f64) {
        self.shadow.set_rate(rate);
    }

    /// The current snapshot, if any, and if it may decide: with `--on-store-loss deny` on an
    /// instance that watches its store ([`Engine::watch_store`]), a snapshot not confirmed
    /// current for longer than `--max-staleness-ms` decides nothing (503).
    pub fn snapshot(&self) -> Result<Arc<Snapshot>, AuthzError> {
        self.staleness.check()?;
        self.current.load_full().ok_or(AuthzError::Unavailable)
    }

    /// Whether decisions can be made now (see [`Engine::snapshot`]); callers check this
    /// before they spend a database read on a request that would be refused anyway.
    pub fn available(&self) -> Result<(), AuthzError> {
        self.staleness.check()?;
        self.current
            .load()
            .as_ref()
            .map(|_| ())
            .ok_or(AuthzError::Unavailable)
    }

    /// Decides one request against the current snapshot (refused as [`Engine::snapshot`]).
    pub fn decide(&self, sub: &Subject, obj: &Object, act: &str) -> Result<Decision, AuthzError> {
        self.staleness.check()?;
        let snap = self.current.load();
        let snap = snap.as_ref().ok_or(AuthzError::Unavailable)?;
        let decision = snap.decide(sub, obj, act);
        // casbin-rs resolves roles from assignments only: a credential's own roles (a
        // federated token's) are not something it can re-decide.
        if sub.roles.is_empty() && self.shadow.sampled() {
            self.shadow.spawn(snap.clone(), sub, obj, act, &decision);
        }
        Ok(decision)
    }

    /// Loads the policy from the database if its version differs from the snapshot's.
    /// On failure the previous snapshot stays in place and the error is logged and returned.
    /// Returns the version now served.
    ///
    /// Single flight: callers that wait while a read is under way do not each read again; they
    /// share the next read, which begins after all of them arrived (so it sees every version
    /// committed before any of them was called). N concurrent callers cost one or two reads.
    pub async fn reload(&self) -> Result<i64, LoadError> {
        self.reload_unless_serving(i64::MAX).await
    }

    /// [`Engine::reload`], unless the engine serves `min` or newer once the reload lock is
    /// taken (a request waiting for `min` behind another caller's read needs no read of its
    /// own when that read brought it).
    pub(crate) async fn reload_unless_serving(&self, min: i64) -> Result<i64, LoadError> {
        use std::sync::atomic::Ordering::SeqCst;
        let arrived = self.reads_begun.load(SeqCst);
        let mut last = self.reload.lock().await;
        if last.seq > arrived {
            // began after this call: it answers this call too
            return last.outcome.clone();
        }
        if let Some(served) = self.served_version().filter(|&v| v >= min) {
            return Ok(served);
        }
        // Recorded only once the read is over: a caller that gives up on a read (a timeout)
        // leaves the last outcome as it was, and the next caller reads again.
        let seq = self.reads_begun.fetch_add(1, SeqCst) + 1;
        let outcome = self.read_and_swap().await;
        *last = LastRead {
            seq,
            outcome: outcome.clone(),
        };
        outcome
    }

    /// One read of the database's version, and a reload if it moved (the reload lock held).
    /// Success confirms the snapshot then served as current as of the read's start.
    async fn read_and_swap(&self) -> Result<i64, LoadError> {
        let began = self.staleness.now();
        let served = self.served_version();
        match self.load_if_changed(served).await {
            Ok(Some(Next::Registered(snap))) => {
                let v = snap.version;
                self.install(snap);
                self.staleness.confirm(began);
                tracing::debug!(policy_version = v, "registrations applied");
                Ok(v)
            }
            Ok(Some(Next::Compiled(snap))) => {
                let v = snap.version;
                self.install(snap);
                self.staleness.confirm(began);
                // The version also moves with account edits made elsewhere.
                self.db.accounts().invalidate();
                self.count_reload("ok");
                tracing::info!(policy_version = v, "policy reloaded");
                Ok(v)
            }
            Ok(None) => {
                self.staleness.confirm(began);
                served.ok_or(LoadError::NotLoaded)
            }
            Err(e) => {
                self.count_reload("failed");
                tracing::error!(error = %e, "policy load refused; keeping the previous snapshot");
                Err(e)
            }
        }
    }

    async fn load_if_changed(&self, served: Option<i64>) -> Result<Option<Next>, LoadError> {
        let version = store::policy::version(&self.db).await;
        self.store_reachable(version.is_ok());
        let version = version?;
        if served == Some(version) {
            return Ok(None);
        }
        #[cfg(any(test, feature = "test-util"))]
        if version >= self.refuse_from.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(LoadError::Refused(version));
        }
        if let Some(next) = self.registered(version).await {
            return Ok(Some(Next::Registered(next)));
        }
        let loaded = adapter::SqlAdapter::read(&self.db).await?;
        self.check_path_case(&loaded.rules)?;
        // Compiling 100k rules takes tens of milliseconds: not on the async runtime.
        let compiled = tokio::task::spawn_blocking(move || Snapshot::compile(loaded))
            .await
            .map_err(|e| LoadError::Compile(e.to_string()))??;
        Ok(Some(Next::Compiled(compiled)))
    }

    /// The snapshot of `version` built from the one served, when every version in between
    /// was a registration (a new account with one known role, as another instance announces
    /// them in bursts): each is added as the registering instance added it
    /// ([`Snapshot::with_assignment`]), with two small reads instead of the whole policy and
    /// no compilation. None (the caller reloads) for any other change or any doubt.
    async fn registered(&self, version: i64) -> Option<Snapshot> {
        let mut next = self.current.load_full()?;
        let added = store::policy::registrations_between(&self.db, next.version, version)
            .await
            .ok()??;
        for (v, row) in (next.version + 1..).zip(added) {
            let assignment = Assignment::parse(row.id, &row.member, &row.role)
                .and_then(|a| a.in_domain(&row.domain))
                .ok()?;
            next = Arc::new(next.with_assignment(v, &assignment)?);
        }
        Arc::try_unwrap(next).ok()
    }

    /// Brings the engine to `version`, which the database reached by adding `assignment` (a
    /// registration): when the engine serves `version - 1`, the next snapshot is this one plus
    /// the assignment, without reading the policy again and, for a new member of a known role,
    /// without compiling it again ([`Snapshot::with_assignment`]); otherwise (another change
    /// came between) it reloads from the database.
    pub async fn add_assignment(
        &self,
        version: i64,
        assignment: Assignment,
    ) -> Result<i64, LoadError> {
        let _writer = self.reload.lock().await;
        let current = self.current.load_full();
        let Some(current) = current.filter(|s| s.version + 1 == version) else {
            drop(_writer);
            return self.reload().await;
        };
        // The usual case: a new account with a known role, added to the compiled policy
        // without compiling the rules again (tens of microseconds, not milliseconds).
        if let Some(next) = current.with_assignment(version, &assignment) {
            self.install(next);
            return Ok(version);
        }
        let mut loaded = current.loaded();
        loaded.version = version;
        loaded.assignments.push(assignment);
        let compiled = tokio::task::spawn_blocking(move || Snapshot::compile(loaded))
            .await
            .map_err(|e| LoadError::Compile(e.to_string()))??;
        self.install(compiled);
        Ok(version)
    }

    /// Brings the engine to `version`, which the database reached by an account edit
    /// (attributes, scopes, the disabled flag: no rule or assignment changed). When the engine
    /// serves `version - 1`, the next snapshot is the same policy renumbered, and the account
    /// cache is emptied; otherwise (another change came between) it reloads.
    pub async fn account_edited(&self, version: i64) -> Result<i64, LoadError> {
        let _writer = self.reload.lock().await;
        let current = self.current.load_full();
        let Some(current) = current.filter(|s| s.version + 1 == version) else {
            drop(_writer);
            return self.reload().await;
        };
        self.install(current.renumbered(version));
        self.db.accounts().invalidate();
        Ok(version)
    }

    /// Holds off other policy and account changes in this instance while held.
    pub async fn serialize_changes(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.change.lock().await
    }

    /// Tests: every load of policy version `version` or newer fails until this is called
    /// again with `i64::MAX`.
    #[cfg(any(test, feature = "test-util"))]
    pub fn refuse_loads_from_for_tests(&self, version: i64) {
        self.refuse_from
            .store(version, std::sync::atomic::Ordering::SeqCst);
    }

    /// Drops the snapshot (tests: simulate a policy that could not be loaded at start).
    #[cfg(any(test, feature = "test-util"))]
    pub fn unload_for_tests(&self) {
        self.current.store(None);
    }
}

impl Snapshot {
    /// For every rule whose subject, object, action and scope apply to the request, how its
    /// condition evaluated (see [`Policy::explain_conditions`]).
    pub fn explain(&self, sub: &Subject, obj: &Object, act: &str) -> Vec<ConditionResult> {
        self.policy.explain_conditions(sub, obj, act)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_model_the_compiler_cannot_evaluate_is_refused_and_no_snapshot_is_built() {
        let seed = crate::policy::seed::parse_policy(crate::policy::seed::SEED_POLICY).unwrap();
        let loaded = RuleSet {
            version: 1,
            rules: seed.rules,
            assignments: seed.assignments,
            matrices: Vec::new(),
        };
        assert!(Snapshot::compile(loaded.clone()).is_ok());
        let edited = MODEL.replace(
            "pathMatch(r.obj.resource, p.obj)",
            "regexMatch(r.obj.resource, p.obj)",
        );
        let err = Snapshot::compile_with_model(&edited, loaded).unwrap_err();
        assert!(matches!(err, LoadError::Model(_)), "{err:?}");
        assert!(
            err.to_string()
                .contains("unsupported matcher term `regexMatch(r.obj.resource, p.obj)`"),
            "{err}"
        );
    }
}
