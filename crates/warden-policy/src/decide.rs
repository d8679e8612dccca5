//! The decision function over a compiled policy.
//!
//! Semantics: the rules that the matcher accepts apart from their condition (subject, object,
//! action and scope apply) are considered in load order, and each one's condition is
//! evaluated. Deny overrides allow and nothing matching is a deny; the first matching deny
//! ends the scan (casbin's effector stops there too, so the matched ids are the allows before
//! it plus that deny). A rule whose condition **cannot be evaluated** for this request (an
//! attribute it reads is missing or has the wrong type) is *unevaluated*: it is not a match
//! and does not end the scan, and
//! - an unevaluated **allow** rule grants nothing (other allow rules still may allow);
//! - an unevaluated **deny** rule denies (fail closed): the decision is a deny whatever else
//!   matched.
//!
//! The outcome names every unevaluated rule the scan reached, with the attributes to send or
//! fix ([`Unevaluated`]); [`Outcome::error`] says when the answer is a deny *because of* them
//! (a deny no matching deny rule made: an unevaluated deny rule, or no allow where an
//! unevaluated allow rule might have allowed).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use super::condition::{AttrRef, Attributes, EvalError, EvalErrorKind};
use super::index::{ANY, Index};
use super::model::{Column, Model, Plan, Term};
use super::rule::{Assignment, EVERYONE, Effect, Rule, object_matches};
use super::{Object, Subject};

/// The installation's admin role: held globally, it governs every tenant.
pub const INSTALLATION_ADMIN: &str = "role:admin";

/// The outcome of one decision, before the engine stamps its version on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Allowed?
    pub allowed: bool,
    /// Ids of the rules that matched (allows, and the deny that overrode them).
    pub matched_rules: Vec<i64>,
    /// Rules that applied but whose condition could not be evaluated, in load order (only
    /// those before the first matching deny, where the scan stops).
    pub unevaluated: Vec<Unevaluated>,
    /// Set when the decision is a deny because of unevaluated rules (see [`deny_reason`]).
    pub error: Option<String>,
}

/// An applicable rule whose condition could not be evaluated for this request: an allow
/// rule that grants nothing, or a deny rule that denies.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Unevaluated {
    /// Rule id.
    pub rule_id: i64,
    /// `allow` (it granted nothing) or `deny` (it denied).
    pub effect: Effect,
    /// Why it could not be evaluated.
    pub reason: EvalErrorKind,
    /// What to send or fix, as the condition names them (`r.obj.owner`: the check's object
    /// attribute `owner`; `r.sub.*`: the subject's attributes, set by an admin). For a missing
    /// attribute, every attribute the condition reads that the request lacks; for a type
    /// mismatch or a non-boolean, the attributes whose values have the wrong type.
    pub attributes: Vec<String>,
    /// The evaluation error, for people (names and types, never values).
    pub message: String,
}

impl Unevaluated {
    /// `rule`, whose condition failed with `error` on a request carrying the attributes
    /// `present(side, name)` says it carries.
    pub fn new(rule: &Rule, error: &EvalError, present: impl Fn(&str, &str) -> bool) -> Self {
        let attributes = match error {
            EvalError::MissingAttribute(_) => rule.condition.missing_attributes_by(present),
            _ => error.attributes(),
        };
        Unevaluated {
            rule_id: rule.id,
            effect: rule.effect,
            reason: error.kind(),
            attributes,
            message: error.to_string(),
        }
    }
}

