//! Differential property test: the compiled engine ([`Snapshot::decide`]) against the oracle
//! ([`Snapshot::casbin_decide`]: casbin-rs's enforcer over the rules whose conditions can be
//! evaluated, cross-checked by Warden's strict linear evaluation, plus the stated rule for
//! those that cannot: see `oracle.rs`), on random policies and requests whose attributes are
//! often missing or of the wrong type. Allowed, matched rule ids, the unevaluated rules (id,
//! effect, reason, attributes, message) and whether the answer is an error must all be
//! equal. A failure shrinks to a minimal policy and request.
//!
//! Policies have tenants (Casbin domains): rules are global or local to a tenant, role
//! assignments hold globally or in a tenant, and requests ask in a tenant some rows name, or
//! in one nothing names.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::RuleSet;
use super::{Object, Snapshot, Subject};
use crate::policy::AttrValue;
use crate::policy::rule::{Assignment, Rule};

const USERS: [&str; 4] = ["user:alice", "user:bob", "user:carol", "user:dave"];
const ROLES: usize = 6;
const OBJECTS: [&str; 14] = [
    "*",
    "document",
    "report",
    "/",
    "/*",
    "/api/docs",
    "/api/docs/:id",
    "/api/docs/:id/comments",
    "/api/docs/*",
    "/api/*",
    "/api/:kind/:id",
    "/api/docs/:id/*",
    "/v1/:a/:b",
    "/v1/x",
];
const RESOURCES: [&str; 13] = [
    "document",
    "report",
    "documents",
    "/",
    "/api",
    "/api/",
    "/api/docs",
    "/api/docs/",
    "/api/docs/5",
    "/api/docs/5/comments",
    "/api/docs/5/comments/9",
    "/v1/x",
    "/v1/x/y",
];
/// Domains of rules and assignments (`*` = global).
const DOMAINS: [&str; 3] = ["*", "acme", "globex"];
/// Tenants a request asks in: named by rows, the default, and one nothing names.
const REQUEST_TENANTS: [&str; 4] = ["acme", "globex", "default", "initech"];
const ACTIONS: [&str; 5] = ["*", "read", "update", "GET", "POST"];
const REQUEST_ACTIONS: [&str; 4] = ["read", "update", "GET", "POST"];
const SCOPES: [&str; 3] = ["*", "docs:read", "docs:write"];
const CONDITIONS: [&str; 16] = [
    "",
    "true",
    "false",
    "r.sub.clearance >= r.obj.classification",
    "r.obj.owner == r.sub.name",
    "r.sub.department == r.obj.department",
    "r.obj.classification in [1, 2]",
    "!(r.sub.department == \"hr\") || r.sub.clearance > 2",
    "r.sub.missing == 1",
    "r.obj.classification < 3 && r.sub.active",
    "\"docs:read\" in r.sub.scopes",
    "r.sub.clearance == \"3\"",
    "r.sub.department in [\"eng\", \"ops\"] || r.obj.owner != \"bob\"",
    "r.sub.name < \"bob\"",
    // casbin's Rhai answers `true` for `() != "alice"`: only the strict evaluator sees that
    // the owner is missing
    "r.obj.owner != r.sub.name",
    // and fails the whole enforce on a missing or non-boolean bare attribute
    "r.sub.active",
];

fn role(i: usize) -> String {
    format!("role:r{i}")
}

