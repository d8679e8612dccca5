//! The benchmarks' policy generator, shared by `benches/decide.rs` and
//! `benches/properties.rs` (each includes this file as a module).

use warden::policy::rule::RuleSet;
use warden::policy::rule::{Assignment, Rule};
use warden::policy::seed::{SEED_POLICY, parse_policy};

/// The seed policy plus `n - seed` generated rules in the same shape: route rules for other
/// paths and roles, attribute rules for other resource types, and route rules for the
/// request's own role on other paths (same subject bucket, different objects). None of the
/// generated rules applies to the benchmark request. `alice` is a viewer in `alice_domain`.
pub fn policy(n: usize, alice_domain: &str) -> RuleSet {
    let seed = parse_policy(SEED_POLICY).expect("seed");
    let mut rules = seed.rules.clone();
    let mut i = 0;
    while rules.len() < n {
        let id = 10_000 + i as i64;
        let rule = match i % 4 {
            0 => Rule::parse(
                id,
                &format!("role:team{}", i % 50),
                &format!("/svc{i}/items/:id"),
                "GET",
                "*",
                "",
                "allow",
            ),
            1 => Rule::parse(
                id,
                &format!("role:team{}", i % 50),
                &format!("kind{}", i % 200),
                "read",
                "documents:read",
                "r.sub.department == r.obj.department && r.sub.clearance >= r.obj.classification",
                "allow",
            ),
            2 => Rule::parse(
                id,
                "role:viewer",
                &format!("/svc{i}/docs/:id/*"),
                "GET",
                "documents:read",
                "",
                "allow",
            ),
            _ => Rule::parse(
                id,
                "role:user",
                &format!("kind{}", i % 200),
                "update",
                "*",
                "r.obj.owner == r.sub.name",
                "allow",
            ),
        };
        rules.push(rule.expect("valid generated rule"));
        i += 1;
    }
    let mut assignments = seed.assignments.clone();
    assignments.push(Assignment {
        id: 0,
        member: "user:alice".into(),
        role: "role:viewer".into(),
        domain: alice_domain.into(),
    });
    RuleSet {
        version: 1,
        rules,
        assignments,
        matrices: Vec::new(),
    }
}
