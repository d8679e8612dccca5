//! Differential property test: the compiled engine ([`Snapshot::decide`]) against the
//! reference it replaced ([`Snapshot::casbin_decide`]: casbin-rs's enforcer over every rule,
//! cross-checked by Warden's strict linear evaluation), on random policies and requests.
//! A failure shrinks to a minimal policy and request.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::RuleSet;
use super::{AttrValue, Object, Snapshot, Subject};
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
const ACTIONS: [&str; 5] = ["*", "read", "update", "GET", "POST"];
const REQUEST_ACTIONS: [&str; 4] = ["read", "update", "GET", "POST"];
const SCOPES: [&str; 3] = ["*", "docs:read", "docs:write"];
const CONDITIONS: [&str; 14] = [
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

fn rule_strategy() -> impl Strategy<Value = (usize, usize, usize, usize, usize, bool)> {
    (
        0..(USERS.len() + ROLES + 2),
        0..OBJECTS.len(),
        0..ACTIONS.len(),
        0..SCOPES.len(),
        0..CONDITIONS.len(),
        prop::bool::weighted(0.3),
    )
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
        0..USERS.len(),
        prop::bool::ANY,
        prop::bool::ANY,
        (0u8..5, 0i32..5),
        (0u8..3, prop::sample::select(vec!["eng", "hr", "ops"])),
        (0u8..4, 0i32..2),
    )
        .prop_map(|(u, read, write, clearance, dept, active)| {
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
                attributes,
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

fn case_strategy() -> impl Strategy<Value = Case> {
    let rules = prop::collection::vec(rule_strategy(), 0..14);
    // Role -> role edges only upwards (r_i -> r_j, i < j): chains and diamonds, no cycles,
    // depth <= ROLES - 1 (writes refuse cycles and depth > 8).
    let inheritance = prop::collection::vec((0..ROLES, 0..ROLES), 0..8);
    let membership = prop::collection::vec((0..USERS.len() - 1, 0..ROLES), 0..6);
    let requests = prop::collection::vec(
        (
            subject_strategy(),
            object_strategy(),
            prop::sample::select(REQUEST_ACTIONS.to_vec()),
        ),
        1..6,
    );
    (rules, inheritance, membership, requests).prop_map(
        |(rules, inheritance, membership, requests)| {
            let rules = rules
                .into_iter()
                .enumerate()
                .map(|(i, (s, o, a, sc, c, deny))| {
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
                    .unwrap_or_else(|e| panic!("generated rule is valid: {e}"))
                })
                .collect();
            let mut assignments: Vec<Assignment> = Vec::new();
            let edges = membership
                .into_iter()
                .map(|(u, r)| (USERS[u].to_owned(), role(r)))
                .chain(
                    inheritance
                        .into_iter()
                        .filter(|(a, b)| a < b)
                        .map(|(a, b)| (role(a), role(b))),
                );
            for (member, role) in edges {
                if !assignments
                    .iter()
                    .any(|a| a.member == member && a.role == role)
                {
                    let id = assignments.len() as i64 + 1;
                    assignments.push(
                        Assignment::parse(id, &member, &role)
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

fn run(cases: u32) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 20_000,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&case_strategy(), |case| {
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
        for (sub, obj, act) in &case.requests {
            if let Some(inc) = &incremental {
                let (a, b) = (inc.decide(sub, obj, act), snap.decide(sub, obj, act));
                prop_assert_eq!(&a, &b, "incremental {:?} {:?} {}", sub, obj, act);
            }
            let fast = snap.decide(sub, obj, act);
            let reference = rt.block_on(snap.casbin_decide(sub, obj, act));
            prop_assert_eq!(
                (fast.allowed, &fast.matched_rules, fast.error.is_some()),
                (
                    reference.allowed,
                    &reference.matched_rules,
                    reference.error.is_some()
                ),
                "request {:?} {:?} {}: fast {:?}, reference {:?}",
                sub,
                obj,
                act,
                fast,
                reference
            );
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn the_compiled_engine_decides_exactly_like_casbin_with_strict_conditions() {
    run(10_000);
}

#[test]
#[ignore = "soak: cargo test --release --lib differential -- --ignored"]
fn the_compiled_engine_decides_exactly_like_casbin_in_a_long_soak() {
    run(500_000);
}