#[derive(Debug, Clone)]
struct Case {
    rules: Vec<Rule>,
    assignments: Vec<Assignment>,
    requests: Vec<(Subject, Object, &'static str)>,
}

/// A rule's (subject, object, action, scope, condition, deny?) as indexes. A `dense` policy
/// draws only rules for everyone or roles on `*`/`document`, `*`/`read`, any scope, so that
/// several rules apply to each request: where unevaluable rules meet matching ones.
type RuleIndexes = ((usize, usize, usize, usize, usize, bool), usize);

fn rule_strategy(dense: bool) -> BoxedStrategy<RuleIndexes> {
    let everyone = USERS.len() + ROLES;
    let columns = if dense {
        (
            prop_oneof![1 => Just(everyone), 1 => USERS.len()..everyone],
            0..2usize,
            0..2usize,
            Just(0usize),
            0..CONDITIONS.len(),
            prop::bool::weighted(0.3),
        )
            .boxed()
    } else {
        (
            0..(everyone + 2),
            0..OBJECTS.len(),
            0..ACTIONS.len(),
            0..SCOPES.len(),
            0..CONDITIONS.len(),
            prop::bool::weighted(0.3),
        )
            .boxed()
    };
    // Mostly global rules, so that tenant-local ones meet them.
    (
        columns,
        prop_oneof![4 => Just(0usize), 1 => Just(1usize), 1 => Just(2usize)],
    )
        .boxed()
}

fn attr(kind: u8, int: i32, text: &str) -> Option<AttrValue> {
    match kind {
        0 => None,
        1 => Some(AttrValue::Str(text.to_owned())),
        2 => Some(AttrValue::Bool(int % 2 == 0)),
        _ => Some(AttrValue::Int(int)),
    }
}

fn subject_strategy() -> impl Strategy<Value = Subject> {
    (
        (
            0..USERS.len(),
            // Mostly acme, where most tenant-local rows are.
            prop_oneof![3 => Just(REQUEST_TENANTS[0]), 1 => prop::sample::select(REQUEST_TENANTS.to_vec())],
        ),
        prop::bool::ANY,
        prop::bool::ANY,
        (0u8..5, 0i32..5),
        (0u8..3, prop::sample::select(vec!["eng", "hr", "ops"])),
        (0u8..4, 0i32..2),
    )
        .prop_map(|((u, tenant), read, write, clearance, dept, active)| {
            let principal = USERS[u].to_owned();
            let name = principal.trim_start_matches("user:").to_owned();
            let mut scopes = Vec::new();
            if read {
                scopes.push("docs:read".to_owned());
            }
            if write {
                scopes.push("docs:write".to_owned());
            }
            let mut attributes = BTreeMap::new();
            let pairs = [
                ("clearance", attr(clearance.0, clearance.1, "3")),
                ("department", attr(dept.0.min(1), 0, dept.1)),
                ("active", attr(active.0.min(2), active.1, "yes")),
            ];
            for (k, v) in pairs {
                if let Some(v) = v {
                    attributes.insert(k.to_owned(), v);
                }
            }
            Subject {
                principal,
                name,
                scopes,
                tenant: tenant.to_owned(),
                attributes,
                roles: Vec::new(),
            }
        })
}

fn object_strategy() -> impl Strategy<Value = Object> {
    (
        prop::sample::select(RESOURCES.to_vec()),
        (0u8..5, 0i32..5),
        (0u8..2, prop::sample::select(vec!["alice", "bob"])),
        (0u8..2, prop::sample::select(vec!["eng", "hr"])),
    )
        .prop_map(|(resource, class, owner, dept)| {
            let mut attributes = BTreeMap::new();
            let pairs = [
                ("classification", attr(class.0, class.1, "1")),
                ("owner", attr(owner.0, 0, owner.1)),
                ("department", attr(dept.0, 0, dept.1)),
            ];
            for (k, v) in pairs {
                if let Some(v) = v {
                    attributes.insert(k.to_owned(), v);
                }
            }
            Object {
                resource: resource.to_owned(),
                attributes,
            }
        })
}

fn case_strategy(dense: bool) -> impl Strategy<Value = Case> {
    let rules = prop::collection::vec(rule_strategy(dense), 0..14);
    // Role -> role edges only upwards (r_i -> r_j, i < j): chains and diamonds, no cycles,
    // depth <= ROLES - 1 (writes refuse cycles and depth > 8).
    let domain = || prop_oneof![3 => Just(0usize), 2 => Just(1usize), 1 => Just(2usize)];
    let inheritance = prop::collection::vec((0..ROLES, 0..ROLES, domain()), 0..8);
    let membership = prop::collection::vec((0..USERS.len() - 1, 0..ROLES, domain()), 0..6);
    let action = if dense {
        Just("read").boxed()
    } else {
        prop::sample::select(REQUEST_ACTIONS.to_vec()).boxed()
    };
    let object = object_strategy().prop_map(move |mut o| {
        if dense {
            o.resource = "document".to_owned();
        }
        o
    });
    let requests = prop::collection::vec((subject_strategy(), object, action), 1..6);
    (rules, inheritance, membership, requests).prop_map(
        |(rules, inheritance, membership, requests)| {
            let rules = rules
                .into_iter()
                .enumerate()
                .map(|(i, ((s, o, a, sc, c, deny), d))| {
                    let subject = match s {
                        s if s < USERS.len() => USERS[s].to_owned(),
                        s if s < USERS.len() + ROLES => role(s - USERS.len()),
                        _ => "*".to_owned(),
                    };
                    let effect = if deny { "deny" } else { "allow" };
                    Rule::parse(
                        i as i64 + 1,
                        &subject,
                        OBJECTS[o],
                        ACTIONS[a],
                        SCOPES[sc],
                        CONDITIONS[c],
                        effect,
                    )
                    .and_then(|r| r.in_tenant(DOMAINS[d]))
                    .unwrap_or_else(|e| panic!("generated rule is valid: {e}"))
                })
                .collect();
            let mut assignments: Vec<Assignment> = Vec::new();
            let edges = membership
                .into_iter()
                .map(|(u, r, d)| (USERS[u].to_owned(), role(r), DOMAINS[d]))
                .chain(
                    inheritance
                        .into_iter()
                        .filter(|(a, b, _)| a < b)
                        .map(|(a, b, d)| (role(a), role(b), DOMAINS[d])),
                );
            for (member, role, domain) in edges {
                if !assignments
                    .iter()
                    .any(|a| a.member == member && a.role == role && a.domain == domain)
                {
                    let id = assignments.len() as i64 + 1;
                    assignments.push(
                        Assignment::parse(id, &member, &role)
                            .and_then(|a| a.in_domain(domain))
                            .unwrap_or_else(|e| panic!("generated assignment is valid: {e}")),
                    );
                }
            }
            Case {
                rules,
                assignments,
                requests,
            }
        },
    )
}

/// How often the interesting combinations came up (the test is meaningless without them).
#[derive(Default)]
struct Seen {
    /// Allowed although an allow rule could not be evaluated.
    allowed_past_unevaluated_allow: std::sync::atomic::AtomicUsize,
    /// Denied by an unevaluated deny rule although an allow rule matched.
    unevaluated_deny_over_allow: std::sync::atomic::AtomicUsize,
    /// Denied as an error with only unevaluated allow rules.
    denied_for_unevaluated_allows: std::sync::atomic::AtomicUsize,
    /// A matching deny ended the scan with unevaluated rules before it.
    matched_deny_with_unevaluated: std::sync::atomic::AtomicUsize,
    /// Allowed by a rule local to the request's tenant.
    allowed_by_tenant_rule: std::sync::atomic::AtomicUsize,
    /// Allowed through a role held only in the request's tenant.
    allowed_by_tenant_role: std::sync::atomic::AtomicUsize,
}

impl Seen {
    fn count_tenants(&self, snap: &Snapshot, sub: &Subject, d: &super::Decision) {
        use std::sync::atomic::Ordering::Relaxed;
        if !d.allowed {
            return;
        }
        let rules = snap.policy.rules();
        let matched = || rules.iter().filter(|r| d.matched_rules.contains(&r.id));
        if matched().any(|r| r.tenant == sub.tenant) {
            self.allowed_by_tenant_rule.fetch_add(1, Relaxed);
        }
        let global = snap.policy.roles_in(&sub.principal, "no-such-tenant");
        if matched().any(|r| r.subject.starts_with("role:") && !global.contains(&r.subject)) {
            self.allowed_by_tenant_role.fetch_add(1, Relaxed);
        }
    }