/// Why a decision is a deny because of unevaluated rules, if it is: a deny that no matching
/// deny rule made, where some rule could not be evaluated (an unevaluated deny denied, or an
/// unevaluated allow might have allowed had its attributes been sent). None for an allow, for
/// a deny a matching deny rule made, and for a plain "nothing matched".
pub fn deny_reason(
    allowed: bool,
    matched_deny: bool,
    unevaluated: &[Unevaluated],
) -> Option<String> {
    if allowed || matched_deny || unevaluated.is_empty() {
        return None;
    }
    Some(
        unevaluated
            .iter()
            .map(|u| {
                format!(
                    "rule {} ({}) could not be evaluated: {}",
                    u.rule_id,
                    u.effect.as_str(),
                    u.message
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// One applicable rule's condition and how it evaluated (for explain output).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ConditionResult {
    /// Rule id.
    pub rule_id: i64,
    /// `allow` or `deny`.
    pub effect: Effect,
    /// The condition text ("" = always true).
    pub condition: String,
    /// `true`, `false`, or `error: ...` (the rule could not be evaluated: an allow rule then
    /// grants nothing, a deny rule denies).
    pub result: String,
}

/// A compiled, indexed policy: immutable, shared by every reader. A clone shares the model,
/// rules and index; it copies only the member tables.
#[derive(Debug, Clone)]
pub struct Policy {
    // The parts a registration does not change are shared between a policy and the one
    // [`Policy::with_member`] derives from it.
    model: Arc<Model>,
    rules: Arc<[Rule]>,
    /// Interned id of each rule's subject ([`ANY`] for `*`).
    rule_subjects: Arc<[u32]>,
    index: Arc<Index>,
    ids: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
    /// For each interned member: the roles it holds globally (through `*` assignments),
    /// direct and inherited, sorted by id.
    closure: Vec<Box<[u32]>>,
    /// Per tenant with assignments of its own: for each member whose roles there differ from
    /// its global ones, the roles it holds in the tenant (through the tenant's assignments and
    /// the global ones), sorted by id.
    tenant_closure: HashMap<Box<str>, HashMap<u32, Box<[u32]>>>,
    /// The assignments the closures were computed from (explanations name the chain).
    assignments: Arc<[Assignment]>,
}

/// The subject and object as a condition sees them (`r.sub.*`, `r.obj.*`), borrowed.
struct RequestAttributes<'a> {
    sub: &'a Subject,
    obj: &'a Object,
}

impl Attributes for RequestAttributes<'_> {
    fn sub(&self, name: &str) -> Option<AttrRef<'_>> {
        match name {
            "name" => Some(AttrRef::Str(&self.sub.name)),
            "principal" => Some(AttrRef::Str(&self.sub.principal)),
            "tenant" => Some(AttrRef::Str(&self.sub.tenant)),
            "scopes" => Some(AttrRef::List(&self.sub.scopes)),
            _ => self.sub.attributes.get(name).map(|v| v.as_attr_ref()),
        }
    }

    fn obj(&self, name: &str) -> Option<AttrRef<'_>> {
        match name {
            "resource" => Some(AttrRef::Str(&self.obj.resource)),
            _ => self.obj.attributes.get(name).map(|v| v.as_attr_ref()),
        }
    }
}

static EMPTY_OBJECT: Object = Object {
    resource: String::new(),
    attributes: BTreeMap::new(),
};

/// One request, with its principal's roles resolved once.
struct Request<'a> {
    sub: &'a Subject,
    obj: &'a Object,
    act: &'a str,
    principal: Option<u32>,
    roles: std::borrow::Cow<'a, [u32]>,
}

impl Policy {
    /// Compiles rows under a model text (`model.conf`): what a matrix, a tool or the live
    /// engine decides with.
    ///
    /// # Errors
    /// The model compiler's refusal (an unsupported matcher term or effect).
    pub fn from_rows(
        model: &str,
        rules: Vec<Rule>,
        assignments: &[Assignment],
    ) -> Result<Self, super::model::ModelError> {
        Ok(Self::new(Model::compile(model)?, rules, assignments))
    }

