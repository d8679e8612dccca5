//! Proving the shipped properties (`policies/matrices/invariants.yaml`, `properties:`) on the
//! seed policy grown to 100, 1k and 10k rules (the generator of `benches/decide.rs`), and the
//! edit check's cost: the same proof, as `engine::properties::check_now` runs it on the
//! policy an edit would produce. Run with `cargo bench --bench properties`; results are in
//! BENCHMARKS.md.

use std::path::Path;
use std::time::{Duration, Instant};

use warden::engine::properties::check_now;
use warden::matrix::Matrix;
use warden::policy::analysis::prove;
use warden::policy::decide::Policy;
use warden::policy::model::MODEL;
use warden::policy::rule::RuleSet;
use warden::policy::rule::{Assignment, Rule};
use warden::policy::seed::{SEED_POLICY, parse_policy};

/// The seed policy plus `n - seed` generated rules in the same shape: route rules for other
/// paths and roles, attribute rules for other resource types, and route rules for the
/// request's own role on other paths (same subject bucket, different objects). None of the
/// generated rules applies to the benchmark request.
fn policy(n: usize) -> RuleSet {
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
        domain: warden::policy::rule::DEFAULT_TENANT.into(),
    });
    RuleSet {
        version: 1,
        rules,
        assignments,
        matrices: Vec::new(),
    }
}

/// The median of `runs` timings of `f`.
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn main() {
    let matrix =
        Matrix::from_file(Path::new("policies/matrices/invariants.yaml")).expect("invariants");
    let guarded: Vec<(String, _)> = matrix
        .properties
        .iter()
        .map(|p| (matrix.name.clone(), p.clone()))
        .collect();
    for n in [100usize, 1_000, 10_000] {
        let rows = policy(n);
        let compiled =
            Policy::from_rows(MODEL, rows.rules.clone(), &rows.assignments).expect("policy");
        for p in &matrix.properties {
            let t = median(11, || {
                assert!(
                    prove(&compiled, p).expect("proof").is_none(),
                    "{} fails",
                    p.name
                );
            });
            println!("prove {:<28} {n:>6} rules: {t:?}", p.name);
        }
        let t = median(11, || {
            check_now(&guarded, &compiled).expect("the edit check passes")
        });
        println!("edit check (both properties) {n:>6} rules: {t:?}");
    }
}