    fn count(&self, d: &super::Decision) {
        use crate::policy::rule::Effect;
        use std::sync::atomic::Ordering::Relaxed;
        let deny_unevaluated = d.unevaluated.iter().any(|u| u.effect == Effect::Deny);
        let allow_unevaluated = d.unevaluated.iter().any(|u| u.effect == Effect::Allow);
        if d.allowed && allow_unevaluated {
            self.allowed_past_unevaluated_allow.fetch_add(1, Relaxed);
        }
        if !d.allowed && deny_unevaluated && d.error.is_some() && !d.matched_rules.is_empty() {
            self.unevaluated_deny_over_allow.fetch_add(1, Relaxed);
        }
        if !d.allowed && allow_unevaluated && !deny_unevaluated && d.error.is_some() {
            self.denied_for_unevaluated_allows.fetch_add(1, Relaxed);
        }
        if !d.allowed && !d.unevaluated.is_empty() && d.error.is_none() {
            self.matched_deny_with_unevaluated.fetch_add(1, Relaxed);
        }
    }
}

fn run(cases: u32, dense: bool) -> Seen {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 20_000,
        ..Config::default()
    };
    let seen = Seen::default();
    let mut runner = TestRunner::new(config);
    let result = runner.run(&case_strategy(dense), |case| {
        let loaded = RuleSet {
            version: 1,
            rules: case.rules.clone(),
            assignments: case.assignments.clone(),
            matrices: Vec::new(),
        };
        let snap = Snapshot::compile(loaded).map_err(|e| TestCaseError::fail(e.to_string()))?;
        // A registration's shortcut (the last assignment added to the policy compiled without
        // it) must decide exactly like compiling everything, whenever it applies.
        let incremental = case.assignments.split_last().and_then(|(last, rest)| {
            let without = Snapshot::compile(RuleSet {
                version: 0,
                rules: case.rules.clone(),
                assignments: rest.to_vec(),
                matrices: Vec::new(),
            })
            .ok()?;
            without.with_assignment(1, last)
        });
        // A replica (warden-client) compiles the policy from the stream's JSON document: a
        // third party that must decide exactly like the server.
        let json = snap.document_json();
        let doc: crate::policy::replica::PolicyDocument =
            serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let replica = doc
            .compile()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (sub, obj, act) in &case.requests {
            let (r, s) = (
                replica.decide(sub, obj, act),
                snap.policy().decide(sub, obj, act),
            );
            prop_assert_eq!(&r, &s, "replica {:?} {:?} {}", sub, obj, act);
            if let Some(inc) = &incremental {
                let (a, b) = (inc.decide(sub, obj, act), snap.decide(sub, obj, act));
                prop_assert_eq!(&a, &b, "incremental {:?} {:?} {}", sub, obj, act);
            }
            let fast = snap.decide(sub, obj, act);
            let reference = rt.block_on(snap.casbin_decide(sub, obj, act));
            prop_assert_eq!(
                (
                    fast.allowed,
                    &fast.matched_rules,
                    &fast.unevaluated,
                    fast.error.is_some()
                ),
                (
                    reference.allowed,
                    &reference.matched_rules,
                    &reference.unevaluated,
                    reference.error.is_some()
                ),
                "request {:?} {:?} {}: fast {:?}, reference {:?}",
                sub,
                obj,
                act,
                fast,
                reference
            );
            seen.count(&fast);
            seen.count_tenants(&snap, sub, &fast);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    seen
}

/// Fails unless each combination of unevaluable and matching rules came up at least `min`
/// times, and each tenant case at least `tenant_min` times: without them the equality above
/// would prove little.
fn assert_seen(seen: &Seen, min: usize, tenant_min: usize) {
    use std::sync::atomic::Ordering::Relaxed;
    let counts = [
        (
            "allowed past an unevaluated allow",
            &seen.allowed_past_unevaluated_allow,
        ),
        (
            "an unevaluated deny over a matching allow",
            &seen.unevaluated_deny_over_allow,
        ),
        (
            "denied for unevaluated allows only",
            &seen.denied_for_unevaluated_allows,
        ),
        (
            "a matching deny after unevaluated rules",
            &seen.matched_deny_with_unevaluated,
        ),
        (
            "allowed by a tenant-local rule",
            &seen.allowed_by_tenant_rule,
        ),
        (
            "allowed through a tenant-local role",
            &seen.allowed_by_tenant_role,
        ),
    ]
    .map(|(what, n)| (what, n.load(Relaxed)));
    eprintln!("{counts:?}");
    for (i, (what, n)) in counts.into_iter().enumerate() {
        let min = if i < 4 { min } else { tenant_min };
        assert!(n >= min, "{what}: only {n} requests");
    }
}

#[test]
fn the_compiled_engine_decides_exactly_like_casbin_with_strict_conditions() {
    // Tenants thin out the rules that meet in one request (a rule of another tenant never
    // applies), so the sparse run sees the unevaluable combinations less often than before;
    // the dense run below demands 200 of each.
    assert_seen(&run(10_000, false), 3, 10);
}

#[test]
fn rules_that_cannot_be_evaluated_are_decided_like_the_oracle_where_they_meet_matching_ones() {
    assert_seen(&run(3_000, true), 200, 30);
}

#[test]
#[ignore = "soak: cargo test --release --lib differential -- --ignored"]
fn the_compiled_engine_decides_exactly_like_casbin_in_a_long_soak() {
    run(500_000, false);
    run(100_000, true);
}

#[tokio::test]
async fn the_oracle_applies_the_rule_for_unevaluable_conditions_on_casbins_answer() {
    // One hand-made case per part of the rule, decided by the oracle alone.
    let rule = |id, sub: &str, act: &str, cond: &str, eft: &str| {
        Rule::parse(id, sub, "document", act, "*", cond, eft).unwrap_or_else(|e| panic!("{e}"))
    };
    let snap = Snapshot::compile(RuleSet {
        version: 1,
        matrices: Vec::new(),
        rules: vec![
            rule(1, "*", "read", "r.obj.owner == r.sub.name", "allow"),
            rule(2, "*", "read", "r.sub.clearance >= 1", "allow"),
            rule(3, "*", "update", "r.obj.owner != r.sub.name", "deny"),
            rule(4, "*", "update", "", "allow"),
            rule(5, "*", "delete", "r.sub.clearance > 5", "deny"),
            rule(6, "*", "delete", "r.obj.owner == r.sub.name", "allow"),
        ],
        assignments: vec![],
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let sub = Subject {
        principal: "user:alice".into(),
        name: "alice".into(),
        scopes: vec![],
        tenant: crate::policy::rule::DEFAULT_TENANT.into(),
        attributes: BTreeMap::from([("clearance".into(), AttrValue::Int(9))]),
        roles: Vec::new(),
    };
    let doc = Object {
        resource: "document".into(),
        attributes: BTreeMap::new(),
    };
    let ids = |d: &super::Decision| d.unevaluated.iter().map(|u| u.rule_id).collect::<Vec<_>>();
    // no owner: rule 1 grants nothing, rule 2 allows
    let d = snap.casbin_decide(&sub, &doc, "read").await;
    assert_eq!(
        (d.allowed, &d.matched_rules, ids(&d)),
        (true, &vec![2], vec![1])
    );
    assert_eq!(d.error, None);
    // casbin alone would skip rule 3 (`() != "alice"` is true in Rhai: a deny!) or not;
    // either way the rule says: it cannot be evaluated, so it denies, and 4 still matched
    let d = snap.casbin_decide(&sub, &doc, "update").await;
    assert_eq!(
        (d.allowed, &d.matched_rules, ids(&d)),
        (false, &vec![4], vec![3])
    );
    assert!(d.error.is_some());
    // a matching deny ends the scan: rule 6 after it is never named
    let d = snap.casbin_decide(&sub, &doc, "delete").await;
    assert_eq!(
        (d.allowed, &d.matched_rules, ids(&d)),
        (false, &vec![5], vec![])
    );
    assert_eq!(d.error, None);
    assert_eq!(d, snap.decide(&sub, &doc, "delete"));
}