    /// Compiles `rules` (in load order) and `assignments` under `model`.
    pub fn new(model: Model, rules: Vec<Rule>, assignments: &[Assignment]) -> Self {
        let mut interner = Interner::default();
        let rule_subjects: Vec<u32> = rules
            .iter()
            .map(|r| {
                if r.subject == EVERYONE {
                    ANY
                } else {
                    interner.intern(&r.subject)
                }
            })
            .collect();
        let edges: Vec<(u32, u32, &str)> = assignments
            .iter()
            .map(|a| {
                (
                    interner.intern(&a.member),
                    interner.intern(&a.role),
                    a.domain.as_str(),
                )
            })
            .collect();
        let Interner { ids, names } = interner;
        let (closure, tenant_closure) = tenant_closures(names.len(), &edges);
        let index = Index::build(&rules, &rule_subjects, names.len(), model.dimensions);
        Policy {
            model: Arc::new(model),
            rules: rules.into(),
            rule_subjects: rule_subjects.into(),
            index: Arc::new(index),
            ids,
            names,
            closure,
            tenant_closure,
            assignments: assignments.into(),
        }
    }

    /// This policy plus the assignment `member -> role` for a member it does not know yet (a
    /// registration), without compiling or indexing the rules again: the member gets an id
    /// past the index (it has no rules of its own: a rule may only name an existing account)
    /// and the role's closure. None when the member is already known or the role is not (the
    /// caller then compiles the whole policy).
    pub fn with_member(&self, assignment: &Assignment) -> Option<Policy> {
        let (member, role) = (assignment.member.as_str(), assignment.role.as_str());
        if self.ids.contains_key(member) {
            return None;
        }
        let role_id = *self.ids.get(role)?;
        let id = u32::try_from(self.names.len())
            .ok()
            .filter(|&id| id < ANY)?;
        let with_role = |held: &[u32]| {
            let mut roles = held.to_vec();
            roles.push(role_id);
            roles.sort_unstable();
            roles.dedup();
            roles.into_boxed_slice()
        };
        let global_role = &self.closure[role_id as usize];
        let mut tenant_closure = self.tenant_closure.clone();
        let own = if assignment.domain == super::rule::GLOBAL {
            // Held everywhere: wherever the role means more than globally, so does the member.
            for table in tenant_closure.values_mut() {
                if let Some(held) = table.get(&role_id).map(|h| with_role(h)) {
                    table.insert(id, held);
                }
            }
            with_role(global_role)
        } else {
            let table = tenant_closure
                .entry(assignment.domain.as_str().into())
                .or_default();
            let held = with_role(table.get(&role_id).unwrap_or(global_role));
            table.insert(id, held);
            Box::default()
        };
        let mut ids = self.ids.clone();
        ids.insert(member.into(), id);
        let mut names = self.names.clone();
        names.push(member.into());
        let mut closure = self.closure.clone();
        closure.push(own);
        let mut assignments = self.assignments.to_vec();
        assignments.push(assignment.clone());
        Some(Policy {
            model: self.model.clone(),
            rules: self.rules.clone(),
            rule_subjects: self.rule_subjects.clone(),
            index: self.index.clone(),
            ids,
            names,
            closure,
            tenant_closure,
            assignments: assignments.into(),
        })
    }

    /// This policy plus a member it does not know yet holding all of `roles` in `domain` (the
    /// prover's "a fresh user with these roles"), without compiling the rules again, as
    /// [`Policy::with_member`] does for one role. None when the member is already known or a
    /// role is not.
    pub fn with_member_roles(&self, member: &str, roles: &[&str], domain: &str) -> Option<Policy> {
        if self.ids.contains_key(member) {
            return None;
        }
        let role_ids: Vec<u32> = roles
            .iter()
            .map(|r| self.ids.get(*r).copied())
            .collect::<Option<_>>()?;
        let id = u32::try_from(self.names.len())
            .ok()
            .filter(|&id| id < ANY)?;
        // The roles themselves and everything each inherits (in `table`'s tenant, or globally).
        let union = |table: Option<&HashMap<u32, Box<[u32]>>>| -> Box<[u32]> {
            let mut held = role_ids.clone();
            for &r in &role_ids {
                let inherited = table
                    .and_then(|t| t.get(&r))
                    .unwrap_or(&self.closure[r as usize]);
                held.extend_from_slice(inherited);
            }
            held.sort_unstable();
            held.dedup();
            held.into_boxed_slice()
        };
        let mut tenant_closure = self.tenant_closure.clone();
        let own = if domain == super::rule::GLOBAL {
            // Held everywhere: wherever a role means more than globally, so does the member.
            for table in tenant_closure.values_mut() {
                if role_ids.iter().any(|r| table.contains_key(r)) {
                    let held = union(Some(&*table));
                    table.insert(id, held);
                }
            }
            union(None)
        } else {
            let table = tenant_closure.entry(domain.into()).or_default();
            let held = union(Some(&*table));
            table.insert(id, held);
            Box::default()
        };
        let mut ids = self.ids.clone();
        ids.insert(member.into(), id);
        let mut names = self.names.clone();
        names.push(member.into());
        let mut closure = self.closure.clone();
        closure.push(own);
        let mut assignments = self.assignments.to_vec();
        assignments.extend(roles.iter().map(|r| Assignment {
            id: 0,
            member: member.to_owned(),
            role: (*r).to_owned(),
            domain: domain.to_owned(),
        }));
        Some(Policy {
            model: self.model.clone(),
            rules: self.rules.clone(),
            rule_subjects: self.rule_subjects.clone(),
            index: self.index.clone(),
            ids,
            names,
            closure,
            tenant_closure,
            assignments: assignments.into(),
        })
    }

    /// This policy with `extra` assignments, compiled again (for members or roles it does not
    /// know, which [`Policy::with_member_roles`] cannot add).
    pub fn with_assignments(&self, extra: &[Assignment]) -> Policy {
        let mut assignments = self.assignments.to_vec();
        assignments.extend_from_slice(extra);
        Policy::new((*self.model).clone(), self.rules.to_vec(), &assignments)
    }

    /// Whether the model evaluates rule conditions (`eval(p.cond)` in the matcher); when it
    /// does not, every applicable rule matches as if its condition were empty.
    pub fn uses_conditions(&self) -> bool {
        self.model.uses_condition
    }

    /// The rules, in load order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The role assignments (user -> role, role -> role), in load order.
    pub fn assignments(&self) -> &[Assignment] {
        &self.assignments
    }

    /// Whether a rule or an assignment names `member` (`role:<name>`, `user:<name>`): a
    /// credential's role that the policy does not know grants nothing.
    pub fn knows(&self, member: &str) -> bool {
        self.ids.contains_key(member)
    }

    /// Roles of a member (`user:<name>` or `role:<name>`) in the [`DEFAULT_TENANT`]
    /// (where every assignment made before tenants lives), direct and inherited, sorted.
    ///
    /// [`DEFAULT_TENANT`]: super::rule::DEFAULT_TENANT
    pub fn roles_of(&self, member: &str) -> Vec<String> {
        self.roles_in(member, super::rule::DEFAULT_TENANT)
    }

    /// Roles of a member in `tenant` (held there or globally), direct and inherited, sorted.
    pub fn roles_in(&self, member: &str, tenant: &str) -> Vec<String> {
        let Some(&id) = self.ids.get(member) else {
            return Vec::new();
        };
        let mut roles: Vec<String> = self
            .held(id, tenant)
            .iter()
            .map(|&r| self.names[r as usize].to_string())
            .collect();
        roles.sort();
        roles
    }

    /// The roles interned member `id` holds in `tenant`.
    fn held(&self, id: u32, tenant: &str) -> &[u32] {
        self.tenant_closure
            .get(tenant)
            .and_then(|t| t.get(&id))
            .unwrap_or(&self.closure[id as usize])
    }

    /// The roles interned member `id` holds globally.
    fn held_globally(&self, id: u32) -> &[u32] {
        &self.closure[id as usize]
    }

    /// Roles `sub` holds in this decision: its principal's, the credential's own
    /// ([`Subject::roles`]) that the policy knows, and everything they inherit; sorted.
    pub fn roles_held(&self, sub: &Subject) -> Vec<String> {
        let req = self.request(sub, &EMPTY_OBJECT, "");
        let mut roles: Vec<String> = req
            .roles
            .iter()
            .map(|&r| self.names[r as usize].to_string())
            .collect();
        roles.sort();
        roles
    }

    fn request<'a>(&'a self, sub: &'a Subject, obj: &'a Object, act: &'a str) -> Request<'a> {
        let principal = self.ids.get(sub.principal.as_str()).copied();
        let assigned = principal.map_or(&[][..], |p| self.held(p, &sub.tenant));
        // A credential's own roles (a federated token's), with what each inherits in the
        // request's tenant; unknown names resolve to nothing, so a claim can never create a role.
        let roles = if sub.roles.is_empty() {
            std::borrow::Cow::Borrowed(assigned)
        } else {
            let mut all = assigned.to_vec();
            // Only roles: a credential naming `user:<someone>` never acts as them.
            let named = sub.roles.iter().filter(|r| r.starts_with("role:"));
            for id in named.filter_map(|r| self.ids.get(r.as_str())) {
                all.push(*id);
                all.extend_from_slice(self.held(*id, &sub.tenant));
            }
            all.sort_unstable();
            all.dedup();
            std::borrow::Cow::Owned(all)
        };
        Request {
            sub,
            obj,
            act,
            principal,
            roles,
        }
    }

    /// Positions of the rules the matcher (without the condition) accepts, in load order.
    fn applicable(&self, req: &Request<'_>) -> Vec<u32> {
        let mut candidates = Vec::new();
        let subjects = req.principal.into_iter().chain(req.roles.iter().copied());
        self.index.candidates(
            subjects,
            &req.sub.tenant,
            req.act,
            &req.obj.resource,
            &mut candidates,
        );
        candidates.sort_unstable();
        candidates.dedup();
        candidates.retain(|&pos| self.plan(&self.model.plan, pos as usize, req));
        candidates
    }

    fn plan(&self, plan: &Plan, pos: usize, req: &Request<'_>) -> bool {
        match plan {
            Plan::Term(t) => self.term(t, pos, req),
            Plan::And(items) => items.iter().all(|p| self.plan(p, pos, req)),
            Plan::Or(items) => items.iter().any(|p| self.plan(p, pos, req)),
        }
    }

    fn term(&self, term: &Term, pos: usize, req: &Request<'_>) -> bool {
        let rule = &self.rules[pos];
        match term {
            Term::Const(b) => *b,
            Term::ColumnIs { col, lit, negated } => {
                let value = match col {
                    Column::Sub => &rule.subject,
                    Column::Obj => &rule.object,
                    Column::Act => &rule.action,
                    Column::Scope => &rule.scope,
                    Column::Dom => &rule.tenant,
                };
                (value == lit) != *negated
            }
            Term::ActionEq(neg) => (rule.action == req.act) != *neg,
            Term::PrincipalEq(neg) => (rule.subject == req.sub.principal) != *neg,
            Term::ResourceEq(neg) => (rule.object == req.obj.resource) != *neg,
            Term::TenantEq(neg) => (rule.tenant == req.sub.tenant) != *neg,
            Term::PathMatch => object_matches(&req.obj.resource, &rule.object),
            Term::ScopeHeld => req.sub.scopes.contains(&rule.scope),
            Term::RoleOf => {
                let sid = self.rule_subjects[pos];
                sid != ANY && (req.principal == Some(sid) || req.roles.binary_search(&sid).is_ok())
            }
            Term::RoleGlobal => {
                let sid = self.rule_subjects[pos];
                sid != ANY
                    && req.principal.is_some_and(|p| {
                        p == sid || self.held_globally(p).binary_search(&sid).is_ok()
                    })
            }
            // The compiler takes `eval(p.cond)` out of the plan.
            Term::Condition => true,
        }
    }

    fn condition(&self, pos: usize, req: &Request<'_>) -> Result<bool, EvalError> {
        if !self.model.uses_condition {
            return Ok(true);
        }
        let attrs = RequestAttributes {
            sub: req.sub,
            obj: req.obj,
        };
        self.rules[pos].condition.eval_with(&attrs)
    }

    /// Whether `obj` is a path of another tenant's API (`/v1/tenants/{t}/…` with `t` not the
    /// subject's tenant) and the subject no installation admin (it does not hold
    /// [`INSTALLATION_ADMIN`] globally). Such a request is denied whatever the rules say: a
    /// tenant's admin API is governed in that tenant, and a role held in one tenant never
    /// reaches another's through a rule like `role:tenant-admin /v1/tenants/:tenant/admin/*`.
    /// Every decision point, the matrices and the oracle apply it alike.
    pub fn foreign_tenant_path(&self, sub: &Subject, obj: &Object) -> bool {
        obj.resource
            .strip_prefix("/v1/tenants/")
            .and_then(|rest| rest.split('/').next())
            .is_some_and(|t| t != sub.tenant && !self.is_installation_admin(&sub.principal))
    }

    /// Whether `member` holds [`INSTALLATION_ADMIN`] globally (in every tenant).
    pub fn is_installation_admin(&self, member: &str) -> bool {
        let (Some(&id), Some(&admin)) = (self.ids.get(member), self.ids.get(INSTALLATION_ADMIN))
        else {
            return false;
        };
        self.held_globally(id).binary_search(&admin).is_ok()
    }

    /// Decides one request (see the module docs for the semantics).
    pub fn decide(&self, sub: &Subject, obj: &Object, act: &str) -> Outcome {
        if self.foreign_tenant_path(sub, obj) {
            return Outcome {
                allowed: false,
                matched_rules: Vec::new(),
                unevaluated: Vec::new(),
                error: None,
            };
        }
        let req = self.request(sub, obj, act);
        let mut matched = Vec::new();
        let mut unevaluated = Vec::new();
        let mut allowed = false;
        let mut matched_deny = false;
        for pos in self.applicable(&req) {
            let rule = &self.rules[pos as usize];
            match self.condition(pos as usize, &req) {
                Ok(false) => {}
                Ok(true) => {
                    matched.push(rule.id);
                    if rule.effect == Effect::Deny {
                        matched_deny = true;
                        break;
                    }
                    allowed = true;
                }
                // Not a match and not the end of the scan: an allow rule grants nothing, a
                // deny rule denies (below), and both are named.
                Err(e) => {
                    let attrs = RequestAttributes { sub, obj };
                    unevaluated.push(Unevaluated::new(rule, &e, |side, name| {
                        if side == "sub" {
                            attrs.sub(name).is_some()
                        } else {
                            attrs.obj(name).is_some()
                        }
                    }));
                }
            }
        }
        let allowed =
            allowed && !matched_deny && !unevaluated.iter().any(|u| u.effect == Effect::Deny);
        Outcome {
            allowed,
            error: deny_reason(allowed, matched_deny, &unevaluated),
            matched_rules: matched,
            unevaluated,
        }
    }

    /// [`Policy::explain`] as explain output: "which condition failed", and nothing else.
    pub fn explain_conditions(
        &self,
        sub: &Subject,
        obj: &Object,
        act: &str,
    ) -> Vec<ConditionResult> {
        self.explain(sub, obj, act)
            .into_iter()
            .map(|(r, result)| ConditionResult {
                rule_id: r.id,
                effect: r.effect,
                condition: r.condition.as_str().to_owned(),
                result: match result {
                    Ok(b) => b.to_string(),
                    Err(e) => format!("error: {e}"),
                },
            })
            .collect()
    }

    /// Every rule the matcher accepts apart from its condition, with how the condition
    /// evaluates, in load order (explain output: "which condition failed").
    pub fn explain(
        &self,
        sub: &Subject,
        obj: &Object,
        act: &str,
    ) -> Vec<(&Rule, Result<bool, EvalError>)> {
        let req = self.request(sub, obj, act);
        self.applicable(&req)
            .into_iter()
            .map(|pos| {
                (
                    &self.rules[pos as usize],
                    self.condition(pos as usize, &req),
                )
            })
            .collect()
    }
}

#[derive(Default)]
struct Interner {
    ids: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Interner {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        // Ids stay below ANY: a policy has far fewer than 2^32 subjects.
        let id = u32::try_from(self.names.len()).unwrap_or(ANY - 1);
        self.ids.insert(s.into(), id);
        self.names.push(s.into());
        id
    }
}

/// The global closures (over `*` edges) of `members` interned members, and per tenant with
/// edges of its own, the closures (over its edges and the global ones) of the members they
/// change: those that reach a member with a tenant edge through global edges (or are one).
#[expect(
    clippy::type_complexity,
    reason = "the two tables Policy keeps, built together"
)]
fn tenant_closures(
    members: usize,
    edges: &[(u32, u32, &str)],
) -> (Vec<Box<[u32]>>, HashMap<Box<str>, HashMap<u32, Box<[u32]>>>) {
    let mut global: Vec<Vec<u32>> = vec![Vec::new(); members];
    let mut children: Vec<Vec<u32>> = vec![Vec::new(); members];
    let mut local: HashMap<&str, Vec<(u32, u32)>> = HashMap::new();
    for &(m, r, domain) in edges {
        if domain == super::rule::GLOBAL {
            global[m as usize].push(r);
            children[r as usize].push(m);
        } else {
            local.entry(domain).or_default().push((m, r));
        }
    }
    let closure = closures(&global);
    let mut tenants = HashMap::new();
    for (tenant, edges) in local {
        let mut parents = global.clone();
        for &(m, r) in &edges {
            parents[m as usize].push(r);
        }
        // Members whose closure may differ: the tenant edges' members and, through global
        // edges backwards, everything that reaches them.
        let mut affected = HashSet::new();
        let mut stack: Vec<u32> = edges.iter().map(|&(m, _)| m).collect();
        while let Some(m) = stack.pop() {
            if affected.insert(m) {
                stack.extend_from_slice(&children[m as usize]);
            }
        }
        let table: HashMap<u32, Box<[u32]>> = affected
            .into_iter()
            .map(|m| (m, closure_of(&parents, m)))
            .collect();
        tenants.insert(tenant.into(), table);
    }
    (closure, tenants)
}

/// Every role reachable from `member` through `parents`, sorted.
fn closure_of(parents: &[Vec<u32>], member: u32) -> Box<[u32]> {
    let mut seen = HashSet::new();
    let mut stack = parents[member as usize].clone();
    while let Some(r) = stack.pop() {
        if seen.insert(r) {
            stack.extend_from_slice(&parents[r as usize]);
        }
    }
    let mut all: Vec<u32> = seen.into_iter().collect();
    all.sort_unstable();
    all.into_boxed_slice()
}

/// For each member, every role reachable through `parents`, sorted (cycles are harmless).
fn closures(parents: &[Vec<u32>]) -> Vec<Box<[u32]>> {
    let mut seen = HashSet::new();
    let mut stack = Vec::new();
    parents
        .iter()
        .map(|direct| {
            if direct.is_empty() {
                return Box::default();
            }
            seen.clear();
            stack.clear();
            stack.extend_from_slice(direct);
            while let Some(r) = stack.pop() {
                if seen.insert(r) {
                    stack.extend_from_slice(&parents[r as usize]);
                }
            }
            let mut all: Vec<u32> = seen.iter().copied().collect();
            all.sort_unstable();
            all.into_boxed_slice()
        })
        .collect()
}

#[cfg(test)]
mod tests;
